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

/// A fused loop: inputs, operations in order, and which results are stored where.
#[derive(Debug, Default)]
pub(super) struct Fused {
    pub inputs: Vec<Input>,
    pub ops: Vec<(Kernel, Vec<Src>)>,
    /// (operation, destination byte address)
    pub stores: Vec<(usize, Value)>,
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

/// Run `k` over `n` elements (a runtime count). Every input is loaded and every store done
/// per chunk of the same index, which is what makes in-place updates safe (see `plan`).
pub(super) fn emit_fused(b: &mut FunctionBuilder, k: &Fused, n: Value) {
    let nbytes = b.ins().ishl_imm_s(n, 2);
    let vbytes = b.ins().band_imm_s(nbytes, !15i64);
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

    // Each loop carries the byte offset into the output and, with row inputs, the byte offset
    // into the current row, which wraps to 0 at the row's end (a compare and a select, where
    // `off mod row_bytes` would be a division per vector).
    let vhead = b.create_block();
    let voff = b.append_block_param(vhead, I64);
    let vroff = b.append_block_param(vhead, I64);
    let vbody = b.create_block();
    let shead = b.create_block();
    let soff = b.append_block_param(shead, I64);
    let sroff = b.append_block_param(shead, I64);
    let sbody = b.create_block();
    let exit = b.create_block();
    b.ins().jump(vhead, &[zero.into(), zero.into()]);

    for (head, off, roff, body, limit, ty, next) in [
        (vhead, voff, vroff, vbody, vbytes, F32X4, Some(shead)),
        (shead, soff, sroff, sbody, nbytes, F32, None),
    ] {
        b.switch_to_block(head);
        let more = b.ins().icmp(IntCC::UnsignedLessThan, off, limit);
        match next {
            Some(tail) => b
                .ins()
                .brif(more, body, NO_ARGS, tail, &[off.into(), roff.into()]),
            None => b.ins().brif(more, body, NO_ARGS, exit, NO_ARGS),
        };
        b.switch_to_block(body);
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
        let off2 = b.ins().iadd_imm_s(off, ty.bytes() as i64);
        let roff2 = match row_bytes {
            Some(row) => {
                let stepped = b.ins().iadd_imm_s(roff, ty.bytes() as i64);
                let end = b.ins().icmp_imm_s(IntCC::Equal, stepped, row);
                b.ins().select(end, zero, stepped)
            }
            None => roff,
        };
        b.ins().jump(head, &[off2.into(), roff2.into()]);
    }
    b.switch_to_block(exit);
}

/// `dst[i] = src[i]` for `i < n`.
pub(super) fn emit_copy(b: &mut FunctionBuilder, src: Value, dst: Value, n: Value) {
    let k = Fused {
        inputs: vec![Input::Stream(src)],
        ops: vec![(Kernel::Copy, vec![Src::Input(0)])],
        stores: vec![(0, dst)],
    };
    emit_fused(b, &k, n);
}
