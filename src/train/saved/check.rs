//! The checks a saved model's fitted preprocessing passes before `nnc predict` or `nnc eval` use
//! it. The manifest's checksums catch accidental damage, but an edited `preprocessing.json` whose
//! manifest entry was recomputed loads past them, and nothing downstream may trust it: applying
//! the preprocessing, predicting and evaluating index by its class names and categories and divide
//! by its statistics. Every such field is checked here, against the rest of the file and against
//! the compiled model; each failure is a sentence naming the field, which `saved::open` reports as
//! `nnc::model::corrupt`.

use std::collections::HashSet;

use crate::data::{Feature, FittedTarget, Missing, Preprocessing, TargetEncoding};
use crate::lower::spec::Activation;
use crate::lower::ModelSpec;
use crate::program::Program;

/// The fitted preprocessing on its own and against the kind of target the model's loss reads.
pub(super) fn fitted(p: &Preprocessing, spec: &ModelSpec) -> Result<(), String> {
    target(&p.target, spec)?;
    if p.features.is_empty() {
        return Err("`features` is empty, but a model takes at least one column".into());
    }
    let mut names = HashSet::new();
    for (i, f) in p.features.iter().enumerate() {
        let at = format!("`features[{i}]` (`{}`)", f.name());
        if f.name() == p.target_name() {
            return Err(format!("{at} is the target column"));
        }
        if !names.insert(f.name()) {
            return Err(format!("{at} names a column that an earlier feature names"));
        }
        numeric(f, &at)?;
        categorical(f, &at)?;
    }
    markers(p)
}

/// The model's output is as wide as the target the preprocessing encodes.
pub(super) fn outputs(p: &Preprocessing, program: &Program) -> Result<(), String> {
    let f = &program.loss;
    let width = f
        .output_named("output")
        .and_then(|v| f.shape(v).last_fixed());
    let (expected, what) = match &p.target {
        FittedTarget::Classes {
            names,
            encoding: TargetEncoding::OneHot,
            ..
        } => (names.len(), format!("{} classes", names.len())),
        FittedTarget::Classes { .. } => (1, "two classes in one column".into()),
        FittedTarget::Values { .. } => (1, "one value".into()),
    };
    match width {
        Some(w) if w == expected => Ok(()),
        Some(w) => Err(format!(
            "`target` encodes {what}, but the model has {w} outputs"
        )),
        None => Err("the model's output has no fixed width".into()),
    }
}

/// The target's statistics or classes, and its kind and encoding as the model's loss and output
/// layer make them in training (`train::inputs`).
fn target(t: &FittedTarget, spec: &ModelSpec) -> Result<(), String> {
    let classification = spec.loss.kind().is_classification();
    match t {
        FittedTarget::Classes {
            names, encoding, ..
        } => {
            if !classification {
                return Err("`target` holds classes, but the model's loss predicts values".into());
            }
            let needed = match encoding {
                TargetEncoding::Binary if names.len() != 2 => Some("exactly 2"),
                TargetEncoding::OneHot if names.len() < 2 => Some("at least 2"),
                TargetEncoding::Standardized => {
                    return Err("`target.encoding` is `standardized`, which is for values".into())
                }
                _ => None,
            };
            if let Some(needed) = needed {
                return Err(format!(
                    "`target.names` lists {} class names; a `{}` target has {needed}",
                    names.len(),
                    encoding_name(*encoding)
                ));
            }
            if let Some(name) = first_duplicate(names) {
                return Err(format!("`target.names` lists the class `{name}` twice"));
            }
            let sigmoid = spec.layers.last().map(|l| l.activation) == Some(Activation::Sigmoid);
            let expected = match sigmoid && names.len() == 2 {
                true => TargetEncoding::Binary,
                false => TargetEncoding::OneHot,
            };
            if *encoding != expected {
                return Err(format!(
                    "`target.encoding` is `{}`, but this model's output layer takes `{}`",
                    encoding_name(*encoding),
                    encoding_name(expected)
                ));
            }
            Ok(())
        }
        FittedTarget::Values { mean, std, .. } => {
            if classification {
                return Err("`target` holds values, but the model's loss predicts classes".into());
            }
            finite("`target.mean`", *mean)?;
            positive("`target.std`", *std)
        }
    }
}

fn encoding_name(e: TargetEncoding) -> &'static str {
    match e {
        TargetEncoding::OneHot => "one_hot",
        TargetEncoding::Binary => "binary",
        TargetEncoding::Standardized => "standardized",
    }
}

/// A numeric feature's statistics (nothing for another feature).
fn numeric(f: &Feature, at: &str) -> Result<(), String> {
    let Feature::Numeric {
        reference,
        missing,
        fill,
        clip,
        center,
        scale,
        ..
    } = f
    else {
        return Ok(());
    };
    finite(&format!("{at}.reference"), *reference)?;
    finite(&format!("{at}.center"), *center)?;
    positive(&format!("{at}.scale"), *scale)?;
    let fills = match missing {
        Missing::Error | Missing::Drop => false,
        Missing::Mean | Missing::Median | Missing::MostFrequent => true,
        Missing::Constant(crate::data::Constant::Number(_)) => true,
        Missing::Constant(crate::data::Constant::Text(_)) => {
            return Err(format!(
                "{at} fills missing numbers with text (`missing.constant`)"
            ))
        }
    };
    match fill {
        Some(v) => finite(&format!("{at}.fill"), *v)?,
        None if fills => return Err(format!("{at} has no `fill` for its `missing` strategy")),
        None => {}
    }
    if fill.is_some() && !fills {
        return Err(format!(
            "{at} has a `fill` although its `missing` strategy fills nothing"
        ));
    }
    if let Some((lo, hi)) = clip {
        finite(&format!("{at}.clip[0]"), *lo)?;
        finite(&format!("{at}.clip[1]"), *hi)?;
        if lo > hi {
            return Err(format!(
                "{at}.clip is [{lo}, {hi}], whose lower bound is above its upper bound"
            ));
        }
    }
    Ok(())
}

/// A categorical feature's categories and fill (nothing for another feature).
fn categorical(f: &Feature, at: &str) -> Result<(), String> {
    let Feature::Categorical {
        categories,
        missing,
        fill,
        ..
    } = f
    else {
        return Ok(());
    };
    if let Some(c) = first_duplicate(categories) {
        return Err(format!("{at}.categories lists `{c}` twice"));
    }
    if fill.is_some() && matches!(missing, Missing::Error | Missing::Drop) {
        return Err(format!(
            "{at} has a `fill` although its `missing` strategy fills nothing"
        ));
    }
    Ok(())
}

/// No marker of a missing value is a category or a class: training read such cells as missing,
/// so it could not have fitted them.
fn markers(p: &Preprocessing) -> Result<(), String> {
    let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    for (i, m) in p.missing_markers.iter().enumerate() {
        let at = format!("`missing_markers[{i}]` (`{m}`)");
        if p.class_names().iter().any(|c| is(c, m)) {
            return Err(format!("{at} is also a class of the target"));
        }
        for f in &p.features {
            if let Feature::Categorical {
                name, categories, ..
            } = f
            {
                if categories.iter().any(|c| is(c, m)) {
                    return Err(format!("{at} is also a category of `{name}`"));
                }
            }
        }
    }
    Ok(())
}

fn first_duplicate(names: &[String]) -> Option<&str> {
    let mut seen = HashSet::new();
    names
        .iter()
        .find(|n| !seen.insert(n.as_str()))
        .map(String::as_str)
}

fn finite(field: &str, v: f64) -> Result<(), String> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(format!("{field} is {v}, not a finite number"))
    }
}

fn positive(field: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{field} is {v}; it divides, so it must be above 0 and finite"
        ))
    }
}
