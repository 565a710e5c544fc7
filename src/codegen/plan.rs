//! The arena plan: where every value of a function lives while the compiled code runs. Arguments
//! stay in the caller's buffers; every equation's result gets a region of the one arena, chosen at
//! compile time by first-fit over the regions freed by values past their last use. Regions are
//! sized for `max_batch`, so one plan serves every batch size up to it. This module decides
//! offsets only; it emits no code.

use crate::ir::{Function, ValueId};

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
    /// Indexed by `ValueId`.
    pub loc: Vec<Loc>,
    pub snapshots: Vec<Snapshot>,
    /// Arena length in floats.
    pub arena_len: usize,
    /// For each value, the index of the last equation that reads it (`body.len()` if the value
    /// must survive the call); only tests read it, to check that live regions never overlap.
    #[cfg_attr(not(test), allow(dead_code))]
    pub last_use: Vec<usize>,
}

impl Plan {
    /// Where the value named by an output or an update source can be read after the body ran:
    /// its own region, or its snapshot when it is an argument.
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
    fn alloc(&mut self, size: usize) -> usize {
        if let Some(i) = self.free.iter().position(|&(_, s)| s >= size) {
            let (off, s) = self.free[i];
            if s == size {
                self.free.remove(i);
            } else {
                self.free[i] = (off + size, s - size);
            }
            return off;
        }
        // A free block touching the top can be grown instead of leaving it as a hole.
        if let Some(&(off, s)) = self.free.last() {
            if off + s == self.top {
                self.free.pop();
                self.top = off + size;
                return off;
            }
        }
        let off = self.top;
        self.top += size;
        off
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

fn reserve(f: &Function, v: ValueId, max_batch: usize) -> usize {
    f.shape(v).numel(max_batch).div_ceil(ALIGN).max(1) * ALIGN
}

pub(super) fn plan(f: &Function, max_batch: usize) -> Plan {
    let end = f.body.len();
    let defs = f.definitions();
    let mut last_use: Vec<usize> = (0..f.values.len()).map(|v| defs[v].unwrap_or(0)).collect();
    for (i, eq) in f.body.iter().enumerate() {
        for x in eq.op.operands() {
            last_use[x.index()] = last_use[x.index()].max(i);
        }
    }
    for v in f
        .outputs
        .iter()
        .map(|o| o.value)
        .chain(f.updates.iter().map(|u| u.value))
    {
        last_use[v.index()] = end;
    }

    let mut loc = vec![Loc::Arg(usize::MAX); f.values.len()];
    for (i, a) in f.args.iter().enumerate() {
        loc[a.value.index()] = Loc::Arg(i);
    }
    let mut fl = FreeList {
        free: Vec::new(),
        top: 0,
    };
    for (i, eq) in f.body.iter().enumerate() {
        // The result is placed while its operands are still held, so no kernel ever reads and
        // writes overlapping memory.
        let reserved = reserve(f, eq.out, max_batch);
        let offset = fl.alloc(reserved);
        loc[eq.out.index()] = Loc::Arena { offset, reserved };
        let mut ops = eq.op.operands();
        ops.sort();
        ops.dedup();
        for x in ops.into_iter().chain(std::iter::once(eq.out)) {
            if last_use[x.index()] == i {
                if let Loc::Arena { offset, reserved } = loc[x.index()] {
                    fl.release(offset, reserved);
                }
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
        let is_arg = matches!(loc[v.index()], Loc::Arg(_));
        if is_arg && !snapshots.iter().any(|s| s.value == v) {
            let reserved = reserve(f, v, max_batch);
            let offset = fl.alloc(reserved);
            snapshots.push(Snapshot {
                value: v,
                offset,
                reserved,
            });
        }
    }
    Plan {
        loc,
        snapshots,
        arena_len: fl.top,
        last_use,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ir::{ArgRole, BinaryOp, Op, Shape, UnaryOp};

    /// Every pair of arena values whose lifetimes overlap must occupy disjoint regions.
    pub(in crate::codegen) fn assert_disjoint(f: &Function, p: &Plan) {
        let defs = f.definitions();
        let mut live: Vec<(usize, usize, usize, usize)> = f
            .body
            .iter()
            .map(|eq| {
                let v = eq.out.index();
                let Loc::Arena { offset, reserved } = p.loc[v] else {
                    panic!("invariant: equation results live in the arena");
                };
                (defs[v].unwrap(), p.last_use[v], offset, offset + reserved)
            })
            .collect();
        let end = f.body.len();
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

    #[test]
    fn freed_regions_are_reused_and_live_ones_are_not() {
        let mut f = Function::new("chain");
        let x = f.add_arg("x", Shape::batched(&[8]), ArgRole::Data, None);
        let mut v = x;
        for _ in 0..6 {
            v = f.push(Op::Unary(UnaryOp::Relu, v), None, None, None);
        }
        let y = f.push(Op::Binary(BinaryOp::Add, v, x), None, None, None);
        f.add_output("y", y);
        f.add_output("x_out", x);
        let p = plan(&f, 2);
        assert_disjoint(&f, &p);
        // A chain needs two regions at a time, and the snapshot of `x` at the end reuses the one
        // the last relu freed: two regions, not eight.
        assert_eq!(p.arena_len, 2 * 16);
        assert_eq!(p.snapshots.len(), 1);
    }
}
