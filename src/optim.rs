//! Optimizer update rules (SGD with momentum or Nesterov momentum, Adam, AdamW, RMSprop, centered
//! RMSprop, Adagrad) and gradient clipping (`clip`), emitted as IR. `training_step` takes the
//! gradient (a function with the loss and one gradient per parameter, as typed handles) and
//! appends the update of every parameter and of the optimizer's state, so the whole training step
//! — forward, loss, backward, clipping, update — is one IR function that the interpreter and the
//! code generator run alike. The driver never updates weights by hand; with a learning-rate
//! schedule it only writes the step's rate into the scalar state buffer `learning_rate`.

mod clip;

use crate::autodiff::Gradient;
use crate::ir::{ArgRole, BinaryOp, Function, Op, Shape, UnaryOp, Update, ValueId};
use crate::lower::{Clipping, Optimizer};

/// The name of the scalar state buffer that holds the learning rate of the coming step when the
/// optimizer has a schedule. The step reads it and never writes it: the driver does, before each
/// step, with the schedule's rate for that step.
pub const LEARNING_RATE: &str = "learning_rate";

/// How the step gets its learning rate: a constant in the IR (no schedule: the IR of such a model
/// is what it was before schedules existed) or the scalar state argument `learning_rate`.
#[derive(Clone, Copy, Debug)]
enum Rate {
    Const(f64),
    Scheduled(ValueId),
}

impl Rate {
    /// `η·x` for a tensor `x`.
    fn times(self, g: &mut Function, x: ValueId) -> ValueId {
        match self {
            Rate::Const(eta) => affine(g, x, eta, 0.0),
            Rate::Scheduled(eta) => {
                let shape = g.shape(x).clone();
                let eta = g.push(Op::Broadcast(eta), Some(shape), None, None);
                binary(g, BinaryOp::Mul, eta, x, None)
            }
        }
    }

    /// η as a scalar value.
    fn scalar(self, g: &mut Function) -> ValueId {
        match self {
            Rate::Const(eta) => g.push(Op::Const(eta), None, None, None),
            Rate::Scheduled(eta) => eta,
        }
    }
}

/// What the step does besides the optimizer's own rule.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepOptions {
    /// Clip the gradients before the update.
    pub clipping: Clipping,
    /// Read the learning rate from the state buffer `LEARNING_RATE` (a schedule) instead of
    /// the optimizer's constant.
    pub scheduled: bool,
}

/// Persistent optimizer state: name, shape and initial value of each buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct StateSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: f32,
}

/// After the step, argument `arg` holds `value`.
fn write_back(g: &mut Function, arg: ValueId, value: ValueId) {
    g.updates.push(Update { arg, value });
}

fn affine(g: &mut Function, x: ValueId, mul: f64, add: f64) -> ValueId {
    g.push(Op::Unary(UnaryOp::Affine { mul, add }, x), None, None, None)
}

fn binary(g: &mut Function, op: BinaryOp, a: ValueId, b: ValueId, name: Option<&str>) -> ValueId {
    g.push(Op::Binary(op, a, b), None, name, None)
}

/// The momentum buffer's update `b ← μ·b + u`, written back; returns the new buffer.
fn accumulate(g: &mut Function, buffer: ValueId, mu: f64, u: ValueId, name: &str) -> ValueId {
    let decayed = affine(g, buffer, mu, 0.0);
    let new = binary(g, BinaryOp::Add, decayed, u, Some(name));
    write_back(g, buffer, new);
    new
}

/// The parameter's update `w ← w − η·direction`, written back.
fn descend(g: &mut Function, p: ValueId, direction: ValueId, learning_rate: Rate, pname: &str) {
    let step = learning_rate.times(g, direction);
    let w_new = binary(g, BinaryOp::Sub, p, step, Some(&format!("new_{pname}")));
    write_back(g, p, w_new);
}

/// `1 − βᵗ` for the step count `t`, as `−expm1(t · ln β)`: computing `βᵗ` first and subtracting
/// it from 1 in f32 cancels to 0 when β is close to 1 (β = 0.999999999 gives 1 − βᵗ = 1e-9 at the
/// first step, below f32's resolution near 1), which would divide the update by zero.
fn bias_correction(g: &mut Function, t: ValueId, beta: f64) -> ValueId {
    let t_ln_beta = affine(g, t, beta.ln(), 0.0);
    let m1 = g.push(Op::Unary(UnaryOp::Expm1, t_ln_beta), None, None, None);
    g.push(Op::Unary(UnaryOp::Neg, m1), None, None, None)
}

/// Adam's moments, bias corrections and update for every `(parameter, gradient)` pair, with
/// state named after `prefix` (`adam`, `adamw`); with `weight_decay` λ > 0 (AdamW) the parameter
/// is first decayed by `w·(1 − η·λ)`, decoupled from the gradient's moments.
struct AdamRule {
    learning_rate: Rate,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    weight_decay: f64,
    prefix: &'static str,
}

impl AdamRule {
    fn emit(
        &self,
        g: &mut Function,
        wrt: &[(ValueId, ValueId)],
        add_state: &mut impl FnMut(&mut Function, String, &Shape, f32) -> ValueId,
    ) {
        let AdamRule {
            learning_rate,
            beta1,
            beta2,
            epsilon,
            weight_decay,
            prefix,
        } = *self;
        // Bias corrections need the step count t, kept as state. It counts exactly in f32 up
        // to 2^24 steps; after that it stops growing, and so do the corrections.
        let t = add_state(g, format!("{prefix}_t"), &Shape::scalar(), 0.0);
        let t_new = g.push(
            Op::Unary(UnaryOp::Affine { mul: 1.0, add: 1.0 }, t),
            None,
            Some(&format!("{prefix}_t_next")),
            None,
        );
        write_back(g, t, t_new);
        let bc1 = bias_correction(g, t_new, beta1);
        let bc2 = bias_correction(g, t_new, beta2);
        // w ← w − η·m̂/(√v̂ + ε) with m̂ = m/bc1 and √v̂ = √v/√bc2.
        let lr = learning_rate.scalar(g);
        let step_size = binary(
            g,
            BinaryOp::Div,
            lr,
            bc1,
            Some(&format!("{prefix}_step_size")),
        );
        let sqrt_bc2 = g.push(Op::Unary(UnaryOp::Sqrt, bc2), None, None, None);
        let one = g.push(Op::Const(1.0), None, None, None);
        let inv_sqrt_bc2 = binary(
            g,
            BinaryOp::Div,
            one,
            sqrt_bc2,
            Some(&format!("{prefix}_inv_sqrt_bc2")),
        );
        for &(p, d) in wrt {
            let pname = g.name_of(p).to_string();
            let shape = g.shape(p).clone();
            let m = add_state(g, format!("{prefix}_m_{pname}"), &shape, 0.0);
            let v = add_state(g, format!("{prefix}_v_{pname}"), &shape, 0.0);
            let bm = affine(g, m, beta1, 0.0);
            let gd = affine(g, d, 1.0 - beta1, 0.0);
            let m_new = binary(
                g,
                BinaryOp::Add,
                bm,
                gd,
                Some(&format!("new_{prefix}_m_{pname}")),
            );
            let bv = affine(g, v, beta2, 0.0);
            let g2 = binary(g, BinaryOp::Mul, d, d, None);
            let g2 = affine(g, g2, 1.0 - beta2, 0.0);
            let v_new = binary(
                g,
                BinaryOp::Add,
                bv,
                g2,
                Some(&format!("new_{prefix}_v_{pname}")),
            );
            let sv = g.push(Op::Unary(UnaryOp::Sqrt, v_new), None, None, None);
            let scale = g.push(Op::Broadcast(inv_sqrt_bc2), Some(shape.clone()), None, None);
            let sv = binary(g, BinaryOp::Mul, sv, scale, None);
            let denom = affine(g, sv, 1.0, epsilon);
            let ratio = binary(g, BinaryOp::Div, m_new, denom, None);
            let size = g.push(Op::Broadcast(step_size), Some(shape), None, None);
            let step = binary(g, BinaryOp::Mul, size, ratio, None);
            // Decoupled weight decay (PyTorch's and Keras's AdamW): w ← w − η·λ·w, on every
            // parameter, biases included, as both do by default.
            let decayed = if weight_decay > 0.0 {
                match learning_rate {
                    Rate::Const(eta) => affine(g, p, 1.0 - eta * weight_decay, 0.0),
                    Rate::Scheduled(_) => {
                        let lw = affine(g, p, weight_decay, 0.0);
                        let decay = learning_rate.times(g, lw);
                        binary(g, BinaryOp::Sub, p, decay, None)
                    }
                }
            } else {
                p
            };
            let w_new = binary(
                g,
                BinaryOp::Sub,
                decayed,
                step,
                Some(&format!("new_{pname}")),
            );
            write_back(g, m, m_new);
            write_back(g, v, v_new);
            write_back(g, p, w_new);
        }
    }
}

/// The training step: `grad` plus the optimizer's update. Returns the step function (outputs:
/// `loss`; updates: every parameter and state buffer) and the state it needs, in the order of the
/// state arguments it appends.
pub fn training_step(
    grad: &Gradient,
    optimizer: &Optimizer,
    options: &StepOptions,
) -> (Function, Vec<StateSpec>) {
    let mut g = grad.function.clone();
    g.name = "step".into();
    assert!(
        grad.wrt
            .iter()
            .map(|w| w.0)
            .eq(g.args_with_role(ArgRole::Param)),
        "invariant: the gradient is taken with respect to every parameter, in order"
    );
    let loss = grad.of;
    let mut state = Vec::new();
    let mut add_state = |g: &mut Function, name: String, shape: &Shape, init: f32| {
        state.push(StateSpec {
            name: name.clone(),
            shape: shape.extents(1),
            init,
        });
        g.add_arg(&name, shape.clone(), ArgRole::State, None)
    };
    let learning_rate = if options.scheduled {
        let init = optimizer.learning_rate() as f32;
        Rate::Scheduled(add_state(
            &mut g,
            LEARNING_RATE.into(),
            &Shape::scalar(),
            init,
        ))
    } else {
        Rate::Const(optimizer.learning_rate())
    };
    let params: Vec<ValueId> = grad.wrt.iter().map(|w| w.0).collect();
    let grads: Vec<ValueId> = grad.wrt.iter().map(|w| w.1).collect();
    let clipped = clip::clip(&mut g, &grads, &options.clipping);
    let wrt: Vec<(ValueId, ValueId)> = params.into_iter().zip(clipped).collect();

    match *optimizer {
        Optimizer::Sgd {
            momentum, nesterov, ..
        } => {
            for &(p, d) in &wrt {
                let pname = g.name_of(p).to_string();
                let shape = g.shape(p).clone();
                // With momentum (PyTorch's form): v ← μ·v + g; w ← w − η·v. With Nesterov
                // (PyTorch's form too): w ← w − η·(g + μ·v) with the new v.
                let direction = if momentum > 0.0 {
                    let v = add_state(&mut g, format!("velocity_{pname}"), &shape, 0.0);
                    let v_new =
                        accumulate(&mut g, v, momentum, d, &format!("new_velocity_{pname}"));
                    if nesterov {
                        let ahead = affine(&mut g, v_new, momentum, 0.0);
                        binary(&mut g, BinaryOp::Add, d, ahead, None)
                    } else {
                        v_new
                    }
                } else {
                    d
                };
                descend(&mut g, p, direction, learning_rate, &pname);
            }
        }
        Optimizer::Adam {
            beta1,
            beta2,
            epsilon,
            ..
        } => AdamRule {
            learning_rate,
            beta1,
            beta2,
            epsilon,
            weight_decay: 0.0,
            prefix: "adam",
        }
        .emit(&mut g, &wrt, &mut add_state),
        Optimizer::Adamw {
            beta1,
            beta2,
            epsilon,
            weight_decay,
            ..
        } => AdamRule {
            learning_rate,
            beta1,
            beta2,
            epsilon,
            weight_decay,
            prefix: "adamw",
        }
        .emit(&mut g, &wrt, &mut add_state),
        Optimizer::Rmsprop {
            rho,
            epsilon,
            momentum,
            centered,
            ..
        } => {
            for &(p, d) in &wrt {
                let pname = g.name_of(p).to_string();
                let shape = g.shape(p).clone();
                // s ← ρ·s + (1 − ρ)·g²; u = g / (√s + ε); with momentum (PyTorch's form)
                // b ← μ·b + u and w ← w − η·b, else w ← w − η·u.
                let s = add_state(&mut g, format!("rmsprop_s_{pname}"), &shape, 0.0);
                let rs = affine(&mut g, s, rho, 0.0);
                let g2 = binary(&mut g, BinaryOp::Mul, d, d, None);
                let g2 = affine(&mut g, g2, 1.0 - rho, 0.0);
                let s_new = binary(
                    &mut g,
                    BinaryOp::Add,
                    rs,
                    g2,
                    Some(&format!("new_rmsprop_s_{pname}")),
                );
                write_back(&mut g, s, s_new);
                // Centered (Keras's and TF's `centered`): also a ← ρ·a + (1 − ρ)·g, and divide
                // by the root of the variance s − a² instead of s. In exact arithmetic s − a² ≥ 0
                // (a weighted variance); relu keeps f32 rounding from making it negative.
                let spread = if centered {
                    let a = add_state(&mut g, format!("rmsprop_a_{pname}"), &shape, 0.0);
                    let ra = affine(&mut g, a, rho, 0.0);
                    let ga = affine(&mut g, d, 1.0 - rho, 0.0);
                    let a_new = binary(
                        &mut g,
                        BinaryOp::Add,
                        ra,
                        ga,
                        Some(&format!("new_rmsprop_a_{pname}")),
                    );
                    write_back(&mut g, a, a_new);
                    let a2 = binary(&mut g, BinaryOp::Mul, a_new, a_new, None);
                    let var = binary(&mut g, BinaryOp::Sub, s_new, a2, None);
                    g.push(Op::Unary(UnaryOp::Relu, var), None, None, None)
                } else {
                    s_new
                };
                let root = g.push(Op::Unary(UnaryOp::Sqrt, spread), None, None, None);
                let denom = affine(&mut g, root, 1.0, epsilon);
                let u = binary(&mut g, BinaryOp::Div, d, denom, None);
                let direction = if momentum > 0.0 {
                    let b = add_state(&mut g, format!("rmsprop_b_{pname}"), &shape, 0.0);
                    accumulate(&mut g, b, momentum, u, &format!("new_rmsprop_b_{pname}"))
                } else {
                    u
                };
                descend(&mut g, p, direction, learning_rate, &pname);
            }
        }
        Optimizer::Adagrad {
            initial_accumulator,
            epsilon,
            ..
        } => {
            for &(p, d) in &wrt {
                let pname = g.name_of(p).to_string();
                let shape = g.shape(p).clone();
                // s ← s + g² (s starts at `initial_accumulator`); w ← w − η·g / (√s + ε).
                let s = add_state(
                    &mut g,
                    format!("adagrad_s_{pname}"),
                    &shape,
                    initial_accumulator as f32,
                );
                let g2 = binary(&mut g, BinaryOp::Mul, d, d, None);
                let s_new = binary(
                    &mut g,
                    BinaryOp::Add,
                    s,
                    g2,
                    Some(&format!("new_adagrad_s_{pname}")),
                );
                write_back(&mut g, s, s_new);
                let root = g.push(Op::Unary(UnaryOp::Sqrt, s_new), None, None, None);
                let denom = affine(&mut g, root, 1.0, epsilon);
                let u = binary(&mut g, BinaryOp::Div, d, denom, None);
                descend(&mut g, p, u, learning_rate, &pname);
            }
        }
    }
    g.outputs = vec![crate::ir::Output {
        name: "loss".into(),
        value: loss,
    }];
    crate::ir::eliminate_dead_code(&mut g);
    (g, state)
}
