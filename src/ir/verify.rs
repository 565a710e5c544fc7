//! The IR verifier: the invariants every pass must keep. Run after every pass in tests and debug
//! builds. A failure is a compiler bug, reported with the offending equation.

use super::{ArgRole, Dim, Function};
use crate::shape;

/// Check SSA form (each value defined once, before use), the batch dimension's position, every
/// equation's shape against the rules in `shape`, and that updates write values of the argument's
/// shape into persistent arguments.
pub fn verify(f: &Function) -> Result<(), String> {
    let mut defined = vec![false; f.values.len()];
    for a in &f.args {
        if defined[a.value.index()] {
            return Err(format!("argument `{}` defined twice", f.name_of(a.value)));
        }
        defined[a.value.index()] = true;
    }
    for (i, v) in f.values.iter().enumerate() {
        if v.shape.0.iter().skip(1).any(|d| *d == Dim::Batch) {
            return Err(format!(
                "value #{i} `{}` has B past the leading axis",
                v.name
            ));
        }
    }
    for (i, eq) in f.body.iter().enumerate() {
        for x in eq.op.operands() {
            if x.index() >= f.values.len() || !defined[x.index()] {
                return Err(format!("equation {i} uses a value before it is defined"));
            }
        }
        let target = Some(f.shape(eq.out).clone());
        let inferred = shape::infer(f, &eq.op, target).map_err(|e| format!("equation {i}: {e}"))?;
        if &inferred != f.shape(eq.out) {
            return Err(format!(
                "equation {i} `{}` is typed {} but its op gives {inferred}",
                f.name_of(eq.out),
                f.shape(eq.out)
            ));
        }
        if defined[eq.out.index()] {
            return Err(format!("equation {i} redefines `{}`", f.name_of(eq.out)));
        }
        defined[eq.out.index()] = true;
    }
    for o in &f.outputs {
        if !defined[o.value.index()] {
            return Err(format!("output `{}` is never defined", o.name));
        }
    }
    for u in &f.updates {
        let role = f.args.iter().find(|a| a.value == u.arg).map(|a| a.role);
        if !matches!(role, Some(ArgRole::Param) | Some(ArgRole::State)) {
            return Err(format!(
                "update targets `{}`, which is not persistent",
                f.name_of(u.arg)
            ));
        }
        if f.shape(u.arg) != f.shape(u.value) {
            return Err(format!(
                "update of `{}` changes its shape",
                f.name_of(u.arg)
            ));
        }
    }
    Ok(())
}
