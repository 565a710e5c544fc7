//! The optimizing pass, IR → IR, between building a function and verifying it: equations that
//! compute what an earlier one did are replaced by it (common subexpressions, found by
//! hash-consing in SSA order), element-wise ops of constants become constants (`fold`), a few
//! exact identities replace an equation by a value the function has (`identity`), and what no
//! output and no update reads is dropped (`ir::eliminate_dead_code`).
//!
//! Every rewrite keeps every result bit for bit, in the interpreter (`f64`) and in compiled code
//! (`f32`, subnormals flushed) alike: the pass runs before both, and the differential tests
//! compare them on the optimized functions. So an equation is merged only with one of the same op,
//! constants (by their bits), operands and shape (`key`), and folded only where both precisions
//! give the folded constant (`fold`).
//!
//! Three ops are kept where they are used even when an earlier one is equal: `const`,
//! `batch_size` and `broadcast`. Compiled code computes them inside the loop that reads them, for
//! nothing (a broadcast scalar or row is read in place), while a shared broadcast would have to be
//! stored as a whole tensor for the second loop to load: Adam broadcasts its step size to the
//! shape of each parameter, and two parameters of one shape would share a stored `[64,64]` copy of
//! one number. A shared constant would also read wrongly: Adam's `div 1.0 ...` would become
//! `div d_loss ...`, the gradient's seed being the first 1.0 of the step. Equal ones are still
//! numbered alike, so that what is computed from them merges (batch normalization in training
//! subtracts the broadcast mean from its input twice); one left without a use is dead code.

mod fold;
mod identity;
mod key;
#[cfg(test)]
mod tests;

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::ir::{self, Function, Op, ValueId};
use key::Key;

/// How many equations each rewrite replaced, and how many the function lost in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Equations replaced by an earlier equal one (not counting constants, batch sizes and
    /// broadcasts, which stay where they are used: see the module).
    pub merged: usize,
    /// Equations that became a constant.
    pub folded: usize,
    /// Equations replaced by a value through an identity.
    pub simplified: usize,
    /// Equations in the function before the pass, less those after it.
    pub removed: usize,
}

/// Optimize `f` in place. Arguments, outputs and updates keep their names and meaning; a value that
/// replaces another takes its name when its own was a generated `t<n>` (`t7 = log_softmax logits`
/// becomes `log_probs`).
pub fn optimize(f: &mut Function) -> Counts {
    let before = f.body.len();
    let mut pass = Pass::new(f);
    for i in 0..f.body.len() {
        pass.equation(f, i);
    }
    for o in &mut f.outputs {
        o.value = pass.replace[o.value.index()];
    }
    for u in &mut f.updates {
        u.value = pass.replace[u.value.index()];
    }
    ir::eliminate_dead_code(f);
    Counts {
        removed: before - f.body.len(),
        ..pass.counts
    }
}

/// The walk's state: what it has seen of the equations before the current one.
struct Pass {
    definitions: Vec<Option<usize>>,
    /// The value each use of a value reads from now on: itself, or one equal to it defined
    /// before.
    replace: Vec<ValueId>,
    /// The value each value is compared as: its `replace`, or for a constant, batch size or
    /// broadcast equal to an earlier one (which keeps its uses), that one.
    number: Vec<ValueId>,
    /// The first value of each key.
    seen: HashMap<Key, ValueId>,
    counts: Counts,
}

impl Pass {
    fn new(f: &Function) -> Pass {
        let ids: Vec<ValueId> = (0..f.values.len()).map(|i| ValueId(i as u32)).collect();
        Pass {
            definitions: f.definitions(),
            replace: ids.clone(),
            number: ids,
            seen: HashMap::new(),
            counts: Counts::default(),
        }
    }

    /// Rewrite equation `i`, all before it having been rewritten: its operands replaced, then
    /// folded, replaced by an identity's value, or merged with an earlier equal equation.
    fn equation(&mut self, f: &mut Function, i: usize) {
        rewrite_operands(&mut f.body[i].op, &self.replace);
        if let Some(c) = fold::fold(&f.body[i].op, |v| match self.defining(f, v) {
            Some(Op::Const(c)) => Some(*c),
            _ => None,
        }) {
            f.body[i].op = Op::Const(c);
            self.counts.folded += 1;
        }
        let out = f.body[i].out;
        if let Some(v) = identity::identity(&f.body[i].op, |v| self.defining(f, v)) {
            self.number[out.index()] = self.number[v.index()];
            self.replace_by(f, out, v);
            self.counts.simplified += 1;
            return;
        }
        let key = Key::of(&f.body[i].op, f.shape(out), |v| self.number[v.index()]);
        match self.seen.entry(key) {
            Entry::Vacant(e) => {
                e.insert(out);
            }
            Entry::Occupied(e) => {
                let first = *e.get();
                self.number[out.index()] = first;
                if !recomputed(&f.body[i].op) {
                    self.replace_by(f, out, first);
                    self.counts.merged += 1;
                }
            }
        }
    }

    /// The op that defines `v`, `None` for an argument.
    fn defining<'f>(&self, f: &'f Function, v: ValueId) -> Option<&'f Op> {
        self.definitions[v.index()].map(|d| &f.body[d].op)
    }

    /// Every later use of `dropped` reads `kept`. When `kept` is an equation's value with a
    /// generated name (`t7`, `t7_1`) and `dropped` was named by lowering or autodiff, the two swap
    /// names, so that the printed function keeps the readable one (names stay unique, and
    /// `dropped` is no longer printed); `kept` takes `dropped`'s origin when it has none.
    fn replace_by(&mut self, f: &mut Function, dropped: ValueId, kept: ValueId) {
        self.replace[dropped.index()] = kept;
        let (d, k) = (dropped.index(), kept.index());
        let readable = !generated(&f.values[d].name);
        if self.definitions[k].is_some() && generated(&f.values[k].name) && readable {
            let name = std::mem::take(&mut f.values[d].name);
            f.values[d].name = std::mem::replace(&mut f.values[k].name, name);
        }
        if f.values[k].origin.is_none() {
            f.values[k].origin = f.values[d].origin.clone();
        }
    }
}

/// Is `op` left at each use rather than shared, being as cheap to compute as to read?
fn recomputed(op: &Op) -> bool {
    match op {
        Op::Const(_) | Op::BatchSize | Op::Broadcast(_) => true,
        Op::Vector(_)
        | Op::Unary(..)
        | Op::Binary(..)
        | Op::MatMul { .. }
        | Op::SumTo(_)
        | Op::LogSoftmax(_)
        | Op::Concat { .. }
        | Op::Slice { .. }
        | Op::Select { .. }
        | Op::DropoutMask { .. }
        | Op::NormalNoise { .. } => false,
    }
}

fn rewrite_operands(op: &mut Op, replace: &[ValueId]) {
    let r = |v: &mut ValueId| *v = replace[v.index()];
    match op {
        Op::Const(_) | Op::BatchSize | Op::Vector(_) => {}
        Op::Unary(_, x)
        | Op::Broadcast(x)
        | Op::SumTo(x)
        | Op::LogSoftmax(x)
        | Op::Slice { x, .. }
        | Op::DropoutMask { counter: x, .. }
        | Op::NormalNoise { counter: x, .. } => r(x),
        Op::Binary(_, a, b) | Op::MatMul { a, b, .. } | Op::Concat { a, b } => {
            r(a);
            r(b);
        }
        Op::Select { condition, yes, no } => {
            r(condition);
            r(yes);
            r(no);
        }
    }
}

/// A name the builder made up (`t<n>`, or `t<n>_<m>` when `t<n>` was taken).
fn generated(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match name.strip_prefix('t') {
        Some(rest) => match rest.split_once('_') {
            Some((n, m)) => digits(n) && digits(m),
            None => digits(rest),
        },
        None => false,
    }
}
