//! Command-line overrides of a model file's settings: each flag is checked against the range of
//! the setting it replaces (the same `Count`/`Number` definitions the file's reader uses), and the
//! data flags are parsed as `.nn` values and read by the same resolvers, so a flag means exactly
//! what the setting means. It changes a resolved `ModelSpec` and nothing else.

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Source};
use crate::lower::spec::options::{Count, Number};
use crate::lower::spec::{
    self, BATCH_SIZE, EPOCHS, SEED, SPLIT_SEED, TEST_FRACTION, THREADS, VALIDATION_FRACTION,
};
use crate::lower::ModelSpec;

/// Values given on the command line; each replaces what the file says, and must lie in the range
/// the file's setting of the same name allows (the CLI checks with the same definitions).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub data: Option<PathBuf>,
    pub target: Option<String>,
    pub epochs: Option<u64>,
    pub batch_size: Option<BatchSize>,
    pub seed: Option<u64>,
    /// `--threads`: the threads that run each training step together.
    pub threads: Option<u64>,
    /// `--monitor` (true) or `--no-monitor` (false): whether the step computes the training
    /// statistics.
    pub monitor: Option<bool>,
    pub test_fraction: Option<f64>,
    pub validation_fraction: Option<f64>,
    /// Data settings, as written after the setting's name in a `.nn` file (`median`,
    /// `clip(z: 3)`), read by the same resolvers.
    pub delimiter: Option<String>,
    pub missing: Option<String>,
    pub outliers: Option<String>,
    pub scaling: Option<String>,
    pub test_data: Option<PathBuf>,
    pub validation_data: Option<PathBuf>,
    pub split_seed: Option<u64>,
    pub unseen: Option<String>,
    pub decimal: Option<String>,
    pub ignore: Option<String>,
    pub categorical: Option<String>,
    pub missing_markers: Option<String>,
    /// `--memory-limit`: the bytes the run's data may take, in place of `memory_limit`.
    pub memory_limit: Option<u64>,
    /// `--set KEY=VALUE` flags, applied in order to the file's text before it is read (`set`).
    pub set: Vec<String>,
}

impl Overrides {
    /// The settings given that change a run's result, as (flag, value): all but `--epochs` (a
    /// resumed run may go on for more) and `--threads` (every thread count computes the same
    /// bits). A checkpoint keeps them, so that a resumed run can be checked against them.
    pub fn result_settings(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut add = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                out.push((flag.to_string(), v));
            }
        };
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        add("--data", path(&self.data));
        add("--target", self.target.clone());
        add("--batch-size", self.batch_size.map(|b| format!("{b:?}")));
        add("--seed", self.seed.map(|s| s.to_string()));
        add("--monitor", self.monitor.map(|m| m.to_string()));
        add("--test-fraction", self.test_fraction.map(|f| f.to_string()));
        add(
            "--validation-fraction",
            self.validation_fraction.map(|f| f.to_string()),
        );
        add("--delimiter", self.delimiter.clone());
        add("--missing", self.missing.clone());
        add("--outliers", self.outliers.clone());
        add("--scaling", self.scaling.clone());
        add("--test-data", path(&self.test_data));
        add("--validation-data", path(&self.validation_data));
        add("--split-seed", self.split_seed.map(|s| s.to_string()));
        add("--unseen", self.unseen.clone());
        add("--decimal", self.decimal.clone());
        add("--ignore", self.ignore.clone());
        add("--categorical", self.categorical.clone());
        add("--missing-markers", self.missing_markers.clone());
        add("--memory-limit", self.memory_limit.map(|m| m.to_string()));
        for (i, set) in self.set.iter().enumerate() {
            add(&format!("--set (#{})", i + 1), Some(set.clone()));
        }
        out
    }
}

/// The value of `--batch-size`: a number of rows, or `all` for full-batch descent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchSize {
    Rows(u64),
    All,
}

impl BatchSize {
    /// Read `--batch-size`: `all`, or a whole number in `batch_size`'s range.
    pub fn parse(text: &str) -> Result<BatchSize, String> {
        if text.trim() == spec::ALL {
            return Ok(BatchSize::All);
        }
        BATCH_SIZE.parse(text).map(BatchSize::Rows).map_err(|e| {
            format!("{e}; give a number of rows, or `all` for the whole training split")
        })
    }
}

/// Column names from a flag: their spans point into the flag's text, not the `.nn` file.
fn from_flag(names: Vec<crate::data::Named>) -> Vec<crate::data::Named> {
    names
        .into_iter()
        .map(|n| crate::data::Named::new(n.name))
        .collect()
}

/// A path from the command line, relative to the current folder rather than the file's.
fn from_current_folder(p: &Path) -> String {
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Read a flag's text as the `.nn` setting it overrides, with diagnostics pointing into it.
fn flag_value<T>(
    flag: &str,
    text: &Option<String>,
    resolve: fn(&Source, &crate::syntax::ast::Value) -> Result<T, Diagnostic>,
) -> Result<Option<T>, Diagnostic> {
    let Some(text) = text else {
        return Ok(None);
    };
    let source = Source::new(format!("--{flag}"), text.clone());
    let value = crate::syntax::parse_value(&source)?;
    resolve(&source, &value).map(Some)
}

/// An override outside its setting's range.
fn bad_override(message: String, flag: &str) -> Diagnostic {
    Diagnostic::new("nnc::cli::out_of_range", message)
        .with_help(format!("give `--{flag}` a value in the range named above"))
}

fn count_override(setting: &Count, v: Option<u64>) -> Result<Option<u64>, Diagnostic> {
    v.map(|v| setting.check(v))
        .transpose()
        .map_err(|m| bad_override(m, &setting.name.replace('_', "-")))
}

fn number_override(setting: &Number, v: Option<f64>) -> Result<Option<f64>, Diagnostic> {
    v.map(|v| setting.check(v))
        .transpose()
        .map_err(|m| bad_override(m, &setting.name.replace('_', "-")))
}

/// Apply the overrides to a resolved spec, each checked against its setting's range.
pub fn apply_overrides(spec: &mut ModelSpec, o: &Overrides) -> Result<(), Diagnostic> {
    if let Some(e) = count_override(&EPOCHS, o.epochs)? {
        spec.train.epochs = e as usize;
    }
    match o.batch_size {
        None => {}
        Some(BatchSize::All) => {
            spec.train.full_batch = true;
        }
        Some(BatchSize::Rows(b)) => {
            let b = count_override(&BATCH_SIZE, Some(b))?.unwrap_or(b);
            spec.train.batch_size = b as usize;
            spec.train.full_batch = false;
        }
    }
    if let Some(s) = count_override(&SEED, o.seed)? {
        spec.train.seed = s;
    }
    if let Some(t) = count_override(&THREADS, o.threads)? {
        spec.train.threads = Some(t as usize);
    }
    if let Some(m) = o.monitor {
        spec.train.monitor = m;
    }
    if let Some(t) = number_override(&TEST_FRACTION, o.test_fraction)? {
        spec.data.test_fraction = t;
    }
    if let Some(v) = number_override(&VALIDATION_FRACTION, o.validation_fraction)? {
        spec.data.validation_fraction = v;
    }
    if let Some(s) = count_override(&SPLIT_SEED, o.split_seed)? {
        spec.data.split_seed = Some(s);
    }
    if let Some(d) = flag_value("delimiter", &o.delimiter, spec::delimiter)? {
        spec.data.delimiter = Some(d);
    }
    // A flag replaces the setting for every column, including those with a `column` block.
    let columns = &mut spec.data.prepare;
    if let Some(m) = flag_value("missing", &o.missing, spec::missing)? {
        columns.defaults.missing = m.clone();
        columns
            .columns
            .iter_mut()
            .for_each(|(_, c)| c.missing = m.clone());
    }
    if let Some(m) = flag_value("outliers", &o.outliers, spec::outliers)? {
        columns.defaults.outliers = m;
        columns.columns.iter_mut().for_each(|(_, c)| c.outliers = m);
    }
    if let Some(m) = flag_value("scaling", &o.scaling, spec::scaling)? {
        columns.defaults.scaling = m;
        columns.columns.iter_mut().for_each(|(_, c)| c.scaling = m);
    }
    if let Some(m) = flag_value("unseen", &o.unseen, spec::unseen)? {
        columns.defaults.unseen = m;
        columns.columns.iter_mut().for_each(|(_, c)| c.unseen = m);
    }
    if let Some(d) = flag_value("decimal", &o.decimal, spec::decimal)? {
        spec.data.decimal_comma = d;
    }
    if let Some(names) = flag_value("ignore", &o.ignore, spec::ignore_list)? {
        spec.data.ignore = from_flag(names);
    }
    if let Some(names) = flag_value("categorical", &o.categorical, spec::categorical_list)? {
        spec.data.categorical = from_flag(names);
    }
    if let Some(m) = flag_value("missing-markers", &o.missing_markers, spec::markers)? {
        spec.data.missing_markers = m;
    }
    if let Some(m) = o.memory_limit {
        spec.data.memory_limit = Some(m);
    }
    if let Some(p) = &o.test_data {
        spec.data.test_file = Some((from_current_folder(p), spec.data.span));
        spec.data.test_fraction = 0.0;
    }
    if let Some(p) = &o.validation_data {
        spec.data.validation_file = Some((from_current_folder(p), spec.data.span));
        spec.data.validation_fraction = 0.0;
    }
    Ok(())
}
