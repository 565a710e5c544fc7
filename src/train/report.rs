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

/// How many rows went where.
#[derive(Clone, Debug, Serialize)]
pub struct RowCounts {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
    /// Rows without a target value, left out, over every file.
    pub dropped_no_target: usize,
    /// Rows with a missing feature under `missing: drop`, left out, over every file.
    pub dropped_missing: usize,
    /// Each file read: the data file, then a `test` and a `validation` file when given.
    pub files: Vec<FileRows>,
}

/// One data file's rows: how many it holds, and how many were left out and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FileRows {
    /// What the file's rows are for: `data` (split into the parts the fractions ask for),
    /// `test` or `validation`; `eval` for a file given to `nnc eval`.
    pub role: &'static str,
    pub path: String,
    /// Its data rows, left-out ones included.
    pub rows: usize,
    /// Rows without a target value.
    pub dropped_no_target: usize,
    /// Rows with a target and a missing feature under `missing: drop`.
    pub dropped_missing: usize,
    /// The columns under `missing: drop` that left rows out, in file order.
    pub drop_columns: Vec<String>,
}

impl FileRows {
    /// The rows that took part.
    pub fn used(&self) -> usize {
        self.rows - self.dropped_no_target - self.dropped_missing
    }

    /// What was left out and why, as a line for people; `None` when nothing was.
    pub fn left_out(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.dropped_no_target > 0 {
            why.push(format!("{} without a target value", self.dropped_no_target));
        }
        if self.dropped_missing > 0 {
            let columns: Vec<String> = self.drop_columns.iter().map(|c| format!("`{c}`")).collect();
            why.push(format!(
                "{} with a missing value in {} (`missing: drop`)",
                self.dropped_missing,
                columns.join(", ")
            ));
        }
        if why.is_empty() {
            return None;
        }
        let left = self.dropped_no_target + self.dropped_missing;
        let used = self.used();
        let rest = match self.role {
            "test" => format!("the test metrics cover the other {used}"),
            "eval" => format!("the metrics cover the other {used}"),
            "validation" => format!("validation uses the other {used}"),
            _ => format!("the other {used} are used"),
        };
        Some(format!(
            "{}: left out {left} of {} rows, {}; {rest}",
            self.path,
            self.rows,
            why.join(" and ")
        ))
    }
}

/// The peak resident set size of this process in MiB, from `/proc/self/status` (`VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub task: &'static str,
    pub executor: &'static str,
    pub epochs_run: usize,
    /// Seconds spent reading and typing the data files.
    pub load_seconds: f64,
    /// The process's peak resident memory so far, in MiB (Linux; absent elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
    pub compile_ms: f64,
    pub train_seconds: f64,
    pub samples_per_second: f64,
    pub rows: RowCounts,
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
    /// The warnings the run raised, in the order it printed them; absent when there were none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<WarningRecord>,
    /// Where the run was stopped (Ctrl-C, SIGTERM) before its end; absent for a whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<super::Position>,
    /// How the data was streamed, for a file larger than `memory_limit`; absent when it was
    /// read into memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streamed: Option<StreamedRecord>,
}

/// A streamed run's memory limit (bytes) and the rows its shuffle buffer held.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamedRecord {
    pub memory_limit: u64,
    pub buffer_rows: usize,
}

/// A warning as a report records it: its code, message, where it points (`file:line:column`)
/// and its help.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WarningRecord {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl WarningRecord {
    pub fn of(d: &Diagnostic) -> Self {
        WarningRecord {
            code: d.code,
            message: d.message.clone(),
            at: d.location(),
            help: d.help.clone(),
        }
    }
}

impl Report {
    /// The report as pretty-printed JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("invariant: a report serializes to JSON") + "\n"
    }

    /// Write the report to `path` as JSON.
    pub fn write_json(&self, path: &Path) -> Result<(), Diagnostic> {
        write_json(path, self)
    }
}

/// Write any report (a run's, a cross-validation's, an evaluation's metrics) to `path` as
/// pretty-printed JSON ending with a newline.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), Diagnostic> {
    let json = serde_json::to_string_pretty(value).expect("invariant: a report serializes to JSON");
    std::fs::write(path, json + "\n").map_err(|e| {
        Diagnostic::new(
            "nnc::io::report",
            format!("cannot write the report `{}`: {e}", path.display()),
        )
        .with_help("check that the folder exists and is writable")
    })
}
