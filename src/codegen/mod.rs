//! Code generation: compiles an `ir::Function` with Cranelift into one native entry point that
//! takes the batch size at run time, so a single compilation serves every batch up to
//! `max_batch`. Intermediates live in one arena owned by `CompiledFunction`, planned at compile
//! time (`plan`); runs of element-wise ops become fused, generated `F32X4` loops (`fuse`,
//! `elementwise`); transcendental functions, log-softmax, matrix products (`helpers`, with the
//! vectorizable math in `vmath` and the products in `gemm`) and broadcasts (`strided`) are calls
//! to Rust kernels over whole arrays. `emit` walks the equations, `jit` owns the Cranelift target,
//! `call` binds a caller's buffers and runs the entry point. `kernels` exposes the element-wise,
//! log-softmax and matrix-product kernels over slices, so that benchmarks can time them apart
//! from generated code.
//!
//! This is the only module with `unsafe` (the crate denies it elsewhere): generated code does raw
//! pointer arithmetic whose safety rests on the verifier (every value's size fits), the arena plan
//! (sized with checked arithmetic for `max_batch`) and the length checks in
//! `CompiledFunction::call`. No safe function here can make generated code touch memory outside
//! a buffer, whatever its arguments, and the safe kernels over slices (`kernels`) check every
//! size with checked arithmetic before forming a pointer. A failure is a `CodegenError`: an
//! internal compiler error, a size that does not fit in memory, or a call with buffers that do
//! not fit the function.

mod call;
#[allow(unsafe_code)]
mod columns;
mod elementwise;
mod emit;
#[allow(unsafe_code)]
mod fpmode;
mod fuse;
#[allow(unsafe_code)]
mod gemm;
#[allow(unsafe_code)]
mod helpers;
mod jit;
#[allow(unsafe_code)]
pub mod kernels;
mod plan;
#[allow(unsafe_code)]
mod random;
mod schedule;
#[allow(unsafe_code)]
mod small;
#[allow(unsafe_code)]
mod strided;
#[allow(unsafe_code)]
mod team;
#[allow(unsafe_code)]
mod vmath;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use cranelift_codegen::ir::UserFuncName;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};

use crate::ir::{self, ArgRole, Origin, Shape, ValueId, VerifiedFunction, MAX_ELEMENTS};

/// How to compile.
#[derive(Clone, Debug, Default)]
pub struct CodegenOptions {
    /// Keep the CLIF text of the entry point (before Cranelift's optimizations) for printing.
    pub emit_clif: bool,
    /// Keep the machine instructions of the entry point (x86-64 or AArch64 assembly as
    /// Cranelift prints it) for printing.
    pub emit_asm: bool,
    /// Precede every kernel with range checks of the buffers it reads and writes against the
    /// lengths passed at run time; a failed check makes `call` return an error instead of
    /// touching memory out of bounds.
    pub checked: bool,
    /// Threads that run each call together (`team`; 0 or 1: the calling thread alone).
    pub threads: usize,
}

/// Why a function could not be compiled or called.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// A value does not fit in memory at the batch size compiled for.
    #[error("`{value}` of {shape} at batch {batch} needs more than {MAX_ELEMENTS} floats")]
    TooLarge {
        value: String,
        shape: String,
        batch: usize,
        /// Where the value comes from in the model file, when it does.
        origin: Option<Origin>,
    },
    /// The memory for the function's intermediates could not be allocated.
    #[error("cannot allocate {bytes} bytes for the intermediate values of `{function}`")]
    OutOfMemory {
        function: String,
        bytes: usize,
        /// The largest intermediate value's origin, the likeliest thing to make smaller.
        origin: Option<Origin>,
    },
    /// The buffers or batch size given to `call` do not fit the function.
    #[error("{0}")]
    Arguments(String),
    /// Checked mode stopped a kernel that would have touched memory outside a buffer.
    #[error("checked mode: a bounds check failed in {location} of `{function}`")]
    BoundsCheck { function: String, location: String },
    /// Cranelift failed on valid IR: a bug in nnc.
    #[error("internal compiler error in code generation: {0}")]
    Internal(String),
}

/// Owns a JIT module and frees its code when dropped, also on the error paths of `compile`.
struct ModuleOwner(Option<JITModule>);

#[allow(unsafe_code)]
impl Drop for ModuleOwner {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            // SAFETY: the only pointer into this module's code is the entry point held next to
            // this owner, which is dropped with it and never handed out.
            unsafe { m.free_memory() };
        }
    }
}

struct Place {
    name: String,
    shape: Shape,
    /// Offset in the arena, in floats.
    offset: usize,
}

/// Which caller buffer an argument is bound to: its position among the persistent (parameter and
/// state) buffers or among the data buffers, and its size per batch row.
#[derive(Clone, Copy, Debug)]
struct Binding {
    persistent: bool,
    index: usize,
    row: usize,
    batched: bool,
}

/// An output of a compiled function, resolved once by name (`CompiledFunction::output_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputId(usize);

/// Native code for one `ir::Function`, with the arena it runs in.
pub struct CompiledFunction {
    /// Declared before `_module` so the pointer dies first (fields drop in order).
    entry: jit::EntryFn,
    _module: ModuleOwner,
    /// Read by the generated code through the last slot of `table`; never changed after
    /// compilation.
    descriptors: Vec<i64>,
    function: VerifiedFunction,
    arena: Vec<f32>,
    /// Per-call scratch (argument pointers and lengths, then the arena's, then the descriptors'
    /// pointer), kept to avoid allocating on every call.
    table: Vec<*mut f32>,
    lens: Vec<i64>,
    bindings: Vec<Binding>,
    persistent_count: usize,
    data_count: usize,
    outputs: Vec<Place>,
    max_batch: usize,
    last_batch: usize,
    clif: Option<String>,
    asm: Option<String>,
    compile_time: Duration,
    checked: bool,
    /// The threads that run each call with the caller, when compiled for more than one.
    team: Option<team::Team>,
}

// SAFETY: the raw pointers in `table` are scratch, rewritten from the caller's borrows at the
// start of every call and unused outside it; `entry` points to code that is never written
// after compilation and is owned by the module, which is `Send` (asserted in `jit`). Calls take
// `&mut self`, so one function's arena is never used by two threads at once.
#[allow(unsafe_code)]
unsafe impl Send for CompiledFunction {}

/// Every value's size at `max_batch`, checked against `MAX_ELEMENTS` before anything is planned.
fn check_sizes(f: &ir::Function, max_batch: usize) -> Result<(), CodegenError> {
    for (i, v) in f.values.iter().enumerate() {
        if v.shape.numel(max_batch).is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(too_large(f, ValueId(i as u32), max_batch));
        }
    }
    Ok(())
}

fn too_large(f: &ir::Function, v: ValueId, max_batch: usize) -> CodegenError {
    CodegenError::TooLarge {
        value: f.name_of(v).to_string(),
        shape: f.shape(v).to_string(),
        batch: max_batch,
        origin: f.origin(v).cloned(),
    }
}

/// `len` zeros, or `None` when the allocator refuses. Zeroed memory from the allocator is mapped
/// lazily by the system, so pages of a large arena that small batches never reach cost nothing.
#[allow(unsafe_code)]
fn zeroed_floats(len: usize) -> Option<Vec<f32>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<f32>(len).ok()?;
    // SAFETY: the layout has a non-zero size (len > 0).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<f32>();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of `len` f32s, which is the
    // layout a `Vec<f32>` of capacity `len` frees with; all-zero bits are the f32 0.0, so all
    // `len` elements are initialized.
    Some(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// The arena, zeroed, or `OutOfMemory` naming the largest intermediate's origin.
fn allocate_arena(
    f: &ir::Function,
    len: usize,
    max_batch: usize,
) -> Result<Vec<f32>, CodegenError> {
    let Some(arena) = zeroed_floats(len) else {
        let largest = f
            .body
            .iter()
            .max_by_key(|eq| f.shape(eq.out).numel(max_batch))
            .and_then(|eq| f.origin(eq.out).cloned());
        return Err(CodegenError::OutOfMemory {
            function: f.name.clone(),
            bytes: len.saturating_mul(std::mem::size_of::<f32>()),
            origin: largest,
        });
    };
    Ok(arena)
}

/// Multiply-adds of a call's matrix products (at its largest batch) from which it is run by a
/// team: below, the barriers between its steps and the traffic between the cores cost more than
/// a second thread gains. Measured on a 2-core EPYC (AVX-512), alternating, without the training
/// statistics: the regression benchmark's step (440 thousand) trained at 2.01 M samples/s on one
/// thread and 1.93 M on two; at batch 64 (880 thousand) 2.04 M and 1.99 M; at batch 128
/// (1.76 million) 2.14 M and 2.24 M; the tiny step (ten thousand) five times slower on two. The
/// statistics' extra loops and reductions only move the balance further toward one thread (the
/// regression step with them: 1.62 M on one thread, 1.35 M on two).
pub const SHARE_MACS: usize = 1 << 20;

/// How many of `cores` threads should run `f` at batches up to `max_batch`: all of them when its
/// products reach [`SHARE_MACS`] multiply-adds, else one.
pub fn threads_worth(f: &VerifiedFunction, max_batch: usize, cores: usize) -> usize {
    let extent = |d: &ir::Dim| match d {
        ir::Dim::Batch => max_batch,
        ir::Dim::Fixed(n) => *n,
    };
    let macs: usize = f
        .body
        .iter()
        .filter_map(|eq| match &eq.op {
            ir::Op::MatMul {
                a, b, transpose_a, ..
            } => {
                let (sa, sb) = (&f.shape(*a).0, &f.shape(*b).0);
                let (m, k) = match transpose_a {
                    false => (extent(&sa[0]), extent(&sa[1])),
                    true => (extent(&sa[1]), extent(&sa[0])),
                };
                let n = sb.iter().map(extent).product::<usize>() / k.max(1);
                Some(m.saturating_mul(k).saturating_mul(n))
            }
            _ => None,
        })
        .fold(0usize, usize::saturating_add);
    if macs >= SHARE_MACS {
        cores.max(1)
    } else {
        1
    }
}

/// Compile `f` for batches of 1..=`max_batch` rows.
pub fn compile(
    f: &VerifiedFunction,
    max_batch: usize,
    opts: &CodegenOptions,
) -> Result<CompiledFunction, CodegenError> {
    let start = Instant::now();
    if max_batch == 0 {
        return Err(CodegenError::Arguments(
            "max_batch must be at least 1".into(),
        ));
    }
    check_sizes(f, max_batch)?;
    let parts = opts.threads.max(1);
    let plan = plan::plan(f, max_batch, parts).map_err(|e| too_large(f, e.value, max_batch))?;
    let arena = allocate_arena(f, plan.arena_len, max_batch)?;

    let mut owner = ModuleOwner(Some(jit::new_module()?));
    let module = owner
        .0
        .as_mut()
        .expect("invariant: the module is present until drop");
    let sig = jit::entry_signature(module);
    let id = module
        .declare_function("nnc_entry", Linkage::Local, &sig)
        .map_err(|e| CodegenError::Internal(format!("declaring the entry point: {e}")))?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    let mut fctx = FunctionBuilderContext::new();
    let mut descriptors = Vec::new();
    {
        let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let mut lower =
            emit::Lowering::new(f, &plan, module, b, &mut descriptors, opts.checked, parts);
        for (s, step) in plan.steps.iter().enumerate() {
            if parts > 1 && s > 0 && plan.groups[s] != plan.groups[s - 1] {
                lower.barrier()?;
            }
            lower.step(step)?;
        }
        lower.finish()?;
    }
    let clif = opts.emit_clif.then(|| ctx.func.display().to_string());
    // Cranelift prints the machine instructions it emits (after register allocation) when asked
    // before compiling; no disassembler is involved.
    ctx.set_disasm(opts.emit_asm);
    module
        .define_function(id, &mut ctx)
        .map_err(|e| CodegenError::Internal(format!("Cranelift rejected `{}`: {e:?}", f.name)))?;
    let asm = if opts.emit_asm {
        ctx.compiled_code().and_then(|c| c.vcode.clone())
    } else {
        None
    };
    module
        .finalize_definitions()
        .map_err(|e| CodegenError::Internal(format!("finalizing `{}`: {e}", f.name)))?;
    let code = module.get_finalized_function(id);
    // SAFETY: `code` was compiled from `jit::entry_signature`, which is exactly `EntryFn`.
    #[allow(unsafe_code)]
    let entry = unsafe { std::mem::transmute::<*const u8, jit::EntryFn>(code) };

    let outputs = f
        .outputs
        .iter()
        .map(|o| match plan.final_loc(o.value) {
            plan::Loc::Arena { offset, .. } => Place {
                name: o.name.clone(),
                shape: f.shape(o.value).clone(),
                offset,
            },
            plan::Loc::Arg(_) | plan::Loc::Register => {
                panic!("invariant: the plan keeps every output in the arena")
            }
        })
        .collect();
    let (mut persistent_count, mut data_count) = (0, 0);
    let bindings = f
        .args
        .iter()
        .map(|a| {
            let persistent = a.role != ArgRole::Data;
            let counter = if persistent {
                &mut persistent_count
            } else {
                &mut data_count
            };
            *counter += 1;
            let shape = f.shape(a.value);
            Binding {
                persistent,
                index: *counter - 1,
                row: shape
                    .fixed_numel()
                    .expect("invariant: verified values have sizes that fit"),
                batched: shape.has_batch(),
            }
        })
        .collect();
    let team =
        match parts {
            1 => None,
            _ => Some(team::Team::new(parts).map_err(|e| {
                CodegenError::Internal(format!("starting {} threads: {e}", parts - 1))
            })?),
        };
    let n = f.args.len() + 1;
    Ok(CompiledFunction {
        entry,
        _module: owner,
        descriptors,
        function: f.clone(),
        arena,
        table: vec![std::ptr::null_mut(); n + 1],
        lens: vec![0; n],
        bindings,
        persistent_count,
        data_count,
        outputs,
        max_batch,
        last_batch: 0,
        clif,
        asm,
        compile_time: start.elapsed(),
        checked: opts.checked,
        team,
    })
}

impl CompiledFunction {
    /// The handle of output `name`, to read it after each call without looking it up again.
    pub fn output_id(&self, name: &str) -> Option<OutputId> {
        self.outputs
            .iter()
            .position(|p| p.name == name)
            .map(OutputId)
    }

    /// The value of an output after the last call, `numel(batch)` floats long.
    pub fn output_at(&self, id: OutputId) -> &[f32] {
        let p = &self.outputs[id.0];
        let n = p
            .shape
            .numel(self.last_batch)
            .expect("invariant: outputs fit in the arena at every batch up to max_batch");
        &self.arena[p.offset..p.offset + n]
    }

    /// The value of the output `name` after the last call, `numel(batch)` floats long.
    ///
    /// Panics if `name` is not an output of the function (the caller names outputs it built).
    pub fn output(&self, name: &str) -> &[f32] {
        self.try_output(name).unwrap_or_else(|| {
            panic!(
                "invariant: `{name}` is an output of `{}`",
                self.function.name
            )
        })
    }

    /// Like `output`, but `None` for a name that is not an output.
    pub fn try_output(&self, name: &str) -> Option<&[f32]> {
        self.output_id(name).map(|id| self.output_at(id))
    }

    pub fn clif_text(&self) -> Option<&str> {
        self.clif.as_deref()
    }

    /// The machine instructions of the entry point, as Cranelift emitted them; `Some` when
    /// compiled with `emit_asm`.
    pub fn asm_text(&self) -> Option<&str> {
        self.asm.as_deref()
    }

    pub fn arena_bytes(&self) -> usize {
        self.arena.len() * std::mem::size_of::<f32>()
    }

    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The threads that run each call (`CodegenOptions::threads`).
    pub fn threads(&self) -> usize {
        self.team.as_ref().map_or(1, team::Team::parts)
    }

    /// Whether the code was compiled with bounds checks (`CodegenOptions::checked`).
    pub fn is_checked(&self) -> bool {
        self.checked
    }
}
