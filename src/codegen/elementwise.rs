//! Generated element-wise loops. One loop computes a whole fused run (see `fuse`): it loads its
//! input streams, computes every equation of the run in registers and stores the results that
//! are needed later, over `F32X4` vectors and then a scalar loop for the last `n % 4` elements.
//! The element count is a runtime value (it depends on the batch), so one loop serves every batch
//! size. Transcendental ops are not here: they are helper calls (see `helpers`).

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F32X4, I64};
use cranelift_codegen::ir::{BlockArg, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

use crate::ir::{BinaryOp, UnaryOp};

pub(super) const NO_ARGS: &[BlockArg] = &[];

/// One operation of a fused loop.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kernel {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Copy,
    Const(f64),
    /// `xs[0] != 0 ? xs[1] : xs[2]`.
    Select,
}

/// Where an operation's operand comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Src {
    Input(usize),
    /// The result of an earlier operation of the same loop.
    Op(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Input {
    /// A byte address; element `i` is read from it at offset `4 i`.
    Stream(Value),
    /// One `f32` for every element (a broadcast scalar, the batch size).
    Splat(Value),
    /// A byte address and a row length in bytes (a multiple of 16): element `i` is read at
    /// offset `4 i mod row_bytes`, the same row for every row of the loop's output.
    Row(Value, i64),
}

/// A fused loop: inputs, operations in order, which results are stored where, and which are
/// added up over the loop.
#[derive(Debug, Default)]
pub(super) struct Fused {
    pub inputs: Vec<Input>,
    pub ops: Vec<(Kernel, Vec<Src>)>,
    /// (operation, destination byte address)
    pub stores: Vec<(usize, Value)>,
    /// Operations whose results the loop sums (`emit_fused` returns the sums).
    pub sums: Vec<usize>,
}

/// Loads and stores may be unaligned (argument slices come from the caller) but never trap: the
/// shapes and the plan bound every address.
pub(super) fn mem() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

fn constant(b: &mut FunctionBuilder, ty: Type, c: f64) -> Value {
    let s = b.ins().f32const(c as f32);
    if ty == F32X4 {
        b.ins().splat(F32X4, s)
    } else {
        s
    }
}

/// `x > 0 ? yes : no`, lane-wise for vectors. NaN compares false, so it takes `no`.
fn positive_select(b: &mut FunctionBuilder, ty: Type, x: Value, yes: Value, no: Value) -> Value {
    let zero = constant(b, ty, 0.0);
    compare_select(b, ty, FloatCC::GreaterThan, x, zero, yes, no)
}

/// `x cc y ? yes : no`, lane-wise for vectors.
fn compare_select(
    b: &mut FunctionBuilder,
    ty: Type,
    cc: FloatCC,
    x: Value,
    y: Value,
    yes: Value,
    no: Value,
) -> Value {
    let c = b.ins().fcmp(cc, x, y);
    if ty == F32X4 {
        let mask = b.ins().bitcast(F32X4, MemFlagsData::new(), c);
        b.ins().bitselect(mask, yes, no)
    } else {
        b.ins().select(c, yes, no)
    }
}

/// `x cc y ? 1 : 0`, lane-wise for vectors.
fn indicator(b: &mut FunctionBuilder, ty: Type, cc: FloatCC, x: Value, y: Value) -> Value {
    let (one, zero) = (constant(b, ty, 1.0), constant(b, ty, 0.0));
    compare_select(b, ty, cc, x, y, one, zero)
}

fn apply(b: &mut FunctionBuilder, k: Kernel, ty: Type, xs: &[Value]) -> Value {
    match k {
        Kernel::Copy => xs[0],
        Kernel::Const(c) => constant(b, ty, c),
        Kernel::Binary(op) => {
            let (x, y) = (xs[0], xs[1]);
            match op {
                BinaryOp::Add => b.ins().fadd(x, y),
                BinaryOp::Sub => b.ins().fsub(x, y),
                BinaryOp::Mul => b.ins().fmul(x, y),
                BinaryOp::Div => b.ins().fdiv(x, y),
                BinaryOp::Max => compare_select(b, ty, FloatCC::GreaterThan, x, y, x, y),
                BinaryOp::Min => compare_select(b, ty, FloatCC::LessThan, x, y, x, y),
                BinaryOp::Greater => indicator(b, ty, FloatCC::GreaterThan, x, y),
                BinaryOp::GreaterEq => indicator(b, ty, FloatCC::GreaterThanOrEqual, x, y),
                BinaryOp::Equal => indicator(b, ty, FloatCC::Equal, x, y),
            }
        }
        Kernel::Select => {
            let zero = constant(b, ty, 0.0);
            compare_select(b, ty, FloatCC::NotEqual, xs[0], zero, xs[1], xs[2])
        }
        Kernel::Unary(op) => {
            let x = xs[0];
            match op {
                UnaryOp::Neg => b.ins().fneg(x),
                UnaryOp::Sqrt => b.ins().sqrt(x),
                UnaryOp::Relu => {
                    let zero = constant(b, ty, 0.0);
                    positive_select(b, ty, x, x, zero)
                }
                UnaryOp::Heaviside => {
                    let (one, zero) = (constant(b, ty, 1.0), constant(b, ty, 0.0));
                    positive_select(b, ty, x, one, zero)
                }
                UnaryOp::LeakyRelu { alpha } => {
                    let a = constant(b, ty, alpha);
                    let ax = b.ins().fmul(a, x);
                    positive_select(b, ty, x, x, ax)
                }
                UnaryOp::LeakySlope { alpha } => {
                    let (one, a) = (constant(b, ty, 1.0), constant(b, ty, alpha));
                    positive_select(b, ty, x, one, a)
                }
                UnaryOp::Affine { mul, add } => {
                    let (m, a) = (constant(b, ty, mul), constant(b, ty, add));
                    let mx = b.ins().fmul(m, x);
                    b.ins().fadd(mx, a)
                }
                UnaryOp::Abs => b.ins().fabs(x),
                UnaryOp::Sign => {
                    // copysign(1, x) where x is ordered and nonzero, x itself otherwise: ±0 and
                    // NaN pass through, as in the interpreter.
                    let one = constant(b, ty, 1.0);
                    let zero = constant(b, ty, 0.0);
                    // x < 0 or x > 0 (x64 has no vector "ordered and not equal").
                    let above = b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                    let below = b.ins().fcmp(FloatCC::LessThan, x, zero);
                    let c = b.ins().bor(above, below);
                    if ty == F32X4 {
                        // x64 has no vector fcopysign: take the sign bit (the only bit of −0.0)
                        // from x and every other bit from 1.0.
                        let sign_bit = constant(b, ty, -0.0);
                        let unit = b.ins().bitselect(sign_bit, x, one);
                        let mask = b.ins().bitcast(F32X4, MemFlagsData::new(), c);
                        b.ins().bitselect(mask, unit, x)
                    } else {
                        let unit = b.ins().fcopysign(one, x);
                        b.ins().select(c, unit, x)
                    }
                }
                UnaryOp::Exp
                | UnaryOp::Expm1
                | UnaryOp::Log
                | UnaryOp::Sigmoid
                | UnaryOp::Tanh
                | UnaryOp::Softplus
                | UnaryOp::NormalCdf => {
                    panic!("invariant: {op:?} is lowered to a helper call, not an inline loop")
                }
            }
        }
    }
}

/// Run `k` over elements `first..first + n` (runtime values; `first` a whole number of rows of
/// any row input, see `schedule::granularity`), and return the sum of each of `k.sums` over
/// them. Every input is loaded and every store done per chunk of the same index, which is what
/// makes in-place updates safe (see `plan`).
///
/// Three loops: four vectors a round, then one vector a round, then one number a round. A sum
/// is kept in four vector accumulators over the first loop (one per vector of the round, so
/// that its additions do not wait on each other; two for each of two sums, one for each of
/// more), added up as (a0 + a1) + (a2 + a3) into the second loop's accumulator, whose lanes are added up as ((l0 + l1) + (l2 + l3)) plus the
/// third loop's sum: the same numbers in the same order for the same `first` and `n`, whatever
/// thread runs it.
pub(super) fn emit_fused(b: &mut FunctionBuilder, k: &Fused, first: Value, n: Value) -> Vec<Value> {
    const UNROLL: usize = 4;
    let start = b.ins().ishl_imm_s(first, 2);
    let nbytes = b.ins().ishl_imm_s(n, 2);
    let qbytes = b.ins().band_imm_s(nbytes, !(16 * UNROLL as i64 - 1));
    let qlimit = b.ins().iadd(start, qbytes);
    let vbytes = b.ins().band_imm_s(nbytes, !15i64);
    let vlimit = b.ins().iadd(start, vbytes);
    let slimit = b.ins().iadd(start, nbytes);
    let zero = b.ins().iconst(I64, 0);
    let splats: Vec<Option<Value>> = k
        .inputs
        .iter()
        .map(|i| match i {
            Input::Splat(s) => Some(b.ins().splat(F32X4, *s)),
            Input::Stream(_) | Input::Row(..) => None,
        })
        .collect();
    // Rows of one run all have the output's last axis: one row offset serves every row input.
    let row_bytes = k.inputs.iter().find_map(|i| match i {
        Input::Row(_, bytes) => Some(*bytes),
        _ => None,
    });
    assert!(
        k.inputs
            .iter()
            .all(|i| !matches!(i, Input::Row(_, r) if Some(*r) != row_bytes || r % 16 != 0)),
        "invariant: a run's row inputs share one row length, a multiple of a vector (fuse::spread)"
    );
    // One chunk at byte offset `off` (`roff` into the current row): loads, the kernels, the
    // stores; the values of the sums' kernels, and the row offset of the next chunk, which wraps
    // to 0 at the row's end (a compare and a select, where `off mod row_bytes` would be a
    // division per vector).
    let chunk = |b: &mut FunctionBuilder, off: Value, roff: Value, ty: Type| {
        let inputs: Vec<Value> = k
            .inputs
            .iter()
            .zip(&splats)
            .map(|(i, v)| match (i, ty == F32X4) {
                (Input::Stream(p), _) => {
                    let a = b.ins().iadd(*p, off);
                    b.ins().load(ty, mem(), a, 0)
                }
                (Input::Row(p, _), _) => {
                    let a = b.ins().iadd(*p, roff);
                    b.ins().load(ty, mem(), a, 0)
                }
                (Input::Splat(_), true) => v.expect("invariant: splat inputs have a vector"),
                (Input::Splat(s), false) => *s,
            })
            .collect();
        let mut results: Vec<Value> = Vec::with_capacity(k.ops.len());
        for (kernel, srcs) in &k.ops {
            let xs: Vec<Value> = srcs
                .iter()
                .map(|s| match s {
                    Src::Input(i) => inputs[*i],
                    Src::Op(j) => results[*j],
                })
                .collect();
            let y = apply(b, *kernel, ty, &xs);
            results.push(y);
        }
        for &(j, dst) in &k.stores {
            let a = b.ins().iadd(dst, off);
            b.ins().store(mem(), results[j], a, 0);
        }
        let next_roff = match row_bytes {
            Some(row) => {
                let stepped = b.ins().iadd_imm_s(roff, ty.bytes() as i64);
                let end = b.ins().icmp_imm_s(IntCC::Equal, stepped, row);
                b.ins().select(end, zero, stepped)
            }
            None => roff,
        };
        let sums: Vec<Value> = k.sums.iter().map(|&j| results[j]).collect();
        (sums, next_roff)
    };
    let args = |vals: &[Value]| -> Vec<BlockArg> { vals.iter().map(|&v| v.into()).collect() };
    let sums = k.sums.len();

    // Each loop's head carries the byte offset into the output, the offset into the current
    // row and the sums' accumulators: UNROLL vectors per sum in the first loop, one vector in
    // the second, and in the third the second's vector (passed on unchanged) and a number.
    let qhead = b.create_block();
    let qoff = b.append_block_param(qhead, I64);
    let qroff = b.append_block_param(qhead, I64);
    // Accumulators per sum in the first loop: four for one sum, fewer for more, so that they
    // and the loop's values fit the sixteen vector registers (spilled accumulators cost a load
    // and a store each round).
    let per_sum = match sums {
        0 | 1 => UNROLL,
        2 => 2,
        _ => 1,
    };
    let qsums: Vec<Value> = (0..sums * per_sum)
        .map(|_| b.append_block_param(qhead, F32X4))
        .collect();
    let qbody = b.create_block();
    let vhead = b.create_block();
    let voff = b.append_block_param(vhead, I64);
    let vroff = b.append_block_param(vhead, I64);
    let vsums: Vec<Value> = (0..sums)
        .map(|_| b.append_block_param(vhead, F32X4))
        .collect();
    let vbody = b.create_block();
    let shead = b.create_block();
    let soff = b.append_block_param(shead, I64);
    let sroff = b.append_block_param(shead, I64);
    let carried: Vec<Value> = (0..sums)
        .map(|_| b.append_block_param(shead, F32X4))
        .collect();
    let ssums: Vec<Value> = (0..sums)
        .map(|_| b.append_block_param(shead, F32))
        .collect();
    let sbody = b.create_block();
    let exit = b.create_block();
    let exit_v: Vec<Value> = (0..sums)
        .map(|_| b.append_block_param(exit, F32X4))
        .collect();
    let exit_s: Vec<Value> = (0..sums).map(|_| b.append_block_param(exit, F32)).collect();
    let zero_v = constant(b, F32X4, 0.0);
    let zero_s = constant(b, F32, 0.0);
    let mut entry = vec![start, zero];
    entry.extend(std::iter::repeat_n(zero_v, sums * per_sum));
    b.ins().jump(qhead, &args(&entry));

    // Four vectors a round; on leaving, each sum's accumulators added up pairwise.
    let qexit = b.create_block();
    b.switch_to_block(qhead);
    let more = b.ins().icmp(IntCC::UnsignedLessThan, qoff, qlimit);
    b.ins().brif(more, qbody, NO_ARGS, qexit, NO_ARGS);
    b.switch_to_block(qbody);
    let mut roff = qroff;
    let mut added: Vec<Value> = qsums.clone();
    for u in 0..UNROLL {
        let off = b.ins().iadd_imm_s(qoff, 16 * u as i64);
        let (values, next) = chunk(b, off, roff, F32X4);
        roff = next;
        for (s, &v) in values.iter().enumerate() {
            let acc = s * per_sum + u % per_sum;
            added[acc] = b.ins().fadd(added[acc], v);
        }
    }
    let qoff2 = b.ins().iadd_imm_s(qoff, 16 * UNROLL as i64);
    let mut next = vec![qoff2, roff];
    next.extend(&added);
    b.ins().jump(qhead, &args(&next));
    b.switch_to_block(qexit);
    let mut pass = vec![qoff, qroff];
    for s in 0..sums {
        let a = &qsums[s * per_sum..(s + 1) * per_sum];
        let total = match a {
            [a0, a1, a2, a3] => {
                let low = b.ins().fadd(*a0, *a1);
                let high = b.ins().fadd(*a2, *a3);
                b.ins().fadd(low, high)
            }
            [a0, a1] => b.ins().fadd(*a0, *a1),
            [a0] => *a0,
            _ => unreachable!("invariant: one, two or four accumulators per sum"),
        };
        pass.push(total);
    }
    b.ins().jump(vhead, &args(&pass));

    for (head, off, roff, body, limit, ty) in [
        (vhead, voff, vroff, vbody, vlimit, F32X4),
        (shead, soff, sroff, sbody, slimit, F32),
    ] {
        let vector = ty == F32X4;
        b.switch_to_block(head);
        let more = b.ins().icmp(IntCC::UnsignedLessThan, off, limit);
        if vector {
            let mut tail = vec![off, roff];
            tail.extend(&vsums);
            tail.extend(std::iter::repeat_n(zero_s, sums));
            b.ins().brif(more, body, NO_ARGS, shead, &args(&tail));
        } else {
            let mut done = carried.clone();
            done.extend(&ssums);
            b.ins().brif(more, body, NO_ARGS, exit, &args(&done));
        }
        b.switch_to_block(body);
        let (values, roff2) = chunk(b, off, roff, ty);
        let running = if vector { &vsums } else { &ssums };
        let added: Vec<Value> = values
            .iter()
            .zip(running)
            .map(|(&v, &acc)| b.ins().fadd(acc, v))
            .collect();
        let off2 = b.ins().iadd_imm_s(off, ty.bytes() as i64);
        let mut next = vec![off2, roff2];
        if vector {
            next.extend(&added);
        } else {
            next.extend(&carried);
            next.extend(&added);
        }
        b.ins().jump(head, &args(&next));
    }
    b.switch_to_block(exit);
    exit_v
        .iter()
        .zip(&exit_s)
        .map(|(&v, &tail)| {
            let lane = |b: &mut FunctionBuilder, i: u8| b.ins().extractlane(v, i);
            let (l0, l1, l2, l3) = (lane(b, 0), lane(b, 1), lane(b, 2), lane(b, 3));
            let low = b.ins().fadd(l0, l1);
            let high = b.ins().fadd(l2, l3);
            let lanes = b.ins().fadd(low, high);
            b.ins().fadd(lanes, tail)
        })
        .collect()
}

/// `dst[i] = src[i]` for `i < n`.
pub(super) fn emit_copy(b: &mut FunctionBuilder, src: Value, dst: Value, n: Value) {
    let k = Fused {
        inputs: vec![Input::Stream(src)],
        ops: vec![(Kernel::Copy, vec![Src::Input(0)])],
        stores: vec![(0, dst)],
        sums: Vec::new(),
    };
    let first = b.ins().iconst(I64, 0);
    emit_fused(b, &k, first, n);
}
