//! Whole functions: a training-step-like function with updates checked against
//! `interp::step_in_place` over several calls, a small classifier with a loss that exercises arena
//! reuse, the error paths of `call` and `compile`, and checked mode catching an out-of-plan
//! batch. That dropping a compiled function frees its code is tested in `tests/jit_memory.rs`,
//! which needs a process of its own to measure.

use super::{
    assert_close, call, check_outputs, modes, random_args, rng, split, verified, MAX_BATCH,
};
use crate::codegen::{compile, plan, CodegenError, CodegenOptions};
use crate::interp;
use crate::ir::{ArgRole, BinaryOp, Function, Op, Shape, UnaryOp};

/// SGD with momentum on a linear model, plus two state arguments that swap each call (update
/// sources that are themselves updated arguments) and an output that is an argument.
fn momentum_step() -> Function {
    let mut f = Function::new("momentum_step");
    let w = f.add_arg("w", Shape::fixed(&[3, 2]), ArgRole::Param, None);
    let v = f.add_arg("v", Shape::fixed(&[3, 2]), ArgRole::State, None);
    let p = f.add_arg("p", Shape::fixed(&[4]), ArgRole::State, None);
    let q = f.add_arg("q", Shape::fixed(&[4]), ArgRole::State, None);
    let x = f.add_arg("x", Shape::batched(&[3]), ArgRole::Data, None);
    let mm = |a, b, ta| Op::MatMul {
        a,
        b,
        transpose_a: ta,
        transpose_b: false,
    };
    let y = f.push(mm(x, w, false), None, Some("y"), None);
    let g = f.push(mm(x, y, true), None, Some("g"), None);
    let bs = f.push(Op::BatchSize, None, None, None);
    let bsb = f.push(Op::Broadcast(bs), Some(Shape::fixed(&[3, 2])), None, None);
    let g = f.push(Op::Binary(BinaryOp::Div, g, bsb), None, None, None);
    let v2 = f.push(
        Op::Unary(UnaryOp::Affine { mul: 0.9, add: 0.0 }, v),
        None,
        None,
        None,
    );
    let v2 = f.push(Op::Binary(BinaryOp::Add, v2, g), None, Some("v_next"), None);
    let lr = f.push(Op::Const(0.1), None, None, None);
    let lrb = f.push(Op::Broadcast(lr), Some(Shape::fixed(&[3, 2])), None, None);
    let step = f.push(Op::Binary(BinaryOp::Mul, lrb, v2), None, None, None);
    let w2 = f.push(
        Op::Binary(BinaryOp::Sub, w, step),
        None,
        Some("w_next"),
        None,
    );
    f.add_output("y", y);
    f.add_output("w_before", w);
    f.updates.push(crate::ir::Update { arg: w, value: w2 });
    f.updates.push(crate::ir::Update { arg: v, value: v2 });
    f.updates.push(crate::ir::Update { arg: p, value: q });
    f.updates.push(crate::ir::Update { arg: q, value: p });
    crate::ir::verify(&f).expect("test function is valid IR");
    f
}

/// Run `f` on both executors for several calls with fresh data each time (the last argument),
/// persistent arguments carrying over on both sides, comparing outputs and every argument.
fn check_steps(f: &Function) {
    let f = &verified(f);
    for opts in modes() {
        let mut r = rng(1);
        let mut c = compile(f, MAX_BATCH, &opts).unwrap();
        let (mut bufs, mut tensors) = random_args(f, 1, &mut r, (-1.0, 1.0));
        for batch in [3, 17, 1, 3, 5] {
            let (data, data_t) = random_args(f, batch, &mut r, (-1.0, 1.0));
            let xi = f.args.len() - 1;
            bufs[xi] = data[xi].clone();
            tensors[xi] = data_t[xi].clone();
            let ev = interp::step_in_place(f, &mut tensors, batch).unwrap();
            call(&mut c, &mut bufs, batch);
            for o in &f.outputs {
                assert_close(
                    &format!("output {}", o.name),
                    c.output(&o.name),
                    &ev.values[o.value.index()],
                );
            }
            for (i, a) in f.args.iter().enumerate() {
                let what = format!(
                    "argument {} after a call at batch {batch}",
                    f.name_of(a.value)
                );
                assert_close(&what, &bufs[i], &tensors[i]);
            }
        }
    }
}

#[test]
fn updates_match_step_in_place_over_several_calls() {
    let f = momentum_step();
    // `v` is computed in place (its old value is dead after its loop); `w` is also an output and
    // `p`, `q` swap, so those three are copied at the end.
    assert_eq!(
        plan::plan(&f, MAX_BATCH, 1).unwrap().in_place,
        vec![false, true, false, false]
    );
    check_steps(&f);
}

#[test]
fn an_update_source_shared_or_also_an_output_is_not_computed_in_place() {
    let mut f = Function::new("shared");
    let a = f.add_arg("a", Shape::fixed(&[5]), ArgRole::State, None);
    let b = f.add_arg("b", Shape::fixed(&[5]), ArgRole::State, None);
    let c = f.add_arg("c", Shape::fixed(&[5]), ArgRole::Param, None);
    f.add_arg("x", Shape::batched(&[2]), ArgRole::Data, None);
    let v = f.push(
        Op::Unary(UnaryOp::Affine { mul: 0.5, add: 1.0 }, a),
        None,
        None,
        None,
    );
    let w = f.push(
        Op::Unary(
            UnaryOp::Affine {
                mul: 2.0,
                add: -1.0,
            },
            c,
        ),
        None,
        None,
        None,
    );
    f.updates.push(crate::ir::Update { arg: a, value: v });
    f.updates.push(crate::ir::Update { arg: b, value: v });
    f.updates.push(crate::ir::Update { arg: c, value: w });
    f.add_output("w", w);
    assert_eq!(
        plan::plan(&f, MAX_BATCH, 1).unwrap().in_place,
        vec![false, false, false]
    );
    check_steps(&f);
}

/// A dense layer, relu, a second dense layer, log-softmax and the mean negative log-likelihood.
fn classifier() -> Function {
    let mut f = Function::new("classifier");
    let w1 = f.add_arg("w1", Shape::fixed(&[4, 8]), ArgRole::Param, None);
    let b1 = f.add_arg("b1", Shape::fixed(&[8]), ArgRole::Param, None);
    let w2 = f.add_arg("w2", Shape::fixed(&[8, 3]), ArgRole::Param, None);
    let b2 = f.add_arg("b2", Shape::fixed(&[3]), ArgRole::Param, None);
    let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Data, None);
    let t = f.add_arg("t", Shape::batched(&[3]), ArgRole::Data, None);
    let dense = |f: &mut Function, x, w, b, n| {
        let op = Op::MatMul {
            a: x,
            b: w,
            transpose_a: false,
            transpose_b: false,
        };
        let z = f.push(op, None, None, None);
        let bb = f.push(Op::Broadcast(b), Some(Shape::batched(&[n])), None, None);
        f.push(Op::Binary(BinaryOp::Add, z, bb), None, None, None)
    };
    let h = dense(&mut f, x, w1, b1, 8);
    let h = f.push(Op::Unary(UnaryOp::Relu, h), None, None, None);
    let z = dense(&mut f, h, w2, b2, 3);
    let lp = f.push(Op::LogSoftmax(z), None, Some("log_probs"), None);
    let tl = f.push(Op::Binary(BinaryOp::Mul, t, lp), None, None, None);
    let nll = f.push(Op::Unary(UnaryOp::Neg, tl), None, None, None);
    let s = f.push(Op::SumTo(nll), Some(Shape::scalar()), None, None);
    let bs = f.push(Op::BatchSize, None, None, None);
    let loss = f.push(Op::Binary(BinaryOp::Div, s, bs), None, Some("loss"), None);
    f.add_output("loss", loss);
    f.add_output("log_probs", lp);
    f
}

#[test]
fn classifier_loss_matches_and_reuses_the_arena() {
    let f = classifier();
    check_outputs(&f, 2, (-1.0, 1.0));
    let p = plan::plan(&f, MAX_BATCH, 1).unwrap();
    plan::tests::assert_disjoint(&f, &p);
    let c = compile(&verified(&f), MAX_BATCH, &CodegenOptions::default()).unwrap();
    let total: usize = f
        .body
        .iter()
        .map(|eq| f.shape(eq.out).numel(MAX_BATCH).unwrap().div_ceil(16) * 16)
        .sum();
    assert!(
        c.arena_bytes() < total * 4,
        "arena {} B, no reuse would be {} B",
        c.arena_bytes(),
        total * 4
    );
}

#[test]
fn call_rejects_wrong_buffers_and_batches() {
    let f = verified(&classifier());
    let mut c = compile(&f, 4, &CodegenOptions::default()).unwrap();
    let (mut bufs, _) = random_args(&f, 2, &mut rng(3), (-1.0, 1.0));
    let (mut persistent, data) = split(&f, &mut bufs);
    assert!(
        c.call(&mut persistent, &data, 3).is_err(),
        "data sized for batch 2 at batch 3"
    );
    assert!(c.call(&mut persistent, &data, 0).is_err());
    assert!(c.call(&mut persistent[1..], &data, 2).is_err());
    assert!(c.call(&mut persistent, &data[1..], 2).is_err());
    let mut short = persistent[0][..3].to_vec();
    let mut swapped: Vec<&mut [f32]> = vec![&mut short];
    swapped.extend(persistent.iter_mut().skip(1).map(|b| &mut **b));
    assert!(
        c.call(&mut swapped, &data, 2).is_err(),
        "a parameter buffer of the wrong length"
    );
    assert!(c.call(&mut persistent, &data, 2).is_ok());
    let (mut big, _) = random_args(&f, 5, &mut rng(3), (-1.0, 1.0));
    let (mut persistent, data) = split(&f, &mut big);
    assert!(
        c.call(&mut persistent, &data, 5).is_err(),
        "batch above max_batch"
    );
}

#[test]
fn sizes_that_overflow_are_errors_before_any_code_runs() {
    // (2^62 + 1) rows of 4 floats: the element count overflows usize. It used to wrap to 4, plan
    // a 64-byte arena, and let a call at batch 2^20 write far past it.
    let mut f = Function::new("huge_batch");
    let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Data, None);
    let y = f.push(Op::Unary(UnaryOp::Exp, x), None, None, None);
    f.add_output("y", y);
    let f = verified(&f);
    let err = compile(&f, (1 << 62) + 1, &CodegenOptions::default())
        .err()
        .expect("an arena of 2^64 floats cannot be planned");
    assert!(matches!(err, CodegenError::TooLarge { .. }), "{err}");
    // A batch that fits the address space but not this machine's memory is an error too.
    let err = compile(&f, 1 << 50, &CodegenOptions::default())
        .err()
        .expect("2^52 floats cannot be allocated");
    assert!(matches!(err, CodegenError::OutOfMemory { .. }), "{err}");
    // And a large batch that is cheap still compiles and runs.
    let mut c = compile(&f, 1 << 10, &CodegenOptions::default()).unwrap();
    let x = vec![0.0f32; 4 << 10];
    c.call(&mut [] as &mut [Vec<f32>], &[&x[..]], 1 << 10)
        .unwrap();
    assert!(c.output("y").iter().all(|&v| v == 1.0));
}

/// Two intermediates of 2^60 floats each fit `MAX_ELEMENTS` (2^61 − 1) on their own, but both
/// live at once: the arena's end is summed with checked arithmetic and bounded, so it is
/// `TooLarge` before anything is allocated.
#[test]
fn an_arena_whose_regions_fit_but_whose_sum_does_not_is_too_large() {
    let mut f = Function::new("two_live");
    let x = f.add_arg("x", Shape::batched(&[1 << 30]), ArgRole::Data, None);
    let y = f.push(Op::Unary(UnaryOp::Exp, x), None, None, None);
    let z = f.push(Op::Unary(UnaryOp::Exp, y), None, None, None);
    f.add_output("y", y);
    f.add_output("z", z);
    let second = f.name_of(z).to_string();
    let f = verified(&f);
    let err = compile(&f, 1 << 30, &CodegenOptions::default())
        .err()
        .expect("an arena of 2^61 floats exceeds MAX_ELEMENTS");
    assert!(
        matches!(&err, CodegenError::TooLarge { value, .. } if *value == second),
        "{err}"
    );
}

/// A batch whose buffer sizes overflow (row · batch wraps to the length of the buffer given)
/// is refused before any buffer is trusted.
#[test]
fn call_refuses_batches_whose_sizes_overflow() {
    let mut f = Function::new("rows_of_four");
    let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Data, None);
    let y = f.push(Op::Unary(UnaryOp::Exp, x), None, None, None);
    f.add_output("y", y);
    let f = verified(&f);
    for opts in modes() {
        let mut c = compile(&f, 4, &opts).unwrap();
        let x = [0.0f32; 4];
        for batch in [(1 << 62) + 1, usize::MAX] {
            let err = c
                .call(&mut [] as &mut [Vec<f32>], &[&x[..]], batch)
                .expect_err("a batch above max_batch");
            assert!(
                matches!(&err, CodegenError::Arguments(m) if m.contains("outside 1..=4")),
                "{err}"
            );
        }
        c.call(&mut [] as &mut [Vec<f32>], &[&x[..]], 1).unwrap();
        assert_eq!(c.output("y"), [1.0; 4]);
    }
}

#[test]
fn checked_mode_stops_a_batch_the_arena_was_not_planned_for() {
    let f = verified(&classifier());
    let opts = CodegenOptions {
        checked: true,
        emit_clif: false,
        ..Default::default()
    };
    let mut c = compile(&f, 4, &opts).unwrap();
    let (mut bufs, _) = random_args(&f, 9, &mut rng(4), (-1.0, 1.0));
    let (mut persistent, data) = split(&f, &mut bufs);
    let rc = c.call_unguarded(&mut persistent, &data, 9);
    assert_eq!(
        rc, 1,
        "the first equation's result does not fit its region at batch 9"
    );
}

#[test]
fn clif_text_is_kept_on_request() {
    let f = verified(&classifier());
    let with = compile(
        &f,
        2,
        &CodegenOptions {
            emit_clif: true,
            checked: false,
            ..Default::default()
        },
    )
    .unwrap();
    let text = with.clif_text().expect("emit_clif keeps the text");
    assert!(text.contains("call fn") && text.contains("f32x4"), "{text}");
    let again = compile(
        &f,
        2,
        &CodegenOptions {
            emit_clif: true,
            checked: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        again.clif_text(),
        Some(text),
        "the text holds no run-dependent addresses"
    );
    let without = compile(&f, 2, &CodegenOptions::default()).unwrap();
    assert!(without.clif_text().is_none());
}

#[test]
fn a_compiled_function_can_move_to_another_thread() {
    let f = verified(&classifier());
    let (mut bufs, ts) = random_args(&f, 3, &mut rng(6), (-1.0, 1.0));
    let want = interp::evaluate(&f, &ts, 3).unwrap();
    let mut c = compile(&f, 4, &CodegenOptions::default()).unwrap();
    let c = std::thread::spawn(move || {
        call(&mut c, &mut bufs, 3);
        c
    })
    .join()
    .unwrap();
    let loss = f.output_named("loss").unwrap();
    assert_close("loss", c.output("loss"), &want.values[loss.index()]);
}

#[test]
fn machine_code_is_kept_on_request() {
    let f = verified(&classifier());
    let opts = CodegenOptions {
        emit_asm: true,
        ..Default::default()
    };
    let with = compile(&f, 2, &opts).unwrap();
    let text = with.asm_text().expect("emit_asm keeps the instructions");
    assert!(text.contains("ret"), "{text}");
    let without = compile(&f, 2, &CodegenOptions::default()).unwrap();
    assert!(without.asm_text().is_none());
}

/// `y = x · w` with `x` of `[B, k]` and `w` of `[k, n]`, and `square = y · y` element-wise.
fn product_and_square(k: usize, n: usize) -> Function {
    let mut f = Function::new("product");
    let w = f.add_arg("w", Shape::fixed(&[k, n]), ArgRole::Param, None);
    let x = f.add_arg("x", Shape::batched(&[k]), ArgRole::Data, None);
    let op = Op::MatMul {
        a: x,
        b: w,
        transpose_a: false,
        transpose_b: false,
    };
    let y = f.push(op, None, Some("y"), None);
    let square = f.push(Op::Binary(BinaryOp::Mul, y, y), None, Some("square"), None);
    f.add_output("y", y);
    f.add_output("square", square);
    f
}

/// Sums of all elements fused into the loops over their operands: of a batched value wide enough
/// for several blocks (its total read only by the caller), of a parameter-shaped one whose total
/// a later loop reads, and of a narrow one with a scalar tail.
fn fused_sums() -> Function {
    let mut f = Function::new("fused_sums");
    let w = f.add_arg("w", Shape::fixed(&[64, 40]), ArgRole::Param, None);
    let x = f.add_arg("x", Shape::batched(&[400]), ArgRole::Data, None);
    let v = f.add_arg("v", Shape::batched(&[7]), ArgRole::Data, None);
    let sq = f.push(Op::Binary(BinaryOp::Mul, x, x), None, None, None);
    let s1 = f.push(Op::SumTo(sq), Some(Shape::scalar()), Some("s1"), None);
    let neg = f.push(Op::Unary(UnaryOp::Neg, x), None, Some("neg"), None);
    let w2 = f.push(Op::Binary(BinaryOp::Mul, w, w), None, None, None);
    let s2 = f.push(Op::SumTo(w2), Some(Shape::scalar()), Some("s2"), None);
    // Two groups of a team later (after a helper that reads `neg` whole, and a loop that reads
    // the helper's result) the total `s2` is read: its combine goes between them.
    let ls = f.push(Op::LogSoftmax(neg), None, None, None);
    let q = f.push(Op::Unary(UnaryOp::Neg, ls), None, None, None);
    let t = f.push(Op::Broadcast(s2), Some(Shape::batched(&[400])), None, None);
    let u = f.push(Op::Binary(BinaryOp::Mul, q, t), None, Some("u"), None);
    let s3 = f.push(Op::SumTo(v), Some(Shape::scalar()), Some("s3"), None);
    // A sum over the rows, split by columns over a team (`nnc_column_sums`): 7 columns.
    let columns = f.push(
        Op::SumTo(v),
        Some(Shape::fixed(&[7])),
        Some("columns"),
        None,
    );
    let outputs = [
        ("s1", s1),
        ("neg", neg),
        ("u", u),
        ("s3", s3),
        ("columns", columns),
    ];
    for (name, value) in outputs {
        f.add_output(name, value);
    }
    f
}

#[test]
fn fused_sums_match_the_interpreter() {
    let f = fused_sums();
    let steps = crate::codegen::fuse::steps(&f);
    let single =
        |s: &&crate::codegen::fuse::Step| matches!(s, crate::codegen::fuse::Step::Single(_));
    assert_eq!(
        steps.iter().filter(single).count(),
        2,
        "every sum of all elements is fused: {steps:?}"
    );
    check_outputs(&f, 11, (-1.0, 1.0));
}

/// Compiled code flushes subnormal inputs and results to zero on every thread that runs it (both
/// halves of a product split over two threads, and the element-wise loops), and gives the caller
/// back its own mode.
#[test]
fn compiled_code_flushes_subnormals_and_restores_the_callers_mode() {
    // 64 × 256 × 256 multiply-adds: enough for the product to be split over two threads.
    let (batch, k, n) = (64, 256, 256);
    let f = product_and_square(k, n);
    let mut c = compile(&verified(&f), batch, &CodegenOptions::default()).unwrap();
    // Threads inherit their creator's mode: put every worker in IEEE mode first, so that only
    // the guards can make the products flush.
    rayon::broadcast(|_| crate::codegen::fpmode::clear());
    // Subnormal inputs (f32's smallest normal number is 1.2e-38) read as zeros: in IEEE
    // arithmetic every element of y would be 256 · 1e-39 = 2.56e-37, a normal number.
    let x = vec![1e-39f32; batch * k];
    let mut w = vec![1.0f32; k * n];
    c.call(&mut [&mut w[..]], &[&x[..]], batch).unwrap();
    let nonzero = |v: &[f32]| v.iter().filter(|&&e| e != 0.0).count();
    let y = c.output("y");
    assert_eq!(
        nonzero(y),
        0,
        "of {} elements of y, on both threads",
        y.len()
    );
    // Subnormal results are zeros: y = 1e-20 in every element, its square 1e-40 would be one.
    let x = vec![1.0f32; batch * k];
    let mut w = vec![0.0f32; k * n];
    w[..n].fill(1e-20);
    c.call(&mut [&mut w[..]], &[&x[..]], batch).unwrap();
    assert!(c.output("y").iter().all(|&e| e == 1e-20));
    assert_eq!(nonzero(c.output("square")), 0);
    // The caller's IEEE mode is back: subnormal arithmetic gives subnormal results here.
    let s = std::hint::black_box(1e-40f32);
    assert_ne!(s * std::hint::black_box(2.0f32), 0.0);
}

/// A bounds check that fails on one thread of a team stops the others at their next barrier:
/// the call returns the failing check's code instead of hanging.
#[test]
fn a_failed_check_on_one_thread_stops_the_team() {
    let mut f = Function::new("softmax_then_scale");
    let x = f.add_arg("x", Shape::batched(&[3]), ArgRole::Data, None);
    // log_softmax runs on part 0 alone; the loop after it on both threads, after a barrier.
    let y = f.push(Op::LogSoftmax(x), None, Some("y"), None);
    let two = f.push(Op::Const(2.0), None, None, None);
    let twos = f.push(Op::Broadcast(two), Some(Shape::batched(&[3])), None, None);
    let z = f.push(Op::Binary(BinaryOp::Mul, y, twos), None, Some("z"), None);
    f.add_output("z", z);
    let f = verified(&f);
    for threads in [2, 3] {
        let opts = CodegenOptions {
            checked: true,
            threads,
            ..Default::default()
        };
        let mut c = compile(&f, 4, &opts).unwrap();
        assert_eq!(c.threads(), threads);
        let mut bufs = vec![vec![0.5f32; 9 * 3]];
        let (mut persistent, data) = split(&f, &mut bufs);
        let rc = c.call_unguarded(&mut persistent, &data, 9);
        assert_eq!(
            rc, 1,
            "log_softmax's result does not fit its region at batch 9"
        );
        // The team still works for a call that fits.
        let mut bufs = vec![vec![0.5f32; 4 * 3]];
        call(&mut c, &mut bufs, 4);
        let want = 2.0 * (1.0f32 / 3.0).ln();
        assert!(c.output("z").iter().all(|&v| (v - want).abs() < 1e-6));
    }
}

/// A team computes what one thread computes, bit for bit: every kernel's share is computed in
/// the order one thread computes it.
#[test]
fn a_team_computes_what_one_thread_does_bit_for_bit() {
    for f in [
        classifier(),
        momentum_step(),
        product_and_square(96, 80),
        fused_sums(),
    ] {
        let f = verified(&f);
        let mut results = Vec::new();
        for threads in [1, 2, 3] {
            let opts = CodegenOptions {
                threads,
                ..Default::default()
            };
            let mut c = compile(&f, MAX_BATCH, &opts).unwrap();
            assert_eq!(c.threads(), threads, "{}", f.name);
            let mut r = rng(7);
            let (mut bufs, _) = random_args(&f, MAX_BATCH, &mut r, (-1.0, 1.0));
            let mut seen = Vec::new();
            for batch in [MAX_BATCH, 5, 1, MAX_BATCH] {
                let (data, _) = random_args(&f, batch, &mut r, (-1.0, 1.0));
                for (i, a) in f.args.iter().enumerate() {
                    if a.role == ArgRole::Data {
                        bufs[i] = data[i].clone();
                    }
                }
                call(&mut c, &mut bufs, batch);
                for o in &f.outputs {
                    seen.extend(c.output(&o.name).iter().map(|v| v.to_bits()));
                }
                seen.extend(bufs.iter().flatten().map(|v| v.to_bits()));
            }
            results.push(seen);
        }
        assert!(results[1] == results[0], "{}: two threads", f.name);
        assert!(results[2] == results[0], "{}: three threads", f.name);
    }
}
