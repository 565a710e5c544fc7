//! Gradient checks: for every op, and for the loss of every example model, the backward IR that
//! autodiff produces, evaluated by the interpreter in f64, agrees with central finite differences.

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use nnc::autodiff::gradient;
use nnc::interp::{evaluate, Tensor};
use nnc::ir::{
    ArgRole, BinaryOp, Dim, Function, Op, Shape, UnaryKind, UnaryOp, ValueId, VerifiedFunction,
};
use strum::IntoEnumIterator;

const BATCH: usize = 3;

/// Random values away from 0 (where relu-like ops have kinks), optionally positive only.
fn random(shape: &Shape, positive: bool, rng: &mut ChaCha8Rng) -> Tensor {
    let dims = shape.extents(BATCH);
    let n: usize = dims.iter().product();
    let data = (0..n)
        .map(|_| {
            let m: f64 = rng.random_range(0.2..1.5);
            if positive || rng.random_bool(0.5) {
                m
            } else {
                -m
            }
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(&dims), data).unwrap()
}

/// The scalar loss Σ r ⊙ out, with r a fixed random data argument, so every output element
/// weighs differently in the gradient.
fn finish_with_weighted_sum(f: &mut Function, out: ValueId) {
    let shape = f.shape(out).clone();
    let r = f.add_arg("r", shape, ArgRole::Data, None);
    let prod = f.push(Op::Binary(BinaryOp::Mul, out, r), None, None, None);
    let loss = f.push(Op::SumTo(prod), Some(Shape::scalar()), Some("loss"), None);
    f.add_output("loss", loss);
}

/// Compare autodiff's gradient with central differences for every Param argument of `f`, at
/// every coordinate (`samples: None`) or at that many random coordinates of each parameter.
fn compare(f: &Function, args: &[Tensor], samples: Option<usize>, rng: &mut ChaCha8Rng) {
    let grad = gradient(f, "loss", ArgRole::Param);
    let f = &VerifiedFunction::new(f.clone()).unwrap();
    let g = VerifiedFunction::new(grad.function).unwrap();
    let ev = evaluate(&g, args, BATCH).unwrap();
    let loss_at = |args: &[Tensor]| evaluate(f, args, BATCH).unwrap().get(f, "loss").sum();
    let mut checked = 0;
    for (i, a) in f.args.iter().enumerate() {
        if a.role != ArgRole::Param {
            continue;
        }
        let name = f.name_of(a.value);
        let (p, d) = grad.wrt[checked];
        checked += 1;
        assert_eq!(p, a.value, "gradients come in argument order");
        let analytic = ev.values[d.index()].clone();
        assert_eq!(
            analytic.shape(),
            args[i].shape(),
            "gradient of `{name}` has the argument's shape"
        );
        let coords: Vec<usize> = match samples {
            None => (0..args[i].len()).collect(),
            Some(n) => (0..n).map(|_| rng.random_range(0..args[i].len())).collect(),
        };
        for k in coords {
            let h = 1e-6;
            let mut plus = args.to_vec();
            plus[i].as_slice_mut().unwrap()[k] += h;
            let mut minus = args.to_vec();
            minus[i].as_slice_mut().unwrap()[k] -= h;
            let numeric = (loss_at(&plus) - loss_at(&minus)) / (2.0 * h);
            let a = analytic.as_slice().unwrap()[k];
            let tol = 1e-6 * (1.0 + numeric.abs().max(a.abs()));
            assert!(
                (a - numeric).abs() <= tol,
                "{}: d_{name}[{k}] autodiff {a} vs finite differences {numeric}",
                f.name
            );
        }
    }
}

/// Check every coordinate of every parameter on random arguments.
fn check(f: &Function, positive: bool, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let args: Vec<Tensor> = f
        .args
        .iter()
        .map(|a| random(f.shape(a.value), positive, &mut rng))
        .collect();
    compare(f, &args, None, &mut rng);
}

fn unary_case(op: UnaryOp) -> Function {
    let mut f = Function::new(format!("{op:?}"));
    let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Param, None);
    let y = f.push(Op::Unary(op, x), None, None, None);
    finish_with_weighted_sum(&mut f, y);
    f
}

#[test]
fn every_unary_op() {
    for (i, kind) in UnaryKind::iter().enumerate() {
        let params: &[f64] = match kind.param_names().len() {
            0 => &[],
            1 => &[0.1],
            _ => &[-1.5, 0.25],
        };
        let op = UnaryOp::with_params(kind, params).unwrap();
        let positive = matches!(kind, UnaryKind::Log | UnaryKind::Sqrt);
        check(&unary_case(op), positive, i as u64);
    }
}

#[test]
fn every_binary_op_in_both_operands() {
    // Comparisons have no derivative (the language never differentiates through one); every
    // other binary op is checked here, found by iterating over the enum.
    for (i, op) in BinaryOp::iter()
        .filter(|op| !op.is_comparison())
        .enumerate()
    {
        let mut f = Function::new(format!("{op:?}"));
        let a = f.add_arg("a", Shape::batched(&[3]), ArgRole::Param, None);
        let b = f.add_arg("b", Shape::batched(&[3]), ArgRole::Param, None);
        let y = f.push(Op::Binary(op, a, b), None, None, None);
        finish_with_weighted_sum(&mut f, y);
        check(&f, false, 10 + i as u64);
    }
}

/// `select(a > b, a·b, b)`: the adjoint reaches `a` and `b` through the branch each element
/// took, and nothing through the condition.
#[test]
fn select_sends_the_adjoint_down_the_branch_taken() {
    let mut f = Function::new("select");
    let a = f.add_arg("a", Shape::batched(&[4]), ArgRole::Param, None);
    let b = f.add_arg("b", Shape::batched(&[4]), ArgRole::Param, None);
    let c = f.push(Op::Binary(BinaryOp::Greater, a, b), None, None, None);
    let ab = f.push(Op::Binary(BinaryOp::Mul, a, b), None, None, None);
    let y = f.push(
        Op::Select {
            condition: c,
            yes: ab,
            no: b,
        },
        None,
        None,
        None,
    );
    finish_with_weighted_sum(&mut f, y);
    check(&f, false, 30);
}

/// `slice(concat(a, b·b), 1, 4)`: the adjoint of a concatenation splits, and a slice's adjoint
/// puts its columns back between zeros.
#[test]
fn concat_and_slice_route_the_adjoint_by_column() {
    let mut f = Function::new("concat_slice");
    let a = f.add_arg("a", Shape::batched(&[3]), ArgRole::Param, None);
    let b = f.add_arg("b", Shape::batched(&[2]), ArgRole::Param, None);
    let bb = f.push(Op::Binary(BinaryOp::Mul, b, b), None, None, None);
    let c = f.push(Op::Concat { a, b: bb }, None, None, None);
    let s = f.push(
        Op::Slice {
            x: c,
            start: 1,
            len: 3,
        },
        None,
        None,
        None,
    );
    let y = f.push(Op::Concat { a: s, b: c }, None, None, None);
    finish_with_weighted_sum(&mut f, y);
    check(&f, false, 31);
}

#[test]
fn a_value_used_twice_accumulates_its_adjoint() {
    let mut f = Function::new("square_plus_self");
    let a = f.add_arg("a", Shape::fixed(&[5]), ArgRole::Param, None);
    let sq = f.push(Op::Binary(BinaryOp::Mul, a, a), None, None, None);
    let y = f.push(Op::Binary(BinaryOp::Add, sq, a), None, None, None);
    finish_with_weighted_sum(&mut f, y);
    check(&f, false, 20);
}

#[test]
fn matmul_in_all_four_transpositions() {
    for (i, (ta, tb)) in [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .enumerate()
    {
        let mut f = Function::new(format!("matmul_{ta}_{tb}"));
        let sa = if ta {
            Shape::fixed(&[4, 2])
        } else {
            Shape::fixed(&[2, 4])
        };
        let sb = if tb {
            Shape::fixed(&[3, 4])
        } else {
            Shape::fixed(&[4, 3])
        };
        let a = f.add_arg("a", sa, ArgRole::Param, None);
        let b = f.add_arg("b", sb, ArgRole::Param, None);
        let y = f.push(
            Op::MatMul {
                a,
                b,
                transpose_a: ta,
                transpose_b: tb,
            },
            None,
            None,
            None,
        );
        finish_with_weighted_sum(&mut f, y);
        check(&f, false, 30 + i as u64);
    }
}

#[test]
fn matmul_with_a_batch_operand() {
    let mut f = Function::new("dense");
    let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Param, None);
    let w = f.add_arg("w", Shape::fixed(&[4, 2]), ArgRole::Param, None);
    let y = f.push(
        Op::MatMul {
            a: x,
            b: w,
            transpose_a: false,
            transpose_b: false,
        },
        None,
        None,
        None,
    );
    finish_with_weighted_sum(&mut f, y);
    check(&f, false, 40);
}

#[test]
fn broadcast_and_sum_to_in_every_pattern() {
    let cases = [
        (Shape::fixed(&[3]), Shape::batched(&[3])),
        (Shape::scalar(), Shape::batched(&[3])),
        (Shape(vec![Dim::Batch, Dim::Fixed(1)]), Shape::batched(&[3])),
        (Shape::fixed(&[1, 3]), Shape::fixed(&[2, 3])),
    ];
    for (i, (small, big)) in cases.into_iter().enumerate() {
        let mut f = Function::new(format!("broadcast_{i}"));
        let x = f.add_arg("x", small.clone(), ArgRole::Param, None);
        let y = f.push(Op::Broadcast(x), Some(big.clone()), None, None);
        finish_with_weighted_sum(&mut f, y);
        check(&f, false, 50 + i as u64);

        let mut f = Function::new(format!("sum_to_{i}"));
        let x = f.add_arg("x", big, ArgRole::Param, None);
        let y = f.push(Op::SumTo(x), Some(small), None, None);
        finish_with_weighted_sum(&mut f, y);
        check(&f, false, 60 + i as u64);
    }
}

#[test]
fn log_softmax_const_and_batch_size() {
    let mut f = Function::new("log_softmax");
    let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Param, None);
    let y = f.push(Op::LogSoftmax(x), None, None, None);
    finish_with_weighted_sum(&mut f, y);
    check(&f, false, 70);

    // A mean over the batch divides by `batch_size`; constants scale.
    let mut f = Function::new("mean");
    let x = f.add_arg("x", Shape::batched(&[2]), ArgRole::Param, None);
    let s = f.push(Op::SumTo(x), Some(Shape::scalar()), None, None);
    let b = f.push(Op::BatchSize, None, None, None);
    let c = f.push(Op::Const(3.0), None, None, None);
    let m = f.push(Op::Binary(BinaryOp::Div, s, b), None, None, None);
    let y = f.push(Op::Binary(BinaryOp::Mul, m, c), None, None, None);
    finish_with_weighted_sum(&mut f, y);
    check(&f, false, 71);
}

/// Dropout multiplies by a mask and noise adds to a value: the gradient flows through the `mul`
/// and `add` with the mask held fixed, and none reaches the step counter (a state argument).
#[test]
fn dropout_and_noise_pass_gradients_through_their_masks() {
    use nnc::ir::RandomSite;
    let mut f = Function::new("dropout");
    let x = f.add_arg("x", Shape::batched(&[6]), ArgRole::Param, None);
    let counter = f.add_arg("rng_step", Shape::scalar(), ArgRole::State, None);
    let at = RandomSite { key: 5, site: 1 };
    let shape = Some(Shape::batched(&[6]));
    let noise = f.push(
        Op::NormalNoise {
            std: 0.5,
            at,
            counter,
        },
        shape.clone(),
        None,
        None,
    );
    let noisy = f.push(Op::Binary(BinaryOp::Add, x, noise), None, None, None);
    let t = f.push(Op::Unary(UnaryOp::Tanh, noisy), None, None, None);
    let mask = f.push(
        Op::DropoutMask {
            rate: 0.4,
            at,
            counter,
        },
        shape,
        None,
        None,
    );
    let y = f.push(Op::Binary(BinaryOp::Mul, t, mask), None, None, None);
    finish_with_weighted_sum(&mut f, y);
    check(&f, false, 80);
}

#[test]
fn the_loss_of_every_example_model() {
    // The examples, and the models of tests/models that use every composite activation, huber,
    // mae, and cross-entropy with label smoothing and class weights.
    for name in [
        "examples/iris",
        "examples/breast_cancer",
        "examples/diabetes",
        "examples/digits",
        "examples/residual",
        "examples/custom_layer",
        "examples/breast_cancer_dropout",
        "examples/diabetes_regularized",
        "tests/models/vocabulary",
        "tests/models/weighted",
        "tests/models/mae",
        "tests/models/math",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("{name}.nn"));
        let spec = nnc::train::session::load_model(&path, &Default::default()).unwrap();
        let data =
            nnc::train::session::prepare_data(&spec, &path, &Default::default(), &mut |_| {})
                .unwrap();
        // The training loss: with dropout and noise (masks fixed by the step counter) when the
        // model has them, the evaluation loss otherwise; both with their penalties.
        let f = nnc::program::build(&spec, Some(&data.shape))
            .unwrap()
            .train_loss;
        let mut rng = ChaCha8Rng::seed_from_u64(100 + name.len() as u64);
        let mut args: Vec<Tensor> = f
            .args
            .iter()
            .map(|a| random(f.shape(a.value), false, &mut rng))
            .collect();
        // Targets as the data gives them: one-hot rows for classes, 0/1 for a sigmoid output.
        let y = f
            .args
            .iter()
            .position(|a| f.name_of(a.value) == "y")
            .unwrap();
        if spec.loss.kind().is_classification() {
            let width = args[y].shape()[1];
            args[y].fill(0.0);
            for r in 0..BATCH {
                if width == 1 {
                    args[y][[r, 0].as_ref()] = (r % 2) as f64;
                } else {
                    args[y][[r, r % width].as_ref()] = 1.0;
                }
            }
        }
        // Central differences on every weight of the larger models would take long: the small
        // ones are checked in full, the others at 40 sampled coordinates of every parameter.
        let size: usize = f
            .args
            .iter()
            .map(|a| f.shape(a.value).numel(BATCH).unwrap())
            .sum();
        let samples = (size > 2000).then_some(40);
        compare(&f, &args, samples, &mut rng);
    }
}
