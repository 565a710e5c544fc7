//! Batch normalization (Ioffe and Szegedy 2015) as IR. In the training loss each feature is
//! normalized with the batch's mean and (biased) variance, and the loss function also writes the
//! running statistics, `running ← momentum · running + (1 − momentum) · batch`, as updates of its
//! state arguments, which the training step inherits. Evaluation, validation and prediction
//! normalize with the running statistics instead, so they do not depend on the batch. The
//! statistics are buffers of the model (`Lowered::stats`), saved with its weights. The layer's gain
//! and shift are parameters like any other.

use crate::diag::{Diagnostic, Span};
use crate::ir::{ArgRole, BinaryOp, Dim, Function, Op, Origin, Shape, UnaryOp, Update, ValueId};
use crate::optim::StateSpec;

use super::params::{Init, Owner, ParamSpec};
use super::regularize::Mode;
use super::spec::ModelSpec;

/// One `batchnorm(...)` entry of the model: its index among the entries, options and span.
pub(super) struct BatchNorm {
    pub node: usize,
    pub momentum: f64,
    pub epsilon: f64,
    pub span: Span,
}

impl BatchNorm {
    fn origin(&self, spec: &ModelSpec) -> Origin {
        let text = spec
            .source
            .text
            .get(self.span.start..self.span.end)
            .unwrap_or("batchnorm");
        Origin {
            span: self.span,
            what: format!("`{text}`"),
        }
    }

    /// The normalized `x`; declares the layer's parameters and statistics when `f` lacks them.
    pub fn emit(
        &self,
        f: &mut Function,
        spec: &ModelSpec,
        x: ValueId,
        (params, stats): (&mut Vec<ParamSpec>, &mut Vec<StateSpec>),
        mode: Mode,
    ) -> Result<ValueId, Diagnostic> {
        let origin = self.origin(spec);
        let width = match f.shape(x).0.as_slice() {
            [Dim::Batch, Dim::Fixed(n)] => *n,
            _ => {
                let s = f.shape(x).clone();
                return Err(Diagnostic::new(
                    "nnc::shape::mismatch",
                    format!("batchnorm normalizes rows of values, (B, n), but its input is {s}"),
                )
                .with_source(&spec.source)
                .with_label(self.span, "this layer")
                .with_help("apply it to a layer's output"));
            }
        };
        let prefix = format!("batchnorm{}", self.node + 1);
        let o = Some(origin.clone());
        let mut param = |f: &mut Function, name: &str, init: Init| {
            let name = format!("{prefix}_{name}");
            if let Some(v) = f.arg_named(&name) {
                return v;
            }
            let v = f.add_arg(&name, Shape::fixed(&[width]), ArgRole::Param, o.clone());
            params.push(ParamSpec {
                name,
                shape: vec![width],
                init,
                owner: Owner::Math {
                    origin: origin.clone(),
                    node: self.node,
                },
            });
            v
        };
        let gain = param(f, "gain", Init::Constant(1.0));
        let shift = param(f, "shift", Init::Zeros);
        let mut stat = |f: &mut Function, name: &str, init: f32| {
            let name = format!("{prefix}_{name}");
            if let Some(v) = f.arg_named(&name) {
                return v;
            }
            let v = f.add_arg(&name, Shape::fixed(&[width]), ArgRole::State, o.clone());
            stats.push(StateSpec {
                name,
                shape: vec![width],
                init,
            });
            v
        };
        let running_mean = stat(f, "mean", 0.0);
        let running_var = stat(f, "variance", 1.0);

        let rows = f.shape(x).clone();
        let row = Shape::fixed(&[width]);
        let push =
            |f: &mut Function, op: Op, target: Option<Shape>| f.push(op, target, None, o.clone());
        let per_row = |f: &mut Function, v: ValueId| push(f, Op::Broadcast(v), Some(rows.clone()));
        let (mean, variance) = match mode {
            Mode::Eval => (running_mean, running_var),
            Mode::Train(_) => {
                // The batch's mean and biased variance per feature (as Keras and PyTorch
                // normalize), summed over the batch in a fixed order.
                let batch = push(f, Op::BatchSize, None);
                let count = push(f, Op::Broadcast(batch), Some(row.clone()));
                let sum = push(f, Op::SumTo(x), Some(row.clone()));
                let mean = push(f, Op::Binary(BinaryOp::Div, sum, count), None);
                let centered = {
                    let m = per_row(f, mean);
                    push(f, Op::Binary(BinaryOp::Sub, x, m), None)
                };
                let squares = push(f, Op::Binary(BinaryOp::Mul, centered, centered), None);
                let sum_squares = push(f, Op::SumTo(squares), Some(row.clone()));
                let variance = push(f, Op::Binary(BinaryOp::Div, sum_squares, count), None);
                for (running, batch_value) in [(running_mean, mean), (running_var, variance)] {
                    let kept = push(
                        f,
                        Op::Unary(
                            UnaryOp::Affine {
                                mul: self.momentum,
                                add: 0.0,
                            },
                            running,
                        ),
                        None,
                    );
                    let new = push(
                        f,
                        Op::Unary(
                            UnaryOp::Affine {
                                mul: 1.0 - self.momentum,
                                add: 0.0,
                            },
                            batch_value,
                        ),
                        None,
                    );
                    let next = push(f, Op::Binary(BinaryOp::Add, kept, new), None);
                    f.updates.push(Update {
                        arg: running,
                        value: next,
                    });
                }
                (mean, variance)
            }
        };
        // (x − mean) / √(variance + ε) · gain + shift, with the per-feature factors folded into
        // one scale before they meet the batch.
        let shifted_var = push(
            f,
            Op::Unary(
                UnaryOp::Affine {
                    mul: 1.0,
                    add: self.epsilon,
                },
                variance,
            ),
            None,
        );
        let deviation = push(f, Op::Unary(UnaryOp::Sqrt, shifted_var), None);
        let scale = push(f, Op::Binary(BinaryOp::Div, gain, deviation), None);
        let m = per_row(f, mean);
        let centered = push(f, Op::Binary(BinaryOp::Sub, x, m), None);
        let s = per_row(f, scale);
        let scaled = push(f, Op::Binary(BinaryOp::Mul, centered, s), None);
        let b = per_row(f, shift);
        Ok(push(f, Op::Binary(BinaryOp::Add, scaled, b), None))
    }
}
