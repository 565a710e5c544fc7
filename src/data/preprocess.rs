//! Preprocessing fitted on the training rows (applied unchanged to every other row by `apply`):
//! missing values (refuse, drop the row, or fill with the mean, median, most frequent value or a
//! constant), outliers (clipped at mean ± z·std or at quantiles), scaling (standard, min–max,
//! robust or none) and one-hot encoding of categorical columns with the categories seen in
//! training. The fitted [`Preprocessing`] is plain data (serde), so a saved model applies exactly
//! the same transformation to a new file, bit for bit. Every statistic is computed on the values
//! relative to the column's reference (see `read`), in f64, on the training rows only. It must
//! not read files, split rows or transform them.

use serde::{Deserialize, Serialize};

use super::read::MISSING_CODE;
use super::table::{ColumnKind, Named, Table, Target};
use crate::diag::Diagnostic;

/// What to do with a missing value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    Error,
    Drop,
    Mean,
    Median,
    MostFrequent,
    Constant(Constant),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Constant {
    Number(f64),
    Text(String),
}

impl std::fmt::Display for Constant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Constant::Number(n) => write!(f, "{n}"),
            Constant::Text(s) => f.write_str(s),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outliers {
    None,
    /// Clip at mean ± z standard deviations.
    ClipZ(f64),
    /// Clip at the q and 1 − q quantiles.
    ClipQuantiles(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    Standard,
    Minmax,
    Robust,
    None,
}

/// What a category never seen in training becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unseen {
    /// An all-zero one-hot row.
    Zeros,
    Error,
}

/// The settings of one column (the data block's, or a `column` block's).
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSettings {
    pub missing: Missing,
    pub outliers: Outliers,
    pub scaling: Scaling,
    pub unseen: Unseen,
}

impl Default for ColumnSettings {
    fn default() -> Self {
        ColumnSettings {
            missing: Missing::Error,
            outliers: Outliers::None,
            scaling: Scaling::Standard,
            unseen: Unseen::Zeros,
        }
    }
}

/// The settings of every column: the defaults, and per-column replacements.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrepareConfig {
    pub defaults: ColumnSettings,
    pub columns: Vec<(Named, ColumnSettings)>,
}

impl PrepareConfig {
    pub fn settings(&self, column: &str) -> &ColumnSettings {
        self.columns
            .iter()
            .find(|(n, _)| n.name == column)
            .map_or(&self.defaults, |(_, s)| s)
    }
}

/// How the target becomes the `y` matrix, chosen by the caller from the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetEncoding {
    /// Classes: one column per class, 1 for the row's class and 0 elsewhere.
    OneHot,
    /// Exactly two classes: one column, 1 for the second class in label order (the positive
    /// class, e.g. `malignant` after `benign`), 0 for the first.
    Binary,
    /// Values: one column, scaled with the training rows' mean and standard deviation.
    Standardized,
}

/// One fitted feature column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Feature {
    Numeric {
        name: String,
        /// Cells are read relative to this value (see `read`).
        reference: f64,
        missing: Missing,
        /// The value a missing cell takes, relative to `reference`.
        fill: Option<f64>,
        /// Bounds relative to `reference`.
        clip: Option<(f64, f64)>,
        /// The input is `(x − reference − center) / scale`.
        center: f64,
        scale: f64,
    },
    Categorical {
        name: String,
        /// One input per category, in this order.
        categories: Vec<String>,
        missing: Missing,
        fill: Option<String>,
        unseen: Unseen,
    },
}

impl Feature {
    pub fn name(&self) -> &str {
        match self {
            Feature::Numeric { name, .. } | Feature::Categorical { name, .. } => name,
        }
    }

    /// How many model inputs the column becomes.
    pub fn width(&self) -> usize {
        match self {
            Feature::Numeric { .. } => 1,
            Feature::Categorical { categories, .. } => categories.len(),
        }
    }
}

/// The fitted target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FittedTarget {
    Classes {
        name: String,
        names: Vec<String>,
        encoding: TargetEncoding,
    },
    Values {
        name: String,
        mean: f64,
        std: f64,
    },
}

/// Everything fitted on the training rows that turns a row of a CSV file into model inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    pub features: Vec<Feature>,
    pub target: FittedTarget,
    /// Markers of a missing value besides the built-in ones.
    pub missing_markers: Vec<String>,
}

/// A dense row-major f32 matrix.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// Rows of a file, ready for a model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Examples {
    pub x: Matrix,
    /// Empty (0 columns) when the file has no target.
    pub y: Matrix,
    /// Class labels, for accuracy and confusion matrices; empty for values.
    pub labels: Vec<usize>,
    /// Unscaled target values, for errors in the data's own units; empty for classes.
    pub values: Vec<f64>,
    /// The table row of each example.
    pub rows: Vec<usize>,
}

impl Examples {
    pub fn len(&self) -> usize {
        self.x.rows
    }

    pub fn is_empty(&self) -> bool {
        self.x.rows == 0
    }
}

impl Preprocessing {
    /// How many model inputs a row becomes.
    pub fn input_width(&self) -> usize {
        self.features.iter().map(Feature::width).sum()
    }

    pub fn class_names(&self) -> &[String] {
        match &self.target {
            FittedTarget::Classes { names, .. } => names,
            FittedTarget::Values { .. } => &[],
        }
    }

    pub fn encoding(&self) -> TargetEncoding {
        match &self.target {
            FittedTarget::Classes { encoding, .. } => *encoding,
            FittedTarget::Values { .. } => TargetEncoding::Standardized,
        }
    }

    pub fn target_name(&self) -> &str {
        match &self.target {
            FittedTarget::Classes { name, .. } | FittedTarget::Values { name, .. } => name,
        }
    }

    /// Map a model output back to the target's units (the inverse of `Standardized`).
    pub fn unscale_target(&self, y: f32) -> f64 {
        match &self.target {
            FittedTarget::Values { mean, std, .. } => f64::from(y) * std + mean,
            FittedTarget::Classes { .. } => f64::from(y),
        }
    }

    /// The names of the model inputs: a numeric column's name, `column=category` per category.
    pub fn input_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for f in &self.features {
            match f {
                Feature::Numeric { name, .. } => names.push(name.clone()),
                Feature::Categorical {
                    name, categories, ..
                } => names.extend(categories.iter().map(|c| format!("{name}={c}"))),
            }
        }
        names
    }
}

/// The rows of a table that can take part, and those left out for a missing feature.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usable {
    /// Rows with a target (when the table has one) and no missing value under `missing: drop`.
    pub rows: Vec<usize>,
    /// Rows with a target left out for a missing value under `missing: drop`.
    pub dropped_missing: usize,
    /// The columns under `missing: drop` that left at least one such row out, in file order.
    pub drop_columns: Vec<String>,
}

/// The rows of `table` that can take part in training: those with a target, and without a
/// missing value in a column whose strategy is `drop`. A missing value in a column whose
/// strategy is `error` is a diagnostic on the first such cell in the file.
pub fn usable_rows(table: &Table, config: &PrepareConfig) -> Result<Usable, Diagnostic> {
    check_missing(table, config)?;
    let drop: Vec<(usize, ColumnKind)> = table
        .columns
        .iter()
        .filter(|c| config.settings(&c.name).missing == Missing::Drop)
        .map(|c| (c.index, c.kind))
        .collect();
    let mut usable = Usable {
        rows: Vec::with_capacity(table.rows),
        ..Usable::default()
    };
    let mut dropping = vec![false; drop.len()];
    for r in 0..table.rows {
        if let Some(t) = &table.target {
            if !t.data.is_present(r) {
                continue;
            }
        }
        let mut dropped = false;
        for (i, &(c, kind)) in drop.iter().enumerate() {
            if is_missing(table, r, c, kind) {
                dropping[i] = true;
                dropped = true;
            }
        }
        if dropped {
            usable.dropped_missing += 1;
        } else {
            usable.rows.push(r);
        }
    }
    usable.drop_columns = (drop.iter().zip(&dropping))
        .filter(|(_, &d)| d)
        .map(|(&(c, _), _)| table.header[c].clone())
        .collect();
    Ok(usable)
}

fn is_missing(table: &Table, row: usize, col: usize, kind: ColumnKind) -> bool {
    match kind {
        ColumnKind::Categorical => table.text_column(col).1[row] == MISSING_CODE,
        ColumnKind::Numeric => table.shifted(row, col).is_nan(),
    }
}

/// The first missing cell (in file order) of a column whose strategy is `error`.
fn check_missing(table: &Table, config: &PrepareConfig) -> Result<(), Diagnostic> {
    let first = table
        .columns
        .iter()
        .filter(|c| config.settings(&c.name).missing == Missing::Error)
        .filter_map(|c| Some((table.cells.counts[c.index].first_missing?, c.index)))
        .min();
    match first {
        None => Ok(()),
        Some((row, col)) => Err(missing_error(table, row, col, "missing:")),
    }
}

pub(super) fn missing_error(table: &Table, row: usize, col: usize, setting: &str) -> Diagnostic {
    let column = &table.header[col];
    let missing = table.cells.counts[col].missing;
    table
        .cell_error(
            "nnc::data::missing_value",
            format!(
                "{} has no value in column `{column}` ({missing} missing in this column)",
                table.where_row(row)
            ),
            row,
            col,
            "missing value",
        )
        .with_help(format!(
            "choose what a missing value becomes with `{setting}` in the data block (`drop`, `mean`, `median`, `most_frequent` or `constant(value)`), or for this column only in `column {column} {{ {setting} ... }}`"
        ))
}

/// Fit the preprocessing on `train` rows of `table`.
pub fn fit(
    table: &Table,
    train: &[usize],
    config: &PrepareConfig,
    encoding: TargetEncoding,
    missing_markers: &[String],
) -> Result<Preprocessing, Diagnostic> {
    let mut features = Vec::with_capacity(table.columns.len());
    let mut values = Vec::with_capacity(train.len());
    for c in &table.columns {
        let settings = config.settings(&c.name);
        features.push(match c.kind {
            ColumnKind::Numeric => {
                values.clear();
                values.extend(train.iter().map(|&r| table.shifted(r, c.index)));
                fit_numeric(&c.name, table.reference(c.index), &mut values, settings)
                    .map_err(|d| text_constant(table, c.index, d))?
            }
            ColumnKind::Categorical => fit_categorical(table, c.index, train, settings),
        });
    }
    let target = match table.target.as_ref().map(|t| (&t.data, t.name.clone())) {
        Some((Target::Classes { names, .. }, name)) => FittedTarget::Classes {
            name,
            names: names.clone(),
            encoding,
        },
        Some((Target::Values(v), name)) => {
            let (mean, std) = mean_std(train.iter().map(|&r| v[r]));
            FittedTarget::Values { name, mean, std }
        }
        None => {
            return Err(Diagnostic::new(
                "nnc::internal",
                "internal error: preprocessing is fitted on a table without a target",
            )
            .with_help(
                "this is a bug in nnc, not in your file; please report it with the .nn file",
            ))
        }
    };
    Ok(Preprocessing {
        features,
        target,
        missing_markers: missing_markers.to_vec(),
    })
}

/// A numeric column's missing values are to become a text.
pub(crate) fn text_constant_error(name: &str, t: &str) -> Diagnostic {
    Diagnostic::new(
        "nnc::data::bad_constant",
        format!(
            "column `{name}` is numeric, but its missing values are to become the text \"{t}\""
        ),
    )
    .with_help(format!(
        "give a number: `missing: constant(0)`, in the data block or in `column {name} {{ ... }}`"
    ))
}

/// A fitting error about a column, pointed at the column's name in the file's header.
pub(crate) fn text_constant(table: &Table, col: usize, d: Diagnostic) -> Diagnostic {
    let source = table.source();
    let span = table.header_cell(&source, col);
    d.with_source(&source).with_label(span, "a numeric column")
}

fn fit_numeric(
    name: &str,
    reference: f64,
    values: &mut Vec<f64>,
    s: &ColumnSettings,
) -> Result<Feature, Diagnostic> {
    let missing = values.iter().filter(|v| v.is_nan()).count();
    values.retain(|v| !v.is_nan());
    // Medians, modes and quantiles need the values in order; means and deviations do not, and
    // sorting every column of a wide file is most of the fitting time.
    let needs_order = matches!(s.missing, Missing::Median | Missing::MostFrequent)
        || matches!(s.outliers, Outliers::ClipQuantiles(_))
        || matches!(s.scaling, Scaling::Robust | Scaling::Minmax);
    if needs_order {
        values.sort_unstable_by(f64::total_cmp);
    }
    let fill = match &s.missing {
        Missing::Error | Missing::Drop => None,
        Missing::Mean => Some(mean_std(values.iter().copied()).0),
        Missing::Median => Some(quantile(values, 0.5)),
        Missing::MostFrequent => Some(most_frequent(values)),
        Missing::Constant(Constant::Number(v)) => Some(v - reference),
        Missing::Constant(Constant::Text(t)) => return Err(text_constant_error(name, t)),
    };
    // The scaler sees the filled values, as it would after an imputer.
    if let Some(f) = fill {
        values.extend(std::iter::repeat_n(f, missing));
        if needs_order {
            values.sort_unstable_by(f64::total_cmp);
        }
    }
    let clip = match s.outliers {
        Outliers::None => None,
        Outliers::ClipZ(z) => {
            let (m, sd) = mean_std(values.iter().copied());
            Some((m - z * sd, m + z * sd))
        }
        Outliers::ClipQuantiles(q) => Some((quantile(values, q), quantile(values, 1.0 - q))),
    };
    if let Some((lo, hi)) = clip {
        for v in values.iter_mut() {
            *v = v.clamp(lo, hi);
        }
    }
    let nonzero = |s: f64| if s > 0.0 && s.is_finite() { s } else { 1.0 };
    let (center, scale) = match s.scaling {
        Scaling::Standard => mean_std(values.iter().copied()),
        Scaling::Minmax => match (values.first(), values.last()) {
            (Some(&lo), Some(&hi)) => (lo, nonzero(hi - lo)),
            _ => (0.0, 1.0),
        },
        Scaling::Robust => (
            quantile(values, 0.5),
            nonzero(quantile(values, 0.75) - quantile(values, 0.25)),
        ),
        Scaling::None => (-reference, 1.0),
    };
    Ok(Feature::Numeric {
        name: name.to_string(),
        reference,
        missing: s.missing.clone(),
        fill,
        clip,
        center,
        scale,
    })
}

fn fit_categorical(table: &Table, col: usize, train: &[usize], s: &ColumnSettings) -> Feature {
    let (names, codes) = table.text_column(col);
    let mut counts = vec![0usize; names.len()];
    for &r in train {
        let c = codes[r];
        if c != MISSING_CODE {
            counts[c as usize] += 1;
        }
    }
    let mut categories: Vec<&str> = names
        .iter()
        .zip(&counts)
        .filter(|(_, &n)| n > 0)
        .map(|(name, _)| name.as_str())
        .collect();
    sort_names(&mut categories);
    let most_frequent = || {
        categories
            .iter()
            .copied()
            .max_by_key(|c| {
                let i = names.iter().position(|n| n == c).unwrap_or(0);
                // Ties go to the first category in order: max_by_key keeps the last maximum,
                // so rank earlier categories higher.
                (counts[i], std::cmp::Reverse(c.to_string()))
            })
            .map(String::from)
    };
    let fill = match &s.missing {
        Missing::Error | Missing::Drop => None,
        Missing::Mean | Missing::Median | Missing::MostFrequent => most_frequent(),
        Missing::Constant(c) => Some(c.to_string()),
    };
    Feature::Categorical {
        name: table.header[col].clone(),
        categories: categories.into_iter().map(String::from).collect(),
        missing: s.missing.clone(),
        fill,
        unseen: s.unseen,
    }
}

/// Names in a stable, readable order: by value when every name is a number, else as text.
pub(crate) fn sort_names(names: &mut [&str]) {
    names.sort_unstable();
    let number = |s: &str| s.parse::<f64>().ok();
    if names.iter().all(|n| number(n).is_some()) {
        names.sort_by(|a, b| {
            let (a, b) = (number(a).unwrap_or(0.0), number(b).unwrap_or(0.0));
            a.total_cmp(&b)
        });
    }
}

/// The q-quantile of sorted values, interpolating linearly between neighbours (numpy's
/// default); 0 for no values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let w = pos - lo as f64;
    if lo == hi {
        sorted[lo]
    } else {
        sorted[lo] + (sorted[hi] - sorted[lo]) * w
    }
}

/// The most frequent of sorted values, the smallest on a tie; 0 for no values.
fn most_frequent(sorted: &[f64]) -> f64 {
    let mut best = (0usize, 0.0);
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].iter().take_while(|&&v| v == sorted[i]).count();
        if j > best.0 {
            best = (j, sorted[i]);
        }
        i += j;
    }
    best.1
}

/// Population mean and standard deviation. A constant (or empty) column gets a deviation of 1,
/// so it maps to 0 instead of dividing by zero; the threshold is relative because the mean of
/// identical values can differ from them in the last bit. Both are computed on the values divided
/// by the largest magnitude, where no sum or square can overflow, and scaled back: the deviation
/// is at most that magnitude, so it is finite for any finite values.
pub(crate) fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count();
    let scale = values.clone().fold(0.0f64, |m, v| m.max(v.abs()));
    if n == 0 || scale == 0.0 {
        return (0.0, 1.0);
    }
    let mean_s = values.clone().map(|v| v / scale).sum::<f64>() / n as f64;
    let var_s = values
        .map(|v| (v / scale - mean_s) * (v / scale - mean_s))
        .sum::<f64>()
        / n as f64;
    let (mean, std) = (mean_s * scale, var_s.sqrt() * scale);
    if std > 1e-12 * (1.0 + mean.abs()) {
        (mean, std)
    } else {
        (mean, 1.0)
    }
}

/// A statistic for a message: four significant digits, in exponent form when large or small.
pub(super) fn short(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e6).contains(&v.abs()) {
        format!("{v:.3e}")
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::{parse_table, DataOrigin, ReadOptions, TargetKind, TargetSpec};
    use crate::diag::Source;

    /// Column `a`: 1, 2, 3, 100 and a missing value in the training rows 0..5; `c`: categories
    /// with one missing; rows 5 and 6 are held out, row 6 with a category never seen in training.
    const CSV: &str = "a,c,y\n1,x,p\n2,,q\n3,y,p\n100,x,q\n,x,p\n4,y,q\n5,z,p\n";
    const TRAIN: &[usize] = &[0, 1, 2, 3, 4];

    fn table(csv: &str) -> Table {
        let target = TargetSpec {
            name: "y".into(),
            kind: TargetKind::Classes,
            required: true,
        };
        let source = Source::new("t.csv", csv);
        parse_table(
            &source,
            Some(&target),
            &ReadOptions::default(),
            &DataOrigin::default(),
        )
        .unwrap()
    }

    /// Every column prepared alike.
    pub(crate) fn config(missing: Missing, outliers: Outliers, scaling: Scaling) -> PrepareConfig {
        PrepareConfig {
            defaults: ColumnSettings {
                missing,
                outliers,
                scaling,
                unseen: Unseen::Zeros,
            },
            columns: Vec::new(),
        }
    }

    /// Column `a` of every row after fitting on `TRAIN`.
    fn column_a(c: &PrepareConfig) -> Vec<f32> {
        let t = table(CSV);
        let p = fit(&t, TRAIN, c, TargetEncoding::OneHot, &[]).unwrap();
        let ex = p.apply(&t, &(0..7).collect::<Vec<_>>()).unwrap();
        (0..7).map(|r| ex.x.row(r)[0]).collect()
    }

    #[test]
    fn each_missing_strategy_fills_with_its_training_statistic() {
        // The training values of `a` are 1, 2, 3 and 100; row 4 is the missing one.
        for (missing, fill) in [
            (Missing::Mean, 26.5),
            (Missing::Median, 2.5),
            (Missing::MostFrequent, 1.0), // all equally frequent: the smallest
            (Missing::Constant(Constant::Number(7.0)), 7.0),
        ] {
            let a = column_a(&config(missing.clone(), Outliers::None, Scaling::None));
            assert_eq!(a[4], fill, "{missing:?}");
            assert_eq!(&a[..4], &[1.0, 2.0, 3.0, 100.0], "{missing:?}");
        }
        let t = table(CSV);
        let strict = config(Missing::Error, Outliers::None, Scaling::None);
        let err = usable_rows(&t, &strict).unwrap_err();
        assert_eq!(err.code, "nnc::data::missing_value");
        assert_eq!(
            err.location().as_deref(),
            Some("t.csv:3:3"),
            "the first missing cell"
        );
        let drop = config(Missing::Drop, Outliers::None, Scaling::None);
        let usable = usable_rows(&t, &drop).unwrap();
        assert_eq!(
            (usable.rows, usable.dropped_missing),
            (vec![0, 2, 3, 5, 6], 2)
        );
        assert_eq!(
            usable.drop_columns,
            ["a", "c"],
            "row 4 misses `a`, row 1 `c`"
        );
    }

    #[test]
    fn a_text_constant_for_a_numeric_column_is_a_diagnostic_at_its_header() {
        let t = table(CSV);
        let c = config(
            Missing::Constant(Constant::Text("none".into())),
            Outliers::None,
            Scaling::None,
        );
        let err = fit(&t, TRAIN, &c, TargetEncoding::OneHot, &[]).unwrap_err();
        assert_eq!(err.code, "nnc::data::bad_constant");
        assert_eq!(err.location().as_deref(), Some("t.csv:1:1"));
        assert!(err.help.is_some());
    }

    #[test]
    fn outliers_are_clipped_at_training_bounds() {
        let filled = |o| {
            column_a(&config(
                Missing::Constant(Constant::Number(2.0)),
                o,
                Scaling::None,
            ))
        };
        // Training values 1, 2, 3, 100 and the fill 2: mean 21.6, population std 39.2.
        let (mean, std) = mean_std([1.0, 2.0, 3.0, 100.0, 2.0].into_iter());
        assert_eq!(filled(Outliers::ClipZ(1.0))[3], (mean + std) as f32);
        // Quantiles of 1, 2, 2, 3, 100 at 0.25 and 0.75 (numpy): 2 and 3.
        let q = filled(Outliers::ClipQuantiles(0.25));
        assert_eq!((q[0], q[3], q[5], q[6]), (2.0, 3.0, 3.0, 3.0));
        // The scaler is fitted on the clipped values: min 2 and max 3, not 1 and 100.
        let cfg = config(
            Missing::Constant(Constant::Number(2.0)),
            Outliers::ClipQuantiles(0.25),
            Scaling::Minmax,
        );
        let m = column_a(&cfg);
        assert_eq!((m[0], m[2], m[3]), (0.0, 1.0, 1.0));
    }

    #[test]
    fn scalings_use_training_statistics() {
        let cfg = |s| config(Missing::Constant(Constant::Number(2.0)), Outliers::None, s);
        // Training values 1, 2, 2, 3, 100.
        let m = column_a(&cfg(Scaling::Minmax));
        assert_eq!((m[0], m[3], m[5]), (0.0, 1.0, (3.0 / 99.0) as f32));
        // Robust: median 2, IQR 3 − 2 = 1.
        let r = column_a(&cfg(Scaling::Robust));
        assert_eq!((r[0], r[3], r[6]), (-1.0, 98.0, 3.0));
        let s = column_a(&cfg(Scaling::Standard));
        let (mean, std) = mean_std([1.0, 2.0, 2.0, 3.0, 100.0].into_iter());
        assert_eq!(s[5], ((4.0 - mean) / std) as f32);
    }

    #[test]
    fn categories_are_one_hot_with_training_categories_only() {
        let t = table(CSV);
        let c = config(Missing::MostFrequent, Outliers::None, Scaling::None);
        let p = fit(&t, TRAIN, &c, TargetEncoding::OneHot, &[]).unwrap();
        assert_eq!(p.input_names(), ["a", "c=x", "c=y"]);
        let ex = p.apply(&t, &[1, 2, 6]).unwrap();
        // Row 1's missing category becomes the most frequent (`x`); row 6's `z` is unseen: zeros.
        assert_eq!(&ex.x.row(0)[1..], &[1.0, 0.0]);
        assert_eq!(&ex.x.row(1)[1..], &[0.0, 1.0]);
        assert_eq!(&ex.x.row(2)[1..], &[0.0, 0.0]);
        let strict = PrepareConfig {
            defaults: ColumnSettings {
                unseen: Unseen::Error,
                ..c.defaults.clone()
            },
            columns: Vec::new(),
        };
        let p = fit(&t, TRAIN, &strict, TargetEncoding::OneHot, &[]).unwrap();
        let err = p.apply(&t, &[6]).unwrap_err();
        assert_eq!(err.code, "nnc::data::unseen_category");
        assert_eq!(err.location().as_deref(), Some("t.csv:8:3"));
    }

    #[test]
    fn held_out_rows_change_no_fitted_statistic() {
        let c = config(
            Missing::Median,
            Outliers::ClipQuantiles(0.1),
            Scaling::Robust,
        );
        let fitted = |csv: &str| fit(&table(csv), TRAIN, &c, TargetEncoding::OneHot, &[]).unwrap();
        let other = CSV.replace("4,y,q\n5,z,p", "-9999,w,q\n1e9,v,p");
        assert_ne!(CSV, other);
        assert_eq!(fitted(CSV), fitted(&other));
        // ... while a training row does change them.
        let train_changed = CSV.replace("3,y,p", "30,y,p");
        assert_ne!(fitted(CSV), fitted(&train_changed));
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        // numpy.quantile([1, 2, 3, 4], [0.25, 0.5, 0.75]) = [1.75, 2.5, 3.25]
        assert_eq!(quantile(&v, 0.25), 1.75);
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.75), 3.25);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn most_frequent_takes_the_smallest_on_ties() {
        assert_eq!(most_frequent(&[1.0, 2.0, 2.0, 3.0, 3.0]), 2.0);
        assert_eq!(most_frequent(&[5.0]), 5.0);
    }

    #[test]
    fn statistics_of_huge_values_are_finite() {
        // The variance of these overflowed when computed directly: (1e200)² is beyond f64.
        let values = [1e200, -3e199, 1.0, 2.0, 5e199];
        let (m, s) = mean_std(values.iter().copied());
        let mean = values.iter().sum::<f64>() / 5.0;
        let std = (values
            .iter()
            .map(|v| ((v - mean) / 1e200).powi(2))
            .sum::<f64>()
            / 5.0)
            .sqrt()
            * 1e200;
        assert!(m.is_finite() && s.is_finite());
        assert!((m - mean).abs() <= 1e-12 * mean.abs());
        assert!((s - std).abs() <= 1e-12 * std);
    }

    /// The one fitted numeric feature of `csv` (`k`, then the target `y`) under `scaling`.
    fn fitted_k(csv: &str, scaling: Scaling) -> (Feature, Vec<f32>) {
        let t = table(csv);
        let rows: Vec<usize> = (0..t.rows).collect();
        let c = config(Missing::Error, Outliers::None, scaling);
        let p = fit(&t, &rows, &c, TargetEncoding::OneHot, &[]).unwrap();
        let x = p.apply(&t, &rows).unwrap().x.data;
        (p.features[0].clone(), x)
    }

    #[test]
    fn a_spread_of_zero_scales_by_one() {
        // A constant column under minmax (range 0), and one whose quartiles agree under robust
        // (interquartile range 0): dividing by the spread would make every value NaN.
        let constant = "k,y\n5,p\n5,q\n5,p\n5,q\n";
        let (f, x) = fitted_k(constant, Scaling::Minmax);
        assert!(
            matches!(f, Feature::Numeric { scale, .. } if scale == 1.0),
            "{f:?}"
        );
        assert_eq!(x, [0.0; 4]);
        let quartiles = "k,y\n1,p\n2,q\n2,p\n2,q\n2,p\n2,q\n3,p\n";
        let (f, x) = fitted_k(quartiles, Scaling::Robust);
        assert!(
            matches!(f, Feature::Numeric { scale, .. } if scale == 1.0),
            "{f:?}"
        );
        assert_eq!(x, [-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn a_constant_or_nearly_constant_column_has_a_deviation_of_one() {
        // Exactly constant, away from 0: the threshold must stay positive for any mean.
        assert_eq!(mean_std([5.0; 4].into_iter()), (5.0, 1.0));
        assert_eq!(mean_std([-7.0; 3].into_iter()), (-7.0, 1.0));
        // Equal but for the last bits (one ulp of 1e6 is 1.2e-10): a deviation of rounding noise,
        // far below 1e-12 of the magnitude.
        let ulp = 1e6f64.next_up() - 1e6;
        let (m, s) = mean_std([1e6, 1e6 + ulp, 1e6, 1e6 + ulp].into_iter());
        assert!((m - 1e6).abs() <= ulp, "{m}");
        assert_eq!(s, 1.0, "deviation {ulp} at 1e6 is noise");
        // Around 0, the threshold is 1e-12 absolute.
        assert_eq!(mean_std([1e-13, -1e-13].into_iter()).1, 1.0);
        // Just above it, a real deviation is kept.
        assert_eq!(mean_std([1e-11, -1e-11].into_iter()), (0.0, 1e-11));
    }

    #[test]
    fn the_deviation_of_a_large_offset_and_a_small_spread_is_exact() {
        // Σ(x − m)² / n, not Σx² / n − m²: the second cancels every digit of a variance of 2/3
        // around 1e9 (its terms are 1e18).
        let (m, s) = mean_std([1e9, 1e9 + 1.0, 1e9 + 2.0].into_iter());
        assert_eq!(m, 1e9 + 1.0);
        let want = (2.0f64 / 3.0).sqrt();
        assert!((s - want).abs() <= 1e-7 * want, "{s} for {want}");
    }

    #[test]
    fn statistics_in_messages_have_four_significant_digits() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(12.345678), "12.3457");
        assert_eq!(short(-0.5), "-0.5");
        assert_eq!(short(2.5e6), "2.500e6");
        assert_eq!(short(999_999.0), "999999");
        assert_eq!(short(4.2e-4), "4.200e-4");
        assert_eq!(short(1e-3), "0.001");
        assert_eq!(short(-3e-7), "-3.000e-7");
    }

    #[test]
    fn a_numeric_target_is_standardized_with_training_statistics_and_back() {
        let target = TargetSpec {
            name: "y".into(),
            kind: TargetKind::Values,
            required: true,
        };
        // Training targets 1, 3, 8: mean 4, population deviation √(26/3); row 3 is held out.
        let source = Source::new("t.csv", "a,y\n0,1\n0,3\n0,8\n0,10\n");
        let t = parse_table(
            &source,
            Some(&target),
            &ReadOptions::default(),
            &DataOrigin::default(),
        )
        .unwrap();
        let c = config(Missing::Drop, Outliers::None, Scaling::None);
        let p = fit(&t, &[0, 1, 2], &c, TargetEncoding::Standardized, &[]).unwrap();
        let ex = p.apply(&t, &[0, 1, 2, 3]).unwrap();
        let std = (26.0f64 / 3.0).sqrt();
        let want: Vec<f32> = [1.0, 3.0, 8.0, 10.0]
            .iter()
            .map(|v| ((v - 4.0) / std) as f32)
            .collect();
        assert_eq!(ex.y.data, want);
        assert_eq!(
            ex.values,
            [1.0, 3.0, 8.0, 10.0],
            "targets in their own units"
        );
        for (z, v) in want.iter().zip([1.0, 3.0, 8.0, 10.0]) {
            assert!((p.unscale_target(*z) - v).abs() < 1e-5, "{z} back to {v}");
        }
    }
}
