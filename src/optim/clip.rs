//! Gradient clipping as IR, between the gradient and the optimizer's update, so that
//! `nnc ir --step` shows it and both executors run it alike. Only existing ops are needed:
//! clamping is written with `relu`, and the global norm's `min(1, c / n)` as
//! `c / (c + relu(n − c))`.

use crate::ir::{BinaryOp, Function, Op, Shape, UnaryOp, ValueId};
use crate::lower::Clipping;

fn unary(g: &mut Function, op: UnaryOp, x: ValueId) -> ValueId {
    g.push(Op::Unary(op, x), None, None, None)
}

fn affine(g: &mut Function, x: ValueId, mul: f64, add: f64) -> ValueId {
    unary(g, UnaryOp::Affine { mul, add }, x)
}

fn binary(g: &mut Function, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
    g.push(Op::Binary(op, a, b), None, None, None)
}

/// Each element of `d` limited to [−v, v]: `d − relu(d − v) + relu(−d − v)`. Exactly one of the
/// two corrections is non-zero outside the interval, and neither inside, so values within it pass
/// unchanged (bit for bit).
fn clamp(g: &mut Function, d: ValueId, v: f64) -> ValueId {
    let above = affine(g, d, 1.0, -v);
    let above = unary(g, UnaryOp::Relu, above);
    let below = affine(g, d, -1.0, -v);
    let below = unary(g, UnaryOp::Relu, below);
    let lowered = binary(g, BinaryOp::Sub, d, above);
    binary(g, BinaryOp::Add, lowered, below)
}

/// The gradients scaled by `c / max(n, c)`, where n = √(Σ g²) over every element of every
/// gradient (TensorFlow's `clip_by_global_norm`): unchanged when n ≤ c, else with norm c and the
/// same direction. `max(n, c)` is `c + relu(n − c)`, never below c > 0, so nothing divides by 0.
fn by_global_norm(g: &mut Function, grads: &[ValueId], c: f64) -> Vec<ValueId> {
    let mut total: Option<ValueId> = None;
    for &d in grads {
        let squares = binary(g, BinaryOp::Mul, d, d);
        let sum = g.push(Op::SumTo(squares), Some(Shape::scalar()), None, None);
        total = Some(match total {
            None => sum,
            Some(t) => binary(g, BinaryOp::Add, t, sum),
        });
    }
    let Some(total) = total else {
        return Vec::new();
    };
    let norm = g.push(
        Op::Unary(UnaryOp::Sqrt, total),
        None,
        Some("grad_norm"),
        None,
    );
    let excess = affine(g, norm, 1.0, -c);
    let excess = unary(g, UnaryOp::Relu, excess);
    let denom = affine(g, excess, 1.0, c);
    let bound = g.push(Op::Const(c), None, None, None);
    let scale = g.push(
        Op::Binary(BinaryOp::Div, bound, denom),
        None,
        Some("clip_scale"),
        None,
    );
    grads
        .iter()
        .map(|&d| {
            let shape = g.shape(d).clone();
            let s = g.push(Op::Broadcast(scale), Some(shape), None, None);
            binary(g, BinaryOp::Mul, d, s)
        })
        .collect()
}

/// The gradients `grads` (one per parameter) after `clipping`: by value first, then by global
/// norm, so that the norm bound holds for what the update receives. Unchanged without clipping.
pub(super) fn clip(g: &mut Function, grads: &[ValueId], clipping: &Clipping) -> Vec<ValueId> {
    let mut out = grads.to_vec();
    if let Some(v) = clipping.value {
        out = out.into_iter().map(|d| clamp(g, d, v)).collect();
    }
    if let Some(c) = clipping.norm {
        out = by_global_norm(g, &out, c);
    }
    out
}
