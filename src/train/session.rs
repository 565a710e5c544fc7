//! One experiment from start to end, as the `run` command performs it: read the `.nn` file, apply
//! command-line overrides (`overrides`), load and prepare the data (`inputs`), build the program, compile it (or choose the
//! interpreter), train, evaluate on the test split and assemble the report. The CLI only prints
//! what this returns; every failure a user can cause comes back as a diagnostic.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::codegen::CodegenError;
use crate::codegen::CodegenOptions;
use crate::data::{Examples, FittedTarget, Preprocessing};
use crate::diag::{Diagnostic, Source};
use crate::ir::Origin;
use crate::lower::ModelSpec;
use crate::program::{self, Program};

use super::metrics;
use super::report::{Report, RowCounts, TestMetrics, WarningRecord};
use super::{
    EpochRecord, ExecError, Executor, FitError, InterpExecutor, JitExecutor, Predictions, Task,
};

pub use super::inputs::{
    fitted_read_options, has_data, load_training_table, prepare_data, ModelData, TrainingTable,
};
pub use super::overrides::{apply_overrides, Overrides};

/// Read and resolve a `.nn` file, with overrides applied to its training settings.
pub fn load_model(path: &Path, overrides: &Overrides) -> Result<ModelSpec, Diagnostic> {
    load_model_text(path, read_model_file(path)?, overrides)
}

fn read_model_file(path: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(
            "nnc::io::model_file",
            format!("cannot read the model file `{}`: {e}", path.display()),
        )
        .with_help("check the path; model files end in `.nn`")
    })
}

/// The program of a resolved model, checked against the data it names when `with_data`; the
/// data's warnings go to `warn`.
fn build_spec(
    spec: &ModelSpec,
    path: &Path,
    overrides: &Overrides,
    with_data: bool,
    warn: &mut dyn FnMut(Diagnostic),
) -> Result<Program, Diagnostic> {
    let shape = if with_data {
        Some(super::inputs::prepare_shape(spec, path, overrides, warn)?)
    } else {
        None
    };
    program::build(spec, shape.as_ref())
}

/// `build_spec` with every independent error of the model's entries (`program::build_all`).
fn build_spec_all(
    spec: &ModelSpec,
    path: &Path,
    overrides: &Overrides,
    with_data: bool,
    warn: &mut dyn FnMut(Diagnostic),
) -> Result<Program, Vec<Diagnostic>> {
    let shape = if with_data {
        Some(super::inputs::prepare_shape(spec, path, overrides, warn)?)
    } else {
        None
    };
    program::build_all(spec, shape.as_ref())
}

/// The warnings about a resolved model's data, then its errors (`build_spec_all`).
fn check_spec(
    spec: &ModelSpec,
    path: &Path,
    overrides: &Overrides,
    with_data: bool,
) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let errors = build_spec_all(spec, path, overrides, with_data, &mut |w| found.push(w))
        .err()
        .unwrap_or_default();
    found.extend(errors);
    found
}

/// Whether the data file the model names exists beside the model file.
fn data_file_exists(spec: &ModelSpec, path: &Path) -> bool {
    spec.data
        .path
        .as_ref()
        .is_some_and(|(p, _)| path.parent().unwrap_or(Path::new("")).join(p).is_file())
}

/// `load_model` for a text already read (an editor's unsaved buffer); `path` names it in
/// diagnostics and places the data files it names.
pub fn load_model_text(
    path: &Path,
    text: String,
    overrides: &Overrides,
) -> Result<ModelSpec, Diagnostic> {
    load_model_text_all(path, text, overrides).map_err(|mut errors| errors.remove(0))
}

/// `load_model_text` with every independent error of the file (`lower::resolve_all`), first the
/// one `load_model_text` reports.
fn load_model_text_all(
    path: &Path,
    text: String,
    overrides: &Overrides,
) -> Result<ModelSpec, Vec<Diagnostic>> {
    // Editors on some systems start files with a byte-order mark; it is not part of the text.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    let source = Source::new(path.display().to_string(), text);
    // `--set` edits the text, so everything below reads the file as overridden.
    let edited = crate::set::apply(&source, &overrides.set).map_err(|d| vec![d])?;
    let mut spec = program::parse_model_all(&edited.source).map_err(|errors| {
        errors
            .into_iter()
            .map(|d| edited.remap(d))
            .collect::<Vec<_>>()
    })?;
    apply_overrides(&mut spec, overrides).map_err(|d| vec![d])?;
    Ok(spec)
}

/// What `nnc check` reports: every independent error of the file's own text, or, when it has
/// none, the warnings about its data and the errors of checking it against its data and
/// building its program. Empty when the file is valid and its data raise no warning.
pub fn check_file(path: &Path, overrides: &Overrides) -> Vec<Diagnostic> {
    let text = match read_model_file(path) {
        Ok(text) => text,
        Err(d) => return vec![d],
    };
    match load_model_text_all(path, text.clone(), overrides) {
        Ok(spec) => check_spec(&spec, path, overrides, has_data(&spec, overrides)),
        Err(mut errors) => {
            errors.extend(data_alone(path, text, overrides, false));
            errors
        }
    }
}

/// The error of the data file of a text whose model has errors, read as its data block says (the
/// target typed as its loss says, when the loss resolves; else the target is not read): a missing
/// file, a column the block names that the file lacks, a cell that cannot be read. `None` when
/// the data block or the text does not resolve that far, when the data file reads, or, with
/// `only_if_exists`, when the file it names does not exist.
fn data_alone(
    path: &Path,
    text: String,
    overrides: &Overrides,
    only_if_exists: bool,
) -> Option<Diagnostic> {
    let text = text
        .strip_prefix('\u{feff}')
        .map_or(text.clone(), str::to_string);
    let source = Source::new(path.display().to_string(), text);
    let edited = crate::set::apply(&source, &overrides.set).ok()?;
    let file = crate::syntax::parse(&edited.source).ok()?;
    let (data, loss) = crate::lower::spec::data_and_loss(&edited.source, &file);
    let data = data?;
    let mut origin = crate::data::DataOrigin {
        nn: Some(edited.source.clone()),
        ..crate::data::DataOrigin::default()
    };
    let data_path = match (&overrides.data, &data.path) {
        (Some(p), _) => {
            origin.path_flag = Some("--data");
            p.clone()
        }
        (None, Some((p, span))) => {
            origin.path_span = Some(*span);
            super::inputs::beside(path, p)
        }
        (None, None) => return None,
    };
    if only_if_exists && !data_path.is_file() {
        return None;
    }
    let target = match (&overrides.target, &data.target, loss) {
        (Some(t), _, Some(loss)) => Some((t.clone(), loss)),
        (None, Some((t, span)), Some(loss)) => {
            origin.target_span = Some(*span);
            Some((t.clone(), loss))
        }
        _ => None,
    };
    let target = target.map(|(name, loss)| {
        let kind = match loss.is_classification() {
            true => crate::data::TargetKind::Classes,
            false => crate::data::TargetKind::Values,
        };
        crate::data::TargetSpec::required(&name, kind)
    });
    let opts = super::inputs::data_read_options(&data);
    let error = crate::data::load_table(&data_path, target.as_ref(), &opts, &origin).err()?;
    Some(edited.remap(error))
}

/// Resolve a model file and build its program, checked against its data when the flags or the
/// file name a data file (what `summary` and `ir` do); the data's warnings go to `warn`.
pub fn build_file(
    path: &Path,
    overrides: &Overrides,
    warn: &mut dyn FnMut(Diagnostic),
) -> Result<Program, Diagnostic> {
    let spec = load_model(path, overrides)?;
    build_spec(&spec, path, overrides, has_data(&spec, overrides), warn)
}

/// What `nnc lsp` checks in an editor's buffer: everything `check_file` does (every independent
/// error of the text), with the data file's columns only when the file the model names exists
/// (while it is being written, a missing file is not an error of the model).
pub fn check_text(path: &Path, text: String) -> Vec<Diagnostic> {
    let overrides = Overrides::default();
    match load_model_text_all(path, text.clone(), &overrides) {
        Ok(spec) => check_spec(&spec, path, &overrides, data_file_exists(&spec, path)),
        Err(mut errors) => {
            errors.extend(data_alone(path, text, &overrides, true));
            errors
        }
    }
}

/// The program `check_text` builds, for what an editor shows of it (a layer's shape on hover;
/// the data's warnings are `check_text`'s to show).
pub fn build_text(path: &Path, text: String) -> Result<Program, Diagnostic> {
    let overrides = Overrides::default();
    let spec = load_model_text(path, text, &overrides)?;
    build_spec(
        &spec,
        path,
        &overrides,
        data_file_exists(&spec, path),
        &mut |_| {},
    )
}

pub struct RunOptions {
    pub overrides: Overrides,
    pub interpret: bool,
    pub codegen: CodegenOptions,
    pub persistence: Persistence,
}

impl RunOptions {
    /// A run with `overrides`, on the interpreter when `interpret`, else compiled as usual.
    pub fn new(overrides: Overrides, interpret: bool) -> Self {
        RunOptions {
            overrides,
            interpret,
            codegen: CodegenOptions::default(),
            persistence: Persistence::default(),
        }
    }
}

/// Checkpoints, resuming and stopping of a run (`train::checkpoint`).
#[derive(Default)]
pub struct Persistence {
    /// The folder the model is saved to (`--out`), where checkpoints go.
    pub out: Option<PathBuf>,
    /// `--checkpoint-every`: epochs between checkpoints, instead of the file's `checkpoint_every`.
    pub checkpoint_every: Option<usize>,
    /// `--resume`: the folder whose checkpoint the run continues from.
    pub resume: Option<PathBuf>,
    /// Set (by a signal handler) to stop after the current step, with a checkpoint.
    pub stop: Option<&'static std::sync::atomic::AtomicBool>,
}

/// What `nnc ir --emit` shows of a compiled function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeListing {
    /// The Cranelift IR of its entry point.
    Clif,
    /// The machine instructions Cranelift emitted for it.
    Asm,
}

/// `function` of `program` compiled (for the program's batch size) and listed as `listing` asks.
pub fn native_listing(
    program: &Program,
    function: &crate::ir::VerifiedFunction,
    listing: NativeListing,
) -> Result<String, Diagnostic> {
    let opts = CodegenOptions {
        emit_clif: listing == NativeListing::Clif,
        emit_asm: listing == NativeListing::Asm,
        ..CodegenOptions::default()
    };
    let compiled = crate::codegen::compile(function, program.spec.train.batch_size, &opts)
        .map_err(|e| codegen_error(&program.spec, e))?;
    let text = match listing {
        NativeListing::Clif => compiled.clif_text(),
        NativeListing::Asm => compiled.asm_text(),
    };
    Ok(text.unwrap_or_default().to_string())
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
    /// The program that was trained: what the report page summarizes and explains.
    pub program: Program,
    /// The last checkpoint written, kept in the saved folder (`Persistence`).
    pub checkpoint: Option<Vec<u8>>,
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

/// Train and evaluate one experiment: warnings about the data go to `on_warning` as they are
/// found (before any error that follows), `on_start` learns what is about to be trained and
/// `on_epoch` hears of each epoch.
pub fn run(
    model_path: &Path,
    opts: &RunOptions,
    mut on_warning: impl FnMut(Diagnostic),
    mut on_start: impl FnMut(&ModelSpec, &Program, &ModelData),
    on_epoch: impl FnMut(&EpochRecord),
) -> Result<RunOutcome, Diagnostic> {
    // Each warning is passed on as it is raised and kept for the report.
    let mut raised = Vec::new();
    let mut on_warning = |d: Diagnostic| {
        raised.push(WarningRecord::of(&d));
        on_warning(d);
    };
    let mut spec = load_model(model_path, &opts.overrides)?;
    let mut data = prepare_data(&spec, model_path, &opts.overrides, &mut on_warning)?;
    let preprocessing = &data.prepared.preprocessing;
    let sample = data.train_sample();
    if let Some(warning) = crate::monitor::warn::inputs::unscaled(&spec, sample, preprocessing) {
        on_warning(warning);
    }
    let chance = crate::monitor::warn::chance_loss(&spec, &sample.y);
    let (train_rows, validation_rows, test_rows) = data.part_rows();
    spec.train.use_rows(train_rows);
    if let Some(s) = &data.streamed {
        super::streamed::check_batch(&spec, s)?;
    }
    let program = program::build(&spec, Some(&data.shape))?;
    on_start(&spec, &program, &data);

    let seed = spec.train.seed;
    let compile_started = Instant::now();
    let mut exec = new_executor(&program, seed, opts).map_err(|e| exec_error(&spec, e))?;
    let compile_ms = compile_started.elapsed().as_secs_f64() * 1e3;

    let task = task_of(&data.prepared.preprocessing);
    let persistence = &opts.persistence;
    if let Some(dir) = &persistence.out {
        // Refused now, not after the training: a folder the model cannot be saved as.
        crate::artifacts::check_target(dir)?;
    }
    let every = persistence.checkpoint_every.or(spec.train.checkpoint_every);
    // A run saved with `--out` and checkpoints (or resumed) keeps one of its end, so that it can
    // be continued; any run saved with `--out` writes one when it is stopped. The interpreter's
    // f64 state has no exact checkpoint.
    let fingerprint = match persistence.out.is_some() || persistence.resume.is_some() {
        true => Some(fingerprint_of(model_path, &opts.overrides, &data)?),
        false => None,
    };
    let resume = match &persistence.resume {
        None => None,
        Some(dir) => {
            let now = fingerprint
                .as_ref()
                .expect("invariant: a resumed run has a fingerprint");
            resume_from(
                dir,
                &spec,
                &program.probes,
                now,
                opts.interpret,
                exec.as_mut(),
                &mut on_warning,
            )?
        }
    };
    if let Some(p) = &resume {
        let batches = spec.train.batch_size.max(1);
        exec.set_steps_taken(p.steps(train_rows.div_ceil(batches)));
    }
    let mut last_checkpoint: Option<Vec<u8>> = None;
    let mut write = |progress: &super::Progress, exec: &dyn super::Executor| {
        // The interpreter's f64 state has no exact checkpoint in f32.
        let (Some(dir), Some(f), false) = (&persistence.out, &fingerprint, opts.interpret) else {
            return Ok(());
        };
        let bytes = super::checkpoint::encode(progress, f, spec.train.epochs, exec);
        crate::artifacts::write_checkpoint(dir, &bytes)?;
        last_checkpoint = Some(bytes);
        Ok(())
    };
    let control = super::Control {
        checkpoint_every: if persistence.out.is_some() {
            every
        } else {
            None
        },
        save: if persistence.out.is_some() {
            Some(&mut write)
        } else {
            None
        },
        checkpoint_at_end: persistence.out.is_some()
            && (every.is_some() || persistence.resume.is_some()),
        stop: persistence.stop,
        resume,
    };
    let prepared = &data.prepared;
    let (train, validation, mut test_part) = match data.streamed.as_mut() {
        None => (
            super::TrainRows::in_memory(&prepared.train, &spec.train),
            super::HeldOut::Memory(&prepared.validation),
            super::HeldOut::Memory(&prepared.test),
        ),
        Some(s) => (
            super::TrainRows::Streamed {
                batches: crate::data::stream::shuffle::ShuffledBatches::new(
                    &mut s.train,
                    spec.train.batch_size,
                    s.buffer_rows,
                ),
                seed: spec.train.seed,
            },
            super::HeldOut::Streamed(&mut s.validation),
            super::HeldOut::Streamed(&mut s.test),
        ),
    };
    let history = super::fit_rows(
        exec.as_mut(),
        train,
        validation,
        &spec.train,
        &program.probes,
        task,
        on_epoch,
        control,
    )
    .map_err(|e| fit_error(&spec, e))?;
    for warning in crate::monitor::warn::warnings(&spec, &history.epochs, chance) {
        on_warning(warning);
    }
    // A run stopped early by the user is saved as it stands, without test metrics.
    let (test, test_outputs, test_row_numbers) =
        if test_part.is_empty() || history.interrupted.is_some() {
            (None, Vec::new(), Vec::new())
        } else {
            let (loss, predictions, truth) = test_part
                .evaluate(exec.as_mut())
                .map_err(|e| fit_error(&spec, e))?;
            let metrics = test_metrics(loss, &predictions, &truth, &prepared.preprocessing);
            (Some(metrics), predictions.outputs, truth.rows.clone())
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
            train: train_rows,
            validation: validation_rows,
            test: test_rows,
            dropped_no_target: data.files.iter().map(|f| f.dropped_no_target).sum(),
            dropped_missing: data.files.iter().map(|f| f.dropped_missing).sum(),
            files: data.files.clone(),
        },
        best_epoch: history.best_epoch,
        stopped_early: history.stopped_early,
        history: history.epochs,
        test,
        classes: prepared.preprocessing.class_names().to_vec(),
        warnings: raised,
        interrupted: history.interrupted,
        streamed: data
            .streamed
            .as_ref()
            .map(|s| super::report::StreamedRecord {
                memory_limit: s.limit,
                buffer_rows: s.buffer_rows.min(train_rows),
            }),
    };
    let parameters = parameters_of(&program, exec.as_ref());
    Ok(RunOutcome {
        report,
        test_rows: test_row_numbers,
        test_outputs,
        data_path: data.path,
        preprocessing: data.prepared.preprocessing,
        parameters,
        spec,
        program,
        checkpoint: last_checkpoint,
    })
}

/// What decides the result of a run besides its epochs (`checkpoint::Fingerprint`).
fn fingerprint_of(
    model_path: &Path,
    overrides: &Overrides,
    data: &ModelData,
) -> Result<super::checkpoint::Fingerprint, Diagnostic> {
    Ok(super::checkpoint::Fingerprint {
        model_text: read_model_file(model_path)?,
        settings: overrides.result_settings(),
        data: data
            .files
            .iter()
            .map(|f| super::checkpoint::DataFile {
                role: f.role.to_string(),
                path: f.path.clone(),
                content: crate::artifacts::file_fingerprint(Path::new(&f.path)),
            })
            .collect(),
    })
}

/// The progress of the checkpoint in `dir`, its buffers put into `exec`; `None` (and a warning)
/// when `dir` has no checkpoint yet.
fn resume_from(
    dir: &Path,
    spec: &ModelSpec,
    probes: &[crate::monitor::Probe],
    now: &super::checkpoint::Fingerprint,
    interpret: bool,
    exec: &mut dyn super::Executor,
    on_warning: &mut dyn FnMut(Diagnostic),
) -> Result<Option<super::Progress>, Diagnostic> {
    let Some(c) = super::checkpoint::read(dir)? else {
        on_warning(
            Diagnostic::new(
                "nnc::train::no_checkpoint",
                format!(
                    "`{}` holds no checkpoint yet: training starts from the beginning",
                    dir.display()
                ),
            )
            .as_warning()
            .with_help(
                "a run saved with `--out` writes one when it is stopped, and with \
                 `--checkpoint-every N` every N epochs and at its end",
            ),
        );
        return Ok(None);
    };
    if interpret {
        return Err(Diagnostic::new(
            "nnc::train::bad_checkpoint",
            format!(
                "cannot resume from `{}` on the interpreter: checkpoints hold compiled runs",
                dir.display()
            ),
        )
        .with_help("resume without `--interp`"));
    }
    super::checkpoint::compare(dir, &c.fingerprint, now)?;
    let done = c.progress.epochs_done;
    if done > spec.train.epochs || (done == spec.train.epochs && c.progress.batches_done > 0) {
        return Err(Diagnostic::new(
            "nnc::train::checkpoint_mismatch",
            format!(
                "cannot resume from `{}`: its run is past epoch {done}, but this one has {} epochs",
                dir.display(),
                spec.train.epochs
            ),
        )
        .with_source(&spec.source)
        .with_help("ask for at least as many epochs as the checkpoint has done (`--epochs`)"));
    }
    let sums = &c.progress.partial_sums.values;
    let probes_fit =
        sums.len() == probes.len() && sums.iter().zip(probes).all(|(v, p)| v.len() == p.len);
    if !probes_fit {
        return Err(Diagnostic::new(
            "nnc::train::bad_checkpoint",
            format!(
                "cannot resume from `{}`: its training statistics do not fit the model",
                dir.display()
            ),
        )
        .with_help("it was written for another model; start again without `--resume`"));
    }
    super::checkpoint::restore(&c, exec).map_err(|what| {
        Diagnostic::new(
            "nnc::train::bad_checkpoint",
            format!("cannot resume from `{}`: {what}", dir.display()),
        )
        .with_help("it was written for another model; start again without `--resume`")
    })?;
    Ok(Some(c.progress))
}

/// A failure of training as a diagnostic.
pub fn fit_error(spec: &ModelSpec, e: FitError) -> Diagnostic {
    match e {
        FitError::Exec(e) => exec_error(spec, e),
        FitError::Diverged { epoch, loss } => diverged(spec, epoch, loss),
        FitError::NoValidation => no_validation(spec),
        FitError::Checkpoint(d) => *d,
        FitError::Rows(e) => temporary_error(&e),
    }
}

/// The prepared rows of a streamed run could not be written to or read from their file in the
/// temporary folder (a full disk, most likely).
pub fn temporary_error(e: &std::io::Error) -> Diagnostic {
    Diagnostic::new(
        "nnc::io::temporary",
        format!("cannot keep the prepared rows in the temporary folder: {e}"),
    )
    .with_help(
        "a data file larger than `memory_limit` is prepared once into a file in the temporary \
         folder (`TMPDIR`, about 4 bytes per input of each row): make room there, point `TMPDIR` \
         at a folder with space, or raise `memory_limit` to train in memory",
    )
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

/// The trained parameters and the model's statistics (not the optimizer's state) with their
/// shapes, in the program's order: what a saved model holds.
fn parameters_of(program: &Program, exec: &dyn Executor) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut values = exec.persistent();
    program
        .saved_buffers()
        .map(|(name, shape)| {
            let i = values
                .iter()
                .position(|(n, _)| n == name)
                .expect("invariant: every parameter and statistic is a persistent buffer");
            (name.to_string(), shape.to_vec(), values.swap_remove(i).1)
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

/// [`evaluate_examples`], with the predictions the metrics were computed from.
pub fn evaluate_outputs(
    exec: &mut dyn Executor,
    examples: &Examples,
    preprocessing: &Preprocessing,
) -> Result<(TestMetrics, Predictions), ExecError> {
    let (loss, all) = super::evaluate(exec, examples)?;
    let metrics = test_metrics(loss, &all, examples, preprocessing);
    Ok((metrics, all))
}

/// The test metrics of `all`, the predictions for `examples` (whose labels or values and target
/// width are what is read of them), with mean loss `loss`.
pub fn test_metrics(
    loss: f64,
    all: &Predictions,
    examples: &Examples,
    preprocessing: &Preprocessing,
) -> TestMetrics {
    let predictions = &all.outputs;
    match &preprocessing.target {
        FittedTarget::Classes { names, .. } => {
            let width = examples.y.cols;
            let predicted = metrics::predicted_classes(predictions, width);
            let mut c = metrics::classification(&examples.labels, &predicted, names.len());
            if names.len() == 2 {
                // The score of the positive (second) class: a sigmoid's logit (its probability
                // rounds to exactly 1 for every logit above about 16.6, which would tie such
                // rows; the order is the same), or softmax's second column.
                let second: Vec<f32>;
                let scores = if all.logits.is_empty() {
                    second = predictions.chunks(width).map(|r| r[width - 1]).collect();
                    &second
                } else {
                    &all.logits
                };
                c.roc_auc = metrics::roc_auc(&examples.labels, scores);
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
    }
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
