//! Warnings about the gradients in the last epoch, from the training statistics: gradients that
//! vanish on their way back to the first layer (`nnc::train::vanishing_gradients`) and gradients
//! far larger than the weights they update (`nnc::train::exploding_gradients`).
//!
//! Both compare a weight matrix's gradient norm with the matrix's own norm (`gradient_to_weight`):
//! a layer of 512 units has larger gradients than one of 8 in absolute terms, but what a step does
//! to a layer is the relative change.

use super::figure;
use crate::diag::Diagnostic;
use crate::lower::ModelSpec;
use crate::monitor::epoch::ParamStats;
use crate::train::EpochRecord;

/// How far below the last layer's relative gradient the first layer's must be for a warning: two
/// orders of magnitude. In the shipped examples (relu, up to four layers, a residual block) the
/// first layer's is within a factor of 2 of the last's; five sigmoid layers put it near 1/100.
pub const VANISHING_RATIO: f64 = 1e-2;

/// The relative gradient (gradient norm over weight norm) of any weight matrix in the last epoch
/// beyond which gradients are exploding: one plain SGD step at a learning rate of 0.01 would then
/// move the matrix by its own size. The shipped examples end below 0.6; an output layer still far
/// from fitting (a large error, small weights) can reach 10 in its first epochs, so the bar is
/// well above that.
pub const EXPLODING_RATIO: f64 = 100.0;

/// The weight matrices of the dense layers in the last epoch, in layer order.
fn last_matrices(history: &[EpochRecord]) -> Vec<&ParamStats> {
    let Some(last) = history.last().and_then(|e| e.monitor.as_ref()) else {
        return Vec::new();
    };
    let mut matrices: Vec<&ParamStats> = (last.params.iter())
        .filter(|p| p.matrix && p.layer.is_some() && p.gradient_to_weight.is_finite())
        .collect();
    matrices.sort_by_key(|p| p.layer);
    matrices
}

/// The first layer's relative gradient at most `VANISHING_RATIO` of the last layer's. A first
/// layer with no gradient at all is left to the dead-unit warning: that is not a gradient shrunk
/// on its way back but one cut off.
pub fn vanishing(spec: &ModelSpec, history: &[EpochRecord]) -> Option<Diagnostic> {
    let matrices = last_matrices(history);
    let (first, last) = (matrices.first()?, matrices.last()?);
    let (g_first, g_last) = (first.gradient_to_weight, last.gradient_to_weight);
    if first.layer == last.layer || g_first == 0.0 || g_last == 0.0 {
        return None;
    }
    let ratio = g_first / g_last;
    if ratio > VANISHING_RATIO {
        return None;
    }
    let (layer, last_layer) = (first.layer?, last.layer?);
    Some(
        Diagnostic::new(
            "nnc::train::vanishing_gradients",
            format!(
                "the gradient reaching layer {layer}'s weights is {} of their norm in epoch {}, \
                 {} times layer {last_layer}'s ({})",
                figure(g_first),
                history.len(),
                figure(ratio),
                figure(g_last),
            ),
        )
        .as_warning()
        .with_source(&spec.source)
        .with_label(
            spec.layers[layer - 1].span,
            "this layer learns orders of magnitude slower than the last",
        )
        .with_help(
            "each sigmoid or tanh layer passes back a fraction of the gradient it receives (a \
             quarter at most for sigmoid): use `activation: relu` with `init: he_normal` in the \
             hidden layers, put a `batchnorm` between them, or use fewer layers",
        ),
    )
}

/// Any weight matrix whose gradient in the last epoch is at least `EXPLODING_RATIO` times its own
/// norm, unless the optimizer clips the gradients (then the step is bounded whatever they are).
pub fn exploding(spec: &ModelSpec, history: &[EpochRecord]) -> Option<Diagnostic> {
    if spec.clipping.norm.is_some() || spec.clipping.value.is_some() {
        return None;
    }
    let matrices = last_matrices(history);
    let worst = (matrices.iter())
        .filter(|p| p.gradient_to_weight >= EXPLODING_RATIO)
        .max_by(|a, b| a.gradient_to_weight.total_cmp(&b.gradient_to_weight))?;
    let layer = worst.layer?;
    Some(
        Diagnostic::new(
            "nnc::train::exploding_gradients",
            format!(
                "the gradient of layer {layer}'s weights has a norm of {} in epoch {}, {} times \
                 the weights' own ({})",
                figure(worst.gradient_norm),
                history.len(),
                figure(worst.gradient_to_weight),
                figure(worst.weight_norm),
            ),
        )
        .as_warning()
        .with_source(&spec.source)
        .with_label(
            spec.layers[layer - 1].span,
            "one step can throw these weights far from where they were",
        )
        .with_help(
            "bound the step with `clip_norm: 1` in the optimizer's call, lower the learning \
             rate, or start from smaller weights (`init: he_normal` for relu, \
             `glorot_uniform` for sigmoid and tanh) with the inputs scaled",
        ),
    )
}
