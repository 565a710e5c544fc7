//! The Keras-style model summary: one row per layer with its output shape and parameter count,
//! then the totals and the training setup.

use std::fmt::Write;

use crate::lower::spec::NodeKind;
use crate::lower::{Optimizer, Owner};
use crate::program::Program;

/// A number as a person writes it: exponent notation for small ones (`1e-8`).
fn number_text(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn optimizer_text(o: &Optimizer) -> String {
    let mut options: Vec<String> = o
        .options()
        .into_iter()
        .map(|(name, v)| format!("{name}: {}", number_text(v)))
        .collect();
    // Flags at their default (false) would only add noise.
    options.extend(
        o.flags()
            .into_iter()
            .filter(|&(_, on)| on)
            .map(|(name, _)| format!("{name}: true")),
    );
    format!("{}({})", o.name(), options.join(", "))
}

/// The schedule's name and the clipping bounds, when the optimizer has them.
fn update_text(spec: &crate::lower::ModelSpec) -> String {
    let mut parts = Vec::new();
    if spec.schedule != crate::lower::Schedule::Constant {
        parts.push(format!("schedule {}", spec.schedule.name()));
    }
    if let Some(v) = spec.clipping.value {
        parts.push(format!("clip_value {}", number_text(v)));
    }
    if let Some(c) = spec.clipping.norm {
        parts.push(format!("clip_norm {}", number_text(c)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A shape as Keras prints it: `(B, 64)`.
fn shape_text(s: &crate::ir::Shape) -> String {
    let dims: Vec<String> =
        s.0.iter()
            .map(|d| match d {
                crate::ir::Dim::Batch => "B".to_string(),
                crate::ir::Dim::Fixed(n) => n.to_string(),
            })
            .collect();
    format!("({})", dims.join(", "))
}

/// One layer (or named value) of the model: what the summary prints of it, and where the file
/// writes it (for an editor's hover).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    /// `dense_2 (relu)`, `h = dense_2 (relu)`, `layernorm_3`, `math`.
    pub label: String,
    /// `(B, 64)`.
    pub shape: String,
    pub params: usize,
    pub span: crate::diag::Span,
}

/// The rows of the model's layers, in order (the input first, without a span of its own).
pub fn layer_rows(program: &Program) -> Vec<LayerRow> {
    let spec = &program.spec;
    let input_width = program.input_width;
    let mut rows = vec![LayerRow {
        label: "input".to_string(),
        shape: format!("(B, {input_width})"),
        params: 0,
        span: crate::diag::Span::default(),
    }];
    for (k, node) in spec.nodes.iter().enumerate() {
        let own = |p: &&crate::lower::ParamSpec| match (&p.owner, &node.kind) {
            (Owner::Layer(i), NodeKind::Dense(j)) => i == j,
            (Owner::Math { node: n, .. }, _) => *n == k,
            (Owner::Layer(_), _) => false,
        };
        let params = program.params.iter().filter(own).map(|p| p.numel()).sum();
        let label = match &node.kind {
            NodeKind::Input => continue,
            NodeKind::Dense(i) => {
                let l = &spec.layers[*i];
                let activation = match &l.activation_def {
                    Some(d) => d.call.name.name.clone(),
                    None => l.activation.name().to_string(),
                };
                format!(
                    "{}_{} ({activation})",
                    if l.is_output { "output" } else { "dense" },
                    k + 1,
                )
            }
            NodeKind::Def { def, .. } => format!("{}_{}", spec.defs[*def].name.name, k + 1),
            NodeKind::Math(_) => "math".to_string(),
            NodeKind::BatchNorm { .. } => format!("batchnorm_{}", k + 1),
        };
        let label = match &node.name {
            Some(n) => format!("{} = {label}", n.name),
            None => label,
        };
        let shape = program
            .node_values
            .get(k)
            .and_then(|name| {
                program
                    .forward
                    .values
                    .iter()
                    .find(|v| v.name == *name)
                    .map(|v| shape_text(&v.shape))
            })
            .unwrap_or_default();
        rows.push(LayerRow {
            label,
            shape,
            params,
            span: node.span,
        });
    }
    rows
}

/// The summary table of a built program.
pub fn summary(program: &Program) -> String {
    let spec = &program.spec;
    let rows: Vec<(String, String, usize)> = layer_rows(program)
        .into_iter()
        .map(|r| (r.label, r.shape, r.params))
        .collect();
    let total = program.parameter_count();
    let w0 = rows
        .iter()
        .map(|r| r.0.len())
        .max()
        .unwrap_or(0)
        .max("Layer (activation)".len())
        + 3;
    let w1 = rows
        .iter()
        .map(|r| r.1.len())
        .max()
        .unwrap_or(0)
        .max("Output shape".len())
        + 3;
    let w2 = rows
        .iter()
        .map(|r| thousands(r.2).len())
        .max()
        .unwrap_or(0)
        .max("Params".len());
    let width = w0 + w1 + w2;
    let mut out = String::new();
    let _ = writeln!(out, "Model: {}", spec.source.name);
    let _ = writeln!(out, "{}", "━".repeat(width));
    let _ = writeln!(
        out,
        "{:<w0$}{:<w1$}{:>w2$}",
        "Layer (activation)", "Output shape", "Params"
    );
    let _ = writeln!(out, "{}", "─".repeat(width));
    for (name, shape, params) in &rows {
        let _ = writeln!(out, "{name:<w0$}{shape:<w1$}{:>w2$}", thousands(*params));
    }
    let _ = writeln!(out, "{}", "━".repeat(width));
    let _ = writeln!(
        out,
        "Total params: {} (trainable: {}, {} bytes as f32)",
        thousands(total),
        thousands(total),
        thousands(total * 4)
    );
    let _ = writeln!(out, "Loss: {}", spec.loss.name());
    let _ = writeln!(
        out,
        "Optimizer: {}{}",
        optimizer_text(&spec.optimizer),
        update_text(spec)
    );
    let batch = if spec.train.full_batch {
        "all".to_string()
    } else {
        spec.train.batch_size.to_string()
    };
    let _ = writeln!(
        out,
        "Training: {} epochs, batch size {batch}, seed {}",
        spec.train.epochs, spec.train.seed
    );
    out
}
