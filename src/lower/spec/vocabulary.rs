//! The names a model file may use for activations, losses and optimizers: one table of names per
//! enum (an exhaustive `match` in `name`), and the options each takes with their defaults and
//! ranges. `resolve` looks names up here and nowhere else; the summary and the tests read the
//! same tables.

use strum::{EnumDiscriminants, EnumIter};

use super::options::{Flag, Number};

#[derive(Clone, Copy, Debug, PartialEq, EnumDiscriminants)]
#[strum_discriminants(name(ActivationKind), derive(EnumIter))]
pub enum Activation {
    Linear,
    Sigmoid,
    Relu,
    LeakyRelu {
        alpha: f64,
    },
    Tanh,
    Softmax,
    /// x for x > 0, alpha·(eˣ − 1) otherwise.
    Elu {
        alpha: f64,
    },
    /// λ·elu(x, α) with the self-normalizing constants `SELU_LAMBDA` and `SELU_ALPHA`.
    Selu,
    /// x·Φ(x), Φ the standard normal distribution function (the exact form, not tanh's).
    Gelu,
    /// x·sigmoid(x), also called `silu`.
    Swish,
    /// log(1 + eˣ).
    Softplus,
    /// x / (1 + |x|).
    Softsign,
    /// relu6(x + 3) / 6, i.e. (x + 3)/6 clipped to [0, 1] (Keras 3's definition).
    HardSigmoid,
}

/// Klambauer et al. (2017), as PyTorch and Keras give them.
pub const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;

impl ActivationKind {
    /// The name in a `.nn` file: the one table of activation names.
    pub fn name(self) -> &'static str {
        match self {
            ActivationKind::Linear => "linear",
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Relu => "relu",
            ActivationKind::LeakyRelu => "leaky_relu",
            ActivationKind::Tanh => "tanh",
            ActivationKind::Softmax => "softmax",
            ActivationKind::Elu => "elu",
            ActivationKind::Selu => "selu",
            ActivationKind::Gelu => "gelu",
            ActivationKind::Swish => "swish",
            ActivationKind::Softplus => "softplus",
            ActivationKind::Softsign => "softsign",
            ActivationKind::HardSigmoid => "hard_sigmoid",
        }
    }

    /// Other names a file may use for the activation (`silu` is PyTorch's name for swish).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            ActivationKind::Swish => &["silu"],
            ActivationKind::Linear
            | ActivationKind::Sigmoid
            | ActivationKind::Relu
            | ActivationKind::LeakyRelu
            | ActivationKind::Tanh
            | ActivationKind::Softmax
            | ActivationKind::Elu
            | ActivationKind::Selu
            | ActivationKind::Gelu
            | ActivationKind::Softplus
            | ActivationKind::Softsign
            | ActivationKind::HardSigmoid => &[],
        }
    }

    /// The options the activation takes, in positional order.
    pub fn options(self) -> &'static [Number] {
        match self {
            ActivationKind::LeakyRelu => &[LEAKY_RELU_ALPHA],
            ActivationKind::Elu => &[ELU_ALPHA],
            ActivationKind::Linear
            | ActivationKind::Sigmoid
            | ActivationKind::Relu
            | ActivationKind::Tanh
            | ActivationKind::Softmax
            | ActivationKind::Selu
            | ActivationKind::Gelu
            | ActivationKind::Swish
            | ActivationKind::Softplus
            | ActivationKind::Softsign
            | ActivationKind::HardSigmoid => &[],
        }
    }
}

impl Activation {
    pub fn name(&self) -> &'static str {
        ActivationKind::from(self).name()
    }
}

pub const LEAKY_RELU_ALPHA: Number = Number {
    name: "alpha",
    default: 0.01,
    min: 0.0,
    max: 1.0,
};

/// The saturation value of elu's negative side is −alpha; 10 is far beyond any published use.
pub const ELU_ALPHA: Number = Number {
    name: "alpha",
    default: 1.0,
    min: 0.0,
    max: 10.0,
};

/// The class weights of `cross_entropy` and `binary_cross_entropy`, one per class in the order the data encodes classes
/// (sorted labels), with the list's place in the file for diagnostics about its length.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassWeights {
    pub weights: Vec<f64>,
    pub span: crate::diag::Span,
}

#[derive(Clone, Debug, PartialEq, EnumDiscriminants)]
#[strum_discriminants(name(LossKind), derive(EnumIter))]
pub enum Loss {
    Mse,
    CrossEntropy {
        /// Targets become y·(1 − ε) + ε/K, K the number of classes (2 for a sigmoid output).
        label_smoothing: f64,
        class_weights: Option<ClassWeights>,
    },
    /// Mean absolute error over every element.
    Mae,
    /// ½d² for |d| ≤ delta, delta·(|d| − ½delta) beyond, mean over every element.
    Huber {
        delta: f64,
    },
    /// Two classes from one sigmoid unit, computed from its logit: `cross_entropy` with a sigmoid
    /// output, by name, with the same options.
    BinaryCrossEntropy {
        /// Targets become y·(1 − ε) + ε/2.
        label_smoothing: f64,
        class_weights: Option<ClassWeights>,
    },
}

impl LossKind {
    /// The name in a `.nn` file: the one table of loss names.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::Mae => "mae",
            LossKind::Huber => "huber",
            LossKind::BinaryCrossEntropy => "binary_cross_entropy",
        }
    }

    /// Whether the target is classes (rather than values).
    pub fn is_classification(self) -> bool {
        match self {
            LossKind::CrossEntropy | LossKind::BinaryCrossEntropy => true,
            LossKind::Mse | LossKind::Mae | LossKind::Huber => false,
        }
    }
}

impl Loss {
    pub fn kind(&self) -> LossKind {
        LossKind::from(self)
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// `cross_entropy` with no options: the loss a plain `loss: cross_entropy` means.
    pub const fn cross_entropy() -> Loss {
        Loss::CrossEntropy {
            label_smoothing: 0.0,
            class_weights: None,
        }
    }

    /// The label smoothing and class weights of either cross-entropy; None for other losses.
    pub fn class_options(&self) -> Option<(f64, Option<&ClassWeights>)> {
        match self {
            Loss::CrossEntropy {
                label_smoothing,
                class_weights,
            }
            | Loss::BinaryCrossEntropy {
                label_smoothing,
                class_weights,
            } => Some((*label_smoothing, class_weights.as_ref())),
            Loss::Mse | Loss::Mae | Loss::Huber { .. } => None,
        }
    }
}

pub const HUBER_DELTA: Number = Number {
    name: "delta",
    default: 1.0,
    min: 1e-6,
    max: 1e6,
};

/// At ε = 1 every target is uniform and nothing is learned, so the range stops short of it.
pub const LABEL_SMOOTHING: Number = Number {
    name: "label_smoothing",
    default: 0.0,
    min: 0.0,
    max: 0.999,
};

/// The name of the cross-entropies' list of class weights.
pub const CLASS_WEIGHTS: &str = "class_weights";

/// Each class weight: not negative (a negative weight would reward mistakes), and finite.
pub const CLASS_WEIGHT: Number = Number {
    name: "class_weights",
    default: 1.0,
    min: 0.0,
    max: 1e6,
};

#[derive(Clone, Copy, Debug, PartialEq, EnumDiscriminants)]
#[strum_discriminants(name(OptimizerKind), derive(EnumIter))]
pub enum Optimizer {
    Sgd {
        learning_rate: f64,
        momentum: f64,
        /// Nesterov momentum (PyTorch's form, needs a momentum above 0).
        nesterov: bool,
    },
    Adam {
        learning_rate: f64,
        beta1: f64,
        beta2: f64,
        epsilon: f64,
    },
    Rmsprop {
        learning_rate: f64,
        rho: f64,
        epsilon: f64,
        momentum: f64,
        /// Divide by the running variance instead of the running mean square (Keras, TF).
        centered: bool,
    },
    Adagrad {
        learning_rate: f64,
        initial_accumulator: f64,
        epsilon: f64,
    },
    /// Adam with weight decay decoupled from the gradient (Loshchilov & Hutter; PyTorch, Keras).
    Adamw {
        learning_rate: f64,
        beta1: f64,
        beta2: f64,
        epsilon: f64,
        weight_decay: f64,
    },
}

/// The largest learning rate a file may give: far above any rate that trains (inputs and
/// regression targets are standardized), so a larger one is a typo.
pub(super) const MAX_LEARNING_RATE: f64 = 10.0;

const fn option(name: &'static str, default: f64, min: f64, max: f64) -> Number {
    Number {
        name,
        default,
        min,
        max,
    }
}

const SGD_OPTIONS: &[Number] = &[
    option("learning_rate", 0.01, 0.0, MAX_LEARNING_RATE),
    option("momentum", 0.0, 0.0, 0.999999),
];

const ADAM_OPTIONS: &[Number] = &[
    option("learning_rate", 0.001, 0.0, MAX_LEARNING_RATE),
    option("beta1", 0.9, 0.0, 0.999999),
    option("beta2", 0.999, 0.0, 0.999999999),
    option("epsilon", 1e-8, 1e-30, 1.0),
];

const RMSPROP_OPTIONS: &[Number] = &[
    option("learning_rate", 0.001, 0.0, MAX_LEARNING_RATE),
    option("rho", 0.9, 0.0, 0.999999999),
    option("epsilon", 1e-7, 1e-30, 1.0),
    option("momentum", 0.0, 0.0, 0.999999),
];

const ADAGRAD_OPTIONS: &[Number] = &[
    option("learning_rate", 0.001, 0.0, MAX_LEARNING_RATE),
    option("initial_accumulator", 0.1, 0.0, 1e6),
    option("epsilon", 1e-7, 1e-30, 1.0),
];

const ADAMW_OPTIONS: &[Number] = &[
    option("learning_rate", 0.001, 0.0, MAX_LEARNING_RATE),
    option("beta1", 0.9, 0.0, 0.999999),
    option("beta2", 0.999, 0.0, 0.999999999),
    option("epsilon", 1e-8, 1e-30, 1.0),
    option("weight_decay", 0.004, 0.0, 1.0),
];

pub const NESTEROV: Flag = Flag {
    name: "nesterov",
    default: false,
};
pub const CENTERED: Flag = Flag {
    name: "centered",
    default: false,
};

impl OptimizerKind {
    /// The name in a `.nn` file: the one table of optimizer names.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Rmsprop => "rmsprop",
            OptimizerKind::Adagrad => "adagrad",
            OptimizerKind::Adamw => "adamw",
        }
    }

    /// Every option the optimizer takes, with its default and range.
    pub fn options(self) -> &'static [Number] {
        match self {
            OptimizerKind::Sgd => SGD_OPTIONS,
            OptimizerKind::Adam => ADAM_OPTIONS,
            OptimizerKind::Rmsprop => RMSPROP_OPTIONS,
            OptimizerKind::Adagrad => ADAGRAD_OPTIONS,
            OptimizerKind::Adamw => ADAMW_OPTIONS,
        }
    }

    /// Every boolean option the optimizer takes, with its default.
    pub fn flags(self) -> &'static [Flag] {
        match self {
            OptimizerKind::Sgd => &[NESTEROV],
            OptimizerKind::Rmsprop => &[CENTERED],
            OptimizerKind::Adam | OptimizerKind::Adagrad | OptimizerKind::Adamw => &[],
        }
    }

    /// The optimizer of this kind with option values in the order of `options`, and flags in the
    /// order of `flags`.
    pub(super) fn with_options(self, v: &[f64], f: &[bool]) -> Optimizer {
        match self {
            OptimizerKind::Sgd => Optimizer::Sgd {
                learning_rate: v[0],
                momentum: v[1],
                nesterov: f[0],
            },
            OptimizerKind::Adam => Optimizer::Adam {
                learning_rate: v[0],
                beta1: v[1],
                beta2: v[2],
                epsilon: v[3],
            },
            OptimizerKind::Rmsprop => Optimizer::Rmsprop {
                learning_rate: v[0],
                rho: v[1],
                epsilon: v[2],
                momentum: v[3],
                centered: f[0],
            },
            OptimizerKind::Adagrad => Optimizer::Adagrad {
                learning_rate: v[0],
                initial_accumulator: v[1],
                epsilon: v[2],
            },
            OptimizerKind::Adamw => Optimizer::Adamw {
                learning_rate: v[0],
                beta1: v[1],
                beta2: v[2],
                epsilon: v[3],
                weight_decay: v[4],
            },
        }
    }
}

impl Optimizer {
    pub fn name(&self) -> &'static str {
        OptimizerKind::from(self).name()
    }

    /// Every option with its value, in the order of `OptimizerKind::options`.
    pub fn options(&self) -> Vec<(&'static str, f64)> {
        let values = match *self {
            Optimizer::Sgd {
                learning_rate,
                momentum,
                ..
            } => vec![learning_rate, momentum],
            Optimizer::Adam {
                learning_rate,
                beta1,
                beta2,
                epsilon,
            } => vec![learning_rate, beta1, beta2, epsilon],
            Optimizer::Rmsprop {
                learning_rate,
                rho,
                epsilon,
                momentum,
                ..
            } => vec![learning_rate, rho, epsilon, momentum],
            Optimizer::Adagrad {
                learning_rate,
                initial_accumulator,
                epsilon,
            } => vec![learning_rate, initial_accumulator, epsilon],
            Optimizer::Adamw {
                learning_rate,
                beta1,
                beta2,
                epsilon,
                weight_decay,
            } => vec![learning_rate, beta1, beta2, epsilon, weight_decay],
        };
        let table = OptimizerKind::from(self).options();
        assert_eq!(
            table.len(),
            values.len(),
            "invariant: an optimizer has one value per option in its table"
        );
        table.iter().map(|o| o.name).zip(values).collect()
    }

    /// Every boolean option with its value, in the order of `OptimizerKind::flags`.
    pub fn flags(&self) -> Vec<(&'static str, bool)> {
        let values = match *self {
            Optimizer::Sgd { nesterov, .. } => vec![nesterov],
            Optimizer::Rmsprop { centered, .. } => vec![centered],
            Optimizer::Adam { .. } | Optimizer::Adagrad { .. } | Optimizer::Adamw { .. } => {
                vec![]
            }
        };
        let table = OptimizerKind::from(self).flags();
        assert_eq!(
            table.len(),
            values.len(),
            "invariant: an optimizer has one value per flag in its table"
        );
        table.iter().map(|f| f.name).zip(values).collect()
    }

    /// The base learning rate η (what a schedule scales), the first option of every optimizer.
    pub fn learning_rate(&self) -> f64 {
        let (name, rate) = self.options()[0];
        assert_eq!(
            name, "learning_rate",
            "invariant: every optimizer's first option is its learning rate"
        );
        rate
    }

    /// The optimizer of `kind` with every option at its default.
    pub fn default_of(kind: OptimizerKind) -> Optimizer {
        let defaults: Vec<f64> = kind.options().iter().map(|o| o.default).collect();
        let flags: Vec<bool> = kind.flags().iter().map(|f| f.default).collect();
        kind.with_options(&defaults, &flags)
    }
}
