//! The training driver: epochs of shuffled mini-batches through an `Executor` (JIT or
//! interpreter), the validation loss and metric after each epoch, early stopping on them, and the
//! final metrics on the test split. It knows nothing of Cranelift: it only calls `step`,
//! `evaluate` and the snapshots. `session` ties the whole run together (file, data, program,
//! executor, report).

pub mod bench;
pub mod checkpoint;
pub mod cv;
pub mod executor;
pub mod init;
pub mod inputs;
pub mod metrics;
pub mod overrides;
pub mod report;
pub mod saved;
mod schedule;
pub mod session;
pub mod stopping;
pub mod streamed;
pub mod sweep;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::stream::cache::RowCache;
use crate::data::stream::shuffle::ShuffledBatches;
use crate::data::{Batcher, Examples};
use crate::lower::spec::{Monitor, TrainSpec};
pub use executor::{ExecError, Executor, InterpExecutor, JitExecutor, Predictions};
use stopping::{Stopper, StopperState, Verdict};

/// Why training stopped early.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The executor failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The loss of a step became NaN or infinite.
    #[error("training diverged in epoch {epoch}: the loss became {loss}")]
    Diverged { epoch: usize, loss: f32 },
    /// Early stopping was asked for, but there is no validation split to watch.
    #[error("early stopping needs a validation split, but it is empty")]
    NoValidation,
    /// A checkpoint could not be written.
    #[error("{0}")]
    Checkpoint(Box<crate::diag::Diagnostic>),
    /// The prepared rows of a streamed run could not be read back from their temporary file.
    #[error("reading the prepared rows back from the temporary folder failed: {0}")]
    Rows(#[from] std::io::Error),
}

/// What the model predicts, for the validation metric: classes (accuracy) or values (mean
/// absolute error in the target's own units, undoing the standardization `mean` and `std`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Task {
    Classification,
    Regression { mean: f64, std: f64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    /// None when the validation split is empty.
    pub val_loss: Option<f64>,
    /// Share of validation rows classified right; None for regression or an empty split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    /// Mean absolute error on the validation rows in the target's units; None for
    /// classification or an empty split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_mae: Option<f64>,
    pub seconds: f64,
    /// The training statistics of the epoch (`monitor`), when the step computes them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<crate::monitor::epoch::EpochStats>,
}

impl EpochRecord {
    /// The value early stopping watches, when this epoch measured it.
    pub fn monitored(&self, monitor: Monitor) -> Option<f64> {
        match monitor {
            Monitor::ValLoss => self.val_loss,
            Monitor::ValAccuracy => self.val_accuracy,
            Monitor::ValMae => self.val_mae,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
    /// Time inside training steps and validation, excluding compilation.
    pub train_seconds: f64,
    pub samples_seen: usize,
    /// With early stopping, the epoch whose monitored value was the best (None without it).
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended training before the last epoch.
    pub stopped_early: bool,
    /// Where training stopped when it was asked to stop (`Control::stop`) before its end.
    pub interrupted: Option<Position>,
}

/// A place in training: after `batches` batches of epoch `epoch` (counted from 1; 0 batches
/// means the epoch has not begun).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: usize,
    pub batches: usize,
}

/// Everything of a run between two steps that is not in the executor's buffers: with those
/// buffers (and the snapshot of the best epoch's), what a checkpoint holds to continue exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Batches of the next epoch already taken (only a run stopped mid-epoch has any), the sum of
    /// their losses times their rows, and the training statistics' sums over them.
    pub batches_done: usize,
    pub partial_loss: f64,
    pub partial_sums: crate::monitor::epoch::Sums,
    pub history: Vec<EpochRecord>,
    pub samples_seen: usize,
    pub train_seconds: f64,
    pub stopper: Option<StopperState>,
    /// Early stopping ended the run: continuing it trains nothing more.
    #[serde(default)]
    pub stopped_early: bool,
}

impl Progress {
    /// The optimizer steps taken so far, with `batches_per_epoch` batches in an epoch.
    pub fn steps(&self, batches_per_epoch: usize) -> u64 {
        // Saturating: the numbers come from a file.
        (self.epochs_done.saturating_mul(batches_per_epoch)).saturating_add(self.batches_done)
            as u64
    }
}

/// How a run may be checkpointed, stopped and resumed (all off by default).
#[derive(Default)]
pub struct Control<'a> {
    /// Checkpoint after every this many epochs (and always when stopped).
    pub checkpoint_every: Option<usize>,
    /// Checkpoint after the last epoch too, so that the run can be continued with more epochs.
    pub checkpoint_at_end: bool,
    /// Write a checkpoint; the executor holds the buffers, the snapshot the best epoch's.
    #[allow(clippy::type_complexity)]
    pub save:
        Option<&'a mut dyn FnMut(&Progress, &dyn Executor) -> Result<(), crate::diag::Diagnostic>>,
    /// Set from outside (a signal handler) to stop after the current step.
    pub stop: Option<&'a AtomicBool>,
    /// Where to continue from; the executor's buffers must already hold the checkpoint's.
    pub resume: Option<Progress>,
}

/// Train for `settings.epochs` epochs of `settings.batch_size` shuffled by `settings.seed`,
/// calling `on_epoch` after each one (for progress output). With `settings.early_stopping`,
/// training ends once the monitored validation value stops improving, and with `restore_best`
/// the executor ends with the buffers of the best epoch.
pub fn fit(
    exec: &mut dyn Executor,
    train: &Examples,
    validation: &Examples,
    settings: &TrainSpec,
    probes: &[crate::monitor::Probe],
    task: Task,
    on_epoch: impl FnMut(&EpochRecord),
) -> Result<History, FitError> {
    fit_with(
        exec,
        train,
        validation,
        settings,
        probes,
        task,
        on_epoch,
        Control::default(),
    )
}

/// `fit`, checkpointed, stopped and resumed as `control` says. A resumed run replays the
/// shuffles of the epochs done (the order of every epoch depends on the ones before) and skips
/// the batches done, so it takes the same batches in the same order as a run never stopped.
#[allow(clippy::too_many_arguments)]
pub fn fit_with(
    exec: &mut dyn Executor,
    train: &Examples,
    validation: &Examples,
    settings: &TrainSpec,
    probes: &[crate::monitor::Probe],
    task: Task,
    on_epoch: impl FnMut(&EpochRecord),
    control: Control,
) -> Result<History, FitError> {
    let train = TrainRows::in_memory(train, settings);
    fit_rows(
        exec,
        train,
        HeldOut::Memory(validation),
        settings,
        probes,
        task,
        on_epoch,
        control,
    )
}

/// Where the training rows of an epoch come from.
pub enum TrainRows<'a> {
    /// Examples in memory, in a new permutation of them every epoch.
    Memory {
        examples: &'a Examples,
        batcher: Batcher,
        batches: Vec<std::ops::Range<usize>>,
        next: usize,
    },
    /// Prepared rows in a file, through a bounded shuffle buffer (`data::stream`).
    Streamed {
        batches: ShuffledBatches<'a>,
        seed: u64,
    },
}

impl<'a> TrainRows<'a> {
    /// Training rows in memory, batched as `settings` say.
    pub fn in_memory(train: &'a Examples, settings: &TrainSpec) -> Self {
        TrainRows::Memory {
            examples: train,
            batcher: Batcher::new(train.len(), settings.batch_size, settings.seed),
            batches: Vec::new(),
            next: 0,
        }
    }

    fn len(&self) -> usize {
        match self {
            TrainRows::Memory { examples, .. } => examples.len(),
            TrainRows::Streamed { batches, .. } => batches.rows(),
        }
    }

    /// Replay the shuffles of the first `epochs` epochs, for a resumed run: in memory each
    /// epoch's order follows from the one before; a streamed epoch's from its number alone.
    fn replay(&mut self, epochs: usize) {
        if let TrainRows::Memory { batcher, .. } = self {
            for _ in 0..epochs {
                batcher.epoch();
            }
        }
    }

    /// Begin epoch `epoch`, its first `skip` batches already taken.
    fn start_epoch(&mut self, epoch: usize, skip: usize) -> Result<(), FitError> {
        match self {
            TrainRows::Memory {
                batcher,
                batches,
                next,
                ..
            } => {
                *batches = batcher.epoch();
                *next = skip.min(batches.len());
            }
            TrainRows::Streamed { batches, seed } => {
                batches.start_epoch(*seed, epoch);
                batches.skip(skip)?;
            }
        }
        Ok(())
    }

    /// The epoch's next batch into `x` and `y`, and its rows; `None` at the end of the epoch.
    fn next_batch(
        &mut self,
        x: &mut Vec<f32>,
        y: &mut Vec<f32>,
    ) -> Result<Option<usize>, FitError> {
        match self {
            TrainRows::Memory {
                examples,
                batcher,
                batches,
                next,
            } => {
                let Some(range) = batches.get(*next).cloned() else {
                    return Ok(None);
                };
                *next += 1;
                let rows = range.len();
                batcher.gather(examples, range, x, y);
                Ok(Some(rows))
            }
            TrainRows::Streamed { batches, .. } => Ok(batches.next_batch(x, y)?),
        }
    }
}

/// Rows held out of training (validation or test): in memory, or prepared in a file and read
/// back a chunk at a time.
pub enum HeldOut<'a> {
    Memory(&'a Examples),
    Streamed(&'a mut RowCache),
}

impl HeldOut<'_> {
    pub fn len(&self) -> usize {
        match self {
            HeldOut::Memory(ex) => ex.len(),
            HeldOut::Streamed(cache) => cache.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Evaluate every row: the mean loss, the predictions, and the rows' examples, whose labels,
    /// values, rows and target width are what the metrics read (a streamed part's, read back,
    /// hold nothing else).
    pub fn evaluate(
        &mut self,
        exec: &mut dyn Executor,
    ) -> Result<(f64, Predictions, std::borrow::Cow<'_, Examples>), FitError> {
        match self {
            HeldOut::Memory(ex) => {
                let (loss, predictions) = evaluate(exec, ex)?;
                Ok((loss, predictions, std::borrow::Cow::Borrowed(*ex)))
            }
            HeldOut::Streamed(cache) => {
                let mut stream = StreamedEvaluation::new(exec);
                let mut truth = Examples::default();
                truth.y.cols = cache.y_width();
                let chunk = stream.chunk.max(1);
                cache.for_each_chunk(chunk, |ex| {
                    stream.push(exec, ex)?;
                    truth.labels.extend_from_slice(&ex.labels);
                    truth.values.extend_from_slice(&ex.values);
                    truth.rows.extend_from_slice(&ex.rows);
                    Ok::<(), FitError>(())
                })?;
                let (loss, predictions) = stream.finish(exec)?;
                Ok((loss, predictions, std::borrow::Cow::Owned(truth)))
            }
        }
    }
}

/// [`fit_with`] on training rows and validation rows from anywhere.
#[allow(clippy::too_many_arguments)]
pub fn fit_rows(
    exec: &mut dyn Executor,
    mut train: TrainRows,
    mut validation: HeldOut,
    settings: &TrainSpec,
    probes: &[crate::monitor::Probe],
    task: Task,
    mut on_epoch: impl FnMut(&EpochRecord),
    mut control: Control,
) -> Result<History, FitError> {
    let early = settings.early_stopping.as_ref();
    if let Some(e) = early {
        if validation.is_empty() {
            return Err(FitError::NoValidation);
        }
        let measured = match e.monitor {
            Monitor::ValLoss => true,
            Monitor::ValAccuracy => task == Task::Classification,
            Monitor::ValMae => matches!(task, Task::Regression { .. }),
        };
        assert!(
            measured,
            "invariant: resolve accepts only a monitor the loss measures, not {} for {task:?}",
            e.monitor.name()
        );
    }
    let mut stopper = early.map(|e| Stopper::new(e.patience, e.min_delta, e.monitor));
    let restore_best = early.is_some_and(|e| e.restore_best);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut history = History::default();
    let mut sums = crate::monitor::epoch::Sums::new(probes);
    let resume = control.resume.take();
    let (first_epoch, mut skip, mut carried) = match resume {
        None => (1, 0, None),
        Some(p) => {
            train.replay(p.epochs_done);
            if let (Some(s), Some(state)) = (&mut stopper, &p.stopper) {
                s.restore(state);
            }
            history.epochs = p.history;
            history.samples_seen = p.samples_seen;
            history.train_seconds = p.train_seconds;
            history.stopped_early = p.stopped_early;
            (
                // A run early stopping ended stays ended.
                if p.stopped_early {
                    settings.epochs + 1
                } else {
                    p.epochs_done + 1
                },
                p.batches_done,
                Some((p.partial_loss, p.partial_sums)),
            )
        }
    };
    // The time of the run so far: what a resumed run had, plus this process's.
    let before = history.train_seconds;
    let started = Instant::now();
    let elapsed = || before + started.elapsed().as_secs_f64();
    let stop_flag = control.stop;
    let stop_asked = || control_stop(stop_flag);
    for epoch in first_epoch..=settings.epochs {
        let t0 = Instant::now();
        let mut total = 0.0f64;
        sums.clear();
        if let Some((loss, partial)) = carried.take() {
            total = loss;
            sums = partial;
        }
        train.start_epoch(epoch, skip)?;
        let mut b = skip.min(train.len().div_ceil(settings.batch_size.max(1)));
        skip = 0;
        while let Some(rows) = train.next_batch(&mut x, &mut y)? {
            b += 1;
            let loss = exec.step(&x, &y, rows)?;
            if !probes.is_empty() {
                exec.add_probes(&mut sums);
                sums.end_step(rows);
            }
            if !loss.is_finite() {
                // Stop before the weights are all NaN: nothing after this step can recover.
                return Err(FitError::Diverged { epoch, loss });
            }
            total += f64::from(loss) * rows as f64;
            history.samples_seen += rows;
            if stop_asked() {
                history.train_seconds = elapsed();
                let partial = (total, sums.clone());
                let progress = progress(&history, stopper.as_ref(), (epoch - 1, b), partial);
                save(&mut control, &progress, exec)?;
                history.interrupted = Some(Position { epoch, batches: b });
                history.best_epoch = stopper.and_then(|s| s.best()).map(|(e, _)| e);
                return Ok(history);
            }
        }
        let (val_loss, val_accuracy, val_mae) = if validation.is_empty() {
            (None, None, None)
        } else {
            let (loss, metric) = validate(exec, &mut validation, task)?;
            match task {
                Task::Classification => (Some(loss), Some(metric), None),
                Task::Regression { .. } => (Some(loss), None, Some(metric)),
            }
        };
        let record = EpochRecord {
            epoch,
            train_loss: total / train.len().max(1) as f64,
            val_loss,
            val_accuracy,
            val_mae,
            seconds: t0.elapsed().as_secs_f64(),
            monitor: (!probes.is_empty()).then(|| {
                let buffers = exec.persistent();
                let weight = |name: &str| {
                    (buffers.iter().find(|(n, _)| n == name)).map(|(_, v)| v.as_slice())
                };
                crate::monitor::epoch::summarize(probes, &sums, weight)
            }),
        };
        on_epoch(&record);
        let verdict = match (&mut stopper, early) {
            (Some(stopper), Some(e)) => {
                let value = record
                    .monitored(e.monitor)
                    .expect("invariant: the monitor is measured on a non-empty validation split");
                Some(stopper.observe(epoch, value))
            }
            _ => None,
        };
        history.epochs.push(record);
        if let Some(Verdict::Improved) = verdict {
            if restore_best {
                exec.snapshot()?;
            }
        }
        let ends = matches!(verdict, Some(Verdict::Stop)) || epoch == settings.epochs;
        let due = control
            .checkpoint_every
            .is_some_and(|n| epoch % n.max(1) == 0);
        if due || (ends && control.checkpoint_at_end) {
            // Before the best epoch's buffers are restored: a run continued from the last
            // checkpoint (with more epochs) goes on from the last epoch's.
            history.train_seconds = elapsed();
            let whole = (0.0, crate::monitor::epoch::Sums::new(probes));
            let mut progress = progress(&history, stopper.as_ref(), (epoch, 0), whole);
            progress.stopped_early =
                matches!(verdict, Some(Verdict::Stop)) && epoch < settings.epochs;
            save(&mut control, &progress, exec)?;
        }
        if let Some(Verdict::Stop) = verdict {
            // Stopping at the last epoch ends nothing early.
            history.stopped_early = epoch < settings.epochs;
            break;
        }
        if stop_asked() && epoch < settings.epochs {
            history.train_seconds = elapsed();
            let whole = (0.0, crate::monitor::epoch::Sums::new(probes));
            let progress = progress(&history, stopper.as_ref(), (epoch, 0), whole);
            save(&mut control, &progress, exec)?;
            history.interrupted = Some(Position {
                epoch: epoch + 1,
                batches: 0,
            });
            history.best_epoch = stopper.and_then(|s| s.best()).map(|(e, _)| e);
            return Ok(history);
        }
    }
    history.best_epoch = stopper.and_then(|s| s.best()).map(|(epoch, _)| epoch);
    let last = history.epochs.last().map(|r| r.epoch);
    if restore_best && history.best_epoch.is_some() && history.best_epoch != last {
        let restored = exec.restore_snapshot();
        assert!(restored, "invariant: the best epoch took a snapshot");
    }
    history.train_seconds = elapsed();
    Ok(history)
}

/// What a checkpoint keeps of a run at `(epochs done, batches of the next one done)`, with the
/// loss and statistics summed over those batches (`partial`); not ended by early stopping.
fn progress(
    history: &History,
    stopper: Option<&Stopper>,
    (epochs_done, batches_done): (usize, usize),
    (partial_loss, partial_sums): (f64, crate::monitor::epoch::Sums),
) -> Progress {
    Progress {
        epochs_done,
        batches_done,
        partial_loss,
        partial_sums,
        history: history.epochs.clone(),
        samples_seen: history.samples_seen,
        train_seconds: history.train_seconds,
        stopper: stopper.map(Stopper::state),
        stopped_early: false,
    }
}

/// Whether the flag asks training to stop.
fn control_stop(stop: Option<&AtomicBool>) -> bool {
    stop.is_some_and(|s| s.load(Ordering::Relaxed))
}

/// Write a checkpoint through `control`'s writer, if it has one.
fn save(control: &mut Control, progress: &Progress, exec: &dyn Executor) -> Result<(), FitError> {
    match control.save.as_mut() {
        Some(save) => save(progress, exec).map_err(|d| FitError::Checkpoint(Box::new(d))),
        None => Ok(()),
    }
}

/// The mean loss on the validation rows and the task's metric: accuracy for classes, the mean
/// absolute error in the target's units for values.
fn validate(
    exec: &mut dyn Executor,
    validation: &mut HeldOut,
    task: Task,
) -> Result<(f64, f64), FitError> {
    let (loss, predictions, truth) = validation.evaluate(exec)?;
    let predictions = predictions.outputs;
    let metric = match task {
        Task::Classification => {
            let predicted = metrics::predicted_classes(&predictions, truth.y.cols);
            let correct = predicted
                .iter()
                .zip(&truth.labels)
                .filter(|(p, t)| p == t)
                .count();
            correct as f64 / truth.labels.len() as f64
        }
        Task::Regression { mean, std } => {
            let predicted: Vec<f64> = predictions
                .iter()
                .map(|&p| f64::from(p) * std + mean)
                .collect();
            metrics::regression(&truth.values, &predicted).mae
        }
    };
    Ok((loss, metric))
}

/// Mean loss and all predictions (row-major) of a set of examples, in chunks the executor takes.
pub fn evaluate(exec: &mut dyn Executor, ex: &Examples) -> Result<(f64, Predictions), ExecError> {
    let mut stream = StreamedEvaluation::new(exec);
    stream.push(exec, ex)?;
    stream.finish(exec)
}

/// [`evaluate`] over examples that arrive in pieces (a file read a chunk at a time): the rows
/// go to the executor in the same chunks, and their losses are summed in the same order, as if
/// they had come at once, so the mean loss is the same to the bit.
pub struct StreamedEvaluation {
    chunk: usize,
    x: Vec<f32>,
    y: Vec<f32>,
    rows: usize,
    total: f64,
    count: usize,
    predictions: Predictions,
}

impl StreamedEvaluation {
    pub fn new(exec: &dyn Executor) -> Self {
        StreamedEvaluation {
            chunk: exec.max_eval_batch().max(1),
            x: Vec::new(),
            y: Vec::new(),
            rows: 0,
            total: 0.0,
            count: 0,
            predictions: Predictions::default(),
        }
    }

    /// Evaluate every full chunk of the rows so far, keeping the rest for the next piece.
    pub fn push(&mut self, exec: &mut dyn Executor, ex: &Examples) -> Result<(), ExecError> {
        let (xc, yc) = (ex.x.cols, ex.y.cols);
        let mut start = 0;
        while start < ex.len() {
            let take = (self.chunk - self.rows).min(ex.len() - start);
            let end = start + take;
            // A whole chunk straight from the examples; a part of one into the buffer.
            if self.rows == 0 && take == self.chunk {
                let x = &ex.x.data[start * xc..end * xc];
                let y = &ex.y.data[start * yc..end * yc];
                self.run(exec, x, y, take)?;
            } else {
                self.x.extend_from_slice(&ex.x.data[start * xc..end * xc]);
                self.y.extend_from_slice(&ex.y.data[start * yc..end * yc]);
                self.rows += take;
                if self.rows == self.chunk {
                    self.flush(exec)?;
                }
            }
            start = end;
        }
        Ok(())
    }

    /// The mean loss over every row pushed, and their predictions.
    pub fn finish(mut self, exec: &mut dyn Executor) -> Result<(f64, Predictions), ExecError> {
        if self.rows > 0 {
            self.flush(exec)?;
        }
        Ok((self.total / self.count.max(1) as f64, self.predictions))
    }

    fn flush(&mut self, exec: &mut dyn Executor) -> Result<(), ExecError> {
        let (x, y) = (std::mem::take(&mut self.x), std::mem::take(&mut self.y));
        let rows = std::mem::take(&mut self.rows);
        self.run(exec, &x, &y, rows)?;
        // The buffers keep their capacity for the next chunk.
        (self.x, self.y) = (x, y);
        self.x.clear();
        self.y.clear();
        Ok(())
    }

    fn run(
        &mut self,
        exec: &mut dyn Executor,
        x: &[f32],
        y: &[f32],
        rows: usize,
    ) -> Result<(), ExecError> {
        let loss = exec.evaluate(x, y, rows, &mut self.predictions)?;
        self.total += f64::from(loss) * rows as f64;
        self.count += rows;
        Ok(())
    }
}
