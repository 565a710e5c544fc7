//! Code generation: compiles an `ir::Function` with Cranelift into one native entry point that
//! takes the batch size at run time, so a single compilation serves every batch up to
//! `max_batch`. Intermediates live in one arena owned by `CompiledFunction`, planned at compile
//! time (`plan`); runs of element-wise ops become fused, generated `F32X4` loops (`fuse`,
//! `elementwise`); transcendental functions, log-softmax, matrix products (`helpers`, with the
//! vectorizable math in `vmath`) and broadcasts (`strided`) are calls to Rust kernels over whole
//! arrays. `emit` walks the equations, `jit` owns the Cranelift target.
//!
//! This is the only module with `unsafe`: generated code does raw pointer arithmetic whose safety
//! rests on the shape checker, the arena plan and the length checks in `CompiledFunction::call`.
//! A failure here is an internal compiler error (`CodegenError`), never a user diagnostic.

mod elementwise;
mod emit;
mod fuse;
mod helpers;
mod jit;
mod plan;
mod strided;
mod vmath;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use cranelift_codegen::ir::UserFuncName;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};

use crate::ir::{self, Shape};

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
}

/// An internal compiler error: the IR was valid but code generation failed.
#[derive(Debug)]
pub struct CodegenError(pub String);

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "internal compiler error in code generation: {}", self.0)
    }
}

impl std::error::Error for CodegenError {}

/// Owns a JIT module and frees its code when dropped, also on the error paths of `compile`.
struct ModuleOwner(Option<JITModule>);

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

/// Native code for one `ir::Function`, with the arena it runs in.
pub struct CompiledFunction {
    /// Declared before `_module` so the pointer dies first (fields drop in order).
    entry: jit::EntryFn,
    _module: ModuleOwner,
    /// Read by the generated code through the last slot of `table`; never changed after
    /// compilation.
    descriptors: Vec<i64>,
    function: ir::Function,
    arena: Vec<f32>,
    /// Per-call scratch (argument pointers and lengths, then the arena's, then the descriptors'
    /// pointer), kept to avoid allocating on every call.
    table: Vec<*mut f32>,
    lens: Vec<i64>,
    outputs: Vec<Place>,
    max_batch: usize,
    last_batch: usize,
    clif: Option<String>,
    asm: Option<String>,
    compile_time: Duration,
    checked: bool,
}

// SAFETY: the raw pointers in `table` are scratch, rewritten from the caller's `&mut` borrows at
// the start of every call and unused outside it; `entry` points to code that is never written
// after compilation and is owned by the module, which is `Send` (asserted in `jit`). Calls take
// `&mut self`, so one function's arena is never used by two threads at once.
unsafe impl Send for CompiledFunction {}

/// Compile `f` (which must pass `ir::verify`) for batches of 1..=`max_batch` rows.
pub fn compile(
    f: &ir::Function,
    max_batch: usize,
    opts: &CodegenOptions,
) -> Result<CompiledFunction, CodegenError> {
    let start = Instant::now();
    if max_batch == 0 {
        return Err(CodegenError("max_batch must be at least 1".into()));
    }
    ir::verify(f).map_err(|e| CodegenError(format!("`{}` is not valid IR: {e}", f.name)))?;
    let plan = plan::plan(f, max_batch);

    let mut owner = ModuleOwner(Some(jit::new_module()?));
    let module = owner
        .0
        .as_mut()
        .expect("invariant: the module is present until drop");
    let sig = jit::entry_signature(module);
    let id = module
        .declare_function("nnc_entry", Linkage::Local, &sig)
        .map_err(|e| CodegenError(format!("declaring the entry point: {e}")))?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    let mut fctx = FunctionBuilderContext::new();
    let mut descriptors = Vec::new();
    {
        let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let mut lower = emit::Lowering::new(f, &plan, module, b, &mut descriptors, opts.checked);
        for step in &plan.steps {
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
        .map_err(|e| CodegenError(format!("Cranelift rejected `{}`: {e:?}", f.name)))?;
    let asm = if opts.emit_asm {
        ctx.compiled_code().and_then(|c| c.vcode.clone())
    } else {
        None
    };
    module
        .finalize_definitions()
        .map_err(|e| CodegenError(format!("finalizing `{}`: {e}", f.name)))?;
    let code = module.get_finalized_function(id);
    // SAFETY: `code` was compiled from `jit::entry_signature`, which is exactly `EntryFn`.
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
    let n = f.args.len() + 1;
    Ok(CompiledFunction {
        entry,
        _module: owner,
        descriptors,
        function: f.clone(),
        arena: vec![0.0; plan.arena_len],
        table: vec![std::ptr::null_mut(); n + 1],
        lens: vec![0; n],
        outputs,
        max_batch,
        last_batch: 0,
        clif,
        asm,
        compile_time: start.elapsed(),
        checked: opts.checked,
    })
}

impl CompiledFunction {
    /// Run the function once. `args` holds one buffer per `f.args` entry, in order: data
    /// arguments hold `batch * fixed_numel` floats (row-major), parameters and state their full
    /// size. Afterwards every update has been written back into its argument's buffer.
    pub fn call(&mut self, args: &mut [&mut [f32]], batch: usize) -> Result<(), CodegenError> {
        let f = &self.function;
        if args.len() != f.args.len() {
            return Err(CodegenError(format!(
                "`{}` takes {} argument buffers, got {}",
                f.name,
                f.args.len(),
                args.len()
            )));
        }
        if batch == 0 || batch > self.max_batch {
            return Err(CodegenError(format!(
                "batch size {batch} is outside 1..={} that `{}` was compiled for",
                self.max_batch, f.name
            )));
        }
        for (a, buf) in f.args.iter().zip(args.iter()) {
            let want = f.shape(a.value).numel(batch);
            if buf.len() != want {
                return Err(CodegenError(format!(
                    "argument `{}` of {} needs {want} floats at batch {batch}, got {}",
                    f.name_of(a.value),
                    f.shape(a.value),
                    buf.len()
                )));
            }
        }
        // SAFETY: every buffer has the length its shape needs at this batch, the arena was sized
        // by the plan for `max_batch >= batch`, and the generated code touches nothing else.
        let rc = unsafe { self.run(args, batch) };
        self.last_batch = batch;
        let f = &self.function;
        if rc != 0 {
            return Err(CodegenError(format!(
                "checked mode: a bounds check failed in {} of `{}`",
                emit::describe_failure(f, rc),
                f.name
            )));
        }
        Ok(())
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
        let p = self.outputs.iter().find(|p| p.name == name)?;
        Some(&self.arena[p.offset..p.offset + p.shape.numel(self.last_batch)])
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

    /// Whether the code was compiled with bounds checks (`CodegenOptions::checked`).
    pub fn is_checked(&self) -> bool {
        self.checked
    }

    /// Fill the buffer table and run the entry point.
    ///
    /// # Safety
    /// Unless the function was compiled in checked mode, `args` must match the function's
    /// arguments in number and length at `batch`, and `batch` must not exceed `max_batch`.
    unsafe fn run(&mut self, args: &mut [&mut [f32]], batch: usize) -> i32 {
        let n = args.len();
        for (i, buf) in args.iter_mut().enumerate() {
            self.table[i] = buf.as_mut_ptr();
            self.lens[i] = buf.len() as i64;
        }
        self.table[n] = self.arena.as_mut_ptr();
        self.lens[n] = self.arena.len() as i64;
        self.table[n + 1] = self.descriptors.as_ptr() as *mut f32;
        // SAFETY: the caller's promise, or the generated checks in checked mode.
        unsafe { (self.entry)(self.table.as_ptr(), self.lens.as_ptr(), batch as i64) }
    }

    /// Run the entry point with a batch that `call` would refuse, so tests can see checked
    /// mode catch what the plan does not cover.
    #[cfg(test)]
    fn call_unguarded(&mut self, args: &mut [&mut [f32]], batch: usize) -> i32 {
        assert!(
            self.checked,
            "invariant: only checked code may run unguarded"
        );
        // SAFETY: checked mode verifies every range before touching it.
        unsafe { self.run(args, batch) }
    }
}
