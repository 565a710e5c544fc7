//! The resolved meaning of a `.nn` file: a `ModelSpec` with every name looked up, every option
//! checked and every default filled in. Reading the AST happens here and nowhere else.

mod clipping;
mod collect;
mod data;
mod defs;
mod describe;
pub mod loss;
mod names;
pub mod options;
mod positional;
mod regularize;
mod schedule;

mod settings;
mod train;
mod vocabulary;

pub use clipping::{Clipping, CLIP_NORM, CLIP_VALUE};
pub use data::{
    categorical_list, decimal, delimiter, ignore_list, markers, missing, outliers, scaling, unseen,
    DataSpec, SPLIT_SEED,
};
pub use defs::RESERVED;
pub use describe::{block_settings, call_options, describe, OptionDoc, WordDoc};
pub use names::referenced_names;
pub use positional::positional_names;
pub use regularize::{resolve_initializer, Initializer, LayerOptions, Penalty};
pub use schedule::{Schedule, ScheduleKind};

pub use settings::{
    BATCH_SIZE, CHECKPOINT_EVERY, EPOCHS, SEED, TEST_FRACTION, THREADS, VALIDATION_FRACTION,
};
pub use train::{EarlyStopping, Monitor, ALL};
pub use vocabulary::{
    Activation, ActivationKind, ClassWeights, Loss, LossKind, Optimizer, OptimizerKind, CENTERED,
    ELU_ALPHA, HUBER_DELTA, LABEL_SMOOTHING, LEAKY_RELU_ALPHA, NESTEROV, SELU_ALPHA, SELU_LAMBDA,
};

use settings::{INPUT_WIDTH, UNITS};
use strum::IntoEnumIterator;
use train::resolve_train;

use crate::diag::{Diagnostic, Source, Span};
use crate::syntax::ast::{Block, Call, Def, Entry, Expr, ExprArg, File, Ident, Item, Value};

use collect::Errors;
use options::{unknown_help, Number, Options};

#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    /// Declared width, or `None` to take it from the data.
    pub width: Option<usize>,
    pub span: Span,
    /// The standard deviation of the Gaussian noise added to the inputs in training (0: none).
    pub noise: f64,
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
    /// Penalties, dropout, initializers and the bias switch (`regularize`).
    pub options: LayerOptions,
    /// An activation written as math (`def`): then `activation` is `Linear` and the def's result
    /// is applied to the pre-activation instead.
    pub activation_def: Option<DefUse>,
}

/// A use of a `def` by name where a built-in could stand (an activation, a loss): the def's index
/// in `ModelSpec::defs` and the call that names it, with any numeric arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct DefUse {
    pub def: usize,
    pub call: Call,
}

/// One entry of the model block, in order. Each computes a value from the previous entry's value
/// (or from `input`, an explicitly applied value: `dense(32)(x)`), optionally named.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelNode {
    pub kind: NodeKind,
    pub name: Option<Ident>,
    /// `layer(...)(input)`: the value the layer is applied to instead of the previous one.
    pub input: Option<Vec<ExprArg>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// `input(...)` bound to a name (`x = input`).
    Input,
    /// `ModelSpec::layers[i]`.
    Dense(usize),
    /// A layer written as a `def`: its index and the call's arguments after the input.
    Def { def: usize, args: Vec<ExprArg> },
    /// Math over earlier named values (`r = relu(h + f)`).
    Math(Expr),
    /// Batch normalization: batch statistics in training, running ones otherwise.
    BatchNorm { momentum: f64, epsilon: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    pub epochs: usize,
    /// Rows per step. With `full_batch` (`batch_size: all`), the training split's size once the
    /// data is known (`use_rows`), and the default until then.
    pub batch_size: usize,
    /// `batch_size: all`: every step sees the whole training split.
    pub full_batch: bool,
    pub seed: u64,
    pub early_stopping: Option<EarlyStopping>,
    /// `threads:`, the threads that run each step together; `None` lets the executor choose
    /// (the cores available, for a step large enough to share).
    pub threads: Option<usize>,
    /// `monitor:`, whether the step also computes the training statistics (`crate::monitor`).
    pub monitor: bool,
    /// `checkpoint_every:`, the epochs between two checkpoints of a saved run.
    pub checkpoint_every: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub source: Source,
    pub input: InputSpec,
    pub layers: Vec<DenseSpec>,
    /// The functions and layers written as math, in file order, then the prelude's.
    pub defs: Vec<Def>,
    /// The index in `defs` of the first of the prelude's.
    pub prelude_start: usize,
    /// The model block's entries after `input`, in order: for a plain stack, `Dense(0)`,
    /// `Dense(1)`, ... without names.
    pub nodes: Vec<ModelNode>,
    pub loss: Loss,
    /// A loss written as math: then `loss` is `Mse` only as a placeholder.
    pub loss_def: Option<DefUse>,
    pub loss_span: Span,
    pub optimizer: Optimizer,
    pub optimizer_span: Span,
    /// The optimizer's learning-rate schedule (`Schedule::Constant` without one).
    pub schedule: Schedule,
    /// The optimizer's gradient clipping (none by default).
    pub clipping: Clipping,
    pub data: DataSpec,
    pub train: TrainSpec,
    pub model_span: Span,
    /// The top-level `regularization` (no penalty when absent); a layer's own `l1`/`l2` win.
    pub regularization: Penalty,
}

/// Evaluation runs batches of at least this many rows: validation and test sets are evaluated in
/// few calls even when training uses small batches.
pub const MIN_EVAL_BATCH: usize = 256;

impl TrainSpec {
    /// The largest batch the evaluation function is compiled for.
    pub fn eval_batch(&self) -> usize {
        self.batch_size.max(MIN_EVAL_BATCH)
    }

    /// With `batch_size: all`, make the batch the training split of `rows` rows (at least 1, so
    /// that an empty split still compiles). Called once the data is loaded, before the program is
    /// built, so that the size checks and the compiled step see the real batch.
    pub fn use_rows(&mut self, rows: usize) {
        if self.full_batch {
            self.batch_size = rows.max(1);
        }
    }
}

const TOP_LEVEL: &[&str] = &[
    "model",
    "data",
    "train",
    "loss",
    "optimizer",
    "regularization",
];
const LAYERS: &[&str] = &["input", "dense", "output", "batchnorm"];

/// Every word the language gives a meaning of its own, by kind, for editors (highlighting,
/// completion) and the tests that keep them in step with the language. Layers include the
/// prelude's (`layernorm`); activations include their aliases.
pub fn vocabulary() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut activations: Vec<&'static str> =
        ActivationKind::iter().map(ActivationKind::name).collect();
    activations.extend(ActivationKind::iter().flat_map(|k| k.aliases().iter().copied()));
    let mut layers = LAYERS.to_vec();
    layers.extend(defs::PRELUDE_DEFS);
    vec![
        ("keywords", vec!["def", "true", "false"]),
        ("items", TOP_LEVEL.to_vec()),
        ("layers", layers),
        ("activations", activations),
        ("losses", LossKind::iter().map(LossKind::name).collect()),
        (
            "optimizers",
            OptimizerKind::iter().map(OptimizerKind::name).collect(),
        ),
        (
            "schedules",
            ScheduleKind::iter().map(ScheduleKind::name).collect(),
        ),
        (
            "initializers",
            regularize::INITIALIZERS.iter().map(|(n, _)| *n).collect(),
        ),
        ("regularizers", regularize::REGULARIZERS.to_vec()),
    ]
}

/// `batchnorm(momentum: ...)`: how much of the running statistics each step keeps (Keras' default).
pub const BATCHNORM_MOMENTUM: Number = Number {
    name: "momentum",
    default: 0.99,
    min: 0.0,
    max: 0.999999,
};

/// `batchnorm(epsilon: ...)`: added to the variance before its square root (Keras' default).
pub const BATCHNORM_EPSILON: Number = Number {
    name: "epsilon",
    default: 0.001,
    min: 1e-12,
    max: 1.0,
};

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
    resolve_all(source, file).map_err(|mut errors| errors.remove(0))
}

/// `resolve`, reporting every independent error of the file rather than the first: each top-level
/// item that is misplaced, unknown or repeated, and the errors of the model, the loss, the
/// optimizer, the data block, the train block and the regularization, which are resolved apart.
/// What depends on a part that failed is not checked (whether early stopping's monitor fits the
/// loss, when the loss failed).
/// The errors come in the order `resolve` would meet them, so its error is the first.
pub fn resolve_all(source: &Source, file: &File) -> Result<ModelSpec, Vec<Diagnostic>> {
    let mut model: Option<&Block> = None;
    let mut data: Option<&Block> = None;
    let mut train: Option<&Block> = None;
    let mut loss: Option<&Value> = None;
    let mut optimizer: Option<&Value> = None;
    let mut regularization: Option<&Value> = None;
    let mut errors: Vec<Diagnostic> = Vec::new();

    let (defs, prelude_start) = defs::resolve_defs(source, file).map_err(|e| vec![e])?;
    for item in &file.items {
        let (name, span) = match item {
            Item::Block(b) => (&b.name, b.span),
            Item::Setting(s) => (&s.key, s.span),
            Item::Def(_) => continue,
        };
        let slot_taken = match (name.name.as_str(), item) {
            ("model", Item::Block(b)) => model.replace(b).is_some(),
            ("data", Item::Block(b)) => data.replace(b).is_some(),
            ("train", Item::Block(b)) => train.replace(b).is_some(),
            ("loss", Item::Setting(s)) => loss.replace(&s.value).is_some(),
            ("optimizer", Item::Setting(s)) => optimizer.replace(&s.value).is_some(),
            ("regularization", Item::Setting(s)) => regularization.replace(&s.value).is_some(),
            ("model" | "data" | "train", Item::Setting(_)) => {
                errors.push(err(
                    source,
                    "nnc::lower::expected_block",
                    format!("`{}` is a block", name.name),
                    span,
                    "written as a setting",
                    format!("write `{} {{ ... }}`", name.name),
                ));
                continue;
            }
            ("loss" | "optimizer" | "regularization", Item::Block(_)) => {
                errors.push(err(
                    source,
                    "nnc::lower::expected_setting",
                    format!("`{}` is a setting", name.name),
                    span,
                    "written as a block",
                    format!("write `{}: <name>`", name.name),
                ));
                continue;
            }
            _ => {
                errors.push(err(
                    source,
                    "nnc::lower::unknown_item",
                    format!("unknown top-level item `{}`", name.name),
                    name.span,
                    "not known at the top level",
                    unknown_help(&name.name, "items", TOP_LEVEL),
                ));
                continue;
            }
        };
        if slot_taken {
            errors.push(err(
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
        errors.push(
            Diagnostic::new(
                "nnc::lower::missing_model",
                "the file has no `model { ... }` block",
            )
            .with_source(source)
            .with_label(
                crate::diag::Span::new(0, 0),
                "expected somewhere in this file",
            )
            .with_help("add a model, e.g. `model { input(4) output(3, activation: softmax) }`"),
        );
        return Err(errors);
    };
    // Every part below is resolved even when an earlier one failed; `keep` keeps its error.
    fn keep<T, E: Into<Vec<Diagnostic>>>(
        errors: &mut Vec<Diagnostic>,
        r: Result<T, E>,
    ) -> Option<T> {
        r.map_err(|e| errors.extend(e.into())).ok()
    }
    errors.extend(names::unknown_names_in_defs(source, &defs, prelude_start));
    let resolved_model = keep(&mut errors, resolve_model(source, model, &defs));
    let resolved_loss = match loss {
        Some(loss_value) => keep(
            &mut errors,
            defs::def_use(source, loss_value, &defs)
                .map_err(Vec::from)
                .and_then(|loss_def| {
                    let kind = match loss_def {
                        Some(_) => Loss::Mse,
                        None => loss::resolve_loss(source, loss_value)?,
                    };
                    Ok((loss_value, loss_def, kind))
                }),
        ),
        None => keep(
            &mut errors,
            Err(err(
                source,
                "nnc::lower::missing_loss",
                "the file names no loss",
                model.name.span,
                "this model needs a loss to train",
                "add `loss: cross_entropy` (classification) or `loss: mse` (regression)",
            )),
        ),
    };
    let resolved_optimizer = match optimizer {
        Some(v) => keep(&mut errors, resolve_optimizer(source, v)).map(|o| (o, v.span)),
        None => Some((
            (
                Optimizer::default_of(OptimizerKind::Adam),
                Schedule::Constant,
                Clipping::default(),
            ),
            model.name.span,
        )),
    };
    let resolved_data = keep(&mut errors, data::resolve_data(source, data));
    let loss_of_train = resolved_loss
        .as_ref()
        .map(|(loss_value, _, kind)| (kind.kind(), loss_value.span));
    let resolved_train = keep(&mut errors, resolve_train(source, train, loss_of_train));
    let resolved_regularization = match regularization {
        Some(v) => keep(&mut errors, regularize::resolve_regularization(source, v)),
        None => Some(Penalty::default()),
    };
    let (
        Some((input, layers, nodes)),
        Some((loss_value, loss_def, loss_kind)),
        Some(((optimizer_kind, schedule, clipping), optimizer_span)),
        Some(data),
        Some(train),
        Some(regularization),
    ) = (
        resolved_model,
        resolved_loss,
        resolved_optimizer,
        resolved_data,
        resolved_train,
        resolved_regularization,
    )
    else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ModelSpec {
        source: source.clone(),
        input,
        layers,
        defs,
        prelude_start,
        nodes,
        loss: loss_kind,
        loss_def,
        loss_span: loss_value.span,
        optimizer: optimizer_kind,
        optimizer_span,
        schedule,
        clipping,
        data,
        train,
        model_span: model.name.span,
        regularization,
    })
}

/// The data block and the loss's kind of a file whose other parts need not resolve, for checking
/// its data file alone (what `nnc check` still reports when the model has errors): `None` for a
/// part that is absent or does not resolve (a loss written as a def is a loss of values).
pub fn data_and_loss(source: &Source, file: &File) -> (Option<DataSpec>, Option<LossKind>) {
    let setting = |key: &str| {
        file.items.iter().find_map(|i| match i {
            Item::Setting(s) if s.key.name == key => Some(&s.value),
            _ => None,
        })
    };
    let data = file.items.iter().find_map(|i| match i {
        Item::Block(b) if b.name.name == "data" => Some(b),
        _ => None,
    });
    let data = data.and_then(|b| data::resolve_data(source, Some(b)).ok());
    let loss = setting("loss").and_then(|v| {
        let (defs, _) = defs::resolve_defs(source, file).ok()?;
        match defs::def_use(source, v, &defs).ok()? {
            Some(_) => Some(LossKind::Mse),
            None => loss::resolve_loss(source, v).ok().map(|l| l.kind()),
        }
    });
    (data, loss)
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
            Entry::Binding(b) => Err(binding_outside_model(source, block, b)),
        })
        .collect()
}

/// A binding (`name = ...`) in a block other than `model`.
pub(super) fn binding_outside_model(
    source: &Source,
    block: &Block,
    b: &crate::syntax::ast::Binding,
) -> Diagnostic {
    err(
        source,
        "nnc::lower::expected_setting",
        format!(
            "`{}` holds settings (`name: value`), not bindings",
            block.name.name
        ),
        b.span,
        "a binding",
        format!(
            "write `{}: ...`; named values (`h = dense(64)`) belong in the model block",
            b.name.name
        ),
    )
}

/// What a model entry's call is: a layer to apply (built in or a def applied to the previous
/// value), or math.
enum Entered<'a> {
    Layer(Call, Option<Vec<ExprArg>>),
    Math(&'a Expr),
}

/// A binding's right side: a call of a layer, or of a def given one positional argument fewer
/// than it takes (the previous value is then its first), is a layer; anything else is math.
fn entered<'a>(source: &Source, value: &'a Expr, defs: &[Def]) -> Result<Entered<'a>, Diagnostic> {
    let crate::syntax::ast::ExprKind::Call {
        name,
        args,
        applied_to,
        ..
    } = &value.kind
    else {
        return Ok(Entered::Math(value));
    };
    let is_layer = match defs::find(defs, &name.name) {
        Some(d) => {
            let positional = args
                .iter()
                .filter(|a| matches!(a, ExprArg::Positional(_)))
                .count();
            let required = defs[d]
                .params
                .iter()
                .filter(|p| p.default.is_none())
                .count();
            applied_to.is_some() || positional < required
        }
        None => LAYERS.contains(&name.name.as_str()),
    };
    if !is_layer {
        return Ok(Entered::Math(value));
    }
    let call_end = match applied_to {
        // The call without `(input)`: up to the parenthesis that opens the input.
        Some(input) => {
            let before = match input.first() {
                Some(ExprArg::Positional(e) | ExprArg::Named { value: e, .. }) => e.span.start,
                None => value.span.end,
            };
            source.text[..before]
                .rfind('(')
                .map_or(value.span.end, |open| source.text[..open].trim_end().len())
        }
        None => value.span.end,
    };
    let call_span = Span::new(value.span.start, call_end);
    let Some(args) = crate::syntax::ast::args_to_values(args) else {
        return Err(err(
            source,
            "nnc::lower::wrong_kind",
            format!("the options of `{}` are values, not math", name.name),
            call_span,
            "math in a layer's options",
            "give layer options as numbers and names, e.g. `dense(64, activation: relu)`",
        ));
    };
    Ok(Entered::Layer(
        Call {
            name: name.clone(),
            args,
            span: call_span,
        },
        applied_to.clone(),
    ))
}

fn resolve_model(
    source: &Source,
    model: &Block,
    defs: &[Def],
) -> Result<(InputSpec, Vec<DenseSpec>, Vec<ModelNode>), Vec<Diagnostic>> {
    let mut input: Option<InputSpec> = None;
    let mut layers: Vec<DenseSpec> = Vec::new();
    let mut nodes: Vec<ModelNode> = Vec::new();
    let mut names: std::collections::HashMap<String, Span> = Default::default();
    // Entries are resolved apart: an error in one is reported and the next is still checked.
    let mut errors: Vec<Diagnostic> = Vec::new();
    // Whether an entry other than `input` came before (resolved or not): `input` must be first.
    let mut after_first = false;
    let mut used_names = names::ModelNames::new(source, defs);
    for entry in &model.entries {
        let is_input = match entry {
            Entry::Call(c) => c.name.name == "input",
            Entry::Binding(b) => matches!(
                &b.value.kind,
                crate::syntax::ast::ExprKind::Call { name, .. } if name.name == "input"
            ),
            _ => false,
        };
        let resolved = resolve_entry(
            source,
            entry,
            defs,
            after_first,
            (&mut input, &mut layers, &mut nodes, &mut names),
        );
        match resolved {
            Ok(true) => used_names.check(nodes.last().expect("invariant: a node was added")),
            Ok(false) => {}
            Err(e) => errors.extend(e),
        }
        if let Entry::Binding(b) = entry {
            used_names.bind(&b.name.name);
        }
        after_first |= !is_input;
    }
    errors.extend(used_names.into_errors());
    errors.sort_by_key(|e| e.labels.first().map(|l| l.span.start));
    if !errors.is_empty() {
        // The checks of the whole model below would only repeat what a failed entry left out.
        return Err(errors);
    }
    finish_model(source, model, input, layers, nodes)
}

/// What `resolve_model` builds up entry by entry.
type ModelParts<'m> = (
    &'m mut Option<InputSpec>,
    &'m mut Vec<DenseSpec>,
    &'m mut Vec<ModelNode>,
    &'m mut std::collections::HashMap<String, Span>,
);

/// Resolve one entry of the model block into `parts`: a layer, a named value or math. Whether it
/// added a node (an unnamed `input` adds none).
fn resolve_entry(
    source: &Source,
    entry: &Entry,
    defs: &[Def],
    after_first: bool,
    parts: ModelParts<'_>,
) -> Result<bool, Vec<Diagnostic>> {
    let (input, layers, nodes, names) = parts;
    let (name, what) = match entry {
        Entry::Call(c) => (None, Entered::Layer(c.clone(), None)),
        Entry::Binding(b) => (Some(b.name.clone()), entered(source, &b.value, defs)?),
        Entry::Setting(s) => {
            return Err(vec![err(
                source,
                "nnc::lower::expected_layer",
                "the model block holds layers, not settings",
                s.span,
                "a setting",
                "write layers as calls, e.g. `dense(16, activation: relu)`",
            )])
        }
        Entry::Block(b) => {
            return Err(vec![err(
                source,
                "nnc::lower::expected_layer",
                "the model block holds layers, not blocks",
                b.span,
                "a block",
                "write layers as calls, e.g. `dense(16, activation: relu)`",
            )])
        }
    };
    let span = match entry {
        Entry::Binding(b) => b.span,
        Entry::Call(c) => c.span,
        Entry::Setting(_) | Entry::Block(_) => unreachable!("invariant: refused above"),
    };
    if let Some(n) = &name {
        if let Some(first) = names.insert(n.name.clone(), n.span) {
            return Err(err(
                source,
                "nnc::lower::duplicate_name",
                format!("`{}` is bound twice", n.name),
                n.span,
                "bound again here",
                "give each value its own name",
            )
            .with_label(first, "first bound here")
            .into());
        }
    }
    if let Some(last) = layers.last().filter(|l: &&DenseSpec| l.is_output) {
        return Err(err(
            source,
            "nnc::lower::layer_after_output",
            "a layer follows the output layer",
            span,
            "after the output layer",
            "`output(...)` is the last layer; move this layer before it, or make it `dense`",
        )
        .with_label(last.span, "the output layer")
        .into());
    }
    let (call, applied) = match what {
        Entered::Math(expr) => {
            nodes.push(ModelNode {
                kind: NodeKind::Math(expr.clone()),
                name,
                input: None,
                span,
            });
            return Ok(true);
        }
        Entered::Layer(call, applied) => (call, applied),
    };
    let kind = match call.name.name.as_str() {
        "input" => {
            if input.is_some() || after_first {
                return Err(err(
                    source,
                    "nnc::lower::input_position",
                    "`input` must be the first layer, and only one",
                    call.span,
                    "misplaced input",
                    "declare the input once, before every other layer",
                )
                .into());
            }
            let positional = positional::INPUT_POSITIONAL;
            let known = &[INPUT_WIDTH.name, regularize::NOISE.name];
            let opts = Options::from_call_all(source, &call, positional, known)?;
            let width = match opts.value(INPUT_WIDTH.name) {
                Some(_) => Some(opts.count(&INPUT_WIDTH)? as usize),
                None => None,
            };
            *input = Some(InputSpec {
                width,
                span: call.span,
                noise: opts.number(&regularize::NOISE)?,
            });
            if name.is_none() {
                return Ok(false);
            }
            NodeKind::Input
        }
        "dense" | "output" => {
            layers.push(resolve_dense(source, &call, defs)?);
            NodeKind::Dense(layers.len() - 1)
        }
        "batchnorm" => {
            let names = &[BATCHNORM_MOMENTUM.name, BATCHNORM_EPSILON.name];
            let opts = Options::from_call_all(source, &call, &[], names)?;
            NodeKind::BatchNorm {
                momentum: opts.number(&BATCHNORM_MOMENTUM)?,
                epsilon: opts.number(&BATCHNORM_EPSILON)?,
            }
        }
        other => match defs::find(defs, other) {
            Some(def) => NodeKind::Def {
                def,
                args: match &entry {
                    Entry::Binding(b) => match &b.value.kind {
                        crate::syntax::ast::ExprKind::Call { args, .. } => args.clone(),
                        _ => unreachable!("invariant: `entered` found a call"),
                    },
                    _ => call
                        .args
                        .iter()
                        .map(|a| match a {
                            crate::syntax::ast::Arg::Positional(v) => {
                                ExprArg::Positional(value_expr(v))
                            }
                            crate::syntax::ast::Arg::Named { name, value } => ExprArg::Named {
                                name: name.clone(),
                                value: value_expr(value),
                            },
                        })
                        .collect(),
                },
            },
            None => {
                let mut known: Vec<&str> = LAYERS.to_vec();
                known.extend(defs.iter().map(|d| d.name.name.as_str()));
                return Err(err(
                    source,
                    "nnc::lower::unknown_layer",
                    format!("unknown layer `{other}`"),
                    call.name.span,
                    "not a known layer",
                    unknown_help(other, "layers", &known),
                )
                .into());
            }
        },
    };
    nodes.push(ModelNode {
        kind,
        name,
        input: applied,
        span: call.span,
    });
    Ok(true)
}

/// The checks of the model as a whole, once every entry resolved.
fn finish_model(
    source: &Source,
    model: &Block,
    input: Option<InputSpec>,
    layers: Vec<DenseSpec>,
    nodes: Vec<ModelNode>,
) -> Result<(InputSpec, Vec<DenseSpec>, Vec<ModelNode>), Vec<Diagnostic>> {
    if layers.is_empty() {
        return Err(err(
            source,
            "nnc::lower::empty_model",
            "the model has no dense or output layer",
            model.span,
            "no layers",
            "add at least the output layer, e.g. `output(3, activation: softmax)`",
        )
        .into());
    }
    let last = layers.last().expect("invariant: checked above");
    if last.options.dropout > 0.0 {
        return Err(err(
            source,
            "nnc::lower::dropout_on_output",
            "the output layer has dropout",
            last.span,
            "the output layer",
            "dropout belongs on hidden layers: move it to the layer before the output",
        )
        .into());
    }
    let input = input.unwrap_or(InputSpec {
        width: None,
        span: model.name.span,
        noise: 0.0,
    });
    Ok((input, layers, nodes))
}

/// A plain value as an expression (the arguments of a def applied as a bare entry).
fn value_expr(v: &Value) -> Expr {
    use crate::syntax::ast::{ExprKind, ValueKind};
    let kind = match &v.kind {
        ValueKind::Number(n) => ExprKind::Number(*n),
        ValueKind::String(s) => ExprKind::String(s.clone()),
        ValueKind::List(items) => ExprKind::List(items.iter().map(value_expr).collect()),
        ValueKind::Call(c) => ExprKind::Call {
            name: c.name.clone(),
            args: c
                .args
                .iter()
                .map(|a| match a {
                    crate::syntax::ast::Arg::Positional(v) => ExprArg::Positional(value_expr(v)),
                    crate::syntax::ast::Arg::Named { name, value } => ExprArg::Named {
                        name: name.clone(),
                        value: value_expr(value),
                    },
                })
                .collect(),
            parens: !c.args.is_empty(),
            applied_to: None,
        },
    };
    Expr { kind, span: v.span }
}

/// `dense(units, activation: ...)`, or `output(...)` whose units may be left to the data.
fn resolve_dense(source: &Source, call: &Call, defs: &[Def]) -> Result<DenseSpec, Vec<Diagnostic>> {
    let mut known = vec![UNITS.name, "activation"];
    known.extend(regularize::LAYER_OPTIONS);
    let opts = Options::from_call_all(source, call, positional::DENSE_POSITIONAL, &known)?;
    let is_output = call.name.name == "output";
    let units_declared = opts.value(UNITS.name).is_some() || !is_output;
    // The width, the activation and the other options are checked apart, each error reported.
    let mut errors = Errors::default();
    let units = match units_declared {
        true => errors.take(
            opts.required_count(&UNITS, "give the layer a width, e.g. `dense(16)`"),
            0,
        ) as usize,
        false => 0,
    };
    let (activation, activation_span, activation_def) =
        match errors.take(opts.call("activation"), None) {
            Some(c) => match defs::find(defs, &c.name.name) {
                Some(def) => (
                    Activation::Linear,
                    c.span,
                    Some(DefUse {
                        def,
                        call: c.clone(),
                    }),
                ),
                None => (
                    errors.take(resolve_activation(source, c), Activation::Linear),
                    c.span,
                    None,
                ),
            },
            None => (Activation::Linear, call.span, None),
        };
    let options = errors.take(
        regularize::layer_options(source, &opts, call).map(Some),
        None,
    );
    errors.finish(|| DenseSpec {
        units,
        units_declared,
        activation,
        is_output,
        span: call.span,
        activation_span,
        activation_def,
        options: options.expect("invariant: `finish` builds only when every option resolved"),
    })
}

/// The options of a named thing (an activation, an optimizer), positional in table order, each
/// within its range or at its default.
fn numbers_of(source: &Source, call: &Call, table: &[Number]) -> Result<Vec<f64>, Vec<Diagnostic>> {
    let names: Vec<&'static str> = table.iter().map(|o| o.name).collect();
    let opts = Options::from_call_all(source, call, &names, &names)?;
    let mut errors = Errors::default();
    let values: Vec<f64> = table
        .iter()
        .map(|o| errors.take(opts.number(o), o.default))
        .collect();
    errors.finish(|| values)
}

/// The entry of a name table (the variants of `kinds`, named by `name_of`) that `call` names, or
/// the unknown-name diagnostic `code` with a suggestion and the list of known `what`s.
pub(super) fn lookup<K: Copy>(
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

fn resolve_activation(source: &Source, call: &Call) -> Result<Activation, Vec<Diagnostic>> {
    // An alias (`silu`) is looked up first; unknown names are then reported against the table.
    let alias = ActivationKind::iter().find(|k| k.aliases().contains(&call.name.name.as_str()));
    let kind = match alias {
        Some(k) => k,
        None => lookup(
            source,
            call,
            ActivationKind::iter(),
            ActivationKind::name,
            "nnc::lower::unknown_activation",
            ("activation", "activations"),
        )?,
    };
    let v = numbers_of(source, call, kind.options())?;
    Ok(match kind {
        ActivationKind::Linear => Activation::Linear,
        ActivationKind::Sigmoid => Activation::Sigmoid,
        ActivationKind::Relu => Activation::Relu,
        ActivationKind::LeakyRelu => Activation::LeakyRelu { alpha: v[0] },
        ActivationKind::Tanh => Activation::Tanh,
        ActivationKind::Softmax => Activation::Softmax,
        ActivationKind::Elu => Activation::Elu { alpha: v[0] },
        ActivationKind::Selu => Activation::Selu,
        ActivationKind::Gelu => Activation::Gelu,
        ActivationKind::Swish => Activation::Swish,
        ActivationKind::Softplus => Activation::Softplus,
        ActivationKind::Softsign => Activation::Softsign,
        ActivationKind::HardSigmoid => Activation::HardSigmoid,
    })
}

pub(super) fn as_call<'a>(
    source: &Source,
    v: &'a Value,
    what: &str,
) -> Result<&'a Call, Diagnostic> {
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
                match what {
                    "loss" => "mse",
                    "regularizer" => "l2(0.0001)",
                    "initializer" => "he_normal",
                    _ => "adam",
                }
            ),
        )),
    }
}

/// Options every optimizer takes besides its own: the learning-rate schedule and clipping.
pub(super) const SCHEDULE: &str = "schedule";

fn resolve_optimizer(
    source: &Source,
    v: &Value,
) -> Result<(Optimizer, Schedule, Clipping), Vec<Diagnostic>> {
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
    let mut names: Vec<&'static str> = table.iter().map(|o| o.name).collect();
    names.extend(kind.flags().iter().map(|f| f.name));
    names.extend([SCHEDULE, CLIP_NORM.name, CLIP_VALUE.name]);
    let opts = Options::from_call_all(source, call, &[], &names)?;
    // Each option is checked apart, so that every bad one is reported.
    let mut errors = Errors::default();
    let values: Vec<f64> = table
        .iter()
        .map(|o| errors.take(opts.number(o), o.default))
        .collect();
    let flags: Vec<bool> = kind
        .flags()
        .iter()
        .map(|f| errors.take(opts.flag(f), f.default))
        .collect();
    let schedule = match opts.value(SCHEDULE) {
        None => Schedule::Constant,
        Some(v) => errors.take(schedule::resolve_schedule(source, v), Schedule::Constant),
    };
    let given = |n: &Number| -> Result<Option<f64>, Diagnostic> {
        opts.value(n.name).map(|_| opts.number(n)).transpose()
    };
    let clipping = Clipping {
        norm: errors.take(given(&CLIP_NORM), None),
        value: errors.take(given(&CLIP_VALUE), None),
    };
    errors.finish(|| ())?;
    let optimizer = kind.with_options(&values, &flags);
    if matches!(optimizer, Optimizer::Sgd { momentum, nesterov: true, .. } if momentum == 0.0) {
        let at = opts
            .value(NESTEROV.name)
            .expect("invariant: nesterov is true only when given")
            .span;
        return Err(err(
            source,
            "nnc::lower::nesterov_without_momentum",
            "Nesterov momentum needs a momentum",
            at,
            "with `momentum: 0`",
            "give a momentum, e.g. `sgd(momentum: 0.9, nesterov: true)`",
        )
        .into());
    }
    Ok((optimizer, schedule, clipping))
}

#[cfg(test)]
mod tests {
    use crate::diag::Source;

    fn resolve(text: &str) -> Result<super::ModelSpec, crate::diag::Diagnostic> {
        crate::program::parse_model(&Source::new("m.nn", text))
    }

    #[test]
    fn an_applied_layer_spans_its_call_without_its_input() {
        let text = "model {\n  x = input(4)\n  h = dense(8)\n  b = dense(4, activation: tanh)(relu(x))\n  output(2)\n}\nloss: mse\n";
        let spec = resolve(text).unwrap();
        let span = spec.layers[1].span;
        assert_eq!(&text[span.start..span.end], "dense(4, activation: tanh)");
        assert!(spec.nodes[2].input.is_some());
    }

    #[test]
    fn widths_are_positional_or_named() {
        let spec = resolve("model { input(width: 4) dense(units: 3) }\nloss: mse\n").unwrap();
        assert_eq!((spec.input.width, spec.layers[0].units), (Some(4), 3));
        let err = resolve("model { input(units: 4) dense(3) }\nloss: mse\n").unwrap_err();
        assert_eq!(err.code, "nnc::lower::unknown_option");
    }
}
