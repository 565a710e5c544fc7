//! The losses beyond mse and plain cross-entropy: mean absolute error, Huber, and cross-entropy
//! (either name) with label smoothing or class weights; and the checks that tie a loss's options
//! to the data (one class weight per class). `graph::emit_loss` builds mse, plain cross-entropy
//! and plain binary_cross_entropy (the sigmoid cross-entropy, same IR) itself and hands the
//! others here.
//! Like those, every loss here is a mean over the batch and is built from logits where classes
//! are involved, so no probability is ever logged.

use crate::diag::{Diagnostic, Source};
use crate::ir::{BinaryOp, Function, Op, Origin, Shape, UnaryOp, ValueId};
use crate::shape::ShapeError;

use super::spec::{Activation, ClassWeights, Loss, ModelSpec};

/// The ops of one loss, all with the loss's origin.
pub(super) struct Builder<'a> {
    pub f: &'a mut Function,
    pub origin: Option<Origin>,
    /// The batch size as a scalar value.
    pub batch: ValueId,
}

/// The mean loss named `loss`, or `None` when `graph::emit_loss` builds it.
pub(super) fn emit(
    b: &mut Builder,
    spec: &ModelSpec,
    logits: ValueId,
    out: ValueId,
    y: ValueId,
) -> Option<Result<ValueId, ShapeError>> {
    let last = spec
        .layers
        .last()
        .expect("invariant: resolve rejects models without layers");
    match &spec.loss {
        Loss::Mae => Some(b.mean_abs(out, y)),
        Loss::Huber { delta } => Some(b.huber(out, y, *delta)),
        Loss::Mse => None,
        Loss::CrossEntropy { .. } | Loss::BinaryCrossEntropy { .. } => {
            let (label_smoothing, class_weights) = spec.loss.class_options()?;
            if label_smoothing == 0.0 && class_weights.is_none() {
                return None;
            }
            let weights = class_weights.map(|w| w.weights.as_slice());
            // binary_cross_entropy's output is always one sigmoid unit (`graph::check_output`).
            Some(if last.activation == Activation::Sigmoid {
                b.sigmoid_cross_entropy(logits, y, label_smoothing, weights)
            } else {
                b.softmax_cross_entropy(logits, y, label_smoothing, weights)
            })
        }
    }
}

fn affine(mul: f64, add: f64) -> UnaryOp {
    UnaryOp::Affine { mul, add }
}

impl Builder<'_> {
    fn push(&mut self, op: Op, name: Option<&str>) -> Result<ValueId, ShapeError> {
        self.f.try_push(op, None, name, self.origin.clone())
    }

    fn unary(&mut self, u: UnaryOp, x: ValueId) -> Result<ValueId, ShapeError> {
        self.push(Op::Unary(u, x), None)
    }

    fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> Result<ValueId, ShapeError> {
        self.push(Op::Binary(op, a, b), None)
    }

    fn push_shaped(&mut self, op: Op, shape: Shape) -> Result<ValueId, ShapeError> {
        self.f.try_push(op, Some(shape), None, self.origin.clone())
    }

    /// Σ per-element terms / (batch · width): the mean over every element, as mse.
    fn mean_over_elements(&mut self, terms: ValueId) -> Result<ValueId, ShapeError> {
        let s = self.push_shaped(Op::SumTo(terms), Shape::scalar())?;
        let width = self
            .f
            .shape(terms)
            .fixed_numel()
            .expect("invariant: check_size bounds every layer's width") as f64;
        let count = self.unary(affine(width, 0.0), self.batch)?;
        self.push(Op::Binary(BinaryOp::Div, s, count), Some("loss"))
    }

    /// mean |out − y|.
    fn mean_abs(&mut self, out: ValueId, y: ValueId) -> Result<ValueId, ShapeError> {
        let d = self.binary(BinaryOp::Sub, out, y)?;
        let a = self.unary(UnaryOp::Abs, d)?;
        self.mean_over_elements(a)
    }

    /// mean of ½m² + δ·relu(a − δ), with a = |out − y| and m = min(a, δ): ½a² inside δ,
    /// δ(a − ½δ) beyond. m is a·(1 − H(a − δ)) + δ·H(a − δ), H the step function, which rounds
    /// nothing; the gradient is then d inside δ and δ·sign(d) beyond, as Huber's.
    fn huber(&mut self, out: ValueId, y: ValueId, delta: f64) -> Result<ValueId, ShapeError> {
        let d = self.binary(BinaryOp::Sub, out, y)?;
        let a = self.unary(UnaryOp::Abs, d)?;
        let over = self.unary(affine(1.0, -delta), a)?;
        let h = self.unary(UnaryOp::Heaviside, over)?;
        let keep = self.unary(affine(-1.0, 1.0), h)?;
        let inside = self.binary(BinaryOp::Mul, a, keep)?;
        let cap = self.unary(affine(delta, 0.0), h)?;
        let m = self.binary(BinaryOp::Add, inside, cap)?;
        let m2 = self.binary(BinaryOp::Mul, m, m)?;
        let quadratic = self.unary(affine(0.5, 0.0), m2)?;
        let excess = self.unary(UnaryOp::Relu, over)?;
        let linear = self.unary(affine(delta, 0.0), excess)?;
        let terms = self.binary(BinaryOp::Add, quadratic, linear)?;
        self.mean_over_elements(terms)
    }

    /// y·(1 − ε) + ε/k, or y itself without smoothing.
    fn smoothed(&mut self, y: ValueId, epsilon: f64, k: f64) -> Result<ValueId, ShapeError> {
        if epsilon == 0.0 {
            return Ok(y);
        }
        self.unary(affine(1.0 - epsilon, epsilon / k), y)
    }

    /// One 0/1 target per row: the loss softplus(z) − t·z with the smoothed target t, times the
    /// row's class weight w₀ + (w₁ − w₀)·y, summed and divided by the batch size.
    fn sigmoid_cross_entropy(
        &mut self,
        z: ValueId,
        y: ValueId,
        epsilon: f64,
        weights: Option<&[f64]>,
    ) -> Result<ValueId, ShapeError> {
        let t = self.smoothed(y, epsilon, 2.0)?;
        let sp = self.unary(UnaryOp::Softplus, z)?;
        let tz = self.binary(BinaryOp::Mul, t, z)?;
        let mut e = self.binary(BinaryOp::Sub, sp, tz)?;
        match weights {
            Some(&[w0, w1]) => {
                let w = self.unary(affine(w1 - w0, w0), y)?;
                e = self.binary(BinaryOp::Mul, e, w)?;
            }
            Some(_) => panic!("invariant: check_class_weights gives a sigmoid two weights"),
            None => {}
        }
        let s = self.push_shaped(Op::SumTo(e), Shape::scalar())?;
        self.push(Op::Binary(BinaryOp::Div, s, self.batch), Some("loss"))
    }

    /// One-hot targets: −Σ_k t_k·log_softmax(z)_k per row with the smoothed targets t, times the
    /// row's class weight Σ_k y_k·w_k, summed and divided by the batch size (Keras'
    /// `class_weight`: weights scale each row's loss; the mean is still over rows).
    fn softmax_cross_entropy(
        &mut self,
        z: ValueId,
        y: ValueId,
        epsilon: f64,
        weights: Option<&[f64]>,
    ) -> Result<ValueId, ShapeError> {
        let rows = self.f.shape(y).clone();
        let k = *rows
            .0
            .last()
            .expect("invariant: check_target gives the target a class axis");
        let k = match k {
            crate::ir::Dim::Fixed(k) => k,
            crate::ir::Dim::Batch => panic!("invariant: the class axis is never the batch"),
        };
        let t = self.smoothed(y, epsilon, k as f64)?;
        let lp = self.push(Op::LogSoftmax(z), Some("log_probs"))?;
        let mut terms = self.binary(BinaryOp::Mul, t, lp)?;
        if let Some(w) = weights {
            let per_row = Shape(vec![rows.0[0], crate::ir::Dim::Fixed(1)]);
            let wv = self.push(Op::Vector(w.to_vec()), Some("class_weights"))?;
            let wb = self.push_shaped(Op::Broadcast(wv), rows.clone())?;
            let yw = self.binary(BinaryOp::Mul, y, wb)?;
            let row_weight = self.push_shaped(Op::SumTo(yw), per_row)?;
            let rw = self.push_shaped(Op::Broadcast(row_weight), rows)?;
            terms = self.binary(BinaryOp::Mul, terms, rw)?;
        }
        let s = self.push_shaped(Op::SumTo(terms), Shape::scalar())?;
        let mean = self.binary(BinaryOp::Div, s, self.batch)?;
        self.push(Op::Unary(UnaryOp::Neg, mean), Some("loss"))
    }
}

/// The class weights must be one per class: `classes` classes (2 for a sigmoid output), named
/// `names` in the order the data encodes them when the data is known.
pub fn check_class_weights(
    spec: &ModelSpec,
    classes: usize,
    names: Option<&[String]>,
) -> Result<(), Diagnostic> {
    let Some((_, Some(ClassWeights { weights, span }))) = spec.loss.class_options() else {
        return Ok(());
    };
    if weights.len() == classes {
        return Ok(());
    }
    let order = match names {
        Some(names) => format!(
            "one weight per class, in this order: {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "one weight per class, in the order of the sorted class labels".to_string(),
    };
    Err(class_weights_error(
        &spec.source,
        *span,
        weights.len(),
        classes,
        &order,
    ))
}

fn class_weights_error(
    source: &Source,
    span: crate::diag::Span,
    given: usize,
    classes: usize,
    order: &str,
) -> Diagnostic {
    Diagnostic::new(
        "nnc::lower::class_weights",
        format!("`class_weights` has {given} weight(s), but the target has {classes} classes"),
    )
    .with_source(source)
    .with_label(span, format!("{given} weight(s)"))
    .with_help(format!("give {classes} weights: {order}"))
}

#[cfg(test)]
mod tests {
    use crate::diag::{Diagnostic, Source};
    use crate::lower::{lower, DataShape, Lowered};

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
    fn binary_cross_entropy_needs_one_sigmoid_unit_and_two_classes() {
        let bce = "binary_cross_entropy";
        assert!(lowered("dense(1, activation: sigmoid)", bce, 1).is_ok());
        assert!(lowered("output(activation: sigmoid)", bce, 1).is_ok());
        for (model, width) in [
            ("dense(2, activation: softmax)", 2),
            ("dense(1, activation: tanh)", 1),
            ("dense(2, activation: sigmoid)", 1),
        ] {
            let d = lowered(model, bce, width).unwrap_err();
            assert_eq!(d.code, "nnc::lower::loss_activation", "{model}");
            assert!(
                d.message.contains("exactly 1 sigmoid unit"),
                "{model}: {}",
                d.message
            );
        }
        let d = lowered("dense(1, activation: sigmoid)", bce, 3).unwrap_err();
        assert!(d
            .message
            .contains("predicts two classes, but the target has 3"));
    }

    #[test]
    fn class_weights_are_one_per_class() {
        let ce = |w: &str| format!("cross_entropy(class_weights: {w})");
        assert!(lowered("dense(3, activation: softmax)", &ce("[1, 2, 3]"), 3).is_ok());
        assert!(lowered("dense(1, activation: sigmoid)", &ce("[1, 2]"), 1).is_ok());
        let d = lowered("dense(3, activation: softmax)", &ce("[1, 2]"), 3).unwrap_err();
        assert_eq!(d.code, "nnc::lower::class_weights");
        assert!(d
            .message
            .contains("2 weight(s), but the target has 3 classes"));
        // A sigmoid reads two classes from one column, with either name of the loss.
        let bce = "binary_cross_entropy(class_weights: [1, 2, 3])";
        for loss in [ce("[1]"), bce.to_string()] {
            let d = lowered("dense(1, activation: sigmoid)", &loss, 1).unwrap_err();
            assert!(
                d.message.contains("the target has 2 classes"),
                "{loss}: {}",
                d.message
            );
        }
        let bce = "binary_cross_entropy(class_weights: [1, 2])";
        assert!(lowered("dense(1, activation: sigmoid)", bce, 1).is_ok());
        // With the data's class names, they are listed in their encoded order.
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        let text = format!(
            "model {{ input(4) output(activation: softmax) }}\nloss: {}\n",
            ce("[1]")
        );
        let spec = crate::program::parse_model(&Source::new("m.nn", text)).unwrap();
        let d = super::check_class_weights(&spec, 3, Some(&names)).unwrap_err();
        assert!(d.help.unwrap().contains("`a`, `b`, `c`"));
    }
}
