//! Warnings read off the loss curves, which every run records (no training statistics needed):
//! over-fitting (`nnc::train::overfitting`), a learning rate too high
//! (`nnc::train::learning_rate_high`) and too low (`nnc::train::learning_rate_low`).
//!
//! "Too low" needs a yardstick: the loss of the best constant prediction on the training rows
//! (`chance_loss`: the class frequencies for cross-entropy, the mean for mse, the median for mae).
//! A model still near it has learned next to nothing.

use super::{figure, setting};
use crate::data::Matrix;
use crate::diag::Diagnostic;
use crate::lower::{Loss, ModelSpec};
use crate::train::EpochRecord;

/// How far the validation loss must end above its lowest value, relatively, for over-fitting:
/// 10%, and by at least `OVERFIT_CHANCE_SHARE` of the chance loss, so that the noise of a small
/// validation split (iris's 30 rows move its loss from 0.019 to 0.027) is not taken for it.
pub const OVERFIT_RISE: f64 = 0.1;
pub const OVERFIT_CHANCE_SHARE: f64 = 0.05;
/// Epochs the validation loss must have risen for since its lowest, at least (and at least a
/// fifth of the run): a rise over the last two epochs is not yet a trend.
pub const OVERFIT_EPOCHS: usize = 5;

/// A jump of the training loss from one epoch to the next by more than this share is an
/// overshoot: an epoch's loss averages every batch, so a good rate moves it by a few percent.
pub const HIGH_JUMP: f64 = 0.1;
/// The share of the last half's epochs with such a jump that makes the rate too high. The shipped
/// examples have at most 3 of 49 (with dropout); a rate ten times too high, a third or more.
pub const HIGH_SHARE: f64 = 0.25;

/// How far above its lowest the training loss must end for a climb: half again. The shipped
/// examples end within 5% of their lowest epoch.
pub const HIGH_CLIMB: f64 = 1.5;

/// The share of the chance loss the training loss must still be at for a rate too low.
pub const LOW_CHANCE_SHARE: f64 = 0.9;
/// The most the training loss may have fallen over the whole run, as a share of its first epoch's
/// value, for a rate too low: 5%. A loss that fell further and stopped near the chance loss has
/// reached a constant prediction (its relu units dead, or nothing to learn), which a higher rate
/// would not change.
pub const LOW_FALL_SHARE: f64 = 0.05;
/// The share of the last half's epochs in which the loss must have fallen: a rate too low makes
/// a slow, steady descent, where a model that has learned what it can goes up and down.
pub const LOW_FALLING_SHARE: f64 = 0.8;

/// The training loss of the best constant prediction for `y` (the prepared targets), for the
/// built-in losses that have a closed form; `None` for Huber, class weights and a loss written
/// as math.
pub fn chance_loss(spec: &ModelSpec, y: &Matrix) -> Option<f64> {
    if spec.loss_def.is_some() || y.rows == 0 || y.cols == 0 {
        return None;
    }
    let column = |c: usize| (0..y.rows).map(move |r| f64::from(y.data[r * y.cols + c]));
    let mean = |c: usize| column(c).sum::<f64>() / y.rows as f64;
    match &spec.loss {
        Loss::CrossEntropy {
            label_smoothing,
            class_weights: None,
        }
        | Loss::BinaryCrossEntropy {
            label_smoothing,
            class_weights: None,
        } => {
            // One sigmoid unit is two classes; smoothing moves every target towards 1/K.
            let classes = y.cols.max(2) as f64;
            let smooth = |p: f64| p * (1.0 - label_smoothing) + label_smoothing / classes;
            let entropy = |p: f64| if p > 0.0 { -p * p.ln() } else { 0.0 };
            Some(match y.cols {
                1 => entropy(smooth(mean(0))) + entropy(smooth(1.0 - mean(0))),
                k => (0..k).map(|c| entropy(smooth(mean(c)))).sum(),
            })
        }
        Loss::Mse => {
            let total: f64 = (0..y.cols)
                .map(|c| {
                    let m = mean(c);
                    column(c).map(|v| (v - m) * (v - m)).sum::<f64>()
                })
                .sum();
            Some(total / (y.rows * y.cols) as f64)
        }
        Loss::Mae => {
            let total: f64 = (0..y.cols)
                .map(|c| {
                    let mut v: Vec<f64> = column(c).collect();
                    v.sort_by(f64::total_cmp);
                    let median = v[v.len() / 2];
                    v.iter().map(|x| (x - median).abs()).sum::<f64>()
                })
                .sum();
            Some(total / (y.rows * y.cols) as f64)
        }
        _ => None,
    }
}

/// The validation loss has risen since its lowest epoch, by `OVERFIT_RISE` and for
/// `OVERFIT_EPOCHS` or more, while the training loss went on falling. Not with early stopping,
/// which is the remedy already in place.
pub fn overfitting(
    spec: &ModelSpec,
    history: &[EpochRecord],
    chance_loss: Option<f64>,
) -> Option<Diagnostic> {
    if spec.train.early_stopping.is_some() {
        return None;
    }
    let validated: Vec<(&EpochRecord, f64)> = (history.iter())
        .filter_map(|e| Some((e, e.val_loss?)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    let (best, lowest) = validated
        .iter()
        .copied()
        .reduce(|a, b| if b.1 < a.1 { b } else { a })?;
    let last = validated.last()?.0;
    let since = last.epoch - best.epoch;
    if since < OVERFIT_EPOCHS.max(history.len() / 5) {
        return None;
    }
    // The last three validated epochs, so that one noisy epoch neither makes nor hides it.
    let recent = &validated[validated.len().saturating_sub(3)..];
    let now = recent.iter().map(|(_, v)| v).sum::<f64>() / recent.len() as f64;
    let significant = chance_loss.is_none_or(|c| now - lowest >= OVERFIT_CHANCE_SHARE * c);
    // Over-fitting fits the training rows better than a constant does; a model that ends at
    // the chance loss has collapsed to one instead (dead units, a rate too high).
    let fits = chance_loss.is_none_or(|c| last.train_loss < LOW_CHANCE_SHARE * c);
    if now < lowest * (1.0 + OVERFIT_RISE)
        || !significant
        || !fits
        || last.train_loss >= best.train_loss
    {
        return None;
    }
    Some(
        Diagnostic::new(
            "nnc::train::overfitting",
            format!(
                "the validation loss rose from {} in epoch {} to {} in epoch {} while the \
                 training loss fell from {} to {}",
                figure(lowest),
                best.epoch,
                figure(now),
                last.epoch,
                figure(best.train_loss),
                figure(last.train_loss),
            ),
        )
        .as_warning()
        .with_source(&spec.source)
        .with_label(
            spec.model_span,
            format!(
                "from epoch {} this model learns the training rows, not the task",
                best.epoch
            ),
        )
        .with_help(format!(
            "stop at the best epoch with `early_stopping(restore_best: true)` in `train` (epoch \
             {} here), or hold the model back: `dropout: 0.2` on the hidden layers, \
             `regularization: l2(0.0001)`, or fewer units",
            best.epoch
        )),
    )
}

/// The training loss jumps up by more than `HIGH_JUMP` in at least `HIGH_SHARE` of the last
/// half's epochs (and in three of them at least), or it climbs: it ends `HIGH_CLIMB` times its
/// lowest value or more, three epochs or more after it.
pub fn learning_rate_high(spec: &ModelSpec, history: &[EpochRecord]) -> Option<Diagnostic> {
    let what = jumping(history).or_else(|| climbing(history))?;
    let rate = spec.optimizer.learning_rate();
    Some(
        Diagnostic::new("nnc::train::learning_rate_high", what)
            .as_warning()
            .with_source(&spec.source)
            .with_label(
                spec.optimizer_span,
                format!("learning rate {}", setting(rate)),
            )
            .with_help(format!(
                "each step overshoots the minimum it aims at: lower the rate (try \
                 `learning_rate: {}`), or let a `schedule` decay it",
                setting(rate / 10.0)
            )),
    )
}

/// "The training loss jumped up ...", when it did often enough.
fn jumping(history: &[EpochRecord]) -> Option<String> {
    let half = &history[history.len() / 2..];
    let steps = half.len().saturating_sub(1);
    let jumps: Vec<(f64, usize)> = (half.windows(2))
        .filter(|w| w[1].train_loss > w[0].train_loss * (1.0 + HIGH_JUMP))
        .map(|w| (w[1].train_loss / w[0].train_loss, w[1].epoch))
        .collect();
    if steps < 4 || jumps.len() < 3 || (jumps.len() as f64) < HIGH_SHARE * steps as f64 {
        return None;
    }
    let (most, at) = (jumps.iter().copied()).fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a });
    Some(format!(
        "the training loss jumped up by more than {:.0}% in {} of the last {steps} epochs ({}× \
         in epoch {at})",
        HIGH_JUMP * 100.0,
        jumps.len(),
        figure(most),
    ))
}

/// "The training loss climbed ...", when it ends far above its lowest.
fn climbing(history: &[EpochRecord]) -> Option<String> {
    let lowest = (history.iter())
        .filter(|e| e.train_loss.is_finite())
        .reduce(|a, b| if b.train_loss < a.train_loss { b } else { a })?;
    let last = history.last()?;
    if last.epoch < lowest.epoch + 3 || last.train_loss < HIGH_CLIMB * lowest.train_loss {
        return None;
    }
    Some(format!(
        "the training loss climbed from {} in epoch {} to {} in epoch {}",
        figure(lowest.train_loss),
        lowest.epoch,
        figure(last.train_loss),
        last.epoch,
    ))
}

/// After at least five epochs the training loss is still `LOW_CHANCE_SHARE` of the chance loss
/// or more, it fell by less than `LOW_FALL_SHARE` in all, and it fell in `LOW_FALLING_SHARE` of
/// the last half's epochs: a slow, steady descent that has not got far.
pub fn learning_rate_low(
    spec: &ModelSpec,
    history: &[EpochRecord],
    chance_loss: Option<f64>,
) -> Option<Diagnostic> {
    let chance = chance_loss.filter(|c| *c > 0.0)?;
    let (first, last) = (history.first()?, history.last()?);
    let half = &history[history.len() / 2..];
    let steps = half.len().saturating_sub(1);
    let falling = (half.windows(2))
        .filter(|w| w[1].train_loss < w[0].train_loss)
        .count();
    let near_chance = last.train_loss >= LOW_CHANCE_SHARE * chance;
    let fell = first.train_loss - last.train_loss;
    let little = fell < LOW_FALL_SHARE * first.train_loss;
    if history.len() < 5
        || !near_chance
        || !little
        || (falling as f64) < LOW_FALLING_SHARE * steps as f64
    {
        return None;
    }
    let rate = spec.optimizer.learning_rate();
    Some(
        Diagnostic::new(
            "nnc::train::learning_rate_low",
            format!(
                "after {} epochs the training loss is {}, {:.0}% of what a constant prediction \
                 gives ({}), and it fell by only {:.1}% since epoch 1, in small steady steps",
                history.len(),
                figure(last.train_loss),
                100.0 * last.train_loss / chance,
                figure(chance),
                100.0 * fell / first.train_loss,
            ),
        )
        .as_warning()
        .with_source(&spec.source)
        .with_label(
            spec.optimizer_span,
            format!("learning rate {}", setting(rate)),
        )
        .with_help(format!(
            "the steps are too small to get anywhere: raise the rate tenfold (`learning_rate: \
             {}`) or train longer; if the loss stays where it is, the inputs may say little \
             about the target",
            setting(rate * 10.0)
        )),
    )
}
