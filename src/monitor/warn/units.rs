//! Warnings about a layer's units in the last epoch: dead relu units (`nnc::train::dead_units`)
//! and saturated sigmoid or tanh units (`nnc::train::saturated_units`).

use crate::diag::Diagnostic;
use crate::lower::ModelSpec;
use crate::monitor::epoch::LayerStats;
use crate::train::EpochRecord;

/// The share of a relu layer's units that must be dead in the last epoch for a warning. A few
/// dead units are common and harmless in a relu network (its activations are sparse); with half
/// of them never firing, the layer has lost half its width and will not get it back, since a
/// dead unit receives no gradient.
pub const DEAD_SHARE: f64 = 0.5;

/// The share of a sigmoid or tanh layer's units that must be saturated in the last epoch for a
/// warning, for the same reason: half the layer then passes back at most a fourteenth of the
/// gradient it would at 0 (see `SIGMOID_SATURATION`, `TANH_SATURATION`).
pub const SATURATED_SHARE: f64 = 0.5;

/// What one warning counts, in a layer's statistics.
struct Check {
    code: &'static str,
    count: fn(&LayerStats) -> Option<usize>,
    share: f64,
    /// "never fired", "were saturated".
    what: &'static str,
    label: &'static str,
    help: &'static str,
}

const CHECKS: [Check; 2] = [
    Check {
        code: "nnc::train::dead_units",
        count: |l| l.dead_units,
        share: DEAD_SHARE,
        what: "never fired",
        label: "these relu units output 0 for every example",
        help: "a dead unit passes no gradient back and never recovers: use \
               `activation: leaky_relu` or `elu`, lower the learning rate, or start the biases \
               above 0 (`bias_init: uniform(0, 0.1)`) with `init: he_normal`",
    },
    Check {
        code: "nnc::train::saturated_units",
        count: |l| l.saturated_units,
        share: SATURATED_SHARE,
        what: "were saturated for most examples",
        label: "these units sit where their activation is flat",
        help: "a saturated unit passes almost no gradient back: scale the inputs \
               (`scaling: standard`), start the weights smaller (`init: glorot_uniform`) and \
               the biases at 0, or use `activation: relu`",
    },
];

/// The warnings the layer statistics of `history` call for, in the order of the model's layers.
pub fn warnings(spec: &ModelSpec, history: &[EpochRecord]) -> Vec<Diagnostic> {
    let Some(last) = history.last().and_then(|e| e.monitor.as_ref()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for layer in &last.layers {
        for check in &CHECKS {
            let heavy = |l: &LayerStats| {
                (check.count)(l).is_some_and(|c| c as f64 >= check.share * l.units as f64)
            };
            if !heavy(layer) {
                continue;
            }
            // The epoch from which the layer has been over the share without a break.
            let since = history
                .iter()
                .rev()
                .take_while(|e| {
                    (e.monitor.as_ref())
                        .and_then(|m| m.layers.iter().find(|l| l.layer == layer.layer))
                        .is_some_and(heavy)
                })
                .last()
                .map_or(history.len(), |e| e.epoch);
            let count = (check.count)(layer).unwrap_or(0);
            out.push(
                Diagnostic::new(
                    check.code,
                    format!(
                        "{count} of {} units of layer {} {} in epoch {}, and at least half of \
                         them since epoch {since}",
                        layer.units,
                        layer.layer,
                        check.what,
                        history.len()
                    ),
                )
                .as_warning()
                .with_source(&spec.source)
                .with_label(spec.layers[layer.layer - 1].span, check.label)
                .with_help(check.help),
            );
        }
    }
    out
}
