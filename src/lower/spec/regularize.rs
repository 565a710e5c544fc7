//! The options that regularize a model and choose its initial values: the top-level
//! `regularization` setting (L1 and L2 penalties on every layer's weights), a layer's own `l1`,
//! `l2`, `dropout`, `init`, `bias` and `bias_init`, and the input's `noise`. Each has its name,
//! default and range here, next to the table of initializer names (with their aliases) that
//! diagnostics suggest from.

use crate::diag::{Diagnostic, Source};
use crate::syntax::ast::{Call, Value};

use super::collect::Errors;
use super::options::{unknown_help, Number, Options};
use super::{as_call, err, train::boolean};

/// L1 and L2 penalty factors on a layer's weights (never its bias, as Keras'
/// `kernel_regularizer`): `l1 · Σ|w| + l2 · Σw²` is added to the loss.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Penalty {
    pub l1: f64,
    pub l2: f64,
}

impl Penalty {
    pub fn is_zero(&self) -> bool {
        self.l1 == 0.0 && self.l2 == 0.0
    }
}

/// How a layer's weights or bias start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Initializer {
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Zeros,
    Ones,
    Uniform { low: f64, high: f64 },
    Normal { mean: f64, std: f64 },
}

/// Every initializer name, aliases included, with what it means; the one table names are looked
/// up in and suggested from.
pub(super) const INITIALIZERS: &[(&str, Initializer)] = &[
    ("glorot_uniform", Initializer::GlorotUniform),
    ("xavier_uniform", Initializer::GlorotUniform),
    ("glorot_normal", Initializer::GlorotNormal),
    ("xavier_normal", Initializer::GlorotNormal),
    ("he_uniform", Initializer::HeUniform),
    ("kaiming_uniform", Initializer::HeUniform),
    ("he_normal", Initializer::HeNormal),
    ("kaiming_normal", Initializer::HeNormal),
    ("lecun_uniform", Initializer::LecunUniform),
    ("lecun_normal", Initializer::LecunNormal),
    ("zeros", Initializer::Zeros),
    ("ones", Initializer::Ones),
    (
        "uniform",
        Initializer::Uniform {
            low: UNIFORM_LOW.default,
            high: UNIFORM_HIGH.default,
        },
    ),
    (
        "normal",
        Initializer::Normal {
            mean: NORMAL_MEAN.default,
            std: NORMAL_STD.default,
        },
    ),
];

pub const UNIFORM_LOW: Number = Number {
    name: "low",
    default: -0.05,
    min: -1e6,
    max: 1e6,
};
pub const UNIFORM_HIGH: Number = Number {
    name: "high",
    default: 0.05,
    ..UNIFORM_LOW
};
pub const NORMAL_STD: Number = Number {
    name: "std",
    default: 0.05,
    min: 0.0,
    max: 1e6,
};
pub const NORMAL_MEAN: Number = Number {
    name: "mean",
    default: 0.0,
    min: -1e6,
    max: 1e6,
};
/// A penalty factor, global or per layer.
pub const L1: Number = Number {
    name: "l1",
    default: 0.0,
    min: 0.0,
    max: 100.0,
};
pub const L2: Number = Number { name: "l2", ..L1 };
/// The share of a layer's outputs dropped in each training step; 1 (drop everything) is refused
/// separately, since the kept values would be scaled by 1/0.
pub const DROPOUT: Number = Number {
    name: "dropout",
    default: 0.0,
    min: 0.0,
    max: 1.0,
};
/// The standard deviation of the noise added to the (standardized) inputs in training.
pub const NOISE: Number = Number {
    name: "noise",
    default: 0.0,
    min: 0.0,
    max: 100.0,
};

/// The regularizers `regularization:` names, and `none`.
pub(super) const REGULARIZERS: &[&str] = &["l1", "l2", "l1_l2", "none"];

/// The top-level `regularization: l2(0.0001)`, `l1(...)`, `l1_l2(l1: ..., l2: ...)` or `none`.
pub(super) fn resolve_regularization(
    source: &Source,
    v: &Value,
) -> Result<Penalty, Vec<Diagnostic>> {
    let call = as_call(source, v, "regularizer")?;
    let name = call.name.name.as_str();
    let one = |table: Number| -> Result<f64, Vec<Diagnostic>> {
        let opts = Options::from_call_all(source, call, &[table.name], &[table.name])?;
        if opts.value(table.name).is_none() {
            return Err(vec![err(
                source,
                "nnc::lower::missing_option",
                format!("`{name}` needs its factor"),
                call.span,
                "no factor",
                format!("write e.g. `{name}(0.0001)`"),
            )]);
        }
        Ok(opts.number(&table)?)
    };
    Ok(match name {
        "l1" => Penalty {
            l1: one(L1)?,
            l2: 0.0,
        },
        "l2" => Penalty {
            l1: 0.0,
            l2: one(L2)?,
        },
        "l1_l2" => {
            let both = [L1.name, L2.name];
            let opts = Options::from_call_all(source, call, &both, &both)?;
            // Each factor is checked apart, so that both are reported when both are bad.
            let mut errors = Errors::default();
            let l1 = errors.take(opts.number(&L1), 0.0);
            let l2 = errors.take(opts.number(&L2), 0.0);
            errors.finish(|| Penalty { l1, l2 })?
        }
        "none" => {
            Options::from_call_all(source, call, &[], &[])?;
            Penalty::default()
        }
        other => {
            return Err(vec![err(
                source,
                "nnc::lower::unknown_regularizer",
                format!("unknown regularizer `{other}`"),
                call.name.span,
                "not a known regularizer",
                unknown_help(other, "regularizers", REGULARIZERS),
            )])
        }
    })
}

/// What a `dense`/`output` call says about regularization and initialization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerOptions {
    pub penalty: Option<Penalty>,
    pub dropout: f64,
    pub init: Initializer,
    pub bias: bool,
    pub bias_init: Initializer,
}

/// The option names `layer_options` reads, for the layer's list of known options.
pub(super) const LAYER_OPTIONS: &[&str] = &["l1", "l2", "dropout", "init", "bias", "bias_init"];

pub(super) fn layer_options(
    source: &Source,
    opts: &Options<'_>,
    call: &Call,
) -> Result<LayerOptions, Vec<Diagnostic>> {
    // Each option is checked apart, so that every bad one is reported.
    let mut errors = Errors::default();
    let given = |n: &str| opts.value(n).is_some();
    // A layer that names either factor replaces the global penalty entirely (Keras' per-layer
    // regularizer does the same); the factor it leaves out is 0.
    let penalty = if given(L1.name) || given(L2.name) {
        Some(Penalty {
            l1: errors.take(opts.number(&L1), 0.0),
            l2: errors.take(opts.number(&L2), 0.0),
        })
    } else {
        None
    };
    let dropout = errors.take(opts.number(&DROPOUT), 0.0);
    if dropout == 1.0 {
        let v = opts
            .value(DROPOUT.name)
            .expect("invariant: 1 is not the default");
        errors.take(
            Err(err(
                source,
                "nnc::lower::out_of_range",
                "`dropout` is 1, which drops every value",
                v.span,
                "out of range",
                "choose a rate from 0 up to (not including) 1, e.g. `dropout: 0.5`",
            )),
            (),
        );
    }
    let mut initializer = |n: &str, default: Initializer| match opts.value(n) {
        None => default,
        Some(v) => errors.take(
            as_call(source, v, "initializer").and_then(|c| resolve_initializer(source, c)),
            default,
        ),
    };
    let bias_init = initializer("bias_init", Initializer::Zeros);
    let init = initializer("init", Initializer::GlorotUniform);
    let bias = match opts.value("bias") {
        None => true,
        Some(v) => errors.take(boolean(source, v, "bias"), true),
    };
    if !bias {
        if let Some(v) = opts.value("bias_init") {
            errors.take(
                Err(err(
                    source,
                    "nnc::lower::bias_init_without_bias",
                    format!("`{}` has `bias: false` and a `bias_init`", call.name.name),
                    v.span,
                    "no bias to initialize",
                    "remove `bias_init`, or `bias: false`",
                )),
                (),
            );
        }
    }
    errors.finish(|| LayerOptions {
        penalty,
        dropout,
        init,
        bias,
        bias_init,
    })
}

pub fn resolve_initializer(source: &Source, call: &Call) -> Result<Initializer, Diagnostic> {
    let name = call.name.name.as_str();
    let Some(&(_, init)) = INITIALIZERS.iter().find(|(n, _)| *n == name) else {
        let known: Vec<&str> = INITIALIZERS.iter().map(|(n, _)| *n).collect();
        return Err(err(
            source,
            "nnc::lower::unknown_initializer",
            format!("unknown initializer `{name}`"),
            call.name.span,
            "not a known initializer",
            unknown_help(name, "initializers", &known),
        ));
    };
    Ok(match init {
        Initializer::Uniform { .. } => {
            let names = [UNIFORM_LOW.name, UNIFORM_HIGH.name];
            let opts = Options::from_call(source, call, &names, &names)?;
            let (low, high) = (opts.number(&UNIFORM_LOW)?, opts.number(&UNIFORM_HIGH)?);
            if low >= high {
                return Err(err(
                    source,
                    "nnc::lower::empty_range",
                    format!("`uniform({low}, {high})` is an empty range"),
                    call.span,
                    "low is not below high",
                    "write the lower bound first, e.g. `uniform(-0.1, 0.1)`",
                ));
            }
            Initializer::Uniform { low, high }
        }
        Initializer::Normal { .. } => {
            let opts = Options::from_call(
                source,
                call,
                &[NORMAL_STD.name],
                &[NORMAL_STD.name, NORMAL_MEAN.name],
            )?;
            Initializer::Normal {
                mean: opts.number(&NORMAL_MEAN)?,
                std: opts.number(&NORMAL_STD)?,
            }
        }
        other => {
            Options::from_call(source, call, &[], &[])?;
            other
        }
    })
}
