//! Fusion: which equations run together as one generated loop. Runs of consecutive element-wise
//! equations of one shape (the activation and its derivative, the bias add, a whole optimizer
//! update) become one loop that keeps intermediates in registers and stores only the values that
//! something after the run needs; everything else is a step of its own. A sum of all of a
//! value's elements (a loss, a training statistic's sum of squares) joins the run over that
//! value's shape as a *reduction*: the loop adds up its operand as it computes it, in fixed
//! blocks (see `emit`), instead of storing it for a helper to read back. Only consecutive runs
//! are fused, so no equation moves and every operand from outside a run is computed before it.

use crate::ir::{Equation, Function, Op, Shape, UnaryOp};

/// Unit of code generation and of the arena plan's lifetimes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// A kernel that is not element-wise (helper call): equation index.
    Single(usize),
    /// Element-wise equations of one loop shape (`loop_shape`), in definition order, and the
    /// reductions of values of that shape among them.
    Fused(Vec<usize>),
    /// With a team of threads: the total of a reduction fused into an earlier loop, added up
    /// from the partial sums each block of that loop left (equation index of the `SumTo`). It
    /// defines nothing: the value was placed with the loop.
    Combine(usize),
}

impl Step {
    /// The equations whose values the step defines.
    pub fn equations(&self) -> &[usize] {
        match self {
            Step::Single(i) => std::slice::from_ref(i),
            Step::Fused(v) => v,
            Step::Combine(_) => &[],
        }
    }
}

/// Is `eq` a sum of every element of its operand into one number, which a loop over the operand
/// can compute as it goes? Not when the sum is a parameter's new value: updates are written
/// back by element-wise copies.
pub(super) fn reduction(f: &Function, eq: &Equation) -> bool {
    let Op::SumTo(x) = eq.op else {
        return false;
    };
    let out = f.shape(eq.out);
    !out.has_batch()
        && out.fixed_numel() == Some(1)
        && f.shape(x).fixed_numel().is_some()
        && !f.updates.iter().any(|u| u.value == eq.out)
}

/// The shape a fused equation's loop runs over: its output's, or a reduction's operand's.
pub(super) fn equation_shape<'f>(f: &'f Function, eq: &Equation) -> &'f Shape {
    match eq.op {
        Op::SumTo(x) if reduction(f, eq) => f.shape(x),
        _ => f.shape(eq.out),
    }
}

/// The shape a fused run loops over.
pub(super) fn loop_shape<'f>(f: &'f Function, eqs: &[usize]) -> &'f Shape {
    equation_shape(f, &f.body[eqs[0]])
}

/// Long runs are split so that a loop body stays small enough for the register allocator (and
/// compile time) to stay cheap.
const MAX_RUN: usize = 32;

/// Unary ops computed inline in generated code; the others call a helper per array.
pub(super) fn inline_unary(u: &UnaryOp) -> bool {
    match u {
        UnaryOp::Neg
        | UnaryOp::Sqrt
        | UnaryOp::Relu
        | UnaryOp::Heaviside
        | UnaryOp::LeakyRelu { .. }
        | UnaryOp::LeakySlope { .. }
        | UnaryOp::Affine { .. }
        | UnaryOp::Abs
        | UnaryOp::Sign => true,
        UnaryOp::Exp
        | UnaryOp::Expm1
        | UnaryOp::Log
        | UnaryOp::Sigmoid
        | UnaryOp::Tanh
        | UnaryOp::Softplus
        | UnaryOp::NormalCdf => false,
    }
}

/// How a broadcast's source is read inside a fused loop over its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Spread {
    /// A single number, splatted once before the loop starts.
    Splat,
    /// One row of this many floats (a multiple of the vector width), read again for every row
    /// of the output: a layer's bias added to each example of the batch.
    Row(usize),
}

/// Whether the broadcast of `x` to `out` can be read inside a loop over `out`, and how.
pub(super) fn spread(
    f: &Function,
    x: crate::ir::ValueId,
    out: crate::ir::ValueId,
) -> Option<Spread> {
    let (s, o) = (f.shape(x), f.shape(out));
    if s.has_batch() {
        return None;
    }
    let n = s.fixed_numel()?;
    let width = match o.0.last() {
        Some(crate::ir::Dim::Fixed(w)) => *w,
        _ => return (n == 1).then_some(Spread::Splat),
    };
    match n {
        1 => Some(Spread::Splat),
        // Every axis of the source but the last has extent 1 (its size is the last axis's), so
        // output element i reads source element i mod width. A vector of four never straddles
        // two rows when the width is a multiple of four.
        _ if n == width && s.0.last() == o.0.last() && width.is_multiple_of(4) => {
            Some(Spread::Row(width))
        }
        _ => None,
    }
}

/// Can `eq` be computed element by element inside a loop over its output? A broadcast qualifies
/// when the loop can read its source directly (`spread`).
pub(super) fn fusible(f: &Function, eq: &Equation) -> bool {
    match &eq.op {
        Op::Const(_) | Op::BatchSize | Op::Binary(..) | Op::Select { .. } => true,
        Op::Unary(u, _) => inline_unary(u),
        Op::Broadcast(x) => spread(f, *x, eq.out).is_some(),
        Op::MatMul { .. }
        | Op::SumTo(_)
        | Op::LogSoftmax(_)
        | Op::Concat { .. }
        | Op::Slice { .. } => false,
        Op::DropoutMask { .. } | Op::NormalNoise { .. } => false,
        // A vector is stored once, element by element, not computed per element of a loop.
        Op::Vector(_) => false,
    }
}

pub(super) fn steps(f: &Function) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut run: Vec<usize> = Vec::new();
    for (i, eq) in f.body.iter().enumerate() {
        let reduces = reduction(f, eq);
        let fuse = reduces || fusible(f, eq);
        // A reduction's total exists only once its loop has ended: an equation that reads it
        // starts a new run.
        let reads_a_total = || {
            eq.op.operands().iter().any(|x| {
                run.iter()
                    .any(|&j| f.body[j].out == *x && reduction(f, &f.body[j]))
            })
        };
        let joins = fuse
            && !run.is_empty()
            && loop_shape(f, &run) == equation_shape(f, eq)
            && run.len() < MAX_RUN
            && !reads_a_total();
        if !joins && !run.is_empty() {
            steps.push(Step::Fused(std::mem::take(&mut run)));
        }
        if fuse {
            run.push(i);
        } else {
            steps.push(Step::Single(i));
        }
    }
    if !run.is_empty() {
        steps.push(Step::Fused(run));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{ArgRole, BinaryOp, Shape};

    #[test]
    fn runs_of_one_shape_fuse_and_helpers_split_them() {
        let mut f = Function::new("t");
        let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Data, None);
        let c = f.push(Op::Const(2.0), None, None, None);
        let cb = f.push(Op::Broadcast(c), Some(Shape::batched(&[4])), None, None);
        let y = f.push(Op::Binary(BinaryOp::Mul, x, cb), None, None, None);
        let e = f.push(Op::Unary(UnaryOp::Exp, y), None, None, None);
        let r = f.push(Op::Unary(UnaryOp::Relu, e), None, None, None);
        f.push(Op::Unary(UnaryOp::Neg, r), None, None, None);
        let s = steps(&f);
        let want = vec![
            Step::Fused(vec![0]),
            Step::Fused(vec![1, 2]),
            Step::Single(3),
            Step::Fused(vec![4, 5]),
        ];
        assert_eq!(s, want);
    }

    #[test]
    fn a_sum_joins_the_loop_over_its_operand_and_its_total_starts_a_new_one() {
        let mut f = Function::new("t");
        let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Data, None);
        let sq = f.push(Op::Binary(BinaryOp::Mul, x, x), None, None, None);
        let total = f.push(Op::SumTo(sq), Some(Shape::scalar()), None, None);
        let y = f.push(Op::Unary(UnaryOp::Neg, x), None, None, None);
        let per_row = f.push(Op::SumTo(y), Some(Shape::batched(&[1])), None, None);
        let tb = f.push(Op::Broadcast(total), Some(Shape::batched(&[4])), None, None);
        f.push(Op::Binary(BinaryOp::Mul, tb, x), None, None, None);
        f.push(Op::Unary(UnaryOp::Neg, total), None, None, None);
        let _ = per_row;
        let s = steps(&f);
        let want = vec![
            // The square, its sum and the next element-wise equation: one loop over x's shape.
            Step::Fused(vec![0, 1, 2]),
            // A sum per row is a helper's.
            Step::Single(3),
            // Reading the total needs the loop that made it to have ended.
            Step::Fused(vec![4, 5]),
            // A loop over the total's own (scalar) shape.
            Step::Fused(vec![6]),
        ];
        assert_eq!(s, want);
        assert_eq!(loop_shape(&f, &[1]), &Shape::batched(&[4]));
    }
}
