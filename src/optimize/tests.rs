//! Each rewrite on a small function stated as IR text: the optimized function as printed, and the
//! same outputs and updates as the original, bit for bit, in the interpreter and compiled, on
//! inputs that include ±0, ±∞, NaN and a subnormal number.

use super::{generated, optimize, Counts};
use crate::codegen::{self, CodegenOptions};
use crate::interp::{self, Tensor};
use crate::ir::{parse_function, print_function, ArgRole, Function, VerifiedFunction};

const BATCH: usize = 3;

/// The function `text` states, optimized and verified, with what the pass counted.
fn optimized(text: &str) -> (VerifiedFunction, VerifiedFunction, Counts) {
    let before = parse_function(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut f = before.clone().into_inner();
    let counts = optimize(&mut f);
    let after = VerifiedFunction::new(f).expect("the optimized function verifies");
    assert_same_results(&before, &after);
    (before, after, counts)
}

/// The body of the printed function, one equation per line without indentation, then its
/// outputs and updates: what the tests compare.
fn body(f: &Function) -> String {
    let text = print_function(f);
    let lines: Vec<&str> = text.lines().skip(1).map(str::trim).collect();
    lines.join("\n").replace("let ", "")
}

fn inputs(f: &Function) -> Vec<Vec<f32>> {
    let special = [
        1.5,
        -0.0,
        0.0,
        -3.25,
        f32::INFINITY,
        1e-40,
        f32::NAN,
        f32::NEG_INFINITY,
        0.7,
    ];
    f.args
        .iter()
        .enumerate()
        .map(|(k, a)| {
            let n = f.shape(a.value).numel(BATCH).expect("small shapes");
            (0..n).map(|i| special[(i + k) % special.len()]).collect()
        })
        .collect()
}

/// The shape and the bits of every output (by name) and every argument after the updates (by
/// position) of `f` on `inputs`.
fn interpreted(f: &VerifiedFunction, inputs: &[Vec<f32>]) -> Vec<Vec<u64>> {
    let tensors: Vec<Tensor> = f
        .args
        .iter()
        .zip(inputs)
        .map(|(a, v)| {
            let wide = v.iter().map(|&x| f64::from(x)).collect();
            Tensor::from_shape_vec(f.shape(a.value).extents(BATCH), wide).expect("sizes agree")
        })
        .collect();
    let mut args = tensors.clone();
    let ev = interp::step_in_place(f, &mut args, BATCH).expect("the arguments fit");
    let bits = |t: &Tensor| {
        let shape = t.shape().iter().map(|&n| n as u64);
        shape.chain(t.iter().map(|x| x.to_bits())).collect()
    };
    (f.outputs.iter().map(|o| bits(ev.get(f, &o.name))))
        .chain(args.iter().map(bits))
        .collect()
}

fn compiled(f: &VerifiedFunction, inputs: &[Vec<f32>]) -> Vec<Vec<u64>> {
    let mut code = codegen::compile(f, BATCH, &CodegenOptions::default()).expect("compiles");
    let (mut persistent, mut data) = (Vec::new(), Vec::new());
    for (a, v) in f.args.iter().zip(inputs) {
        match a.role {
            ArgRole::Data => data.push(v.clone()),
            ArgRole::Param | ArgRole::State => persistent.push(v.clone()),
        }
    }
    code.call(&mut persistent, &data, BATCH)
        .expect("the call fits");
    let bits = |v: &[f32]| v.iter().map(|x| u64::from(x.to_bits())).collect();
    (f.outputs.iter().map(|o| bits(code.output(&o.name))))
        .chain(persistent.iter().map(|p| bits(p)))
        .collect()
}

fn assert_same_results(before: &VerifiedFunction, after: &VerifiedFunction) {
    let x = inputs(before);
    let runs = [
        (
            "interpreted",
            interpreted(before, &x),
            interpreted(after, &x),
        ),
        ("compiled", compiled(before, &x), compiled(after, &x)),
    ];
    for (how, a, b) in runs {
        assert_eq!(a.len(), b.len(), "{how}: as many results");
        if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
            let what = match before.outputs.get(i) {
                Some(o) => format!("output `{}`", o.name),
                None => format!("argument {} after the call", i - before.outputs.len()),
            };
            panic!("{how}: {what} differs: {:?} before, {:?} after", a[i], b[i]);
        }
    }
}

#[test]
fn equal_pure_ops_merge_and_the_kept_value_takes_the_readable_name() {
    let (_, f, counts) = optimized(
        "t { x:f32[B,3] ; y:f32[B,3] .
  let t0:f32[B,3] = log_softmax x
      output:f32[B,3] = exp t0
      log_probs:f32[B,3] = log_softmax x
      t3:f32[B,3] = mul y log_probs
      t4:f32[B,3] = mul y t0
      t5:f32[B,3] = add t3 t4
  in (output, t5) }",
    );
    assert_eq!(
        body(&f),
        "log_probs:f32[B,3] = log_softmax x
output:f32[B,3] = exp log_probs
t3:f32[B,3] = mul y log_probs
t5:f32[B,3] = add t3 t3
in (output, t5) }"
    );
    assert_eq!(
        counts,
        Counts {
            merged: 2,
            removed: 2,
            ..Counts::default()
        }
    );
}

#[test]
fn ops_that_differ_in_a_constant_an_operand_order_or_a_shape_stay_apart() {
    let text = "t { s:f32[] a:f32[2,2] b:f32[2,2] ; x:f32[B,2] .
  let t0:f32[] = const 0.0
      t1:f32[] = const -0.0
      t2:f32[] = div s t0
      t3:f32[] = div s t1
      t4:f32[2,2] = matmul a b
      t5:f32[2,2] = matmul b a
      t6:f32[2,2] = matmul[transpose_a] a b
      t7:f32[2,2] = sub a b
      t8:f32[2,2] = sub b a
      t9:f32[2] = sum_to a
      t10:f32[2,1] = sum_to a
      t11:f32[B,2] = affine[mul=2.0, add=0.0] x
      t12:f32[B,2] = affine[mul=2.0, add=-0.0] x
  in (t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12) }";
    let (before, after, counts) = optimized(text);
    assert_eq!(counts, Counts::default());
    assert_eq!(print_function(&after), print_function(&before));
}

#[test]
fn random_ops_merge_only_at_the_same_site() {
    let (_, f, counts) = optimized(
        "t { | rng_step:f32[] ; x:f32[B,4] .
  let mask1:f32[B,4] = dropout_mask[rate=0.5, key=7, site=1] rng_step
      mask2:f32[B,4] = dropout_mask[rate=0.5, key=7, site=2] rng_step
      again:f32[B,4] = dropout_mask[rate=0.5, key=7, site=1] rng_step
      noise1:f32[B,4] = normal_noise[std=0.1, key=7, site=1] rng_step
      noise2:f32[B,4] = normal_noise[std=0.1, key=7, site=2] rng_step
      t5:f32[B,4] = mul x mask1
      t6:f32[B,4] = mul x mask2
      t7:f32[B,4] = mul x again
      t8:f32[B,4] = add noise1 noise2
  in (t5, t6, t7, t8) }",
    );
    assert_eq!(
        body(&f),
        "mask1:f32[B,4] = dropout_mask[rate=0.5, key=7, site=1] rng_step
mask2:f32[B,4] = dropout_mask[rate=0.5, key=7, site=2] rng_step
noise1:f32[B,4] = normal_noise[std=0.1, key=7, site=1] rng_step
noise2:f32[B,4] = normal_noise[std=0.1, key=7, site=2] rng_step
t5:f32[B,4] = mul x mask1
t6:f32[B,4] = mul x mask2
t8:f32[B,4] = add noise1 noise2
in (t5, t6, t7=t5, t8) }"
    );
    assert_eq!(counts.merged, 2);
}

#[test]
fn a_broadcast_stays_where_it_is_used_but_what_is_computed_from_it_merges() {
    let (_, f, counts) = optimized(
        "t { m:f32[3] s:f32[] ; x:f32[B,3] .
  let t0:f32[B,3] = broadcast m
      t1:f32[B,3] = sub x t0
      t2:f32[3,3] = broadcast s
      t3:f32[B,3] = broadcast m
      t4:f32[B,3] = sub x t3
      t5:f32[B,3] = mul t1 t4
      t6:f32[3,3] = broadcast s
      t7:f32[3,3] = mul t2 t6
  in (t5, t7) }",
    );
    assert_eq!(
        body(&f),
        "t0:f32[B,3] = broadcast m
t1:f32[B,3] = sub x t0
t2:f32[3,3] = broadcast s
t5:f32[B,3] = mul t1 t1
t6:f32[3,3] = broadcast s
t7:f32[3,3] = mul t2 t6
in (t5, t7) }"
    );
    assert_eq!((counts.merged, counts.removed), (1, 2));
}

#[test]
fn constants_fold_where_both_precisions_agree() {
    let (_, f, counts) = optimized(
        "t { s:f32[] ; x:f32[B,2] .
  let d_loss:f32[] = const 1.0
      d_t1:f32[] = neg d_loss
      d_t2:f32[] = affine[mul=0.001, add=0.0] d_loss
      t3:f32[] = div d_t1 s
      t4:f32[] = const 3.0
      t5:f32[] = mul t4 d_t2
      t6:f32[] = max t5 d_t1
      t7:f32[] = greater t4 t6
      t8:f32[] = select t7 t4 t5
      t9:f32[] = sqrt t4
      t10:f32[] = const 2.0
      t11:f32[] = exp t10
      t12:f32[B,2] = broadcast t8
      t13:f32[B,2] = mul x t12
  in (t3, t9, t11, t13) }",
    );
    assert_eq!(
        body(&f),
        "d_t1:f32[] = const -1.0
t3:f32[] = div d_t1 s
t8:f32[] = const 3.0
t9:f32[] = const 1.7320508075688772
t10:f32[] = const 2.0
t11:f32[] = exp t10
t12:f32[B,2] = broadcast t8
t13:f32[B,2] = mul x t12
in (t3, t9, t11, t13) }"
    );
    // d_t1, d_t2 and t5 to t9; constants equal to earlier ones (t8 to t4) stay where they are.
    assert_eq!(
        counts,
        Counts {
            folded: 7,
            removed: 6,
            ..Counts::default()
        }
    );
}

/// 1.00000001 − 1 is 1e-8 in `f64` and 0 in `f32`; 1e-20² is subnormal in `f32`; 0/0 is NaN;
/// 1e-50 is not 0 in `f64` but is in `f32`; (1 + 2⁻¹²)² − 1 is 2⁻¹¹ + 2⁻²⁴ in `f64` but 2⁻¹¹ when
/// the `f32` product is rounded before the sum. None of them is folded.
#[test]
fn constants_stay_where_the_precisions_differ() {
    let text = "t { ; .
  let t0:f32[] = const 1.00000001
      t1:f32[] = const 1.0
      t2:f32[] = sub t0 t1
      t3:f32[] = const 1e-20
      t4:f32[] = mul t3 t3
      t5:f32[] = const 0.0
      t6:f32[] = div t5 t5
      t7:f32[] = const 1e-50
      t8:f32[] = select t7 t1 t5
      t9:f32[] = const 1.000244140625
      t10:f32[] = affine[mul=1.000244140625, add=-1.0] t9
  in (t2, t4, t6, t8, t10) }";
    let (before, after, counts) = optimized(text);
    assert_eq!(counts, Counts::default());
    assert_eq!(print_function(&after), print_function(&before));
}

#[test]
fn a_double_negation_is_its_operand() {
    let (_, f, counts) = optimized(
        "t { w:f32[2] ; x:f32[B,2] .
  let t0:f32[B,2] = neg x
      t1:f32[B,2] = neg t0
      t2:f32[2] = neg w
      t3:f32[2] = neg t2
      t4:f32[B,2] = neg t1
  in (t1, t3, t4) }",
    );
    assert_eq!(
        body(&f),
        "t0:f32[B,2] = neg x
in (t1=x, t3=w, t4=t0) }"
    );
    assert_eq!((counts.simplified, counts.merged), (2, 1));
}

#[test]
fn an_identity_affine_map_of_the_batch_size_is_the_batch_size() {
    let (_, f, counts) = optimized(
        "t { w:f32[2] ; x:f32[B,2] .
  let t0:f32[] = batch_size
      t1:f32[] = affine[mul=1.0, add=0.0] t0
      t2:f32[] = sum_to x
      data_loss:f32[] = div t2 t1
      t4:f32[2] = affine[mul=1.0, add=0.0] w
      t5:f32[] = affine[mul=1.0, add=-0.0] t0
  in (data_loss, t4, t5) }",
    );
    // w holds −0, which the map makes +0.
    assert_eq!(
        body(&f),
        "t0:f32[] = batch_size
t2:f32[] = sum_to x
data_loss:f32[] = div t2 t0
t4:f32[2] = affine[mul=1.0, add=0.0] w
t5:f32[] = affine[mul=1.0, add=-0.0] t0
in (data_loss, t4, t5) }"
    );
    assert_eq!(counts.simplified, 1);
}

#[test]
fn updates_and_outputs_follow_the_values_that_replace_theirs() {
    let (_, f, _) = optimized(
        "t { w:f32[2] | v:f32[2] ; x:f32[B,2] .
  let t0:f32[2] = affine[mul=0.9, add=0.0] v
      new_v:f32[2] = affine[mul=0.9, add=0.0] v
      t2:f32[2] = sub w t0
      new_w:f32[2] = sub w new_v
      dead:f32[B,2] = exp x
  in (t2)
  update v <- new_v, w <- new_w }",
    );
    assert_eq!(
        body(&f),
        "new_v:f32[2] = affine[mul=0.9, add=0.0] v
new_w:f32[2] = sub w new_v
in (t2=new_w)
update v <- new_v, w <- new_w }"
    );
}

#[test]
fn generated_names_are_told_from_chosen_ones() {
    for name in ["t0", "t17", "t3_1"] {
        assert!(generated(name), "{name}");
    }
    for name in ["t", "t_1", "t1_", "tt1", "log_probs", "d_t3", "t1x", "x3"] {
        assert!(!generated(name), "{name}");
    }
}

/// Every element-wise op of the IR (unary ops by iterating over their kinds) on every pair of a
/// set of constants, each result an output: folded or not, every result stays the same, and most
/// are folded.
#[test]
fn every_op_on_constants_keeps_its_result() {
    use crate::ir::{BinaryOp, Op, UnaryKind, UnaryOp};
    use strum::IntoEnumIterator;
    let numbers = [
        0.0,
        -0.0,
        1.5,
        -2.25,
        3.0,
        0.1,
        1e-30,
        -1e30,
        1e-40,
        7e37,
        f64::INFINITY,
    ];
    let mut f = Function::new("t");
    let constants: Vec<_> = numbers
        .iter()
        .map(|&c| f.push(Op::Const(c), None, None, None))
        .collect();
    let mut ops = Vec::new();
    for &x in &constants {
        for kind in UnaryKind::iter() {
            let params = [0.3, -1.25][..kind.param_names().len()].to_vec();
            let u = UnaryOp::with_params(kind, &params).expect("the right number of parameters");
            ops.push(Op::Unary(u, x));
        }
        for &y in &constants {
            ops.extend(BinaryOp::iter().map(|b| Op::Binary(b, x, y)));
            ops.push(Op::Select {
                condition: x,
                yes: y,
                no: constants[2],
            });
        }
    }
    let count = ops.len();
    for (i, op) in ops.into_iter().enumerate() {
        let v = f.push(op, None, None, None);
        f.add_output(&format!("o{i}"), v);
    }
    let before = VerifiedFunction::new(f).expect("valid IR");
    let mut g = before.clone().into_inner();
    let counts = optimize(&mut g);
    let after = VerifiedFunction::new(g).expect("the optimized function verifies");
    assert_same_results(&before, &after);
    assert!(
        counts.folded > count / 2,
        "{} of {count} folded!",
        counts.folded
    );
}
