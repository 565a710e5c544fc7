//! Constant folding: an element-wise op whose operands are all scalar constants becomes the
//! constant it computes, but only where that changes no result in either executor.
//!
//! The two executors compute in different precisions: the interpreter reads a `const` as its
//! `f64` and computes in `f64`; compiled code materializes it as `f32` (`c as f32`) and computes
//! in `f32`, with subnormal numbers flushed to zero. A folded constant `k` is read the same two
//! ways, so folding keeps both results exactly when `k` is the interpreter's result (`interp`'s
//! own functions compute it) and `k as f32` is, bit for bit, what compiled code computed from the
//! `f32` operands. The second half is checked by computing the op here in `f32`, which is only
//! possible for ops IEEE 754 defines exactly (one correctly rounded operation, a comparison, a
//! sign change or a choice); the transcendental ops (`exp`, `log`, `tanh`, ...) are computed by
//! code generation's own approximations and are never folded. Any subnormal operand or result, a
//! NaN, or a disagreement leaves the equation as it was.

use crate::interp;
use crate::ir::{BinaryOp, Op, UnaryOp, ValueId};

/// The constant `op` computes when every operand is a constant (`constant` gives a value's, if it
/// has one) and folding it is exact in both executors; `None` otherwise.
pub(super) fn fold(op: &Op, constant: impl Fn(ValueId) -> Option<f64>) -> Option<f64> {
    let operands: Vec<f64> = op
        .operands()
        .into_iter()
        .map(&constant)
        .collect::<Option<_>>()?;
    let narrow: Vec<f32> = operands
        .iter()
        .map(|&c| ieee(c as f32))
        .collect::<Option<_>>()?;
    let (wide, single) = match (op, operands.as_slice(), narrow.as_slice()) {
        (Op::Unary(u, _), &[x], &[x32]) => (interp::unary(u, x), unary32(u, x32)?),
        (Op::Binary(b, ..), &[x, y], &[x32, y32]) => {
            (interp::binary(*b, x, y), binary32(*b, x32, y32)?)
        }
        (Op::Select { .. }, &[c, yes, no], &[c32, yes32, no32]) => (
            if c == 0.0 { no } else { yes },
            if c32 != 0.0 { yes32 } else { no32 },
        ),
        _ => return None,
    };
    let single = ieee(single)?;
    (single.to_bits() == (wide as f32).to_bits()).then_some(wide)
}

/// `x` unless compiled code might not keep it: a subnormal (which it may flush to zero) or a NaN
/// (whose payload this check does not follow).
fn ieee(x: f32) -> Option<f32> {
    (!x.is_nan() && !x.is_subnormal()).then_some(x)
}

/// What compiled code computes for `u` on one `f32` (`codegen::elementwise`), for the ops whose
/// result IEEE 754 fixes; every intermediate must be kept by compiled code too.
fn unary32(u: &UnaryOp, x: f32) -> Option<f32> {
    let constant = |c: f64| ieee(c as f32);
    Some(match *u {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Relu => positive(x, x, 0.0),
        UnaryOp::Heaviside => positive(x, 1.0, 0.0),
        UnaryOp::LeakyRelu { alpha } => positive(x, x, ieee(constant(alpha)? * x)?),
        UnaryOp::LeakySlope { alpha } => positive(x, 1.0, constant(alpha)?),
        UnaryOp::Affine { mul, add } => {
            // The product and the sum each rounded, as compiled code computes them.
            let (m, a) = (constant(mul)?, constant(add)?);
            ieee(m * x)? + a
        }
        // ±0 and NaN are themselves, as compiled code leaves them.
        UnaryOp::Sign => {
            if x == 0.0 || x.is_nan() {
                x
            } else {
                1f32.copysign(x)
            }
        }
        UnaryOp::Exp
        | UnaryOp::Expm1
        | UnaryOp::Log
        | UnaryOp::Sigmoid
        | UnaryOp::Tanh
        | UnaryOp::Softplus
        | UnaryOp::NormalCdf => return None,
    })
}

/// `x > 0 ? yes : no`, as compiled code chooses.
fn positive(x: f32, yes: f32, no: f32) -> f32 {
    if x > 0.0 {
        yes
    } else {
        no
    }
}

fn binary32(b: BinaryOp, x: f32, y: f32) -> Option<f32> {
    let indicator = |c: bool| if c { 1.0 } else { 0.0 };
    Some(match b {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Max => {
            if x > y {
                x
            } else {
                y
            }
        }
        BinaryOp::Min => {
            if x < y {
                x
            } else {
                y
            }
        }
        BinaryOp::Greater => indicator(x > y),
        BinaryOp::GreaterEq => indicator(x >= y),
        BinaryOp::Equal => indicator(x == y),
    })
}
