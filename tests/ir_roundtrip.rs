//! The printed IR reads back: for every example's functions, print → parse → print is the
//! identity, the parsed function verifies and computes what the original computes; hand-written IR
//! parses and evaluates to the hand-computed numbers; bad text is an error on the right line, never
//! a panic.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use nnc::codegen::{self, CodegenOptions};
use nnc::interp::{self, Tensor};
use nnc::ir::{self, parse_function, print_function, ArgRole, Dim, Function, VerifiedFunction};
use nnc::train::session::{build_file, Overrides};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EXAMPLES: [&str; 8] = [
    "iris",
    "breast_cancer",
    "diabetes",
    "digits",
    "residual",
    "custom_layer",
    "breast_cancer_dropout",
    "diabetes_regularized",
];

fn program(path: &Path) -> Result<nnc::program::Program, nnc::diag::Diagnostic> {
    build_file(path, &Overrides::default(), &mut |_| {})
}

fn parse(text: &str) -> VerifiedFunction {
    parse_function(text).unwrap_or_else(|e| panic!("{e}\nin:\n{text}"))
}

/// Random arguments by name, so that the original and the parsed function (whose arguments may be
/// in another order: the printed one) get the same values.
fn random_args(f: &Function, batch: usize, rng: &mut ChaCha8Rng) -> HashMap<String, Tensor> {
    f.args
        .iter()
        .map(|a| {
            let shape = f.shape(a.value);
            let values = (0..shape.numel(batch).unwrap())
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let t = Tensor::from_shape_vec(shape.extents(batch), values).unwrap();
            (f.name_of(a.value).to_string(), t)
        })
        .collect()
}

/// Every output and every updated value of `f` on the named arguments, by name.
fn run(
    f: &VerifiedFunction,
    args: &HashMap<String, Tensor>,
    batch: usize,
) -> Vec<(String, Tensor)> {
    let ordered: Vec<Tensor> = f
        .args
        .iter()
        .map(|a| args[f.name_of(a.value)].clone())
        .collect();
    let ev = interp::evaluate(f, &ordered, batch).unwrap();
    let mut out: Vec<(String, Tensor)> = f
        .outputs
        .iter()
        .map(|o| (o.name.clone(), ev.values[o.value.index()].clone()))
        .collect();
    out.extend(f.updates.iter().map(|u| {
        (
            format!("{} <-", f.name_of(u.arg)),
            ev.values[u.value.index()].clone(),
        )
    }));
    out
}

/// Same equations in the same order on the same inputs: the results agree bit for bit (NaN, from
/// the log or square root of a random negative, included).
fn assert_same_results(name: &str, a: &[(String, Tensor)], b: &[(String, Tensor)]) {
    assert_eq!(a.len(), b.len(), "{name}: number of results");
    for ((na, ta), (nb, tb)) in a.iter().zip(b) {
        assert_eq!(na, nb, "{name}");
        assert_eq!(ta.shape(), tb.shape(), "{name}: `{na}`");
        for (x, y) in ta.iter().zip(tb.iter()) {
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "{name}: `{na}` differs: {x} vs {y}"
            );
        }
    }
}

/// Same arguments (name, shape, role), each role's arguments in the same order.
fn assert_same_args(name: &str, a: &Function, b: &Function) {
    for role in [ArgRole::Param, ArgRole::State, ArgRole::Data] {
        let args = |f: &Function| {
            f.args_with_role(role)
                .map(|v| (f.name_of(v).to_string(), f.shape(v).clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(args(a), args(b), "{name}: {role:?} arguments");
    }
}

#[test]
fn the_examples_round_trip_and_compute_the_same() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // The examples, and the models of tests/models (every composite activation, the other
    // losses, a `vector` of class weights, and every op of math in the language).
    let models = EXAMPLES.iter().map(|e| format!("examples/{e}")).chain(
        ["vocabulary", "weighted", "mae", "math"]
            .iter()
            .map(|m| format!("tests/models/{m}")),
    );
    for example in models {
        let p = program(Path::new(&format!("{example}.nn"))).unwrap();
        for f in [&p.forward, &p.loss, &p.grad, &p.step] {
            let name = format!("{example} {}", f.name);
            let text = print_function(f);
            let g = parse(&text);
            assert_eq!(print_function(&g), text, "{name}: print → parse → print");
            ir::verify(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_same_args(&name, f, &g);
            assert_eq!(g.body.len(), f.body.len(), "{name}");
            assert_eq!(g.updates.len(), f.updates.len(), "{name}");
            assert!(g.values.iter().all(|v| v.origin.is_none()), "{name}");
            let args = random_args(f, 5, &mut rng);
            assert_same_results(&name, &run(f, &args, 5), &run(&g, &args, 5));
        }
    }
}

#[test]
fn the_step_keeps_its_state_apart_from_its_parameters() {
    let p = program(Path::new("examples/iris.nn")).unwrap();
    let text = print_function(&p.step);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("b2:f32[3] | adam_t:f32[]"),
        "{text}"
    );
    let g = parse(&text);
    let roles = |f: &Function, role| f.args_with_role(role).count();
    assert_eq!(roles(&g, ArgRole::State), roles(&p.step, ArgRole::State));
    assert!(roles(&g, ArgRole::State) > 0);
    assert_eq!(roles(&g, ArgRole::Param), 4);
    // Functions without state print no `|`.
    assert!(!print_function(&p.grad).contains('|'));
}

const DENSE: &str = "\
dense { w:f32[3,2] b:f32[2] ; x:f32[B,3] .
  let t0:f32[B,2] = matmul x w
      t1:f32[B,2] = broadcast b
      z:f32[B,2] = add t0 t1
      h:f32[B,2] = relu z
  in (output=h) }
";

fn tensor(shape: &[usize], values: &[f64]) -> Tensor {
    Tensor::from_shape_vec(shape.to_vec(), values.to_vec()).unwrap()
}

/// Evaluate at the batch size the data arguments have (1 when none has a batch axis).
fn evaluate(f: &VerifiedFunction, args: &[Tensor]) -> interp::Evaluation {
    let batch = f
        .args
        .iter()
        .zip(args)
        .find(|(a, _)| f.shape(a.value).0.first() == Some(&Dim::Batch))
        .map_or(1, |(_, t)| t.shape()[0]);
    interp::evaluate(f, args, batch).unwrap()
}

#[test]
fn a_hand_written_dense_layer_with_relu() {
    let f = parse(DENSE);
    assert_eq!(print_function(&f), DENSE);
    let w = tensor(&[3, 2], &[1.0, -1.0, 2.0, 0.5, -1.0, 1.0]);
    let b = tensor(&[2], &[0.5, -3.0]);
    let x = tensor(&[2, 3], &[1.0, 2.0, 3.0, 0.0, -1.0, 1.0]);
    let ev = evaluate(&f, &[w, b, x]);
    // Row 1: [1+4-3, -1+1+3] + b = [2.5, 0]; row 2: [0-2-1, 0-0.5+1] + b = [-2.5, -2.5].
    let out = ev.get(&f, "output");
    assert_eq!(out, &tensor(&[2, 2], &[2.5, 0.0, 0.0, 0.0]));
}

#[test]
fn hand_written_parameters_state_constants_and_updates() {
    // SGD with momentum on one vector, and every parameterised op.
    let text = "\
sgd { w:f32[2] | v:f32[2] ; g:f32[2] .
  let t0:f32[2] = affine[mul=0.5, add=0.0] v
      nv:f32[2] = add t0 g
      lr:f32[] = const 0.1
      t3:f32[2] = broadcast lr
      t4:f32[2] = mul t3 nv
      nw:f32[2] = sub w t4
      a:f32[2] = leaky_relu[alpha=0.01] g
      s:f32[2] = leaky_slope[alpha=0.25] g
      n:f32[] = batch_size
      big:f32[] = const 1e3
      c:f32[1,1] = broadcast big
      m:f32[1,1] = matmul[transpose_a, transpose_b] c c
      total:f32[] = sum_to m
  in (a, s, n, total, lr)
  update v <- nv, w <- nw }
";
    let f = parse(text);
    assert_eq!(f.args_with_role(ArgRole::State).count(), 1);
    ir::verify(&f).unwrap();
    let ev = evaluate(
        &f,
        &[
            tensor(&[2], &[1.0, 2.0]),
            tensor(&[2], &[2.0, -2.0]),
            tensor(&[2], &[-4.0, 3.0]),
        ],
    );
    let nv = &ev.values[f.updates[0].value.index()];
    let nw = &ev.values[f.updates[1].value.index()];
    assert_eq!(nv, &tensor(&[2], &[-3.0, 2.0]));
    let want = [1.0 - 0.1 * -3.0, 2.0 - 0.1 * 2.0];
    assert_eq!(nw.len(), want.len());
    assert!(nw.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12));
    assert_eq!(ev.get(&f, "a"), &tensor(&[2], &[-0.04, 3.0]));
    assert_eq!(ev.get(&f, "s"), &tensor(&[2], &[0.25, 1.0]));
    assert_eq!(ev.get(&f, "n")[[]], 1.0);
    assert_eq!(ev.get(&f, "total")[[]], 1e6);
    // The printer writes 1e3 as 1000.0; that text reads back to the same function.
    let printed = print_function(&f);
    assert!(printed.contains("big:f32[] = const 1000.0"), "{printed}");
    assert_eq!(print_function(&parse(&printed)), printed);
}

#[test]
fn special_numbers_and_empty_groups_round_trip() {
    let text = "\
odd { | s:f32[] ;  .
  let a:f32[] = const inf
      b:f32[] = const -inf
      c:f32[] = const NaN
      d:f32[] = const 0.00000001
      e:f32[] = affine[mul=-0.0, add=100000000000000000000000.0] s
  in (a, b, c, d, e, state=s)
  update s <- e }
";
    let f = parse(text);
    assert_eq!(print_function(&f), text);
    let ev = evaluate(&f, &[tensor(&[], &[2.0])]);
    assert_eq!(ev.get(&f, "a")[[]], f64::INFINITY);
    assert_eq!(ev.get(&f, "b")[[]], f64::NEG_INFINITY);
    assert!(ev.get(&f, "c")[[]].is_nan());
    assert_eq!(ev.get(&f, "d")[[]], 1e-8);
    assert_eq!(ev.get(&f, "e")[[]], 1e23);
    // Exponents are read too, though the printer never writes them.
    let g = parse("k { ; .\n  let a:f32[] = const 2.5e-3\n  in (a) }\n");
    assert_eq!(evaluate(&g, &[]).get(&g, "a")[[]], 2.5e-3);
    // A function with no equations at all.
    let empty = "id {  ; x:f32[B,2] .\n  in (y=x) }\n";
    assert_eq!(print_function(&parse(empty)), empty);
}

/// The error for `text`, which must be one.
fn error(text: &str) -> ir::ParseError {
    match parse_function(text) {
        Ok(f) => panic!("parsed, but should not have:\n{}", print_function(&f)),
        Err(e) => e,
    }
}

/// `text` fails on line `line` (from 1), at the first `at` in that line, saying `message`.
fn assert_error(text: &str, line: usize, at: &str, message: &str) {
    let e = error(text);
    let column = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.find(at))
        .map(|c| c + 1);
    assert_eq!((e.line, Some(e.column)), (line, column), "{e}\nin:\n{text}");
    assert!(e.message.contains(message), "`{e}` should say `{message}`");
}

#[test]
fn errors_name_the_line_and_column() {
    let replace = |from: &str, to: &str| {
        assert!(DENSE.contains(from));
        DENSE.replacen(from, to, 1)
    };
    // Unknown op.
    assert_error(
        &replace("relu z", "gelu z"),
        5,
        "gelu",
        "unknown operation `gelu`",
    );
    // Use before definition, and a name defined nowhere.
    assert_error(
        &replace("add t0 t1", "add t0 h"),
        4,
        "h",
        "`h` is used before its definition on line 5",
    );
    assert_error(
        &replace("in (output=h)", "in (output=q)"),
        6,
        "q",
        "unknown value `q`",
    );
    // A printed shape that disagrees with the shape rule; a broadcast to a shape its operand
    // cannot reach.
    assert_error(
        &replace("t0:f32[B,2] = matmul", "t0:f32[B,3] = matmul"),
        2,
        "f32",
        "`t0` is typed f32[B,3], but `matmul` gives f32[B,2]",
    );
    assert_error(
        &replace("t1:f32[B,2] = broadcast b", "t1:f32[B,3] = broadcast b"),
        3,
        "broadcast",
        "cannot broadcast `b` of f32[2] to f32[B,3]",
    );
    // Duplicate value names, among equations and between an argument and an equation.
    assert_error(
        &replace("z:f32[B,2] = add", "t0:f32[B,2] = add"),
        4,
        "t0",
        "`t0` is already defined on line 2",
    );
    assert_error(
        &replace("b:f32[2] ;", "w:f32[2] ;"),
        1,
        "w:f32[2]",
        "`w` is already defined on line 1",
    );
    // Bad shapes.
    assert_error(
        &replace("x:f32[B,3]", "x:f32[3,B]"),
        1,
        "B]",
        "only the leading dimension",
    );
    assert_error(
        &replace("x:f32[B,3]", "x:f64[B,3]"),
        1,
        "f64",
        "element type",
    );
    assert_error(
        &replace("w:f32[3,2]", "w:f32[3,99999999999999999999999]"),
        1,
        "999",
        "too large",
    );
    // Op parameters.
    assert_error(
        &replace("relu z", "relu[alpha=1.0] z"),
        5,
        "alpha",
        "`relu` takes no parameters",
    );
    assert_error(
        &replace("matmul x w", "matmul[transpose_c] x w"),
        2,
        "transpose_c",
        "no flag `transpose_c`",
    );
    assert_error(
        &replace("relu z", "leaky_relu z"),
        5,
        "leaky_relu",
        "`leaky_relu` needs `alpha=...`",
    );
    // Wrong operand count.
    assert_error(
        &replace("relu z", "relu z t0"),
        5,
        "t0",
        "expected the end of the equation, found `t`",
    );
    // Updates only of persistent arguments.
    assert_error(
        &replace("in (output=h) }", "in (output=h)\n  update x <- h }"),
        7,
        "x",
        "`x` is not a parameter or state argument",
    );
    // Something after the end.
    assert_error(
        &format!("{DENSE}\nmore"),
        8,
        "more",
        "after the closing `}`",
    );
}

#[test]
fn truncated_text_is_an_error_where_it_stops() {
    // Cut at the end of each line: the error is on the last line that is left.
    let lines: Vec<&str> = DENSE.lines().collect();
    for n in 1..lines.len() {
        let text = lines[..n].join("\n");
        let e = error(&text);
        assert_eq!(e.line, n, "cut after line {n}: {e}");
        assert_eq!(e.column, lines[n - 1].chars().count() + 1, "{e}");
        assert!(e.message.contains("end of input"), "{e}");
    }
    // Cut inside a line: the error is on that line.
    let e = error(&DENSE[..DENSE.find("broadcast").unwrap() + 5]);
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("unknown operation `broad`"), "{e}");
    let e = error("dense { w:f32[3,");
    assert_eq!((e.line, e.column), (1, 17), "{e}");
    // The final `}` missing.
    let e = error(DENSE.trim_end().trim_end_matches('}'));
    assert_eq!(e.line, 6, "{e}");
    assert!(e.message.contains("`}`"), "{e}");
    // Trailing blank lines do not move the error off the last line of text.
    let e = error(&format!("{}\n\n  \n", lines[..2].join("\n")));
    assert_eq!((e.line, e.column), (2, lines[1].len() + 1), "{e}");
    // Nothing at all.
    let e = error("");
    assert_eq!((e.line, e.column), (1, 1), "{e}");
}

#[test]
fn garbage_is_an_error() {
    for (text, line) in [
        ("hello", 1),
        ("{ } ; .", 1),
        ("f { ; .\n  let 1x:f32[] = const 1.0\n  in () }", 2),
        ("f { ; .\n  let x:f32[] = const one\n  in () }", 2),
        ("f { ; .\n  let x:f32[] = const 1.0 2.0\n  in () }", 2),
        ("f { ; .\n  x:f32[] = const 1.0\n  in () }", 2),
        (
            "f { ; .\n  let x:f32[] = const 1.0\n  let y:f32[] = neg x\n  in () }",
            3,
        ),
        ("f { ; .\n  in (\u{1F600}) }", 2),
        ("f { ; .\n  in () }\n  update }", 3),
    ] {
        let e = error(text);
        assert_eq!(e.line, line, "{e}\nin:\n{text}");
    }
}

#[test]
fn the_error_displays_as_line_colon_column() {
    let e = error("f { ; .\n  let x:f32[] = gelu\n  in (x) }");
    assert_eq!(e.to_string(), "2:17: unknown operation `gelu`");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().starts_with("2:17"));
}

fn iris_step_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| print_function(&program(Path::new("examples/iris.nn")).unwrap().step))
}

/// Compile a verified function in both modes and call it at batch 3 with buffers of the right
/// sizes: whatever a verified function holds, this must neither fail nor touch memory outside a
/// buffer (checked mode would report it). Functions too large to test quickly are skipped.
fn compile_and_call(f: &VerifiedFunction) {
    let batch = 3;
    let total = f
        .values
        .iter()
        .map(|v| v.shape.numel(4).unwrap_or(usize::MAX))
        .fold(0usize, usize::saturating_add);
    if total > 1 << 20 {
        return;
    }
    let sized = |role: bool| -> Vec<Vec<f32>> {
        f.args
            .iter()
            .filter(|a| (a.role == ArgRole::Data) == role)
            .map(|a| vec![0.5; f.shape(a.value).numel(batch).unwrap()])
            .collect()
    };
    for checked in [false, true] {
        let opts = CodegenOptions {
            checked,
            ..Default::default()
        };
        let mut c = codegen::compile(f, 4, &opts).unwrap_or_else(|e| panic!("{e}"));
        let (mut persistent, data) = (sized(false), sized(true));
        c.call(&mut persistent, &data, batch)
            .unwrap_or_else(|e| panic!("checked {checked}: {e}"));
    }
}

/// Parse edited text: an error must point into the text (or just past it); a success must be a
/// valid function that itself round-trips, compiles and runs.
fn parse_edited(text: &str) {
    match parse_function(text) {
        Ok(f) => {
            ir::verify(&f).unwrap();
            let printed = print_function(&f);
            assert_eq!(print_function(&parse(&printed)), printed);
            compile_and_call(&f);
        }
        Err(e) => {
            let lines = text.lines().count().max(1);
            assert!(e.line >= 1 && e.line <= lines, "{e} ({lines} lines)");
            assert!(e.column >= 1, "{e}");
            let _ = e.to_string();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn edits_of_a_printed_function_never_panic(
        edits in prop::collection::vec(
            (0.0f64..1.0, 0usize..4, "[a-zB0-9_:=,.;|<(){}\\[\\] \\n-]{0,3}|\\PC{0,2}"),
            1..4,
        ),
        base in 0usize..2,
    ) {
        let mut text: Vec<char> = [iris_step_text(), DENSE][base].chars().collect();
        for (at, delete, insert) in edits {
            let start = ((at * text.len() as f64) as usize).min(text.len());
            let end = (start + delete).min(text.len());
            text.splice(start..end, insert.chars());
        }
        parse_edited(&text.into_iter().collect::<String>());
    }
}

/// A function whose sizes overflow: its element count used to wrap to 0, pass the length check
/// of `call` with empty buffers, and let the matrix product write far outside them. It is now
/// refused when parsed (the verifier bounds every value's size), so it never reaches the
/// compiler; `codegen` refuses a `max_batch` that overflows the same way.
#[test]
fn a_function_too_large_for_memory_does_not_parse() {
    let text = "\
big { w:f32[4294967296,4294967296] ; x:f32[B,4294967296] .
  let y:f32[B,4294967296] = matmul x w
  in (y) }
";
    let err = parse_function(text).unwrap_err();
    assert!(
        err.message.contains("does not verify") && err.message.contains("elements"),
        "{err}"
    );
}
