//! Every shape rule of the IR and every shape diagnostic. `infer` gives the result shape of an
//! operation from its operands' shapes (or reports a mismatch); `diagnose` turns a mismatch into a
//! user diagnostic that names the two layers involved, with a label on each. Nothing reaches code
//! generation without passing through `infer`: the builder calls it for every equation, and
//! `ir::verify` calls it again on finished functions.

use crate::diag::{Diagnostic, Span};
use crate::ir::{Dim, Function, Op, Shape, ValueId};

/// A shape mismatch between operands of one operation.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ShapeError {
    /// The operand whose shape is the reference (e.g. the layer's input).
    pub left: Option<ValueId>,
    /// The operand that disagrees with it.
    pub right: Option<ValueId>,
    pub message: String,
    /// A fix, when the rule that failed knows one.
    pub help: Option<String>,
}

fn mismatch(left: ValueId, right: ValueId, message: String) -> ShapeError {
    ShapeError {
        left: Some(left),
        right: Some(right),
        message,
        help: None,
    }
}

fn malformed(message: String) -> ShapeError {
    ShapeError {
        left: None,
        right: None,
        message,
        help: None,
    }
}

/// A random tensor (`dropout_mask`, `normal_noise`) has the requested shape and draws from a
/// scalar step counter.
fn random_shape(
    f: &Function,
    op: &Op,
    counter: ValueId,
    target: Option<Shape>,
) -> Result<Shape, ShapeError> {
    let to = target.ok_or_else(|| malformed(format!("{} needs a target shape", op.name())))?;
    let s = f.shape(counter);
    if s.rank() != 0 {
        return Err(malformed(format!(
            "{} draws from a scalar step counter, but `{}` is {s}",
            op.name(),
            f.name_of(counter)
        )));
    }
    Ok(to)
}

/// Can `from` be broadcast to `to` (numpy rules, aligned from the right)?
pub fn broadcastable(from: &Shape, to: &Shape) -> bool {
    if from.rank() > to.rank() {
        return false;
    }
    let offset = to.rank() - from.rank();
    from.0
        .iter()
        .enumerate()
        .all(|(i, d)| *d == Dim::Fixed(1) || *d == to.0[i + offset])
}

/// The result shape of `op` in `f`. `target` is the requested shape for `Broadcast` and `SumTo`
/// (ignored, and may be `None`, for every other op).
pub fn infer(f: &Function, op: &Op, target: Option<Shape>) -> Result<Shape, ShapeError> {
    let shape = |v: ValueId| f.shape(v).clone();
    match op {
        Op::Const(_) | Op::BatchSize => Ok(Shape::scalar()),
        Op::Vector(v) => {
            if v.is_empty() {
                return Err(malformed("a vector needs at least one number".to_string()));
            }
            Ok(Shape::fixed(&[v.len()]))
        }
        Op::Unary(_, x) => Ok(shape(*x)),
        Op::LogSoftmax(x) => {
            let s = shape(*x);
            if s.rank() == 0 {
                return Err(malformed(format!(
                    "log_softmax needs at least one axis, but `{}` is a scalar",
                    f.name_of(*x)
                )));
            }
            Ok(s)
        }
        Op::Binary(kind, a, b) => {
            let (sa, sb) = (shape(*a), shape(*b));
            if sa != sb {
                return Err(mismatch(
                    *a,
                    *b,
                    format!(
                        "{} needs operands of one shape, but `{}` is {sa} and `{}` is {sb}",
                        kind.name(),
                        f.name_of(*a),
                        f.name_of(*b)
                    ),
                ));
            }
            Ok(sa)
        }
        Op::MatMul {
            a,
            b,
            transpose_a,
            transpose_b,
        } => {
            let (sa, sb) = (shape(*a), shape(*b));
            if sa.rank() != 2 || sb.rank() != 2 {
                return Err(mismatch(
                    *a,
                    *b,
                    format!("matmul needs two matrices, got {sa} and {sb}"),
                ));
            }
            let (m, ka) = if *transpose_a {
                (sa.0[1], sa.0[0])
            } else {
                (sa.0[0], sa.0[1])
            };
            let (kb, n) = if *transpose_b {
                (sb.0[1], sb.0[0])
            } else {
                (sb.0[0], sb.0[1])
            };
            if ka != kb {
                return Err(mismatch(
                    *a,
                    *b,
                    format!(
                        "matmul: `{}` gives rows of {} values but `{}` expects {}",
                        f.name_of(*a),
                        dim_text(ka),
                        f.name_of(*b),
                        dim_text(kb)
                    ),
                ));
            }
            let s = Shape(vec![m, n]);
            if n == Dim::Batch {
                return Err(malformed(format!(
                    "matmul result {s} would put the batch last"
                )));
            }
            Ok(s)
        }
        Op::Select { condition, yes, no } => {
            let (sc, sy, sn) = (shape(*condition), shape(*yes), shape(*no));
            for (other, so) in [(*condition, &sc), (*no, &sn)] {
                if *so != sy {
                    return Err(mismatch(
                        *yes,
                        other,
                        format!(
                            "select needs a condition and two values of one shape, but `{}` is {sy} and `{}` is {so}",
                            f.name_of(*yes),
                            f.name_of(other)
                        ),
                    ));
                }
            }
            Ok(sy)
        }
        Op::Concat { a, b } => {
            let (sa, sb) = (shape(*a), shape(*b));
            let agree = sa.rank() == sb.rank()
                && sa.rank() > 0
                && sa.0[..sa.rank() - 1] == sb.0[..sb.rank() - 1];
            match (agree, sa.0.last(), sb.0.last()) {
                (true, Some(Dim::Fixed(wa)), Some(Dim::Fixed(wb))) => {
                    let mut dims = sa.0.clone();
                    *dims.last_mut().expect("invariant: rank checked above") = Dim::Fixed(wa + wb);
                    Ok(Shape(dims))
                }
                _ => Err(mismatch(
                    *a,
                    *b,
                    format!(
                        "concat joins along the last axis values that agree in every other, but `{}` is {sa} and `{}` is {sb}",
                        f.name_of(*a),
                        f.name_of(*b)
                    ),
                )),
            }
        }
        Op::Slice { x, start, len } => {
            let s = shape(*x);
            match s.0.last() {
                Some(Dim::Fixed(w)) if start.checked_add(*len).is_some_and(|end| end <= *w) => {
                    let mut dims = s.0.clone();
                    *dims.last_mut().expect("invariant: matched a last axis") = Dim::Fixed(*len);
                    Ok(Shape(dims))
                }
                _ => Err(malformed(format!(
                    "slice [{start}, {start} + {len}) is outside the last axis of `{}`, {s}",
                    f.name_of(*x)
                ))),
            }
        }
        Op::DropoutMask { counter, .. } | Op::NormalNoise { counter, .. } => {
            random_shape(f, op, *counter, target)
        }
        Op::Broadcast(x) => {
            let to = target.ok_or_else(|| malformed("broadcast needs a target shape".into()))?;
            let from = shape(*x);
            if !broadcastable(&from, &to) {
                return Err(malformed(format!(
                    "cannot broadcast `{}` of {from} to {to}",
                    f.name_of(*x)
                )));
            }
            Ok(to)
        }
        Op::SumTo(x) => {
            let to = target.ok_or_else(|| malformed("sum_to needs a target shape".into()))?;
            let from = shape(*x);
            if !broadcastable(&to, &from) {
                return Err(malformed(format!(
                    "cannot sum `{}` of {from} down to {to}",
                    f.name_of(*x)
                )));
            }
            Ok(to)
        }
    }
}

/// The model's output must have the target's width; checked before the loss is built so that the
/// error names the output layer and the target rather than the loss's inner equations.
pub fn check_target(f: &Function, output: ValueId, target: ValueId) -> Result<(), ShapeError> {
    let (so, st) = (f.shape(output), f.shape(target));
    if so == st {
        return Ok(());
    }
    let want = st.last_fixed().unwrap_or(0);
    let mut e = mismatch(
        output,
        target,
        format!(
            "the output layer gives {} values per row, but the target needs {want}",
            so.last_fixed().unwrap_or(0),
        ),
    );
    e.help = Some(format!(
        "give the output layer {want} unit(s): one per class, or one per target value"
    ));
    Err(e)
}

fn dim_text(d: Dim) -> String {
    match d {
        Dim::Batch => "B (the batch size)".into(),
        Dim::Fixed(n) => n.to_string(),
    }
}

/// Turn a mismatch found while lowering the user's model into a diagnostic with a label on each
/// side's origin (the layers, or the data columns, that produced the two operands).
pub fn diagnose(f: &Function, err: &ShapeError, fallback: Span) -> Diagnostic {
    let mut d = Diagnostic::new(
        "nnc::shape::mismatch",
        format!("shape mismatch: {}", err.message),
    );
    let sides = [err.right, err.left];
    let mut labelled = false;
    for v in sides.into_iter().flatten() {
        if let Some(o) = f.origin(v) {
            d = d.with_label(o.span, format!("{} gives {}", o.what, f.shape(v)));
            labelled = true;
        }
    }
    if !labelled {
        d = d.with_label(fallback, "here");
    }
    d.with_help(err.help.clone().unwrap_or_else(|| {
        "the width a layer produces must be the width the next one (or the loss) expects".into()
    }))
}

/// Neither the file nor data gives the input width.
pub fn unknown_input_width(source: &crate::diag::Source, input_span: Span) -> Diagnostic {
    Diagnostic::new(
        "nnc::shape::unknown_input_width",
        "the input width is not declared and no data is given to infer it from",
    )
    .with_source(source)
    .with_label(input_span, "width unknown")
    .with_help("declare it, e.g. `input(4)`, or give the data with `data { path: \"file.csv\" }` or `--data FILE`")
}

/// An `output(...)` layer without a width, and no data to take it from.
pub fn unknown_output_width(source: &crate::diag::Source, layer_span: Span) -> Diagnostic {
    Diagnostic::new(
        "nnc::shape::unknown_output_width",
        "the output width is not given and no data is given to take it from",
    )
    .with_source(source)
    .with_label(layer_span, "width unknown")
    .with_help("give it, e.g. `output(3, activation: softmax)`, or give the data with `data { path: ... }` or `--data FILE`")
}

/// The declared input width disagrees with the number of feature columns in the data.
pub fn input_width_mismatch(
    source: &crate::diag::Source,
    declared: usize,
    input_span: Span,
    features: usize,
    data: Option<&crate::ir::Origin>,
    detail: Option<&str>,
) -> Diagnostic {
    let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
    let mut d = Diagnostic::new(
        "nnc::shape::input_width",
        format!(
            "the input layer declares {declared} features, but the data has {features}{detail}"
        ),
    )
    .with_source(source)
    .with_label(input_span, format!("the input declares f32[B,{declared}]"));
    if let Some(o) = data {
        d = d.with_label(o.span, format!("{} gives f32[B,{features}]", o.what));
    }
    d.with_help(format!(
        "write `input({features})`, or just `input` to take the width from the data"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{ArgRole, Function, Op, Shape};

    #[test]
    fn broadcast_rules_align_from_the_right() {
        let to = Shape::batched(&[3]);
        assert!(broadcastable(&Shape::fixed(&[3]), &to));
        assert!(broadcastable(&Shape::scalar(), &to));
        assert!(broadcastable(&Shape::batched(&[1]), &to));
        assert!(!broadcastable(&Shape::fixed(&[4]), &to));
        assert!(!broadcastable(&Shape::fixed(&[2, 3]), &Shape::fixed(&[3])));
    }

    #[test]
    fn matmul_inner_dimensions_must_agree() {
        let mut f = Function::new("t");
        let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Data, None);
        let w = f.add_arg("w", Shape::fixed(&[5, 2]), ArgRole::Param, None);
        let op = Op::MatMul {
            a: x,
            b: w,
            transpose_a: false,
            transpose_b: false,
        };
        let err = infer(&f, &op, None).unwrap_err();
        assert_eq!(err.left, Some(x));
        assert_eq!(err.right, Some(w));
        assert!(
            err.message
                .contains("`x` gives rows of 4 values but `w` expects 5"),
            "{}",
            err.message
        );
        let ok = Op::MatMul {
            a: x,
            b: w,
            transpose_a: true,
            transpose_b: false,
        };
        let err = infer(&f, &ok, None).unwrap_err();
        assert!(
            err.message.contains("rows of B (the batch size) values"),
            "x^T w has inner B vs 5: {}",
            err.message
        );
        let w2 = f.add_arg("w2", Shape::fixed(&[4, 2]), ArgRole::Param, None);
        let good = Op::MatMul {
            a: x,
            b: w2,
            transpose_a: false,
            transpose_b: false,
        };
        assert_eq!(infer(&f, &good, None).unwrap(), Shape::batched(&[2]));
        // One operand that is not a matrix is enough to refuse (and must not be indexed).
        let v = f.add_arg("v", Shape::fixed(&[4]), ArgRole::Param, None);
        for (a, b) in [(v, w2), (x, v)] {
            let op = Op::MatMul {
                a,
                b,
                transpose_a: false,
                transpose_b: false,
            };
            let err = infer(&f, &op, None).unwrap_err();
            assert!(err.message.contains("two matrices"), "{}", err.message);
        }
    }
}
