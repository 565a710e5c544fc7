//! What makes two equations compute the same tensor: the same op with the same constants, the same
//! operands and the same shape. Every op of the IR is a pure function of these (the random ops of
//! their site, key and step counter too), so two equations with one `Key` hold equal values, bit
//! for bit, in every executor.
//!
//! Constants are compared by their bits, not as numbers: `0.0 == -0.0` and `NaN != NaN` as `f64`,
//! but `const -0.0` is not `const 0.0` (its sign reaches a division), so `Op`'s `PartialEq` would
//! merge what differs. The shape is part of the key because `broadcast`, `sum_to` and the random
//! ops read it: `broadcast s` to `[64]` and to `[64,64]` are different tensors.

use crate::ir::{Op, Shape, ValueId};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    op: &'static str,
    constants: Vec<u64>,
    operands: Vec<ValueId>,
    shape: Shape,
}

impl Key {
    /// The key of `op` giving `shape`, with each operand read as `number` says (its value number:
    /// the first value found equal to it).
    pub fn of(op: &Op, shape: &Shape, number: impl Fn(ValueId) -> ValueId) -> Key {
        Key {
            op: op.name(),
            constants: constants(op),
            operands: op.operands().into_iter().map(number).collect(),
            shape: shape.clone(),
        }
    }
}

/// Everything an op holds besides its operands, as bits.
fn constants(op: &Op) -> Vec<u64> {
    let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect();
    match op {
        Op::Const(c) => vec![c.to_bits()],
        Op::Vector(v) => bits(v),
        Op::Unary(u, _) => bits(&u.params()),
        Op::MatMul {
            transpose_a,
            transpose_b,
            ..
        } => vec![u64::from(*transpose_a), u64::from(*transpose_b)],
        Op::Slice { start, len, .. } => vec![*start as u64, *len as u64],
        // The site is what keeps two layers' dropout masks apart: the same rate, key and step
        // drawn at two sites are two different masks.
        Op::DropoutMask { rate, at, .. } => {
            vec![rate.to_bits(), u64::from(at.key), u64::from(at.site)]
        }
        Op::NormalNoise { std, at, .. } => {
            vec![std.to_bits(), u64::from(at.key), u64::from(at.site)]
        }
        Op::BatchSize
        | Op::Binary(..)
        | Op::Broadcast(_)
        | Op::SumTo(_)
        | Op::LogSoftmax(_)
        | Op::Concat { .. }
        | Op::Select { .. } => vec![],
    }
}
