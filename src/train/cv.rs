//! k-fold cross-validation (`nnc cv model.nn --folds 5`): the usable rows of the training file are
//! dealt into k folds (stratified by class for classification); for each fold the preprocessing
//! is fitted on the other folds' training rows only, a fresh model is compiled and trained, and
//! the held-out fold is evaluated. The result is every fold's metrics and the mean and standard
//! deviation of each. It reuses the run's pieces (table, preprocessing, executor, `fit`) and
//! must not print: warnings (the data file's, and a `test` or `validation` file the folds do not
//! read) go to the caller before the first fold.

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

/// Warnings for the held-out files the model names, which cross-validation does not read: each
/// fold's test rows are a fold of the training file, and its validation rows come out of the
/// other folds by `validation_fraction` (which a `validation` file sets to 0).
pub fn unused_files(spec: &ModelSpec) -> Vec<Diagnostic> {
    let held_out = [
        (
            &spec.data.test_file,
            "test",
            "--test-data",
            "every fold is tested on its own rows of the training file",
            "cross-validation tests each fold of the training file in turn; `nnc run` evaluates on the test file",
        ),
        (
            &spec.data.validation_file,
            "validation",
            "--validation-data",
            "the folds take their validation rows from the other folds, by `validation_fraction`, which is 0 with a validation file",
            "for cross-validation, give `validation_fraction: 0.1` (or `--validation-fraction 0.1`) instead of a validation file",
        ),
    ];
    let mut warnings = Vec::new();
    for (file, setting, flag, why, help) in held_out {
        let Some((name, span)) = file else { continue };
        // A file named by a flag has the data block's place, which is not where it was named.
        let from_flag = *span == spec.data.span;
        let given = if from_flag {
            format!("the file of `{flag}`")
        } else {
            format!("the `{setting}` file `{name}`")
        };
        let warning = Diagnostic::new(
            "nnc::train::cv_unused_file",
            format!("`nnc cv` does not read {given}: {why}"),
        )
        .with_help(help)
        .as_warning();
        warnings.push(if from_flag {
            warning
        } else {
            warning
                .with_source(&spec.source)
                .with_label(*span, "not read by `nnc cv`")
        });
    }
    warnings
}

/// Cross-validate the model of `model_path` over `k` folds, reporting each finished fold and,
/// before the first, every warning.
pub fn cross_validate(
    model_path: &Path,
    opts: &RunOptions,
    k: usize,
    mut on_warning: impl FnMut(&Diagnostic),
    mut on_fold: impl FnMut(&FoldResult),
    mut on_epoch: impl FnMut(usize, &EpochRecord),
) -> Result<CvReport, Diagnostic> {
    let spec = load_model(model_path, &opts.overrides)?;
    let tt = load_training_table(&spec, model_path, &opts.overrides)?;
    unused_files(&spec)
        .iter()
        .chain(&tt.table.warnings)
        .for_each(&mut on_warning);
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
            &program.probes,
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

    fn spec(data: &str) -> ModelSpec {
        let text = format!(
            "data {{\n  path: \"d.csv\"\n{data}}}\nmodel {{\n  input(2)\n  output(1)\n}}\nloss: mse\n"
        );
        crate::program::parse_model(&crate::diag::Source::new("m.nn", text)).unwrap()
    }

    #[test]
    fn held_out_files_are_warned_about_at_their_place() {
        assert!(unused_files(&spec("")).is_empty());
        let s = spec("  test: \"t.csv\"\n  validation: \"v.csv\"\n");
        let warnings = unused_files(&s);
        let placed: Vec<&str> = warnings
            .iter()
            .map(|w| {
                assert_eq!(w.code, "nnc::train::cv_unused_file");
                assert!(w.warning && w.help.is_some(), "{w:?}");
                let span = w.labels[0].span;
                &s.source.text[span.start..span.end]
            })
            .collect();
        assert_eq!(placed, ["\"t.csv\"", "\"v.csv\""]);
        assert!(warnings[0].message.contains("the `test` file `t.csv`"));
        assert!(warnings[1]
            .help
            .as_ref()
            .unwrap()
            .contains("validation_fraction"));
    }

    #[test]
    fn a_held_out_file_from_a_flag_is_named_by_its_flag_without_a_place() {
        let mut s = spec("");
        s.data.test_file = Some(("/somewhere/t.csv".into(), s.data.span));
        let warnings = unused_files(&s);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].labels.is_empty(), "{:?}", warnings[0]);
        assert!(warnings[0].message.contains("the file of `--test-data`"));
        assert!(!warnings[0].message.contains("somewhere"));
    }
}
