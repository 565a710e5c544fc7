//! What the language's words mean, for editors: the formula of each activation, loss and
//! optimizer (the same text as the tables of `docs/language.md`; a test keeps them equal), and
//! the options each call and block takes with their defaults and ranges, read from the tables
//! `resolve` checks against, so a hover or a completion can never offer an option the resolver
//! refuses.

use strum::IntoEnumIterator;

use super::options::{Count, Flag, Number};
use super::regularize::{
    DROPOUT, L1, L2, NOISE, NORMAL_MEAN, NORMAL_STD, UNIFORM_HIGH, UNIFORM_LOW,
};
use super::settings::{
    BATCH_SIZE, CHECKPOINT_EVERY, EPOCHS, INPUT_WIDTH, MIN_DELTA, MONITOR_STATS, PATIENCE, SEED,
    TEST_FRACTION, THREADS, UNITS, VALIDATION_FRACTION,
};
use super::vocabulary::{HUBER_DELTA, LABEL_SMOOTHING};
use super::{
    ActivationKind, LossKind, OptimizerKind, ScheduleKind, BATCHNORM_EPSILON, BATCHNORM_MOMENTUM,
    CLIP_NORM, CLIP_VALUE,
};

/// One word of the language explained: what kind of word it is, what it computes, its options.
#[derive(Clone, Debug, PartialEq)]
pub struct WordDoc {
    pub kind: &'static str,
    pub name: &'static str,
    pub formula: &'static str,
    pub options: Vec<OptionDoc>,
}

/// An option with its default (as a file would write it) and, for numbers, its range.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionDoc {
    pub name: &'static str,
    pub default: String,
    pub range: Option<String>,
}

impl OptionDoc {
    fn number(n: &Number) -> Self {
        OptionDoc {
            name: n.name,
            default: short(n.default),
            range: Some(format!("{} to {}", short(n.min), short(n.max))),
        }
    }

    fn count(c: &Count) -> Self {
        OptionDoc {
            name: c.name,
            default: c.default.to_string(),
            range: Some(format!("{} to {}", c.min, c.max)),
        }
    }

    fn flag(f: &Flag) -> Self {
        OptionDoc::other(f.name, if f.default { "true" } else { "false" })
    }

    fn other(name: &'static str, default: &str) -> Self {
        OptionDoc {
            name,
            default: default.to_string(),
            range: None,
        }
    }
}

/// A number as a person writes it: `0.001`, `1e-8`, `1000000`.
fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-4 || v.abs() >= 1e7) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

impl ActivationKind {
    /// What the activation computes, as `docs/language.md` writes it.
    pub fn formula(self) -> &'static str {
        match self {
            ActivationKind::Linear => "x",
            ActivationKind::Sigmoid => "1 / (1 + e^(−x))",
            ActivationKind::Relu => "max(x, 0)",
            ActivationKind::LeakyRelu => "x if x > 0, else α·x",
            ActivationKind::Tanh => "tanh(x)",
            ActivationKind::Softmax => "e^(x_i) / Σ_j e^(x_j), over each row",
            ActivationKind::Elu => "x if x > 0, else α·(e^x − 1)",
            ActivationKind::Selu => {
                "λ·elu(x, α) with λ = 1.0507009873554805, α = 1.6732632423543772"
            }
            ActivationKind::Gelu => {
                "x·Φ(x), Φ the standard normal distribution function (the exact form: PyTorch's \
                 default, Keras' `approximate=False`)"
            }
            ActivationKind::Swish => "x·sigmoid(x)",
            ActivationKind::Softplus => "log(1 + e^x)",
            ActivationKind::Softsign => "x / (1 + |x|)",
            ActivationKind::HardSigmoid => {
                "relu6(x + 3) / 6: 0 below −3, 1 above 3, (x + 3)/6 between"
            }
        }
    }
}

impl LossKind {
    /// What the loss computes, as `docs/language.md` writes it.
    pub fn formula(self) -> &'static str {
        match self {
            LossKind::Mse => "mean over the batch and outputs of (prediction − target)²",
            LossKind::Mae => "mean over the batch and outputs of |prediction − target|",
            LossKind::Huber => {
                "mean over the batch and outputs of ½d² where |d| ≤ δ, else δ·(|d| − ½δ), with \
                 d = prediction − target"
            }
            LossKind::CrossEntropy => "−mean over the batch of Σ target · log_softmax(logits)",
            LossKind::BinaryCrossEntropy => "mean of softplus(z) − target · z",
        }
    }
}

impl OptimizerKind {
    /// The update the optimizer makes, as `docs/language.md` writes it.
    pub fn formula(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => {
                "v ← μ·v + g; w ← w − η·v (without momentum: w ← w − η·g); with `nesterov: \
                 true`: v ← μ·v + g; w ← w − η·(g + μ·v)"
            }
            OptimizerKind::Adam => {
                "m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; w ← w − η·m̂ / (√v̂ + ε) with \
                 m̂ = m / (1 − β1ᵗ), v̂ = v / (1 − β2ᵗ)"
            }
            OptimizerKind::Adamw => "Adam's m and v; w ← w·(1 − η·λ) − η·m̂ / (√v̂ + ε)",
            OptimizerKind::Rmsprop => {
                "s ← ρ·s + (1 − ρ)·g²; u = g / (√s + ε); w ← w − η·u (with momentum: b ← μ·b + \
                 u; w ← w − η·b); with `centered: true` also a ← ρ·a + (1 − ρ)·g and u = g / \
                 (√(s − a²) + ε)"
            }
            OptimizerKind::Adagrad => {
                "s ← s + g² (s starts at `initial_accumulator`); w ← w − η·g / (√s + ε)"
            }
        }
    }
}

/// The activation, loss or optimizer called `word` (an activation's alias included).
pub fn describe(word: &str) -> Option<WordDoc> {
    if let Some(k) =
        ActivationKind::iter().find(|k| k.name() == word || k.aliases().contains(&word))
    {
        return Some(WordDoc {
            kind: "activation",
            name: k.name(),
            formula: k.formula(),
            options: k.options().iter().map(OptionDoc::number).collect(),
        });
    }
    if let Some(k) = LossKind::iter().find(|k| k.name() == word) {
        return Some(WordDoc {
            kind: "loss",
            name: k.name(),
            formula: k.formula(),
            options: call_options(k.name()).unwrap_or_default(),
        });
    }
    let k = OptimizerKind::iter().find(|k| k.name() == word)?;
    Some(WordDoc {
        kind: "optimizer",
        name: k.name(),
        formula: k.formula(),
        options: call_options(k.name()).unwrap_or_default(),
    })
}

/// The options of the call named `name` — a layer, an activation, a loss, an optimizer, an
/// initializer, a schedule, a regularizer or `early_stopping` — or `None` for a name that is none
/// of them (a def's parameters are the file's, not the language's).
pub fn call_options(name: &str) -> Option<Vec<OptionDoc>> {
    let numbers = |t: &[Number]| t.iter().map(OptionDoc::number).collect::<Vec<_>>();
    let options = match name {
        "input" => vec![
            OptionDoc::other(INPUT_WIDTH.name, "from the data"),
            OptionDoc::number(&NOISE),
        ],
        "dense" | "output" => {
            let units = match name {
                "dense" => "required",
                _ => "from the data",
            };
            let mut o = vec![
                OptionDoc::other(UNITS.name, units),
                OptionDoc::other("activation", "linear"),
            ];
            o.extend([
                OptionDoc::other(L1.name, "the file's regularization"),
                OptionDoc::other(L2.name, "the file's regularization"),
                OptionDoc::number(&DROPOUT),
                OptionDoc::other("init", "glorot_uniform"),
                OptionDoc::other("bias", "true"),
                OptionDoc::other("bias_init", "zeros"),
            ]);
            o
        }
        "batchnorm" => numbers(&[BATCHNORM_MOMENTUM, BATCHNORM_EPSILON]),
        "huber" => numbers(&[HUBER_DELTA]),
        "cross_entropy" | "binary_cross_entropy" => vec![
            OptionDoc::number(&LABEL_SMOOTHING),
            OptionDoc::other(super::vocabulary::CLASS_WEIGHTS, "none"),
        ],
        "uniform" => numbers(&[UNIFORM_LOW, UNIFORM_HIGH]),
        "normal" => numbers(&[NORMAL_STD, NORMAL_MEAN]),
        "l1" => numbers(&[L1]),
        "l2" => numbers(&[L2]),
        "l1_l2" => numbers(&[L1, L2]),
        "early_stopping" => vec![
            OptionDoc::count(&PATIENCE),
            OptionDoc::number(&MIN_DELTA),
            OptionDoc::other(super::train::MONITOR, "val_loss"),
            OptionDoc::other(super::train::RESTORE_BEST, "true"),
        ],
        _ => return named_call_options(name),
    };
    Some(options)
}

/// `call_options` for the names of the vocabulary's tables.
fn named_call_options(name: &str) -> Option<Vec<OptionDoc>> {
    if let Some(k) = OptimizerKind::iter().find(|k| k.name() == name) {
        let mut o: Vec<OptionDoc> = k.options().iter().map(OptionDoc::number).collect();
        o.extend(k.flags().iter().map(OptionDoc::flag));
        o.push(OptionDoc::other(super::SCHEDULE, "constant"));
        o.push(OptionDoc::other(CLIP_NORM.name, "none"));
        o.push(OptionDoc::other(CLIP_VALUE.name, "none"));
        return Some(o);
    }
    if let Some(k) = ScheduleKind::iter().find(|k| k.name() == name) {
        let mut o: Vec<OptionDoc> = k.counts().iter().map(OptionDoc::count).collect();
        o.extend(k.numbers().iter().map(OptionDoc::number));
        if k == ScheduleKind::Warmup {
            o.push(OptionDoc::other(super::schedule::THEN, "constant"));
        }
        return Some(o);
    }
    let activation =
        ActivationKind::iter().find(|k| k.name() == name || k.aliases().contains(&name));
    if let Some(k) = activation {
        return Some(k.options().iter().map(OptionDoc::number).collect());
    }
    LossKind::iter()
        .find(|k| k.name() == name)
        .map(|_| Vec::new())
}

/// The settings a block takes: `train`, `data`, or a `column` block inside `data`.
pub fn block_settings(block: &str) -> Option<Vec<OptionDoc>> {
    Some(match block {
        "train" => vec![
            OptionDoc::count(&EPOCHS),
            OptionDoc::count(&BATCH_SIZE),
            OptionDoc::count(&SEED),
            OptionDoc {
                name: THREADS.name,
                default: "the cores available".into(),
                range: Some(format!("{} to {}", THREADS.min, THREADS.max)),
            },
            OptionDoc::flag(&MONITOR_STATS),
            OptionDoc {
                name: CHECKPOINT_EVERY.name,
                default: "none".into(),
                range: Some(format!(
                    "{} to {}",
                    CHECKPOINT_EVERY.min, CHECKPOINT_EVERY.max
                )),
            },
        ],
        "data" => super::data::DATA_OPTIONS
            .iter()
            .map(|n| match *n {
                n if n == TEST_FRACTION.name => OptionDoc::number(&TEST_FRACTION),
                n if n == VALIDATION_FRACTION.name => OptionDoc::number(&VALIDATION_FRACTION),
                n => OptionDoc::other(n, ""),
            })
            .collect(),
        "column" => super::data::COLUMN_OPTIONS
            .iter()
            .map(|n| OptionDoc::other(n, ""))
            .collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::regularize::LAYER_OPTIONS;
    use super::*;

    /// Every option the hover and completion tables offer is one the resolver accepts: a call
    /// with each option named alone resolves past name checking (its value may be out of kind).
    #[test]
    fn the_tables_name_only_options_the_resolver_knows() {
        assert_eq!(
            super::super::train::TRAIN_OPTIONS,
            block_settings("train")
                .unwrap()
                .iter()
                .map(|o| o.name)
                .collect::<Vec<_>>()
        );
        for k in OptimizerKind::iter() {
            for o in call_options(k.name()).unwrap() {
                let text = format!(
                    "model {{\n  input(2)\n  output(1)\n}}\nloss: mse\noptimizer: {}({}: {})\n",
                    k.name(),
                    o.name,
                    match o.name {
                        "schedule" => "constant".to_string(),
                        "nesterov" | "centered" => "false".to_string(),
                        "clip_norm" | "clip_value" => "1".to_string(),
                        _ => o.default.clone(),
                    }
                );
                let source = crate::diag::Source::new("o.nn", text.as_str());
                let file = crate::syntax::parse(&source).unwrap();
                if let Err(e) = super::super::resolve(&source, &file) {
                    panic!("{}: {}", text, e.render_plain());
                }
            }
        }
        let dense: Vec<&str> = call_options("dense")
            .unwrap()
            .iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(&dense[2..], LAYER_OPTIONS);
    }

    #[test]
    fn words_are_described_with_their_options_and_defaults() {
        let adam = describe("adam").unwrap();
        assert_eq!(adam.kind, "optimizer");
        let lr = &adam.options[0];
        assert_eq!((lr.name, lr.default.as_str()), ("learning_rate", "0.001"));
        let eps = adam.options.iter().find(|o| o.name == "epsilon").unwrap();
        assert_eq!(eps.default, "1e-8");
        assert_eq!(describe("silu").unwrap().name, "swish");
        let leaky = describe("leaky_relu").unwrap();
        assert_eq!(leaky.options[0].default, "0.01");
        assert_eq!(leaky.options[0].range.as_deref(), Some("0 to 1"));
        assert_eq!(describe("huber").unwrap().options[0].name, "delta");
        assert!(describe("dense").is_none() && describe("nonsense").is_none());
    }
}
