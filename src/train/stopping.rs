//! The rule of early stopping, apart from training: fed the monitored value of each epoch, it says
//! whether the value improved on the best so far by more than `min_delta` (downwards for a loss or
//! an error, upwards for accuracy), and when `patience` epochs in a row have not.

use crate::lower::spec::Monitor;

/// What one epoch's value means for training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The best value so far: its epoch is the one to keep.
    Improved,
    /// No improvement, but fewer than `patience` epochs in a row.
    Waiting,
    /// The `patience`-th epoch in a row without improvement: stop after it.
    Stop,
}

#[derive(Clone, Debug)]
pub struct Stopper {
    patience: usize,
    min_delta: f64,
    higher_is_better: bool,
    /// The best epoch and its value.
    best: Option<(usize, f64)>,
    /// Epochs since the best one.
    waited: usize,
}

impl Stopper {
    pub fn new(patience: usize, min_delta: f64, monitor: Monitor) -> Self {
        Stopper {
            patience,
            min_delta,
            higher_is_better: monitor.higher_is_better(),
            best: None,
            waited: 0,
        }
    }

    /// Take the value of `epoch`. A change of exactly `min_delta` is not an improvement, and
    /// neither is NaN (nor anything after a first NaN: the best so far stays unset until a number).
    pub fn observe(&mut self, epoch: usize, value: f64) -> Verdict {
        let improved = match self.best {
            None => !value.is_nan(),
            Some((_, best)) if self.higher_is_better => value - best > self.min_delta,
            Some((_, best)) => best - value > self.min_delta,
        };
        if improved {
            self.best = Some((epoch, value));
            self.waited = 0;
            return Verdict::Improved;
        }
        self.waited += 1;
        if self.waited >= self.patience {
            Verdict::Stop
        } else {
            Verdict::Waiting
        }
    }

    /// The best epoch so far and its value.
    pub fn best(&self) -> Option<(usize, f64)> {
        self.best
    }

    /// What a checkpoint keeps of it (the settings come from the model file).
    pub fn state(&self) -> StopperState {
        StopperState {
            best: self.best.map(|(epoch, value)| (epoch, value.to_bits())),
            waited: self.waited,
        }
    }

    /// Continue from a checkpoint's state.
    pub fn restore(&mut self, state: &StopperState) {
        self.best = state
            .best
            .map(|(epoch, bits)| (epoch, f64::from_bits(bits)));
        self.waited = state.waited;
    }
}

/// The state of early stopping between epochs: the best epoch and its value (as the bits of the
/// f64, kept exactly), and the epochs since.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StopperState {
    pub best: Option<(usize, u64)>,
    pub waited: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::{Improved, Stop, Waiting};

    /// The verdicts on a sequence of values (epochs numbered from 1), up to the first `Stop`.
    fn run(
        patience: usize,
        min_delta: f64,
        monitor: Monitor,
        values: &[f64],
    ) -> (Vec<Verdict>, Option<(usize, f64)>) {
        let mut s = Stopper::new(patience, min_delta, monitor);
        let mut verdicts = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            let verdict = s.observe(i + 1, v);
            verdicts.push(verdict);
            if verdict == Stop {
                break;
            }
        }
        (verdicts, s.best())
    }

    #[test]
    fn a_loss_stops_after_patience_epochs_without_improvement() {
        let (v, best) = run(
            2,
            0.0,
            Monitor::ValLoss,
            &[1.0, 0.8, 0.9, 0.7, 0.7, 0.75, 0.1],
        );
        assert_eq!(v, [Improved, Improved, Waiting, Improved, Waiting, Stop]);
        assert_eq!(best, Some((4, 0.7)));
    }

    #[test]
    fn patience_one_stops_at_the_first_epoch_without_improvement() {
        let (v, best) = run(1, 0.0, Monitor::ValMae, &[3.0, 2.0, 2.5, 1.0]);
        assert_eq!(v, [Improved, Improved, Stop]);
        assert_eq!(best, Some((2, 2.0)));
    }

    #[test]
    fn a_change_of_exactly_min_delta_is_not_an_improvement() {
        // Values exact in binary, so the differences are exactly 0.25 or 0.5.
        let (v, best) = run(
            3,
            0.25,
            Monitor::ValLoss,
            &[2.0, 1.75, 1.5, 1.0, 0.75, 0.5, 0.5],
        );
        assert_eq!(
            v,
            [Improved, Waiting, Improved, Improved, Waiting, Improved, Waiting]
        );
        assert_eq!(best, Some((6, 0.5)));
        // A change just above min_delta is one; the count restarts after it.
        let (v, _) = run(2, 0.25, Monitor::ValLoss, &[2.0, 1.75, 1.4, 1.3, 1.2]);
        assert_eq!(v, [Improved, Waiting, Improved, Waiting, Stop]);
        // With min_delta 0 a tie is not an improvement, the least decrease is.
        let (v, _) = run(
            2,
            0.0,
            Monitor::ValLoss,
            &[1.0, 1.0, 1.0 - f64::EPSILON, 1.0],
        );
        assert_eq!(v, [Improved, Waiting, Improved, Waiting]);
    }

    #[test]
    fn accuracy_improves_upwards() {
        let (v, best) = run(
            2,
            0.0,
            Monitor::ValAccuracy,
            &[0.5, 0.75, 0.5, 0.875, 0.875, 0.25],
        );
        assert_eq!(v, [Improved, Improved, Waiting, Improved, Waiting, Stop]);
        assert_eq!(best, Some((4, 0.875)));
        // Exactly min_delta upwards is not an improvement either.
        let (v, best) = run(1, 0.125, Monitor::ValAccuracy, &[0.5, 0.625]);
        assert_eq!(v, [Improved, Stop]);
        assert_eq!(best, Some((1, 0.5)));
        // A falling accuracy never improves, as a rising loss never does.
        let (v, _) = run(2, 0.0, Monitor::ValAccuracy, &[0.9, 0.8, 0.7]);
        assert_eq!(v, [Improved, Waiting, Stop]);
        let (v, _) = run(2, 0.0, Monitor::ValLoss, &[0.7, 0.8, 0.9]);
        assert_eq!(v, [Improved, Waiting, Stop]);
    }

    #[test]
    fn nan_is_never_an_improvement() {
        let (v, best) = run(
            3,
            0.0,
            Monitor::ValLoss,
            &[f64::NAN, 1.0, f64::NAN, f64::NAN, f64::NAN],
        );
        assert_eq!(v, [Waiting, Improved, Waiting, Waiting, Stop]);
        assert_eq!(best, Some((2, 1.0)));
    }
}
