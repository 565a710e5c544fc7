//! Optimizer update rules (SGD with momentum, Adam, RMSprop), emitted as IR. `training_step` takes the gradient (a function with the
//! loss and one gradient per parameter, as typed handles) and appends the update of every
//! parameter and of the optimizer's state, so the whole training step — forward, loss, backward,
//! update — is one IR function that the interpreter and the code generator run alike. The driver
//! never updates weights by hand.

use crate::autodiff::Gradient;
use crate::ir::{ArgRole, BinaryOp, Function, Op, Shape, UnaryOp, Update, ValueId};
use crate::lower::Optimizer;

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
fn descend(g: &mut Function, p: ValueId, direction: ValueId, learning_rate: f64, pname: &str) {
    let step = affine(g, direction, learning_rate, 0.0);
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

/// The training step: `grad` plus the optimizer's update. Returns the step function (outputs:
/// `loss`; updates: every parameter and state buffer) and the state it needs, in the order of the
/// state arguments it appends.
pub fn training_step(grad: &Gradient, optimizer: &Optimizer) -> (Function, Vec<StateSpec>) {
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

    match *optimizer {
        Optimizer::Sgd {
            learning_rate,
            momentum,
        } => {
            for &(p, d) in &grad.wrt {
                let pname = g.name_of(p).to_string();
                let shape = g.shape(p).clone();
                // With momentum (PyTorch's form): v ← μ·v + g; w ← w − η·v.
                let direction = if momentum > 0.0 {
                    let v = add_state(&mut g, format!("velocity_{pname}"), &shape, 0.0);
                    accumulate(&mut g, v, momentum, d, &format!("new_velocity_{pname}"))
                } else {
                    d
                };
                descend(&mut g, p, direction, learning_rate, &pname);
            }
        }
        Optimizer::Adam {
            learning_rate,
            beta1,
            beta2,
            epsilon,
        } => {
            // Bias corrections need the step count t, kept as state. It counts exactly in f32 up
            // to 2^24 steps; after that it stops growing, and so do the corrections.
            let t = add_state(&mut g, "adam_t".into(), &Shape::scalar(), 0.0);
            let t_new = g.push(
                Op::Unary(UnaryOp::Affine { mul: 1.0, add: 1.0 }, t),
                None,
                Some("adam_t_next"),
                None,
            );
            write_back(&mut g, t, t_new);
            let bc1 = bias_correction(&mut g, t_new, beta1);
            let bc2 = bias_correction(&mut g, t_new, beta2);
            // w ← w − η·m̂/(√v̂ + ε) with m̂ = m/bc1 and √v̂ = √v/√bc2.
            let lr = g.push(Op::Const(learning_rate), None, None, None);
            let step_size = binary(&mut g, BinaryOp::Div, lr, bc1, Some("adam_step_size"));
            let sqrt_bc2 = g.push(Op::Unary(UnaryOp::Sqrt, bc2), None, None, None);
            let one = g.push(Op::Const(1.0), None, None, None);
            let inv_sqrt_bc2 = binary(
                &mut g,
                BinaryOp::Div,
                one,
                sqrt_bc2,
                Some("adam_inv_sqrt_bc2"),
            );
            for &(p, d) in &grad.wrt {
                let pname = g.name_of(p).to_string();
                let shape = g.shape(p).clone();
                let m = add_state(&mut g, format!("adam_m_{pname}"), &shape, 0.0);
                let v = add_state(&mut g, format!("adam_v_{pname}"), &shape, 0.0);
                let bm = affine(&mut g, m, beta1, 0.0);
                let gd = affine(&mut g, d, 1.0 - beta1, 0.0);
                let m_new = binary(
                    &mut g,
                    BinaryOp::Add,
                    bm,
                    gd,
                    Some(&format!("new_adam_m_{pname}")),
                );
                let bv = affine(&mut g, v, beta2, 0.0);
                let g2 = binary(&mut g, BinaryOp::Mul, d, d, None);
                let g2 = affine(&mut g, g2, 1.0 - beta2, 0.0);
                let v_new = binary(
                    &mut g,
                    BinaryOp::Add,
                    bv,
                    g2,
                    Some(&format!("new_adam_v_{pname}")),
                );
                let sv = g.push(Op::Unary(UnaryOp::Sqrt, v_new), None, None, None);
                let scale = g.push(Op::Broadcast(inv_sqrt_bc2), Some(shape.clone()), None, None);
                let sv = binary(&mut g, BinaryOp::Mul, sv, scale, None);
                let denom = affine(&mut g, sv, 1.0, epsilon);
                let ratio = binary(&mut g, BinaryOp::Div, m_new, denom, None);
                let size = g.push(Op::Broadcast(step_size), Some(shape), None, None);
                let step = binary(&mut g, BinaryOp::Mul, size, ratio, None);
                let w_new = binary(
                    &mut g,
                    BinaryOp::Sub,
                    p,
                    step,
                    Some(&format!("new_{pname}")),
                );
                write_back(&mut g, m, m_new);
                write_back(&mut g, v, v_new);
                write_back(&mut g, p, w_new);
            }
        }
        Optimizer::Rmsprop {
            learning_rate,
            rho,
            epsilon,
            momentum,
        } => {
            for &(p, d) in &grad.wrt {
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
                let root = g.push(Op::Unary(UnaryOp::Sqrt, s_new), None, None, None);
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
    }
    g.outputs = vec![crate::ir::Output {
        name: "loss".into(),
        value: loss,
    }];
    crate::ir::eliminate_dead_code(&mut g);
    (g, state)
}
