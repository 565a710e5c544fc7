//! Warnings about a run, each a diagnostic at the line of its cause with a fix and the figures
//! that triggered it: from the training statistics (`units`: dead relu units, saturated sigmoid
//! or tanh units; `gradients`: vanishing and exploding gradients), from the loss curves
//! (`curve`: over-fitting, a learning rate too high or too low) and from the prepared inputs
//! (`inputs`: columns of very different magnitudes left unscaled).
//!
//! Each check has its threshold as a named constant with the reason for its value; the shipped
//! examples are the test that none raises a false alarm on a healthy model.

pub mod curve;
pub mod gradients;
pub mod inputs;
pub mod units;

use crate::diag::Diagnostic;
use crate::lower::ModelSpec;
use crate::train::EpochRecord;

pub use curve::chance_loss;
pub use units::{DEAD_SHARE, SATURATED_SHARE};

/// The warnings a finished run calls for, causes before symptoms: what the statistics show about
/// the layers and gradients, then what the loss curves show. `chance_loss` is the training loss of
/// the best constant prediction (`chance_loss`), when the loss has one.
pub fn warnings(
    spec: &ModelSpec,
    history: &[EpochRecord],
    chance_loss: Option<f64>,
) -> Vec<Diagnostic> {
    let mut out = units::warnings(spec, history);
    // Dead or saturated units shrink the gradient behind them: they are the cause to name.
    if out.is_empty() {
        out.extend(gradients::vanishing(spec, history));
    }
    out.extend(gradients::exploding(spec, history));
    out.extend(curve::overfitting(spec, history, chance_loss));
    out.extend(curve::learning_rate_high(spec, history));
    // A slow descent has many causes; the rate is the one left when no other is seen.
    if out.is_empty() {
        out.extend(curve::learning_rate_low(spec, history, chance_loss));
    }
    out
}

/// A figure for a message: three significant digits, in scientific notation when very large or
/// small.
pub(crate) fn figure(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        format!("{x}")
    } else if x.abs() >= 1e4 || x.abs() < 1e-3 {
        format!("{x:.2e}")
    } else {
        let digits = (2 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.digits$}")
    }
}

/// A setting's value as one would write it: at most three significant digits, no exponent
/// under 1e-10 (`0.0001`, `0.2`, `10`).
pub(crate) fn setting(x: f64) -> String {
    let rounded: f64 = format!("{x:.2e}").parse().unwrap_or(x);
    format!("{rounded}")
}

#[cfg(test)]
mod tests {
    use super::{figure, setting};

    #[test]
    fn settings_read_as_written() {
        assert_eq!(setting(2.0), "2");
        assert_eq!(setting(0.2), "0.2");
        assert_eq!(setting(1e-5 * 10.0), "0.0001");
        assert_eq!(setting(0.001), "0.001");
    }

    #[test]
    fn figures_keep_three_significant_digits() {
        assert_eq!(figure(0.48312), "0.483");
        assert_eq!(figure(1.0986), "1.10");
        assert_eq!(figure(27.04), "27.0");
        assert_eq!(figure(512.3), "512");
        assert_eq!(figure(0.0), "0");
        assert_eq!(figure(4.9e3), "4900");
        assert_eq!(figure(27_000.0), "2.70e4");
        assert_eq!(figure(0.00013), "1.30e-4");
    }
}
