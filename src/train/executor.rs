//! The two ways to run a compiled program: natively (`JitExecutor`, Cranelift code) or on the
//! reference interpreter (`InterpExecutor`). Both keep the parameters and optimizer state between
//! calls and expose the same `Executor` interface, so the training loop does not know which runs.

use std::time::Duration;

use ndarray::{ArrayD, IxDyn};

use crate::codegen::{self, CodegenOptions, CompiledFunction};
use crate::interp;
use crate::ir::{ArgRole, Function};
use crate::program::Program;

/// A failure while running compiled code: an internal error, not the user's.
#[derive(Debug)]
pub struct ExecError(pub String);

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExecError {}

pub trait Executor {
    /// One training step on a batch of `batch` rows; returns the batch's mean loss.
    fn step(&mut self, x: &[f32], y: &[f32], batch: usize) -> Result<f32, ExecError>;
    /// The mean loss and the predictions (`batch × outputs`, appended to `predictions`) of a
    /// batch of at most `max_eval_batch()` rows, without changing anything.
    fn evaluate(
        &mut self,
        x: &[f32],
        y: &[f32],
        batch: usize,
        predictions: &mut Vec<f32>,
    ) -> Result<f32, ExecError>;
    fn max_eval_batch(&self) -> usize;
    /// Current parameter values, by name.
    fn parameters(&self) -> Vec<(String, Vec<f32>)>;
    /// Time spent compiling, zero for the interpreter.
    fn compile_time(&self) -> Duration;
}

/// The persistent buffers (parameters, then optimizer state), named.
fn initial_buffers(program: &Program, seed: u64) -> Vec<(String, Vec<f32>)> {
    let values = super::init::initialize(&program.params, seed);
    let mut bufs: Vec<(String, Vec<f32>)> = program
        .params
        .iter()
        .map(|p| p.name.clone())
        .zip(values)
        .collect();
    for s in &program.state {
        bufs.push((s.name.clone(), vec![s.init; s.shape.iter().product()]));
    }
    bufs
}

/// Where each argument of `f` comes from: a persistent buffer index, or x / y.
#[derive(Clone, Copy, Debug)]
enum Source {
    Persistent(usize),
    X,
    Y,
}

fn arg_sources(f: &Function, names: &[(String, Vec<f32>)]) -> Vec<Source> {
    f.args
        .iter()
        .map(|a| {
            let name = f.name_of(a.value);
            match a.role {
                ArgRole::Data if name == "x" => Source::X,
                ArgRole::Data => Source::Y,
                ArgRole::Param | ArgRole::State => {
                    Source::Persistent(names.iter().position(|(n, _)| n == name).unwrap_or_else(
                        || panic!("invariant: every persistent argument `{name}` has a buffer"),
                    ))
                }
            }
        })
        .collect()
}

pub struct JitExecutor {
    step: CompiledFunction,
    eval: CompiledFunction,
    buffers: Vec<(String, Vec<f32>)>,
    step_sources: Vec<Source>,
    eval_sources: Vec<Source>,
    x: Vec<f32>,
    y: Vec<f32>,
    max_eval_batch: usize,
    compile_time: Duration,
}

fn call(
    f: &mut CompiledFunction,
    sources: &[Source],
    buffers: &mut [(String, Vec<f32>)],
    x: &mut [f32],
    y: &mut [f32],
    batch: usize,
) -> Result<(), ExecError> {
    // Hand out each buffer once, in argument order, without copying the persistent ones.
    let mut slots: Vec<Option<&mut [f32]>> = buffers
        .iter_mut()
        .map(|(_, b)| Some(b.as_mut_slice()))
        .collect();
    let (mut x, mut y) = (Some(x), Some(y));
    let mut args: Vec<&mut [f32]> = Vec::with_capacity(sources.len());
    for s in sources {
        let taken = match s {
            Source::Persistent(i) => slots[*i].take(),
            Source::X => x.take(),
            Source::Y => y.take(),
        };
        args.push(taken.expect("invariant: each buffer is an argument at most once"));
    }
    f.call(&mut args, batch)
        .map_err(|e| ExecError(e.to_string()))
}

impl JitExecutor {
    pub fn new(
        program: &Program,
        batch_size: usize,
        seed: u64,
        opts: &CodegenOptions,
    ) -> Result<Self, ExecError> {
        let max_eval_batch = batch_size.max(256);
        let step = codegen::compile(&program.step, batch_size, opts)
            .map_err(|e| ExecError(e.to_string()))?;
        let eval = codegen::compile(&program.loss, max_eval_batch, opts)
            .map_err(|e| ExecError(e.to_string()))?;
        let buffers = initial_buffers(program, seed);
        let compile_time = step.compile_time() + eval.compile_time();
        Ok(JitExecutor {
            step_sources: arg_sources(&program.step, &buffers),
            eval_sources: arg_sources(&program.loss, &buffers),
            step,
            eval,
            buffers,
            x: Vec::new(),
            y: Vec::new(),
            max_eval_batch,
            compile_time,
        })
    }

    pub fn step_function(&self) -> &CompiledFunction {
        &self.step
    }

    pub fn eval_function(&self) -> &CompiledFunction {
        &self.eval
    }

    fn stage(&mut self, x: &[f32], y: &[f32]) {
        self.x.clear();
        self.x.extend_from_slice(x);
        self.y.clear();
        self.y.extend_from_slice(y);
    }
}

impl Executor for JitExecutor {
    fn step(&mut self, x: &[f32], y: &[f32], batch: usize) -> Result<f32, ExecError> {
        self.stage(x, y);
        call(
            &mut self.step,
            &self.step_sources,
            &mut self.buffers,
            &mut self.x,
            &mut self.y,
            batch,
        )?;
        Ok(self.step.output("loss")[0])
    }

    fn evaluate(
        &mut self,
        x: &[f32],
        y: &[f32],
        batch: usize,
        predictions: &mut Vec<f32>,
    ) -> Result<f32, ExecError> {
        self.stage(x, y);
        call(
            &mut self.eval,
            &self.eval_sources,
            &mut self.buffers,
            &mut self.x,
            &mut self.y,
            batch,
        )?;
        predictions.extend_from_slice(self.eval.output("output"));
        Ok(self.eval.output("loss")[0])
    }

    fn max_eval_batch(&self) -> usize {
        self.max_eval_batch
    }

    fn parameters(&self) -> Vec<(String, Vec<f32>)> {
        self.buffers.clone()
    }

    fn compile_time(&self) -> Duration {
        self.compile_time
    }
}

/// Runs the same IR on the f64 interpreter; parameters are kept in f64 between steps.
pub struct InterpExecutor {
    step: Function,
    eval: Function,
    /// Persistent tensors by name.
    buffers: Vec<(String, ArrayD<f64>)>,
}

impl InterpExecutor {
    pub fn new(program: &Program, seed: u64) -> Self {
        let buffers = initial_buffers(program, seed)
            .into_iter()
            .map(|(name, data)| {
                let shape = program
                    .params
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.shape.clone())
                    .or_else(|| {
                        program
                            .state
                            .iter()
                            .find(|s| s.name == name)
                            .map(|s| s.shape.clone())
                    })
                    .expect("invariant: every buffer is a parameter or a state");
                let t =
                    ArrayD::from_shape_vec(IxDyn(&shape), data.iter().map(|&v| v as f64).collect())
                        .expect("invariant: initial buffers have their declared size");
                (name, t)
            })
            .collect();
        InterpExecutor {
            step: program.step.clone(),
            eval: program.loss.clone(),
            buffers,
        }
    }

    fn args(&self, f: &Function, x: &[f32], y: &[f32], batch: usize) -> Vec<ArrayD<f64>> {
        f.args
            .iter()
            .map(|a| {
                let name = f.name_of(a.value);
                match a.role {
                    ArgRole::Data => {
                        let data = if name == "x" { x } else { y };
                        let shape = f.shape(a.value).extents(batch);
                        ArrayD::from_shape_vec(
                            IxDyn(&shape),
                            data.iter().map(|&v| v as f64).collect(),
                        )
                        .expect("invariant: batches have batch × width values")
                    }
                    ArgRole::Param | ArgRole::State => self
                        .buffers
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, t)| t.clone())
                        .expect("invariant: every persistent argument has a buffer"),
                }
            })
            .collect()
    }
}

impl Executor for InterpExecutor {
    fn step(&mut self, x: &[f32], y: &[f32], batch: usize) -> Result<f32, ExecError> {
        let mut args = self.args(&self.step, x, y, batch);
        let ev = interp::step_in_place(&self.step, &mut args).map_err(ExecError)?;
        for (a, t) in self.step.args.iter().zip(args) {
            if a.role != ArgRole::Data {
                let name = self.step.name_of(a.value);
                if let Some(slot) = self.buffers.iter_mut().find(|(n, _)| n == name) {
                    slot.1 = t;
                }
            }
        }
        Ok(ev.get(&self.step, "loss").sum() as f32)
    }

    fn evaluate(
        &mut self,
        x: &[f32],
        y: &[f32],
        batch: usize,
        predictions: &mut Vec<f32>,
    ) -> Result<f32, ExecError> {
        let args = self.args(&self.eval, x, y, batch);
        let ev = interp::evaluate(&self.eval, &args).map_err(ExecError)?;
        predictions.extend(ev.get(&self.eval, "output").iter().map(|&v| v as f32));
        Ok(ev.get(&self.eval, "loss").sum() as f32)
    }

    fn max_eval_batch(&self) -> usize {
        256
    }

    fn parameters(&self) -> Vec<(String, Vec<f32>)> {
        self.buffers
            .iter()
            .map(|(n, t)| (n.clone(), t.iter().map(|&v| v as f32).collect()))
            .collect()
    }

    fn compile_time(&self) -> Duration {
        Duration::ZERO
    }
}
