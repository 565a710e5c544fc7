//! The two ways to run a compiled program: natively (`JitExecutor`, Cranelift code) or on the
//! reference interpreter (`InterpExecutor`). Both keep the parameters and optimizer state between
//! calls and expose the same `Executor` interface, so the training loop does not know which runs.
//!
//! Buffers are bound to function arguments by position, resolved once when an executor is built:
//! the persistent buffers are the parameters in `Program::params` order and then the optimizer
//! state in `Program::state` order, which is the order of the persistent arguments of the step
//! (the loss function takes the parameters alone), and the data arguments are `x` then `y`. A
//! compiled step reads `x` and `y` where they lie and allocates nothing.

use std::time::Duration;

use ndarray::{ArrayD, IxDyn};

use crate::codegen::{self, CodegenError, CodegenOptions, CompiledFunction, OutputId};
use crate::interp::{self, InterpError, Tensor};
use crate::ir::{ArgRole, Function, Origin, ValueId, VerifiedFunction};
use crate::lower::LOGIT_OUTPUT;
use crate::monitor;
use crate::program::Program;

/// A failure while preparing or running a program.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Codegen(#[from] CodegenError),
    #[error(transparent)]
    Interp(#[from] InterpError),
    /// A buffer of the model could not be allocated.
    #[error("cannot allocate {bytes} bytes for {what}")]
    OutOfMemory {
        what: String,
        bytes: usize,
        /// The layer the buffer belongs to, when known.
        origin: Option<Origin>,
    },
}

/// What evaluating batches gives besides their loss, appended batch after batch, row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Predictions {
    /// The model's outputs: rows × the output's width.
    pub outputs: Vec<f32>,
    /// The logit of each row when the model ends with one sigmoid unit (the evaluation function's
    /// `lower::LOGIT_OUTPUT`), from which the negative class's probability is computed exactly;
    /// empty for any other model.
    pub logits: Vec<f32>,
}

impl Predictions {
    pub fn clear(&mut self) {
        self.outputs.clear();
        self.logits.clear();
    }
}

/// The cores this process may use.
fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub trait Executor {
    /// One training step on a batch of `batch` rows; returns the batch's mean loss.
    fn step(&mut self, x: &[f32], y: &[f32], batch: usize) -> Result<f32, ExecError>;
    /// The mean loss and the predictions (appended to `predictions`) of a batch of at most
    /// `max_eval_batch()` rows, without changing anything.
    fn evaluate(
        &mut self,
        x: &[f32],
        y: &[f32],
        batch: usize,
        predictions: &mut Predictions,
    ) -> Result<f32, ExecError>;
    fn max_eval_batch(&self) -> usize;
    /// Add the training statistics' outputs of the latest `step` (`Program::probes`, in order)
    /// to `sums`; nothing when the program has none.
    fn add_probes(&self, sums: &mut monitor::epoch::Sums);
    /// Current values of the persistent buffers, by name: the parameters, then the optimizer
    /// state.
    fn persistent(&self) -> Vec<(String, Vec<f32>)>;
    /// Replace the values of the persistent buffer `name` (a saved model's weights); false, and
    /// nothing changed, when no buffer has that name and length.
    fn set_persistent(&mut self, name: &str, values: &[f32]) -> bool;
    /// Copy the persistent buffers (parameters and optimizer state) aside, exactly, replacing the
    /// previous snapshot. Only the first snapshot allocates; later ones reuse its memory.
    fn snapshot(&mut self) -> Result<(), ExecError>;
    /// Put back the buffers of the latest snapshot; false, changing nothing, when there is none.
    fn restore_snapshot(&mut self) -> bool;
    /// The buffers of the latest snapshot, in the order of `persistent`; empty when there is
    /// none (what a checkpoint keeps of the best epoch).
    fn snapshot_values(&self) -> Vec<Vec<f32>>;
    /// Make `values` (a checkpoint's, in the order of `persistent`) the latest snapshot; false,
    /// changing nothing, when they do not fit the buffers.
    fn set_snapshot_values(&mut self, values: Vec<Vec<f32>>) -> bool;
    /// Count `steps` optimizer steps as taken (a resumed run's): the learning-rate schedule
    /// continues from there.
    fn set_steps_taken(&mut self, steps: u64);
    /// Time spent compiling, zero for the interpreter.
    fn compile_time(&self) -> Duration;
}

/// The names of the persistent buffers, parameters first.
fn buffer_names(program: &Program) -> Vec<String> {
    let params = program.params.iter().map(|p| p.name.clone());
    params
        .chain(program.state.iter().map(|s| s.name.clone()))
        .collect()
}

/// The initial persistent buffers, parameters then state, each allocated fallibly so that a
/// model too large for memory is an error naming its layer rather than an abort.
fn initial_buffers(program: &Program, seed: u64) -> Result<Vec<Vec<f32>>, ExecError> {
    let mut bufs = super::init::initialize(&program.params, seed).map_err(|e| {
        let p = &program.params[e.param];
        ExecError::OutOfMemory {
            what: format!("parameter `{}`", p.name),
            bytes: p.numel().saturating_mul(4),
            origin: program
                .loss
                .origin(program.loss.args[e.param].value)
                .cloned(),
        }
    })?;
    for s in &program.state {
        let n: usize = s.shape.iter().product();
        let buf = super::init::filled(n, s.init).ok_or_else(|| ExecError::OutOfMemory {
            what: format!("optimizer state `{}`", s.name),
            bytes: n.saturating_mul(4),
            origin: None,
        })?;
        bufs.push(buf);
    }
    Ok(bufs)
}

/// Check, once, that `f` takes the persistent buffers `names` (a prefix of the program's) in
/// order and then the data `x` and `y`: the layout the executors bind by position.
fn check_layout(f: &Function, names: &[String]) {
    let persistent: Vec<&str> = f.persistent_args().map(|v| f.name_of(v)).collect();
    assert!(
        persistent
            .iter()
            .copied()
            .eq(names.iter().map(String::as_str)),
        "invariant: `{}` takes the persistent buffers {names:?} in order, not {persistent:?}",
        f.name
    );
    let data: Vec<&str> = f
        .args_with_role(ArgRole::Data)
        .map(|v| f.name_of(v))
        .collect();
    assert_eq!(
        data,
        ["x", "y"],
        "invariant: `{}` takes the data x then y",
        f.name
    );
}

fn output_id(f: &CompiledFunction, name: &str) -> OutputId {
    f.output_id(name)
        .unwrap_or_else(|| panic!("invariant: the program's functions output `{name}`"))
}

pub struct JitExecutor {
    step: CompiledFunction,
    eval: CompiledFunction,
    names: Vec<String>,
    /// Parameters, then optimizer state.
    buffers: Vec<Vec<f32>>,
    /// The latest `snapshot` of `buffers`; empty before the first.
    saved: Vec<Vec<f32>>,
    params: usize,
    /// The learning-rate schedule, when the optimizer has one.
    rate: Option<super::schedule::ScheduledRate>,
    step_loss: OutputId,
    /// `Program::probes`' outputs of the step, in order.
    probes: Vec<OutputId>,
    eval_loss: OutputId,
    eval_output: OutputId,
    eval_logit: Option<OutputId>,
    compile_time: Duration,
}

impl JitExecutor {
    /// Compile the step for the training batch size and the loss for `TrainSpec::eval_batch`,
    /// each run by the threads `opts` names, or else the train block's `threads:`, or else as
    /// many of the cores as the function is large enough to share (`codegen::threads_worth`).
    pub fn new(program: &Program, seed: u64, opts: &CodegenOptions) -> Result<Self, ExecError> {
        let train = &program.spec.train;
        let compile = |f: &VerifiedFunction, batch: usize| {
            let threads = match (opts.threads, train.threads) {
                (0, Some(t)) => t,
                (0, None) => codegen::threads_worth(f, batch, available_cores()),
                (t, _) => t,
            };
            let opts = CodegenOptions {
                threads,
                ..opts.clone()
            };
            codegen::compile(f, batch, &opts)
        };
        let step = compile(&program.step, train.batch_size)?;
        let eval = compile(&program.loss, train.eval_batch())?;
        let names = buffer_names(program);
        // Evaluation takes the parameters and the model's statistics, the first buffers.
        let params = program.params.len() + program.stats.len();
        check_layout(&program.step, &names);
        check_layout(&program.loss, &names[..params]);
        let buffers = initial_buffers(program, seed)?;
        Ok(JitExecutor {
            step_loss: output_id(&step, "loss"),
            probes: (program.probes.iter())
                .map(|p| output_id(&step, &p.output))
                .collect(),
            eval_loss: output_id(&eval, "loss"),
            eval_output: output_id(&eval, "output"),
            eval_logit: eval.output_id(LOGIT_OUTPUT),
            compile_time: step.compile_time() + eval.compile_time(),
            step,
            eval,
            names,
            buffers,
            saved: Vec::new(),
            params,
            rate: super::schedule::ScheduledRate::of(program),
        })
    }

    pub fn step_function(&self) -> &CompiledFunction {
        &self.step
    }

    pub fn eval_function(&self) -> &CompiledFunction {
        &self.eval
    }
}

impl Executor for JitExecutor {
    fn step(&mut self, x: &[f32], y: &[f32], batch: usize) -> Result<f32, ExecError> {
        if let Some(rate) = &mut self.rate {
            self.buffers[rate.index][0] = rate.next() as f32;
        }
        self.step.call(&mut self.buffers, &[x, y], batch)?;
        Ok(self.step.output_at(self.step_loss)[0])
    }

    fn evaluate(
        &mut self,
        x: &[f32],
        y: &[f32],
        batch: usize,
        predictions: &mut Predictions,
    ) -> Result<f32, ExecError> {
        self.eval
            .call(&mut self.buffers[..self.params], &[x, y], batch)?;
        let outputs = self.eval.output_at(self.eval_output);
        predictions.outputs.extend_from_slice(outputs);
        if let Some(logit) = self.eval_logit {
            predictions
                .logits
                .extend_from_slice(self.eval.output_at(logit));
        }
        Ok(self.eval.output_at(self.eval_loss)[0])
    }

    fn max_eval_batch(&self) -> usize {
        self.eval.max_batch()
    }

    fn add_probes(&self, sums: &mut monitor::epoch::Sums) {
        for (i, &id) in self.probes.iter().enumerate() {
            sums.add(i, self.step.output_at(id).iter().map(|&v| f64::from(v)));
        }
    }

    fn persistent(&self) -> Vec<(String, Vec<f32>)> {
        self.names
            .iter()
            .cloned()
            .zip(self.buffers.clone())
            .collect()
    }

    fn set_persistent(&mut self, name: &str, values: &[f32]) -> bool {
        let Some(i) = self.names.iter().position(|n| n == name) else {
            return false;
        };
        if self.buffers[i].len() != values.len() {
            return false;
        }
        self.buffers[i].copy_from_slice(values);
        true
    }

    fn snapshot(&mut self) -> Result<(), ExecError> {
        if self.saved.is_empty() {
            self.saved = self
                .buffers
                .iter()
                .zip(&self.names)
                .map(|(b, name)| {
                    super::init::filled(b.len(), 0.0).ok_or_else(|| ExecError::OutOfMemory {
                        what: format!("the snapshot of `{name}`"),
                        bytes: b.len().saturating_mul(4),
                        origin: None,
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        for (saved, b) in self.saved.iter_mut().zip(&self.buffers) {
            saved.copy_from_slice(b);
        }
        Ok(())
    }

    fn restore_snapshot(&mut self) -> bool {
        if self.saved.is_empty() {
            return false;
        }
        for (b, saved) in self.buffers.iter_mut().zip(&self.saved) {
            b.copy_from_slice(saved);
        }
        true
    }

    fn snapshot_values(&self) -> Vec<Vec<f32>> {
        self.saved.clone()
    }

    fn set_snapshot_values(&mut self, values: Vec<Vec<f32>>) -> bool {
        let fits = same_lengths(&values, self.buffers.iter().map(|b| b.len()));
        if fits {
            self.saved = values;
        }
        fits
    }

    fn set_steps_taken(&mut self, steps: u64) {
        if let Some(rate) = &mut self.rate {
            rate.set_steps(steps);
        }
    }

    fn compile_time(&self) -> Duration {
        self.compile_time
    }
}

/// The most f64 values one interpreted call may hold at once (8 GiB): the interpreter keeps every
/// value of a call alive, so a model that the compiled code runs comfortably can exceed memory.
pub const INTERP_MAX_ELEMENTS: usize = 1 << 30;

/// Where an interpreted function's argument comes from.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Persistent(usize),
    X,
    Y,
}

fn slots(f: &Function) -> Vec<Slot> {
    let mut persistent = 0..;
    let mut data = [Slot::X, Slot::Y].into_iter();
    f.args
        .iter()
        .map(|a| match a.role {
            ArgRole::Param | ArgRole::State => Slot::Persistent(
                persistent
                    .next()
                    .expect("invariant: an unbounded range never ends"),
            ),
            ArgRole::Data => data
                .next()
                .expect("invariant: check_layout allows two data arguments"),
        })
        .collect()
}

/// Refuse a function whose values at `batch` would hold more than `INTERP_MAX_ELEMENTS`.
fn check_interp_size(f: &VerifiedFunction, batch: usize) -> Result<(), ExecError> {
    let total = f
        .values
        .iter()
        .map(|v| v.shape.numel(batch).unwrap_or(usize::MAX))
        .fold(0usize, usize::saturating_add);
    if total <= INTERP_MAX_ELEMENTS {
        return Ok(());
    }
    let largest = f
        .values
        .iter()
        .enumerate()
        .max_by_key(|(_, v)| v.shape.numel(batch))
        .and_then(|(i, _)| f.origin(ValueId(i as u32)).cloned());
    Err(ExecError::OutOfMemory {
        what: format!("the interpreter's values of `{}` at batch {batch}", f.name),
        bytes: total.saturating_mul(8),
        origin: largest,
    })
}

fn output_value(f: &Function, name: &str) -> ValueId {
    f.output_named(name)
        .unwrap_or_else(|| panic!("invariant: the program's functions output `{name}`"))
}

/// Runs the same IR on the f64 interpreter; parameters are kept in f64 between steps.
pub struct InterpExecutor {
    step: VerifiedFunction,
    eval: VerifiedFunction,
    names: Vec<String>,
    /// Parameters, then optimizer state.
    buffers: Vec<Tensor>,
    /// The latest `snapshot` of `buffers`; empty before the first.
    saved: Vec<Tensor>,
    step_slots: Vec<Slot>,
    eval_slots: Vec<Slot>,
    step_loss: ValueId,
    probes: Vec<ValueId>,
    /// The probes' values of the latest step.
    probe_values: Vec<Vec<f64>>,
    eval_loss: ValueId,
    eval_output: ValueId,
    eval_logit: Option<ValueId>,
    max_eval_batch: usize,
    /// The learning-rate schedule, when the optimizer has one.
    rate: Option<super::schedule::ScheduledRate>,
}

impl InterpExecutor {
    pub fn new(program: &Program, seed: u64) -> Result<Self, ExecError> {
        let train = &program.spec.train;
        check_interp_size(&program.step, train.batch_size)?;
        check_interp_size(&program.loss, train.eval_batch())?;
        let names = buffer_names(program);
        check_layout(&program.step, &names);
        check_layout(
            &program.loss,
            &names[..program.params.len() + program.stats.len()],
        );
        let shapes = program
            .params
            .iter()
            .map(|p| &p.shape)
            .chain(program.state.iter().map(|s| &s.shape));
        let buffers = initial_buffers(program, seed)?
            .into_iter()
            .zip(shapes)
            .map(|(data, shape)| {
                ArrayD::from_shape_vec(IxDyn(shape), data.iter().map(|&v| f64::from(v)).collect())
                    .expect("invariant: initial buffers have their declared size")
            })
            .collect();
        Ok(InterpExecutor {
            step_slots: slots(&program.step),
            eval_slots: slots(&program.loss),
            step_loss: output_value(&program.step, "loss"),
            probes: (program.probes.iter())
                .map(|p| output_value(&program.step, &p.output))
                .collect(),
            probe_values: Vec::new(),
            eval_loss: output_value(&program.loss, "loss"),
            eval_output: output_value(&program.loss, "output"),
            eval_logit: program.loss.output_named(LOGIT_OUTPUT),
            step: program.step.clone(),
            eval: program.loss.clone(),
            names,
            buffers,
            saved: Vec::new(),
            max_eval_batch: train.eval_batch(),
            rate: super::schedule::ScheduledRate::of(program),
        })
    }

    fn args(
        &self,
        f: &Function,
        slots: &[Slot],
        x: &[f32],
        y: &[f32],
        batch: usize,
    ) -> Vec<Tensor> {
        f.args
            .iter()
            .zip(slots)
            .map(|(a, slot)| {
                let data = match slot {
                    Slot::Persistent(i) => return self.buffers[*i].clone(),
                    Slot::X => x,
                    Slot::Y => y,
                };
                let shape = f.shape(a.value).extents(batch);
                ArrayD::from_shape_vec(IxDyn(&shape), data.iter().map(|&v| f64::from(v)).collect())
                    .expect("invariant: batches have batch × width values")
            })
            .collect()
    }
}

impl Executor for InterpExecutor {
    fn step(&mut self, x: &[f32], y: &[f32], batch: usize) -> Result<f32, ExecError> {
        if let Some(rate) = &mut self.rate {
            // The interpreter gets the rate in f64, as it keeps every buffer.
            self.buffers[rate.index].fill(rate.next());
        }
        let mut args = self.args(&self.step, &self.step_slots, x, y, batch);
        let ev = interp::step_in_place(&self.step, &mut args, batch)?;
        for (slot, t) in self.step_slots.iter().zip(args) {
            if let Slot::Persistent(i) = slot {
                self.buffers[*i] = t;
            }
        }
        self.probe_values = (self.probes.iter())
            .map(|v| ev.values[v.index()].iter().copied().collect())
            .collect();
        Ok(ev.values[self.step_loss.index()].sum() as f32)
    }

    fn evaluate(
        &mut self,
        x: &[f32],
        y: &[f32],
        batch: usize,
        predictions: &mut Predictions,
    ) -> Result<f32, ExecError> {
        let args = self.args(&self.eval, &self.eval_slots, x, y, batch);
        let ev = interp::evaluate(&self.eval, &args, batch)?;
        let output = &ev.values[self.eval_output.index()];
        predictions.outputs.extend(output.iter().map(|&v| v as f32));
        if let Some(logit) = self.eval_logit {
            let logits = &ev.values[logit.index()];
            predictions.logits.extend(logits.iter().map(|&v| v as f32));
        }
        Ok(ev.values[self.eval_loss.index()].sum() as f32)
    }

    fn max_eval_batch(&self) -> usize {
        self.max_eval_batch
    }

    fn add_probes(&self, sums: &mut monitor::epoch::Sums) {
        for (i, values) in self.probe_values.iter().enumerate() {
            sums.add(i, values.iter().copied());
        }
    }

    fn persistent(&self) -> Vec<(String, Vec<f32>)> {
        self.names
            .iter()
            .cloned()
            .zip(
                self.buffers
                    .iter()
                    .map(|t| t.iter().map(|&v| v as f32).collect()),
            )
            .collect()
    }

    fn set_persistent(&mut self, name: &str, values: &[f32]) -> bool {
        let Some(i) = self.names.iter().position(|n| n == name) else {
            return false;
        };
        let buffer = &mut self.buffers[i];
        if buffer.len() != values.len() {
            return false;
        }
        for (b, &v) in buffer.iter_mut().zip(values) {
            *b = f64::from(v);
        }
        true
    }

    fn snapshot(&mut self) -> Result<(), ExecError> {
        // The interpreter clones every buffer for each call anyway; its snapshot is plain f64.
        if self.saved.is_empty() {
            self.saved = self.buffers.clone();
        } else {
            for (saved, b) in self.saved.iter_mut().zip(&self.buffers) {
                saved.assign(b);
            }
        }
        Ok(())
    }

    fn restore_snapshot(&mut self) -> bool {
        if self.saved.is_empty() {
            return false;
        }
        for (b, saved) in self.buffers.iter_mut().zip(&self.saved) {
            b.assign(saved);
        }
        true
    }

    fn snapshot_values(&self) -> Vec<Vec<f32>> {
        self.saved
            .iter()
            .map(|b| b.iter().map(|&v| v as f32).collect())
            .collect()
    }

    fn set_snapshot_values(&mut self, values: Vec<Vec<f32>>) -> bool {
        let fits = same_lengths(&values, self.buffers.iter().map(|b| b.len()));
        if fits {
            let mut saved = self.buffers.clone();
            for (s, v) in saved.iter_mut().zip(&values) {
                s.iter_mut().zip(v).for_each(|(s, &x)| *s = f64::from(x));
            }
            self.saved = saved;
        }
        fits
    }

    fn set_steps_taken(&mut self, steps: u64) {
        if let Some(rate) = &mut self.rate {
            rate.set_steps(steps);
        }
    }

    fn compile_time(&self) -> Duration {
        Duration::ZERO
    }
}

/// Whether `values` (a checkpoint's snapshot) has one buffer per length of `lengths` (the
/// executor's buffers'), each of that length.
fn same_lengths<A>(values: &[Vec<A>], lengths: impl ExactSizeIterator<Item = usize>) -> bool {
    values.len() == lengths.len() && values.iter().zip(lengths).all(|(v, n)| v.len() == n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step is shared from 2^20 multiply-adds, with the training statistics or without: the
    /// regression benchmark's (440 thousand) runs on one thread either way, the small and medium
    /// ones' (13 million and more) on both cores.
    #[test]
    fn a_step_is_shared_from_a_million_multiply_adds() {
        let threads = |model: &str, monitor: bool| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("benches/models")
                .join(model);
            let overrides = super::super::overrides::Overrides {
                monitor: Some(monitor),
                ..Default::default()
            };
            let spec = super::super::session::load_model(&path, &overrides).unwrap();
            let program = crate::program::build(&spec, None).unwrap();
            assert_eq!(program.probes.is_empty(), !monitor);
            let batch = spec.train.batch_size;
            codegen::threads_worth(&program.step, batch, 2)
        };
        assert_eq!(threads("regression.nn", false), 1);
        assert_eq!(threads("regression.nn", true), 1);
        assert_eq!(threads("small.nn", false), 2);
        assert_eq!(threads("medium.nn", true), 2);
        assert_eq!(threads("tiny.nn", false), 1);
    }
}
