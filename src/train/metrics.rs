//! Evaluation metrics: accuracy, per-class and macro precision, recall and F1, and the confusion
//! matrix for classification; MSE, MAE, RMSE and R² (in the target's original units) for
//! regression. Pure functions of predictions and truths.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassificationMetrics {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// `confusion[truth][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegressionMetrics {
    pub mse: f64,
    pub mae: f64,
    pub rmse: f64,
    pub r2: f64,
}

/// The predicted class of each row: argmax of `width` probabilities, or probability > 0.5 for
/// the one-column (sigmoid) form.
pub fn predicted_classes(probabilities: &[f32], width: usize) -> Vec<usize> {
    if width == 1 {
        return probabilities
            .iter()
            .map(|&p| usize::from(p > 0.5))
            .collect();
    }
    probabilities
        .chunks(width)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &p)| {
                    if p > best.1 {
                        (i, p)
                    } else {
                        best
                    }
                })
                .0
        })
        .collect()
}

/// Panics if `truth` and `predicted` differ in length or hold a class `>= classes`: the caller
/// pairs one prediction with each labelled row.
pub fn classification(
    truth: &[usize],
    predicted: &[usize],
    classes: usize,
) -> ClassificationMetrics {
    assert_eq!(
        truth.len(),
        predicted.len(),
        "invariant: one predicted class per labelled row"
    );
    let mut confusion = vec![vec![0usize; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        confusion[t][p] += 1;
    }
    let n = truth.len().max(1) as f64;
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    let mut precision = 0.0;
    let mut recall = 0.0;
    let mut f1 = 0.0;
    for (c, row) in confusion.iter().enumerate() {
        let tp = row[c];
        let predicted_c: usize = confusion.iter().map(|r| r[c]).sum();
        let actual_c: usize = row.iter().sum();
        let p = ratio(tp, predicted_c);
        let r = ratio(tp, actual_c);
        precision += p;
        recall += r;
        f1 += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
    }
    let k = classes.max(1) as f64;
    ClassificationMetrics {
        accuracy: correct as f64 / n,
        precision: precision / k,
        recall: recall / k,
        f1: f1 / k,
        confusion,
    }
}

/// Panics if `truth` and `predicted` differ in length: the caller pairs one prediction with each
/// row.
pub fn regression(truth: &[f64], predicted: &[f64]) -> RegressionMetrics {
    assert_eq!(
        truth.len(),
        predicted.len(),
        "invariant: one prediction per row"
    );
    let n = truth.len().max(1) as f64;
    let mse = truth
        .iter()
        .zip(predicted)
        .map(|(t, p)| (t - p).powi(2))
        .sum::<f64>()
        / n;
    let mae = truth
        .iter()
        .zip(predicted)
        .map(|(t, p)| (t - p).abs())
        .sum::<f64>()
        / n;
    let mean = truth.iter().sum::<f64>() / n;
    let total = truth.iter().map(|t| (t - mean).powi(2)).sum::<f64>();
    let r2 = if total > 0.0 {
        1.0 - mse * n / total
    } else {
        0.0
    };
    RegressionMetrics {
        mse,
        mae,
        rmse: mse.sqrt(),
        r2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_metrics_match_hand_counts() {
        // truth: 0 0 1 1 2, predicted: 0 1 1 1 0
        let m = classification(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3);
        assert_eq!(
            m.confusion,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]
        );
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        // precision: c0 1/2, c1 2/3, c2 0 → mean 7/18; recall: 1/2, 1, 0 → 1/2.
        assert!((m.precision - 7.0 / 18.0).abs() < 1e-12);
        assert!((m.recall - 0.5).abs() < 1e-12);
        // F1 = 2pr / (p + r): c0 1/2, c1 4/5, c2 0 (no true positives) → mean 13/30.
        assert!((m.f1 - 13.0 / 30.0).abs() < 1e-12, "f1 {}", m.f1);
    }

    #[test]
    fn ties_go_to_the_first_class_and_one_half_is_negative() {
        // As numpy's argmax and scikit-learn's `predict` (positive when the probability is
        // above one half).
        assert_eq!(
            predicted_classes(&[0.4, 0.4, 0.2, 0.1, 0.3, 0.3], 3),
            vec![0, 1]
        );
        assert_eq!(predicted_classes(&[0.5, 0.5000001], 1), vec![0, 1]);
    }

    #[test]
    fn argmax_and_threshold() {
        assert_eq!(
            predicted_classes(&[0.1, 0.7, 0.2, 0.5, 0.1, 0.4], 3),
            vec![1, 0]
        );
        assert_eq!(predicted_classes(&[0.2, 0.9], 1), vec![0, 1]);
    }

    #[test]
    fn regression_metrics() {
        let m = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 5.0]);
        assert!((m.mse - 4.0 / 3.0).abs() < 1e-12);
        assert!((m.mae - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.r2 - (1.0 - 4.0 / 2.0)).abs() < 1e-12);
        // A constant truth has no variance to explain: R² is 0, not a division by zero.
        let flat = regression(&[2.0, 2.0], &[1.0, 3.0]);
        assert_eq!((flat.r2, flat.mse, flat.mae), (0.0, 1.0, 1.0));
    }
}
