//! The IR of regularization: the L1/L2 penalty added to the loss, the training-only dropout and
//! input noise, and the mapping from a layer's initializer to its parameters' `Init`. Dropout and
//! noise exist only in the training loss (`Lowered::train_loss`), never in the forward or
//! evaluation functions: validation, test and prediction see the whole network, unperturbed.
//! Their random tensors come from the counter-based generator (`philox`) keyed by the train seed
//! and a step counter, a state argument that the training step increments (see `program`).

use crate::ir::{ArgRole, BinaryOp, Function, Op, Origin, RandomSite, Shape, UnaryOp, ValueId};
use crate::random;
use crate::shape::ShapeError;

use super::params::Init;
use super::spec::{Initializer, ModelSpec};

/// The name of the step counter argument the random ops draw from.
pub const COUNTER: &str = "rng_step";

/// Whether the training loss differs from the evaluation loss: some dropout or input noise.
pub fn draws_random(spec: &ModelSpec) -> bool {
    spec.input.noise > 0.0 || spec.layers.iter().any(|l| l.options.dropout > 0.0)
}

/// How the model is lowered: for evaluation and prediction, or for the training step (batch
/// statistics, and dropout and noise when the model draws random numbers).
#[derive(Clone, Copy)]
pub(super) enum Mode {
    Eval,
    Train(Option<Training>),
}

/// What the training loss needs to draw random tensors.
#[derive(Clone, Copy, Debug)]
pub struct Training {
    counter: ValueId,
    key: u32,
}

impl Training {
    /// Declare the step counter (a state scalar, after the parameters) in the training loss.
    pub fn declare(f: &mut Function, spec: &ModelSpec) -> Training {
        Training {
            counter: f.add_arg(COUNTER, Shape::scalar(), ArgRole::State, None),
            key: random::counter_key(spec.train.seed),
        }
    }

    /// `x + noise` with N(0, σ²) noise when the input has `noise: σ`, else `x`. Site 0.
    pub fn noisy_input(
        self,
        f: &mut Function,
        spec: &ModelSpec,
        x: ValueId,
    ) -> Result<ValueId, ShapeError> {
        if spec.input.noise <= 0.0 {
            return Ok(x);
        }
        let origin = Some(Origin {
            span: spec.input.span,
            what: "the input's noise".into(),
        });
        let noise = f.try_push(
            Op::NormalNoise {
                std: spec.input.noise,
                at: RandomSite {
                    key: self.key,
                    site: 0,
                },
                counter: self.counter,
            },
            Some(f.shape(x).clone()),
            Some("noise"),
            origin.clone(),
        )?;
        f.try_push(
            Op::Binary(BinaryOp::Add, x, noise),
            None,
            Some("x_noisy"),
            origin,
        )
    }

    /// `h · mask` with inverted dropout of `rate` on layer `layer` (0-based; site layer + 1), or
    /// `h` when the rate is 0.
    pub fn dropout(
        self,
        f: &mut Function,
        layer: usize,
        rate: f64,
        h: ValueId,
        origin: Option<Origin>,
    ) -> Result<ValueId, ShapeError> {
        if rate <= 0.0 {
            return Ok(h);
        }
        let site = u32::try_from(layer + 1).expect("invariant: a model has fewer than 2^32 layers");
        let mask = f.try_push(
            Op::DropoutMask {
                rate,
                at: RandomSite {
                    key: self.key,
                    site,
                },
                counter: self.counter,
            },
            Some(f.shape(h).clone()),
            Some(&format!("mask{}", layer + 1)),
            origin.clone(),
        )?;
        let name = format!("{}_dropped", f.name_of(h));
        f.try_push(
            Op::Binary(BinaryOp::Mul, h, mask),
            None,
            Some(&name),
            origin,
        )
    }
}

/// `loss + Σ over layers of l1 · Σ|w| + l2 · Σw²`, each layer with its own penalty or the global
/// one, on the weights only. |w| is written relu(w) + relu(−w), whose derivative autodiff already
/// knows (heaviside(w) − heaviside(−w), 0 at 0 like the subgradient Keras and PyTorch use).
pub fn emit_penalty(
    f: &mut Function,
    spec: &ModelSpec,
    loss: ValueId,
) -> Result<ValueId, ShapeError> {
    let mut terms = Vec::new();
    for (i, layer) in spec.layers.iter().enumerate() {
        let p = layer.options.penalty.unwrap_or(spec.regularization);
        if p.is_zero() {
            continue;
        }
        let w = f
            .arg_named(&format!("w{}", i + 1))
            .expect("invariant: parameters are declared first");
        let origin = f.origin(w).cloned();
        let push = |f: &mut Function, op| f.try_push(op, None, None, origin.clone());
        if p.l1 > 0.0 {
            let pos = push(f, Op::Unary(UnaryOp::Relu, w))?;
            let neg = push(f, Op::Unary(UnaryOp::Neg, w))?;
            let neg = push(f, Op::Unary(UnaryOp::Relu, neg))?;
            let abs = push(f, Op::Binary(BinaryOp::Add, pos, neg))?;
            let name = format!("l1_w{}", i + 1);
            terms.push(scaled_sum(f, abs, p.l1, &name, origin.clone())?);
        }
        if p.l2 > 0.0 {
            let sq = push(f, Op::Binary(BinaryOp::Mul, w, w))?;
            let name = format!("l2_w{}", i + 1);
            terms.push(scaled_sum(f, sq, p.l2, &name, origin.clone())?);
        }
    }
    if terms.is_empty() {
        return Ok(loss);
    }
    // The loss without the penalty keeps a name of its own, so the IR reads as data + penalty.
    f.rename(loss, "data_loss");
    let mut total = loss;
    let n = terms.len();
    for (k, t) in terms.into_iter().enumerate() {
        let name = if k + 1 == n { Some("loss") } else { None };
        total = f.try_push(Op::Binary(BinaryOp::Add, total, t), None, name, None)?;
    }
    Ok(total)
}

/// `factor · Σ v`, named `name`.
fn scaled_sum(
    f: &mut Function,
    v: ValueId,
    factor: f64,
    name: &str,
    origin: Option<Origin>,
) -> Result<ValueId, ShapeError> {
    let s = f.try_push(Op::SumTo(v), Some(Shape::scalar()), None, origin.clone())?;
    let op = Op::Unary(
        UnaryOp::Affine {
            mul: factor,
            add: 0.0,
        },
        s,
    );
    f.try_push(op, None, Some(name), origin)
}

/// The `Init` of a `[fan_in, fan_out]` weight matrix (or of the bias of such a layer, whose fans
/// are the layer's) for an initializer. Normal initializers are plain normals, as PyTorch's, not
/// Keras' normals truncated at two standard deviations.
pub fn init_of(init: Initializer, fan_in: usize, fan_out: usize) -> Init {
    let (fi, fo) = (fan_in as f64, fan_out as f64);
    match init {
        Initializer::GlorotUniform => Init::GlorotUniform { fan_in, fan_out },
        Initializer::GlorotNormal => Init::Normal {
            mean: 0.0,
            std: (2.0 / (fi + fo)).sqrt(),
        },
        Initializer::HeUniform => Init::SymmetricUniform {
            limit: (6.0 / fi).sqrt(),
        },
        Initializer::HeNormal => Init::Normal {
            mean: 0.0,
            std: (2.0 / fi).sqrt(),
        },
        Initializer::LecunUniform => Init::SymmetricUniform {
            limit: (3.0 / fi).sqrt(),
        },
        Initializer::LecunNormal => Init::Normal {
            mean: 0.0,
            std: (1.0 / fi).sqrt(),
        },
        Initializer::Zeros => Init::Zeros,
        Initializer::Ones => Init::Constant(1.0),
        Initializer::Uniform { low, high } => Init::Uniform { low, high },
        Initializer::Normal { mean, std } => Init::Normal { mean, std },
    }
}
