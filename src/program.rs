//! The compiler's front half as one call: from a resolved model to the four IR functions every
//! later stage uses — `forward` (inputs to predictions), `loss` (adds the targets and the mean
//! loss), `grad` (adds the backward pass) and `step` (adds the optimizer update) — each verified.

use crate::diag::{Diagnostic, Source};
use crate::ir::{self, ArgRole, Function};
use crate::lower::{self, DataShape, ModelSpec, ParamSpec};
use crate::optim::{self, StateSpec};
use crate::{autodiff, syntax};

#[derive(Clone, Debug)]
pub struct Program {
    /// The model as compiled (an `output` layer's width filled in from the data).
    pub spec: ModelSpec,
    pub forward: Function,
    pub loss: Function,
    pub grad: Function,
    pub step: Function,
    pub params: Vec<ParamSpec>,
    pub state: Vec<StateSpec>,
    pub input_width: usize,
}

/// Parse and resolve a `.nn` source.
pub fn parse_model(source: &Source) -> Result<ModelSpec, Diagnostic> {
    let file = syntax::parse(source)?;
    lower::resolve(source, &file)
}

fn verified(f: Function) -> Function {
    if let Err(e) = ir::verify(&f) {
        panic!(
            "invariant: the compiler builds valid IR, but `{}` fails verification: {e}",
            f.name
        );
    }
    f
}

/// Build and verify every function of the model.
pub fn build(spec: &ModelSpec, data: Option<&DataShape>) -> Result<Program, Diagnostic> {
    let lowered = lower::lower(spec, data)?;
    let grad = autodiff::gradient(&lowered.loss, "loss", ArgRole::Param);
    let (step, state) = optim::training_step(&grad, &spec.optimizer);
    Ok(Program {
        spec: lowered.spec,
        forward: verified(lowered.forward),
        loss: verified(lowered.loss),
        grad: verified(grad),
        step: verified(step),
        params: lowered.params,
        state,
        input_width: lowered.input_width,
    })
}
