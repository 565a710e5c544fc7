//! Gradient clipping as IR, between the gradient and the optimizer's update, so that
//! `nnc ir --step` shows it and both executors run it alike. Only existing ops are needed: both
//! modes scale by `c / (c + relu(n − c))`, which is `min(1, c / n)` without a `min` op, never
//! divides by zero, and leaves values within the bound exactly as they were; n is each element's
//! magnitude for clipping by value and the global norm for clipping by norm.

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

/// Each element of `d` limited to [−v, v], as `d · v / (v + relu(|d| − v))` with
/// `|d| = relu(d) + relu(−d)`: inside the interval the scale is v / v = 1 exactly, so values pass
/// unchanged (bit for bit), and outside it the result is ±v to a few ulps. The shorter
/// `d − relu(d − v) + relu(−d − v)` cancels: for |d| ≫ v the difference d − (d − v) keeps only
/// |d|'s absolute precision, which is a large error relative to a small v.
fn clamp(g: &mut Function, d: ValueId, v: f64) -> ValueId {
    let pos = unary(g, UnaryOp::Relu, d);
    let neg_d = affine(g, d, -1.0, 0.0);
    let neg = unary(g, UnaryOp::Relu, neg_d);
    let abs = binary(g, BinaryOp::Add, pos, neg);
    let excess = affine(g, abs, 1.0, -v);
    let excess = unary(g, UnaryOp::Relu, excess);
    let denom = affine(g, excess, 1.0, v);
    let shape = g.shape(d).clone();
    let bound = g.push(Op::Const(v), None, None, None);
    let bound = g.push(Op::Broadcast(bound), Some(shape), None, None);
    let scale = binary(g, BinaryOp::Div, bound, denom);
    binary(g, BinaryOp::Mul, d, scale)
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
