//! The activations built from several IR ops: elu, selu, gelu, swish, softsign and hard_sigmoid.
//! Each composition is chosen so that f32 evaluation stays within a few ulp of the exact function
//! over the whole finite range and never makes a NaN or an infinity from a finite input: no
//! subtraction of nearly equal large numbers, no exponential of a positive argument. The
//! derivative comes from the ops' own VJPs, so none is written here.

use crate::ir::{BinaryOp, Function, Op, Origin, UnaryOp, ValueId};
use crate::shape::ShapeError;

use super::spec::{Activation, SELU_ALPHA, SELU_LAMBDA};

/// The activation `act` of `z`, named `name`; `None` when `act` is a single op that
/// `graph::emit_activation` builds itself.
pub(super) fn emit(
    f: &mut Function,
    act: Activation,
    z: ValueId,
    name: &str,
    origin: Option<Origin>,
) -> Option<Result<ValueId, ShapeError>> {
    let mut b = Builder { f, origin };
    let r = match act {
        Activation::Elu { alpha } => b.elu(z, 1.0, alpha, name),
        Activation::Selu => b.elu(z, SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA, name),
        // x·Φ(x) and x·sigmoid(x): the factor tends to 0 without overflow on the left.
        Activation::Gelu => b.times(z, UnaryOp::NormalCdf, name),
        Activation::Swish => b.times(z, UnaryOp::Sigmoid, name),
        Activation::Softsign => b.softsign(z, name),
        Activation::HardSigmoid => b.hard_sigmoid(z, name),
        Activation::Linear
        | Activation::Sigmoid
        | Activation::Relu
        | Activation::LeakyRelu { .. }
        | Activation::Tanh
        | Activation::Softmax
        | Activation::Softplus => return None,
    };
    Some(r)
}

fn affine(mul: f64, add: f64) -> UnaryOp {
    UnaryOp::Affine { mul, add }
}

struct Builder<'a> {
    f: &'a mut Function,
    origin: Option<Origin>,
}

impl Builder<'_> {
    fn push(&mut self, op: Op, name: Option<&str>) -> Result<ValueId, ShapeError> {
        self.f.try_push(op, None, name, self.origin.clone())
    }

    fn unary(&mut self, u: UnaryOp, x: ValueId) -> Result<ValueId, ShapeError> {
        self.push(Op::Unary(u, x), None)
    }

    /// x·g(x).
    fn times(&mut self, z: ValueId, g: UnaryOp, name: &str) -> Result<ValueId, ShapeError> {
        let p = self.unary(g, z)?;
        self.push(Op::Binary(BinaryOp::Mul, z, p), Some(name))
    }

    /// x / (1 + |x|): the divisor is at least 1, so nothing divides by zero, and the quotient
    /// tends to ±1 for huge x.
    fn softsign(&mut self, z: ValueId, name: &str) -> Result<ValueId, ShapeError> {
        let a = self.unary(UnaryOp::Abs, z)?;
        let d = self.unary(affine(1.0, 1.0), a)?;
        self.push(Op::Binary(BinaryOp::Div, z, d), Some(name))
    }

    /// scale·relu(x) + scale_neg·expm1(−relu(−x)): the positive side exactly, the negative side
    /// through expm1 (accurate near 0, −1 for very negative x), and exp never sees x > 0, so
    /// nothing overflows. elu is (1, α); selu is (λ, λα).
    fn elu(
        &mut self,
        z: ValueId,
        scale: f64,
        scale_neg: f64,
        name: &str,
    ) -> Result<ValueId, ShapeError> {
        let pos = self.unary(UnaryOp::Relu, z)?;
        let pos = if scale == 1.0 {
            pos
        } else {
            self.unary(affine(scale, 0.0), pos)?
        };
        let nz = self.unary(UnaryOp::Neg, z)?;
        let m = self.unary(UnaryOp::Relu, nz)?;
        let neg = self.unary(UnaryOp::Neg, m)?;
        let e = self.unary(UnaryOp::Expm1, neg)?;
        let e = self.unary(affine(scale_neg, 0.0), e)?;
        self.push(Op::Binary(BinaryOp::Add, pos, e), Some(name))
    }

    /// t = (x + 3)/6; min(relu(t), 1) as relu(t)·(1 − H(t − 1)) + H(t − 1), with H the step
    /// function. Multiplying by exactly 0 or 1 and adding exactly 0 or 1 rounds nothing, where
    /// the usual t − relu(t − 1) would cancel to 0 for large t and 1 − relu(1 − t) would lose
    /// small t. x + 3 is computed before dividing so that t is accurate near x = −3.
    fn hard_sigmoid(&mut self, z: ValueId, name: &str) -> Result<ValueId, ShapeError> {
        let u = self.unary(affine(1.0, 3.0), z)?;
        let t = self.unary(affine(1.0 / 6.0, 0.0), u)?;
        let r = self.unary(UnaryOp::Relu, t)?;
        let over = self.unary(affine(1.0, -1.0), t)?;
        let h = self.unary(UnaryOp::Heaviside, over)?;
        let keep = self.unary(affine(-1.0, 1.0), h)?;
        let below = self.push(Op::Binary(BinaryOp::Mul, r, keep), None)?;
        self.push(Op::Binary(BinaryOp::Add, below, h), Some(name))
    }
}
