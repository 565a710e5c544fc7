//! Learning-rate schedules: the `schedule:` option of every optimizer (`constant`, `step_decay`,
//! `exponential`, `cosine`, `warmup(then: ...)`), their names, options, defaults and ranges, and
//! the one definition of what rate each gives at each step (`Schedule::rate`, in f64). The
//! training driver evaluates it before every optimizer step and hands the rate to the compiled
//! (or interpreted) step as a scalar state buffer; `docs/architecture.md` says why.

use strum::{EnumDiscriminants, EnumIter, IntoEnumIterator};

use super::collect::Errors;
use super::err;
use super::options::{unknown_help, Count, Number, Options};
use super::vocabulary::MAX_LEARNING_RATE;
use crate::diag::{Diagnostic, Source};
use crate::syntax::ast::{Call, Value, ValueKind};

/// How the learning rate changes with the optimizer step `t` (0 for the first step). `η` is the
/// optimizer's `learning_rate`.
#[derive(Clone, Debug, PartialEq, EnumDiscriminants)]
#[strum_discriminants(name(ScheduleKind), derive(EnumIter))]
pub enum Schedule {
    /// η at every step.
    Constant,
    /// η · factor^⌊t / every⌋.
    StepDecay { every: u64, factor: f64 },
    /// η · rate^(t / steps), continuously.
    Exponential { steps: u64, rate: f64 },
    /// From η down to `min` along half a cosine over `steps` steps, then `min`.
    Cosine { steps: u64, min: f64 },
    /// η · (t + 1) / steps for the first `steps` steps, then `then` counted from 0.
    Warmup { steps: u64, then: Box<Schedule> },
}

/// Steps are counted in optimizer steps (batches), up to a billion: far beyond any run here.
const STEPS: Count = Count {
    name: "steps",
    default: 1000,
    min: 1,
    max: 1_000_000_000,
};
const EVERY: Count = Count {
    name: "every",
    ..STEPS
};
const FACTOR: Number = Number {
    name: "factor",
    default: 0.5,
    min: 0.0,
    max: 1.0,
};
const RATE: Number = Number {
    name: "rate",
    default: 0.96,
    min: 0.0,
    max: 1.0,
};
const MIN: Number = Number {
    name: "min",
    default: 0.0,
    min: 0.0,
    max: MAX_LEARNING_RATE,
};
pub(super) const THEN: &str = "then";

impl ScheduleKind {
    /// The name in a `.nn` file: the one table of schedule names.
    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Constant => "constant",
            ScheduleKind::StepDecay => "step_decay",
            ScheduleKind::Exponential => "exponential",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Warmup => "warmup",
        }
    }

    /// The schedule's whole-number options (step counts), with defaults and ranges.
    pub fn counts(self) -> &'static [Count] {
        match self {
            ScheduleKind::Constant => &[],
            ScheduleKind::StepDecay => &[EVERY],
            ScheduleKind::Exponential | ScheduleKind::Cosine | ScheduleKind::Warmup => &[STEPS],
        }
    }

    /// The schedule's real-number options, with defaults and ranges.
    pub fn numbers(self) -> &'static [Number] {
        match self {
            ScheduleKind::Constant | ScheduleKind::Warmup => &[],
            ScheduleKind::StepDecay => &[FACTOR],
            ScheduleKind::Exponential => &[RATE],
            ScheduleKind::Cosine => &[MIN],
        }
    }
}

impl Schedule {
    pub fn name(&self) -> &'static str {
        ScheduleKind::from(self).name()
    }

    /// The learning rate of optimizer step `t` (0 for the first) for the base rate `base`.
    pub fn rate(&self, base: f64, t: u64) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::StepDecay { every, factor } => {
                // ⌊t / every⌋ is exact in integers; powi takes an i32, so cap the exponent where
                // any factor below 1 has long reached 0 (or stayed 1).
                let k = (t / every).min(i32::MAX as u64) as i32;
                base * factor.powi(k)
            }
            Schedule::Exponential { steps, rate } => base * rate.powf(t as f64 / *steps as f64),
            Schedule::Cosine { steps, min } => {
                if t >= *steps {
                    return *min;
                }
                let progress = t as f64 / *steps as f64;
                min + (base - min) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Schedule::Warmup { steps, then } => {
                if t < *steps {
                    base * (t + 1) as f64 / *steps as f64
                } else {
                    then.rate(base, t - steps)
                }
            }
        }
    }
}

/// Read a `schedule:` value: a schedule's name, bare or called with its options.
pub(super) fn resolve_schedule(source: &Source, v: &Value) -> Result<Schedule, Vec<Diagnostic>> {
    let ValueKind::Call(call) = &v.kind else {
        return Err(vec![err(
            source,
            "nnc::lower::wrong_kind",
            format!("a schedule is a name, but this is {}", v.describe()),
            v.span,
            "not a schedule",
            "write e.g. `schedule: cosine(steps: 5000)` or `schedule: constant`",
        )]);
    };
    resolve_call(source, call)
}

fn resolve_call(source: &Source, call: &Call) -> Result<Schedule, Vec<Diagnostic>> {
    let name = call.name.name.as_str();
    let Some(kind) = ScheduleKind::iter().find(|k| k.name() == name) else {
        let known: Vec<&str> = ScheduleKind::iter().map(ScheduleKind::name).collect();
        return Err(err(
            source,
            "nnc::lower::unknown_schedule",
            format!("unknown schedule `{name}`"),
            call.name.span,
            "not a known schedule",
            unknown_help(name, "schedules", &known),
        )
        .into());
    };
    let mut known: Vec<&'static str> = kind.counts().iter().map(|c| c.name).collect();
    known.extend(kind.numbers().iter().map(|n| n.name));
    if kind == ScheduleKind::Warmup {
        known.push(THEN);
    }
    // Named options only, like an optimizer's: `cosine(5000, 0.1)` would leave a reader guessing.
    let o = Options::from_call_all(source, call, &[], &known)?;
    // Each option is checked apart, so that every bad one is reported.
    let mut errors = Errors::default();
    let mut count = |c: &Count| errors.take(o.count(c), c.default);
    let schedule = match kind {
        ScheduleKind::Constant => Schedule::Constant,
        ScheduleKind::StepDecay => Schedule::StepDecay {
            every: count(&EVERY),
            factor: errors.take(o.number(&FACTOR), FACTOR.default),
        },
        ScheduleKind::Exponential => Schedule::Exponential {
            steps: count(&STEPS),
            rate: errors.take(o.number(&RATE), RATE.default),
        },
        ScheduleKind::Cosine => Schedule::Cosine {
            steps: count(&STEPS),
            min: errors.take(o.number(&MIN), MIN.default),
        },
        ScheduleKind::Warmup => {
            let steps = count(&STEPS);
            let then = match o.value(THEN) {
                None => Schedule::Constant,
                Some(v) => errors.take(resolve_schedule(source, v), Schedule::Constant),
            };
            Schedule::Warmup {
                steps,
                then: Box::new(then),
            }
        }
    };
    errors.finish(|| schedule)
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    /// `nnc summary` names the schedule as the file writes it.
    #[test]
    fn a_schedule_is_named_as_the_file_writes_it() {
        let cases = [
            (Schedule::Constant, "constant"),
            (
                Schedule::StepDecay {
                    every: 1,
                    factor: 0.5,
                },
                "step_decay",
            ),
            (
                Schedule::Exponential {
                    steps: 1,
                    rate: 0.5,
                },
                "exponential",
            ),
            (Schedule::Cosine { steps: 1, min: 0.0 }, "cosine"),
            (
                Schedule::Warmup {
                    steps: 1,
                    then: Box::new(Schedule::Constant),
                },
                "warmup",
            ),
        ];
        for (schedule, name) in cases {
            assert_eq!(schedule.name(), name);
        }
    }

    #[test]
    fn rates_at_the_edges_of_each_schedule() {
        let base = 0.1;
        assert_eq!(Schedule::Constant.rate(base, 12345), base);
        let step = Schedule::StepDecay {
            every: 10,
            factor: 0.5,
        };
        assert_eq!(
            [0, 9, 10, 25].map(|t| step.rate(base, t)),
            [0.1, 0.1, 0.05, 0.025]
        );
        let exp = Schedule::Exponential {
            steps: 4,
            rate: 0.25,
        };
        assert!((exp.rate(base, 2) - 0.05).abs() < 1e-15);
        let cos = Schedule::Cosine {
            steps: 4,
            min: 0.02,
        };
        assert_eq!(cos.rate(base, 0), base);
        assert!((cos.rate(base, 2) - 0.06).abs() < 1e-15);
        assert_eq!(cos.rate(base, 4), 0.02);
        assert_eq!(cos.rate(base, 1_000_000), 0.02);
        let warm = Schedule::Warmup {
            steps: 4,
            then: Box::new(cos),
        };
        assert_eq!([0, 3, 4].map(|t| warm.rate(base, t)), [0.025, 0.1, 0.1]);
        assert!((warm.rate(base, 6) - 0.06).abs() < 1e-15);
    }
}
