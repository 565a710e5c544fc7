//! One experiment from start to end, as the `run` command performs it: read the `.nn` file, apply
//! command-line overrides, load and prepare the data, build the program, compile it (or choose the
//! interpreter), train, evaluate on the test split and assemble the report. The CLI only prints
//! what this returns; every failure a user can cause comes back as a diagnostic.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::codegen::CodegenError;
use crate::codegen::CodegenOptions;
use crate::data::{
    self, DataOrigin, Prepared, SplitConfig, Table, Target, TargetEncoding, TargetKind,
};
use crate::diag::{Diagnostic, Source};
use crate::ir::Origin;
use crate::lower::spec::options::{Count, Number};
use crate::lower::spec::{BATCH_SIZE, EPOCHS, SEED, TEST_FRACTION, VALIDATION_FRACTION};
use crate::lower::{Activation, DataShape, Loss, ModelSpec};
use crate::program::{self, Program};

use super::metrics;
use super::report::{Report, TestMetrics};
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
        Some(load_data(&spec, path, overrides)?.shape)
    } else {
        None
    };
    program::build(&spec, shape.as_ref())
}

/// The loaded data of a model, with what the model's ends must be.
pub struct ModelData {
    pub table: Table,
    pub shape: DataShape,
    pub encoding: TargetEncoding,
    pub path: PathBuf,
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

/// Load the data named by the flags or the file (paths in the file are relative to its folder).
pub fn load_data(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
) -> Result<ModelData, Diagnostic> {
    let mut origin = DataOrigin {
        nn: Some(spec.source.clone()),
        path_span: None,
        target_span: None,
    };
    let path = match (&overrides.data, &spec.data.path) {
        (Some(p), _) => p.clone(),
        (None, Some((p, span))) => {
            origin.path_span = Some(*span);
            model_path.parent().unwrap_or(Path::new("")).join(p)
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
    // With no target named, the last column is the target (the usual layout of such files).
    let target = match target {
        Some(t) => t,
        None => data::last_column(&path, &origin)?,
    };
    let table = data::load_csv(&path, &target, target_kind(spec), &origin)?;
    let last = spec
        .layers
        .last()
        .expect("invariant: resolve rejects models without layers");
    let (encoding, target_width) = match &table.target {
        Target::Values(_) => (TargetEncoding::Standardized, 1),
        Target::Classes { names, .. } => {
            if last.activation == Activation::Sigmoid && names.len() == 2 {
                (TargetEncoding::Binary, 1)
            } else {
                (TargetEncoding::OneHot, names.len())
            }
        }
    };
    let target_what = match &table.target {
        Target::Values(_) => format!("the target column `{}`", table.target_name),
        Target::Classes { names, .. } => format!(
            "the target column `{}` ({} classes)",
            table.target_name,
            names.len()
        ),
    };
    let data_span = origin.path_span;
    let shape = DataShape {
        features: table.features.len(),
        features_origin: data_span.map(|span| Origin {
            span,
            what: format!("the data ({} feature columns)", table.features.len()),
        }),
        target_width,
        target_origin: origin.target_span.map(|span| Origin {
            span,
            what: target_what,
        }),
    };
    Ok(ModelData {
        table,
        shape,
        encoding,
        path,
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
    pub train_rows: usize,
    pub validation_rows: usize,
    pub test_rows: usize,
}

fn diverged(spec: &ModelSpec, epoch: usize, loss: f32) -> Diagnostic {
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

/// Prepare the data of a spec: load, split and standardize.
pub fn prepare_data(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
) -> Result<(ModelData, Prepared), Diagnostic> {
    let data = load_data(spec, model_path, overrides)?;
    let split = data::split(
        &data.table,
        &SplitConfig {
            test_fraction: spec.data.test_fraction,
            validation_fraction: spec.data.validation_fraction,
            seed: spec.train.seed,
        },
    )?;
    let prepared = data::prepare(&data.table, &split, data.encoding)?;
    Ok((data, prepared))
}

/// Train and evaluate one experiment, reporting each epoch to `on_epoch`.
pub fn run(
    model_path: &Path,
    opts: &RunOptions,
    mut on_start: impl FnMut(&ModelSpec, &Program, &Prepared),
    on_epoch: impl FnMut(&EpochRecord),
) -> Result<RunOutcome, Diagnostic> {
    let spec = load_model(model_path, &opts.overrides)?;
    let (data, prepared) = prepare_data(&spec, model_path, &opts.overrides)?;
    let program = program::build(&spec, Some(&data.shape))?;
    on_start(&spec, &program, &prepared);

    let seed = spec.train.seed;
    let compile_started = Instant::now();
    let exec: Result<Box<dyn Executor>, ExecError> = if opts.interpret {
        InterpExecutor::new(&program, seed).map(|e| Box::new(e) as Box<dyn Executor>)
    } else {
        JitExecutor::new(&program, seed, &opts.codegen).map(|e| Box::new(e) as Box<dyn Executor>)
    };
    let mut exec = exec.map_err(|e| exec_error(&spec, e))?;
    let compile_ms = compile_started.elapsed().as_secs_f64() * 1e3;

    let task = match data.table.target {
        Target::Classes { .. } => Task::Classification,
        Target::Values(_) => Task::Regression {
            mean: prepared.target_mean,
            std: prepared.target_std,
        },
    };
    let history = super::fit(
        exec.as_mut(),
        &prepared.train,
        &prepared.validation,
        &spec.train,
        task,
        on_epoch,
    )
    .map_err(|e| match e {
        FitError::Exec(e) => exec_error(&spec, e),
        FitError::Diverged { epoch, loss } => diverged(&spec, epoch, loss),
        FitError::NoValidation => no_validation(&spec),
    })?;
    let test = if prepared.test.is_empty() {
        None
    } else {
        Some(test_metrics(exec.as_mut(), &data, &prepared).map_err(|e| exec_error(&spec, e))?)
    };
    let classification = matches!(data.table.target, Target::Classes { .. });
    let report = Report {
        task: if classification {
            "classification"
        } else {
            "regression"
        },
        executor: if opts.interpret { "interpreter" } else { "jit" },
        epochs_run: history.epochs.len(),
        compile_ms,
        train_seconds: history.train_seconds,
        samples_per_second: history.samples_seen as f64 / history.train_seconds.max(1e-9),
        best_epoch: history.best_epoch,
        stopped_early: history.stopped_early,
        history: history.epochs,
        test,
        classes: prepared.class_names.clone(),
    };
    Ok(RunOutcome {
        report,
        data_path: data.path,
        train_rows: prepared.train.len(),
        validation_rows: prepared.validation.len(),
        test_rows: prepared.test.len(),
    })
}

fn test_metrics(
    exec: &mut dyn Executor,
    data: &ModelData,
    prepared: &Prepared,
) -> Result<TestMetrics, super::ExecError> {
    let test = &prepared.test;
    let (loss, predictions) = super::evaluate(exec, test)?;
    Ok(match &data.table.target {
        Target::Classes { names, .. } => {
            let predicted = metrics::predicted_classes(&predictions, test.y.cols);
            TestMetrics {
                loss,
                classification: Some(metrics::classification(
                    &test.labels,
                    &predicted,
                    names.len(),
                )),
                regression: None,
            }
        }
        Target::Values(_) => {
            let predicted: Vec<f64> = predictions
                .iter()
                .map(|&p| prepared.unscale_target(p))
                .collect();
            TestMetrics {
                loss,
                classification: None,
                regression: Some(metrics::regression(&test.values, &predicted)),
            }
        }
    })
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
