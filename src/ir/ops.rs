//! The operations of the IR and their names. Each enum has one table of names — an exhaustive
//! `match` in `name` — which the printer writes and the parser reads back by iterating over the
//! variants (derived with `strum`), so a new op cannot be printed under one name and parsed under
//! another, and cannot be forgotten by either. Parameterised unary ops list their parameters in
//! `UnaryKind::param_names`, and `UnaryOp::params` / `UnaryOp::with_params` convert in that order.

use strum::{EnumDiscriminants, EnumIter};

use super::ValueId;
pub use crate::philox::RandomSite;

/// Element-wise functions of one tensor. Parameterised functions carry their constants.
#[derive(Clone, Copy, Debug, PartialEq, EnumDiscriminants)]
#[strum_discriminants(name(UnaryKind), derive(EnumIter, Hash))]
pub enum UnaryOp {
    Neg,
    Exp,
    /// exp(x) − 1, accurate where exp(x) is close to 1 (Adam's bias corrections need it).
    Expm1,
    Log,
    Sqrt,
    Relu,
    /// 1 where x > 0, else 0: the derivative of relu.
    Heaviside,
    LeakyRelu {
        alpha: f64,
    },
    /// 1 where x > 0, else alpha: the derivative of leaky_relu.
    LeakySlope {
        alpha: f64,
    },
    Sigmoid,
    Tanh,
    /// log(1 + exp(x)), computed without overflow.
    Softplus,
    /// mul * x + add.
    Affine {
        mul: f64,
        add: f64,
    },
    /// |x|.
    Abs,
    /// −1, 0 or 1 by the sign of x (±0 and NaN give themselves): the derivative of abs.
    Sign,
    /// Φ(x), the standard normal distribution function, ½·erfc(−x/√2): gelu's factor.
    NormalCdf,
}

impl UnaryKind {
    /// The name in the printed IR: the one table of unary op names.
    pub fn name(self) -> &'static str {
        match self {
            UnaryKind::Neg => "neg",
            UnaryKind::Exp => "exp",
            UnaryKind::Expm1 => "expm1",
            UnaryKind::Log => "log",
            UnaryKind::Sqrt => "sqrt",
            UnaryKind::Relu => "relu",
            UnaryKind::Heaviside => "heaviside",
            UnaryKind::LeakyRelu => "leaky_relu",
            UnaryKind::LeakySlope => "leaky_slope",
            UnaryKind::Sigmoid => "sigmoid",
            UnaryKind::Tanh => "tanh",
            UnaryKind::Softplus => "softplus",
            UnaryKind::Affine => "affine",
            UnaryKind::Abs => "abs",
            UnaryKind::Sign => "sign",
            UnaryKind::NormalCdf => "normal_cdf",
        }
    }

    /// The names of the op's constants, in the order `UnaryOp::params` gives them.
    pub fn param_names(self) -> &'static [&'static str] {
        match self {
            UnaryKind::LeakyRelu | UnaryKind::LeakySlope => &["alpha"],
            UnaryKind::Affine => &["mul", "add"],
            UnaryKind::Neg
            | UnaryKind::Exp
            | UnaryKind::Expm1
            | UnaryKind::Log
            | UnaryKind::Sqrt
            | UnaryKind::Relu
            | UnaryKind::Heaviside
            | UnaryKind::Sigmoid
            | UnaryKind::Tanh
            | UnaryKind::Softplus
            | UnaryKind::Abs
            | UnaryKind::Sign
            | UnaryKind::NormalCdf => &[],
        }
    }

    /// The kind printed as `name`, if any.
    pub fn from_name(name: &str) -> Option<UnaryKind> {
        <UnaryKind as strum::IntoEnumIterator>::iter().find(|k| k.name() == name)
    }
}

impl UnaryOp {
    pub fn kind(&self) -> UnaryKind {
        UnaryKind::from(self)
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The op's constants, in the order of `UnaryKind::param_names`.
    pub fn params(&self) -> Vec<f64> {
        match *self {
            UnaryOp::LeakyRelu { alpha } | UnaryOp::LeakySlope { alpha } => vec![alpha],
            UnaryOp::Affine { mul, add } => vec![mul, add],
            UnaryOp::Neg
            | UnaryOp::Exp
            | UnaryOp::Expm1
            | UnaryOp::Log
            | UnaryOp::Sqrt
            | UnaryOp::Relu
            | UnaryOp::Heaviside
            | UnaryOp::Sigmoid
            | UnaryOp::Tanh
            | UnaryOp::Softplus
            | UnaryOp::Abs
            | UnaryOp::Sign
            | UnaryOp::NormalCdf => vec![],
        }
    }

    /// The op of `kind` with `params` in the order of `UnaryKind::param_names`; `None` when the
    /// number of parameters is wrong.
    pub fn with_params(kind: UnaryKind, params: &[f64]) -> Option<UnaryOp> {
        if params.len() != kind.param_names().len() {
            return None;
        }
        Some(match kind {
            UnaryKind::Neg => UnaryOp::Neg,
            UnaryKind::Exp => UnaryOp::Exp,
            UnaryKind::Expm1 => UnaryOp::Expm1,
            UnaryKind::Log => UnaryOp::Log,
            UnaryKind::Sqrt => UnaryOp::Sqrt,
            UnaryKind::Relu => UnaryOp::Relu,
            UnaryKind::Heaviside => UnaryOp::Heaviside,
            UnaryKind::LeakyRelu => UnaryOp::LeakyRelu { alpha: params[0] },
            UnaryKind::LeakySlope => UnaryOp::LeakySlope { alpha: params[0] },
            UnaryKind::Sigmoid => UnaryOp::Sigmoid,
            UnaryKind::Tanh => UnaryOp::Tanh,
            UnaryKind::Softplus => UnaryOp::Softplus,
            UnaryKind::Affine => UnaryOp::Affine {
                mul: params[0],
                add: params[1],
            },
            UnaryKind::Abs => UnaryOp::Abs,
            UnaryKind::Sign => UnaryOp::Sign,
            UnaryKind::NormalCdf => UnaryOp::NormalCdf,
        })
    }
}

/// Element-wise functions of two tensors of the same shape (broadcasting is explicit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `a > b ? a : b` (so a NaN in `a` gives `b`, the same in every executor).
    Max,
    /// `a < b ? a : b`.
    Min,
    /// 1 where `a > b`, else 0. Comparisons are not differentiable: their adjoint is nothing, and
    /// the language only lets their result choose between values (`where`), never be one.
    Greater,
    /// 1 where `a >= b`, else 0.
    GreaterEq,
    /// 1 where `a == b`, else 0.
    Equal,
}

impl BinaryOp {
    /// The name in the printed IR: the one table of binary op names.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
            BinaryOp::Greater => "greater",
            BinaryOp::GreaterEq => "greater_eq",
            BinaryOp::Equal => "equal",
        }
    }

    pub fn from_name(name: &str) -> Option<BinaryOp> {
        <BinaryOp as strum::IntoEnumIterator>::iter().find(|k| k.name() == name)
    }

    /// Does the op give 0 or 1 (a comparison) rather than a number that depends smoothly on its
    /// operands?
    pub fn is_comparison(self) -> bool {
        match self {
            BinaryOp::Greater | BinaryOp::GreaterEq | BinaryOp::Equal => true,
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Max
            | BinaryOp::Min => false,
        }
    }
}

/// The operations of the IR. Every `match` on this enum is exhaustive (no `_ =>`), so a new op fails
/// to compile in every stage that must handle it.
#[derive(Clone, Debug, PartialEq, EnumDiscriminants)]
#[strum_discriminants(name(OpKind), derive(EnumIter))]
pub enum Op {
    /// A scalar constant.
    Const(f64),
    /// The batch size of this call, as a scalar.
    BatchSize,
    Unary(UnaryOp, ValueId),
    Binary(BinaryOp, ValueId, ValueId),
    /// Matrix product of two rank-2 tensors, either operand optionally transposed.
    MatMul {
        a: ValueId,
        b: ValueId,
        transpose_a: bool,
        transpose_b: bool,
    },
    /// Numpy-style broadcast to the equation's shape: dimensions are aligned from the right, and a
    /// missing or size-1 source dimension is repeated.
    Broadcast(ValueId),
    /// The adjoint of `Broadcast`: sums over the dimensions that a broadcast to the source's shape
    /// would repeat, giving the equation's shape.
    SumTo(ValueId),
    /// log(softmax(x)) along the last axis, computed stably (max-shifted).
    LogSoftmax(ValueId),
    /// `a` and `b` side by side along the last axis; every other dimension agrees.
    Concat {
        a: ValueId,
        b: ValueId,
    },
    /// `len` entries of the last axis starting at `start`.
    Slice {
        x: ValueId,
        start: usize,
        len: usize,
    },
    /// Element-wise `condition != 0 ? yes : no`, all three of one shape. The condition gets no
    /// adjoint.
    Select {
        condition: ValueId,
        yes: ValueId,
        no: ValueId,
    },
    /// Inverted dropout's multiplier, of the equation's shape: 1/(1 − rate) where an element is
    /// kept, 0 where it is dropped, drawn by the counter-based generator (`philox`) from `at` and
    /// the step number held in the scalar `counter`. It does not depend on any parameter.
    DropoutMask {
        rate: f64,
        at: RandomSite,
        counter: ValueId,
    },
    /// Normal noise N(0, std²) of the equation's shape (Box–Muller over `philox`), like
    /// `DropoutMask` a function of `at`, the step in `counter` and the element's index.
    NormalNoise {
        std: f64,
        at: RandomSite,
        counter: ValueId,
    },
    /// A constant vector of shape `[len]`, one number per element (per-class weights need one
    /// constant per class, which a scalar `const` and a broadcast cannot give).
    Vector(Vec<f64>),
}

impl OpKind {
    /// The name in the printed IR; unary and binary ops are named by their own tables.
    pub fn name(self) -> Option<&'static str> {
        match self {
            OpKind::Const => Some("const"),
            OpKind::BatchSize => Some("batch_size"),
            OpKind::MatMul => Some("matmul"),
            OpKind::Broadcast => Some("broadcast"),
            OpKind::SumTo => Some("sum_to"),
            OpKind::LogSoftmax => Some("log_softmax"),
            OpKind::Select => Some("select"),
            OpKind::Concat => Some("concat"),
            OpKind::Slice => Some("slice"),
            OpKind::DropoutMask => Some("dropout_mask"),
            OpKind::NormalNoise => Some("normal_noise"),
            OpKind::Vector => Some("vector"),

            OpKind::Unary | OpKind::Binary => None,
        }
    }

    pub fn from_name(name: &str) -> Option<OpKind> {
        <OpKind as strum::IntoEnumIterator>::iter().find(|k| k.name() == Some(name))
    }
}

impl Op {
    /// The operands, in order.
    pub fn operands(&self) -> Vec<ValueId> {
        match self {
            Op::Const(_) | Op::BatchSize | Op::Vector(_) => vec![],
            Op::Unary(_, x) | Op::Broadcast(x) | Op::SumTo(x) | Op::LogSoftmax(x) => vec![*x],
            Op::Binary(_, a, b) => vec![*a, *b],
            Op::MatMul { a, b, .. } => vec![*a, *b],
            Op::Select { condition, yes, no } => vec![*condition, *yes, *no],
            Op::Concat { a, b } => vec![*a, *b],
            Op::Slice { x, .. } => vec![*x],
            Op::DropoutMask { counter, .. } | Op::NormalNoise { counter, .. } => vec![*counter],
        }
    }

    /// The op's name as printed (`exp`, `add`, `matmul`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Unary(u, _) => u.name(),
            Op::Binary(b, _, _) => b.name(),
            Op::Const(_)
            | Op::BatchSize
            | Op::MatMul { .. }
            | Op::Broadcast(_)
            | Op::SumTo(_)
            | Op::LogSoftmax(_)
            | Op::Select { .. }
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::DropoutMask { .. }
            | Op::NormalNoise { .. }
            | Op::Vector(_) => OpKind::from(self)
                .name()
                .expect("invariant: every op other than unary and binary has a name in OpKind"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_name_reads_back_as_its_op() {
        let mut names = std::collections::HashSet::new();
        for k in UnaryKind::iter() {
            assert_eq!(UnaryKind::from_name(k.name()), Some(k));
            let params: Vec<f64> = (1..=k.param_names().len()).map(|i| i as f64).collect();
            let op = UnaryOp::with_params(k, &params).expect("the right number of parameters");
            assert_eq!((op.kind(), op.params()), (k, params));
            assert!(names.insert(k.name()));
        }
        for b in BinaryOp::iter() {
            assert_eq!(BinaryOp::from_name(b.name()), Some(b));
            assert!(names.insert(b.name()));
        }
        for k in OpKind::iter() {
            if let Some(n) = k.name() {
                assert_eq!(OpKind::from_name(n), Some(k));
                assert!(names.insert(n), "`{n}` names two ops");
            }
        }
        assert_eq!(UnaryOp::with_params(UnaryKind::Affine, &[1.0]), None);
    }
}
