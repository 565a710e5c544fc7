//! The machine-readable report of a run (`--report FILE.json`): task, timing, history and the
//! test metrics that fit the task.

use std::path::Path;

use serde::Serialize;

use super::metrics::{ClassificationMetrics, RegressionMetrics};
use super::EpochRecord;
use crate::diag::Diagnostic;

#[derive(Clone, Debug, Serialize)]
pub struct TestMetrics {
    pub loss: f64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub classification: Option<ClassificationMetrics>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub regression: Option<RegressionMetrics>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub task: &'static str,
    pub executor: &'static str,
    pub epochs_run: usize,
    pub compile_ms: f64,
    pub train_seconds: f64,
    pub samples_per_second: f64,
    /// With early stopping, the epoch whose monitored value was the best; null without it.
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended training before the last epoch.
    pub stopped_early: bool,
    pub history: Vec<EpochRecord>,
    /// None when the test split is empty (`test_fraction: 0`).
    pub test: Option<TestMetrics>,
    /// Class names in label order (the confusion matrix's order); absent for regression.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
}

impl Report {
    /// The report as pretty-printed JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("invariant: a report serializes to JSON") + "\n"
    }

    /// Write the report to `path` as JSON.
    pub fn write_json(&self, path: &Path) -> Result<(), Diagnostic> {
        std::fs::write(path, self.to_json()).map_err(|e| {
            Diagnostic::new(
                "nnc::io::report",
                format!("cannot write the report `{}`: {e}", path.display()),
            )
            .with_help("check that the folder exists and is writable")
        })
    }
}
