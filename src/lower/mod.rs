//! Lowering: `spec` (with its helper `spec::options`) is the only reader of the AST; it resolves
//! names, options and defaults into a `ModelSpec` (with "did you mean" for unknown names). `graph`
//! turns the spec into IR functions whose shapes are checked as they are built. Lowering never
//! calls code generation.

mod activation;
pub mod graph;
pub mod loss;
pub mod math;
mod normalize;
mod params;
mod regularize;
pub mod spec;

pub use graph::{entry_errors, lower, DataShape, DenseValues, Lowered, LOGIT_OUTPUT};
pub use params::{Init, Owner, ParamSpec};
pub use regularize::{init_of as regularize_init, COUNTER};
pub use spec::{resolve, resolve_all, Activation, Clipping, Loss, ModelSpec, Optimizer, Schedule};
