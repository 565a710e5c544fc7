//! One experiment from start to end, as the `run` command performs it: read the `.nn` file, apply
//! command-line overrides, load and prepare the data, build the program, compile it (or choose the
//! interpreter), train, evaluate on the test split and assemble the report. The CLI only prints
//! what this returns; every failure a user can cause comes back as a diagnostic.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::codegen::CodegenError;
use crate::codegen::CodegenOptions;
use crate::data::{
    self, DataOrigin, Examples, Feature, FittedTarget, Named, Prepared, Preprocessing, ReadOptions,
    SplitConfig, Table, Target, TargetEncoding, TargetKind, TargetSpec,
};
use crate::diag::{Diagnostic, Source};
use crate::ir::Origin;
use crate::lower::spec::options::{Count, Number};
use crate::lower::spec::DataSpec;
use crate::lower::spec::{
    self, BATCH_SIZE, EPOCHS, SEED, SPLIT_SEED, TEST_FRACTION, VALIDATION_FRACTION,
};
use crate::lower::{Activation, DataShape, Loss, ModelSpec};
use crate::program::{self, Program};

use super::metrics;
use super::report::{Report, RowCounts, TestMetrics};
use super::{EpochRecord, ExecError, Executor, FitError, InterpExecutor, JitExecutor, Task};

/// Values given on the command line; each replaces what the file says, and must lie in the range
/// the file's setting of the same name allows (the CLI checks with the same definitions).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub data: Option<PathBuf>,
    pub target: Option<String>,
    pub epochs: Option<u64>,
    pub batch_size: Option<u64>,
    pub seed: Option<u64>,
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
    if let Some(b) = count_override(&BATCH_SIZE, o.batch_size)? {
        spec.train.batch_size = b as usize;
    }
    if let Some(s) = count_override(&SEED, o.seed)? {
        spec.train.seed = s;
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

/// Read and resolve a `.nn` file, with overrides applied to its training settings.
pub fn load_model(path: &Path, overrides: &Overrides) -> Result<ModelSpec, Diagnostic> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(
            "nnc::io::model_file",
            format!("cannot read the model file `{}`: {e}", path.display()),
        )
        .with_help("check the path; model files end in `.nn`")
    })?;
    // Editors on some systems start files with a byte-order mark; it is not part of the text.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    let source = Source::new(path.display().to_string(), text);
    let mut spec = program::parse_model(&source)?;
    apply_overrides(&mut spec, overrides)?;
    Ok(spec)
}

/// Resolve a model file and build its program, checked against its data when the flags or the
/// file name a data file (what `check`, `summary` and `ir` do).
pub fn build_file(path: &Path, overrides: &Overrides) -> Result<Program, Diagnostic> {
    let spec = load_model(path, overrides)?;
    let shape = if has_data(&spec, overrides) {
        Some(prepare_data(&spec, path, overrides)?.shape)
    } else {
        None
    };
    program::build(&spec, shape.as_ref())
}

/// The data of a model, read, split and preprocessed, with what the model's ends must be.
pub struct ModelData {
    pub prepared: Prepared,
    pub shape: DataShape,
    pub path: PathBuf,
    /// Things worth knowing that did not stop the run (a text column with a value per row).
    pub warnings: Vec<Diagnostic>,
    /// Rows left out: without a target value, and with a missing value under `missing: drop`.
    pub dropped_no_target: usize,
    pub dropped_missing: usize,
    /// Seconds spent reading and typing the data files.
    pub load_seconds: f64,
}

fn target_kind(spec: &ModelSpec) -> TargetKind {
    match spec.loss {
        Loss::CrossEntropy => TargetKind::Classes,
        Loss::Mse => TargetKind::Values,
    }
}

/// Whether the file or the flags name a data file.
pub fn has_data(spec: &ModelSpec, overrides: &Overrides) -> bool {
    overrides.data.is_some() || spec.data.path.is_some()
}

/// How the data block says files are read.
fn read_options(spec: &ModelSpec) -> ReadOptions {
    ReadOptions {
        delimiter: spec.data.delimiter,
        decimal_comma: spec.data.decimal_comma,
        missing_markers: spec.data.missing_markers.clone(),
        categorical: spec.data.categorical.clone(),
        ignore: spec.data.ignore.clone(),
        references: None,
        columns: None,
    }
}

/// How a file is read to be transformed by fitted preprocessing: the training file's references
/// and column types, and only the columns the model takes.
pub fn fitted_read_options(p: &Preprocessing, data: &DataSpec) -> ReadOptions {
    let mut references = std::collections::HashMap::new();
    let mut categorical = Vec::new();
    for f in &p.features {
        match f {
            Feature::Numeric {
                name, reference, ..
            } => {
                references.insert(name.clone(), *reference);
            }
            Feature::Categorical { name, .. } => categorical.push(Named::new(name.clone())),
        }
    }
    ReadOptions {
        delimiter: data.delimiter,
        decimal_comma: data.decimal_comma,
        missing_markers: p.missing_markers.clone(),
        categorical,
        ignore: Vec::new(),
        references: Some(references),
        columns: Some(p.features.iter().map(|f| f.name().to_string()).collect()),
    }
}

/// A path written in the `.nn` file, relative to the file's folder.
fn beside(model_path: &Path, p: &str) -> PathBuf {
    model_path.parent().unwrap_or(Path::new("")).join(p)
}

/// The training file of a model, read and typed, with what the model's output must be.
pub struct TrainingTable {
    pub table: Table,
    pub target: TargetSpec,
    pub origin: DataOrigin,
    pub path: PathBuf,
    pub encoding: TargetEncoding,
    pub target_width: usize,
    /// The target in words, for shape diagnostics.
    target_what: String,
    pub load_seconds: f64,
}

impl TrainingTable {
    /// The target column (a training table always has one).
    pub fn target_data(&self) -> &Target {
        &self
            .table
            .target
            .as_ref()
            .expect("invariant: a required target is present in a loaded table")
            .data
    }

    /// What the model's ends must be, given preprocessing fitted on this table.
    pub fn shape(&self, preprocessing: &Preprocessing) -> DataShape {
        DataShape {
            features: preprocessing.input_width(),
            features_origin: self.origin.path_span.map(|span| Origin {
                span,
                what: match (preprocessing.input_width(), preprocessing.features.len()) {
                    (inputs, columns) if inputs == columns => {
                        format!("the data ({columns} feature columns)")
                    }
                    (inputs, columns) => format!(
                        "the data ({inputs} inputs from {columns} feature columns, categories one-hot encoded)"
                    ),
                },
            }),
            target_width: self.target_width,
            target_origin: self.origin.target_span.map(|span| Origin {
                span,
                what: self.target_what.clone(),
            }),
        }
    }
}

/// Read the data file named by the flags or the file (paths in the file are relative to its
/// folder) and type its columns.
pub fn load_training_table(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
) -> Result<TrainingTable, Diagnostic> {
    let mut origin = DataOrigin {
        nn: Some(spec.source.clone()),
        path_span: None,
        target_span: None,
    };
    let path = match (&overrides.data, &spec.data.path) {
        (Some(p), _) => p.clone(),
        (None, Some((p, span))) => {
            origin.path_span = Some(*span);
            beside(model_path, p)
        }
        (None, None) => {
            return Err(Diagnostic::new("nnc::data::no_data", "no data file is given")
                .with_source(&spec.source)
                .with_label(spec.model_span, "this model needs data to train on")
                .with_help("add `data { path: \"file.csv\" target: \"column\" }` to the file, or pass `--data FILE.csv`"))
        }
    };
    let target = match (&overrides.target, &spec.data.target) {
        (Some(t), _) => Some(t.clone()),
        (None, Some((t, span))) => {
            origin.target_span = Some(*span);
            Some(t.clone())
        }
        (None, None) => None,
    };
    let opts = read_options(spec);
    let started = Instant::now();
    // With no target named, the last column is the target (the usual layout of such files).
    let target = match target {
        Some(t) => t,
        None => data::last_column(&path, &opts, &origin)?,
    };
    let target = TargetSpec {
        name: target,
        kind: target_kind(spec),
        required: true,
    };
    let table = data::load_table(&path, Some(&target), &opts, &origin)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let target_column = table
        .target
        .as_ref()
        .expect("invariant: a required target is present in a loaded table");
    let last = spec
        .layers
        .last()
        .expect("invariant: resolve rejects models without layers");
    let (encoding, target_width) = match &target_column.data {
        Target::Values(_) => (TargetEncoding::Standardized, 1),
        Target::Classes { names, .. } => {
            if last.activation == Activation::Sigmoid && names.len() == 2 {
                (TargetEncoding::Binary, 1)
            } else {
                (TargetEncoding::OneHot, names.len())
            }
        }
    };
    let target_what = match &target_column.data {
        Target::Values(_) => format!("the target column `{}`", target_column.name),
        Target::Classes { names, .. } => format!(
            "the target column `{}` ({} classes)",
            target_column.name,
            names.len()
        ),
    };
    Ok(TrainingTable {
        table,
        target,
        origin,
        path,
        encoding,
        target_width,
        target_what,
        load_seconds,
    })
}

/// Load, split and preprocess the data named by the flags or the file. Statistics are fitted on
/// the training rows only.
pub fn prepare_data(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
) -> Result<ModelData, Diagnostic> {
    let tt = load_training_table(spec, model_path, overrides)?;
    let mut load_seconds = tt.load_seconds;
    let table = &tt.table;
    let config = &spec.data.prepare;
    let (rows, dropped_missing) = data::usable_rows(table, config)?;
    let dropped_no_target = table.target.as_ref().map_or(0, |t| t.missing);
    let split = data::split(
        tt.target_data(),
        &rows,
        &SplitConfig {
            test_fraction: spec.data.test_fraction,
            validation_fraction: spec.data.validation_fraction,
            seed: spec.data.split_seed.unwrap_or(spec.train.seed),
        },
    )?;
    let preprocessing = data::fit(
        table,
        &split.train,
        config,
        tt.encoding,
        &spec.data.missing_markers,
    )?;
    let apply = |rows: &[usize]| preprocessing.apply(table, rows);
    let train = apply(&split.train)?;
    let mut validation = apply(&split.validation)?;
    let mut test = apply(&split.test)?;
    let mut warnings = table.warnings.clone();
    let shape = tt.shape(&preprocessing);
    let TrainingTable {
        table,
        target,
        origin,
        path,
        ..
    } = tt;
    // The table is no longer needed: free it before the held-out files and training.
    drop(table);
    // Held-out rows from their own files, read as the training file's columns were.
    let held_out = [
        (&spec.data.test_file, &mut test),
        (&spec.data.validation_file, &mut validation),
    ];
    for (file, part) in held_out {
        let Some((name, span)) = file else { continue };
        let origin = DataOrigin {
            nn: Some(spec.source.clone()),
            path_span: Some(*span),
            target_span: origin.target_span,
        };
        let started = Instant::now();
        // Every categorical feature (named in `categorical:` or found to hold text) is read as
        // one, even where this file's cells are all numbers or all missing.
        let opts = fitted_read_options(&preprocessing, &spec.data);
        let other = data::load_table(&beside(model_path, name), Some(&target), &opts, &origin)?;
        load_seconds += started.elapsed().as_secs_f64();
        let (rows, _) = data::usable_rows(&other, config)?;
        *part = preprocessing.apply(&other, &rows)?;
        warnings.extend(other.warnings);
    }
    Ok(ModelData {
        prepared: Prepared {
            train,
            validation,
            test,
            preprocessing,
        },
        shape,
        path,
        warnings,
        dropped_no_target,
        dropped_missing,
        load_seconds,
    })
}

pub struct RunOptions {
    pub overrides: Overrides,
    pub interpret: bool,
    pub codegen: CodegenOptions,
}

pub struct RunOutcome {
    pub report: Report,
    pub data_path: PathBuf,
    /// What a saved model needs: the resolved file, the fitted preprocessing and the weights.
    pub spec: ModelSpec,
    pub preprocessing: Preprocessing,
    pub parameters: Vec<(String, Vec<usize>, Vec<f32>)>,
    /// The test rows (of the `test` file when one is given, else of the data file), ascending,
    /// and the model's outputs on them, row-major: what the test metrics were computed from.
    pub test_rows: Vec<usize>,
    pub test_outputs: Vec<f32>,
}

pub fn diverged(spec: &ModelSpec, epoch: usize, loss: f32) -> Diagnostic {
    Diagnostic::new(
        "nnc::train::diverged",
        format!("training diverged in epoch {epoch}: the loss became {loss}"),
    )
    .with_source(&spec.source)
    .with_label(spec.optimizer_span, "with this optimizer")
    .with_help("lower the learning rate (or the momentum) of the optimizer")
}

/// Early stopping without validation rows to watch.
fn no_validation(spec: &ModelSpec) -> Diagnostic {
    let d = Diagnostic::new(
        "nnc::train::no_validation",
        "early stopping needs a validation split, but it is empty",
    )
    .with_source(&spec.source);
    let d = match &spec.train.early_stopping {
        Some(e) => d.with_label(e.span, "watches the validation split"),
        None => d,
    };
    d.with_help(
        "set `validation_fraction` in the data block (or `--validation-fraction`) above 0, \
         or remove `early_stopping`",
    )
}

/// A failure inside the compiler (code generation, compiled code), shown as such.
pub fn internal(e: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::new("nnc::internal", format!("internal compiler error: {e}"))
        .with_help("this is a bug in nnc, not in your file; please report it with the .nn file")
}

/// A model that does not fit in memory, pointing at the layer whose values are the largest.
fn out_of_memory(spec: &ModelSpec, message: String, origin: Option<&Origin>) -> Diagnostic {
    let d = Diagnostic::new("nnc::train::out_of_memory", message).with_source(&spec.source);
    let d = match origin {
        Some(o) => d.with_label(o.span, format!("{} is too large", o.what)),
        None => d.with_label(spec.model_span, "this model"),
    };
    d.with_help("make the layers narrower or the batch smaller")
}

/// A code generation failure as a diagnostic: the model's size is the user's to change, anything
/// else is a bug in nnc.
pub fn codegen_error(spec: &ModelSpec, e: CodegenError) -> Diagnostic {
    match &e {
        CodegenError::TooLarge { origin, .. } | CodegenError::OutOfMemory { origin, .. } => {
            out_of_memory(spec, e.to_string(), origin.as_ref())
        }
        CodegenError::Arguments(_)
        | CodegenError::BoundsCheck { .. }
        | CodegenError::Internal(_) => internal(e),
    }
}

/// A failure to prepare or run a program, as a diagnostic.
pub fn exec_error(spec: &ModelSpec, e: ExecError) -> Diagnostic {
    match e {
        ExecError::Codegen(e) => codegen_error(spec, e),
        ExecError::OutOfMemory { ref origin, .. } => {
            out_of_memory(spec, e.to_string(), origin.as_ref())
        }
        ExecError::Interp(_) => internal(e),
    }
}

/// Train and evaluate one experiment, reporting each epoch to `on_epoch`.
pub fn run(
    model_path: &Path,
    opts: &RunOptions,
    mut on_start: impl FnMut(&ModelSpec, &Program, &ModelData),
    on_epoch: impl FnMut(&EpochRecord),
) -> Result<RunOutcome, Diagnostic> {
    let spec = load_model(model_path, &opts.overrides)?;
    let data = prepare_data(&spec, model_path, &opts.overrides)?;
    let program = program::build(&spec, Some(&data.shape))?;
    on_start(&spec, &program, &data);
    let prepared = &data.prepared;

    let seed = spec.train.seed;
    let compile_started = Instant::now();
    let mut exec = new_executor(&program, seed, opts).map_err(|e| exec_error(&spec, e))?;
    let compile_ms = compile_started.elapsed().as_secs_f64() * 1e3;

    let task = task_of(&prepared.preprocessing);
    let history = super::fit(
        exec.as_mut(),
        &prepared.train,
        &prepared.validation,
        &spec.train,
        task,
        on_epoch,
    )
    .map_err(|e| fit_error(&spec, e))?;
    let (test, test_outputs) = if prepared.test.is_empty() {
        (None, Vec::new())
    } else {
        let (metrics, outputs) =
            evaluate_outputs(exec.as_mut(), &prepared.test, &prepared.preprocessing)
                .map_err(|e| exec_error(&spec, e))?;
        (Some(metrics), outputs)
    };
    let report = Report {
        task: task_name(&prepared.preprocessing),
        executor: if opts.interpret { "interpreter" } else { "jit" },
        epochs_run: history.epochs.len(),
        load_seconds: data.load_seconds,
        peak_rss_mib: super::report::peak_rss_mib(),
        compile_ms,
        train_seconds: history.train_seconds,
        samples_per_second: history.samples_seen as f64 / history.train_seconds.max(1e-9),
        rows: RowCounts {
            train: prepared.train.len(),
            validation: prepared.validation.len(),
            test: prepared.test.len(),
            dropped_no_target: data.dropped_no_target,
            dropped_missing: data.dropped_missing,
        },
        best_epoch: history.best_epoch,
        stopped_early: history.stopped_early,
        history: history.epochs,
        test,
        classes: prepared.preprocessing.class_names().to_vec(),
    };
    let parameters = parameters_of(&program, exec.as_ref());
    Ok(RunOutcome {
        report,
        test_rows: data.prepared.test.rows,
        test_outputs,
        data_path: data.path,
        preprocessing: data.prepared.preprocessing,
        parameters,
        spec,
    })
}

/// A failure of training as a diagnostic.
pub fn fit_error(spec: &ModelSpec, e: FitError) -> Diagnostic {
    match e {
        FitError::Exec(e) => exec_error(spec, e),
        FitError::Diverged { epoch, loss } => diverged(spec, epoch, loss),
        FitError::NoValidation => no_validation(spec),
    }
}

/// The executor the options ask for.
pub fn new_executor(
    program: &Program,
    seed: u64,
    opts: &RunOptions,
) -> Result<Box<dyn Executor>, ExecError> {
    if opts.interpret {
        InterpExecutor::new(program, seed).map(|e| Box::new(e) as Box<dyn Executor>)
    } else {
        JitExecutor::new(program, seed, &opts.codegen).map(|e| Box::new(e) as Box<dyn Executor>)
    }
}

/// The trained parameters (not the optimizer's state) with their shapes, in the program's order.
fn parameters_of(program: &Program, exec: &dyn Executor) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut values = exec.persistent();
    program
        .params
        .iter()
        .map(|p| {
            let i = values
                .iter()
                .position(|(n, _)| *n == p.name)
                .expect("invariant: every parameter is a persistent buffer");
            (p.name.clone(), p.shape.clone(), values.swap_remove(i).1)
        })
        .collect()
}

/// What `fit` needs to know of the target for its validation metrics.
pub fn task_of(p: &Preprocessing) -> Task {
    match p.target {
        FittedTarget::Classes { .. } => Task::Classification,
        FittedTarget::Values { mean, std, .. } => Task::Regression { mean, std },
    }
}

fn task_name(p: &Preprocessing) -> &'static str {
    match p.target {
        FittedTarget::Classes { .. } => "classification",
        FittedTarget::Values { .. } => "regression",
    }
}

/// The loss and metrics of a model on labelled examples.
pub fn evaluate_examples(
    exec: &mut dyn Executor,
    examples: &Examples,
    preprocessing: &Preprocessing,
) -> Result<TestMetrics, ExecError> {
    evaluate_outputs(exec, examples, preprocessing).map(|(metrics, _)| metrics)
}

/// [`evaluate_examples`], with the outputs the metrics were computed from (row-major).
pub fn evaluate_outputs(
    exec: &mut dyn Executor,
    examples: &Examples,
    preprocessing: &Preprocessing,
) -> Result<(TestMetrics, Vec<f32>), ExecError> {
    let (loss, predictions) = super::evaluate(exec, examples)?;
    let metrics = match &preprocessing.target {
        FittedTarget::Classes { names, .. } => {
            let width = examples.y.cols;
            let predicted = metrics::predicted_classes(&predictions, width);
            let mut c = metrics::classification(&examples.labels, &predicted, names.len());
            if names.len() == 2 {
                // The score of the positive (second) class: the sigmoid's output, or softmax's
                // second column.
                let scores: Vec<f32> = predictions.chunks(width).map(|r| r[width - 1]).collect();
                c.roc_auc = metrics::roc_auc(&examples.labels, &scores);
            }
            TestMetrics {
                loss,
                classification: Some(c),
                regression: None,
            }
        }
        FittedTarget::Values { .. } => {
            let predicted: Vec<f64> = predictions
                .iter()
                .map(|&p| preprocessing.unscale_target(p))
                .collect();
            TestMetrics {
                loss,
                classification: None,
                regression: Some(metrics::regression(&examples.values, &predicted)),
            }
        }
    };
    Ok((metrics, predictions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_too_large_for_memory_is_a_diagnostic_at_its_layer() {
        let text = "model {\n  input(4)\n  dense(8)\n}\nloss: mse\n";
        let spec = program::parse_model(&Source::new("m.nn", text)).unwrap();
        let layer = spec.layers[0].span;
        let origin = Some(Origin {
            span: layer,
            what: "layer 1 `dense(8)`".into(),
        });
        let e = CodegenError::OutOfMemory {
            function: "loss".into(),
            bytes: 1 << 40,
            origin: origin.clone(),
        };
        let d = codegen_error(&spec, e);
        assert_eq!(d.code, "nnc::train::out_of_memory");
        assert_eq!(d.location().as_deref(), Some("m.nn:3:3"));
        assert!(d.help.is_some());
        let e = ExecError::OutOfMemory {
            what: "parameter `w1`".into(),
            bytes: 1 << 40,
            origin,
        };
        assert_eq!(exec_error(&spec, e).code, "nnc::train::out_of_memory");
        let bug = codegen_error(&spec, CodegenError::Internal("x".into()));
        assert_eq!(bug.code, "nnc::internal");
    }
}
