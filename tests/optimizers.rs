//! Every optimizer against an independent oracle: its update rule written out here by hand, in f64,
//! applied to the gradient that autodiff computes (itself checked against finite differences in
//! `gradcheck.rs`). Over several steps on real batches, the compiled step (f32) and the interpreted
//! step (f64) must leave the same parameters and optimizer state as the hand-written rule. A wrong
//! factor anywhere in an update (Adam's 1 − β1, a bias correction, the momentum) fails here.
//! Learning-rate schedules and gradient clipping are checked the same way: each test writes the
//! rate of every step (or the clipping) out itself, and the oracle compares the `learning_rate`
//! buffer the driver fills as well.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use nnc::codegen::CodegenOptions;
use nnc::data::Prepared;
use nnc::diag::Source;
use nnc::interp::{self, Tensor};
use nnc::ir::ArgRole;
use nnc::lower::Optimizer;
use nnc::program::Program;
use nnc::train::session::prepare_data;
use nnc::train::{Executor, InterpExecutor, JitExecutor};

const BATCH: usize = 16;
const STEPS: usize = 6;

fn iris_with(optimizer: &str) -> (Program, Prepared) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let csv = root.join("examples/data/iris.csv");
    let text = format!(
        "data {{ path: {:?} target: species }}\nmodel {{\n  input(4)\n  dense(5, activation: tanh)\n  output(3, activation: softmax)\n}}\nloss: cross_entropy\noptimizer: {optimizer}\ntrain {{ batch_size: {BATCH} }}\n",
        csv.display().to_string()
    );
    let source = Source::new("optimizer.nn", text);
    let spec =
        nnc::program::parse_model(&source).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let data = prepare_data(
        &spec,
        &root.join("optimizer.nn"),
        &Default::default(),
        &mut |_| {},
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let prepared = data.prepared.clone();
    (
        nnc::program::build(&spec, Some(&data.shape)).unwrap(),
        prepared,
    )
}

/// The hand-written optimizers: named buffers (parameters and state, as the program names them)
/// updated from the gradients in f64.
struct Oracle {
    optimizer: Optimizer,
    buffers: BTreeMap<String, Vec<f64>>,
    params: Vec<String>,
    step: u32,
    /// The largest element and the largest global norm of the gradients, when clipped.
    clip_value: Option<f64>,
    clip_norm: Option<f64>,
    /// Steps where clipping by value, and by norm, changed the gradients.
    engaged: (usize, usize),
}

/// The gradients clipped as the documentation says: each element to [−v, v], then all of them
/// scaled by c / max(c, √(Σ g²)).
/// `engaged` counts the steps where clipping changed something, so that a test can make sure
/// its bounds are tight enough to matter.
fn clipped(
    grads: &BTreeMap<String, Vec<f64>>,
    value: Option<f64>,
    norm: Option<f64>,
    engaged: &mut (usize, usize),
) -> BTreeMap<String, Vec<f64>> {
    let mut out = grads.clone();
    if let Some(v) = value {
        if out.values().flatten().any(|x| x.abs() > v) {
            engaged.0 += 1;
        }
        for g in out.values_mut() {
            for x in g.iter_mut() {
                *x = x.max(-v).min(v);
            }
        }
    }
    if let Some(c) = norm {
        let n = out.values().flatten().map(|x| x * x).sum::<f64>().sqrt();
        if n > c {
            engaged.1 += 1;
            for g in out.values_mut() {
                for x in g.iter_mut() {
                    *x *= c / n;
                }
            }
        }
    }
    out
}

impl Oracle {
    /// One step with the learning rate `lr` (the optimizer's own, or the schedule's for this step).
    fn update(&mut self, grads: &BTreeMap<String, Vec<f64>>, lr: f64) {
        self.step += 1;
        let t = f64::from(self.step);
        let grads = clipped(grads, self.clip_value, self.clip_norm, &mut self.engaged);
        if self.buffers.contains_key("learning_rate") {
            self.buffers.insert("learning_rate".into(), vec![lr]);
        }
        for p in &self.params {
            let g = &grads[p];
            let n = g.len();
            match self.optimizer {
                Optimizer::Sgd {
                    momentum, nesterov, ..
                } => {
                    let learning_rate = lr;
                    let direction: Vec<f64> = if momentum > 0.0 {
                        let v = self.buffers.get_mut(&format!("velocity_{p}")).unwrap();
                        for i in 0..n {
                            v[i] = momentum * v[i] + g[i];
                        }
                        if nesterov {
                            (0..n).map(|i| g[i] + momentum * v[i]).collect()
                        } else {
                            v.clone()
                        }
                    } else {
                        g.clone()
                    };
                    let w = self.buffers.get_mut(p).unwrap();
                    for i in 0..n {
                        w[i] -= learning_rate * direction[i];
                    }
                }
                Optimizer::Adam {
                    beta1,
                    beta2,
                    epsilon,
                    ..
                } => {
                    let learning_rate = lr;
                    let m = self.buffers.get_mut(&format!("adam_m_{p}")).unwrap();
                    for i in 0..n {
                        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
                    }
                    let m = m.clone();
                    let v = self.buffers.get_mut(&format!("adam_v_{p}")).unwrap();
                    for i in 0..n {
                        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
                    }
                    let v = v.clone();
                    let w = self.buffers.get_mut(p).unwrap();
                    for i in 0..n {
                        let m_hat = m[i] / (1.0 - beta1.powf(t));
                        let v_hat = v[i] / (1.0 - beta2.powf(t));
                        w[i] -= learning_rate * m_hat / (v_hat.sqrt() + epsilon);
                    }
                }
                Optimizer::Rmsprop {
                    rho,
                    epsilon,
                    momentum,
                    centered,
                    ..
                } => {
                    let learning_rate = lr;
                    let s = self.buffers.get_mut(&format!("rmsprop_s_{p}")).unwrap();
                    for i in 0..n {
                        s[i] = rho * s[i] + (1.0 - rho) * g[i] * g[i];
                    }
                    let mut spread = s.clone();
                    if centered {
                        let a = self.buffers.get_mut(&format!("rmsprop_a_{p}")).unwrap();
                        for i in 0..n {
                            a[i] = rho * a[i] + (1.0 - rho) * g[i];
                            spread[i] -= a[i] * a[i];
                        }
                    }
                    let u: Vec<f64> = (0..n)
                        .map(|i| g[i] / (spread[i].sqrt() + epsilon))
                        .collect();
                    let direction = if momentum > 0.0 {
                        let b = self.buffers.get_mut(&format!("rmsprop_b_{p}")).unwrap();
                        for i in 0..n {
                            b[i] = momentum * b[i] + u[i];
                        }
                        b.clone()
                    } else {
                        u
                    };
                    let w = self.buffers.get_mut(p).unwrap();
                    for i in 0..n {
                        w[i] -= learning_rate * direction[i];
                    }
                }
                Optimizer::Adagrad { epsilon, .. } => {
                    let s = self.buffers.get_mut(&format!("adagrad_s_{p}")).unwrap();
                    for i in 0..n {
                        s[i] += g[i] * g[i];
                    }
                    let s = s.clone();
                    let w = self.buffers.get_mut(p).unwrap();
                    for i in 0..n {
                        w[i] -= lr * g[i] / (s[i].sqrt() + epsilon);
                    }
                }
                Optimizer::Adamw {
                    beta1,
                    beta2,
                    epsilon,
                    weight_decay,
                    ..
                } => {
                    let m = self.buffers.get_mut(&format!("adamw_m_{p}")).unwrap();
                    for i in 0..n {
                        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
                    }
                    let m = m.clone();
                    let v = self.buffers.get_mut(&format!("adamw_v_{p}")).unwrap();
                    for i in 0..n {
                        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
                    }
                    let v = v.clone();
                    let w = self.buffers.get_mut(p).unwrap();
                    for i in 0..n {
                        let m_hat = m[i] / (1.0 - beta1.powf(t));
                        let v_hat = v[i] / (1.0 - beta2.powf(t));
                        w[i] = w[i] * (1.0 - lr * weight_decay)
                            - lr * m_hat / (v_hat.sqrt() + epsilon);
                    }
                }
            }
        }
        for counter in ["adam_t", "adamw_t"] {
            if self.buffers.contains_key(counter) {
                self.buffers.insert(counter.into(), vec![t]);
            }
        }
    }
}

/// The gradient of the batch loss at the oracle's parameters, from the interpreter.
fn gradients(
    program: &Program,
    oracle: &Oracle,
    x: &[f32],
    y: &[f32],
) -> BTreeMap<String, Vec<f64>> {
    let g = &program.grad;
    let args: Vec<Tensor> = g
        .args
        .iter()
        .map(|a| {
            let name = g.name_of(a.value);
            let shape = g.shape(a.value).extents(BATCH);
            let data: Vec<f64> = match (a.role, name) {
                (ArgRole::Data, "x") => x.iter().map(|&v| f64::from(v)).collect(),
                (ArgRole::Data, _) => y.iter().map(|&v| f64::from(v)).collect(),
                _ => oracle.buffers[name].clone(),
            };
            ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
        })
        .collect();
    let ev = interp::evaluate(g, &args, BATCH).unwrap();
    oracle
        .params
        .iter()
        .map(|p| {
            (
                p.clone(),
                ev.get(g, &format!("d_{p}")).iter().copied().collect(),
            )
        })
        .collect()
}

fn assert_matches(what: &str, exec: &dyn Executor, oracle: &Oracle, rel: f64) {
    let got = exec.persistent();
    assert_eq!(
        got.len(),
        oracle.buffers.len(),
        "{what}: the same buffers as the oracle"
    );
    for (name, values) in got {
        let want = &oracle.buffers[&name];
        assert_eq!(values.len(), want.len(), "{what}: `{name}` length");
        for (i, (&a, &b)) in values.iter().zip(want).enumerate() {
            let a = f64::from(a);
            assert!(
                (a - b).abs() <= rel * b.abs() + 1e-7,
                "{what}: `{name}`[{i}] is {a}, the hand-written update gives {b}"
            );
        }
    }
}

fn check(optimizer_text: &str) {
    let (program, _) = iris_with(optimizer_text);
    let learning_rate = program.spec.optimizer.learning_rate();
    check_with(optimizer_text, |_| learning_rate, (None, None));
}

/// Check the optimizer written `optimizer_text`, whose learning rate at step `t` (0 for the first)
/// is `rate(t)` and whose gradients are clipped by `(value, norm)`, both as the test says rather
/// than as the program was told.
fn check_with(optimizer_text: &str, rate: impl Fn(usize) -> f64, clip: (Option<f64>, Option<f64>)) {
    let (program, prepared) = iris_with(optimizer_text);
    let mut jit = JitExecutor::new(&program, 9, &CodegenOptions::default()).unwrap();
    let mut interpreted = InterpExecutor::new(&program, 9).unwrap();
    let initial = jit.persistent();
    let mut oracle = Oracle {
        optimizer: program.spec.optimizer,
        buffers: initial
            .iter()
            .map(|(n, v)| (n.clone(), v.iter().map(|&x| f64::from(x)).collect()))
            .collect(),
        params: program.params.iter().map(|p| p.name.clone()).collect(),
        step: 0,
        clip_value: clip.0,
        clip_norm: clip.1,
        engaged: (0, 0),
    };
    // Biases and optimizer state start at zero, except Adagrad's accumulators and the rate.
    let start = match program.spec.optimizer {
        Optimizer::Adagrad {
            initial_accumulator,
            ..
        } => initial_accumulator as f32,
        _ => 0.0,
    };
    assert!(
        initial.iter().all(|(n, v)| n.starts_with('w')
            || n == "learning_rate"
            || v.iter()
                .all(|&x| x == 0.0 || (n.starts_with("adagrad") && x == start))),
        "biases and optimizer state start where they should"
    );
    let train = &prepared.train;
    for step in 0..STEPS {
        let rows = step * BATCH..(step + 1) * BATCH;
        let x = &train.x.data[rows.start * train.x.cols..rows.end * train.x.cols];
        let y = &train.y.data[rows.start * train.y.cols..rows.end * train.y.cols];
        let grads = gradients(&program, &oracle, x, y);
        oracle.update(&grads, rate(step));
        jit.step(x, y, BATCH).unwrap();
        interpreted.step(x, y, BATCH).unwrap();
        let what = format!("{optimizer_text} after step {}", step + 1);
        assert_matches(&format!("interpreted {what}"), &interpreted, &oracle, 1e-6);
        assert_matches(&format!("compiled {what}"), &jit, &oracle, 2e-4);
    }
    // Clipping that never engages would test nothing.
    let (by_value, by_norm) = oracle.engaged;
    assert!(
        clip.0.is_none() || by_value >= STEPS / 2,
        "{optimizer_text}: values clipped in {by_value} steps"
    );
    assert!(
        clip.1.is_none() || by_norm >= STEPS / 2,
        "{optimizer_text}: norm clipped in {by_norm} steps"
    );
}

#[test]
fn sgd_matches_the_hand_written_rule() {
    check("sgd(learning_rate: 0.3)");
}

#[test]
fn sgd_with_momentum_matches_the_hand_written_rule() {
    check("sgd(learning_rate: 0.2, momentum: 0.7)");
}

#[test]
fn adam_matches_the_hand_written_rule() {
    // Betas far from their defaults, so that every factor weighs in the first steps.
    check("adam(learning_rate: 0.05, beta1: 0.6, beta2: 0.8, epsilon: 1e-3)");
}

#[test]
fn adam_with_default_options_matches_the_hand_written_rule() {
    check("adam(learning_rate: 0.01)");
}

#[test]
fn rmsprop_matches_the_hand_written_rule() {
    check("rmsprop(learning_rate: 0.01)");
    check("rmsprop(learning_rate: 0.02, rho: 0.5, epsilon: 1e-3, momentum: 0.7)");
}

#[test]
fn sgd_with_nesterov_momentum_matches_the_hand_written_rule() {
    check("sgd(learning_rate: 0.2, momentum: 0.7, nesterov: true)");
}

#[test]
fn centered_rmsprop_matches_the_hand_written_rule() {
    check("rmsprop(learning_rate: 0.01, rho: 0.6, epsilon: 1e-3, centered: true)");
    check("rmsprop(learning_rate: 0.01, rho: 0.5, momentum: 0.7, centered: true)");
}

#[test]
fn adagrad_matches_the_hand_written_rule() {
    check("adagrad(learning_rate: 0.1)");
    check("adagrad(learning_rate: 0.05, initial_accumulator: 0.01, epsilon: 1e-3)");
}

#[test]
fn adamw_matches_the_hand_written_rule() {
    // A large decay, so that it outweighs rounding in six steps.
    check("adamw(learning_rate: 0.05, beta1: 0.6, beta2: 0.8, epsilon: 1e-3, weight_decay: 0.5)");
    check("adamw(learning_rate: 0.01)");
}

#[test]
fn step_decay_matches_its_rule() {
    // Halved every 2 steps: 0.3, 0.3, 0.15, 0.15, 0.075, 0.075.
    let rates = [0.3, 0.3, 0.15, 0.15, 0.075, 0.075];
    check_with(
        "sgd(learning_rate: 0.3, schedule: step_decay(every: 2, factor: 0.5))",
        |t| rates[t],
        (None, None),
    );
}

#[test]
fn exponential_decay_matches_its_rule() {
    check_with(
        "adam(learning_rate: 0.05, schedule: exponential(steps: 3, rate: 0.1))",
        |t| 0.05 * 0.1f64.powf(t as f64 / 3.0),
        (None, None),
    );
}

#[test]
fn cosine_decay_matches_its_rule() {
    // Down to 0.02 over 4 steps, then flat.
    let rates = [
        0.2,
        0.02 + 0.18 * 0.5 * (1.0 + (std::f64::consts::PI / 4.0).cos()),
        0.11,
        0.02 + 0.18 * 0.5 * (1.0 + (3.0 * std::f64::consts::PI / 4.0).cos()),
        0.02,
        0.02,
    ];
    check_with(
        "sgd(learning_rate: 0.2, momentum: 0.5, schedule: cosine(steps: 4, min: 0.02))",
        |t| rates[t],
        (None, None),
    );
}

#[test]
fn warmup_then_cosine_matches_its_rule() {
    // Up in thirds over 3 steps, then a cosine from 0.06 to 0 over 2 steps, then 0.
    let rates = [0.02, 0.04, 0.06, 0.06, 0.03, 0.0];
    check_with(
        "adamw(learning_rate: 0.06, weight_decay: 0.1, schedule: warmup(steps: 3, then: cosine(steps: 2)))",
        |t| rates[t],
        (None, None),
    );
    // Warm-up alone stays at the rate afterwards.
    let rates = [0.05, 0.1, 0.1, 0.1, 0.1, 0.1];
    check_with(
        "rmsprop(learning_rate: 0.1, schedule: warmup(steps: 2))",
        |t| rates[t],
        (None, None),
    );
}

#[test]
fn clipping_by_value_matches_its_rule() {
    // Small enough that most gradient elements of the first steps are clipped.
    check_with(
        "sgd(learning_rate: 0.3, clip_value: 0.02)",
        |_| 0.3,
        (Some(0.02), None),
    );
}

#[test]
fn clipping_by_global_norm_matches_its_rule() {
    check_with(
        "adam(learning_rate: 0.05, clip_norm: 0.05)",
        |_| 0.05,
        (None, Some(0.05)),
    );
    // Both: values first, then the norm of what is left.
    check_with(
        "sgd(learning_rate: 0.3, momentum: 0.5, clip_value: 0.05, clip_norm: 0.1)",
        |_| 0.3,
        (Some(0.05), Some(0.1)),
    );
}
