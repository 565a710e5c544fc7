//! One small function per op (and per broadcast pattern and transpose combination), compiled and
//! compared with the interpreter at batch sizes 1, 3 and 17. Widths such as 5 and 7 are chosen
//! so that both the vector loop and the scalar tail run.

use super::check_outputs;
use crate::codegen::{compile, vmath, CodegenOptions};
use crate::ir::{ArgRole, BinaryOp, Function, Op, Shape, UnaryKind, UnaryOp};

fn unary_fn(op: UnaryOp, shape: Shape) -> Function {
    let mut f = Function::new(format!("{op:?}"));
    let x = f.add_arg("x", shape, ArgRole::Data, None);
    let y = f.push(Op::Unary(op, x), None, Some("y"), None);
    f.add_output("y", y);
    f
}

/// Every unary op, by iterating over the kinds, so that a new op is compared without editing this
/// test; parameterised ops get sample constants.
fn all_unary() -> Vec<UnaryOp> {
    <UnaryKind as strum::IntoEnumIterator>::iter()
        .map(|k| {
            let params: &[f64] = match k.param_names().len() {
                0 => &[],
                1 => &[0.2],
                _ => &[-1.5, 0.25],
            };
            UnaryOp::with_params(k, params).expect("one sample constant per parameter")
        })
        .collect()
}

#[test]
fn every_unary_op_matches_the_interpreter() {
    for (i, op) in all_unary().into_iter().enumerate() {
        let range = match op {
            UnaryOp::Log | UnaryOp::Sqrt => (0.05, 4.0),
            _ => (-4.0, 4.0),
        };
        check_outputs(&unary_fn(op, Shape::batched(&[5])), 10 + i as u64, range);
        check_outputs(&unary_fn(op, Shape::fixed(&[3, 7])), 40 + i as u64, range);
    }
}

/// Zeros of both signs and NaN go through abs and sign as the interpreter says (sign keeps them);
/// a subnormal input as itself or as a zero of its sign.
#[test]
fn abs_and_sign_at_zero_and_nan() {
    for op in [UnaryOp::Abs, UnaryOp::Sign] {
        let f = unary_fn(op, Shape::fixed(&[9]));
        let x = [
            0.0f32,
            -0.0,
            f32::NAN,
            1e-45,
            -1e-45,
            3.5,
            -3.5,
            f32::INFINITY,
            -1e30,
        ];
        for opts in super::modes() {
            let mut c = compile(&super::verified(&f), 1, &opts).unwrap();
            let mut no_params: [Vec<f32>; 0] = [];
            c.call(&mut no_params, &[x.to_vec()], 1).unwrap();
            for (i, (&got, &x)) in c.output("y").iter().zip(&x).enumerate() {
                // Compiled code may read a subnormal input as a zero of its sign (`fpmode`:
                // arithmetic and comparisons do, bitwise ops such as `abs` do not), and `sign`
                // passes a zero through as itself, so a subnormal too; the interpreter computes
                // in IEEE f64.
                let as_read = |x: f32| crate::interp::unary(&op, f64::from(x));
                let want = as_read(x);
                let is = |want: f64| {
                    (got.is_nan() && want.is_nan())
                        || (f64::from(got) == want
                            && got.is_sign_negative() == want.is_sign_negative())
                };
                let flushed = x.is_subnormal()
                    && (is(as_read(0.0f32.copysign(x))) || got.to_bits() == x.to_bits());
                let same = is(want) || flushed;
                assert!(
                    same,
                    "{op:?}({x}) [{i}]: compiled {got}, interpreter {want}"
                );
            }
        }
    }
}

/// A constant vector, broadcast over the batch and multiplied in, as class weights are.
#[test]
fn a_constant_vector_matches_the_interpreter() {
    let mut f = Function::new("vector");
    let x = f.add_arg("x", Shape::batched(&[5]), ArgRole::Data, None);
    let v = f.push(
        Op::Vector(vec![1.0, -2.5, 0.0, 3e-3, 7.0]),
        None,
        Some("v"),
        None,
    );
    let b = f.push(Op::Broadcast(v), Some(Shape::batched(&[5])), None, None);
    let y = f.push(Op::Binary(BinaryOp::Mul, x, b), None, Some("y"), None);
    f.add_output("y", y);
    f.add_output("v", v);
    check_outputs(&f, 77, (-2.0, 2.0));
}

#[test]
fn sigmoid_and_softplus_are_finite_far_from_zero() {
    for op in [
        UnaryOp::Sigmoid,
        UnaryOp::Softplus,
        UnaryOp::Tanh,
        UnaryOp::NormalCdf,
    ] {
        check_outputs(&unary_fn(op, Shape::batched(&[6])), 7, (-200.0, 200.0));
    }
    for x in [-1e30f32, -1e4, -100.0, 100.0, 1e4, 1e30] {
        assert!(
            vmath::sigmoid(x).is_finite() && vmath::softplus(x).is_finite(),
            "{x}"
        );
    }
}

#[test]
fn every_binary_op_matches_the_interpreter() {
    for (i, op) in <BinaryOp as strum::IntoEnumIterator>::iter().enumerate() {
        for shape in [Shape::batched(&[6]), Shape::fixed(&[2, 3]), Shape::scalar()] {
            let mut f = Function::new(format!("{op:?}"));
            let a = f.add_arg("a", shape.clone(), ArgRole::Data, None);
            let b = f.add_arg("b", shape, ArgRole::Param, None);
            let y = f.push(Op::Binary(op, a, b), None, None, None);
            let z = f.push(Op::Binary(op, y, a), None, None, None);
            f.add_output("y", y);
            f.add_output("z", z);
            check_outputs(&f, 100 + i as u64, (0.5, 3.0));
        }
    }
}

/// Comparisons at ties (`x op x`), and `select` choosing by a comparison: both lanes of the vector
/// loop and the scalar tail must pick what the interpreter picks.
#[test]
fn comparisons_at_ties_and_select() {
    for shape in [Shape::batched(&[7]), Shape::fixed(&[5])] {
        let mut f = Function::new("select");
        let a = f.add_arg("a", shape.clone(), ArgRole::Data, None);
        let b = f.add_arg("b", shape, ArgRole::Data, None);
        let mut outs = Vec::new();
        for op in [BinaryOp::Greater, BinaryOp::GreaterEq, BinaryOp::Equal] {
            outs.push(f.push(Op::Binary(op, a, a), None, None, None));
            outs.push(f.push(Op::Binary(op, a, b), None, None, None));
        }
        let c = f.push(Op::Binary(BinaryOp::Greater, a, b), None, None, None);
        let doubled = f.push(Op::Binary(BinaryOp::Add, a, a), None, None, None);
        let s = f.push(
            Op::Select {
                condition: c,
                yes: doubled,
                no: b,
            },
            None,
            None,
            None,
        );
        outs.push(s);
        for (i, v) in outs.into_iter().enumerate() {
            f.add_output(&format!("y{i}"), v);
        }
        check_outputs(&f, 150, (-1.0, 1.0));
    }
}

/// Concatenation and slicing along the last axis, batched and fixed, at widths that exercise
/// offsets on both sides.
#[test]
fn concat_and_slice_match_the_interpreter() {
    let cases = [
        (Shape::batched(&[3]), Shape::batched(&[5])),
        (Shape::fixed(&[2, 3]), Shape::fixed(&[2, 4])),
        (Shape::batched(&[2, 1]), Shape::batched(&[2, 6])),
    ];
    for (i, (sa, sb)) in cases.into_iter().enumerate() {
        let mut f = Function::new("concat");
        let a = f.add_arg("a", sa, ArgRole::Data, None);
        let b = f.add_arg("b", sb, ArgRole::Data, None);
        let c = f.push(Op::Concat { a, b }, None, Some("c"), None);
        let d = f.push(Op::Concat { a: c, b: a }, None, Some("d"), None);
        let s = f.push(
            Op::Slice {
                x: d,
                start: 2,
                len: 3,
            },
            None,
            Some("s"),
            None,
        );
        f.add_output("c", c);
        f.add_output("d", d);
        f.add_output("s", s);
        check_outputs(&f, 160 + i as u64, (-1.0, 1.0));
    }
}

fn matmul_fn(sa: Shape, sb: Shape, transpose_a: bool, transpose_b: bool) -> Function {
    let mut f = Function::new(format!("matmul_{transpose_a}_{transpose_b}"));
    let a = f.add_arg("a", sa, ArgRole::Data, None);
    let b = f.add_arg("b", sb, ArgRole::Data, None);
    let op = Op::MatMul {
        a,
        b,
        transpose_a,
        transpose_b,
    };
    let y = f.push(op, None, None, None);
    f.add_output("y", y);
    f
}

#[test]
fn matmul_in_all_transpose_combinations() {
    let cases = [
        // x·W, the forward pass of a dense layer.
        (Shape::batched(&[4]), Shape::fixed(&[4, 3]), false, false),
        // xᵀ·g, a weight gradient: the inner dimension is the batch.
        (Shape::batched(&[4]), Shape::batched(&[3]), true, false),
        // g·Wᵀ, the gradient flowing back to the input.
        (Shape::batched(&[3]), Shape::fixed(&[4, 3]), false, true),
        (Shape::fixed(&[5, 4]), Shape::fixed(&[3, 5]), true, true),
        (Shape::fixed(&[2, 5]), Shape::fixed(&[5, 7]), false, false),
        (Shape::fixed(&[5, 2]), Shape::fixed(&[5, 7]), true, false),
        (Shape::fixed(&[2, 5]), Shape::fixed(&[7, 5]), false, true),
    ];
    for (i, (sa, sb, ta, tb)) in cases.into_iter().enumerate() {
        check_outputs(&matmul_fn(sa, sb, ta, tb), 200 + i as u64, (-1.0, 1.0));
    }
}

fn reshape_fn(op: fn(crate::ir::ValueId) -> Op, from: Shape, to: Shape) -> Function {
    let mut f = Function::new(format!("{from}_to_{to}"));
    let x = f.add_arg("x", from, ArgRole::Data, None);
    let y = f.push(op(x), Some(to), None, None);
    f.add_output("y", y);
    f
}

fn broadcast_patterns() -> Vec<(Shape, Shape)> {
    let (s, fx, bt) = (Shape::scalar, Shape::fixed, Shape::batched);
    vec![
        (s(), bt(&[4])),
        (s(), fx(&[3, 4])),
        (s(), s()),
        (fx(&[4]), bt(&[4])),
        (fx(&[4]), fx(&[3, 4])),
        (bt(&[1]), bt(&[5])),
        (fx(&[1, 4]), bt(&[4])),
        (fx(&[1, 4]), fx(&[3, 4])),
        (fx(&[3, 1]), fx(&[3, 4])),
        (fx(&[1]), bt(&[5])),
        (bt(&[4]), bt(&[4])),
        (fx(&[4]), bt(&[2, 4])),
        (fx(&[2, 1]), bt(&[2, 4])),
        (bt(&[1, 4]), bt(&[3, 4])),
        // Rows read inside a fused loop (`fuse::spread`): widths of two and three vectors.
        (fx(&[8]), bt(&[8])),
        (fx(&[1, 12]), bt(&[2, 12])),
        (fx(&[8]), fx(&[5, 8])),
    ]
}

/// A layer's bias added to each row and the activation, the pattern row broadcasts are fused
/// for: one loop reading the bias again for every row, at widths of one, two and three vectors
/// and one that is not a whole number of vectors (left to the broadcast helper).
#[test]
fn bias_rows_fused_into_the_activation_match_the_interpreter() {
    for (i, width) in [4usize, 8, 12, 6].into_iter().enumerate() {
        let mut f = Function::new("bias_relu");
        let x = f.add_arg("x", Shape::batched(&[width]), ArgRole::Data, None);
        let bias = f.add_arg("b", Shape::fixed(&[width]), ArgRole::Param, None);
        let rows = f.push(
            Op::Broadcast(bias),
            Some(Shape::batched(&[width])),
            None,
            None,
        );
        let z = f.push(Op::Binary(BinaryOp::Add, x, rows), None, None, None);
        let y = f.push(Op::Unary(UnaryOp::Relu, z), None, None, None);
        f.add_output("y", y);
        let fused = crate::codegen::fuse::steps(&f)
            .iter()
            .any(|s| s.equations().len() == 3);
        assert_eq!(fused, width % 4 == 0, "width {width}");
        check_outputs(&f, 600 + i as u64, (-2.0, 2.0));
    }
}

#[test]
fn broadcast_patterns_match_the_interpreter() {
    for (i, (from, to)) in broadcast_patterns().into_iter().enumerate() {
        check_outputs(
            &reshape_fn(Op::Broadcast, from, to),
            300 + i as u64,
            (-2.0, 2.0),
        );
    }
}

#[test]
fn sum_to_patterns_match_the_interpreter() {
    for (i, (small, big)) in broadcast_patterns().into_iter().enumerate() {
        check_outputs(
            &reshape_fn(Op::SumTo, big, small),
            400 + i as u64,
            (-2.0, 2.0),
        );
    }
}

#[test]
fn log_softmax_along_the_last_axis() {
    for (i, shape) in [
        Shape::batched(&[5]),
        Shape::fixed(&[3, 7]),
        Shape::batched(&[]),
        Shape::batched(&[2, 3]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut f = Function::new("log_softmax");
        let x = f.add_arg("x", shape, ArgRole::Data, None);
        let y = f.push(Op::LogSoftmax(x), None, None, None);
        f.add_output("y", y);
        check_outputs(&f, 500 + i as u64, (-30.0, 30.0));
    }
}

#[test]
fn const_and_batch_size_are_scalars() {
    // No argument carries the batch: the batch size is the call's, in both executors (the
    // interpreter used to read it off the data arguments and took 1 here).
    let mut f = Function::new("scalars");
    let c = f.push(Op::Const(-2.5), None, None, None);
    let b = f.push(Op::BatchSize, None, None, None);
    let q = f.push(Op::Binary(BinaryOp::Div, c, b), None, None, None);
    f.add_output("c", c);
    f.add_output("b", b);
    f.add_output("q", q);
    check_outputs(&f, 600, (0.0, 1.0));
    let f = super::verified(&f);
    let mut compiled = compile(&f, 17, &CodegenOptions::default()).unwrap();
    compiled
        .call(&mut [] as &mut [Vec<f32>], &[] as &[Vec<f32>], 3)
        .unwrap();
    assert_eq!(compiled.output("b"), &[3.0]);
    let ev = crate::interp::evaluate(&f, &[], 3).unwrap();
    assert_eq!(ev.get(&f, "b").sum(), 3.0);
}

/// The random ops draw the same bits compiled as interpreted: the mask (0 or 1/(1 − p), rounded
/// to f32) and the noise (Box–Muller in f64, rounded to f32) are equal bit for bit, at several
/// step counts and batch sizes, and the step count changes them.
#[test]
fn random_ops_match_the_interpreter_bit_for_bit() {
    use crate::ir::RandomSite;
    let mut f = Function::new("random");
    let counter = f.add_arg("rng_step", Shape::scalar(), ArgRole::State, None);
    let at = RandomSite { key: 99, site: 3 };
    let mask = f.push(
        Op::DropoutMask {
            rate: 0.3,
            at,
            counter,
        },
        Some(Shape::batched(&[5, 3])),
        Some("mask"),
        None,
    );
    let noise = f.push(
        Op::NormalNoise {
            std: 0.7,
            at,
            counter,
        },
        Some(Shape::batched(&[7])),
        Some("noise"),
        None,
    );
    f.add_output("mask", mask);
    f.add_output("noise", noise);
    let f = super::verified(&f);
    for opts in super::modes() {
        let mut c = compile(&f, 17, &opts).unwrap();
        let mut previous: Option<Vec<f32>> = None;
        for (step, batch) in [(0.0f32, 17), (1.0, 3), (2.0, 1), (12345.0, 17)] {
            let mut bufs = vec![vec![step]];
            super::call(&mut c, &mut bufs, batch);
            let ev =
                crate::interp::evaluate(&f, &[ndarray::arr0(f64::from(step)).into_dyn()], batch)
                    .unwrap();
            for name in ["mask", "noise"] {
                let want: Vec<f32> = ev.get(&f, name).iter().map(|&v| v as f32).collect();
                let got = c.output(name);
                assert!(
                    got.iter()
                        .map(|v| v.to_bits())
                        .eq(want.iter().map(|v| v.to_bits())),
                    "{name} at step {step}, batch {batch}: compiled {got:?}, interpreted {want:?}"
                );
            }
            let mask = c.output("mask").to_vec();
            assert!(mask.iter().all(|&m| m == 0.0 || m == (1.0 / 0.7f64) as f32));
            if let Some(p) = previous.as_ref().filter(|_| batch == 17) {
                assert_ne!(p, &mask, "a new step draws a new mask");
            }
            if batch == 17 {
                previous = Some(mask);
            }
        }
    }
}
