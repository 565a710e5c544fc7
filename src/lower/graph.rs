//! From a `ModelSpec` to IR: the forward function (inputs to predictions) and the loss function
//! (inputs and targets to the mean loss and the predictions). Every shape is inferred by the rules
//! in `shape` as equations are added; a mismatch becomes a diagnostic naming both layers. Losses on
//! classes are computed from logits (log-softmax, softplus), never from probabilities, so they are
//! stable for any logit.

use crate::diag::{Diagnostic, Source, Span};
use crate::ir::{ArgRole, BinaryOp, Function, Op, Origin, Shape, UnaryOp, ValueId};
use crate::shape;

use super::spec::{Activation, DenseSpec, Loss, LossKind, ModelSpec};

/// How a parameter starts before training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform in ±sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).
    GlorotUniform {
        fan_in: usize,
        fan_out: usize,
    },
    Zeros,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
    /// The index of the layer (in `ModelSpec::layers`) the parameter belongs to.
    pub layer: usize,
}

impl ParamSpec {
    /// The number of floats the parameter holds, saturating at `usize::MAX` instead of wrapping
    /// (lowering rejects any model whose parameters come near that, see `check_size`).
    pub fn numel(&self) -> usize {
        self.shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
    }
}

/// What the data says about the model's two ends, with where each fact came from.
#[derive(Clone, Debug)]
pub struct DataShape {
    pub features: usize,
    pub features_origin: Option<Origin>,
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
    pub params: Vec<ParamSpec>,
    pub input_width: usize,
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
    if spec.loss == Loss::BinaryCrossEntropy {
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

/// The most floats nnc will hold for the parameters, or for one layer's activations of one batch:
/// 2³⁰ (4 GiB as f32). Beyond that a typo such as an extra zero would exhaust memory instead of
/// being reported.
pub const MAX_ELEMENTS: usize = 1 << 30;

/// Refuse models whose parameters, or whose activations at the largest batch any compiled
/// function runs (`TrainSpec::eval_batch`), exceed `MAX_ELEMENTS`, pointing at the layer that
/// crosses the line. Counts saturate instead of wrapping, so no product can slip under the limit.
fn check_size(spec: &ModelSpec, width: usize, params: &[ParamSpec]) -> Result<(), Diagnostic> {
    let mut total = 0usize;
    let batch = spec.train.eval_batch();
    for (i, layer) in spec.layers.iter().enumerate() {
        let fan_in = if i == 0 {
            width
        } else {
            spec.layers[i - 1].units
        };
        let own = params
            .iter()
            .filter(|p| p.layer == i)
            .map(ParamSpec::numel)
            .fold(0usize, usize::saturating_add);
        total = total.saturating_add(own);
        if total > MAX_ELEMENTS {
            return Err(Diagnostic::new(
                "nnc::lower::too_large",
                format!("the model has more than {MAX_ELEMENTS} parameters by this layer"),
            )
            .with_source(&spec.source)
            .with_label(layer.span, format!("{fan_in} × {} weights", layer.units))
            .with_help("make the layers narrower: nnc holds at most 2^30 parameters (4 GiB)"));
        }
        let activations = batch.saturating_mul(layer.units.max(fan_in));
        if activations > MAX_ELEMENTS {
            return Err(Diagnostic::new(
                "nnc::lower::too_large",
                format!(
                    "a batch of {batch} rows through this layer needs {activations} values, more than {MAX_ELEMENTS}"
                ),
            )
            .with_source(&spec.source)
            .with_label(layer.span, "this layer")
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

    let mut params = Vec::new();
    let mut fan_in = width;
    for (i, layer) in spec.layers.iter().enumerate() {
        params.push(ParamSpec {
            name: format!("w{}", i + 1),
            shape: vec![fan_in, layer.units],
            init: Init::GlorotUniform {
                fan_in,
                fan_out: layer.units,
            },
            layer: i,
        });
        params.push(ParamSpec {
            name: format!("b{}", i + 1),
            shape: vec![layer.units],
            init: Init::Zeros,
            layer: i,
        });
        fan_in = layer.units;
    }
    check_size(spec, width, &params)?;

    let input_origin = Origin {
        span: spec.input.span,
        what: "the input".into(),
    };
    let fail = |f: &Function, e: shape::ShapeError| {
        shape::diagnose(f, &e, spec.model_span).in_source(&spec.source)
    };

    let mut forward = Function::new("forward");
    declare_params(&mut forward, spec, &params);
    let x = forward.add_arg(
        "x",
        Shape::batched(&[width]),
        ArgRole::Data,
        Some(input_origin.clone()),
    );
    let (_, out) = emit_layers(&mut forward, spec, x).map_err(|e| fail(&forward, e))?;
    forward.add_output("output", out);

    let mut loss = Function::new("loss");
    declare_params(&mut loss, spec, &params);
    let x = loss.add_arg(
        "x",
        Shape::batched(&[width]),
        ArgRole::Data,
        Some(input_origin),
    );
    let y = loss.add_arg(
        "y",
        Shape::batched(&[target_width]),
        ArgRole::Data,
        Some(target_origin),
    );
    let (logits, out) = emit_layers(&mut loss, spec, x).map_err(|e| fail(&loss, e))?;
    let l = emit_loss(&mut loss, spec, logits, out, y).map_err(|e| fail(&loss, e))?;
    loss.add_output("loss", l);
    loss.add_output("output", out);

    Ok(Lowered {
        spec: spec.clone(),
        forward,
        loss,
        params,
        input_width: width,
    })
}

fn declare_params(f: &mut Function, spec: &ModelSpec, params: &[ParamSpec]) {
    for p in params {
        let layer = &spec.layers[p.layer];
        f.add_arg(
            &p.name,
            Shape::fixed(&p.shape),
            ArgRole::Param,
            Some(layer_origin(spec, p.layer, layer)),
        );
    }
}

/// The layers' equations; returns the last layer's pre-activation (the logits) and its output.
fn emit_layers(
    f: &mut Function,
    spec: &ModelSpec,
    x: ValueId,
) -> Result<(ValueId, ValueId), shape::ShapeError> {
    let mut h = x;
    let mut logits = x;
    let n = spec.layers.len();
    for (i, layer) in spec.layers.iter().enumerate() {
        let origin = Some(layer_origin(spec, i, layer));
        let w = f
            .arg_named(&format!("w{}", i + 1))
            .expect("invariant: parameters are declared first");
        let b = f
            .arg_named(&format!("b{}", i + 1))
            .expect("invariant: parameters are declared first");
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
        let target = f.shape(mm).clone();
        let bb = f.try_push(Op::Broadcast(b), Some(target), None, origin.clone())?;
        let z_name = if i + 1 == n {
            "logits".to_string()
        } else {
            format!("z{}", i + 1)
        };
        let z = f.try_push(
            Op::Binary(BinaryOp::Add, mm, bb),
            None,
            Some(&z_name),
            origin.clone(),
        )?;
        let h_name = if i + 1 == n {
            "output".to_string()
        } else {
            format!("h{}", i + 1)
        };
        h = emit_activation(f, layer.activation, z, &h_name, origin)?;
        logits = z;
    }
    Ok((logits, h))
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
        (Loss::CrossEntropy { .. }, Activation::Sigmoid) | (Loss::BinaryCrossEntropy, _) => {
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
            features_origin: None,
            target_width,
            target_origin: None,
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
