//! The compiler's front half as one call: from a resolved model to the four IR functions every
//! later stage uses — `forward` (inputs to predictions), `loss` (adds the targets and the mean
//! loss), `grad` (adds the backward pass) and `step` (adds the optimizer update) — each verified.

use crate::diag::{Diagnostic, Source};
use crate::ir::{ArgRole, Function, VerifiedFunction};
use crate::lower::{self, DataShape, ModelSpec, ParamSpec};
use crate::optim::{self, StateSpec};
use crate::{autodiff, syntax};

#[derive(Clone, Debug)]
pub struct Program {
    /// The model as compiled (an `output` layer's width filled in from the data).
    pub spec: ModelSpec,
    pub forward: VerifiedFunction,
    /// Arguments: the parameters in `params` order, then the data `x` and `y`. Outputs: `loss`
    /// and `output` (the predictions).
    pub loss: VerifiedFunction,
    pub grad: VerifiedFunction,
    /// Arguments: the parameters in `params` order, `x` and `y`, then the optimizer state in
    /// `state` order. Output: `loss`.
    pub step: VerifiedFunction,
    pub params: Vec<ParamSpec>,
    pub state: Vec<StateSpec>,
    pub input_width: usize,
}

impl Program {
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

fn verified(f: Function) -> VerifiedFunction {
    let name = f.name.clone();
    VerifiedFunction::new(f).unwrap_or_else(|e| {
        panic!("invariant: the compiler builds valid IR, but `{name}` fails verification: {e}")
    })
}

/// Build and verify every function of the model.
pub fn build(spec: &ModelSpec, data: Option<&DataShape>) -> Result<Program, Diagnostic> {
    let lowered = lower::lower(spec, data)?;
    let grad = autodiff::gradient(&lowered.loss, "loss", ArgRole::Param);
    let options = optim::StepOptions {
        clipping: spec.clipping,
        scheduled: spec.schedule != lower::Schedule::Constant,
    };
    let (step, state) = optim::training_step(&grad, &spec.optimizer, &options);
    Ok(Program {
        spec: lowered.spec,
        forward: verified(lowered.forward),
        loss: verified(lowered.loss),
        grad: verified(grad.function),
        step: verified(step),
        params: lowered.params,
        state,
        input_width: lowered.input_width,
    })
}
