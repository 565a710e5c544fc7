//! How the threads of a team share a function's steps (see `team`): how each step splits its
//! work, and where they must wait for each other. Every thread runs every step and takes its
//! share of it: a fused loop (or an element-wise helper) a contiguous run of the blocks its
//! elements are cut into (`BLOCKS` of them at most, whole rows and vectors, `blocks`), a cut that
//! depends only on the shape and the batch, so two steps of one shape give element `i` to the
//! same thread, and a sum fused into a loop adds the same numbers in the same order whatever the
//! number of threads; a matrix product a block of its output (`gemm::Threads::Part`); every
//! other kernel runs on part 0 alone. Steps are grouped: within a group no thread reads or
//! overwrites what another wrote or read, so only the start of a group needs a barrier. A step
//! joins the current group unless it reads a value written in the group other than element by
//! element in the writer's own partition, or writes a parameter or state buffer in place that
//! the group read in another partition. The arena plan gives a region freed within a group to no
//! other value before the group ends, so no thread can overwrite what another is still reading
//! there.

use std::collections::HashMap;

use super::fuse::{self, Step};
use crate::ir::{Dim, Function, Op, Shape, UnaryOp, ValueId};

/// How a step's work is shared among the threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// Element by element over a value of this shape, each thread a contiguous range of
    /// `granularity(shape)`-aligned elements.
    Elements(Shape),
    /// Split its own way (a product's blocks) or run by part 0 alone.
    Other,
}

/// The most blocks a loop's elements are cut into. A reduction fused into the loop leaves one
/// partial sum per block, which `Step::Combine` adds up in block order.
pub(super) const BLOCKS: usize = 16;
/// The fewest elements of a block (rounded up to the granularity): smaller loops are one block,
/// run by one thread, since a barrier costs more than sharing them gains.
pub(super) const MIN_BLOCK: usize = 256;

/// The smallest block of a value of `shape`: `MIN_BLOCK` rounded up to whole granules.
pub(super) fn min_block(shape: &Shape) -> usize {
    MIN_BLOCK.next_multiple_of(granularity(shape))
}

/// The size and the number of the blocks of a loop over `n` elements of a value of `shape`: as
/// many blocks as `BLOCKS`, each a whole number of granules and at least `min_block`; the last
/// may be shorter. The generated code computes the same at run time (`emit`).
#[cfg_attr(not(test), allow(dead_code))]
pub(super) fn blocks(n: usize, shape: &Shape) -> (usize, usize) {
    let g = granularity(shape);
    let size = (n.div_ceil(BLOCKS * g) * g).max(min_block(shape));
    (size, n.div_ceil(size))
}

/// The elements of a value of `shape` are dealt to threads in blocks that are a multiple of this:
/// four (a vector) and whole rows of the last axis, so that a loop reading a broadcast row (a
/// bias) starts every thread's range at a row's start.
pub(super) fn granularity(shape: &Shape) -> usize {
    let four = 4;
    match shape.0.last() {
        Some(Dim::Fixed(w)) if *w > 0 => {
            let gcd = |mut a: usize, mut b: usize| {
                while b != 0 {
                    (a, b) = (b, a % b);
                }
                a
            };
            w / gcd(*w, four) * four
        }
        _ => four,
    }
}

/// The element-wise helpers: one kernel call over a range of elements, like a fused loop.
fn elementwise_helper(u: &UnaryOp) -> bool {
    !fuse::inline_unary(u)
}

pub(super) fn layout(f: &Function, step: &Step) -> Layout {
    match step {
        Step::Fused(eqs) => Layout::Elements(fuse::loop_shape(f, eqs).clone()),
        Step::Combine(_) => Layout::Other,
        Step::Single(i) => match &f.body[*i].op {
            Op::Unary(u, _) if elementwise_helper(u) => {
                Layout::Elements(f.shape(f.body[*i].out).clone())
            }
            _ => Layout::Other,
        },
    }
}

/// How a step reads one of its operands defined outside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    /// Element `i` of the operand for element `i` of the step's output.
    Element,
    /// Any element, or all of them (a broadcast row or number, a product's operand).
    Whole,
}

/// The operands a step reads from memory (defined before it), and how.
fn reads(f: &Function, step: &Step) -> Vec<(ValueId, Read)> {
    if let Step::Combine(i) = step {
        // The partial sums every thread's blocks left.
        return vec![(f.body[*i].out, Read::Whole)];
    }
    let eqs = step.equations();
    let inside = |v: ValueId| eqs.iter().any(|&i| f.body[i].out == v);
    let mut out = Vec::new();
    for &i in eqs {
        let eq = &f.body[i];
        let how = match (&eq.op, step) {
            (Op::Broadcast(_), Step::Fused(_)) => Read::Whole,
            (_, Step::Fused(_)) => Read::Element,
            (Op::Unary(u, _), Step::Single(_)) if elementwise_helper(u) => Read::Element,
            (_, Step::Single(_)) => Read::Whole,
            (_, Step::Combine(_)) => unreachable!("invariant: a combine step has no equations"),
        };
        for x in eq.op.operands() {
            if !inside(x) {
                out.push((x, how));
            }
        }
    }
    out
}

/// The group of each step, counted from 0; groups after the first start with a barrier. With one
/// thread every step is a group of its own (the arena plan then frees regions as early as ever).
pub(super) fn groups(f: &Function, steps: &[Step], parts: usize) -> Vec<usize> {
    if parts <= 1 {
        return (0..steps.len()).collect();
    }
    // An update's new value may be stored straight into its argument by the loop computing it
    // (see `plan`): count such a loop as writing the argument.
    let writes_arg: HashMap<ValueId, ValueId> =
        f.updates.iter().map(|u| (u.value, u.arg)).collect();
    let mut group = Vec::with_capacity(steps.len());
    let mut current = 0;
    // Values written in the current group, and the layouts arguments were read in.
    let mut written: HashMap<ValueId, Layout> = HashMap::new();
    let mut args_read: HashMap<ValueId, Vec<Layout>> = HashMap::new();
    for step in steps {
        let here = layout(f, step);
        let operands = reads(f, step);
        let raw = operands.iter().any(|(x, how)| {
            written.get(x).is_some_and(|w| {
                !(*how == Read::Element && matches!(here, Layout::Elements(_)) && *w == here)
            })
        });
        let war = matches!(step, Step::Fused(_))
            && step.equations().iter().any(|&i| {
                writes_arg.get(&f.body[i].out).is_some_and(|arg| {
                    args_read
                        .get(arg)
                        .is_some_and(|seen| seen.iter().any(|l| *l != here || *l == Layout::Other))
                })
            });
        if (raw || war) && !group.is_empty() {
            current += 1;
            written.clear();
            args_read.clear();
        }
        group.push(current);
        for &i in step.equations() {
            written.insert(f.body[i].out, here.clone());
        }
        if let Step::Combine(i) = step {
            written.insert(f.body[*i].out, here.clone());
        }
        for (x, _) in operands {
            if f.args.iter().any(|a| a.value == x) {
                args_read.entry(x).or_default().push(here.clone());
            }
        }
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{ArgRole, BinaryOp, Update};

    #[test]
    fn blocks_cover_the_elements_in_at_most_sixteen_whole_granules() {
        let row = Shape::batched(&[12]);
        for n in [0, 1, 12, 255, 256, 1000, 4096, 12 * 1001, 1 << 20] {
            let (size, count) = blocks(n, &row);
            assert!(count <= BLOCKS && size % granularity(&row) == 0, "{n}");
            assert!(size >= min_block(&row) && size * count >= n, "{n}");
            assert!(count == 0 || size * (count - 1) < n, "{n}: an empty block");
        }
        assert_eq!(blocks(100, &row), (264, 1), "one block below the smallest");
        assert_eq!(blocks(1 << 20, &Shape::batched(&[16])), (1 << 16, 16));
    }

    #[test]
    fn granularity_is_whole_vectors_and_whole_rows() {
        assert_eq!(granularity(&Shape::batched(&[16])), 16);
        assert_eq!(granularity(&Shape::batched(&[3])), 12);
        assert_eq!(granularity(&Shape::batched(&[6])), 12);
        assert_eq!(granularity(&Shape::fixed(&[784, 512])), 512);
        assert_eq!(granularity(&Shape::scalar()), 4);
    }

    /// y = relu(x · w + b), an element-wise tail, x · w again, then an SGD update of w.
    fn layer() -> Function {
        let mut f = Function::new("layer");
        let w = f.add_arg("w", Shape::fixed(&[4, 8]), ArgRole::Param, None);
        let b = f.add_arg("b", Shape::fixed(&[8]), ArgRole::Param, None);
        let x = f.add_arg("x", Shape::batched(&[4]), ArgRole::Data, None);
        let z = f.push(
            Op::MatMul {
                a: x,
                b: w,
                transpose_a: false,
                transpose_b: false,
            },
            None,
            None,
            None,
        );
        let bb = f.push(Op::Broadcast(b), Some(Shape::batched(&[8])), None, None);
        let h = f.push(Op::Binary(BinaryOp::Add, z, bb), None, None, None);
        let r = f.push(Op::Unary(UnaryOp::Relu, h), None, None, None);
        let e = f.push(Op::Unary(UnaryOp::Exp, r), None, None, None);
        let t = f.push(Op::Binary(BinaryOp::Mul, e, r), None, None, None);
        f.add_output("t", t);
        let z2 = f.push(
            Op::MatMul {
                a: x,
                b: w,
                transpose_a: false,
                transpose_b: false,
            },
            None,
            None,
            None,
        );
        f.add_output("z2", z2);
        let g = f.push(
            Op::Unary(UnaryOp::Affine { mul: 0.5, add: 0.0 }, w),
            None,
            None,
            None,
        );
        let w2 = f.push(Op::Binary(BinaryOp::Sub, w, g), None, None, None);
        f.updates.push(Update { arg: w, value: w2 });
        f
    }

    #[test]
    fn a_barrier_only_where_a_thread_reads_another_threads_values() {
        let f = layer();
        let steps = fuse::steps(&f);
        // matmul | bias + relu | exp | mul | matmul | the update of w.
        assert_eq!(steps.len(), 6, "{steps:?}");
        let g = groups(&f, &steps, 2);
        // The loop after the product reads its output in another partition: a barrier. The
        // exp helper and the loop after it share the loop's partition: none. The second product
        // reads only arguments: none. The update of `w` overwrites what that product reads
        // whole in the same group: a barrier (the first product's reads ended at the first).
        assert_eq!(g, vec![0, 1, 1, 1, 1, 2]);
        assert_eq!(groups(&f, &steps, 1), vec![0, 1, 2, 3, 4, 5]);
    }
}
