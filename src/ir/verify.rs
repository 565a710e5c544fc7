//! The IR verifier: the invariants every pass must keep, and `VerifiedFunction`, the only form in
//! which the interpreter and code generation accept a function. Building one is the only way to
//! get one, so "this function was verified" is a fact of its type, not a convention. `verify`
//! never panics, whatever the function holds: a failure is a `VerifyError` naming the offending
//! value or equation (for functions the compiler builds, a compiler bug).

use std::collections::HashSet;

use super::{ArgRole, Dim, Function, ValueId, MAX_ELEMENTS};
use crate::shape;

/// Why a function is not valid IR.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("{what} refers to value #{index}, but the function has {count} values")]
    OutOfRange {
        what: String,
        index: usize,
        count: usize,
    },
    #[error("argument `{0}` is declared twice")]
    DuplicateArgument(String),
    #[error("two values are named `{0}`")]
    DuplicateName(String),
    #[error("value `{0}` has the batch dimension B past the leading axis")]
    BatchNotLeading(String),
    #[error("value `{name}` of {shape} has more than {MAX_ELEMENTS} elements per batch row")]
    TooLarge { name: String, shape: String },
    #[error("equation {0} uses a value before it is defined")]
    UseBeforeDefinition(usize),
    #[error("equation {equation} redefines `{name}`")]
    Redefinition { equation: usize, name: String },
    #[error("equation {equation}: {message}")]
    Shape { equation: usize, message: String },
    #[error("output `{0}` is never defined")]
    UndefinedOutput(String),
    #[error("two outputs are named `{0}`")]
    DuplicateOutput(String),
    #[error("an update targets `{0}`, which is not a parameter or state argument")]
    UpdateNotPersistent(String),
    #[error("the update of `{0}` changes its shape")]
    UpdateShape(String),
    #[error("`{0}` is updated twice; which value it holds afterwards would be ambiguous")]
    DuplicateUpdate(String),
    #[error("the update of `{0}` writes a value that is never defined")]
    UndefinedUpdate(String),
}

/// A function that passed `verify`: SSA, shapes consistent with `shape::infer`, sizes that fit in
/// memory, unique names, and updates that write each persistent argument at most once. It derefs
/// to the `Function` for reading; it cannot be changed, so it stays valid.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedFunction(Function);

impl VerifiedFunction {
    pub fn new(f: Function) -> Result<Self, VerifyError> {
        verify(&f)?;
        Ok(VerifiedFunction(f))
    }

    pub fn into_inner(self) -> Function {
        self.0
    }
}

impl std::ops::Deref for VerifiedFunction {
    type Target = Function;

    fn deref(&self) -> &Function {
        &self.0
    }
}

fn in_range(f: &Function, v: ValueId, what: impl FnOnce() -> String) -> Result<(), VerifyError> {
    if v.index() < f.values.len() {
        Ok(())
    } else {
        Err(VerifyError::OutOfRange {
            what: what(),
            index: v.index(),
            count: f.values.len(),
        })
    }
}

/// Every reference to a value points into `f.values`, so the checks after this may index freely.
fn check_references(f: &Function) -> Result<(), VerifyError> {
    for (i, a) in f.args.iter().enumerate() {
        in_range(f, a.value, || format!("argument {i}"))?;
    }
    for (i, eq) in f.body.iter().enumerate() {
        in_range(f, eq.out, || format!("equation {i}"))?;
        for x in eq.op.operands() {
            in_range(f, x, || format!("an operand of equation {i}"))?;
        }
    }
    for o in &f.outputs {
        in_range(f, o.value, || format!("output `{}`", o.name))?;
    }
    for (i, u) in f.updates.iter().enumerate() {
        in_range(f, u.arg, || format!("update {i}"))?;
        in_range(f, u.value, || format!("update {i}"))?;
    }
    Ok(())
}

fn check_values(f: &Function) -> Result<(), VerifyError> {
    let mut names = HashSet::new();
    for v in &f.values {
        if !names.insert(v.name.as_str()) {
            return Err(VerifyError::DuplicateName(v.name.clone()));
        }
        if v.shape.0.iter().skip(1).any(|d| *d == Dim::Batch) {
            return Err(VerifyError::BatchNotLeading(v.name.clone()));
        }
        if v.shape.fixed_numel().is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(VerifyError::TooLarge {
                name: v.name.clone(),
                shape: v.shape.to_string(),
            });
        }
    }
    Ok(())
}

fn check_updates(f: &Function, defined: &[bool]) -> Result<(), VerifyError> {
    let mut updated = HashSet::new();
    for u in &f.updates {
        let name = || f.name_of(u.arg).to_string();
        let role = f.args.iter().find(|a| a.value == u.arg).map(|a| a.role);
        if !matches!(role, Some(ArgRole::Param) | Some(ArgRole::State)) {
            return Err(VerifyError::UpdateNotPersistent(name()));
        }
        if !defined[u.value.index()] {
            return Err(VerifyError::UndefinedUpdate(name()));
        }
        if f.shape(u.arg) != f.shape(u.value) {
            return Err(VerifyError::UpdateShape(name()));
        }
        if !updated.insert(u.arg) {
            return Err(VerifyError::DuplicateUpdate(name()));
        }
    }
    Ok(())
}

/// Check SSA form (each value defined once, before use), names, the batch dimension's position,
/// sizes, every equation's shape against the rules in `shape`, outputs, and that updates write
/// values of the argument's shape into distinct persistent arguments.
pub fn verify(f: &Function) -> Result<(), VerifyError> {
    check_references(f)?;
    check_values(f)?;
    let mut defined = vec![false; f.values.len()];
    for a in &f.args {
        if std::mem::replace(&mut defined[a.value.index()], true) {
            return Err(VerifyError::DuplicateArgument(f.name_of(a.value).into()));
        }
    }
    for (i, eq) in f.body.iter().enumerate() {
        if eq.op.operands().iter().any(|x| !defined[x.index()]) {
            return Err(VerifyError::UseBeforeDefinition(i));
        }
        let target = Some(f.shape(eq.out).clone());
        let inferred = shape::infer(f, &eq.op, target).map_err(|e| VerifyError::Shape {
            equation: i,
            message: e.message,
        })?;
        if &inferred != f.shape(eq.out) {
            return Err(VerifyError::Shape {
                equation: i,
                message: format!(
                    "`{}` is typed {} but its op gives {inferred}",
                    f.name_of(eq.out),
                    f.shape(eq.out)
                ),
            });
        }
        if std::mem::replace(&mut defined[eq.out.index()], true) {
            return Err(VerifyError::Redefinition {
                equation: i,
                name: f.name_of(eq.out).into(),
            });
        }
    }
    let mut outputs = HashSet::new();
    for o in &f.outputs {
        if !defined[o.value.index()] {
            return Err(VerifyError::UndefinedOutput(o.name.clone()));
        }
        if !outputs.insert(o.name.as_str()) {
            return Err(VerifyError::DuplicateOutput(o.name.clone()));
        }
    }
    check_updates(f, &defined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Op, Shape, UnaryOp, Update};

    fn two_updates() -> Function {
        let mut f = Function::new("t");
        let w = f.add_arg("w", Shape::fixed(&[3]), ArgRole::Param, None);
        let a = f.push(Op::Unary(UnaryOp::Neg, w), None, None, None);
        let b = f.push(Op::Unary(UnaryOp::Exp, w), None, None, None);
        f.updates.push(Update { arg: w, value: a });
        f.updates.push(Update { arg: w, value: b });
        f
    }

    #[test]
    fn two_updates_of_one_argument_are_rejected() {
        let mut f = two_updates();
        assert_eq!(verify(&f), Err(VerifyError::DuplicateUpdate("w".into())));
        f.updates.pop();
        assert_eq!(verify(&f), Ok(()));
    }

    #[test]
    fn impossible_sizes_are_rejected() {
        let mut f = Function::new("t");
        let huge = 1usize << 32;
        f.add_arg("x", Shape::fixed(&[huge, huge]), ArgRole::Data, None);
        assert!(matches!(verify(&f), Err(VerifyError::TooLarge { .. })));
        let mut g = Function::new("t");
        g.add_arg("x", Shape::batched(&[MAX_ELEMENTS]), ArgRole::Data, None);
        assert_eq!(verify(&g), Ok(()), "at the limit");
        let mut g = Function::new("t");
        g.add_arg(
            "x",
            Shape::batched(&[MAX_ELEMENTS + 1]),
            ArgRole::Data,
            None,
        );
        assert!(matches!(verify(&g), Err(VerifyError::TooLarge { .. })));
    }

    #[test]
    fn dangling_references_are_errors_not_panics() {
        let mut f = two_updates();
        f.updates[0].value = ValueId(99);
        assert!(matches!(verify(&f), Err(VerifyError::OutOfRange { .. })));
        let mut f = two_updates();
        f.add_output("y", ValueId(7));
        assert!(matches!(verify(&f), Err(VerifyError::OutOfRange { .. })));
        let mut f = two_updates();
        f.body[1].op = Op::Unary(UnaryOp::Neg, ValueId(1000));
        assert!(matches!(verify(&f), Err(VerifyError::OutOfRange { .. })));
    }

    #[test]
    fn outputs_and_names_are_unique() {
        let mut f = two_updates();
        f.updates.pop();
        let v = f.body[0].out;
        f.add_output("y", v);
        f.add_output("y", v);
        assert_eq!(verify(&f), Err(VerifyError::DuplicateOutput("y".into())));
        let mut f = two_updates();
        f.updates.pop();
        f.values[1].name = "w".into();
        assert_eq!(verify(&f), Err(VerifyError::DuplicateName("w".into())));
    }
}
