//! The Keras-style model summary: one row per layer with its output shape and parameter count,
//! then the totals and the training setup.

use std::fmt::Write;

use crate::lower::{ModelSpec, Optimizer};

fn optimizer_text(o: &Optimizer) -> String {
    match o {
        Optimizer::Sgd {
            learning_rate,
            momentum,
        } => format!("sgd(learning_rate: {learning_rate}, momentum: {momentum})"),
        Optimizer::Adam {
            learning_rate,
            beta1,
            beta2,
            epsilon,
        } => format!("adam(learning_rate: {learning_rate}, beta1: {beta1}, beta2: {beta2}, epsilon: {epsilon:e})"),
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

/// The summary table for a model whose input width is known.
pub fn summary(spec: &ModelSpec, input_width: usize) -> String {
    let mut rows = vec![("input".to_string(), format!("(B, {input_width})"), 0usize)];
    let mut fan_in = input_width;
    for (i, l) in spec.layers.iter().enumerate() {
        let params = fan_in * l.units + l.units;
        rows.push((
            format!(
                "{}_{} ({})",
                if l.is_output { "output" } else { "dense" },
                i + 1,
                l.activation.name()
            ),
            format!("(B, {})", l.units),
            params,
        ));
        fan_in = l.units;
    }
    let total: usize = rows.iter().map(|r| r.2).sum();
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
    let _ = writeln!(out, "Optimizer: {}", optimizer_text(&spec.optimizer));
    let _ = writeln!(
        out,
        "Training: {} epochs, batch size {}, seed {}",
        spec.train.epochs, spec.train.batch_size, spec.train.seed
    );
    out
}
