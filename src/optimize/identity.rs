//! Algebraic identities that hold bit for bit in both executors, so that an equation can be
//! replaced by a value the function already has.
//!
//! Few identities are exact. `x + 0` is `+0` at `x = −0`; `1·x` is `x` in IEEE arithmetic but
//! not in compiled code, which flushes a subnormal `x` to zero (and an output or update holding
//! `x` would keep it); `x − x` is NaN at infinity. What remains:
//!
//! - `neg (neg x)` is `x`: a negation flips the sign bit and nothing else, in `f32` and `f64`.
//! - `affine[mul=1, add=0] x` is `x` when `x` is the batch size, a whole number of at least 1:
//!   the mean of a one-column loss divides by `affine[mul=1, add=0] batch_size`.

use crate::ir::{Op, UnaryOp, ValueId};

/// The value `op` is equal to, if an identity says so. `defining` gives the op that defines a
/// value (`None` for an argument).
pub(super) fn identity<'a>(
    op: &Op,
    defining: impl Fn(ValueId) -> Option<&'a Op>,
) -> Option<ValueId> {
    match op {
        Op::Unary(UnaryOp::Neg, x) => match defining(*x)? {
            Op::Unary(UnaryOp::Neg, y) => Some(*y),
            _ => None,
        },
        Op::Unary(UnaryOp::Affine { mul, add }, x)
            if mul.to_bits() == 1f64.to_bits() && add.to_bits() == 0f64.to_bits() =>
        {
            matches!(defining(*x)?, Op::BatchSize).then_some(*x)
        }
        _ => None,
    }
}
