//! From a `ModelSpec` to IR: the forward function (inputs to predictions) and the loss function
//! (inputs and targets to the mean loss and the predictions). Every shape is inferred by the rules
//! in `shape` as equations are added; a mismatch becomes a diagnostic naming both layers. Losses on
//! classes are computed from logits (log-softmax, softplus), never from probabilities, so they are
//! stable for any logit.

use std::collections::HashMap;

use crate::diag::{Diagnostic, Source, Span};
use crate::ir::{ArgRole, BinaryOp, Dim, Function, Op, Origin, Shape, UnaryOp, ValueId};
use crate::shape;
use crate::syntax::ast::{Arg, Expr, ExprArg, Ident, Value, ValueKind};

use super::math::{self, MathCtx, Val};
use super::normalize::BatchNorm;
use super::params::{Owner, ParamSpec};
use super::regularize::{self, Mode, Training};
use super::spec::{Activation, DefUse, DenseSpec, Loss, LossKind, ModelNode, ModelSpec, NodeKind};
use crate::optim::StateSpec;

/// What the data says about the model's two ends, with where each fact came from.
#[derive(Clone, Debug, Default)]
pub struct DataShape {
    pub features: usize,
    pub features_origin: Option<Origin>,
    /// What the features are made of, in words (`3 numeric columns + 108 categories of
    /// `sample_id``), for a diagnostic about the input width.
    pub features_detail: Option<String>,
    pub target_width: usize,
    pub target_origin: Option<Origin>,
}

/// The forward and loss functions of one model, and its parameters.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The spec as lowered: an `output` layer's width filled in from the data.
    pub spec: ModelSpec,
    pub forward: Function,
    pub loss: Function,
    /// The loss the training step differentiates: `loss` plus dropout and input noise, which
    /// draw from the step counter `regularize::COUNTER` (a state argument). The same function as
    /// `loss` for a model with neither.
    pub train_loss: Function,
    pub params: Vec<ParamSpec>,
    /// Buffers of the model that are not trained by the gradient (batch normalization's running
    /// statistics): state arguments of every function, after the parameters, updated by the
    /// training loss and saved with the model.
    pub stats: Vec<StateSpec>,
    pub input_width: usize,
    /// The name in `forward` of each model entry's value (`ModelSpec::nodes` order).
    pub node_values: Vec<String>,
    /// Each dense layer's values in `train_loss` (and so in the gradient and step built from it).
    pub dense: Vec<DenseValues>,
}

fn layer_text(source: &Source, span: Span) -> String {
    let t = &source.text[span.start.min(source.text.len())..span.end.min(source.text.len())];
    let t: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 40 {
        format!("{}…", t.chars().take(39).collect::<String>())
    } else {
        t
    }
}

fn layer_origin(spec: &ModelSpec, i: usize, layer: &DenseSpec) -> Origin {
    Origin {
        span: layer.span,
        what: format!("layer {} `{}`", i + 1, layer_text(&spec.source, layer.span)),
    }
}

/// The input width: declared, taken from the data, or both and equal.
pub fn input_width(spec: &ModelSpec, data: Option<&DataShape>) -> Result<usize, Diagnostic> {
    match (spec.input.width, data) {
        (Some(d), Some(data)) if d != data.features => Err(shape::input_width_mismatch(
            &spec.source,
            d,
            spec.input.span,
            data.features,
            data.features_origin.as_ref(),
            data.features_detail.as_deref(),
        )),
        (Some(d), _) => Ok(d),
        (None, Some(data)) => Ok(data.features),
        (None, None) => Err(shape::unknown_input_width(&spec.source, spec.input.span)),
    }
}

/// Check that the output layer suits the loss before building anything.
fn check_output(spec: &ModelSpec) -> Result<(), Diagnostic> {
    let last = spec
        .layers
        .last()
        .expect("invariant: resolve rejects models without layers");
    if spec.loss.kind() == LossKind::BinaryCrossEntropy {
        return check_binary_output(spec, last);
    }
    if spec.loss.kind() != LossKind::CrossEntropy {
        return Ok(());
    }
    let problem = match (last.activation, last.units) {
        (Activation::Softmax, 1) => Some("softmax over a single unit is always 1"),
        (Activation::Softmax, _) => None,
        (Activation::Sigmoid, 1) => None,
        (Activation::Sigmoid, _) => {
            Some("sigmoid with cross_entropy is the two-class form: it needs exactly 1 unit")
        }
        _ => Some("cross_entropy needs an output layer that gives probabilities"),
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(Diagnostic::new(
            "nnc::lower::loss_activation",
            format!(
                "the output layer `{}` does not fit `cross_entropy`: {why}",
                layer_text(&spec.source, last.span)
            ),
        )
        .with_source(&spec.source)
        .with_label(last.activation_span, format!("{} with {} unit(s)", last.activation.name(), last.units))
        .with_label(spec.loss_span, "the loss")
        .with_help(
            "use `activation: softmax` with one unit per class, or `activation: sigmoid` with 1 unit for two classes",
        )),
    }
}

/// binary_cross_entropy reads one logit: the output layer must be a single sigmoid unit.
fn check_binary_output(spec: &ModelSpec, last: &DenseSpec) -> Result<(), Diagnostic> {
    if last.activation == Activation::Sigmoid && last.units == 1 {
        return Ok(());
    }
    Err(Diagnostic::new(
        "nnc::lower::loss_activation",
        format!(
            "the output layer `{}` does not fit `binary_cross_entropy`: it needs exactly 1 sigmoid unit",
            layer_text(&spec.source, last.span)
        ),
    )
    .with_source(&spec.source)
    .with_label(
        last.activation_span,
        format!("{} with {} unit(s)", last.activation.name(), last.units),
    )
    .with_label(spec.loss_span, "the loss")
    .with_help(
        "use `output(1, activation: sigmoid)` for two classes, or `loss: cross_entropy` with a softmax output for more",
    ))
}

/// A built-in classification loss reads the last layer's logits, so the model must end with that
/// layer: math after it would be taken for logits that it is not.
fn check_ends_with_a_layer(spec: &ModelSpec) -> Result<(), Diagnostic> {
    let Some(last) = spec.nodes.last() else {
        return Ok(());
    };
    if spec.loss_def.is_some()
        || !spec.loss.kind().is_classification()
        || matches!(last.kind, NodeKind::Dense(_))
    {
        return Ok(());
    }
    Err(Diagnostic::new(
        "nnc::lower::loss_activation",
        format!(
            "`{}` needs the model to end with the layer that gives the probabilities",
            spec.loss.name()
        ),
    )
    .with_source(&spec.source)
    .with_label(last.span, "the model ends here, after its last layer")
    .with_label(spec.loss_span, "the loss")
    .with_help("end the model with `output(activation: softmax)` (or a sigmoid for two classes)"))
}

/// The most floats nnc will hold for the parameters, or for one layer's activations of one batch:
/// 2³⁰ (4 GiB as f32). Beyond that a typo such as an extra zero would exhaust memory instead of
/// being reported.
pub const MAX_ELEMENTS: usize = 1 << 30;

/// Refuse models whose parameters, or whose activations at the largest batch any compiled
/// function runs (`TrainSpec::eval_batch`), exceed `MAX_ELEMENTS`, pointing at the layer that
/// crosses the line. Counts saturate instead of wrapping, so no product can slip under the limit.
fn check_size(spec: &ModelSpec, params: &[ParamSpec]) -> Result<(), Diagnostic> {
    let mut total = 0usize;
    let batch = spec.train.eval_batch();
    for p in params {
        total = total.saturating_add(p.numel());
        let (span, fan_in, units) = match &p.owner {
            Owner::Layer(i) => {
                let w = params
                    .iter()
                    .find(|q| q.owner == p.owner && q.shape.len() == 2);
                (
                    spec.layers[*i].span,
                    w.map_or(0, |w| w.shape[0]),
                    spec.layers[*i].units,
                )
            }
            Owner::Math { origin, .. } => {
                (origin.span, 0, p.shape.iter().copied().max().unwrap_or(0))
            }
        };
        if total > MAX_ELEMENTS {
            return Err(Diagnostic::new(
                "nnc::lower::too_large",
                format!("the model has more than {MAX_ELEMENTS} parameters by this layer"),
            )
            .with_source(&spec.source)
            .with_label(
                span,
                format!(
                    "{} weights",
                    p.shape
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" × ")
                ),
            )
            .with_help("make the layers narrower: nnc holds at most 2^30 parameters (4 GiB)"));
        }
        let activations = batch.saturating_mul(units.max(fan_in));
        if activations > MAX_ELEMENTS {
            return Err(Diagnostic::new(
                "nnc::lower::too_large",
                format!(
                    "a batch of {batch} rows through this layer needs {activations} values, more than {MAX_ELEMENTS}"
                ),
            )
            .with_source(&spec.source)
            .with_label(span, "this layer")
            .with_help(format!(
                "use a narrower layer: evaluation runs batches of {batch} rows (the batch size, at least {})",
                super::spec::MIN_EVAL_BATCH
            )));
        }
    }
    Ok(())
}

/// A sigmoid output with cross-entropy is the two-class form; with more classes the fix is
/// softmax, not more sigmoid units, so this gets its own diagnostic before any shape rule runs.
fn check_two_class_output(spec: &ModelSpec, target_width: usize) -> Result<(), Diagnostic> {
    let last = spec
        .layers
        .last()
        .expect("invariant: resolve rejects models without layers");
    if !spec.loss.kind().is_classification()
        || last.activation != Activation::Sigmoid
        || target_width == 1
    {
        return Ok(());
    }
    Err(Diagnostic::new(
        "nnc::lower::loss_activation",
        format!(
            "a sigmoid output with `{}` predicts two classes, but the target has {target_width}",
            spec.loss.name()
        ),
    )
    .with_source(&spec.source)
    .with_label(
        last.activation_span,
        "sigmoid: one probability, two classes",
    )
    .with_help(format!(
        "use `dense({target_width}, activation: softmax)` as the output layer"
    )))
}

/// The spec with the width of an `output` layer written without units taken from the data: one
/// unit per class for softmax, one for a sigmoid or a regression target.
fn with_output_width(spec: &ModelSpec, data: Option<&DataShape>) -> Result<ModelSpec, Diagnostic> {
    let last = spec
        .layers
        .last()
        .expect("invariant: resolve rejects models without layers");
    if last.units_declared {
        return Ok(spec.clone());
    }
    let Some(data) = data else {
        return Err(shape::unknown_output_width(&spec.source, last.span));
    };
    let mut resolved = spec.clone();
    let last = resolved
        .layers
        .last_mut()
        .expect("invariant: checked above");
    last.units = if last.activation == Activation::Sigmoid && spec.loss.kind().is_classification() {
        1
    } else {
        data.target_width
    };
    Ok(resolved)
}

/// The width the target must have for this model, when the data does not say.
pub fn default_target_width(spec: &ModelSpec) -> usize {
    spec.layers.last().map(|l| l.units).unwrap_or(1)
}

/// Build the forward and loss functions.
pub fn lower(spec: &ModelSpec, data: Option<&DataShape>) -> Result<Lowered, Diagnostic> {
    let spec = &with_output_width(spec, data)?;
    let width = input_width(spec, data)?;
    let target_width = data
        .map(|d| d.target_width)
        .unwrap_or_else(|| default_target_width(spec));
    check_two_class_output(spec, target_width)?;
    check_output(spec)?;
    check_ends_with_a_layer(spec)?;
    // A sigmoid output reads two classes from one column.
    let classes = match spec.layers.last().map(|l| l.activation) {
        Some(Activation::Sigmoid) => 2,
        _ => target_width,
    };
    super::loss::check_class_weights(spec, classes, None)?;
    let target_origin = data
        .and_then(|d| d.target_origin.clone())
        .unwrap_or(Origin {
            span: spec.loss_span,
            what: "the target".into(),
        });

    // Parameters are found by lowering the model once: a layer's width of input is the shape of
    // whatever feeds it, which only the lowering knows in a graph. The functions proper then
    // declare every parameter first, in that order.
    let mut found = Found::default();
    {
        let mut scratch = Function::new("forward");
        let x = scratch.add_arg("x", Shape::batched(&[width]), ArgRole::Data, None);
        emit_model(
            &mut scratch,
            spec,
            x,
            &mut found,
            &mut Vec::new(),
            Mode::Eval,
            None,
        )?;
    }
    let Found { params, stats, .. } = found;
    check_size(spec, &params)?;

    let input_origin = Origin {
        span: spec.input.span,
        what: "the input".into(),
    };
    let fail = |f: &Function, e: shape::ShapeError| {
        shape::diagnose(f, &e, spec.model_span).in_source(&spec.source)
    };
    let mut declared = Found::default();

    let mut forward = Function::new("forward");
    declare_params(&mut forward, spec, &params);
    declare_stats(&mut forward, &stats);
    let x = forward.add_arg(
        "x",
        Shape::batched(&[width]),
        ArgRole::Data,
        Some(input_origin.clone()),
    );
    let mut node_ids = Vec::new();
    let (_, out) = emit_model(
        &mut forward,
        spec,
        x,
        &mut declared,
        &mut node_ids,
        Mode::Eval,
        None,
    )?;
    let node_values = node_ids
        .iter()
        .map(|v| forward.name_of(*v).to_string())
        .collect();
    forward.add_output("output", out);

    // The evaluation loss, and the training one with dropout and noise when the model has any;
    // each with the logits.
    let build_loss = |training: bool| -> Result<(Function, ValueId, Vec<DenseValues>), Diagnostic> {
        let mut loss = Function::new("loss");
        declare_params(&mut loss, spec, &params);
        declare_stats(&mut loss, &stats);
        let mode = match training {
            true => Mode::Train(
                regularize::draws_random(spec).then(|| Training::declare(&mut loss, spec)),
            ),
            false => Mode::Eval,
        };
        let x = loss.add_arg(
            "x",
            Shape::batched(&[width]),
            ArgRole::Data,
            Some(input_origin.clone()),
        );
        let y = loss.add_arg(
            "y",
            Shape::batched(&[target_width]),
            ArgRole::Data,
            Some(target_origin.clone()),
        );
        let mut declared = Found::default();
        let (logits, out) = emit_model(
            &mut loss,
            spec,
            x,
            &mut declared,
            &mut Vec::new(),
            mode,
            None,
        )?;
        assert!(
            declared.params.is_empty() && declared.stats.is_empty(),
            "invariant: lowering the model twice finds the same parameters"
        );
        let l = match &spec.loss_def {
            Some(def_use) => emit_loss_def(&mut loss, spec, def_use, out, y)?,
            None => emit_loss(&mut loss, spec, logits, out, y).map_err(|e| fail(&loss, e))?,
        };
        let l = regularize::emit_penalty(&mut loss, spec, l).map_err(|e| fail(&loss, e))?;
        loss.add_output("loss", l);
        loss.add_output("output", out);
        Ok((loss, logits, declared.dense))
    };
    let (mut loss, logits, dense) = build_loss(false)?;
    let batch_statistics = spec
        .nodes
        .iter()
        .any(|n| matches!(n.kind, NodeKind::BatchNorm { .. }));
    let (train_loss, dense) = if regularize::draws_random(spec) || batch_statistics {
        let (f, _, dense) = build_loss(true)?;
        (f, dense)
    } else {
        (loss.clone(), dense)
    };
    // Only evaluation outputs the logit (the training step has no use for it).
    if single_sigmoid_output(spec) {
        loss.add_output(LOGIT_OUTPUT, logits);
    }

    Ok(Lowered {
        spec: spec.clone(),
        forward,
        loss,
        train_loss,
        params,
        stats,
        input_width: width,
        node_values,
        dense,
    })
}

/// The output of the evaluation `loss` that holds the logit z of a single sigmoid unit, so that
/// the probability of the negative class can be computed as sigmoid(−z): 1 − sigmoid(z) in f32
/// loses its digits as the probability nears 1 and is 0 from z ≈ 16.6 on.
pub const LOGIT_OUTPUT: &str = "logit";

/// Whether the model ends with a layer of one sigmoid unit (two classes read from one column),
/// whose logits `emit_model` returns apart from its output.
fn single_sigmoid_output(spec: &ModelSpec) -> bool {
    match spec.nodes.last().map(|n| &n.kind) {
        Some(NodeKind::Dense(i)) => {
            let layer = &spec.layers[*i];
            layer.activation == Activation::Sigmoid && layer.units == 1
        }
        _ => false,
    }
}

/// Every independent error of the model's entries, lowered as `lower` first lowers them (an
/// entry's error, and none of those that follow from it: see `emit_model`); empty when they
/// lower, or when `lower` fails before them.
pub fn entry_errors(spec: &ModelSpec, data: Option<&DataShape>) -> Vec<Diagnostic> {
    let Ok(spec) = with_output_width(spec, data) else {
        return Vec::new();
    };
    let Ok(width) = input_width(&spec, data) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let mut scratch = Function::new("forward");
    let x = scratch.add_arg("x", Shape::batched(&[width]), ArgRole::Data, None);
    let mut found = Found::default();
    // The first error is among `errors`; the result adds nothing.
    let _ = emit_model(
        &mut scratch,
        &spec,
        x,
        &mut found,
        &mut Vec::new(),
        Mode::Eval,
        Some(&mut errors),
    );
    errors
}

/// The parameters and statistics buffers lowering found (or declared, when not yet declared).
#[derive(Default)]
struct Found {
    params: Vec<ParamSpec>,
    stats: Vec<StateSpec>,
    /// Each dense layer's values, in the order lowered.
    dense: Vec<DenseValues>,
}

/// A dense layer's pre-activation and output (before dropout) in a function, by name: where the
/// training statistics (`monitor`) look.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseValues {
    /// The index in `ModelSpec::layers`.
    pub layer: usize,
    pub pre_activation: String,
    pub output: String,
}

fn declare_stats(f: &mut Function, stats: &[StateSpec]) {
    for s in stats {
        f.add_arg(&s.name, Shape::fixed(&s.shape), ArgRole::State, None);
    }
}

fn declare_params(f: &mut Function, spec: &ModelSpec, params: &[ParamSpec]) {
    for p in params {
        let origin = match &p.owner {
            Owner::Layer(i) => layer_origin(spec, *i, &spec.layers[*i]),
            Owner::Math { origin, .. } => origin.clone(),
        };
        f.add_arg(
            &p.name,
            Shape::fixed(&p.shape),
            ArgRole::Param,
            Some(origin),
        );
    }
}

/// The model's equations, entry by entry; returns the last layer's pre-activation (the logits)
/// and the model's output. Parameters not yet declared in `f` are declared and added to `params`.
///
/// With `collect`, an entry that fails is kept there and the entries after it are still lowered,
/// except those that use its value (as their input, or by its name, or through another such
/// entry): their errors would follow from the first. The first error is still returned.
fn emit_model(
    f: &mut Function,
    spec: &ModelSpec,
    x: ValueId,
    found: &mut Found,
    node_values: &mut Vec<ValueId>,
    mode: Mode,
    mut collect: Option<&mut Vec<Diagnostic>>,
) -> Result<(ValueId, ValueId), Diagnostic> {
    let params = &mut found.params;
    let training = match mode {
        Mode::Train(random) => random,
        Mode::Eval => None,
    };
    let fail = |f: &Function, e: shape::ShapeError| {
        shape::diagnose(f, &e, spec.model_span).in_source(&spec.source)
    };
    let mut env: HashMap<String, Val> = HashMap::new();
    let x = match training {
        Some(t) => t.noisy_input(f, spec, x).map_err(|e| fail(f, e))?,
        None => x,
    };
    let mut current = x;
    let mut logits = x;
    let mut counters = HashMap::new();
    let n = spec.nodes.len();
    // What failed when collecting: the names of failed entries (and of those using them), and
    // whether the previous entry's value is one.
    let mut failed_names: Vec<&str> = Vec::new();
    let mut current_failed = false;
    let mut first_error: Option<Diagnostic> = None;
    for (k, node) in spec.nodes.iter().enumerate() {
        let last = k + 1 == n;
        if first_error.is_some() {
            let (uses_previous, names) = uses(node);
            let follows = (uses_previous && current_failed)
                || names.iter().any(|name| failed_names.contains(name));
            if follows {
                current_failed = true;
                failed_names.extend(node.name.as_ref().map(|n| n.name.as_str()));
                continue;
            }
        }
        let emitted = (|| -> Result<ValueId, Diagnostic> {
            let input = match &node.input {
                None => current,
                Some(args) => applied_input(f, spec, &env, args, node.span, params)?,
            };
            let value = match &node.kind {
                NodeKind::Input => x,
                NodeKind::Dense(i) => {
                    let (z, h) = emit_dense(f, spec, (*i, k), input, last, params, &mut counters)
                        .map_err(|e| match e {
                        DenseError::Shape(e) => fail(f, e),
                        DenseError::Diagnostic(d) => d,
                    })?;
                    logits = z;
                    found.dense.push(DenseValues {
                        layer: *i,
                        pre_activation: f.name_of(z).to_string(),
                        output: f.name_of(h).to_string(),
                    });
                    match training {
                        Some(t) => t
                            .dropout(
                                f,
                                *i,
                                spec.layers[*i].options.dropout,
                                h,
                                Some(layer_origin(spec, *i, &spec.layers[*i])),
                            )
                            .map_err(|e| fail(f, e))?,
                        None => h,
                    }
                }
                NodeKind::Def { def, args } => {
                    let mut ctx = math_ctx(f, spec, params, &mut counters, true, k);
                    let mut positional = vec![(Val::Tensor(input), node.span)];
                    let mut named = Vec::new();
                    for a in args {
                        match a {
                            ExprArg::Positional(e) => {
                                positional.push((math::emit(&mut ctx, &env, e)?, e.span))
                            }
                            ExprArg::Named { name, value } => named.push((
                                name.clone(),
                                math::emit(&mut ctx, &env, value)?,
                                value.span,
                            )),
                        }
                    }
                    let v = math::call_def(&mut ctx, *def, positional, named, node.span);
                    counters = std::mem::take(&mut ctx.counters);
                    tensor_of(spec, v?, node.span)?
                }
                NodeKind::BatchNorm { momentum, epsilon } => {
                    let norm = BatchNorm {
                        node: k,
                        momentum: *momentum,
                        epsilon: *epsilon,
                        span: node.span,
                    };
                    norm.emit(f, spec, input, (params, &mut found.stats), mode)?
                }
                NodeKind::Math(expr) => {
                    let mut ctx = math_ctx(f, spec, params, &mut counters, true, k);
                    let v = math::emit(&mut ctx, &env, expr);
                    counters = std::mem::take(&mut ctx.counters);
                    tensor_of(spec, v?, expr.span)?
                }
            };
            Ok(value)
        })();
        let value = match (emitted, collect.as_deref_mut()) {
            (Ok(value), _) => value,
            (Err(e), Some(errors)) => {
                errors.push(e.clone());
                first_error.get_or_insert(e);
                current_failed = true;
                failed_names.extend(node.name.as_ref().map(|n| n.name.as_str()));
                continue;
            }
            (Err(e), None) => return Err(e),
        };
        current_failed = false;
        if let Some(name) = &node.name {
            env.insert(name.name.clone(), Val::Tensor(value));
            if !matches!(node.kind, NodeKind::Input) && !last {
                f.rename(value, &name.name);
            }
        }
        if last && !matches!(node.kind, NodeKind::Dense(_)) {
            f.rename(value, "output");
            logits = value;
        }
        current = value;
        node_values.push(value);
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok((logits, current)),
    }
}

/// What a model entry's value is computed from: whether the previous entry's value (its input
/// when none is applied), and the names its math and arguments use.
fn uses(node: &ModelNode) -> (bool, Vec<&str>) {
    let mut names = Vec::new();
    for arg in node.input.iter().flatten() {
        super::spec::referenced_names(arg_expr(arg), &mut names);
    }
    let previous = node.input.is_none()
        && match &node.kind {
            NodeKind::Input | NodeKind::Math(_) => false,
            NodeKind::Dense(_) | NodeKind::BatchNorm { .. } | NodeKind::Def { .. } => true,
        };
    match &node.kind {
        NodeKind::Math(expr) => super::spec::referenced_names(expr, &mut names),
        NodeKind::Def { args, .. } => {
            for arg in args {
                super::spec::referenced_names(arg_expr(arg), &mut names);
            }
        }
        NodeKind::Input | NodeKind::Dense(_) | NodeKind::BatchNorm { .. } => {}
    }
    (previous, names)
}

fn arg_expr(arg: &ExprArg) -> &Expr {
    match arg {
        ExprArg::Positional(e) | ExprArg::Named { value: e, .. } => e,
    }
}

fn math_ctx<'a>(
    f: &'a mut Function,
    spec: &'a ModelSpec,
    params: &'a mut Vec<ParamSpec>,
    counters: &mut HashMap<String, usize>,
    params_allowed: bool,
    node: usize,
) -> MathCtx<'a> {
    MathCtx {
        node,
        prelude_start: spec.prelude_start,
        use_site: None,
        depth: 0,
        f,
        source: &spec.source,
        defs: &spec.defs,
        params,
        prefix: String::new(),
        counters: std::mem::take(counters),
        params_allowed,
        binding: None,
    }
}

/// The value a layer is applied to in `layer(...)(input)`.
fn applied_input(
    f: &mut Function,
    spec: &ModelSpec,
    env: &HashMap<String, Val>,
    args: &[ExprArg],
    span: Span,
    params: &mut Vec<ParamSpec>,
) -> Result<ValueId, Diagnostic> {
    let [ExprArg::Positional(e)] = args else {
        return Err(
            Diagnostic::new("nnc::math::arguments", "a layer is applied to one value")
                .with_source(&spec.source)
                .with_label(span, "here")
                .with_help("write e.g. `dense(32)(h)`"),
        );
    };
    let mut counters = HashMap::new();
    let mut ctx = math_ctx(f, spec, params, &mut counters, false, 0);
    let v = math::emit(&mut ctx, env, e)?;
    tensor_of(spec, v, e.span)
}

/// A model value must be a tensor with the batch leading.
fn tensor_of(spec: &ModelSpec, v: Val, span: Span) -> Result<ValueId, Diagnostic> {
    match v {
        Val::Tensor(t) => Ok(t),
        Val::Number(_) => Err(Diagnostic::new(
            "nnc::math::expected_tensor",
            "a value of the model is a number, not a tensor of the batch",
        )
        .with_source(&spec.source)
        .with_label(span, "a number")
        .with_help("combine it with a layer's output, e.g. `2 * h`")),
        Val::Condition { .. } => Err(Diagnostic::new(
            "nnc::math::not_differentiable",
            "a comparison is used as a value of the model",
        )
        .with_source(&spec.source)
        .with_label(span, "0 or 1, with no derivative")
        .with_help("a comparison can only choose between values: write `where(condition, a, b)`")),
    }
}

enum DenseError {
    Shape(shape::ShapeError),
    Diagnostic(Diagnostic),
}

impl From<shape::ShapeError> for DenseError {
    fn from(e: shape::ShapeError) -> Self {
        DenseError::Shape(e)
    }
}

impl From<Diagnostic> for DenseError {
    fn from(d: Diagnostic) -> Self {
        DenseError::Diagnostic(d)
    }
}

/// The parameter called `name`, declared now (and added to `params`) if it is not yet.
fn param_arg(
    f: &mut Function,
    params: &mut Vec<ParamSpec>,
    spec: ParamSpec,
    origin: Option<Origin>,
) -> ValueId {
    if let Some(v) = f.arg_named(&spec.name) {
        return v;
    }
    let v = f.add_arg(
        &spec.name,
        Shape::fixed(&spec.shape),
        ArgRole::Param,
        origin,
    );
    params.push(spec);
    v
}

/// Dense layer `i` applied to `h`: its pre-activation and its output.
fn emit_dense(
    f: &mut Function,
    spec: &ModelSpec,
    (i, node): (usize, usize),
    h: ValueId,
    last: bool,
    params: &mut Vec<ParamSpec>,
    counters: &mut HashMap<String, usize>,
) -> Result<(ValueId, ValueId), DenseError> {
    let layer = &spec.layers[i];
    let origin = Some(layer_origin(spec, i, layer));
    let fan_in = match f.shape(h).0.as_slice() {
        [Dim::Batch, Dim::Fixed(n)] => *n,
        _ => {
            let s = f.shape(h).clone();
            return Err(Diagnostic::new(
                "nnc::shape::mismatch",
                format!("a dense layer takes rows of values, (B, n), but its input is {s}"),
            )
            .with_source(&spec.source)
            .with_label(layer.span, "this layer")
            .with_help("give the layer a value with one row per example")
            .into());
        }
    };
    let w = param_arg(
        f,
        params,
        ParamSpec {
            name: format!("w{}", i + 1),
            shape: vec![fan_in, layer.units],
            init: regularize::init_of(layer.options.init, fan_in, layer.units),
            owner: Owner::Layer(i),
        },
        origin.clone(),
    );
    let b = layer.options.bias.then(|| {
        param_arg(
            f,
            params,
            ParamSpec {
                name: format!("b{}", i + 1),
                shape: vec![layer.units],
                init: regularize::init_of(layer.options.bias_init, fan_in, layer.units),
                owner: Owner::Layer(i),
            },
            origin.clone(),
        )
    });
    let mm = f.try_push(
        Op::MatMul {
            a: h,
            b: w,
            transpose_a: false,
            transpose_b: false,
        },
        None,
        None,
        origin.clone(),
    )?;
    let z_name = if last {
        "logits".to_string()
    } else {
        format!("z{}", i + 1)
    };
    // Without a bias (`bias: false`) the product is the pre-activation: no add at all.
    let z = match b {
        Some(b) => {
            let target = f.shape(mm).clone();
            let bb = f.try_push(Op::Broadcast(b), Some(target), None, origin.clone())?;
            f.try_push(
                Op::Binary(BinaryOp::Add, mm, bb),
                None,
                Some(&z_name),
                origin.clone(),
            )?
        }
        None => {
            f.rename(mm, &z_name);
            mm
        }
    };
    let h_name = if last {
        "output".to_string()
    } else {
        format!("h{}", i + 1)
    };
    let out = match &layer.activation_def {
        None => emit_activation(f, layer.activation, z, &h_name, origin)?,
        Some(def_use) => {
            let mut ctx = math_ctx(f, spec, params, counters, true, node);
            let (positional, named) = def_use_args(&mut ctx, def_use)?;
            let mut args = vec![(Val::Tensor(z), def_use.call.span)];
            args.extend(positional);
            let v = math::call_def(&mut ctx, def_use.def, args, named, def_use.call.span);
            *counters = std::mem::take(&mut ctx.counters);
            let v = tensor_of(spec, v?, def_use.call.span)?;
            if f.shape(v) != f.shape(z) {
                let s = f.shape(v).clone();
                return Err(Diagnostic::new(
                    "nnc::shape::mismatch",
                    format!(
                        "an activation keeps its input's shape, {}, but `{}` gives {s}",
                        f.shape(z),
                        def_use.call.name.name
                    ),
                )
                .with_source(&spec.source)
                .with_label(def_use.call.span, "this activation")
                .with_help("an activation works element by element, e.g. `x * sigmoid(x)`")
                .into());
            }
            f.rename(v, &h_name);
            v
        }
    };
    Ok((z, out))
}

/// The numeric arguments of a def named where a built-in could stand (`swish(beta: 2)`).
#[allow(clippy::type_complexity)]
fn def_use_args(
    ctx: &mut MathCtx,
    def_use: &DefUse,
) -> Result<(Vec<(Val, Span)>, Vec<(Ident, Val, Span)>), Diagnostic> {
    let mut positional = Vec::new();
    let mut named = Vec::new();
    for a in &def_use.call.args {
        match a {
            Arg::Positional(v) => positional.push((value_number(ctx, v)?, v.span)),
            Arg::Named { name, value } => {
                named.push((name.clone(), value_number(ctx, value)?, value.span))
            }
        }
    }
    Ok((positional, named))
}

fn value_number(ctx: &MathCtx, v: &Value) -> Result<Val, Diagnostic> {
    match v.kind {
        ValueKind::Number(n) => Ok(Val::Number(n)),
        _ => Err(Diagnostic::new(
            "nnc::lower::wrong_kind",
            format!("expected a number, found {}", v.describe()),
        )
        .with_source(ctx.source)
        .with_label(v.span, "not a number")
        .with_help("a def's extra parameters are numbers here, e.g. `swish(beta: 2)`")),
    }
}

/// A loss written as math: the def applied to the predictions and the targets, averaged over
/// every element when it is not already a single number.
fn emit_loss_def(
    f: &mut Function,
    spec: &ModelSpec,
    def_use: &DefUse,
    out: ValueId,
    y: ValueId,
) -> Result<ValueId, Diagnostic> {
    let mut params = Vec::new();
    let mut counters = HashMap::new();
    let mut ctx = math_ctx(f, spec, &mut params, &mut counters, false, 0);
    let (positional, named) = def_use_args(&mut ctx, def_use)?;
    let span = def_use.call.span;
    let mut args = vec![(Val::Tensor(out), span), (Val::Tensor(y), span)];
    args.extend(positional);
    let v = math::call_def(&mut ctx, def_use.def, args, named, span)?;
    let origin = Some(Origin {
        span,
        what: format!("the loss `{}`", def_use.call.name.name),
    });
    let v = match v {
        Val::Tensor(t) => t,
        Val::Number(_) | Val::Condition { .. } => {
            return Err(Diagnostic::new(
                "nnc::math::expected_tensor",
                "a loss depends on the predictions",
            )
            .with_source(&spec.source)
            .with_label(span, "gives a number or a comparison")
            .with_help("compute the loss from its two arguments, e.g. `def l(p, y) = (p - y)^2`"))
        }
    };
    let shape = f.shape(v).clone();
    if shape.rank() == 0 {
        f.rename(v, "loss");
        return Ok(v);
    }
    let count = shape
        .0
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => *n,
            Dim::Batch => 1,
        })
        .product::<usize>() as f64;
    let s = f
        .try_push(Op::SumTo(v), Some(Shape::scalar()), None, origin.clone())
        .map_err(|e| shape::diagnose(f, &e, span).in_source(&spec.source))?;
    let divisor = if shape.has_batch() {
        let b = f.push(Op::BatchSize, None, None, origin.clone());
        f.push(
            Op::Unary(
                UnaryOp::Affine {
                    mul: count,
                    add: 0.0,
                },
                b,
            ),
            None,
            None,
            origin.clone(),
        )
    } else {
        f.push(Op::Const(count), None, None, origin.clone())
    };
    Ok(f.push(
        Op::Binary(BinaryOp::Div, s, divisor),
        None,
        Some("loss"),
        origin,
    ))
}

fn emit_activation(
    f: &mut Function,
    act: Activation,
    z: ValueId,
    name: &str,
    origin: Option<Origin>,
) -> Result<ValueId, shape::ShapeError> {
    if let Some(v) = super::activation::emit(f, act, z, name, origin.clone()) {
        return v;
    }
    let unary = |u| Op::Unary(u, z);
    let op = match act {
        Activation::Linear => unary(UnaryOp::Affine { mul: 1.0, add: 0.0 }),
        Activation::Sigmoid => unary(UnaryOp::Sigmoid),
        Activation::Relu => unary(UnaryOp::Relu),
        Activation::LeakyRelu { alpha } => unary(UnaryOp::LeakyRelu { alpha }),
        Activation::Tanh => unary(UnaryOp::Tanh),
        Activation::Softplus => unary(UnaryOp::Softplus),
        Activation::Elu { .. }
        | Activation::Selu
        | Activation::Gelu
        | Activation::Swish
        | Activation::Softsign
        | Activation::HardSigmoid => {
            panic!("invariant: composite activations are built by `activation::emit`")
        }
        Activation::Softmax => {
            let lp = f.try_push(Op::LogSoftmax(z), None, None, origin.clone())?;
            Op::Unary(UnaryOp::Exp, lp)
        }
    };
    if act == Activation::Linear {
        // A linear activation is the identity: the pre-activation itself, renamed.
        f.rename(z, name);
        return Ok(z);
    }
    f.try_push(op, None, Some(name), origin)
}

/// The mean loss over the batch.
fn emit_loss(
    f: &mut Function,
    spec: &ModelSpec,
    logits: ValueId,
    out: ValueId,
    y: ValueId,
) -> Result<ValueId, shape::ShapeError> {
    let origin = Some(Origin {
        span: spec.loss_span,
        what: format!("the loss `{}`", spec.loss.name()),
    });
    let push =
        |f: &mut Function, op, name: Option<&str>| f.try_push(op, None, name, origin.clone());
    let sum_all =
        |f: &mut Function, v| f.try_push(Op::SumTo(v), Some(Shape::scalar()), None, origin.clone());
    shape::check_target(f, logits, y)?;
    let batch = push(f, Op::BatchSize, None)?;
    let last = spec
        .layers
        .last()
        .expect("invariant: resolve rejects models without layers");
    let mut b = super::loss::Builder {
        f,
        origin: origin.clone(),
        batch,
    };
    if let Some(l) = super::loss::emit(&mut b, spec, logits, out, y) {
        return l;
    }
    match (&spec.loss, last.activation) {
        (Loss::Mae | Loss::Huber { .. }, _) => {
            panic!("invariant: mae and huber are built by `loss::emit`")
        }
        (Loss::Mse, _) => {
            let d = push(f, Op::Binary(BinaryOp::Sub, out, y), None)?;
            let sq = push(f, Op::Binary(BinaryOp::Mul, d, d), None)?;
            let s = sum_all(f, sq)?;
            let width = f
                .shape(out)
                .fixed_numel()
                .expect("invariant: check_size bounds every layer's width")
                as f64;
            let count = push(
                f,
                Op::Unary(
                    UnaryOp::Affine {
                        mul: width,
                        add: 0.0,
                    },
                    batch,
                ),
                None,
            )?;
            push(f, Op::Binary(BinaryOp::Div, s, count), Some("loss"))
        }
        (Loss::CrossEntropy { .. }, Activation::Sigmoid) | (Loss::BinaryCrossEntropy { .. }, _) => {
            // -[y log σ(z) + (1-y) log(1-σ(z))] = softplus(z) - y z, exact and overflow-free.
            let sp = push(f, Op::Unary(UnaryOp::Softplus, logits), None)?;
            let yz = push(f, Op::Binary(BinaryOp::Mul, y, logits), None)?;
            let e = push(f, Op::Binary(BinaryOp::Sub, sp, yz), None)?;
            let s = sum_all(f, e)?;
            push(f, Op::Binary(BinaryOp::Div, s, batch), Some("loss"))
        }
        (Loss::CrossEntropy { .. }, _) => {
            let lp = push(f, Op::LogSoftmax(logits), Some("log_probs"))?;
            let ylp = push(f, Op::Binary(BinaryOp::Mul, y, lp), None)?;
            let s = sum_all(f, ylp)?;
            let mean = push(f, Op::Binary(BinaryOp::Div, s, batch), None)?;
            push(f, Op::Unary(UnaryOp::Neg, mean), Some("loss"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;

    fn lowered(model: &str, loss: &str, target_width: usize) -> Result<Lowered, Diagnostic> {
        let text = format!("model {{\n  input(4)\n  {model}\n}}\nloss: {loss}\n");
        let spec = crate::program::parse_model(&Source::new("m.nn", text)).unwrap();
        let data = DataShape {
            features: 4,
            target_width,
            ..DataShape::default()
        };
        lower(&spec, Some(&data))
    }

    #[test]
    fn cross_entropy_needs_an_output_that_gives_probabilities() {
        let message = |model, width| lowered(model, "cross_entropy", width).unwrap_err().message;
        assert!(message("dense(1, activation: softmax)", 1).contains("softmax over a single unit"));
        // Two classes read as one 0/1 column for a sigmoid, but two sigmoid units.
        assert!(message("dense(2, activation: sigmoid)", 1).contains("needs exactly 1 unit"));
        assert!(message("dense(3, activation: relu)", 3).contains("gives probabilities"));
        assert!(message("dense(3, activation: sigmoid)", 3).contains("predicts two classes"));
        assert!(lowered("dense(3, activation: softmax)", "cross_entropy", 3).is_ok());
        assert!(lowered("dense(1, activation: sigmoid)", "cross_entropy", 1).is_ok());
        assert!(lowered("dense(1, activation: softmax)", "mse", 1).is_ok());
    }
}
