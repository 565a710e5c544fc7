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
        target_width,
        ..DataShape::default()
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

fn mae(p: &[f64], y: &[f64]) -> f64 {
    p.iter().zip(y).map(|(p, y)| (p - y).abs()).sum::<f64>() / p.len() as f64
}

/// Huber's loss written by cases, with the δ the tests use.
fn huber_with(delta: f64) -> impl Fn(&[f64], &[f64]) -> f64 {
    move |p, y| {
        p.iter()
            .zip(y)
            .map(|(p, y)| {
                let a = (p - y).abs();
                if a <= delta {
                    0.5 * a * a
                } else {
                    delta * (a - 0.5 * delta)
                }
            })
            .sum::<f64>()
            / p.len() as f64
    }
}

#[test]
fn mean_absolute_error_over_the_batch_and_every_output() {
    for width in [1, 3] {
        let p = program(&format!("output({width})"), "mae", width);
        let args = arguments(&p, |r, c| (r * 3 + c) as f64 * 0.25 - 1.0);
        check(&format!("mae, {width} outputs"), &p, &args, mae);
    }
}

#[test]
fn huber_is_quadratic_inside_delta_and_linear_beyond() {
    // Targets spread from −3 to 3 so that, with these deltas, some errors fall on each side.
    for delta in [0.5, 1.0, 2.0] {
        let p = program("output(3)", &format!("huber(delta: {delta})"), 3);
        let args = arguments(&p, |r, c| (r * 3 + c) as f64 * 0.4 - 3.0);
        let (interpreted, compiled, predictions, y) = loss_of(&p, &args);
        let errors: Vec<f64> = predictions
            .iter()
            .zip(&y)
            .map(|(p, y)| (p - y).abs())
            .collect();
        assert!(
            errors.iter().any(|&e| e < delta) && errors.iter().any(|&e| e > delta),
            "delta {delta}: errors on both sides"
        );
        let want = huber_with(delta)(&predictions, &y);
        assert!(
            (interpreted - want).abs() <= 1e-9 * want,
            "huber({delta}): {interpreted} vs {want}"
        );
        assert!(
            (compiled - want).abs() <= 1e-5 * want,
            "huber({delta}): compiled {compiled} vs {want}"
        );
    }
}

#[test]
fn binary_cross_entropy_is_the_sigmoid_cross_entropy() {
    let p = program("output(1, activation: sigmoid)", "binary_cross_entropy", 1);
    let args = arguments(&p, |r, _| (r % 2) as f64);
    check("binary_cross_entropy", &p, &args, binary_cross_entropy);
    // The same IR as `cross_entropy` with a sigmoid output.
    let q = program("output(1, activation: sigmoid)", "cross_entropy", 1);
    assert_eq!(
        nnc::ir::print_function(&p.step),
        nnc::ir::print_function(&q.step)
    );
}

/// −mean over rows of w(class) · Σ_k t_k log p_k, with t = y(1 − ε) + ε/K.
fn weighted_smoothed_cross_entropy(
    p: &[f64],
    y: &[f64],
    k: usize,
    epsilon: f64,
    weights: &[f64],
) -> f64 {
    let rows = p.len() / k;
    let mut total = 0.0;
    for r in 0..rows {
        let (pr, yr) = (&p[r * k..(r + 1) * k], &y[r * k..(r + 1) * k]);
        let class = yr.iter().position(|&v| v == 1.0).unwrap();
        let l: f64 = pr
            .iter()
            .zip(yr)
            .map(|(p, y)| (y * (1.0 - epsilon) + epsilon / k as f64) * p.ln())
            .sum();
        total -= weights[class] * l;
    }
    total / rows as f64
}

#[test]
fn softmax_cross_entropy_with_label_smoothing_and_class_weights() {
    let weights = [1.0, 3.0, 0.5];
    for (epsilon, w) in [(0.1, None), (0.0, Some(weights)), (0.2, Some(weights))] {
        let mut loss = format!("cross_entropy(label_smoothing: {epsilon}");
        if let Some(w) = w {
            loss += &format!(", class_weights: [{}, {}, {}]", w[0], w[1], w[2]);
        }
        loss += ")";
        let p = program("output(3, activation: softmax)", &loss, 3);
        let args = arguments(&p, |r, c| f64::from(u8::from(r % 3 == c)));
        let (interpreted, compiled, predictions, y) = loss_of(&p, &args);
        let want =
            weighted_smoothed_cross_entropy(&predictions, &y, 3, epsilon, &w.unwrap_or([1.0; 3]));
        assert!(
            (interpreted - want).abs() <= 1e-9 * want,
            "{loss}: {interpreted} vs {want}"
        );
        assert!(
            (compiled - want).abs() <= 1e-5 * want,
            "{loss}: compiled {compiled} vs {want}"
        );
    }
}

/// `cross_entropy` with a sigmoid output and `binary_cross_entropy` take the same options.
#[test]
fn sigmoid_cross_entropy_with_label_smoothing_and_class_weights() {
    let weights = [0.25, 2.0];
    let cases = [(0.1, None), (0.0, Some(weights)), (0.3, Some(weights))];
    let names = ["cross_entropy", "binary_cross_entropy"];
    for (name, (epsilon, w)) in names.iter().flat_map(|n| cases.map(|c| (n, c))) {
        let mut loss = format!("{name}(label_smoothing: {epsilon}");
        if let Some(w) = w {
            loss += &format!(", class_weights: [{}, {}]", w[0], w[1]);
        }
        loss += ")";
        let p = program("output(1, activation: sigmoid)", &loss, 1);
        let args = arguments(&p, |r, _| (r % 2) as f64);
        let (interpreted, compiled, predictions, y) = loss_of(&p, &args);
        // The same formula over the two classes [1 − p, p] with one-hot targets [1 − y, y].
        let two = |v: &[f64]| v.iter().flat_map(|&v| [1.0 - v, v]).collect::<Vec<f64>>();
        let want = weighted_smoothed_cross_entropy(
            &two(&predictions),
            &two(&y),
            2,
            epsilon,
            &w.unwrap_or([1.0; 2]),
        );
        assert!(
            (interpreted - want).abs() <= 1e-9 * want,
            "{loss}: {interpreted} vs {want}"
        );
        assert!(
            (compiled - want).abs() <= 1e-5 * want,
            "{loss}: compiled {compiled} vs {want}"
        );
    }
}
