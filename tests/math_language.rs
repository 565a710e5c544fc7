//! Math written in a model file computes what it says: each model below is evaluated with chosen
//! weights (identity matrices, zero biases) so that its output is the math itself, and compared
//! with the same formula computed here in f64, interpreted (1e-12) and compiled (1e-5). Covers a
//! def used as an activation with an option, `where` with a comparison, `concat` and `sum` over an
//! axis on named values, a layer written as math with its own parameters, and the prelude's
//! `layernorm`, and batch normalization in both of its modes.

use ndarray::{ArrayD, IxDyn};
use nnc::codegen::{self, CodegenOptions};
use nnc::diag::Source;
use nnc::interp::{self, Tensor};
use nnc::ir::ArgRole;
use nnc::program::Program;

const ROWS: usize = 5;

fn program(text: &str) -> Program {
    let spec = nnc::program::parse_model(&Source::new("math.nn", text))
        .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    nnc::program::build(&spec, None).unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

/// Inputs spread over both signs, with a zero, so that every branch is taken.
fn inputs(width: usize) -> Vec<f64> {
    (0..ROWS * width)
        .map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.37)
        .collect()
}

/// Every parameter by its name's role: matrices the identity, `gain` ones, the rest zeros.
fn param_values(name: &str, shape: &[usize]) -> Vec<f64> {
    let n: usize = shape.iter().product();
    match shape {
        [r, c] => (0..n)
            .map(|i| f64::from(u8::from(i / c == i % c && *r == *c)))
            .collect(),
        _ if name.ends_with("_gain") => vec![1.0; n],
        _ => vec![0.0; n],
    }
}

/// The forward pass's output, interpreted (f64) and compiled (f32), for `x` of `width` columns.
fn outputs(p: &Program, width: usize) -> (Vec<f64>, Vec<f32>) {
    let f = &p.forward;
    let x = inputs(width);
    let args: Vec<Tensor> = f
        .args
        .iter()
        .map(|a| {
            let extents = f.shape(a.value).extents(ROWS);
            let values = match a.role {
                ArgRole::Data => x.clone(),
                ArgRole::Param | ArgRole::State => param_values(f.name_of(a.value), &extents),
            };
            ArrayD::from_shape_vec(IxDyn(&extents), values).unwrap()
        })
        .collect();
    let interpreted = interp::evaluate(f, &args, ROWS).unwrap();
    let want: Vec<f64> = interpreted.get(f, "output").iter().copied().collect();
    let mut compiled = codegen::compile(f, ROWS, &CodegenOptions::default()).unwrap();
    let mut persistent: Vec<Vec<f32>> = Vec::new();
    let mut data: Vec<Vec<f32>> = Vec::new();
    for (a, t) in f.args.iter().zip(&args) {
        let v: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        match a.role {
            ArgRole::Data => data.push(v),
            ArgRole::Param | ArgRole::State => persistent.push(v),
        }
    }
    compiled.call(&mut persistent, &data, ROWS).unwrap();
    (want, compiled.output("output").to_vec())
}

fn check(text: &str, width: usize, expected: impl Fn(&[f64]) -> Vec<f64>) {
    let p = program(text);
    let (interpreted, compiled) = outputs(&p, width);
    let x = inputs(width);
    let want: Vec<f64> = x.chunks(width).flat_map(&expected).collect();
    assert_eq!(interpreted.len(), want.len(), "{text}");
    for (i, ((&got, &jit), &w)) in interpreted.iter().zip(&compiled).zip(&want).enumerate() {
        assert!(
            (got - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{text}\n[{i}]: {got} vs {w}"
        );
        assert!(
            (f64::from(jit) - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{text}\n[{i}] compiled: {jit} vs {w}"
        );
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn a_def_is_an_activation_with_its_options() {
    let text = "def swish(x, beta: 1.0) = x * sigmoid(beta * x)\n\
                model { input(3) output(3, activation: swish(beta: 2)) }\nloss: mse\n";
    check(text, 3, |row| {
        row.iter().map(|&x| x * sigmoid(2.0 * x)).collect()
    });
}

#[test]
fn where_chooses_by_a_comparison() {
    let text = "def leaky(x) = where(x > 0, x, 0.1 * x)\n\
                model { input(3) output(3, activation: leaky) }\nloss: mse\n";
    check(text, 3, |row| {
        row.iter()
            .map(|&x| if x > 0.0 { x } else { 0.1 * x })
            .collect()
    });
    // `==` and `!=` at an exact zero of the inputs, and min and max.
    for def in [
        "def f(x) = where(x == 0, 5, min(x, 1))",
        "def f(x) = where(x != 0, max(x, -1) * 0 + min(x, 1), 5)",
    ] {
        let text = format!("{def}\nmodel {{ input(3) output(3, activation: f) }}\nloss: mse\n");
        check(&text, 3, |row| {
            row.iter()
                .map(|&x| if x == 0.0 { 5.0 } else { x.min(1.0) })
                .collect()
        });
    }
}

#[test]
fn named_values_concat_and_sums_over_an_axis() {
    let text = "model {\n  x = input(3)\n  s = sum(x, axis: -1)\n  m = mean(x ^ 2, axis: 1)\n  \
                c = concat(x, s, m)\n  output(5)\n}\nloss: mse\n";
    check(text, 3, |row| {
        let s: f64 = row.iter().sum();
        let m = row.iter().map(|x| x * x).sum::<f64>() / 3.0;
        let mut out = row.to_vec();
        out.extend([s, m]);
        out
    });
}

#[test]
fn a_layer_written_as_math_has_its_own_parameters() {
    // With its matrix the identity and its bias zero, the layer is x · σ(x).
    let text = "def gated(x, units) {\n  w = param(width(x), units)\n  \
                b = param(units, init: zeros)\n  (x @ w + b) * sigmoid(x @ w)\n}\n\
                model { input(4) gated(4) output(4) }\nloss: mse\n";
    let p = program(text);
    let names: Vec<&str> = p.params.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["gated1_w", "gated1_b", "w1", "b1"]);
    check(text, 4, |row| row.iter().map(|&x| x * sigmoid(x)).collect());
}

#[test]
fn layernorm_normalizes_each_row() {
    let text = "model { input(4) layernorm output(4) }\nloss: mse\n";
    check(text, 4, |row| {
        let mean = row.iter().sum::<f64>() / 4.0;
        let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
        row.iter()
            .map(|x| (x - mean) / (var + 0.001).sqrt())
            .collect()
    });
}

/// Batch normalization evaluates with its running statistics (here set by hand), and in the
/// training loss normalizes with the batch's and writes the running statistics forward by
/// `momentum`.
#[test]
fn batchnorm_uses_running_statistics_and_updates_them_in_training() {
    let text = "model {\n  input(3)\n  batchnorm(momentum: 0.9, epsilon: 0.01)\n  output(3)\n}\nloss: mse\n";
    let p = program(text);
    let stats: Vec<&str> = p.stats.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stats, ["batchnorm1_mean", "batchnorm1_variance"]);
    let (running_mean, running_var) = ([0.5, -1.0, 2.0], [4.0, 0.25, 1.0]);
    let x = inputs(3);
    let args = |f: &nnc::ir::VerifiedFunction| -> Vec<Tensor> {
        f.args
            .iter()
            .map(|a| {
                let name = f.name_of(a.value);
                let extents = f.shape(a.value).extents(ROWS);
                let values = match name {
                    "x" | "y" => x.clone(),
                    "batchnorm1_mean" => running_mean.to_vec(),
                    "batchnorm1_variance" => running_var.to_vec(),
                    _ => param_values(name, &extents),
                };
                ArrayD::from_shape_vec(IxDyn(&extents), values).unwrap()
            })
            .collect()
    };
    // Evaluation: the running statistics.
    let f = &p.forward;
    let out = interp::evaluate(f, &args(f), ROWS).unwrap();
    for (i, (&got, &xi)) in out.get(f, "output").iter().zip(&x).enumerate() {
        let c = i % 3;
        let want = (xi - running_mean[c]) / (running_var[c] + 0.01f64).sqrt();
        assert!((got - want).abs() < 1e-12, "[{i}] {got} vs {want}");
    }
    // Training: the batch's statistics, and the running ones moved towards them.
    let f = &p.train_loss;
    let ev = interp::evaluate(f, &args(f), ROWS).unwrap();
    for c in 0..3 {
        let column: Vec<f64> = x.iter().skip(c).step_by(3).copied().collect();
        let mean = column.iter().sum::<f64>() / ROWS as f64;
        let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / ROWS as f64;
        let out: Vec<f64> = ev
            .get(f, "output")
            .iter()
            .skip(c)
            .step_by(3)
            .copied()
            .collect();
        for (o, v) in out.iter().zip(&column) {
            let want = (v - mean) / (var + 0.01).sqrt();
            assert!((o - want).abs() < 1e-12, "column {c}: {o} vs {want}");
        }
        for (stat, running, batch) in [
            ("batchnorm1_mean", running_mean[c], mean),
            ("batchnorm1_variance", running_var[c], var),
        ] {
            let arg = f.arg_named(stat).unwrap();
            let update = f.updates.iter().find(|u| u.arg == arg).unwrap();
            let got = ev.values[update.value.index()][[c].as_ref()];
            let want = 0.9 * running + 0.1 * batch;
            assert!((got - want).abs() < 1e-12, "{stat}[{c}]: {got} vs {want}");
        }
    }
}
