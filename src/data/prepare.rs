//! Turning a table and a split into the f32 matrices the trainer feeds to a model: features
//! standardized with the mean and standard deviation of the training rows only (so nothing about
//! the validation or test rows leaks into training), and targets encoded for the loss. It must not
//! choose the encoding itself (the caller derives it from the loss) nor know about the IR.

use super::load::{Table, Target};
use super::split::Split;
use crate::diag::Diagnostic;

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
    prepared.train = examples(table, &split.train, encoding, &prepared);
    prepared.validation = examples(table, &split.validation, encoding, &prepared);
    prepared.test = examples(table, &split.test, encoding, &prepared);
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
/// identical values can differ from them in the last bit.
fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count();
    if n == 0 {
        return (0.0, 1.0);
    }
    let mean = values.clone().sum::<f64>() / n as f64;
    let var = values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    let std = var.sqrt();
    if std.is_finite() && std > 1e-12 * (1.0 + mean.abs()) {
        (mean, std)
    } else {
        (mean, 1.0)
    }
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

fn examples(table: &Table, rows: &[usize], encoding: TargetEncoding, p: &Prepared) -> Examples {
    let n_features = table.features.len();
    let mut x = Vec::with_capacity(rows.len() * n_features);
    for &r in rows {
        let raw = &table.x[r * n_features..(r + 1) * n_features];
        x.extend(
            (raw.iter().zip(&p.feature_mean).zip(&p.feature_std))
                .map(|((v, m), s)| ((v - m) / s) as f32),
        );
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
            let y = picked
                .iter()
                .map(|t| ((t - p.target_mean) / p.target_std) as f32)
                .collect();
            (1, y, Vec::new(), picked)
        }
    };
    Examples {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;

    /// Two features: a ramp (the train rows 0..8 have mean 3.5) and a constant.
    fn table(target: Target) -> Table {
        let rows = 10;
        Table {
            source: Source::new("t.csv", "a,b,y\n"),
            features: vec!["a".into(), "b".into()],
            rows,
            x: (0..rows).flat_map(|r| [r as f64, 5.0]).collect(),
            target,
            target_name: "y".into(),
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
