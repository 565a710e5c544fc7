//! Warnings read off a run's training statistics, each a diagnostic at the line of its cause
//! with a fix. So far: dead relu units (`nnc::train::dead_units`).

use crate::diag::Diagnostic;
use crate::lower::ModelSpec;
use crate::train::EpochRecord;

/// The share of a relu layer's units that must be dead in the last epoch for a warning. A few
/// dead units are common and harmless in a relu network (its activations are sparse); with half
/// of them never firing, the layer has lost half its width and will not get it back, since a
/// dead unit receives no gradient.
pub const DEAD_SHARE: f64 = 0.5;

/// The warnings the statistics of `history` call for, in the order of the model's layers.
pub fn warnings(spec: &ModelSpec, history: &[EpochRecord]) -> Vec<Diagnostic> {
    let Some(last) = history.last().and_then(|e| e.monitor.as_ref()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for layer in &last.layers {
        let Some(dead) = layer.dead_units else {
            continue;
        };
        let heavy = |d: usize| d as f64 >= DEAD_SHARE * layer.units as f64;
        if !heavy(dead) {
            continue;
        }
        // The epoch from which the layer has been at least half dead without a break.
        let since = history
            .iter()
            .rev()
            .take_while(|e| {
                let l = e
                    .monitor
                    .as_ref()
                    .and_then(|m| m.layers.iter().find(|l| l.layer == layer.layer));
                l.and_then(|l| l.dead_units).is_some_and(heavy)
            })
            .last()
            .map_or(history.len(), |e| e.epoch);
        let last_epoch = history.len();
        let span = spec.layers[layer.layer - 1].span;
        out.push(
            Diagnostic::new(
                "nnc::train::dead_units",
                format!(
                    "{dead} of {} units of layer {} never fired in epoch {last_epoch}, \
                     and at least half of them have been dead since epoch {since}",
                    layer.units, layer.layer
                ),
            )
            .as_warning()
            .with_source(&spec.source)
            .with_label(span, "these relu units output 0 for every example")
            .with_help(
                "a dead unit passes no gradient back and never recovers: use \
                 `activation: leaky_relu` or `elu`, lower the learning rate, or start the \
                 biases above 0 (`bias_init: uniform(0, 0.1)`) with `init: he_normal`",
            ),
        );
    }
    out
}
