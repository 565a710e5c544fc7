//! The Cranelift target and JIT module: ISA flags for the host, the helper symbols registered with
//! the module, and the signature of the one entry point. Every compiled function gets its own
//! module so that dropping it can free exactly its code.

use cranelift_codegen::ir::{types, AbiParam, Signature};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Module};

use super::{helpers, CodegenError};

/// `JITBuilder::new` would give opt_level none with the verifier on; this builds the host ISA
/// with the flags we want instead. The verifier costs about a third of compile time, so it runs
/// only in debug builds and in this crate's tests.
pub(super) fn new_module() -> Result<JITModule, CodegenError> {
    let mut flags = settings::builder();
    let verify = if cfg!(any(debug_assertions, test)) {
        "true"
    } else {
        "false"
    };
    for (name, value) in [
        ("opt_level", "speed"),
        ("enable_verifier", verify),
        ("use_colocated_libcalls", "false"),
        ("is_pic", "false"),
    ] {
        flags.set(name, value).map_err(|e| {
            CodegenError::Internal(format!("setting Cranelift flag {name}={value}: {e}"))
        })?;
    }
    let isa = cranelift_native::builder()
        .map_err(|e| {
            CodegenError::Internal(format!("this host is not supported by Cranelift: {e}"))
        })?
        .finish(settings::Flags::new(flags))
        .map_err(|e| CodegenError::Internal(format!("building the host ISA: {e}")))?;
    let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
    for (name, ptr) in helpers::symbols() {
        jb.symbol(name, ptr);
    }
    Ok(JITModule::new(jb))
}

/// `extern "C" fn(buffers: *const *mut f32, lens: *const i64, batch: i64, part: *const Part) ->
/// i32`: one pointer and one length (in floats) per argument, then the arena's, then (pointer
/// only) the strided descriptors; the part of the work this thread does (`team`); returns 0, or
/// in checked mode the code of the first failed bounds check.
pub(super) fn entry_signature(module: &JITModule) -> Signature {
    let mut sig = module.make_signature();
    let ptr = module.target_config().pointer_type();
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(ptr));
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

pub(super) type EntryFn =
    unsafe extern "C" fn(*const *mut f32, *const i64, i64, *const super::team::Part) -> i32;

/// `CompiledFunction` is `Send` on the strength of its module being `Send`; this stops the build
/// if a Cranelift upgrade changes that.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<JITModule>()
};
