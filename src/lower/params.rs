//! The parameters lowering makes, shared by every module that makes them (`graph` for dense
//! layers, `math` for `param(...)` in defs, `normalize` for batch normalization's scale and shift,
//! `regularize` for each initializer's `Init`): their name, shape, initialization and owner. It
//! builds no IR, so the lowering modules depend on it and never on each other for these types.

use crate::ir::Origin;

/// How a parameter starts before training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform in ±sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).
    GlorotUniform {
        fan_in: usize,
        fan_out: usize,
    },
    Zeros,
    /// Uniform in ±limit (He, LeCun), drawn as `GlorotUniform` is.
    SymmetricUniform {
        limit: f64,
    },
    /// Uniform in [low, high).
    Uniform {
        low: f64,
        high: f64,
    },
    /// Normal (not truncated), by Box–Muller over the initialization stream.
    Normal {
        mean: f64,
        std: f64,
    },
    /// Every value the same (`ones`).
    Constant(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
    pub owner: Owner,
}

/// What a parameter belongs to.
#[derive(Clone, Debug, PartialEq)]
pub enum Owner {
    /// `ModelSpec::layers[i]`.
    Layer(usize),
    /// A `param(...)` in a def: where it was declared, and the model entry (`ModelSpec::nodes`)
    /// whose lowering made it.
    Math { origin: Origin, node: usize },
}

impl ParamSpec {
    /// The index of the dense layer the parameter belongs to, if it belongs to one.
    pub fn layer(&self) -> Option<usize> {
        match self.owner {
            Owner::Layer(i) => Some(i),
            Owner::Math { .. } => None,
        }
    }

    /// The number of floats the parameter holds, saturating at `usize::MAX` instead of wrapping
    /// (lowering rejects any model whose parameters come near that, see `check_size`).
    pub fn numel(&self) -> usize {
        self.shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
    }
}
