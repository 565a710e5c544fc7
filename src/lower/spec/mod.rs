//! The resolved meaning of a `.nn` file: a `ModelSpec` with every name looked up, every option
//! checked and every default filled in. Reading the AST happens here and nowhere else.

mod data;
pub mod options;
mod positional;
mod settings;
mod train;
mod vocabulary;

pub use data::{
    categorical_list, decimal, delimiter, ignore_list, markers, missing, outliers, scaling, unseen,
    DataSpec, SPLIT_SEED,
};
pub use positional::positional_names;
pub use settings::{BATCH_SIZE, EPOCHS, SEED, TEST_FRACTION, VALIDATION_FRACTION};
pub use train::{EarlyStopping, Monitor};
pub use vocabulary::{
    Activation, ActivationKind, Loss, Optimizer, OptimizerKind, LEAKY_RELU_ALPHA,
};

use settings::{INPUT_WIDTH, UNITS};
use strum::IntoEnumIterator;
use train::resolve_train;

use crate::diag::{Diagnostic, Source, Span};
use crate::syntax::ast::{Block, Call, Entry, File, Ident, Item, Value};

use options::{unknown_help, Number, Options};

#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    /// Declared width, or `None` to take it from the data.
    pub width: Option<usize>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DenseSpec {
    /// The width; for an `output` layer written without one, 0 until lowering takes it from the
    /// target (`units_declared` is then false).
    pub units: usize,
    pub units_declared: bool,
    pub activation: Activation,
    /// Written as `output(...)` rather than `dense(...)`.
    pub is_output: bool,
    /// The whole `dense(...)` call.
    pub span: Span,
    /// The activation's text, for diagnostics about it (the call when not given).
    pub activation_span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub early_stopping: Option<EarlyStopping>,
}

#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub source: Source,
    pub input: InputSpec,
    pub layers: Vec<DenseSpec>,
    pub loss: Loss,
    pub loss_span: Span,
    pub optimizer: Optimizer,
    pub optimizer_span: Span,
    pub data: DataSpec,
    pub train: TrainSpec,
    pub model_span: Span,
}

/// Evaluation runs batches of at least this many rows: validation and test sets are evaluated in
/// few calls even when training uses small batches.
pub const MIN_EVAL_BATCH: usize = 256;

impl TrainSpec {
    /// The largest batch the evaluation function is compiled for.
    pub fn eval_batch(&self) -> usize {
        self.batch_size.max(MIN_EVAL_BATCH)
    }
}

const TOP_LEVEL: &[&str] = &["model", "data", "train", "loss", "optimizer"];
const LAYERS: &[&str] = &["input", "dense", "output"];

pub(super) fn err(
    source: &Source,
    code: &'static str,
    msg: impl Into<String>,
    span: Span,
    label: &str,
    help: impl Into<String>,
) -> Diagnostic {
    Diagnostic::new(code, msg)
        .with_source(source)
        .with_label(span, label)
        .with_help(help)
}

/// Resolve a parsed file into a `ModelSpec`.
pub fn resolve(source: &Source, file: &File) -> Result<ModelSpec, Diagnostic> {
    let mut model: Option<&Block> = None;
    let mut data: Option<&Block> = None;
    let mut train: Option<&Block> = None;
    let mut loss: Option<&Value> = None;
    let mut optimizer: Option<&Value> = None;

    for item in &file.items {
        let (name, span) = match item {
            Item::Block(b) => (&b.name, b.span),
            Item::Setting(s) => (&s.key, s.span),
        };
        let slot_taken = match (name.name.as_str(), item) {
            ("model", Item::Block(b)) => model.replace(b).is_some(),
            ("data", Item::Block(b)) => data.replace(b).is_some(),
            ("train", Item::Block(b)) => train.replace(b).is_some(),
            ("loss", Item::Setting(s)) => loss.replace(&s.value).is_some(),
            ("optimizer", Item::Setting(s)) => optimizer.replace(&s.value).is_some(),
            ("model" | "data" | "train", Item::Setting(_)) => {
                return Err(err(
                    source,
                    "nnc::lower::expected_block",
                    format!("`{}` is a block", name.name),
                    span,
                    "written as a setting",
                    format!("write `{} {{ ... }}`", name.name),
                ))
            }
            ("loss" | "optimizer", Item::Block(_)) => {
                return Err(err(
                    source,
                    "nnc::lower::expected_setting",
                    format!("`{}` is a setting", name.name),
                    span,
                    "written as a block",
                    format!("write `{}: <name>`", name.name),
                ))
            }
            _ => {
                return Err(err(
                    source,
                    "nnc::lower::unknown_item",
                    format!("unknown top-level item `{}`", name.name),
                    name.span,
                    "not known at the top level",
                    unknown_help(&name.name, "items", TOP_LEVEL),
                ))
            }
        };
        if slot_taken {
            return Err(err(
                source,
                "nnc::lower::duplicate_item",
                format!("`{}` is given twice", name.name),
                name.span,
                "given again here",
                "one experiment per file: keep one of them",
            ));
        }
    }

    let Some(model) = model else {
        return Err(Diagnostic::new(
            "nnc::lower::missing_model",
            "the file has no `model { ... }` block",
        )
        .with_source(source)
        .with_label(
            crate::diag::Span::new(0, 0),
            "expected somewhere in this file",
        )
        .with_help("add a model, e.g. `model { input(4) output(3, activation: softmax) }`"));
    };
    let (input, layers) = resolve_model(source, model)?;
    let Some(loss_value) = loss else {
        return Err(err(
            source,
            "nnc::lower::missing_loss",
            "the file names no loss",
            model.name.span,
            "this model needs a loss to train",
            "add `loss: cross_entropy` (classification) or `loss: mse` (regression)",
        ));
    };
    let loss_kind = resolve_loss(source, loss_value)?;
    let (optimizer_kind, optimizer_span) = match optimizer {
        Some(v) => (resolve_optimizer(source, v)?, v.span),
        None => (Optimizer::default_of(OptimizerKind::Adam), model.name.span),
    };
    Ok(ModelSpec {
        source: source.clone(),
        input,
        layers,
        loss: loss_kind,
        loss_span: loss_value.span,
        optimizer: optimizer_kind,
        optimizer_span,
        data: data::resolve_data(source, data)?,
        train: resolve_train(source, train, (loss_kind, loss_value.span))?,
        model_span: model.name.span,
    })
}

pub(super) fn settings_of<'a>(
    source: &Source,
    block: &'a Block,
) -> Result<Vec<(&'a Ident, &'a Value)>, Diagnostic> {
    block
        .entries
        .iter()
        .map(|e| match e {
            Entry::Setting(s) => Ok((&s.key, &s.value)),
            Entry::Call(c) => Err(err(
                source,
                "nnc::lower::expected_setting",
                format!(
                    "`{}` holds settings (`name: value`), not calls",
                    block.name.name
                ),
                c.span,
                "a call",
                format!("write e.g. `{}: ...`", c.name.name),
            )),
            Entry::Block(b) => Err(err(
                source,
                "nnc::lower::expected_setting",
                format!(
                    "`{}` holds settings (`name: value`), not blocks",
                    block.name.name
                ),
                b.span,
                "a block",
                "only the data block holds blocks (`column NAME { ... }`)",
            )),
        })
        .collect()
}

fn resolve_model(
    source: &Source,
    model: &Block,
) -> Result<(InputSpec, Vec<DenseSpec>), Diagnostic> {
    let mut input: Option<InputSpec> = None;
    let mut layers = Vec::new();
    for entry in &model.entries {
        let call = match entry {
            Entry::Call(c) => c,
            Entry::Setting(s) => {
                return Err(err(
                    source,
                    "nnc::lower::expected_layer",
                    "the model block holds layers, not settings",
                    s.span,
                    "a setting",
                    "write layers as calls, e.g. `dense(16, activation: relu)`",
                ))
            }
            Entry::Block(b) => {
                return Err(err(
                    source,
                    "nnc::lower::expected_layer",
                    "the model block holds layers, not blocks",
                    b.span,
                    "a block",
                    "write layers as calls, e.g. `dense(16, activation: relu)`",
                ))
            }
        };
        match call.name.name.as_str() {
            "input" => {
                if input.is_some() || !layers.is_empty() {
                    return Err(err(
                        source,
                        "nnc::lower::input_position",
                        "`input` must be the first layer, and only one",
                        call.span,
                        "misplaced input",
                        "declare the input once, before every other layer",
                    ));
                }
                let names = positional::INPUT_POSITIONAL;
                let opts = Options::from_call(source, call, names, names)?;
                let width = match opts.value(INPUT_WIDTH.name) {
                    Some(_) => Some(opts.count(&INPUT_WIDTH)? as usize),
                    None => None,
                };
                input = Some(InputSpec {
                    width,
                    span: call.span,
                });
            }
            "dense" | "output" => {
                if let Some(last) = layers.last().filter(|l: &&DenseSpec| l.is_output) {
                    return Err(err(
                        source,
                        "nnc::lower::layer_after_output",
                        "a layer follows the output layer",
                        call.span,
                        "after the output layer",
                        "`output(...)` is the last layer; move this layer before it, or make it `dense`",
                    )
                    .with_label(last.span, "the output layer"));
                }
                layers.push(resolve_dense(source, call)?)
            }
            other => {
                return Err(err(
                    source,
                    "nnc::lower::unknown_layer",
                    format!("unknown layer `{other}`"),
                    call.name.span,
                    "not a known layer",
                    unknown_help(other, "layers", LAYERS),
                ))
            }
        }
    }
    if layers.is_empty() {
        return Err(err(
            source,
            "nnc::lower::empty_model",
            "the model has no dense or output layer",
            model.span,
            "no layers",
            "add at least the output layer, e.g. `output(3, activation: softmax)`",
        ));
    }
    let input = input.unwrap_or(InputSpec {
        width: None,
        span: model.name.span,
    });
    Ok((input, layers))
}

/// `dense(units, activation: ...)`, or `output(...)` whose units may be left to the data.
fn resolve_dense(source: &Source, call: &Call) -> Result<DenseSpec, Diagnostic> {
    let opts = Options::from_call(
        source,
        call,
        positional::DENSE_POSITIONAL,
        &[UNITS.name, "activation"],
    )?;
    let is_output = call.name.name == "output";
    let units_declared = opts.value(UNITS.name).is_some() || !is_output;
    let units = if units_declared {
        opts.required_count(&UNITS, "give the layer a width, e.g. `dense(16)`")? as usize
    } else {
        0
    };
    let (activation, activation_span) = match opts.call("activation")? {
        Some(c) => (resolve_activation(source, c)?, c.span),
        None => (Activation::Linear, call.span),
    };
    Ok(DenseSpec {
        units,
        units_declared,
        activation,
        is_output,
        span: call.span,
        activation_span,
    })
}

/// The options of a named thing (an activation, an optimizer), positional in table order, each
/// within its range or at its default.
fn numbers_of(source: &Source, call: &Call, table: &[Number]) -> Result<Vec<f64>, Diagnostic> {
    let names: Vec<&'static str> = table.iter().map(|o| o.name).collect();
    let opts = Options::from_call(source, call, &names, &names)?;
    table.iter().map(|o| opts.number(o)).collect()
}

/// The entry of a name table (the variants of `kinds`, named by `name_of`) that `call` names, or
/// the unknown-name diagnostic `code` with a suggestion and the list of known `what`s.
fn lookup<K: Copy>(
    source: &Source,
    call: &Call,
    kinds: impl Iterator<Item = K> + Clone,
    name_of: fn(K) -> &'static str,
    code: &'static str,
    what: (&str, &str),
) -> Result<K, Diagnostic> {
    let name = call.name.name.as_str();
    if let Some(kind) = kinds.clone().find(|&k| name_of(k) == name) {
        return Ok(kind);
    }
    let known: Vec<&str> = kinds.map(name_of).collect();
    let (one, many) = what;
    Err(err(
        source,
        code,
        format!("unknown {one} `{name}`"),
        call.name.span,
        &format!("not a known {one}"),
        unknown_help(name, many, &known),
    ))
}

fn resolve_activation(source: &Source, call: &Call) -> Result<Activation, Diagnostic> {
    let kind = lookup(
        source,
        call,
        ActivationKind::iter(),
        ActivationKind::name,
        "nnc::lower::unknown_activation",
        ("activation", "activations"),
    )?;
    let v = numbers_of(source, call, kind.options())?;
    Ok(match kind {
        ActivationKind::Linear => Activation::Linear,
        ActivationKind::Sigmoid => Activation::Sigmoid,
        ActivationKind::Relu => Activation::Relu,
        ActivationKind::LeakyRelu => Activation::LeakyRelu { alpha: v[0] },
        ActivationKind::Tanh => Activation::Tanh,
        ActivationKind::Softmax => Activation::Softmax,
    })
}

fn as_call<'a>(source: &Source, v: &'a Value, what: &str) -> Result<&'a Call, Diagnostic> {
    match &v.kind {
        crate::syntax::ast::ValueKind::Call(c) => Ok(c),
        _ => Err(err(
            source,
            "nnc::lower::wrong_kind",
            format!("expected the name of a {what}, found {}", v.describe()),
            v.span,
            "not a name",
            format!(
                "write the {what}'s name, e.g. `{}`",
                if what == "loss" { "mse" } else { "adam" }
            ),
        )),
    }
}

fn resolve_loss(source: &Source, v: &Value) -> Result<Loss, Diagnostic> {
    let call = as_call(source, v, "loss")?;
    let loss = lookup(
        source,
        call,
        Loss::iter(),
        |l| l.name(),
        "nnc::lower::unknown_loss",
        ("loss", "losses"),
    )?;
    Options::from_call(source, call, &[], &[])?;
    Ok(loss)
}

fn resolve_optimizer(source: &Source, v: &Value) -> Result<Optimizer, Diagnostic> {
    let call = as_call(source, v, "optimizer")?;
    let kind = lookup(
        source,
        call,
        OptimizerKind::iter(),
        OptimizerKind::name,
        "nnc::lower::unknown_optimizer",
        ("optimizer", "optimizers"),
    )?;
    // Optimizer options are named, never positional: `adam(0.9)` would be ambiguous to a reader.
    let table = kind.options();
    let names: Vec<&'static str> = table.iter().map(|o| o.name).collect();
    let opts = Options::from_call(source, call, &[], &names)?;
    let values = table
        .iter()
        .map(|o| opts.number(o))
        .collect::<Result<Vec<f64>, Diagnostic>>()?;
    Ok(kind.with_options(&values))
}

#[cfg(test)]
mod tests {
    use crate::diag::Source;

    fn resolve(text: &str) -> Result<super::ModelSpec, crate::diag::Diagnostic> {
        crate::program::parse_model(&Source::new("m.nn", text))
    }

    #[test]
    fn widths_are_positional_or_named() {
        let spec = resolve("model { input(width: 4) dense(units: 3) }\nloss: mse\n").unwrap();
        assert_eq!((spec.input.width, spec.layers[0].units), (Some(4), 3));
        let err = resolve("model { input(units: 4) dense(3) }\nloss: mse\n").unwrap_err();
        assert_eq!(err.code, "nnc::lower::unknown_option");
    }
}
