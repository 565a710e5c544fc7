//! The tensor IR: a first-order, SSA function over `f32` tensors whose leading dimension may be the
//! symbolic batch size `B`. Every stage after lowering speaks it: shape checking, autodiff, the
//! optimizer, the interpreter and code generation. This module owns the data types and the builder;
//! `printer` writes the readable (jaxpr-like) form and `verify` checks the invariants. It does no
//! numerics and no I/O. `parser` reads the printed form back, so tests can state IR as text.
//!
//! A `Function` has arguments (parameters, optimizer state, data, scalars), a body of equations in
//! definition order, named outputs, and *updates*: values written back into argument buffers when
//! the function returns. Updates are how a training step stays one SSA function while the driver
//! keeps weights in place between calls.

mod ops;
mod parser;
mod printer;
mod verify;

pub use ops::{BinaryOp, Op, OpKind, RandomSite, UnaryKind, UnaryOp};
pub use parser::{parse_function, ParseError};
pub use printer::{op_text, print_function};
pub use verify::{verify, VerifiedFunction, VerifyError};

use crate::diag::Span;
use crate::shape;

/// A value of a function: an argument or the result of one equation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The most elements one value may have at any batch size: the largest count whose size in bytes
/// still fits in an `isize`, which every allocation and every pointer offset must. The verifier
/// rejects a function with a value larger than this at batch size 1, and `codegen::compile`
/// rejects a `max_batch` that makes one larger.
pub const MAX_ELEMENTS: usize = isize::MAX as usize / std::mem::size_of::<f32>();

/// One dimension: the batch size, known only when the compiled code runs, or a fixed extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Batch,
    Fixed(usize),
}

/// The shape of an `f32` tensor; the empty shape is a scalar. Only the leading dimension may be
/// `Batch` (checked by `verify`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }

    pub fn fixed(dims: &[usize]) -> Self {
        Shape(dims.iter().map(|&d| Dim::Fixed(d)).collect())
    }

    /// `[B, d1, d2, ...]`.
    pub fn batched(dims: &[usize]) -> Self {
        let mut v = vec![Dim::Batch];
        v.extend(dims.iter().map(|&d| Dim::Fixed(d)));
        Shape(v)
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    pub fn has_batch(&self) -> bool {
        self.0.contains(&Dim::Batch)
    }

    /// Concrete extents for a given batch size.
    pub fn extents(&self, batch: usize) -> Vec<usize> {
        self.0
            .iter()
            .map(|d| match d {
                Dim::Batch => batch,
                Dim::Fixed(n) => *n,
            })
            .collect()
    }

    /// Number of elements for a given batch size; `None` when the product overflows `usize`.
    pub fn numel(&self, batch: usize) -> Option<usize> {
        // Without collecting the extents: reading an output after every step must not allocate.
        self.0.iter().try_fold(1usize, |acc, d| match d {
            Dim::Batch => acc.checked_mul(batch),
            Dim::Fixed(n) => acc.checked_mul(*n),
        })
    }

    /// Number of elements per batch row: the product of the fixed dimensions; `None` when it
    /// overflows `usize`. A verified function's values all have one of at most `MAX_ELEMENTS`.
    pub fn fixed_numel(&self) -> Option<usize> {
        self.numel(1)
    }

    /// The last dimension's fixed extent (1 for scalars); the width of a row.
    pub fn last_fixed(&self) -> Option<usize> {
        match self.0.last() {
            Some(Dim::Fixed(n)) => Some(*n),
            Some(Dim::Batch) => None,
            None => Some(1),
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("f32[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match d {
                Dim::Batch => f.write_str("B")?,
                Dim::Fixed(n) => write!(f, "{n}")?,
            }
        }
        f.write_str("]")
    }
}

/// What an argument is, which decides who owns its buffer between calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgRole {
    /// A trainable parameter (weights, biases); persistent.
    Param,
    /// Optimizer state (momentum, Adam moments, step counter); persistent.
    State,
    /// A batch of inputs or targets supplied per call.
    Data,
}

/// Where a value came from in the user's file, for diagnostics that name layers.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    pub span: Span,
    /// A short description such as "layer 2 `dense(16)`".
    pub what: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub value: ValueId,
    pub role: ArgRole,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Equation {
    pub out: ValueId,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub shape: Shape,
    pub origin: Option<Origin>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub name: String,
    pub value: ValueId,
}

/// A write-back: after the call, argument `arg` holds `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub arg: ValueId,
    pub value: ValueId,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Function {
    pub name: String,
    pub values: Vec<ValueInfo>,
    pub args: Vec<Arg>,
    pub body: Vec<Equation>,
    pub outputs: Vec<Output>,
    pub updates: Vec<Update>,
}

impl Function {
    pub fn new(name: impl Into<String>) -> Self {
        Function {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn shape(&self, v: ValueId) -> &Shape {
        &self.values[v.index()].shape
    }

    pub fn name_of(&self, v: ValueId) -> &str {
        &self.values[v.index()].name
    }

    pub fn origin(&self, v: ValueId) -> Option<&Origin> {
        self.values[v.index()].origin.as_ref()
    }

    pub fn arg_named(&self, name: &str) -> Option<ValueId> {
        self.args
            .iter()
            .map(|a| a.value)
            .find(|v| self.name_of(*v) == name)
    }

    pub fn output_named(&self, name: &str) -> Option<ValueId> {
        self.outputs
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.value)
    }

    pub fn args_with_role(&self, role: ArgRole) -> impl Iterator<Item = ValueId> + '_ {
        self.args
            .iter()
            .filter(move |a| a.role == role)
            .map(|a| a.value)
    }

    /// The parameter and state arguments, in argument order: the buffers a caller keeps between
    /// calls (see `codegen::CompiledFunction::call`).
    pub fn persistent_args(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.args
            .iter()
            .filter(|a| a.role != ArgRole::Data)
            .map(|a| a.value)
    }

    fn fresh_name(&self, wanted: &str) -> String {
        if !self.values.iter().any(|v| v.name == wanted) {
            return wanted.to_string();
        }
        (1..)
            .map(|i| format!("{wanted}_{i}"))
            .find(|n| !self.values.iter().any(|v| v.name == *n))
            .expect("invariant: an unbounded counter always finds a fresh name")
    }

    fn new_value(&mut self, name: Option<&str>, shape: Shape, origin: Option<Origin>) -> ValueId {
        let id = ValueId(self.values.len() as u32);
        let name = match name {
            Some(n) => self.fresh_name(n),
            None => self.fresh_name(&format!("t{}", self.body.len())),
        };
        self.values.push(ValueInfo {
            name,
            shape,
            origin,
        });
        id
    }

    pub fn add_arg(
        &mut self,
        name: &str,
        shape: Shape,
        role: ArgRole,
        origin: Option<Origin>,
    ) -> ValueId {
        let v = self.new_value(Some(name), shape, origin);
        self.args.push(Arg { value: v, role });
        v
    }

    /// Append an equation, inferring its shape with the rules in `shape`. A mismatch is returned,
    /// not panicked on: lowering turns it into a diagnostic that names both layers.
    pub fn try_push(
        &mut self,
        op: Op,
        target: Option<Shape>,
        name: Option<&str>,
        origin: Option<Origin>,
    ) -> Result<ValueId, shape::ShapeError> {
        let shape = shape::infer(self, &op, target)?;
        let out = self.new_value(name, shape, origin);
        self.body.push(Equation { out, op });
        Ok(out)
    }

    /// Append an equation whose shapes are correct by construction (autodiff, optimizer); a
    /// mismatch here is a compiler bug.
    pub fn push(
        &mut self,
        op: Op,
        target: Option<Shape>,
        name: Option<&str>,
        origin: Option<Origin>,
    ) -> ValueId {
        match self.try_push(op, target, name, origin) {
            Ok(v) => v,
            Err(e) => panic!("invariant: IR built by the compiler is well-shaped, but {e}"),
        }
    }

    pub fn add_output(&mut self, name: &str, value: ValueId) {
        self.outputs.push(Output {
            name: name.to_string(),
            value,
        });
    }

    /// Which equation defines each value (None for arguments).
    pub fn definitions(&self) -> Vec<Option<usize>> {
        let mut def = vec![None; self.values.len()];
        for (i, eq) in self.body.iter().enumerate() {
            def[eq.out.index()] = Some(i);
        }
        def
    }

    /// Rename a value; names must stay unique, so a taken name gets a suffix.
    pub fn rename(&mut self, v: ValueId, name: &str) {
        let fresh = self.fresh_name(name);
        self.values[v.index()].name = fresh;
    }
}

/// Drop equations whose values reach no output and no update. Autodiff copies the whole primal
/// function; the training step needs only what the loss and the gradients use.
pub fn eliminate_dead_code(f: &mut Function) {
    let mut live = vec![false; f.values.len()];
    for o in &f.outputs {
        live[o.value.index()] = true;
    }
    for u in &f.updates {
        live[u.value.index()] = true;
    }
    for eq in f.body.iter().rev() {
        if live[eq.out.index()] {
            for x in eq.op.operands() {
                live[x.index()] = true;
            }
        }
    }
    f.body.retain(|eq| live[eq.out.index()]);
}
