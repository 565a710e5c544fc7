//! The training driver: epochs of shuffled mini-batches through an `Executor` (JIT or
//! interpreter), a validation loss after each epoch, and the final metrics on the test split. It
//! knows nothing of Cranelift: it only calls `step` and `evaluate`. `session` ties the whole run
//! together (file, data, program, executor, report).

pub mod cv;
pub mod executor;
pub mod init;
pub mod metrics;
pub mod report;
pub mod saved;
pub mod session;

use std::time::Instant;

use serde::Serialize;

use crate::data::{Batcher, Examples};
pub use executor::{ExecError, Executor, InterpExecutor, JitExecutor};

/// Why training stopped early.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The executor failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The loss of a step became NaN or infinite.
    #[error("training diverged in epoch {epoch}: the loss became {loss}")]
    Diverged { epoch: usize, loss: f32 },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    /// None when the validation split is empty.
    pub val_loss: Option<f64>,
    pub seconds: f64,
}

#[derive(Clone, Debug, Default)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
    /// Time inside training steps and validation, excluding compilation.
    pub train_seconds: f64,
    pub samples_seen: usize,
}

/// Train for `epochs`, calling `on_epoch` after each one (for progress output).
pub fn fit(
    exec: &mut dyn Executor,
    train: &Examples,
    validation: &Examples,
    epochs: usize,
    batch_size: usize,
    seed: u64,
    mut on_epoch: impl FnMut(&EpochRecord),
) -> Result<History, FitError> {
    let mut batcher = Batcher::new(train.len(), batch_size, seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut history = History::default();
    let started = Instant::now();
    for epoch in 1..=epochs {
        let t0 = Instant::now();
        let mut total = 0.0f64;
        for range in batcher.epoch() {
            let rows = range.len();
            batcher.gather(train, range, &mut x, &mut y);
            let loss = exec.step(&x, &y, rows)?;
            if !loss.is_finite() {
                // Stop before the weights are all NaN: nothing after this step can recover.
                return Err(FitError::Diverged { epoch, loss });
            }
            total += f64::from(loss) * rows as f64;
            history.samples_seen += rows;
        }
        let val_loss = if validation.is_empty() {
            None
        } else {
            Some(evaluate(exec, validation)?.0)
        };
        let record = EpochRecord {
            epoch,
            train_loss: total / train.len().max(1) as f64,
            val_loss,
            seconds: t0.elapsed().as_secs_f64(),
        };
        on_epoch(&record);
        history.epochs.push(record);
    }
    history.train_seconds = started.elapsed().as_secs_f64();
    Ok(history)
}

/// Mean loss and all predictions (row-major) of a set of examples, in chunks the executor takes.
pub fn evaluate(exec: &mut dyn Executor, ex: &Examples) -> Result<(f64, Vec<f32>), ExecError> {
    let chunk = exec.max_eval_batch();
    let mut predictions = Vec::new();
    let mut total = 0.0f64;
    let mut start = 0;
    while start < ex.len() {
        let end = (start + chunk).min(ex.len());
        let rows = end - start;
        let x = &ex.x.data[start * ex.x.cols..end * ex.x.cols];
        let y = &ex.y.data[start * ex.y.cols..end * ex.y.cols];
        let loss = exec.evaluate(x, y, rows, &mut predictions)?;
        total += f64::from(loss) * rows as f64;
        start = end;
    }
    Ok((total / ex.len().max(1) as f64, predictions))
}
