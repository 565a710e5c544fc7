//! Turning a table and a split into the f32 matrices the trainer feeds to a model: features
//! standardized with the mean and standard deviation of the training rows only (so nothing about
//! the validation or test rows leaks into training), and targets encoded for the loss. Statistics
//! are computed on values scaled by the column's largest magnitude, so any finite column (values
//! near 1e300 included) has a finite mean and deviation; a value whose standardized form does not
//! fit in an f32 is a diagnostic on its cell. It must not choose the encoding itself (the caller
//! derives it from the loss) nor know about the IR.

use super::load::{Table, Target};
use super::split::Split;
use crate::diag::{Diagnostic, Span};

/// A dense row-major f32 matrix.
#[derive(Clone, Debug, PartialEq)]
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

/// How the target becomes the `y` matrix, chosen by the caller from the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetEncoding {
    /// Classes: one column per class, 1 for the row's class and 0 elsewhere.
    OneHot,
    /// Exactly two classes: one column, 1 for the second class in label order (the positive
    /// class, e.g. `malignant` after `benign`), 0 for the first.
    Binary,
    /// Values: one column, scaled with the training rows' mean and standard deviation.
    Standardized,
}

/// One part of a split, ready for a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Examples {
    pub x: Matrix,
    pub y: Matrix,
    /// Class labels, for accuracy and confusion matrices; empty for values.
    pub labels: Vec<usize>,
    /// Unscaled target values, for errors in the data's own units; empty for classes.
    pub values: Vec<f64>,
}

impl Examples {
    pub fn len(&self) -> usize {
        self.x.rows
    }

    pub fn is_empty(&self) -> bool {
        self.x.rows == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    pub train: Examples,
    pub validation: Examples,
    pub test: Examples,
    pub feature_mean: Vec<f64>,
    pub feature_std: Vec<f64>,
    /// 0 and 1 unless the encoding is `Standardized`, so `unscale_target` is the identity.
    pub target_mean: f64,
    pub target_std: f64,
    /// Empty for values.
    pub class_names: Vec<String>,
}

impl Prepared {
    /// Map a model output back to the target's units (the inverse of `Standardized`).
    pub fn unscale_target(&self, y: f32) -> f64 {
        f64::from(y) * self.target_std + self.target_mean
    }

    /// Standardize one raw feature row with the training statistics, for predicting on new data.
    pub fn scale_row(&self, raw: &[f64], out: &mut Vec<f32>) {
        out.clear();
        out.extend(
            (raw.iter().zip(&self.feature_mean).zip(&self.feature_std))
                .map(|((x, m), s)| ((x - m) / s) as f32),
        );
    }
}

/// Build the three parts of `split`. Fails when the encoding does not fit the target: a binary
/// encoding for other than two classes (a user's choice of loss), or a class encoding for values.
pub fn prepare(
    table: &Table,
    split: &Split,
    encoding: TargetEncoding,
) -> Result<Prepared, Diagnostic> {
    check_encoding(table, encoding)?;
    let n_features = table.features.len();
    let column = |c: usize| {
        split
            .train
            .iter()
            .map(move |&r| table.x[r * n_features + c])
    };
    let (feature_mean, feature_std): (Vec<f64>, Vec<f64>) =
        (0..n_features).map(|c| mean_std(column(c))).unzip();
    let (target_mean, target_std) = match (&table.target, encoding) {
        (Target::Values(v), TargetEncoding::Standardized) => {
            mean_std(split.train.iter().map(|&r| v[r]))
        }
        _ => (0.0, 1.0),
    };
    let mut prepared = Prepared {
        train: empty(),
        validation: empty(),
        test: empty(),
        feature_mean,
        feature_std,
        target_mean,
        target_std,
        class_names: table
            .class_names()
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
    };
    prepared.train = examples(table, &split.train, encoding, &prepared)?;
    prepared.validation = examples(table, &split.validation, encoding, &prepared)?;
    prepared.test = examples(table, &split.test, encoding, &prepared)?;
    Ok(prepared)
}

fn check_encoding(table: &Table, encoding: TargetEncoding) -> Result<(), Diagnostic> {
    let target = &table.target_name;
    let file = &table.source.name;
    match (&table.target, encoding) {
        (Target::Classes { names, .. }, TargetEncoding::Binary) if names.len() != 2 => {
            let span = table
                .column_span(target)
                .unwrap_or_else(|| table.header_span());
            Err(Diagnostic::new(
                "nnc::data::not_binary",
                format!(
                    "a binary loss needs exactly two classes, but target `{target}` of data file `{file}` has {}",
                    names.len()
                ),
            )
            .with_source(&table.source)
            .with_label(span, format!("classes: {}", names.join(", ")))
            .with_help("use categorical cross-entropy with one output per class for more than two classes"))
        }
        (Target::Classes { .. }, TargetEncoding::OneHot | TargetEncoding::Binary)
        | (Target::Values(_), TargetEncoding::Standardized) => Ok(()),
        _ => Err(Diagnostic::new(
            "nnc::data::encoding_mismatch",
            format!(
                "internal error: target `{target}` was read as {} but encoded as {encoding:?}",
                kind_name(&table.target)
            ),
        )
        .with_help(
            "this is a bug in nnc: the target kind and its encoding must both come from the loss",
        )),
    }
}

fn kind_name(target: &Target) -> &'static str {
    match target {
        Target::Classes { .. } => "classes",
        Target::Values(_) => "values",
    }
}

/// Population mean and standard deviation. A constant (or empty) column gets a deviation of 1,
/// so it maps to 0 instead of dividing by zero; the threshold is relative because the mean of
/// identical values can differ from them in the last bit. Both are computed on the values divided
/// by the largest magnitude, where no sum or square can overflow, and scaled back: the deviation
/// is at most that magnitude, so it is finite for any finite values.
fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
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
fn short(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e6).contains(&v.abs()) {
        format!("{v:.3e}")
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

/// `(v − mean) / std` as an f32, or a diagnostic on the cell when it does not fit (a value that
/// many deviations from the training rows' mean is a data error, not something to train on).
fn standardized(
    table: &Table,
    row: usize,
    column: &str,
    cell: Span,
    v: f64,
    mean: f64,
    std: f64,
) -> Result<f32, Diagnostic> {
    let z = ((v - mean) / std) as f32;
    if z.is_finite() {
        return Ok(z);
    }
    let text = table
        .source
        .text
        .get(cell.start..cell.end)
        .unwrap_or_default();
    Err(Diagnostic::new(
        "nnc::data::out_of_range",
        format!(
            "line {} of data file `{}`: `{}` in column `{column}` is too far from the training rows (mean {}, standard deviation {}) to standardize in f32",
            table.line(row),
            table.source.name,
            text.trim(),
            short(mean),
            short(std)
        ),
    )
    .with_source(&table.source)
    .with_label(cell, "out of range")
    .with_help("check this value: it is beyond 3.4e38 standard deviations of the training rows"))
}

fn empty() -> Examples {
    let m = Matrix {
        rows: 0,
        cols: 0,
        data: Vec::new(),
    };
    Examples {
        x: m.clone(),
        y: m,
        labels: Vec::new(),
        values: Vec::new(),
    }
}

fn examples(
    table: &Table,
    rows: &[usize],
    encoding: TargetEncoding,
    p: &Prepared,
) -> Result<Examples, Diagnostic> {
    let n_features = table.features.len();
    let mut x = Vec::with_capacity(rows.len() * n_features);
    for &r in rows {
        let raw = &table.x[r * n_features..(r + 1) * n_features];
        for (f, &v) in raw.iter().enumerate() {
            let (mean, std) = (p.feature_mean[f], p.feature_std[f]);
            let cell = table.feature_cell(r, f);
            x.push(standardized(
                table,
                r,
                &table.features[f],
                cell,
                v,
                mean,
                std,
            )?);
        }
    }
    let (y_cols, y, labels, values) = match &table.target {
        Target::Classes { names, labels } => {
            let picked: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
            let (cols, y) = match encoding {
                TargetEncoding::Binary => (1, picked.iter().map(|&l| l as f32).collect()),
                _ => {
                    let mut y = vec![0.0f32; rows.len() * names.len()];
                    for (i, &l) in picked.iter().enumerate() {
                        y[i * names.len() + l] = 1.0;
                    }
                    (names.len(), y)
                }
            };
            (cols, y, picked, Vec::new())
        }
        Target::Values(v) => {
            let picked: Vec<f64> = rows.iter().map(|&r| v[r]).collect();
            let y = rows
                .iter()
                .map(|&r| {
                    let cell = table.target_cell(r);
                    let name = &table.target_name;
                    standardized(table, r, name, cell, v[r], p.target_mean, p.target_std)
                })
                .collect::<Result<Vec<f32>, Diagnostic>>()?;
            (1, y, Vec::new(), picked)
        }
    };
    Ok(Examples {
        x: Matrix {
            rows: rows.len(),
            cols: n_features,
            data: x,
        },
        y: Matrix {
            rows: rows.len(),
            cols: y_cols,
            data: y,
        },
        labels,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;

    /// Two features: a ramp (the train rows 0..8 have mean 3.5) and a constant.
    fn table(target: Target) -> Table {
        let rows = 10;
        let text: String = std::iter::once("a,b,y\n".to_string())
            .chain((0..rows).map(|r| format!("{r},5,0\n")))
            .collect();
        let row_starts = (0..rows).map(|r| 6 + 6 * r).collect();
        Table {
            source: Source::new("t.csv", text),
            features: vec!["a".into(), "b".into()],
            rows,
            x: (0..rows).flat_map(|r| [r as f64, 5.0]).collect(),
            target,
            target_name: "y".into(),
            row_starts,
            feature_columns: vec![0, 1],
            target_column: 2,
        }
    }

    fn halves() -> Split {
        Split {
            train: (0..8).collect(),
            validation: vec![8],
            test: vec![9],
        }
    }

    fn mean_std_of(m: &Matrix, c: usize) -> (f64, f64) {
        let col: Vec<f64> = (0..m.rows).map(|r| f64::from(m.row(r)[c])).collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
        (mean, var.sqrt())
    }

    #[test]
    fn features_use_train_statistics_only() {
        let t = table(Target::Values(
            (0..10).map(|r| 2.0 * r as f64 + 1.0).collect(),
        ));
        let p = prepare(&t, &halves(), TargetEncoding::Standardized).unwrap();
        assert_eq!(p.feature_mean, vec![3.5, 5.0]);
        assert!((p.feature_std[0] - 5.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(p.feature_std[1], 1.0, "constant column keeps std 1");
        let (m, s) = mean_std_of(&p.train.x, 0);
        assert!(m.abs() < 1e-6 && (s - 1.0).abs() < 1e-6);
        assert!(p.train.x.data.iter().skip(1).step_by(2).all(|&v| v == 0.0));
        // Row 9 lies outside the train range: scaled with train statistics it is well above 1.
        let expected = ((9.0 - 3.5) / 5.25f64.sqrt()) as f32;
        assert_eq!(p.test.x.row(0)[0], expected);
        let (ym, ys) = mean_std_of(&p.train.y, 0);
        assert!(ym.abs() < 1e-6 && (ys - 1.0).abs() < 1e-6);
        assert!((p.unscale_target(p.test.y.data[0]) - 19.0).abs() < 1e-5);
        assert_eq!(p.test.values, vec![19.0]);
        let mut row = Vec::new();
        p.scale_row(&[9.0, 5.0], &mut row);
        assert_eq!(row, vec![expected, 0.0]);
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
        assert!((m - mean).abs() <= 1e-12 * mean.abs(), "{m} vs {mean}");
        assert!((s - std).abs() <= 1e-12 * std, "{s} vs {std}");
        assert_eq!(mean_std([f64::MAX, -f64::MAX].into_iter()), (0.0, f64::MAX));
        assert_eq!(mean_std([7.0; 4].into_iter()), (7.0, 1.0));
        let mut t = table(Target::Values(vec![0.5; 10]));
        t.x[2] = 1e200;
        let p = prepare(&t, &halves(), TargetEncoding::Standardized).unwrap();
        assert!(p.train.x.data.iter().all(|v| v.is_finite()));
        assert!(p.feature_std[0].is_finite() && p.feature_std[0] > 1e199);
    }

    #[test]
    fn a_value_that_does_not_fit_in_f32_once_standardized_names_its_cell() {
        let mut t = table(Target::Values(vec![0.5; 10]));
        // Row 9 is a test row, 1e300 away from a training column whose deviation is about 2.3.
        t.x[18] = 1e300;
        let err = prepare(&t, &halves(), TargetEncoding::Standardized).unwrap_err();
        assert_eq!(err.code, "nnc::data::out_of_range");
        assert_eq!(err.location().as_deref(), Some("t.csv:11:1"));
        assert!(err.message.contains("column `a`"), "{}", err.message);
    }

    #[test]
    fn class_encodings() {
        let target = Target::Classes {
            names: vec!["no".into(), "yes".into()],
            labels: (0..10).map(|r| r % 2).collect(),
        };
        let t = table(target);
        let one_hot = prepare(&t, &halves(), TargetEncoding::OneHot).unwrap();
        assert_eq!(
            one_hot.test.y,
            Matrix {
                rows: 1,
                cols: 2,
                data: vec![0.0, 1.0]
            }
        );
        assert_eq!(one_hot.validation.labels, vec![0]);
        assert_eq!(one_hot.unscale_target(0.25), 0.25);
        let binary = prepare(&t, &halves(), TargetEncoding::Binary).unwrap();
        assert_eq!(binary.train.y.cols, 1);
        assert_eq!(
            binary.train.y.data,
            vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
        );
        assert_eq!(binary.class_names, vec!["no", "yes"]);
    }

    #[test]
    fn mismatched_encodings_are_diagnostics() {
        let three = table(Target::Classes {
            names: vec!["a".into(), "b".into(), "c".into()],
            labels: (0..10).map(|r| r % 3).collect(),
        });
        let err = prepare(&three, &halves(), TargetEncoding::Binary).unwrap_err();
        assert_eq!(err.code, "nnc::data::not_binary");
        assert_eq!(err.location().as_deref(), Some("t.csv:1:5"));
        let err = prepare(&three, &halves(), TargetEncoding::Standardized).unwrap_err();
        assert_eq!(err.code, "nnc::data::encoding_mismatch");
        let values = table(Target::Values(vec![0.0; 10]));
        let err = prepare(&values, &halves(), TargetEncoding::OneHot).unwrap_err();
        assert_eq!(err.code, "nnc::data::encoding_mismatch");
    }
}
