//! Lowering of one `ir::Function` into the body of the entry point: one kernel per step of the
//! plan, in definition order, reading and writing the places the plan chose; then the copies that
//! make outputs and updates visible. A fused run of element-wise equations becomes one generated
//! loop (`elementwise`), every other equation a helper call (`helpers`, `strided`). In checked
//! mode each kernel is preceded by range checks of every buffer it touches against the lengths
//! passed at run time.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{F32, I32, I64};
use cranelift_codegen::ir::{Block, BlockArg, FuncRef, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};

use super::elementwise::{emit_copy, emit_fused, mem, Fused, Input, Kernel, Src, NO_ARGS};
use super::fuse::{self, Spread, Step};
use super::helpers::Helper;
use super::plan::{Loc, Plan};
use super::{schedule, strided, team, CodegenError};
use crate::ir::{Dim, Equation, Function, Op, RandomSite, Shape, UnaryOp, ValueId};

pub(super) struct Lowering<'a, 'b> {
    pub f: &'a Function,
    pub plan: &'a Plan,
    pub module: &'a mut JITModule,
    pub b: FunctionBuilder<'b>,
    /// Descriptors for `strided`, concatenated; the generated code finds them through the last
    /// slot of the buffer table, so no address is baked into the code (and the CLIF text is the
    /// same on every run).
    pub descriptors: &'a mut Vec<i64>,
    pub checked: bool,
    /// Threads that run this code together (`team`), and this thread's index among them.
    parts: usize,
    part: Value,
    index: Value,
    bufs: Value,
    lens: Value,
    batch: Value,
    helpers: HashMap<Helper, FuncRef>,
    /// Returns its `i32` parameter: where failed checks go.
    fail: Block,
}

/// Error codes returned by the entry point in checked mode: the step starting at equation `i`
/// fails with `i + 1`; the final copies fail with `body.len() + 1`.
pub(super) fn describe_failure(f: &Function, code: i32) -> String {
    let i = (code - 1) as usize;
    match f.body.get(i) {
        Some(eq) => format!(
            "the kernel starting at equation {i} (defining `{}`)",
            f.name_of(eq.out)
        ),
        None => "the copies of outputs and updates at the end".to_string(),
    }
}

/// The extent of a concat or slice operand's last axis.
fn last_fixed(s: &Shape) -> usize {
    match s.0.last() {
        Some(Dim::Fixed(w)) => *w,
        _ => panic!("invariant: concat and slice operands have a fixed last axis (shape::infer)"),
    }
}

/// Elements per batch row of a value of a verified function, which the verifier bounds.
fn fixed_numel(s: &Shape) -> usize {
    s.fixed_numel()
        .expect("invariant: verified functions have no value with an overflowing size")
}

impl<'a, 'b> Lowering<'a, 'b> {
    pub fn new(
        f: &'a Function,
        plan: &'a Plan,
        module: &'a mut JITModule,
        mut b: FunctionBuilder<'b>,
        descriptors: &'a mut Vec<i64>,
        checked: bool,
        parts: usize,
    ) -> Self {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        let fail = b.create_block();
        b.append_block_param(fail, I32);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let index = if parts > 1 {
            let flags = MemFlagsData::trusted().with_readonly();
            b.ins().load(I64, flags, p[3], team::PART_INDEX_OFFSET)
        } else {
            b.ins().iconst(I64, 0)
        };
        Lowering {
            f,
            plan,
            module,
            b,
            descriptors,
            checked,
            parts,
            part: p[3],
            index,
            bufs: p[0],
            lens: p[1],
            batch: p[2],
            helpers: HashMap::new(),
            fail,
        }
    }

    /// The table of pointers is read per use rather than once at entry: a load from L1 is cheaper
    /// than keeping dozens of pointers live across the whole function.
    fn table_entry(&mut self, table: Value, slot: usize) -> Value {
        let flags = MemFlagsData::trusted().with_readonly();
        self.b.ins().load(I64, flags, table, (slot * 8) as i32)
    }

    fn ptr(&mut self, loc: Loc) -> Value {
        match loc {
            Loc::Arg(i) => self.table_entry(self.bufs, i),
            Loc::Arena { offset, .. } => {
                let arena = self.table_entry(self.bufs, self.f.args.len());
                self.b.ins().iadd_imm_s(arena, (offset * 4) as i64)
            }
            Loc::Register => panic!("invariant: values read from memory have a place in memory"),
        }
    }

    fn dim(&mut self, d: Dim) -> Value {
        match d {
            Dim::Batch => self.batch,
            Dim::Fixed(n) => self.b.ins().iconst(I64, n as i64),
        }
    }

    fn numel(&mut self, s: &Shape) -> Value {
        let fixed = fixed_numel(s) as i64;
        if s.has_batch() {
            self.b.ins().imul_imm_s(self.batch, fixed)
        } else {
            self.b.ins().iconst(I64, fixed)
        }
    }

    fn call(&mut self, h: Helper, args: &[Value]) -> Result<(), CodegenError> {
        self.call_returning(h, args).map(|_| ())
    }

    /// A helper call; its results (the barrier's code).
    fn call_returning(&mut self, h: Helper, args: &[Value]) -> Result<Vec<Value>, CodegenError> {
        let fref = match self.helpers.get(&h) {
            Some(r) => *r,
            None => {
                let sig = h.signature(self.module.make_signature());
                let id = self
                    .module
                    .declare_function(h.symbol(), Linkage::Import, &sig)
                    .map_err(|e| {
                        CodegenError::Internal(format!("declaring helper {}: {e}", h.symbol()))
                    })?;
                let r = self.module.declare_func_in_func(id, self.b.func);
                self.helpers.insert(h, r);
                r
            }
        };
        let call = self.b.ins().call(fref, args);
        Ok(self.b.inst_results(call).to_vec())
    }

    /// The size and the number of the blocks of a loop over `n` elements of a value of `shape`
    /// (`schedule::blocks`, computed at run time).
    fn blocks(&mut self, n: Value, shape: &Shape) -> (Value, Value) {
        let g = schedule::granularity(shape) as i64;
        let per_round = schedule::BLOCKS as i64 * g;
        let padded = self.b.ins().iadd_imm_s(n, per_round - 1);
        let rounds = self.b.ins().udiv_imm_s(padded, per_round);
        let size = self.b.ins().imul_imm_s(rounds, g);
        let least = self.b.ins().iconst(I64, schedule::min_block(shape) as i64);
        let size = self.b.ins().umax(size, least);
        let padded = self.b.ins().iadd(n, size);
        let padded = self.b.ins().iadd_imm_s(padded, -1);
        let count = self.b.ins().udiv(padded, size);
        (size, count)
    }

    /// This thread's blocks of a loop over `n` elements of `shape`: their size, and the first
    /// block and the one after its last. One thread has them all; a team deals them out in
    /// contiguous runs, `count · part / parts` up to `count · (part + 1) / parts`.
    fn my_blocks(&mut self, n: Value, shape: &Shape) -> (Value, Value, Value) {
        let (size, count) = self.blocks(n, shape);
        if self.parts <= 1 {
            let zero = self.b.ins().iconst(I64, 0);
            return (size, zero, count);
        }
        let before = self.b.ins().imul(self.index, count);
        let first = self.b.ins().udiv_imm_s(before, self.parts as i64);
        let through = self.b.ins().iadd(before, count);
        let last = self.b.ins().udiv_imm_s(through, self.parts as i64);
        (size, first, last)
    }

    /// This thread's share of `n` elements of a value of `shape`: its first element and how
    /// many (its blocks, `my_blocks`); all of them with one thread.
    fn share(&mut self, n: Value, shape: &Shape) -> (Value, Value) {
        if self.parts <= 1 {
            return (self.b.ins().iconst(I64, 0), n);
        }
        let (size, first, last) = self.my_blocks(n, shape);
        let lo = self.b.ins().imul(first, size);
        let lo = self.b.ins().umin(lo, n);
        let hi = self.b.ins().imul(last, size);
        let hi = self.b.ins().umin(hi, n);
        let len = self.b.ins().isub(hi, lo);
        (lo, len)
    }

    /// `p` advanced by `elements` floats.
    fn advance(&mut self, p: Value, elements: Value) -> Value {
        let bytes = self.b.ins().ishl_imm_s(elements, 2);
        self.b.ins().iadd(p, bytes)
    }

    /// Wait for the other threads of the team; leave with `team::ABORTED` if one failed.
    pub fn barrier(&mut self) -> Result<(), CodegenError> {
        let code = self.call_returning(Helper::Barrier, &[self.part])?[0];
        let ok = self.b.create_block();
        let aborted = self.b.ins().iconst(I32, team::ABORTED as i64);
        self.b
            .ins()
            .brif(code, self.fail, &[aborted.into()], ok, NO_ARGS);
        self.b.switch_to_block(ok);
        Ok(())
    }

    /// Emit `body` so that only part 0 runs it (everything with one thread).
    fn on_part_zero(
        &mut self,
        body: impl FnOnce(&mut Self) -> Result<(), CodegenError>,
    ) -> Result<(), CodegenError> {
        if self.parts <= 1 {
            return body(self);
        }
        let (then, after) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(self.index, after, NO_ARGS, then, NO_ARGS);
        self.b.switch_to_block(then);
        body(self)?;
        self.b.ins().jump(after, NO_ARGS);
        self.b.switch_to_block(after);
        Ok(())
    }

    /// In checked mode: fail with `code` unless `v`'s extent at this batch fits where it lives.
    fn check(&mut self, code: i32, loc: Loc, shape: &Shape) {
        if !self.checked {
            return;
        }
        let need = self.numel(shape);
        let bad = match loc {
            Loc::Arg(i) => {
                let len = self.table_entry(self.lens, i);
                self.b.ins().icmp(IntCC::UnsignedGreaterThan, need, len)
            }
            Loc::Arena { offset, reserved } => {
                let over =
                    self.b
                        .ins()
                        .icmp_imm_s(IntCC::UnsignedGreaterThan, need, reserved as i64);
                let len = self.table_entry(self.lens, self.f.args.len());
                let end = self.b.ins().iadd_imm_s(need, offset as i64);
                let past = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
                self.b.ins().bor(over, past)
            }
            Loc::Register => return,
        };
        let ok = self.b.create_block();
        let code = self.b.ins().iconst(I32, code as i64);
        self.b
            .ins()
            .brif(bad, self.fail, &[code.into()], ok, NO_ARGS);
        self.b.switch_to_block(ok);
    }

    fn descriptor(&mut self, big: &Shape, small: &Shape) -> Result<Value, CodegenError> {
        let d = strided::descriptor(big, small).map_err(CodegenError::Internal)?;
        let offset = self.descriptors.len();
        self.descriptors.extend(d);
        let base = self.table_entry(self.bufs, self.f.args.len() + 1);
        Ok(self.b.ins().iadd_imm_s(base, (offset * 8) as i64))
    }

    pub fn step(&mut self, step: &Step) -> Result<(), CodegenError> {
        match step {
            Step::Single(i) => {
                let f = self.f;
                self.single(*i, &f.body[*i])
            }
            Step::Fused(eqs) => {
                self.fused(eqs);
                Ok(())
            }
            Step::Combine(i) => {
                let i = *i;
                self.on_part_zero(|l| {
                    l.combine(i);
                    Ok(())
                })
            }
        }
    }

    /// A reduction's total from the partial sums its loop's blocks left after it, added in
    /// block order from 0: what one thread adds up as it goes (`fused`).
    fn combine(&mut self, i: usize) {
        let f = self.f;
        let eq = &f.body[i];
        let Op::SumTo(x) = eq.op else {
            panic!("invariant: only sums are combined (plan)")
        };
        let loc = self.plan.loc[eq.out.index()];
        self.check(i as i32 + 1, loc, f.shape(eq.out));
        let n = self.numel(f.shape(x));
        let (_, count) = self.blocks(n, f.shape(x));
        let total = self.ptr(loc);
        let head = self.b.create_block();
        let block = self.b.append_block_param(head, I64);
        let sum = self.b.append_block_param(head, F32);
        let body = self.b.create_block();
        let exit = self.b.create_block();
        let done = self.b.append_block_param(exit, F32);
        let zero = self.b.ins().iconst(I64, 0);
        let start = self.b.ins().f32const(0.0);
        self.b.ins().jump(head, &[zero.into(), start.into()]);
        self.b.switch_to_block(head);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, block, count);
        self.b.ins().brif(more, body, NO_ARGS, exit, &[sum.into()]);
        self.b.switch_to_block(body);
        let at = self.partial_address(total, block);
        let partial = self.b.ins().load(F32, mem(), at, 0);
        let sum2 = self.b.ins().fadd(sum, partial);
        let next = self.b.ins().iadd_imm_s(block, 1);
        self.b.ins().jump(head, &[next.into(), sum2.into()]);
        self.b.switch_to_block(exit);
        self.b.ins().store(mem(), done, total, 0);
    }

    /// Where block `block`'s partial sum of a reduction goes: after its total, one per block.
    fn partial_address(&mut self, total: Value, block: Value) -> Value {
        let bytes = self.b.ins().ishl_imm_s(block, 2);
        let at = self.b.ins().iadd(total, bytes);
        self.b.ins().iadd_imm_s(at, 4)
    }

    /// One fused loop; operands defined earlier in the run come from registers, the others are
    /// streams (same shape), splats (a broadcast single number, the batch size) or rows (a
    /// broadcast row, read again for every row of the output). A reduction in the run adds up
    /// its operand block by block (`schedule::blocks`): one thread adds the blocks' sums up as
    /// it goes, in a team each thread leaves its blocks' sums after the total for a
    /// `Step::Combine` to add up in the same order.
    fn fused(&mut self, eqs: &[usize]) {
        let f = self.f;
        let code = eqs[0] as i32 + 1;
        let shape = fuse::loop_shape(f, eqs);
        let n = self.numel(shape);
        let mut k = Fused::default();
        let mut defined: HashMap<ValueId, usize> = HashMap::new();
        // An operand read as a stream, or through a broadcast (`fuse::spread`), is one input.
        let mut external: HashMap<(ValueId, Option<Spread>), usize> = HashMap::new();
        // The reductions: equation and total's place.
        let mut totals: Vec<(usize, Loc)> = Vec::new();
        for &i in eqs {
            let eq = &f.body[i];
            let (kernel, operands, spread) = match &eq.op {
                Op::Const(c) => (Kernel::Const(*c), vec![], None),
                Op::BatchSize => {
                    let v = self.b.ins().fcvt_from_sint(F32, self.batch);
                    k.inputs.push(Input::Splat(v));
                    let src = Src::Input(k.inputs.len() - 1);
                    defined.insert(eq.out, k.ops.len());
                    k.ops.push((Kernel::Copy, vec![src]));
                    continue;
                }
                Op::Unary(u, x) => (Kernel::Unary(*u), vec![*x], None),
                Op::Binary(op, x, y) => (Kernel::Binary(*op), vec![*x, *y], None),
                Op::Select { condition, yes, no } => {
                    (Kernel::Select, vec![*condition, *yes, *no], None)
                }
                Op::Broadcast(x) => (
                    Kernel::Copy,
                    vec![*x],
                    Some(fuse::spread(f, *x, eq.out).expect(
                        "invariant: only broadcasts a loop can read are fused (fuse::fusible)",
                    )),
                ),
                Op::SumTo(x) if fuse::reduction(f, eq) => {
                    totals.push((i, self.plan.loc[eq.out.index()]));
                    (Kernel::Copy, vec![*x], None)
                }
                Op::MatMul { .. }
                | Op::SumTo(_)
                | Op::LogSoftmax(_)
                | Op::Concat { .. }
                | Op::Slice { .. }
                | Op::DropoutMask { .. }
                | Op::NormalNoise { .. }
                | Op::Vector(_) => {
                    panic!("invariant: only element-wise equations are fused (fuse::fusible)")
                }
            };
            let mut srcs = Vec::new();
            for x in operands {
                if let Some(&j) = defined.get(&x) {
                    srcs.push(Src::Op(j));
                    continue;
                }
                let n = k.inputs.len();
                let slot = *external.entry((x, spread)).or_insert(n);
                if slot == n {
                    let l = self.plan.loc[x.index()];
                    self.check(code, l, f.shape(x));
                    let p = self.ptr(l);
                    k.inputs.push(match spread {
                        Some(Spread::Splat) => Input::Splat(self.b.ins().load(F32, mem(), p, 0)),
                        Some(Spread::Row(width)) => Input::Row(p, 4 * width as i64),
                        None => Input::Stream(p),
                    });
                }
                srcs.push(Src::Input(slot));
            }
            if matches!(eq.op, Op::SumTo(_)) {
                k.sums.push(k.ops.len());
            } else {
                defined.insert(eq.out, k.ops.len());
            }
            k.ops.push((kernel, srcs));
        }
        for &i in eqs {
            let v = f.body[i].out;
            let l = self.plan.loc[v.index()];
            if l != Loc::Register {
                self.check(code, l, f.shape(v));
                if !matches!(f.body[i].op, Op::SumTo(_)) {
                    let p = self.ptr(l);
                    k.stores.push((defined[&v], p));
                }
            }
        }
        if totals.is_empty() {
            // This thread's elements (`schedule`); a row input needs no offset, since every
            // share starts at a row's start.
            let (lo, len) = self.share(n, shape);
            emit_fused(&mut self.b, &k, lo, len);
            return;
        }
        self.fused_blocks(&k, &totals, n, shape);
    }

    /// `k` over this thread's blocks, one after another, with the sums of `totals` (equation,
    /// place) added up over each block: one thread adds the blocks' sums as it goes and stores
    /// the totals; in a team each block's sum goes after its total (`partial_address`).
    fn fused_blocks(&mut self, k: &Fused, totals: &[(usize, Loc)], n: Value, shape: &Shape) {
        let alone = self.parts <= 1;
        let (size, first, last) = self.my_blocks(n, shape);
        let head = self.b.create_block();
        let block = self.b.append_block_param(head, I64);
        let kept = if alone { totals.len() } else { 0 };
        let running: Vec<Value> = (0..kept)
            .map(|_| self.b.append_block_param(head, F32))
            .collect();
        let body = self.b.create_block();
        let exit = self.b.create_block();
        let finished: Vec<Value> = running
            .iter()
            .map(|_| self.b.append_block_param(exit, F32))
            .collect();
        let zero = self.b.ins().f32const(0.0);
        let mut entry = vec![first.into()];
        entry.extend(running.iter().map(|_| BlockArg::from(zero)));
        self.b.ins().jump(head, &entry);

        self.b.switch_to_block(head);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, block, last);
        let done: Vec<BlockArg> = running.iter().map(|&v| v.into()).collect();
        self.b.ins().brif(more, body, NO_ARGS, exit, &done);

        self.b.switch_to_block(body);
        let lo = self.b.ins().imul(block, size);
        let end = self.b.ins().iadd(lo, size);
        let hi = self.b.ins().umin(end, n);
        let len = self.b.ins().isub(hi, lo);
        let sums = emit_fused(&mut self.b, k, lo, len);
        let mut next = vec![self.b.ins().iadd_imm_s(block, 1).into()];
        if alone {
            for (&acc, &s) in running.iter().zip(&sums) {
                next.push(self.b.ins().fadd(acc, s).into());
            }
        } else {
            for (&(_, loc), &s) in totals.iter().zip(&sums) {
                if loc != Loc::Register {
                    let total = self.ptr(loc);
                    let at = self.partial_address(total, block);
                    self.b.ins().store(mem(), s, at, 0);
                }
            }
        }
        self.b.ins().jump(head, &next);

        self.b.switch_to_block(exit);
        for (&(_, loc), &total) in totals.iter().zip(&finished) {
            if loc != Loc::Register {
                let p = self.ptr(loc);
                self.b.ins().store(mem(), total, p, 0);
            }
        }
    }

    /// A step that is one helper call (or the stores of a vector). Element-wise helpers and
    /// products share their work among the threads (`schedule`); every other kernel runs on
    /// part 0 alone.
    fn single(&mut self, i: usize, eq: &Equation) -> Result<(), CodegenError> {
        let shared = match &eq.op {
            Op::MatMul { .. } => true,
            Op::Unary(u, _) => !fuse::inline_unary(u),
            Op::SumTo(x) => column_sums(self.f.shape(*x), self.f.shape(eq.out)).is_some(),
            _ => false,
        };
        if shared {
            self.single_kernel(i, eq)
        } else {
            self.on_part_zero(|l| l.single_kernel(i, eq))
        }
    }

    fn single_kernel(&mut self, i: usize, eq: &Equation) -> Result<(), CodegenError> {
        let f = self.f;
        let out_shape = f.shape(eq.out);
        let code = i as i32 + 1;
        for v in eq.op.operands().into_iter().chain([eq.out]) {
            self.check(code, self.plan.loc[v.index()], f.shape(v));
        }
        let loc = |v: ValueId| self.plan.loc[v.index()];
        let (y_loc, x_locs): (Loc, Vec<Loc>) =
            (loc(eq.out), eq.op.operands().into_iter().map(loc).collect());
        let y = self.ptr(y_loc);
        let xs: Vec<Value> = x_locs.into_iter().map(|l| self.ptr(l)).collect();
        match &eq.op {
            Op::Const(_) | Op::BatchSize | Op::Binary(..) | Op::Select { .. } => {
                panic!("invariant: element-wise equations are lowered as fused loops")
            }
            Op::Vector(v) => {
                // A few constants (one per class): straight-line stores, no loop.
                for (i, c) in v.iter().enumerate() {
                    let c = self.b.ins().f32const(*c as f32);
                    let a = self.b.ins().iadd_imm_s(y, 4 * i as i64);
                    self.b.ins().store(mem(), c, a, 0);
                }
            }
            Op::Unary(u, _) => {
                let n = self.numel(out_shape);
                let helper = match u {
                    UnaryOp::Exp => Helper::Exp,
                    UnaryOp::Expm1 => Helper::Expm1,
                    UnaryOp::Log => Helper::Log,
                    UnaryOp::Sigmoid => Helper::Sigmoid,
                    UnaryOp::Tanh => Helper::Tanh,
                    UnaryOp::Softplus => Helper::Softplus,
                    UnaryOp::NormalCdf => Helper::NormalCdf,
                    UnaryOp::Neg
                    | UnaryOp::Sqrt
                    | UnaryOp::Relu
                    | UnaryOp::Heaviside
                    | UnaryOp::LeakyRelu { .. }
                    | UnaryOp::LeakySlope { .. }
                    | UnaryOp::Affine { .. }
                    | UnaryOp::Abs
                    | UnaryOp::Sign => {
                        panic!("invariant: inline unary ops are lowered as fused loops")
                    }
                };
                let (lo, len) = self.share(n, out_shape);
                let (x, y) = (self.advance(xs[0], lo), self.advance(y, lo));
                self.call(helper, &[x, y, len])?;
            }
            Op::MatMul {
                a,
                b,
                transpose_a,
                transpose_b,
            } => {
                let (sa, sb) = (f.shape(*a).0.clone(), f.shape(*b).0.clone());
                // Row-major storage: element (i, j) of a stored [r, c] matrix is at i*c + j, and
                // c is never the batch. A transposed operand just swaps the two strides.
                let cols = |d: Dim| match d {
                    Dim::Fixed(n) => n as i64,
                    Dim::Batch => {
                        panic!("invariant: the batch is never a matmul operand's last axis")
                    }
                };
                let (ca, cb) = (cols(sa[1]), cols(sb[1]));
                let (m, k, rsa, csa) = if *transpose_a {
                    (sa[1], sa[0], 1, ca)
                } else {
                    (sa[0], sa[1], ca, 1)
                };
                let (n, rsb, csb) = if *transpose_b {
                    (sb[0], 1, cb)
                } else {
                    (sb[1], cb, 1)
                };
                let (m, k, n) = (self.dim(m), self.dim(k), self.dim(n));
                let strides: Vec<Value> = [rsa, csa, rsb, csb]
                    .into_iter()
                    .map(|s| self.b.ins().iconst(I64, s))
                    .collect();
                let mut args = vec![self.part, xs[0], xs[1], y, m, k, n];
                args.extend(strides);
                self.call(Helper::MatMul, &args)?;
            }
            Op::Broadcast(x) => {
                let d = self.descriptor(out_shape, f.shape(*x))?;
                self.call(Helper::Broadcast, &[xs[0], y, d, self.batch])?;
            }
            Op::SumTo(x) => match column_sums(f.shape(*x), out_shape) {
                Some(width) => {
                    // This thread's columns: `width · part / parts` up to the next part's.
                    let w = width as i64;
                    let parts = self.parts.max(1) as i64;
                    let lo = self.b.ins().imul_imm_s(self.index, w);
                    let lo = self.b.ins().udiv_imm_s(lo, parts);
                    let next = self.b.ins().iadd_imm_s(self.index, 1);
                    let hi = self.b.ins().imul_imm_s(next, w);
                    let hi = self.b.ins().udiv_imm_s(hi, parts);
                    let width = self.b.ins().iconst(I64, w);
                    self.call(Helper::ColumnSums, &[xs[0], y, self.batch, width, lo, hi])?;
                }
                None => {
                    let d = self.descriptor(f.shape(*x), out_shape)?;
                    self.call(Helper::SumTo, &[xs[0], y, d, self.batch])?;
                }
            },
            Op::DropoutMask { rate, at, .. } => {
                let n = self.numel(out_shape);
                let (at, p) = self.random_constants(*at, *rate);
                self.call(Helper::DropoutMask, &[xs[0], y, n, at, p])?;
            }
            Op::NormalNoise { std, at, .. } => {
                let n = self.numel(out_shape);
                let (at, p) = self.random_constants(*at, *std);
                self.call(Helper::NormalNoise, &[xs[0], y, n, at, p])?;
            }
            Op::LogSoftmax(_) => {
                let (rows, width) = match out_shape.0.last() {
                    Some(Dim::Fixed(0)) => return Ok(()),
                    Some(Dim::Fixed(w)) => {
                        let rows = fixed_numel(out_shape) / w;
                        let rows = Shape(if out_shape.has_batch() {
                            vec![Dim::Batch, Dim::Fixed(rows)]
                        } else {
                            vec![Dim::Fixed(rows)]
                        });
                        (self.numel(&rows), self.b.ins().iconst(I64, *w as i64))
                    }
                    Some(Dim::Batch) => (self.b.ins().iconst(I64, 1), self.batch),
                    None => panic!("invariant: log_softmax operands have an axis (shape::infer)"),
                };
                self.call(Helper::LogSoftmax, &[xs[0], y, rows, width])?;
            }
            Op::Concat { a, b } => {
                let (wa, wb) = (last_fixed(f.shape(*a)), last_fixed(f.shape(*b)));
                let rows = self.rows(out_shape, wa + wb);
                let [wa, wb, wo, zero] =
                    [wa, wb, wa + wb, 0].map(|v| self.b.ins().iconst(I64, v as i64));
                self.call(
                    Helper::CopyColumns,
                    &[xs[0], wa, zero, y, wo, zero, rows, wa],
                )?;
                self.call(Helper::CopyColumns, &[xs[1], wb, zero, y, wo, wa, rows, wb])?;
            }
            Op::Slice { x, start, len } => {
                let w = last_fixed(f.shape(*x));
                let rows = self.rows(out_shape, *len);
                let [w, s, l, zero] =
                    [w, *start, *len, 0].map(|v| self.b.ins().iconst(I64, v as i64));
                self.call(Helper::CopyColumns, &[xs[0], w, s, y, l, zero, rows, l])?;
            }
        }
        Ok(())
    }

    /// The number of rows of `width` values in a value of `shape` at this call's batch.
    fn rows(&mut self, shape: &Shape, width: usize) -> Value {
        let per_batch = fixed_numel(shape) / width.max(1);
        let rows = Shape(if shape.has_batch() {
            vec![Dim::Batch, Dim::Fixed(per_batch)]
        } else {
            vec![Dim::Fixed(per_batch)]
        });
        self.numel(&rows)
    }

    /// A random op's site (key in the high 32 bits, site in the low ones) and its f64 parameter's
    /// bits, as the two `i64` constants its kernel takes (`codegen::random`).
    fn random_constants(&mut self, at: RandomSite, param: f64) -> (Value, Value) {
        let packed = (u64::from(at.key) << 32) | u64::from(at.site);
        (
            self.b.ins().iconst(I64, packed as i64),
            self.b.ins().iconst(I64, param.to_bits() as i64),
        )
    }

    /// Copy a value between places, each thread its share of the elements.
    fn copy(&mut self, code: i32, from: Loc, to: Loc, shape: &Shape) {
        self.check(code, from, shape);
        self.check(code, to, shape);
        let (src, dst, n) = (self.ptr(from), self.ptr(to), self.numel(shape));
        let (lo, len) = self.share(n, shape);
        let (src, dst) = (self.advance(src, lo), self.advance(dst, lo));
        emit_copy(&mut self.b, src, dst, len);
    }

    /// Snapshots first, so an output or update source that is an argument is read before any
    /// write-back; then every update not computed in place (see `plan`) is copied into its
    /// argument's buffer.
    pub fn finish(mut self) -> Result<(), CodegenError> {
        let f = self.f;
        let code = f.body.len() as i32 + 1;
        if self.parts > 1 && !self.plan.steps.is_empty() {
            // The copies read what any thread computed.
            self.barrier()?;
        }
        let late = self.plan.late_combines.clone();
        self.on_part_zero(|l| {
            late.into_iter().for_each(|i| l.combine(i));
            Ok(())
        })?;
        for s in self.plan.snapshots.clone() {
            let to = Loc::Arena {
                offset: s.offset,
                reserved: s.reserved,
            };
            self.copy(code, self.plan.loc[s.value.index()], to, f.shape(s.value));
        }
        for (u, &in_place) in f.updates.iter().zip(&self.plan.in_place) {
            if in_place || u.value == u.arg {
                continue;
            }
            let from = self.plan.final_loc(u.value);
            let to = self.plan.loc[u.arg.index()];
            self.copy(code, from, to, f.shape(u.arg));
        }
        let ok = self.b.ins().iconst(I32, 0);
        self.b.ins().return_(&[ok]);
        self.b.switch_to_block(self.fail);
        let code = self.b.block_params(self.fail)[0];
        self.b.ins().return_(&[code]);
        self.b.seal_all_blocks();
        let config = self.module.target_config();
        self.b.finalize(config);
        Ok(())
    }
}

/// The width of a sum over the rows of a `[batch, width]` value into `[width]` (a bias
/// gradient, a per-unit count): such a sum is split by columns over a team. `None` for any
/// other sum.
fn column_sums(x: &Shape, y: &Shape) -> Option<usize> {
    match (&x.0[..], &y.0[..]) {
        ([Dim::Batch, Dim::Fixed(w)], [Dim::Fixed(v)]) if w == v => Some(*w),
        _ => None,
    }
}
