//! The loss axis of the learning curves: which scale it has, where its ticks go, how they read
//! and what its title says. A loss that falls by orders of magnitude (a regression fitting its
//! target closely) would lie flat on zero after a few epochs on a linear axis, so when the
//! losses span more than two decades the axis is logarithmic: the points are drawn at log10 of
//! their loss, with ticks at powers of ten (and twice and five times them when there are few
//! decades). Every loss the language builds is at least zero; a loss of exactly zero (a perfect
//! fit) has no place on a log axis and is drawn at its bottom edge, as plotting libraries clip
//! it, and the title says so. A negative loss (only a loss written as math can be one) keeps the
//! axis linear.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

use crate::data::TargetEncoding;

/// Losses whose largest and smallest positive value differ by more than this many decades get
/// a log axis.
const LOG_DECADES: f64 = 2.0;
/// About this many tick labels on the axis.
const TICKS: usize = 8;

/// The loss axis of one plot.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LossAxis {
    log: bool,
    /// Some loss is exactly zero (only noted on a log axis, where it is drawn at the bottom).
    zero: bool,
    /// Bottom and top of the axis, in axis units (log10 of the loss on a log axis).
    pub range: (f64, f64),
}

impl LossAxis {
    /// The axis for these finite losses (both series).
    pub fn fit(losses: &[f64]) -> LossAxis {
        let positive = losses.iter().copied().filter(|&v| v > 0.0);
        let (lo, hi) = positive.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let log =
            losses.iter().all(|&v| v >= 0.0) && lo <= hi && hi.log10() - lo.log10() > LOG_DECADES;
        if !log {
            return LossAxis {
                log,
                zero: false,
                range: loss_range(losses.iter().copied()),
            };
        }
        let (lo, hi) = (lo.log10(), hi.log10());
        let pad = (hi - lo) * 0.05;
        LossAxis {
            log,
            zero: losses.contains(&0.0),
            range: (lo - pad, hi + pad),
        }
    }

    /// Where a finite loss is drawn, in axis units.
    pub fn position(&self, loss: f64) -> f64 {
        if !self.log {
            loss
        } else if loss > 0.0 {
            loss.log10()
        } else {
            self.range.0
        }
    }

    /// The title of the axis: what the loss is computed on (a regression's target is
    /// standardized, so its loss is not in the target's units) and the scale when it is not
    /// linear.
    pub fn title(&self, target: TargetEncoding) -> String {
        let mut notes = Vec::new();
        if target == TargetEncoding::Standardized {
            notes.push("standardized target");
        }
        if self.log {
            notes.push("log scale");
        }
        if self.log && self.zero {
            notes.push("zeros at the bottom");
        }
        if notes.is_empty() {
            "loss".to_string()
        } else {
            format!("loss ({})", notes.join(", "))
        }
    }

    /// The ticks, in axis units: nice round values on a linear axis, powers of ten on a log one.
    /// Whether the axis is logarithmic, and whether zeros sit at its bottom edge.
    pub fn log_scale(&self) -> (bool, bool) {
        (self.log, self.log && self.zero)
    }

    pub fn ticks(&self) -> Vec<f64> {
        let (lo, hi) = self.range;
        if self.log {
            return log_ticks(lo, hi);
        }
        let linear: RangedCoordf64 = (lo..hi).into();
        linear.key_points(TICKS)
    }

    /// The axis as a plotters coordinate, with these ticks.
    pub fn coord(&self) -> AxisCoord {
        AxisCoord {
            linear: (self.range.0..self.range.1).into(),
            ticks: self.ticks(),
        }
    }

    /// The label of the tick at `y` (axis units).
    pub fn tick_label(&self, y: f64) -> String {
        if self.log {
            power_label(y)
        } else {
            format_tick(y, self.range.1 - self.range.0)
        }
    }
}

/// The loss axis for plotters: linear in axis units, with the ticks of [`LossAxis::ticks`]
/// (plotters' own ticks are for linear values, and its log coordinate places its ticks itself).
pub(super) struct AxisCoord {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for AxisCoord {
    type ValueType = f64;
    // The labels come from `LossAxis::tick_label`; this only satisfies the mesh's bounds.
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // No light grid lines between the ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// The range of a linear loss axis: the values with 5% padding on both sides, never below zero
/// when no value is; values that vary by less than a thousandth of their magnitude are shown
/// flat in a window of a tenth of it (so a constant loss gets readable ticks); `0..1` when there
/// is no value or every value is zero.
fn loss_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return (0.0, 1.0);
    }
    let magnitude = lo.abs().max(hi.abs());
    if magnitude == 0.0 {
        return (0.0, 1.0);
    }
    let (lo, hi) = if hi - lo < magnitude * 1e-3 {
        let mid = lo / 2.0 + hi / 2.0;
        (mid - magnitude * 0.05, mid + magnitude * 0.05)
    } else {
        (lo, hi)
    };
    let pad = (hi - lo) * 0.05;
    let bottom = if lo >= 0.0 {
        (lo - pad).max(0.0)
    } else {
        lo - pad
    };
    (bottom, hi + pad)
}

/// A tick label on a linear axis spanning `span`: as many decimals as the tick spacing needs,
/// scientific notation for very large or very fine values.
fn format_tick(value: f64, span: f64) -> String {
    let step = span / 8.0;
    let value = if value.abs() < step * 1e-6 {
        0.0
    } else {
        value
    };
    if value == 0.0 {
        return "0".to_string();
    }
    let decimals = (-step.log10().floor()).max(0.0);
    if decimals > 6.0 || value.abs() >= 1e6 {
        format!("{value:.3e}")
    } else {
        format!("{:.*}", decimals as usize, value)
    }
}

/// Ticks of a log axis from `lo` to `hi` (log10 units): the powers of ten inside, those whose
/// exponent is a multiple of 2, 5, 10, 20, ... decades when there are many, and twice and five
/// times each power when there are at most three, so that a short axis still has several labels.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.ceil() as i64, hi.floor() as i64);
    let decades = last - first + 1;
    let step = [1, 2, 5]
        .iter()
        .flat_map(|m| (0..4).map(move |k| m * 10i64.pow(k)))
        .filter(|&s| s * TICKS as i64 >= decades)
        .min()
        .unwrap_or(1000);
    let mut ticks: Vec<f64> = (first..=last)
        .filter(|e| e.rem_euclid(step) == 0)
        .map(|e| e as f64)
        .collect();
    if decades <= 3 {
        for e in first - 1..=last {
            for m in [2.0f64, 5.0] {
                let t = e as f64 + m.log10();
                if (lo..=hi).contains(&t) {
                    ticks.push(t);
                }
            }
        }
        ticks.sort_by(f64::total_cmp);
    }
    ticks
}

/// The loss 10^y of a log-axis tick, written plainly from 0.0001 to 100000 and as `2e-7` beyond.
fn power_label(y: f64) -> String {
    let exponent = y.floor();
    let mantissa = 10f64.powf(y - exponent).round();
    if (-4.0..=5.0).contains(&exponent) {
        let decimals = (-exponent).max(0.0) as usize;
        format!("{:.*}", decimals, mantissa * 10f64.powf(exponent))
    } else {
        format!("{mantissa}e{exponent}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(axis: &LossAxis) -> Vec<String> {
        axis.ticks().iter().map(|&t| axis.tick_label(t)).collect()
    }

    #[test]
    fn losses_over_more_than_two_decades_get_a_log_axis() {
        let falling: Vec<f64> = (0..6).map(|e| 10f64.powi(-e)).collect();
        let axis = LossAxis::fit(&falling);
        assert_eq!(axis.title(TargetEncoding::OneHot), "loss (log scale)");
        assert_eq!(
            labels(&axis),
            ["1e-5", "0.0001", "0.001", "0.01", "0.1", "1"]
        );
        assert_eq!(axis.position(0.01), -2.0);
        // Two decades exactly stay linear.
        let axis = LossAxis::fit(&[1.0, 0.5, 0.01]);
        assert_eq!(axis.title(TargetEncoding::OneHot), "loss");
        assert_eq!(axis.position(0.5), 0.5);
        assert_eq!(labels(&axis), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    }

    #[test]
    fn a_short_log_axis_has_ticks_at_two_and_five_times_the_powers() {
        let axis = LossAxis::fit(&[3.0, 0.004]);
        assert_eq!(
            labels(&axis),
            ["0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2"]
        );
        // Hundreds of decades: at most about eight labels, in scientific notation.
        let axis = LossAxis::fit(&[1e300, 1e-300]);
        let many = labels(&axis);
        assert!((2..=TICKS + 1).contains(&many.len()), "{many:?}");
        assert!(many.iter().any(|l| l == "1e-300"), "{many:?}");
    }

    #[test]
    fn zeros_lie_at_the_bottom_of_a_log_axis_and_negatives_keep_it_linear() {
        let axis = LossAxis::fit(&[10.0, 0.1, 0.001, 0.0]);
        assert_eq!(
            axis.title(TargetEncoding::Standardized),
            "loss (standardized target, log scale, zeros at the bottom)"
        );
        assert_eq!(axis.position(0.0), axis.range.0);
        assert!(axis.position(0.001) > axis.range.0);
        let axis = LossAxis::fit(&[1000.0, 1.0, -0.5]);
        assert_eq!(
            axis.title(TargetEncoding::Standardized),
            "loss (standardized target)"
        );
        assert!(axis.range.0 < -0.5);
        // Zeros alone, or one value, stay linear.
        for losses in [&[0.0, 0.0][..], &[5.0], &[]] {
            assert_eq!(LossAxis::fit(losses).title(TargetEncoding::Binary), "loss");
        }
    }
}
