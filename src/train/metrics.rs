//! Evaluation metrics, as pure functions of predictions and truths. For classification: the
//! predicted class of each row, accuracy, the confusion matrix, per-class precision, recall, F1
//! and support with their macro and support-weighted averages (a class with nothing to divide by
//! scores 0, as scikit-learn's `zero_division=0`), and the rank-based ROC AUC of a two-class
//! model's scores. For regression: MSE, MAE, RMSE and R² (in the target's original units).

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassificationMetrics {
    pub accuracy: f64,
    /// Macro average (unweighted mean over classes) of the per-class precision.
    pub precision: f64,
    /// Macro average of the per-class recall.
    pub recall: f64,
    /// Macro average of the per-class F1.
    pub f1: f64,
    /// `confusion[truth][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// One entry per class, in label order.
    pub per_class: Vec<ClassScores>,
    /// Per-class scores averaged with each class weighted by its support.
    pub weighted: Averages,
    /// Area under the ROC curve for two classes; [`classification`] leaves it `None` since it
    /// needs scores rather than predicted classes (see [`roc_auc`]).
    pub roc_auc: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Rows whose true class is this one.
    pub support: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Averages {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
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
    let per_class: Vec<ClassScores> = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let tp = row[c];
            let predicted_c: usize = confusion.iter().map(|r| r[c]).sum();
            let support: usize = row.iter().sum();
            let precision = ratio(tp, predicted_c);
            let recall = ratio(tp, support);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassScores {
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let macro_avg = average(&per_class, |_| 1.0);
    let weighted = average(&per_class, |s| s.support as f64);
    ClassificationMetrics {
        accuracy: correct as f64 / n,
        precision: macro_avg.precision,
        recall: macro_avg.recall,
        f1: macro_avg.f1,
        confusion,
        per_class,
        weighted,
        roc_auc: None,
    }
}

/// The mean of the per-class scores under `weight`; all zeros when the weights sum to zero.
fn average(scores: &[ClassScores], weight: impl Fn(&ClassScores) -> f64) -> Averages {
    let total: f64 = scores.iter().map(&weight).sum();
    let mean = |metric: fn(&ClassScores) -> f64| {
        if total > 0.0 {
            scores.iter().map(|s| weight(s) * metric(s)).sum::<f64>() / total
        } else {
            0.0
        }
    };
    Averages {
        precision: mean(|s| s.precision),
        recall: mean(|s| s.recall),
        f1: mean(|s| s.f1),
    }
}

/// The area under the ROC curve of `positive_scores` (the predicted probability of class 1)
/// against 0/1 `truth`: the probability that a random positive row scores above a random
/// negative one, a tie counting one half (the Mann–Whitney U statistic over `n₁·n₀`). Scores are
/// ordered by [`f32::total_cmp`], except that `-0.0` and `0.0` tie. `None` when `truth` holds
/// only one class (or no rows), since the curve is then undefined.
///
/// Panics if the lengths differ or a label is above 1: the caller passes one score per labelled
/// row of a two-class target.
pub fn roc_auc(truth: &[usize], positive_scores: &[f32]) -> Option<f64> {
    assert_eq!(
        truth.len(),
        positive_scores.len(),
        "invariant: one score per labelled row"
    );
    let mut rows: Vec<(f32, usize)> = positive_scores
        .iter()
        .copied()
        .zip(truth.iter().copied())
        .collect();
    rows.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    // Walk groups of tied scores upwards. Twice U, so that ties stay in integers: each positive
    // scores 2 per negative below its group and 1 per negative within it.
    let (mut negatives_below, mut positives, mut twice_u) = (0u64, 0u64, 0u64);
    let mut start = 0;
    while start < rows.len() {
        let score = rows[start].0;
        let end = start
            + rows[start..]
                .iter()
                .take_while(|r| r.0 == score || r.0.total_cmp(&score).is_eq())
                .count();
        let (mut pos, mut neg) = (0u64, 0u64);
        for &(_, label) in &rows[start..end] {
            assert!(label <= 1, "invariant: two-class labels are 0 or 1");
            if label == 1 {
                pos += 1;
            } else {
                neg += 1;
            }
        }
        twice_u += pos * (2 * negatives_below + neg);
        negatives_below += neg;
        positives += pos;
        start = end;
    }
    let negatives = negatives_below;
    if positives == 0 || negatives == 0 {
        return None;
    }
    Some(twice_u as f64 / (2 * positives * negatives) as f64)
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

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn assert_scores(got: &ClassScores, want: (f64, f64, f64, usize)) {
        let (precision, recall, f1, support) = want;
        assert!(
            close(got.precision, precision)
                && close(got.recall, recall)
                && close(got.f1, f1)
                && got.support == support,
            "got {got:?}, want {want:?}"
        );
    }

    fn assert_averages(got: &Averages, want: (f64, f64, f64)) {
        let (precision, recall, f1) = want;
        assert!(
            close(got.precision, precision) && close(got.recall, recall) && close(got.f1, f1),
            "got {got:?}, want {want:?}"
        );
    }

    #[test]
    fn per_class_and_weighted_scores_match_hand_counts() {
        // truth: 0 0 1 1 2, predicted: 0 1 1 1 0 (class 2 is never predicted).
        let m = classification(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3);
        // c0: tp 1, predicted 2, support 2 → p 1/2, r 1/2, F1 1/2.
        assert_scores(&m.per_class[0], (0.5, 0.5, 0.5, 2));
        // c1: tp 2, predicted 3, support 2 → p 2/3, r 1, F1 2·(2/3)/(5/3) = 4/5.
        assert_scores(&m.per_class[1], (2.0 / 3.0, 1.0, 0.8, 2));
        // c2: tp 0, predicted 0 (0/0 → 0), support 1 → p 0, r 0, F1 0.
        assert_scores(&m.per_class[2], (0.0, 0.0, 0.0, 1));
        assert_eq!(m.per_class.len(), 3);
        // Weights 2, 2, 1 over 5 rows: p (1 + 4/3 + 0)/5 = 7/15, r (1 + 2 + 0)/5 = 3/5,
        // F1 (1 + 8/5 + 0)/5 = 13/25.
        assert_averages(&m.weighted, (7.0 / 15.0, 0.6, 13.0 / 25.0));
        assert_eq!(m.roc_auc, None);
    }

    #[test]
    fn classification_matches_scikit_learn() {
        // scikit-learn 1.9.1: precision_recall_fscore_support(y, p, labels=[0, 1, 2],
        // average=None | 'weighted' | 'macro', zero_division=0) with
        // y = [0, 0, 1, 1, 2], p = [0, 1, 1, 1, 0].
        let m = classification(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3);
        let per_class = [
            (0.5, 0.5, 0.5, 2),
            (0.6666666666666666, 1.0, 0.8, 2),
            (0.0, 0.0, 0.0, 1),
        ];
        assert_eq!(m.per_class.len(), per_class.len());
        for (got, &want) in m.per_class.iter().zip(&per_class) {
            assert_scores(got, want);
        }
        assert_averages(&m.weighted, (0.4666666666666666, 0.6, 0.52));
        assert_averages(
            &Averages {
                precision: m.precision,
                recall: m.recall,
                f1: m.f1,
            },
            (0.38888888888888884, 0.5, 0.43333333333333335),
        );

        // Same calls with labels=[0, 1, 2, 3, 4] (class 4 has no rows and no predictions),
        // y = [0, 1, 2, 2, 1, 0, 3, 3, 2, 1, 0, 2], p = [0, 2, 2, 2, 1, 1, 3, 0, 2, 1, 0, 1].
        let m = classification(
            &[0, 1, 2, 2, 1, 0, 3, 3, 2, 1, 0, 2],
            &[0, 2, 2, 2, 1, 1, 3, 0, 2, 1, 0, 1],
            5,
        );
        let per_class = [
            (
                0.6666666666666666,
                0.6666666666666666,
                0.6666666666666666,
                3,
            ),
            (0.5, 0.6666666666666666, 0.5714285714285714, 3),
            (0.75, 0.75, 0.75, 4),
            (1.0, 0.5, 0.6666666666666666, 2),
            (0.0, 0.0, 0.0, 0),
        ];
        assert_eq!(m.per_class.len(), per_class.len());
        for (got, &want) in m.per_class.iter().zip(&per_class) {
            assert_scores(got, want);
        }
        assert_averages(
            &m.weighted,
            (0.7083333333333334, 0.6666666666666666, 0.6706349206349206),
        );
        assert_averages(
            &Averages {
                precision: m.precision,
                recall: m.recall,
                f1: m.f1,
            },
            (0.5833333333333333, 0.5166666666666666, 0.530952380952381),
        );
    }

    #[test]
    fn roc_auc_matches_hand_counts() {
        // Positives 0.35, 0.8; negatives 0.1, 0.4. Pairs won: 0.35 beats 0.1 (1), 0.8 beats
        // both (2) → 3 of 4.
        assert_eq!(roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]), Some(0.75));
        // Positives 0.7, 0.3, 0.9, 0.5; negatives 0.3, 0.3, 0.7. Against the negatives:
        // 0.7 → 1 + 1 + ½ = 2.5, 0.3 → ½ + ½ + 0 = 1, 0.9 → 3, 0.5 → 2; 8.5 of 12 = 17/24.
        let tied = roc_auc(&[0, 1, 1, 0, 1, 0, 1], &[0.3, 0.7, 0.3, 0.3, 0.9, 0.7, 0.5]);
        assert!(close(tied.unwrap(), 17.0 / 24.0), "{tied:?}");
        // Every score tied: each of the 3·2 pairs counts ½ → 1/2. Signed zeros tie as well.
        assert_eq!(roc_auc(&[1, 0, 0, 1, 1], &[0.2; 5]), Some(0.5));
        assert_eq!(roc_auc(&[1, 0], &[-0.0, 0.0]), Some(0.5));
        // Perfectly inverted ranking → 0.
        assert_eq!(roc_auc(&[1, 1, 0], &[0.1, 0.2, 0.9]), Some(0.0));
    }

    #[test]
    fn roc_auc_matches_scikit_learn() {
        // scikit-learn 1.9.1: roc_auc_score(y, s).
        let cases: [(&[usize], &[f32], f64); 3] = [
            (&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8], 0.75),
            (
                &[0, 1, 1, 0, 1, 0, 1],
                &[0.3, 0.7, 0.3, 0.3, 0.9, 0.7, 0.5],
                0.7083333333333334,
            ),
            (&[1, 0, 0, 1, 1], &[0.2, 0.2, 0.2, 0.2, 0.2], 0.5),
        ];
        for (truth, scores, want) in cases {
            let got = roc_auc(truth, scores).unwrap();
            assert!(close(got, want), "{truth:?} {scores:?}: {got} vs {want}");
        }
    }

    #[test]
    fn roc_auc_needs_both_classes() {
        assert_eq!(roc_auc(&[1, 1, 1], &[0.2, 0.5, 0.9]), None);
        assert_eq!(roc_auc(&[0, 0], &[0.2, 0.5]), None);
        assert_eq!(roc_auc(&[], &[]), None);
    }

    #[test]
    #[should_panic(expected = "invariant: one score per labelled row")]
    fn roc_auc_rejects_mismatched_lengths() {
        roc_auc(&[0, 1], &[0.5]);
    }

    #[test]
    #[should_panic(expected = "invariant: two-class labels are 0 or 1")]
    fn roc_auc_rejects_labels_above_one() {
        roc_auc(&[0, 2], &[0.1, 0.9]);
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
        assert!((m.rmse - (4.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn regression_matches_scikit_learn() {
        // scikit-learn 1.9.1: mean_absolute_error, mean_squared_error, root_mean_squared_error and
        // r2_score of these truths and predictions.
        let m = regression(&[3.0, -0.5, 2.0, 7.0, 4.25], &[2.5, 0.0, 2.0, 8.0, 3.0]);
        assert!((m.mae - 0.65).abs() < 1e-12, "{}", m.mae);
        assert!((m.mse - 0.6125).abs() < 1e-12, "{}", m.mse);
        assert!((m.rmse - 0.7826237921249264).abs() < 1e-12, "{}", m.rmse);
        assert!((m.r2 - 0.9002442996742671).abs() < 1e-12, "{}", m.r2);
    }
}
