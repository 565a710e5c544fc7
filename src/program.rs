//! The compiler's front half as one call: from a resolved model to the four IR functions every
//! later stage uses — `forward` (inputs to predictions), `loss` (adds the targets and the mean
//! loss), `grad` (adds the backward pass) and `step` (adds the optimizer update) — each verified,
//! and all but `forward` optimized first (`optimize`).

use crate::diag::{Diagnostic, Source};
use crate::ir::{ArgRole, Function, Op, UnaryOp, Update, VerifiedFunction};
use crate::lower::{self, DataShape, ModelSpec, ParamSpec};
use crate::optim::{self, StateSpec};
use crate::{autodiff, monitor, optimize, syntax};

#[derive(Clone, Debug)]
pub struct Program {
    /// The model as compiled (an `output` layer's width filled in from the data).
    pub spec: ModelSpec,
    pub forward: VerifiedFunction,
    /// Arguments: the parameters in `params` order, then the data `x` and `y`. Outputs: `loss`
    /// and `output` (the predictions), and for a model ending in one sigmoid unit its logit
    /// (`lower::LOGIT_OUTPUT`).
    pub loss: VerifiedFunction,
    /// The loss the step differentiates: `loss` with dropout and input noise, drawn from the
    /// step counter `lower::COUNTER` (a state argument); the same as `loss` without either.
    pub train_loss: VerifiedFunction,
    pub grad: VerifiedFunction,
    /// Arguments: the parameters in `params` order, `x` and `y`, then the optimizer state in
    /// `state` order. Output: `loss`.
    pub step: VerifiedFunction,
    pub params: Vec<ParamSpec>,
    /// The model's own state (batch normalization's running statistics): the first entries of
    /// `state`, and saved with the parameters.
    pub stats: Vec<StateSpec>,
    pub state: Vec<StateSpec>,
    pub input_width: usize,
    /// The name in `forward` of each model entry's value (`ModelSpec::nodes` order).
    pub node_values: Vec<String>,
    /// The step's extra outputs that the training statistics are made of (none with
    /// `monitor: false`).
    pub probes: Vec<monitor::Probe>,
}

impl Program {
    /// The buffers a saved model holds, by name and shape: the parameters, then the model's
    /// statistics.
    pub fn saved_buffers(&self) -> impl Iterator<Item = (&str, &[usize])> {
        (self.params.iter())
            .map(|p| (p.name.as_str(), p.shape.as_slice()))
            .chain(
                self.stats
                    .iter()
                    .map(|s| (s.name.as_str(), s.shape.as_slice())),
            )
    }

    /// The number of trainable numbers in the model.
    pub fn parameter_count(&self) -> usize {
        self.params.iter().map(ParamSpec::numel).sum()
    }
}

/// Parse and resolve a `.nn` source.
pub fn parse_model(source: &Source) -> Result<ModelSpec, Diagnostic> {
    let file = syntax::parse(source)?;
    lower::resolve(source, &file)
}

/// `parse_model` with every independent error the resolution finds (`lower::resolve_all`); a
/// syntax error stops before resolution, alone.
pub fn parse_model_all(source: &Source) -> Result<ModelSpec, Vec<Diagnostic>> {
    let file = syntax::parse(source).map_err(|d| vec![d])?;
    lower::resolve_all(source, &file)
}

fn verified(f: Function) -> VerifiedFunction {
    let name = f.name.clone();
    VerifiedFunction::new(f).unwrap_or_else(|e| {
        panic!("invariant: the compiler builds valid IR, but `{name}` fails verification: {e}")
    })
}

/// When the training loss draws random tensors, its step counter (`lower::COUNTER`, a state
/// argument declared before the data) starts at 0 and the step adds 1 to it, so every step draws
/// new masks and a run replays them from the seed alone. It comes before the optimizer's state
/// (and after the model's statistics), as its argument does.
fn count_steps(step: &mut Function, state: &mut Vec<StateSpec>) {
    let Some(counter) = step.arg_named(lower::COUNTER) else {
        return;
    };
    state.insert(
        0,
        StateSpec {
            name: lower::COUNTER.into(),
            shape: vec![],
            init: 0.0,
        },
    );
    let next = step.push(
        Op::Unary(UnaryOp::Affine { mul: 1.0, add: 1.0 }, counter),
        None,
        Some("rng_step_next"),
        None,
    );
    step.updates.push(Update {
        arg: counter,
        value: next,
    });
}

/// Build and verify every function of the model.
/// `build`, reporting every independent error of the model's entries when the first error is one
/// of theirs (a shape error in one branch of the model, another in a branch that does not use
/// it); the first is `build`'s.
pub fn build_all(spec: &ModelSpec, data: Option<&DataShape>) -> Result<Program, Vec<Diagnostic>> {
    build(spec, data).map_err(|first| {
        let all = lower::entry_errors(spec, data);
        let same = |d: &Diagnostic| {
            (d.code, &d.message, d.labels.first().map(|l| l.span))
                == (
                    first.code,
                    &first.message,
                    first.labels.first().map(|l| l.span),
                )
        };
        match all.first() {
            Some(d) if same(d) => all,
            _ => vec![first],
        }
    })
}

/// Whether `build_with` runs `optimize` over the functions it builds. `build` always does; tests
/// build both ways and compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Optimization {
    On,
    Off,
}

impl Optimization {
    /// `f`, optimized when asked. `forward` is never passed here: nothing runs it in training or
    /// prediction (`loss` computes the predictions), and it stays the model as written, whose
    /// values `summary` finds by name.
    fn apply(self, mut f: Function) -> Function {
        if self == Optimization::On {
            optimize::optimize(&mut f);
        }
        f
    }
}

pub fn build(spec: &ModelSpec, data: Option<&DataShape>) -> Result<Program, Diagnostic> {
    build_with(spec, data, Optimization::On)
}

/// `build`, with the optimizing pass on or off.
pub fn build_with(
    spec: &ModelSpec,
    data: Option<&DataShape>,
    optimization: Optimization,
) -> Result<Program, Diagnostic> {
    let lowered = lower::lower(spec, data)?;
    // The step differentiates the training loss: the evaluation loss plus dropout and noise.
    let grad = autodiff::gradient(&lowered.train_loss, "loss", ArgRole::Param);
    let options = optim::StepOptions {
        clipping: spec.clipping,
        scheduled: spec.schedule != lower::Schedule::Constant,
    };
    let (mut step, mut state) = optim::training_step(&grad, &spec.optimizer, &options);
    count_steps(&mut step, &mut state);
    let probes = match lowered.spec.train.monitor {
        true => {
            let (spec, dense) = (&lowered.spec, &lowered.dense);
            monitor::instrument(&mut step, spec, dense, &grad.wrt, &lowered.params)
        }
        false => Vec::new(),
    };
    // The model's statistics are the first state arguments of every function (after the
    // parameters), so that each function's persistent buffers are a prefix of the program's.
    let state: Vec<StateSpec> = lowered.stats.iter().cloned().chain(state).collect();
    Ok(Program {
        spec: lowered.spec,
        forward: verified(lowered.forward),
        loss: verified(optimization.apply(lowered.loss)),
        train_loss: verified(optimization.apply(lowered.train_loss)),
        grad: verified(optimization.apply(grad.function)),
        step: verified(optimization.apply(step)),
        params: lowered.params,
        stats: lowered.stats,
        state,
        input_width: lowered.input_width,
        node_values: lowered.node_values,
        probes,
    })
}
