//! The math kernels that generated code calls instead of emitting them: transcendental functions
//! (Cranelift has no `exp`, `log` or `tanh`), log-softmax along the last axis, and matrix products
//! through `gemm`. Each is an `extern "C"` function over a whole array, because a
//! call costs a few nanoseconds and must be paid per array, never per element. The table `SYMBOLS`
//! is what the JIT module registers; `Helper` names one entry and gives its signature.
//!
//! Safety: every pointer comes from the arena plan or an argument buffer whose length `call`
//! checked, and the generated code passes element counts derived from the same shapes.

use cranelift_codegen::ir::{types, AbiParam, Signature};

use super::team::Part;
use super::vmath;

/// The kernels generated code may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Helper {
    Exp,
    Expm1,
    Log,
    Sigmoid,
    Tanh,
    Softplus,
    NormalCdf,
    /// (x, y, rows, width)
    LogSoftmax,
    /// (part, a, b, c, m, k, n, rsa, csa, rsb, csb): this thread's block of C (`team::Part`).
    MatMul,
    /// (x, y, descriptor, batch): see `strided`.
    Broadcast,
    /// (x, y, descriptor, batch): see `strided`.
    SumTo,
    /// (x, y, rows, width, lo, hi): columns `lo..hi` of the sum of a matrix's rows.
    ColumnSums,
    /// (src, src_width, src_offset, dst, dst_width, dst_offset, rows, count): see `strided`.
    CopyColumns,
    /// (counter, y, n, key << 32 | site, rate's f64 bits): see `random`.
    DropoutMask,
    /// (counter, y, n, key << 32 | site, std's f64 bits): see `random`.
    NormalNoise,
    /// (part) -> 0, or 1 when another part aborted: the threads of a team wait for each other.
    Barrier,
}

impl Helper {
    pub fn symbol(self) -> &'static str {
        match self {
            Helper::Exp => "nnc_exp",
            Helper::Expm1 => "nnc_expm1",
            Helper::Log => "nnc_log",
            Helper::Sigmoid => "nnc_sigmoid",
            Helper::Tanh => "nnc_tanh",
            Helper::Softplus => "nnc_softplus",
            Helper::NormalCdf => "nnc_normal_cdf",
            Helper::LogSoftmax => "nnc_log_softmax",
            Helper::MatMul => "nnc_matmul",
            Helper::Broadcast => "nnc_broadcast",
            Helper::SumTo => "nnc_sum_to",
            Helper::ColumnSums => "nnc_column_sums",
            Helper::CopyColumns => "nnc_copy_columns",
            Helper::DropoutMask => "nnc_dropout_mask",
            Helper::NormalNoise => "nnc_normal_noise",
            Helper::Barrier => "nnc_barrier",
        }
    }

    /// All parameters are pointers or `i64` counts, which are both `I64` on 64-bit targets; only
    /// the barrier returns something (an `i32`).
    pub fn signature(self, template: Signature) -> Signature {
        let n = match self {
            Helper::Exp
            | Helper::Expm1
            | Helper::Log
            | Helper::Sigmoid
            | Helper::Tanh
            | Helper::Softplus
            | Helper::NormalCdf => 3,
            Helper::LogSoftmax | Helper::Broadcast | Helper::SumTo => 4,
            Helper::MatMul => 11,
            Helper::CopyColumns => 8,
            Helper::ColumnSums => 6,
            Helper::DropoutMask | Helper::NormalNoise => 5,
            Helper::Barrier => 1,
        };
        let mut sig = template;
        sig.params = vec![AbiParam::new(types::I64); n];
        sig.returns.clear();
        if self == Helper::Barrier {
            sig.returns.push(AbiParam::new(types::I32));
        }
        sig
    }
}

/// Every helper with its address, for `JITBuilder::symbol`.
pub(super) fn symbols() -> Vec<(&'static str, *const u8)> {
    vec![
        (Helper::Exp.symbol(), nnc_exp as *const u8),
        (Helper::Expm1.symbol(), nnc_expm1 as *const u8),
        (Helper::Log.symbol(), nnc_log as *const u8),
        (Helper::Sigmoid.symbol(), nnc_sigmoid as *const u8),
        (Helper::Tanh.symbol(), nnc_tanh as *const u8),
        (Helper::Softplus.symbol(), nnc_softplus as *const u8),
        (Helper::NormalCdf.symbol(), nnc_normal_cdf as *const u8),
        (Helper::LogSoftmax.symbol(), nnc_log_softmax as *const u8),
        (Helper::MatMul.symbol(), nnc_matmul as *const u8),
        (
            Helper::Broadcast.symbol(),
            super::strided::nnc_broadcast as *const u8,
        ),
        (
            Helper::SumTo.symbol(),
            super::strided::nnc_sum_to as *const u8,
        ),
        (
            Helper::ColumnSums.symbol(),
            super::columns::nnc_column_sums as *const u8,
        ),
        (
            Helper::CopyColumns.symbol(),
            super::strided::nnc_copy_columns as *const u8,
        ),
        (
            Helper::DropoutMask.symbol(),
            super::random::nnc_dropout_mask as *const u8,
        ),
        (
            Helper::NormalNoise.symbol(),
            super::random::nnc_normal_noise as *const u8,
        ),
        (
            Helper::Barrier.symbol(),
            super::team::nnc_barrier as *const u8,
        ),
    ]
}

/// Apply `g` element-wise from `x` into `y`; the two never overlap (the plan gives every result a
/// region disjoint from its operands).
unsafe fn map(x: *const f32, y: *mut f32, n: i64, g: impl Fn(f32) -> f32) {
    let n = n as usize;
    // SAFETY: see the module comment; both ranges hold `n` floats.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(x, n),
            std::slice::from_raw_parts_mut(y, n),
        )
    };
    vmath::map(x, y, g);
}

unsafe extern "C" fn nnc_exp(x: *const f32, y: *mut f32, n: i64) {
    // SAFETY: generated code passes `n` floats at `x` and room for `n` at `y` (module comment).
    unsafe { map(x, y, n, vmath::exp) }
}

unsafe extern "C" fn nnc_expm1(x: *const f32, y: *mut f32, n: i64) {
    // SAFETY: generated code passes `n` floats at `x` and room for `n` at `y` (module comment).
    unsafe { map(x, y, n, vmath::expm1) }
}

unsafe extern "C" fn nnc_log(x: *const f32, y: *mut f32, n: i64) {
    // SAFETY: generated code passes `n` floats at `x` and room for `n` at `y` (module comment).
    unsafe { map(x, y, n, vmath::ln) }
}

unsafe extern "C" fn nnc_sigmoid(x: *const f32, y: *mut f32, n: i64) {
    // SAFETY: generated code passes `n` floats at `x` and room for `n` at `y` (module comment).
    unsafe { map(x, y, n, vmath::sigmoid) }
}

unsafe extern "C" fn nnc_tanh(x: *const f32, y: *mut f32, n: i64) {
    // SAFETY: generated code passes `n` floats at `x` and room for `n` at `y` (module comment).
    unsafe { map(x, y, n, vmath::tanh) }
}

unsafe extern "C" fn nnc_softplus(x: *const f32, y: *mut f32, n: i64) {
    // SAFETY: generated code passes `n` floats at `x` and room for `n` at `y` (module comment).
    unsafe { map(x, y, n, vmath::softplus) }
}

unsafe extern "C" fn nnc_normal_cdf(x: *const f32, y: *mut f32, n: i64) {
    // SAFETY: generated code passes `n` floats at `x` and room for `n` at `y` (module comment).
    unsafe { map(x, y, n, vmath::normal_cdf) }
}

/// `rows` lanes of `width` contiguous floats each; every lane is shifted by its maximum before
/// exponentiating so the sum cannot overflow.
unsafe extern "C" fn nnc_log_softmax(x: *const f32, y: *mut f32, rows: i64, width: i64) {
    let (rows, width) = (rows as usize, width as usize);
    let n = rows * width;
    if n == 0 {
        return;
    }
    // SAFETY: see the module comment; both ranges hold `rows * width` floats.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(x, n),
            std::slice::from_raw_parts_mut(y, n),
        )
    };
    log_softmax(x, y, width);
}

/// The log-softmax of each lane of `width` floats of `x` into `y`; `width` is at least 1. Kept
/// apart from `nnc_log_softmax` so that `kernels` measures the same loop over slices. Rows are
/// taken in blocks, so that the exponentials and logarithms of many narrow rows (three classes)
/// are one vector loop each rather than a call per row: per row, the maximum m, then
/// exp(x − m) summed in order, then x − (m + ln s).
pub(super) fn log_softmax(x: &[f32], y: &mut [f32], width: usize) {
    const ROWS: usize = 64;
    let mut shift = [0.0f32; ROWS];
    let mut sums = [0.0f32; ROWS];
    for (xb, yb) in x.chunks(ROWS * width).zip(y.chunks_mut(ROWS * width)) {
        let rows = xb.len() / width;
        for ((xr, yr), m) in xb
            .chunks_exact(width)
            .zip(yb.chunks_exact_mut(width))
            .zip(&mut shift)
        {
            *m = xr.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            for (y, &x) in yr.iter_mut().zip(xr) {
                *y = x - *m;
            }
        }
        // The exponentials go through `y` so that they vectorize; each sum stays in order.
        vmath::map_in_place(yb, vmath::exp);
        for (yr, s) in yb.chunks_exact(width).zip(&mut sums) {
            *s = yr.iter().sum();
        }
        vmath::map_in_place(&mut sums[..rows], vmath::ln);
        for (((xr, yr), &m), &ls) in xb
            .chunks_exact(width)
            .zip(yb.chunks_exact_mut(width))
            .zip(&shift)
            .zip(&sums)
        {
            let lse = m + ls;
            for (y, &x) in yr.iter_mut().zip(xr) {
                *y = x - lse;
            }
        }
    }
}

/// This thread's block of C (m×n, row-major, contiguous) = A (m×k) · B (k×n), with A and B read
/// through arbitrary strides: that is how transposed operands are expressed, without copying
/// them. Each part of a team computes its own block (`gemm::Threads::Part`).
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn nnc_matmul(
    part: *const Part,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    m: i64,
    k: i64,
    n: i64,
    rsa: i64,
    csa: i64,
    rsb: i64,
    csb: i64,
) {
    // SAFETY: generated code passes the `Part` its entry point was given.
    let (index, count) = unsafe { ((*part).index as usize, (*part).count as usize) };
    // SAFETY: the strides and extents come from the operands' shapes (see `emit`), so every
    // element the product touches lies inside the buffers, and C is a separate region of the plan.
    unsafe {
        super::gemm::sgemm(
            m as usize,
            k as usize,
            n as usize,
            a,
            rsa as isize,
            csa as isize,
            b,
            rsb as isize,
            csb as isize,
            c,
            super::gemm::Threads::Part { index, count },
        )
    }
}
