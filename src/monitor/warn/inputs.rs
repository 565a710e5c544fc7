//! A warning about the prepared inputs, before training: numeric columns of very different
//! magnitudes that `scaling: none` leaves so (`nnc::data::unscaled_inputs`).

use super::figure;
use crate::data::{Examples, Feature, Preprocessing, Scaling};
use crate::diag::{Diagnostic, Span};
use crate::lower::ModelSpec;

/// The factor between the largest and the smallest numeric input's size (root mean square over
/// the training rows) from which a warning is due: two orders of magnitude. A first layer starts
/// with weights of one size for every input, so the largest inputs then make nearly all of its
/// first outputs and gradients.
pub const UNSCALED_RATIO: f64 = 100.0;

/// The warning, when two numeric inputs differ in size by `UNSCALED_RATIO` or more and at least
/// one of them is not scaled.
pub fn unscaled(
    spec: &ModelSpec,
    train: &Examples,
    preprocessing: &Preprocessing,
) -> Option<Diagnostic> {
    let x = &train.x;
    let mut sizes = Vec::new();
    let mut offset = 0;
    for feature in &preprocessing.features {
        if let Feature::Numeric { name, .. } = feature {
            let squares: f64 = (0..x.rows)
                .map(|r| f64::from(x.data[r * x.cols + offset]).powi(2))
                .sum();
            let size = (squares / x.rows.max(1) as f64).sqrt();
            let unscaled = spec.data.prepare.settings(name).scaling == Scaling::None;
            if size > 0.0 && size.is_finite() {
                sizes.push((name.as_str(), size, unscaled));
            }
        }
        offset += feature.width();
    }
    let by_size = |a: &&(&str, f64, bool), b: &&(&str, f64, bool)| a.1.total_cmp(&b.1);
    let largest = sizes.iter().max_by(by_size)?;
    let smallest = sizes.iter().min_by(by_size)?;
    let ratio = largest.1 / smallest.1;
    if ratio < UNSCALED_RATIO || !(largest.2 || smallest.2) {
        return None;
    }
    let column = if largest.2 { largest.0 } else { smallest.0 };
    Some(
        Diagnostic::new(
            "nnc::data::unscaled_inputs",
            format!(
                "column `{}` is about {} in size and `{}` about {}: {}× apart, and not scaled",
                largest.0,
                figure(largest.1),
                smallest.0,
                figure(smallest.1),
                figure(ratio),
            ),
        )
        .as_warning()
        .with_source(&spec.source)
        .with_label(scaling_span(spec, column), "leaves the columns as they are")
        .with_help(
            "the first layer starts with weights of one size for every input, so the largest \
             columns drive its first steps and a learning rate that suits them is wrong for the \
             rest: remove `scaling: none` (the default, `standard`, gives every column mean 0 \
             and deviation 1), or use `robust` for columns with outliers",
        ),
    )
}

/// Where `column`'s scaling is written: its own block's setting, else the data block's.
fn scaling_span(spec: &ModelSpec, column: &str) -> Span {
    let data = &spec.data;
    let own = (data.column_blocks.iter())
        .filter(|b| b.column.name == column)
        .flat_map(|b| &b.settings)
        .find(|(name, _)| *name == "scaling");
    let all = data
        .column_defaults
        .iter()
        .find(|(name, _)| *name == "scaling");
    own.or(all).map_or(data.span, |(_, span)| *span)
}
