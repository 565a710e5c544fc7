//! The arena plan: where every value of a function lives while the compiled code runs. Arguments
//! stay in the caller's buffers; values computed and consumed inside one fused loop stay in
//! registers; every other result gets a region of the one arena, chosen at compile time by
//! first-fit over the regions freed by values past their last use. Lifetimes are counted in
//! steps (see `fuse`), and regions are sized for `max_batch`, so one plan serves every batch size
//! up to it. This module decides places only; it emits no code. Every size is computed with
//! checked arithmetic: a value or an arena too large for the address space is a `TooLarge` error,
//! never a wrapped, too small region.

use super::fuse::{self, Step};
use super::schedule;
use crate::ir::{Function, ValueId, MAX_ELEMENTS};

/// A value, or the arena as a whole, does not fit in memory at the requested batch size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TooLarge {
    /// The value that does not fit, or that the arena overflowed while placing.
    pub value: ValueId,
}

/// Regions start on 64-byte boundaries (16 floats) so that no two values share a cache line and
/// vector accesses never straddle one.
const ALIGN: usize = 16;

/// Where a value's floats are, in units of `f32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Loc {
    /// The buffer of argument number `i` (position in `f.args`), from its start.
    Arg(usize),
    /// `reserved` floats of the arena from `offset`; the value uses a batch-dependent prefix.
    Arena { offset: usize, reserved: usize },
    /// Only inside the fused loop that defines it (or nowhere, if nothing reads it).
    Register,
}

/// An argument value copied into the arena at the end of the call, so that an output (or an
/// update's source) that *is* an argument keeps its pre-update value.
#[derive(Clone, Copy, Debug)]
pub(super) struct Snapshot {
    pub value: ValueId,
    pub offset: usize,
    pub reserved: usize,
}

#[derive(Debug)]
pub(super) struct Plan {
    pub steps: Vec<Step>,
    /// The group of each step (`schedule::groups`): a barrier precedes the first step of each
    /// group but the first.
    pub groups: Vec<usize>,
    /// Indexed by `ValueId`.
    pub loc: Vec<Loc>,
    pub snapshots: Vec<Snapshot>,
    /// Per entry of `f.updates`: the fused loop that computes the new value stores it straight
    /// into the argument's buffer, so no copy is needed at the end.
    pub in_place: Vec<bool>,
    /// With a team: the reductions fused into loops whose totals no step reads (only the
    /// caller, as outputs), added up from their partial sums at the end (`SumTo` equations).
    pub late_combines: Vec<usize>,
    /// Arena length in floats.
    pub arena_len: usize,
    /// For each value, the step that defines it and the last step that reads it (`steps.len()`
    /// if the value must survive the call); only tests read them, to check that live regions
    /// never overlap.
    #[cfg_attr(not(test), allow(dead_code))]
    pub live: Vec<(usize, usize)>,
}

impl Plan {
    /// Where the value named by an output or an update source can be read after the body ran:
    /// its own place, or its snapshot when it is an argument.
    pub fn final_loc(&self, v: ValueId) -> Loc {
        match self.snapshots.iter().find(|s| s.value == v) {
            Some(s) => Loc::Arena {
                offset: s.offset,
                reserved: s.reserved,
            },
            None => self.loc[v.index()],
        }
    }
}

/// Free regions sorted by offset, adjacent ones merged, plus the high-water mark.
struct FreeList {
    free: Vec<(usize, usize)>,
    top: usize,
}

impl FreeList {
    /// The offset of a region of `size` floats; `None` when the arena would outgrow
    /// `MAX_ELEMENTS`.
    fn alloc(&mut self, size: usize) -> Option<usize> {
        if let Some(i) = self.free.iter().position(|&(_, s)| s >= size) {
            let (off, s) = self.free[i];
            if s == size {
                self.free.remove(i);
            } else {
                self.free[i] = (off + size, s - size);
            }
            return Some(off);
        }
        // A free block touching the top can be grown instead of leaving it as a hole.
        let off = match self.free.last() {
            Some(&(off, s)) if off + s == self.top => {
                self.free.pop();
                off
            }
            _ => self.top,
        };
        self.top = off.checked_add(size).filter(|&t| t <= MAX_ELEMENTS)?;
        Some(off)
    }

    fn release(&mut self, off: usize, size: usize) {
        let i = self.free.partition_point(|&(o, _)| o < off);
        self.free.insert(i, (off, size));
        if i + 1 < self.free.len() && self.free[i].0 + self.free[i].1 == self.free[i + 1].0 {
            self.free[i].1 += self.free[i + 1].1;
            self.free.remove(i + 1);
        }
        if i > 0 && self.free[i - 1].0 + self.free[i - 1].1 == self.free[i].0 {
            self.free[i - 1].1 += self.free[i].1;
            self.free.remove(i);
        }
    }
}

/// The floats reserved for `v`: its size at `max_batch` (a fused reduction's total run by a team
/// also holds its blocks' partial sums after it), rounded up to whole cache lines.
fn reserve(f: &Function, v: ValueId, max_batch: usize, partials: bool) -> Result<usize, TooLarge> {
    let extra = if partials { schedule::BLOCKS } else { 0 };
    f.shape(v)
        .numel(max_batch)
        .and_then(|n| n.checked_add(extra))
        .and_then(|n| n.div_ceil(ALIGN).max(1).checked_mul(ALIGN))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or(TooLarge { value: v })
}

/// An update `arg <- value` can be computed in place when a fused loop defines `value` (it reads
/// and writes element `i` together, so overwriting `arg[i]` after reading it is harmless) and no
/// later step reads the old `arg`. Outputs and update sources count as read at the end, so an
/// `arg` that is one of them never qualifies; `value` must not be an output (outputs are read
/// from the arena) nor feed a second update.
fn in_place_ok(
    f: &Function,
    steps: &[Step],
    def_step: &[Option<usize>],
    last_use: &[usize],
    k: usize,
) -> bool {
    let u = &f.updates[k];
    let Some(s) = def_step[u.value.index()] else {
        return false;
    };
    matches!(steps[s], Step::Fused(_))
        && last_use[u.arg.index()] <= s
        && !f.outputs.iter().any(|o| o.value == u.value)
        && f.updates.iter().filter(|w| w.value == u.value).count() == 1
}

/// `steps` with a `Step::Combine` for each of the reductions `sums` that a step reads, and the
/// reductions no step reads (combined at the end, `Plan::late_combines`). A combine goes at the
/// start of the group after its loop's, where the barrier that opens that group already
/// separates it from the loop, when its first reader comes in a later group still (so that the
/// barrier before the reader separates it from the combine); else just before that reader.
fn place_combines(
    f: &Function,
    steps: Vec<Step>,
    sums: &[usize],
    parts: usize,
) -> (Vec<Step>, Vec<usize>) {
    let groups = schedule::groups(f, &steps, parts);
    let mut at: Vec<(usize, usize)> = Vec::new();
    let mut late = Vec::new();
    for &i in sums {
        let total = f.body[i].out;
        let reads_total = |s: &Step| {
            s.equations()
                .iter()
                .any(|&j| f.body[j].op.operands().contains(&total))
        };
        let Some(reader) = steps.iter().position(reads_total) else {
            late.push(i);
            continue;
        };
        let producer = steps
            .iter()
            .position(|s| s.equations().contains(&i))
            .expect("invariant: a fused sum is an equation of a step");
        let next_group = steps[producer..]
            .iter()
            .zip(&groups[producer..])
            .position(|(_, &g)| g > groups[producer])
            .map(|k| producer + k);
        let place = match next_group {
            Some(n) if groups[reader] > groups[n] => n,
            _ => reader,
        };
        at.push((place, i));
    }
    // Insert from the back, so that the positions found above still hold; combines at one
    // place keep the order of their sums.
    at.sort_by_key(|&(place, _)| std::cmp::Reverse(place));
    let mut steps = steps;
    let mut k = 0;
    while k < at.len() {
        let place = at[k].0;
        let same: Vec<usize> = at[k..]
            .iter()
            .take_while(|&&(p, _)| p == place)
            .map(|&(_, i)| i)
            .collect();
        k += same.len();
        for &i in same.iter().rev() {
            steps.insert(place, Step::Combine(i));
        }
    }
    (steps, late)
}

/// The plan of `f` for batches up to `max_batch`, run by `parts` threads (see `schedule`).
pub(super) fn plan(f: &Function, max_batch: usize, parts: usize) -> Result<Plan, TooLarge> {
    let steps = fuse::steps(f);
    // The reductions fused into loops: with a team, their totals are added up from the blocks'
    // partial sums by part 0 (`Step::Combine`), between the loop and the first step that reads
    // them, and each side of a combine needs a barrier.
    let fused_sums: Vec<usize> = steps
        .iter()
        .filter(|s| matches!(s, Step::Fused(_)))
        .flat_map(|s| s.equations().to_vec())
        .filter(|&i| fuse::reduction(f, &f.body[i]))
        .collect();
    let mut late_combines = Vec::new();
    let steps = if parts > 1 {
        let (steps, late) = place_combines(f, steps, &fused_sums, parts);
        late_combines = late;
        steps
    } else {
        steps
    };
    let groups = schedule::groups(f, &steps, parts);
    let end = steps.len();
    let mut step_of = vec![0; f.body.len()];
    for (s, st) in steps.iter().enumerate() {
        for &i in st.equations() {
            step_of[i] = s;
        }
    }
    let def_step: Vec<Option<usize>> = f
        .definitions()
        .iter()
        .map(|d| d.map(|i| step_of[i]))
        .collect();
    let mut last_use: Vec<usize> = def_step.iter().map(|d| d.unwrap_or(0)).collect();
    // Results of helper calls are written to memory even if nothing reads them.
    let mut needs_memory: Vec<bool> = def_step
        .iter()
        .map(|d| d.is_some_and(|s| matches!(steps[s], Step::Single(_))))
        .collect();
    for (i, eq) in f.body.iter().enumerate() {
        for x in eq.op.operands() {
            last_use[x.index()] = last_use[x.index()].max(step_of[i]);
            if def_step[x.index()] != Some(step_of[i]) {
                needs_memory[x.index()] = true;
            }
        }
    }
    for v in f
        .outputs
        .iter()
        .map(|o| o.value)
        .chain(f.updates.iter().map(|u| u.value))
    {
        last_use[v.index()] = end;
        needs_memory[v.index()] = true;
    }

    let mut loc = vec![Loc::Register; f.values.len()];
    for (i, a) in f.args.iter().enumerate() {
        loc[a.value.index()] = Loc::Arg(i);
    }
    let in_place: Vec<bool> = (0..f.updates.len())
        .map(|k| in_place_ok(f, &steps, &def_step, &last_use, k))
        .collect();
    for (u, _) in f.updates.iter().zip(&in_place).filter(|(_, &ok)| ok) {
        loc[u.value.index()] = loc[u.arg.index()];
    }

    let mut fl = FreeList {
        free: Vec::new(),
        top: 0,
    };
    // Regions freed within a group of steps are reused only after it: another thread may still
    // be reading the old value until the barrier that starts the next group.
    let mut freed: Vec<(usize, usize)> = Vec::new();
    for (s, st) in steps.iter().enumerate() {
        // A step's results are placed while its operands are still held, so no kernel reads
        // and writes overlapping memory.
        for &i in st.equations() {
            let v = f.body[i].out;
            if needs_memory[v.index()] && loc[v.index()] == Loc::Register {
                let partials = parts > 1 && fused_sums.contains(&i);
                let reserved = reserve(f, v, max_batch, partials)?;
                let offset = fl.alloc(reserved).ok_or(TooLarge { value: v })?;
                loc[v.index()] = Loc::Arena { offset, reserved };
            }
        }
        let mut done: Vec<ValueId> = st
            .equations()
            .iter()
            .flat_map(|&i| f.body[i].op.operands().into_iter().chain([f.body[i].out]))
            .collect();
        done.sort();
        done.dedup();
        for x in done {
            if last_use[x.index()] == s {
                if let Loc::Arena { offset, reserved } = loc[x.index()] {
                    freed.push((offset, reserved));
                }
            }
        }
        if groups.get(s + 1) != Some(&groups[s]) {
            for (offset, reserved) in freed.drain(..) {
                fl.release(offset, reserved);
            }
        }
    }

    let mut snapshots: Vec<Snapshot> = Vec::new();
    let finals = f
        .outputs
        .iter()
        .map(|o| o.value)
        .chain(f.updates.iter().map(|u| u.value));
    for v in finals {
        let is_arg = f.args.iter().any(|a| a.value == v);
        if is_arg && !snapshots.iter().any(|s| s.value == v) {
            let reserved = reserve(f, v, max_batch, false)?;
            let offset = fl.alloc(reserved).ok_or(TooLarge { value: v })?;
            snapshots.push(Snapshot {
                value: v,
                offset,
                reserved,
            });
        }
    }
    late_combines.retain(|&i| loc[f.body[i].out.index()] != Loc::Register);
    let live = def_step
        .iter()
        .zip(&last_use)
        .map(|(d, &l)| (d.unwrap_or(0), l))
        .collect();
    Ok(Plan {
        steps,
        groups,
        loc,
        snapshots,
        in_place,
        late_combines,
        arena_len: fl.top,
        live,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ir::{ArgRole, BinaryOp, Op, Shape, UnaryOp};

    /// Every pair of arena values whose lifetimes overlap must occupy disjoint regions.
    pub(in crate::codegen) fn assert_disjoint(f: &Function, p: &Plan) {
        let end = p.steps.len();
        let mut live: Vec<(usize, usize, usize, usize)> = (0..f.values.len())
            .filter_map(|v| match p.loc[v] {
                Loc::Arena { offset, reserved } => {
                    Some((p.live[v].0, p.live[v].1, offset, offset + reserved))
                }
                Loc::Arg(_) | Loc::Register => None,
            })
            .collect();
        live.extend(
            p.snapshots
                .iter()
                .map(|s| (end, end, s.offset, s.offset + s.reserved)),
        );
        for (i, a) in live.iter().enumerate() {
            assert!(a.3 <= p.arena_len);
            for b in &live[i + 1..] {
                let times = a.0 <= b.1 && b.0 <= a.1;
                let space = a.2 < b.3 && b.2 < a.3;
                assert!(!(times && space), "live regions overlap: {a:?} {b:?}");
            }
        }
    }

    fn chain(op: UnaryOp) -> Function {
        let mut f = Function::new("chain");
        let x = f.add_arg("x", Shape::batched(&[8]), ArgRole::Data, None);
        let mut v = x;
        for _ in 0..6 {
            v = f.push(Op::Unary(op, v), None, None, None);
        }
        let y = f.push(Op::Binary(BinaryOp::Add, v, x), None, None, None);
        f.add_output("y", y);
        f.add_output("x_out", x);
        f
    }

    #[test]
    fn freed_regions_are_reused_and_live_ones_are_not() {
        let f = chain(UnaryOp::Exp);
        let p = plan(&f, 2, 1).unwrap();
        assert_disjoint(&f, &p);
        // Helper calls need two regions at a time, and the snapshot of `x` at the end reuses
        // the one the last call freed: two regions, not eight.
        assert_eq!(p.arena_len, 2 * 16);
        assert_eq!(p.snapshots.len(), 1);
    }

    #[test]
    fn fused_intermediates_take_no_memory() {
        let f = chain(UnaryOp::Relu);
        let p = plan(&f, 2, 1).unwrap();
        assert_eq!(p.steps, vec![Step::Fused((0..7).collect())]);
        assert!(f.body[..6]
            .iter()
            .all(|eq| p.loc[eq.out.index()] == Loc::Register));
        assert_eq!(p.arena_len, 2 * 16, "`y` and the snapshot of `x`");
    }

    #[test]
    fn updates_go_in_place_only_when_the_old_value_is_dead() {
        let mut f = Function::new("sgd");
        let w = f.add_arg("w", Shape::fixed(&[5]), ArgRole::Param, None);
        let g = f.add_arg("g", Shape::fixed(&[5]), ArgRole::Data, None);
        let step = f.push(
            Op::Unary(UnaryOp::Affine { mul: 0.1, add: 0.0 }, g),
            None,
            None,
            None,
        );
        let w2 = f.push(Op::Binary(BinaryOp::Sub, w, step), None, None, None);
        f.updates.push(crate::ir::Update { arg: w, value: w2 });
        let p = plan(&f, 1, 1).unwrap();
        assert_eq!(
            (p.in_place.clone(), p.loc[w2.index()]),
            (vec![true], Loc::Arg(0))
        );
        // Reading `w` after the update's loop keeps the old value alive: copy at the end.
        let late = f.push(Op::Unary(UnaryOp::Exp, w), None, None, None);
        f.add_output("late", late);
        let p = plan(&f, 1, 1).unwrap();
        assert_eq!(p.in_place, vec![false]);
        assert_disjoint(&f, &p);
    }
}
