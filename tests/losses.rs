//! Every loss against its textbook formula, computed here in f64 from the model's predictions:
//! mean squared error over the batch and the outputs, categorical cross-entropy as −mean Σ y·log p
//! of the softmax probabilities, binary cross-entropy as −mean [y log p + (1 − y) log(1 − p)] of
//! the sigmoid probability. The IR computes them differently (from logits, with log_softmax and
//! softplus), so this checks the loss construction independently, interpreted and compiled.

use ndarray::{ArrayD, IxDyn};
use nnc::codegen::{self, CodegenOptions};
use nnc::diag::Source;
use nnc::interp::{self, Tensor};
use nnc::ir::ArgRole;
use nnc::lower::DataShape;
use nnc::program::Program;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 5;

fn program(model: &str, loss: &str, target_width: usize) -> Program {
    let text = format!(
        "model {{\n  input(4)\n  dense(6, activation: tanh)\n  {model}\n}}\nloss: {loss}\n"
    );
    let spec = nnc::program::parse_model(&Source::new("loss.nn", text)).unwrap();
    let data = DataShape {
        features: 4,
        features_origin: None,
        target_width,
        target_origin: None,
    };
    nnc::program::build(&spec, Some(&data)).unwrap()
}

/// Random parameters (large enough to give confident predictions) and inputs, and targets made
/// by `target(row, column)`, in the loss function's argument order.
fn arguments(p: &Program, target: impl Fn(usize, usize) -> f64) -> Vec<Tensor> {
    let f = &p.loss;
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    f.args
        .iter()
        .map(|a| {
            let shape = f.shape(a.value).extents(BATCH);
            let n: usize = shape.iter().product();
            let data: Vec<f64> = if a.role == ArgRole::Data && f.name_of(a.value) == "y" {
                let width = shape[1];
                (0..n).map(|i| target(i / width, i % width)).collect()
            } else {
                (0..n).map(|_| rng.random_range(-2.0..2.0)).collect()
            };
            ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
        })
        .collect()
}

/// The loss and predictions of the IR, interpreted (f64) and compiled (f32).
fn loss_of(p: &Program, args: &[Tensor]) -> (f64, f64, Vec<f64>, Vec<f64>) {
    let f = &p.loss;
    let ev = interp::evaluate(f, args, BATCH).unwrap();
    let interpreted = ev.get(f, "loss").sum();
    let y = args
        .iter()
        .zip(&f.args)
        .find(|(_, a)| f.name_of(a.value) == "y")
        .map(|(t, _)| t.iter().copied().collect())
        .unwrap();
    let predictions: Vec<f64> = ev.get(f, "output").iter().copied().collect();
    let mut compiled = codegen::compile(f, BATCH, &CodegenOptions::default()).unwrap();
    let to_f32 = |t: &Tensor| t.iter().map(|&v| v as f32).collect::<Vec<f32>>();
    let (mut persistent, mut data) = (Vec::new(), Vec::new());
    for (a, t) in f.args.iter().zip(args) {
        match a.role {
            ArgRole::Data => data.push(to_f32(t)),
            ArgRole::Param | ArgRole::State => persistent.push(to_f32(t)),
        }
    }
    compiled.call(&mut persistent, &data, BATCH).unwrap();
    (
        interpreted,
        f64::from(compiled.output("loss")[0]),
        predictions,
        y,
    )
}

fn check(what: &str, p: &Program, args: &[Tensor], formula: fn(&[f64], &[f64]) -> f64) {
    let (interpreted, compiled, predictions, y) = loss_of(p, args);
    assert_eq!(
        predictions.len(),
        y.len(),
        "{what}: one prediction per target"
    );
    let want = formula(&predictions, &y);
    assert!(
        want.is_finite() && want > 0.0,
        "{what}: a real loss, {want}"
    );
    assert!(
        (interpreted - want).abs() <= 1e-9 * want,
        "{what}: interpreted {interpreted}, formula {want}"
    );
    assert!(
        (compiled - want).abs() <= 1e-5 * want,
        "{what}: compiled {compiled}, formula {want}"
    );
}

fn mse(p: &[f64], y: &[f64]) -> f64 {
    p.iter().zip(y).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / p.len() as f64
}

fn categorical_cross_entropy(p: &[f64], y: &[f64]) -> f64 {
    -p.iter().zip(y).map(|(p, y)| y * p.ln()).sum::<f64>() / BATCH as f64
}

fn binary_cross_entropy(p: &[f64], y: &[f64]) -> f64 {
    -p.iter()
        .zip(y)
        .map(|(p, y)| y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        .sum::<f64>()
        / BATCH as f64
}

#[test]
fn mean_squared_error_over_the_batch_and_every_output() {
    for width in [1, 3] {
        let p = program(&format!("output({width})"), "mse", width);
        let args = arguments(&p, |r, c| (r * 3 + c) as f64 * 0.25 - 1.0);
        check(&format!("mse, {width} outputs"), &p, &args, mse);
    }
}

#[test]
fn categorical_cross_entropy_of_the_softmax_probabilities() {
    let p = program("output(3, activation: softmax)", "cross_entropy", 3);
    let args = arguments(&p, |r, c| f64::from(u8::from(r % 3 == c)));
    check(
        "softmax cross-entropy",
        &p,
        &args,
        categorical_cross_entropy,
    );
}

#[test]
fn binary_cross_entropy_of_the_sigmoid_probability() {
    let p = program("output(1, activation: sigmoid)", "cross_entropy", 1);
    let args = arguments(&p, |r, _| (r % 2) as f64);
    check("sigmoid cross-entropy", &p, &args, binary_cross_entropy);
}
