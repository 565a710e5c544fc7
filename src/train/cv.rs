//! k-fold cross-validation (`nnc cv model.nn --folds 5`): the usable rows of the training file are
//! dealt into k folds (stratified by class for classification); for each fold the preprocessing
//! is fitted on the other folds' training rows only, a fresh model is compiled and trained, and
//! the held-out fold is evaluated. The result is every fold's metrics and the mean and standard
//! deviation of each. It reuses the run's pieces (table, preprocessing, executor, `fit`) and
//! must not print.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::data::{self, SplitConfig};
use crate::diag::Diagnostic;
use crate::lower::ModelSpec;
use crate::program;

use super::report::TestMetrics;
use super::session::{
    evaluate_examples, exec_error, fit_error, load_model, load_training_table, new_executor,
    task_of, RunOptions,
};
use super::EpochRecord;

/// The metrics of one fold.
#[derive(Clone, Debug, Serialize)]
pub struct FoldResult {
    pub fold: usize,
    pub train_rows: usize,
    pub test_rows: usize,
    pub metrics: TestMetrics,
}

/// Mean and population standard deviation of one metric over the folds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub mean: f64,
    pub std: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CvReport {
    pub folds: Vec<FoldResult>,
    /// Per metric name (`accuracy`, `f1`, `mae`, ...), over the folds.
    pub summary: BTreeMap<String, Summary>,
}

/// The scalar metrics of a fold by name: the top-level numbers of its JSON form and the
/// weighted averages (`weighted_f1`, ...).
pub fn scalar_metrics(m: &TestMetrics) -> BTreeMap<String, f64> {
    let value = serde_json::to_value(m).expect("invariant: metrics serialize to JSON");
    let mut out = BTreeMap::new();
    if let serde_json::Value::Object(map) = value {
        for (k, v) in &map {
            match v {
                serde_json::Value::Number(n) => {
                    out.insert(k.clone(), n.as_f64().unwrap_or(f64::NAN));
                }
                serde_json::Value::Object(inner) if k == "weighted" => {
                    for (ik, iv) in inner {
                        if let Some(x) = iv.as_f64() {
                            out.insert(format!("weighted_{ik}"), x);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Mean and standard deviation of each metric present in every fold.
pub fn summarize(folds: &[FoldResult]) -> BTreeMap<String, Summary> {
    let per_fold: Vec<BTreeMap<String, f64>> =
        folds.iter().map(|f| scalar_metrics(&f.metrics)).collect();
    let mut out = BTreeMap::new();
    let Some(first) = per_fold.first() else {
        return out;
    };
    for name in first.keys() {
        let values: Vec<f64> = per_fold
            .iter()
            .filter_map(|m| m.get(name).copied())
            .collect();
        if values.len() != per_fold.len() {
            continue;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        out.insert(name.clone(), Summary { mean, std });
    }
    out
}

/// Cross-validate the model of `model_path` over `k` folds, reporting each finished fold.
pub fn cross_validate(
    model_path: &Path,
    opts: &RunOptions,
    k: usize,
    mut on_fold: impl FnMut(&FoldResult),
    mut on_epoch: impl FnMut(usize, &EpochRecord),
) -> Result<CvReport, Diagnostic> {
    let spec = load_model(model_path, &opts.overrides)?;
    let tt = load_training_table(&spec, model_path, &opts.overrides)?;
    let config = &spec.data.prepare;
    let rows = data::usable_rows(&tt.table, config)?.rows;
    if k < 2 || k > rows.len() {
        return Err(Diagnostic::new(
            "nnc::cli::out_of_range",
            format!(
                "{k} folds do not fit {} usable rows: each fold needs at least one",
                rows.len()
            ),
        )
        .with_help("give `--folds` a value from 2 to the number of rows (5 or 10 are usual)"));
    }
    let seed = spec.data.split_seed.unwrap_or(spec.train.seed);
    let folds = data::folds(tt.target_data(), &rows, k, seed);
    let mut results = Vec::with_capacity(k);
    for (i, held) in folds.iter().enumerate() {
        let rest: Vec<usize> = folds
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        let mut rest = rest;
        rest.sort_unstable();
        // The validation share comes out of the other folds, as in a run.
        let split = data::split(
            tt.target_data(),
            &rest,
            &SplitConfig {
                test_fraction: 0.0,
                validation_fraction: spec.data.validation_fraction,
                seed,
            },
        )?;
        let preprocessing = data::fit(
            &tt.table,
            &split.train,
            config,
            tt.encoding,
            &spec.data.missing_markers,
        )?;
        let train = preprocessing.apply(&tt.table, &split.train)?;
        let validation = preprocessing.apply(&tt.table, &split.validation)?;
        let test = preprocessing.apply(&tt.table, held)?;
        // `batch_size: all` is this fold's training rows.
        let mut fold_train = spec.train.clone();
        fold_train.use_rows(train.len());
        let program = program::build(
            &ModelSpec {
                train: fold_train.clone(),
                ..spec.clone()
            },
            Some(&tt.shape(&preprocessing)),
        )?;
        let mut exec =
            new_executor(&program, spec.train.seed, opts).map_err(|e| exec_error(&spec, e))?;
        super::fit(
            exec.as_mut(),
            &train,
            &validation,
            &fold_train,
            task_of(&preprocessing),
            |e| on_epoch(i + 1, e),
        )
        .map_err(|e| fit_error(&spec, e))?;
        let metrics = evaluate_examples(exec.as_mut(), &test, &preprocessing)
            .map_err(|e| exec_error(&spec, e))?;
        let result = FoldResult {
            fold: i + 1,
            train_rows: train.len(),
            test_rows: test.len(),
            metrics,
        };
        on_fold(&result);
        results.push(result);
    }
    Ok(CvReport {
        summary: summarize(&results),
        folds: results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::metrics::RegressionMetrics;

    fn fold(mae: f64) -> FoldResult {
        FoldResult {
            fold: 1,
            train_rows: 1,
            test_rows: 1,
            metrics: TestMetrics {
                loss: 2.0 * mae,
                classification: None,
                regression: Some(RegressionMetrics {
                    mse: 0.0,
                    mae,
                    rmse: 0.0,
                    r2: 1.0,
                }),
            },
        }
    }

    #[test]
    fn summaries_are_mean_and_population_std() {
        let s = summarize(&[fold(1.0), fold(3.0)]);
        assert_eq!(
            s["mae"],
            Summary {
                mean: 2.0,
                std: 1.0
            }
        );
        assert_eq!(
            s["loss"],
            Summary {
                mean: 4.0,
                std: 2.0
            }
        );
        assert_eq!(
            s["r2"],
            Summary {
                mean: 1.0,
                std: 0.0
            }
        );
        assert!(summarize(&[]).is_empty());
    }
}
