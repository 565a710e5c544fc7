//! Every optimizer against an independent oracle: its update rule written out here by hand, in f64,
//! applied to the gradient that autodiff computes (itself checked against finite differences in
//! `gradcheck.rs`). Over several steps on real batches, the compiled step (f32) and the interpreted
//! step (f64) must leave the same parameters and optimizer state as the hand-written rule. A wrong
//! factor anywhere in an update (Adam's 1 − β1, a bias correction, the momentum) fails here.

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
    let data = prepare_data(&spec, &root.join("optimizer.nn"), &Default::default())
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
}

impl Oracle {
    fn update(&mut self, grads: &BTreeMap<String, Vec<f64>>) {
        self.step += 1;
        let t = f64::from(self.step);
        for p in &self.params {
            let g = &grads[p];
            let n = g.len();
            match self.optimizer {
                Optimizer::Sgd {
                    learning_rate,
                    momentum,
                } => {
                    let direction: Vec<f64> = if momentum > 0.0 {
                        let v = self.buffers.get_mut(&format!("velocity_{p}")).unwrap();
                        for i in 0..n {
                            v[i] = momentum * v[i] + g[i];
                        }
                        v.clone()
                    } else {
                        g.clone()
                    };
                    let w = self.buffers.get_mut(p).unwrap();
                    for i in 0..n {
                        w[i] -= learning_rate * direction[i];
                    }
                }
                Optimizer::Adam {
                    learning_rate,
                    beta1,
                    beta2,
                    epsilon,
                } => {
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
                    learning_rate,
                    rho,
                    epsilon,
                    momentum,
                } => {
                    let s = self.buffers.get_mut(&format!("rmsprop_s_{p}")).unwrap();
                    for i in 0..n {
                        s[i] = rho * s[i] + (1.0 - rho) * g[i] * g[i];
                    }
                    let u: Vec<f64> = (0..n).map(|i| g[i] / (s[i].sqrt() + epsilon)).collect();
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
            }
        }
        if self.buffers.contains_key("adam_t") {
            self.buffers.insert("adam_t".into(), vec![t]);
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
    };
    assert!(
        initial
            .iter()
            .all(|(n, v)| n.starts_with('w') || v.iter().all(|&x| x == 0.0)),
        "biases and optimizer state start at zero"
    );
    let train = &prepared.train;
    for step in 0..STEPS {
        let rows = step * BATCH..(step + 1) * BATCH;
        let x = &train.x.data[rows.start * train.x.cols..rows.end * train.x.cols];
        let y = &train.y.data[rows.start * train.y.cols..rows.end * train.y.cols];
        let grads = gradients(&program, &oracle, x, y);
        oracle.update(&grads);
        jit.step(x, y, BATCH).unwrap();
        interpreted.step(x, y, BATCH).unwrap();
        let what = format!("{optimizer_text} after step {}", step + 1);
        assert_matches(&format!("interpreted {what}"), &interpreted, &oracle, 1e-6);
        assert_matches(&format!("compiled {what}"), &jit, &oracle, 2e-4);
    }
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
