//! The driver's half of a learning-rate schedule: before every optimizer step, each executor asks
//! `ScheduledRate::next` for that step's rate (the schedule evaluated in f64 by
//! `lower::Schedule::rate`) and writes it into the step's scalar state buffer `learning_rate`.
//! Both executors count steps the same way, so a seed still gives the same rates, bit for bit.

use crate::lower::Schedule;
use crate::optim::LEARNING_RATE;
use crate::program::Program;

pub(super) struct ScheduledRate {
    /// The position of `learning_rate` among the persistent buffers (parameters, then state).
    pub index: usize,
    schedule: Schedule,
    base: f64,
    /// Optimizer steps taken so far.
    steps: u64,
}

impl ScheduledRate {
    /// The program's schedule, when it has one (its step then reads `learning_rate`).
    pub fn of(program: &Program) -> Option<Self> {
        let at = program.state.iter().position(|s| s.name == LEARNING_RATE);
        let scheduled = program.spec.schedule != Schedule::Constant;
        assert_eq!(
            at.is_some(),
            scheduled,
            "invariant: the step reads `{LEARNING_RATE}` exactly when the optimizer has a schedule"
        );
        Some(ScheduledRate {
            index: program.params.len() + at?,
            schedule: program.spec.schedule.clone(),
            base: program.spec.optimizer.learning_rate(),
            steps: 0,
        })
    }

    /// Count `steps` steps as taken (a resumed run's).
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// The rate of the coming step; counts the step.
    pub fn next(&mut self) -> f64 {
        let rate = self.schedule.rate(self.base, self.steps);
        self.steps += 1;
        rate
    }
}
