//! Single-precision matrix products for generated code: C (m×n, row-major, contiguous) = A (m×k) ·
//! B (k×n), with A and B read through any strides (that is how transposed operands are passed).
//!
//! On x86-64 with AVX2 and FMA (and AVX-512 for products large enough to pay for the slower
//! clock it brings), a product runs the BLIS loop structure over a register-blocked micro-kernel:
//! B is packed a cache block at a time into panels `NR` columns wide that stay in L1, and the
//! kernel keeps an `MR`×`NR` tile of C in vector registers for a whole block of k. The kernel
//! broadcasts A's elements from A itself when its rows are contiguous and their stride is not a
//! multiple of 1 KiB (a block of `MC` rows stays in L2): at the widths of these models, packing
//! such an A cost as much as a tenth of a step. Otherwise A is packed into panels of `MR` rows:
//! rows 1 KiB apart or more compete for the same few sets of L1 (measured: a 256×2048×2048
//! product ran at two thirds of the packed speed), and a transposed A (a weight gradient's Xᵀ)
//! has its columns a whole row of X apart. The packing buffers are thread-local and reused, so
//! after the first product of its size a product allocates nothing (`matrixmultiply`, used before
//! for every product, allocated its buffers on every call: a fifth of every step). A product with
//! one column (a layer with one output) is a matrix–vector product with its own loop, since a
//! panel would be nearly all padding.
//!
//! The largest products, and those whose A is transposed from a middling size, go to
//! `matrixmultiply`, which measured faster there (`OWN_MACS`); so does every product on other
//! targets. A product large enough to pay for a second thread is split over the cores along m or
//! n; every element of C is still summed over k in the same order, so results do not depend on
//! the number of threads.

use std::cell::RefCell;

use super::fpmode::Flushing;
use super::small;

/// Rows of A per cache block (a multiple of every kernel's `MR`, the rows of its tile): the block
/// stays in L2 while B's panels pass.
const MC: usize = 96;
/// Columns of B packed per cache block.
const NC: usize = 512;
/// Floats in one packed panel of B (`KC`·`NR`): 16 KiB, half of the smallest L1 data cache.
const B_PANEL: usize = 4096;

/// Multiply-adds below which a product stays on the calling thread: a split costs a few
/// microseconds of hand-off, which a product this size repays.
const SPLIT_MACS: usize = 1 << 21;

/// Multiply-adds from which a product whose A is transposed (a weight gradient, Xᵀ·G) goes to
/// `matrixmultiply`, and (`OWN_MACS`) from which any other does. Measured on an AVX-512 machine,
/// one thread, best of 15 interleaved rounds per shape of the reference models: the own kernel
/// ran 1.1–1.8× as fast as `matrixmultiply` on the plain and transposed-B products up to
/// 128×512×512, about 0.9× on the small transposed-A ones (kept here: it allocates nothing),
/// 0.6–0.9× on the transposed-A ones from 784×64×128 up and 0.75–1× at 256×2048×2048, where
/// `matrixmultiply`'s 16×16 kernel and vectorized packing of both operands do better.
const OWN_TRANSPOSED_A_MACS: usize = 1 << 21;
const OWN_MACS: usize = 1 << 26;

/// Multiply-adds from which a product uses the AVX-512 kernel where there is one. On Intel cores
/// 512-bit multiply-adds lower the clock for a while after them and cost a transition to start:
/// measured, the tiny model (all of whose products are far below this) trained 1.3–1.9× as fast
/// with its products on the AVX2 kernel, three runs each, alternating.
const WIDE_MACS: usize = 1 << 21;

const _: () = assert!(
    MC.is_multiple_of(6) && MC.is_multiple_of(8),
    "A's blocks are whole panels"
);

/// The micro-kernel: `kc` rank-one updates of an `MR`×`NR` tile, from the `MR` rows of A that
/// start at the given pointers (column stride `csa`) and a packed panel of B, stored into (or,
/// with `accumulate`, added to) the `rows`×`cols` corner of C at `c` with row stride `ldc`.
type Kernel<const MR: usize> =
    unsafe fn(usize, &[*const f32; MR], isize, *const f32, *mut f32, isize, usize, usize, bool);

thread_local! {
    /// Packed A and packed B, grown to the largest blocks this thread has needed.
    static PACKED: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The operands of one product (or of one thread's part of it).
#[derive(Clone, Copy)]
struct Operands {
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: *mut f32,
    ldc: isize,
}

// SAFETY: `Operands` only travels to the second thread of a split inside `split`, which joins it
// before returning; the two parts write disjoint rows or columns of C and only read A and B.
unsafe impl Send for Operands {}
// SAFETY: as above.
unsafe impl Sync for Operands {}

/// C = A·B, overwriting C. With m or n = 0 it touches nothing; with k = 0 it reads nothing of A
/// or B and clears C.
///
/// # Safety
/// m, k and n are at most `isize::MAX` (offsets are computed as `isize`). For every i < m and
/// j < n, `c + i·n + j` must be a writable float, whatever k is (k = 0 writes C too); for every
/// i < m, p < k and j < n, `a + i·rsa + p·csa` and `b + p·rsb + j·csb` must be readable floats.
/// C must not overlap A or B.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: *mut f32,
    threads: Threads,
) {
    if m == 0 || n == 0 {
        return;
    }
    let o = Operands {
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        c,
        ldc: n as isize,
    };
    let macs = m.saturating_mul(k).saturating_mul(n);
    #[cfg(target_arch = "x86_64")]
    if macs <= small::SMALL_MACS
        && k.saturating_mul(n) <= small::SMALL_B
        && std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
    {
        // SAFETY: the caller's contract, and k·n and the features just checked.
        unsafe {
            split::<16, 4>(
                m,
                k,
                n,
                o,
                &|m, k, n, o| {
                    small::product(m, k, n, o.a, o.rsa, o.csa, o.b, o.rsb, o.csb, o.c, o.ldc)
                },
                threads,
            )
        };
        return;
    }
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    let own = macs
        < if csa != 1 {
            OWN_TRANSPOSED_A_MACS
        } else {
            OWN_MACS
        };
    #[cfg(target_arch = "x86_64")]
    if own {
        if macs >= WIDE_MACS && std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the caller's contract; the kernel's instructions were just detected.
            unsafe {
                split::<32, 8>(
                    m,
                    k,
                    n,
                    o,
                    &|m, k, n, o| blocked::<32, 8>(m, k, n, o, x86::kernel_avx512),
                    threads,
                )
            };
            return;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            unsafe {
                split::<16, 6>(
                    m,
                    k,
                    n,
                    o,
                    &|m, k, n, o| blocked::<16, 6>(m, k, n, o, x86::kernel_avx2),
                    threads,
                )
            };
            return;
        }
    }
    // SAFETY: the caller's contract.
    unsafe {
        split::<16, 16>(
            m,
            k,
            n,
            o,
            &|m, k, n, o| with_matrixmultiply(m, k, n, o),
            threads,
        )
    }
}

/// What one thread runs on its part of a product. The closures behind it call the unsafe routines
/// above; `split` calls them only with parts of operands that satisfy `sgemm`'s contract (with
/// C's row stride `ldc`), which is what makes them sound to call.
type Serial<'a> = &'a (dyn Fn(usize, usize, usize, Operands) + Sync);

/// `matrixmultiply` on one thread (it detects AVX2 and AVX-512 itself); beta = 0 means C need not
/// be initialized.
///
/// # Safety
/// `sgemm`'s contract for `o`, with C's row stride `o.ldc`.
unsafe fn with_matrixmultiply(m: usize, k: usize, n: usize, o: Operands) {
    // SAFETY: the caller's contract is sgemm's.
    unsafe {
        matrixmultiply::sgemm(
            m, k, n, 1.0, o.a, o.rsa, o.csa, o.b, o.rsb, o.csb, 0.0, o.c, o.ldc, 1,
        )
    }
}

/// Which threads compute a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Threads {
    /// The caller alone, or, from `SPLIT_MACS` multiply-adds on, the caller and one thread of
    /// rayon's pool, each on a block of C (`kernels::matmul`, whose callers run no team).
    Pool,
    /// Part `index` of `count` threads of a team running the same code (`team`): each computes
    /// its own block of C and nothing else.
    Part { index: usize, count: usize },
}

/// The rows and columns of C that part `index` of `count` computes: whole panels of `NR` columns
/// when there are enough of them and C is at least as wide as tall (each part then packs only its
/// own columns of B), else whole panels of `MR` rows; a product too small to split is part 0's.
/// Every element is still summed in the same order, so the result does not depend on `count`.
fn block<const NR: usize, const MR: usize>(
    m: usize,
    n: usize,
    index: usize,
    count: usize,
) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let share = |len: usize, panel: usize| {
        let chunk = len.div_ceil(count * panel) * panel;
        let start = (index * chunk).min(len);
        start..(start + chunk).min(len)
    };
    if count <= 1 {
        return (index == 0).then_some((0..m, 0..n));
    }
    if n >= count * NR && n >= m {
        return Some((0..m, share(n, NR))).filter(|(_, c)| !c.is_empty());
    }
    if m >= count * MR {
        return Some((share(m, MR), 0..n)).filter(|(r, _)| !r.is_empty());
    }
    (index == 0).then_some((0..m, 0..n))
}

/// Runs `serial` on the block of C this thread computes (see `Threads`).
///
/// # Safety
/// `sgemm`'s contract for `o`, and `serial` must be safe to run on any block of it.
unsafe fn split<const NR: usize, const MR: usize>(
    m: usize,
    k: usize,
    n: usize,
    o: Operands,
    serial: Serial,
    threads: Threads,
) {
    // SAFETY: `block` gives rows and columns inside m and n, so each offset stays inside the
    // operands by the caller's contract, and different parts' blocks are disjoint.
    let run = |index: usize, count: usize| unsafe {
        // The operands as a whole (not field by field) are what crosses to another thread.
        let o: Operands = o;
        if let Some((rows, cols)) = block::<NR, MR>(m, n, index, count) {
            let part = Operands {
                a: o.a.offset(rows.start as isize * o.rsa),
                b: o.b.offset(cols.start as isize * o.csb),
                c: o.c
                    .offset(rows.start as isize * o.ldc + cols.start as isize),
                ..o
            };
            serial(rows.len(), k, cols.len(), part)
        }
    };
    match threads {
        Threads::Part { index, count } => run(index, count),
        Threads::Pool => {
            let large = m.saturating_mul(k).saturating_mul(n) >= SPLIT_MACS;
            if large && rayon::current_num_threads() >= 2 {
                // Either half may run on a worker thread (both do when the caller is not one of
                // the pool's), so each takes the floating-point mode compiled code runs in.
                rayon::join(
                    || {
                        let _flushing = Flushing::begin();
                        run(0, 2)
                    },
                    || {
                        let _flushing = Flushing::begin();
                        run(1, 2)
                    },
                );
            } else {
                run(0, 1)
            }
        }
    }
}

/// The BLIS loops on one thread: for each block of columns and of k, pack B; then, a block of
/// rows at a time, one kernel call per tile. The first block of k stores into C, the later
/// ones add to it, so every element is summed in the same order whatever the split.
///
/// # Safety
/// `sgemm`'s contract for `o` (with C's row stride `o.ldc`), and `kernel` must run here.
unsafe fn blocked<const NR: usize, const MR: usize>(
    m: usize,
    k: usize,
    n: usize,
    o: Operands,
    kernel: Kernel<MR>,
) {
    if k == 0 {
        for i in 0..m {
            // SAFETY: row i of C holds n writable floats.
            unsafe { std::ptr::write_bytes(o.c.offset(i as isize * o.ldc), 0, n) };
        }
        return;
    }
    if n == 1 {
        // SAFETY: the caller's contract.
        return unsafe { matrix_vector(m, k, o) };
    }
    let kc_max = B_PANEL / NR;
    // See the module comment: rows 256 floats apart or a multiple of it map to the same sets.
    let pack_a = o.csa != 1 || o.rsa % 256 == 0;
    PACKED.with(|packed| {
        let mut packed = packed.borrow_mut();
        let (a_packed, b_packed) = &mut *packed;
        if pack_a && a_packed.len() < kc_max * MC {
            a_packed.resize(kc_max * MC, 0.0);
        }
        // Sized for the widest block at once, so that a narrower first product does not make
        // a wider later one allocate again.
        let b_len = kc_max * n.min(NC).div_ceil(NR) * NR;
        if b_packed.len() < b_len {
            b_packed.resize(b_len, 0.0);
        }
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                // SAFETY: rows pc..pc + kc and columns jc..jc + nc of B lie inside it.
                let b = unsafe { o.b.offset(pc as isize * o.rsb + jc as isize * o.csb) };
                // SAFETY: as above; the buffer holds kc_max · nc rounded up to panels.
                unsafe { pack_b::<NR>(b_packed, kc, nc, b, o.rsb, o.csb) };
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    // SAFETY: rows ic..ic + mc and columns pc..pc + kc of A lie inside it.
                    let a = unsafe { o.a.offset(ic as isize * o.rsa + pc as isize * o.csa) };
                    if pack_a {
                        // SAFETY: as above; the buffer holds MC·kc floats.
                        unsafe { pack_a_block::<MR>(a_packed, kc, mc, a, o.rsa, o.csa) };
                    }
                    let csa = if pack_a { MR as isize } else { o.csa };
                    for jr in (0..nc).step_by(NR) {
                        for ir in (0..mc).step_by(MR) {
                            // Rows past the end of A read its last row again: the kernel
                            // computes a whole tile but stores only the rows inside C.
                            let a_rows = std::array::from_fn(|r| {
                                let i = (ir + r).min(mc - 1);
                                if pack_a {
                                    // SAFETY: row i % MR of panel i / MR, inside the buffer.
                                    unsafe { a_packed.as_ptr().add((i / MR) * MR * kc + i % MR) }
                                } else {
                                    // SAFETY: row ic + i < m of A, from column pc < k.
                                    unsafe { a.offset(i as isize * o.rsa) }
                                }
                            });
                            // SAFETY: the tile's corner lies inside C; the kernel writes only
                            // its `rows`×`cols` part, reads kc columns of A's rows from column
                            // pc and a whole packed (padded) panel of B.
                            unsafe {
                                kernel(
                                    kc,
                                    &a_rows,
                                    csa,
                                    b_packed.as_ptr().add(jr * kc),
                                    o.c.offset((ic + ir) as isize * o.ldc + (jc + jr) as isize),
                                    o.ldc,
                                    MR.min(mc - ir),
                                    NR.min(nc - jr),
                                    pc > 0,
                                )
                            };
                        }
                    }
                }
            }
        }
    });
}

/// B[0..kc, 0..nc] into panels of `NR` columns, each `kc` rows of `NR` floats, zero-padded.
///
/// # Safety
/// Every `b + p·rsb + j·csb` with p < kc, j < nc is readable; `dst` holds the panels.
unsafe fn pack_b<const NR: usize>(
    dst: &mut [f32],
    kc: usize,
    nc: usize,
    b: *const f32,
    rsb: isize,
    csb: isize,
) {
    for (panel, j0) in (0..nc).step_by(NR).enumerate() {
        let cols = NR.min(nc - j0);
        let out = &mut dst[panel * kc * NR..(panel + 1) * kc * NR];
        if csb == 1 && cols == NR {
            for (p, row) in out.chunks_exact_mut(NR).enumerate() {
                // SAFETY: NR consecutive floats of row p from column j0, inside B.
                let src = unsafe { b.offset(p as isize * rsb + j0 as isize) };
                // Eight floats at a time: a copy of that fixed size is two vector moves, where
                // a whole row's (128 bytes) or one of a length known only at run time is a call
                // of `memmove`, which took a tenth of the medium model's step.
                for (q, chunk) in row.chunks_exact_mut(8).enumerate() {
                    // SAFETY: floats 8q..8q + 8 <= NR of the row above.
                    let eight = unsafe { (src.add(8 * q) as *const [f32; 8]).read_unaligned() };
                    let chunk: &mut [f32; 8] = chunk.try_into().expect("invariant: chunks of 8");
                    *chunk = eight;
                }
            }
        } else if csb == 1 {
            for (p, row) in out.chunks_exact_mut(NR).enumerate() {
                // SAFETY: `cols` consecutive floats of row p from column j0, inside B.
                let src = unsafe {
                    std::slice::from_raw_parts(b.offset(p as isize * rsb + j0 as isize), cols)
                };
                row[..cols].copy_from_slice(src);
                row[cols..].fill(0.0);
            }
        } else {
            #[cfg(target_arch = "x86_64")]
            if rsb == 1 && cols == NR && std::is_x86_feature_detected!("avx2") {
                // SAFETY: NR columns from j0 of kc floats each, contiguous, inside B; AVX2 was
                // just detected.
                unsafe { x86::pack_transposed(out, kc, b.offset(j0 as isize * csb), csb) };
                continue;
            }
            // A transposed operand: walk each column of B, which is contiguous in memory.
            for j in 0..NR {
                for p in 0..kc {
                    out[p * NR + j] = if j < cols {
                        // SAFETY: row p < kc, column j0 + j < nc, inside B.
                        unsafe { *b.offset(p as isize * rsb + (j0 + j) as isize * csb) }
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// A[0..mc, 0..kc] into panels of `MR` rows, each `kc` columns of `MR` floats; an edge panel's
/// missing rows are left as they are (the kernel reads the panel's last row in their place).
///
/// # Safety
/// Every `a + i·rsa + p·csa` with i < mc, p < kc is readable; `dst` holds MC·kc floats.
unsafe fn pack_a_block<const MR: usize>(
    dst: &mut [f32],
    kc: usize,
    mc: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
) {
    for (panel, i0) in (0..mc).step_by(MR).enumerate() {
        let rows = MR.min(mc - i0);
        let out = &mut dst[panel * kc * MR..(panel + 1) * kc * MR];
        if rsa == 1 && rows == MR {
            // A transposed operand: each column of the panel is MR consecutive floats, and a
            // copy of a fixed size is a few moves, not a call.
            for (p, column) in out.chunks_exact_mut(MR).enumerate() {
                // SAFETY: MR consecutive floats of column p from row i0, inside A.
                let src =
                    unsafe { &*(a.offset(p as isize * csa + i0 as isize) as *const [f32; MR]) };
                let column: &mut [f32; MR] = column.try_into().expect("invariant: chunks of MR");
                *column = *src;
            }
        } else {
            for (p, column) in out.chunks_exact_mut(MR).enumerate() {
                for (r, x) in column.iter_mut().enumerate().take(rows) {
                    // SAFETY: row i0 + r < mc, column p < kc, inside A.
                    *x = unsafe { *a.offset((i0 + r) as isize * rsa + p as isize * csa) };
                }
            }
        }
    }
}

/// One column of C (a layer with one output): m dot products of length k. Contiguous rows of A
/// and a contiguous column of B are summed in eight interleaved partial sums over slices, which
/// compile to vector code; a transposed A (a weight gradient Xᵀ·g) is summed the other way
/// round, adding g's p-th element times X's p-th row to the whole column, so that it too reads
/// memory in order. Either way each element's order of summation is fixed by the shape.
///
/// # Safety
/// `sgemm`'s contract with n = 1.
unsafe fn matrix_vector(m: usize, k: usize, o: Operands) {
    if o.csa == 1 && o.rsb == 1 {
        // SAFETY: k floats of B's column, contiguous.
        let column = unsafe { std::slice::from_raw_parts(o.b, k) };
        for i in 0..m {
            // SAFETY: row i < m of A holds k contiguous floats.
            let row = unsafe { std::slice::from_raw_parts(o.a.offset(i as isize * o.rsa), k) };
            let mut part = [0f32; 8];
            let (rows, columns) = (row.chunks_exact(8), column.chunks_exact(8));
            let tail = rows.remainder().iter().zip(columns.remainder());
            for (r, c) in rows.zip(columns) {
                for l in 0..8 {
                    part[l] += r[l] * c[l];
                }
            }
            for (l, (r, c)) in tail.enumerate() {
                part[l] += r * c;
            }
            let sum = ((part[0] + part[4]) + (part[1] + part[5]))
                + ((part[2] + part[6]) + (part[3] + part[7]));
            // SAFETY: element i of C's only column.
            unsafe { *o.c.offset(i as isize * o.ldc) = sum };
        }
    } else if o.rsa == 1 && o.ldc == 1 {
        // SAFETY: C's column is m contiguous floats (row stride 1, as `sgemm` passes n = 1).
        let out = unsafe { std::slice::from_raw_parts_mut(o.c, m) };
        out.fill(0.0);
        for p in 0..k as isize {
            // SAFETY: column p < k of A holds m contiguous floats; B's p-th element.
            let (column, scale) = unsafe {
                (
                    std::slice::from_raw_parts(o.a.offset(p * o.csa), m),
                    *o.b.offset(p * o.rsb),
                )
            };
            for (c, a) in out.iter_mut().zip(column) {
                *c += scale * a;
            }
        }
    } else {
        for i in 0..m {
            // SAFETY: row i < m of A.
            let row = unsafe { o.a.offset(i as isize * o.rsa) };
            let mut sum = 0.0f32;
            for p in 0..k as isize {
                // SAFETY: p < k indexes inside row i of A and inside the column of B.
                sum += unsafe { *row.offset(p * o.csa) * *o.b.offset(p * o.rsb) };
            }
            // SAFETY: element i of C's only column.
            unsafe { *o.c.offset(i as isize * o.ldc) = sum };
        }
    }
}

/// The micro-kernels, one per vector width, written once as a macro.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    macro_rules! micro_kernel {
        ($name:ident, $feature:literal, $mr:literal, $vector:ty, $lanes:literal, $zero:ident, $load:ident,
         $store:ident, $splat:ident, $fma:ident, $add:ident, $partial:ident) => {
            /// One `MR`×(2·lanes) tile: two vectors of B and `MR` broadcasts of A per step of k.
            /// `MR` is as many rows as the registers hold: 6 with AVX2's sixteen (twelve
            /// accumulators), 8 with AVX-512's thirty-two, which also issues fewer instructions
            /// per multiply-add than 6 rows would.
            ///
            /// # Safety
            /// Each of `a_rows` has kc readable floats at stride `csa`, `b` holds kc·2·lanes
            /// packed floats; C's `rows`×`cols` corner at `c` with row stride `ldc` is writable;
            /// the CPU supports the enabled features.
            #[target_feature(enable = $feature)]
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn $name(
                kc: usize,
                a_rows: &[*const f32; $mr],
                csa: isize,
                b: *const f32,
                c: *mut f32,
                ldc: isize,
                rows: usize,
                cols: usize,
                accumulate: bool,
            ) {
                const NR: usize = 2 * $lanes;
                const MR: usize = $mr;
                let mut acc: [[$vector; 2]; MR] = [[$zero(); 2]; MR];
                let a_rows = *a_rows;
                // The tile of C is read (or written) only after the loop: fetch its rows now,
                // so that their misses overlap the loop instead of following it (a 256×2048×2048
                // product ran half again as fast with this).
                for r in 0..rows {
                    // Wrapping arithmetic: an edge tile's row may end before the last address.
                    let row = c.wrapping_offset(r as isize * ldc) as *const i8;
                    _mm_prefetch::<_MM_HINT_T0>(row);
                    _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(4 * NR - 1));
                    if 4 * NR > 64 {
                        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(64));
                    }
                }
                for p in 0..kc {
                    // SAFETY: step p of B's panel and column p of A's rows, inside them by the
                    // contract.
                    let (b0, b1) = unsafe { ($load(b.add(p * NR)), $load(b.add(p * NR + $lanes))) };
                    for (acc, row) in acc.iter_mut().zip(a_rows) {
                        // SAFETY: as above.
                        let ar = $splat(unsafe { *row.offset(p as isize * csa) });
                        acc[0] = $fma(ar, b0, acc[0]);
                        acc[1] = $fma(ar, b1, acc[1]);
                    }
                }
                if rows == MR && cols == NR {
                    for (r, acc) in acc.iter().enumerate() {
                        // SAFETY: row r of the full tile lies inside C by the contract.
                        unsafe {
                            let cr = c.offset(r as isize * ldc);
                            let (mut v0, mut v1) = (acc[0], acc[1]);
                            if accumulate {
                                v0 = $add($load(cr), v0);
                                v1 = $add($load(cr.add($lanes)), v1);
                            }
                            $store(cr, v0);
                            $store(cr.add($lanes), v1);
                        }
                    }
                } else {
                    // An edge tile: masked stores write only the columns inside C (and masked
                    // loads read only those), without touching memory past its end.
                    for (r, acc) in acc.iter().enumerate().take(rows) {
                        // SAFETY: row r < rows, columns below `cols`, inside C by the contract.
                        unsafe {
                            $partial(c.offset(r as isize * ldc), acc[0], acc[1], cols, accumulate)
                        };
                    }
                }
            }
        };
    }

    micro_kernel!(
        kernel_avx2,
        "avx2,fma",
        6,
        __m256,
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        partial_row_avx2
    );
    micro_kernel!(
        kernel_avx512,
        "avx512f",
        8,
        __m512,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        partial_row_avx512
    );

    /// A panel of a transposed B: `out[p·NR + j] = b[j·csb + p]` for p < kc and j < NR, where
    /// each column j is kc contiguous floats. Blocks of 8×8 are loaded as eight vectors, one per
    /// column, transposed in registers and stored as eight rows of the panel: the scalar loop
    /// this replaces was an eighth of the medium model's step.
    ///
    /// # Safety
    /// `b + j·csb + p` is readable for every j < NR, p < kc; `out` holds kc·NR floats; AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn pack_transposed(out: &mut [f32], kc: usize, b: *const f32, csb: isize) {
        let nr = out.len() / kc.max(1);
        assert!(
            nr.is_multiple_of(8) && out.len() == kc * nr,
            "invariant: a panel is kc rows of a whole number of vectors"
        );
        let whole = kc - kc % 8;
        for p in (0..whole).step_by(8) {
            for jb in (0..nr).step_by(8) {
                // SAFETY: columns jb..jb + 8 < NR, rows p..p + 8 <= kc, inside B.
                let column = |r: usize| unsafe {
                    _mm256_loadu_ps(b.offset((jb + r) as isize * csb + p as isize))
                };
                let rows = transpose8([
                    column(0),
                    column(1),
                    column(2),
                    column(3),
                    column(4),
                    column(5),
                    column(6),
                    column(7),
                ]);
                for (q, row) in rows.into_iter().enumerate() {
                    let at = (p + q) * nr + jb;
                    // SAFETY: floats at..at + 8 lie inside row p + q of the panel.
                    unsafe { _mm256_storeu_ps(out[at..at + 8].as_mut_ptr(), row) };
                }
            }
        }
        for p in whole..kc {
            for j in 0..nr {
                // SAFETY: column j < NR, row p < kc, inside B.
                out[p * nr + j] = unsafe { *b.offset(j as isize * csb + p as isize) };
            }
        }
    }

    /// The transpose of an 8×8 block held as eight row vectors: element r of result q is element
    /// q of row r.
    #[target_feature(enable = "avx2")]
    fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ]
    }

    /// The first `cols` (< 16) of a row of a tile, stored to (or added to) C.
    ///
    /// # Safety
    /// `cols` floats at `c` are writable; the CPU has AVX2.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn partial_row_avx2(c: *mut f32, v0: __m256, v1: __m256, cols: usize, add: bool) {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols as i32), lane);
        let m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols as i32 - 8), lane);
        // SAFETY: the masks select the first `cols` floats, inside C by the contract; masked-off
        // lanes are neither read nor written.
        unsafe {
            let c1 = c.add(8);
            let (mut v0, mut v1) = (v0, v1);
            if add {
                v0 = _mm256_add_ps(_mm256_maskload_ps(c, m0), v0);
                v1 = _mm256_add_ps(_mm256_maskload_ps(c1, m1), v1);
            }
            _mm256_maskstore_ps(c, m0, v0);
            _mm256_maskstore_ps(c1, m1, v1);
        }
    }

    /// The first `cols` (< 32) of a row of a tile, stored to (or added to) C.
    ///
    /// # Safety
    /// `cols` floats at `c` are writable; the CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn partial_row_avx512(c: *mut f32, v0: __m512, v1: __m512, cols: usize, add: bool) {
        let bits = |n: usize| ((1u32 << n.min(16)) - 1) as __mmask16;
        let (m0, m1) = (bits(cols), bits(cols.saturating_sub(16)));
        // SAFETY: as in `partial_row_avx2`.
        unsafe {
            let c1 = c.add(16);
            let (mut v0, mut v1) = (v0, v1);
            if add {
                v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c), v0);
                v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c1), v1);
            }
            _mm512_mask_storeu_ps(c, m0, v0);
            _mm512_mask_storeu_ps(c1, m1, v1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product in f64, summed in order, for comparison.
    fn reference(
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        sa: (usize, usize),
        b: &[f32],
        sb: (usize, usize),
    ) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|p| f64::from(a[i * sa.0 + p * sa.1]) * f64::from(b[p * sb.0 + j * sb.1]))
                    .sum();
            }
        }
        c
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 211) as f32 / 105.0 - 1.0)
            .collect()
    }

    /// Every layout (plain and transposed operands) at shapes that cover edge tiles, several
    /// blocks of k, rows and columns, a single column, an empty k and a split over threads.
    #[test]
    fn products_match_a_reference_in_every_layout() {
        // Every route a product can take on this machine: the dispatch, and each kernel alone.
        type Route = Box<dyn Fn(usize, usize, usize, Operands)>;
        let mut routes: Vec<(&str, Route)> = vec![(
            "sgemm",
            // SAFETY: the test passes operands that satisfy `sgemm`'s contract.
            Box::new(|m, k, n, o| unsafe {
                sgemm(
                    m,
                    k,
                    n,
                    o.a,
                    o.rsa,
                    o.csa,
                    o.b,
                    o.rsb,
                    o.csb,
                    o.c,
                    Threads::Pool,
                )
            }),
        )];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: as above; the kernel's features were just detected.
                let avx2 = |m, k, n, o| unsafe { blocked::<16, 6>(m, k, n, o, x86::kernel_avx2) };
                routes.push(("avx2", Box::new(avx2)));
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: as above.
                let avx512 =
                    |m, k, n, o| unsafe { blocked::<32, 8>(m, k, n, o, x86::kernel_avx512) };
                routes.push(("avx512", Box::new(avx512)));
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: as above, for the products whose B fits the small route's buffer (the
                // others are skipped below).
                let small = |m, k, n, o: Operands| unsafe {
                    small::product(m, k, n, o.a, o.rsa, o.csa, o.b, o.rsb, o.csb, o.c, o.ldc)
                };
                routes.push(("small", Box::new(small)));
            }
        }
        let shapes = [
            (1, 1, 1),
            (5, 3, 7),
            (6, 16, 32),
            (7, 300, 33),
            (32, 64, 1),
            (9, 13, 1),
            (13, 0, 9),
            (97, 513, 45),
            (200, 70, 2100),
            (130, 257, 64),
        ];
        for &(m, k, n) in &shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = values(m * k, 1);
                let b = values(k * n, 2);
                let sa = if ta { (1, m) } else { (k, 1) };
                let sb = if tb { (1, k) } else { (n, 1) };
                let want = reference(m, k, n, &a, sa, &b, sb);
                for (route, product) in &routes {
                    if *route == "small" && k * n > small::SMALL_B {
                        continue;
                    }
                    let mut c = vec![f32::NAN; m * n];
                    // A is m×k and B k×n through their strides, C m×n; all inside the vectors.
                    product(
                        m,
                        k,
                        n,
                        Operands {
                            a: a.as_ptr(),
                            rsa: sa.0 as isize,
                            csa: sa.1 as isize,
                            b: b.as_ptr(),
                            rsb: sb.0 as isize,
                            csb: sb.1 as isize,
                            c: c.as_mut_ptr(),
                            ldc: n as isize,
                        },
                    );
                    for (idx, (&got, &want)) in c.iter().zip(&want).enumerate() {
                        let err = (f64::from(got) - want).abs();
                        assert!(
                            err <= 1e-5 * (1.0 + k as f64),
                            "{route}: {m}×{k}×{n} (transposed {ta}, {tb}) element {idx}: \
                             {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// A matrix–vector product whose A is neither row- nor column-contiguous (every other
    /// column of a wider matrix) takes the general loop.
    #[test]
    fn strided_matrix_vector_products_are_right() {
        let (m, k) = (5, 7);
        let a = values(m * 2 * k, 5);
        let b = values(k, 6);
        let mut c = vec![f32::NAN; m];
        let o = Operands {
            a: a.as_ptr(),
            rsa: 2 * k as isize,
            csa: 2,
            b: b.as_ptr(),
            rsb: 1,
            csb: 1,
            c: c.as_mut_ptr(),
            ldc: 1,
        };
        // SAFETY: A is m×k at strides (2k, 2) inside m·2k floats, B k floats, C m floats.
        unsafe { matrix_vector(m, k, o) };
        let want = reference(m, k, 1, &a, (2 * k, 2), &b, (1, 1));
        for (got, want) in c.iter().zip(&want) {
            assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    /// A product split over two threads (rayon's, or the parts of a team, run here one after
    /// the other) equals, bit for bit, the same product on one thread.
    #[test]
    fn splitting_over_threads_changes_no_bit() {
        for &(m, k, n) in &[(300, 200, 100), (64, 600, 512), (7, 50, 9)] {
            let (a, b) = (values(m * k, 3), values(k * n, 4));
            let o = |c: &mut Vec<f32>| Operands {
                a: a.as_ptr(),
                rsa: k as isize,
                csa: 1,
                b: b.as_ptr(),
                rsb: n as isize,
                csb: 1,
                c: c.as_mut_ptr(),
                ldc: n as isize,
            };
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let serial = |m, k, n, o| {
                    // SAFETY: row-major blocks of the operands below, inside the vectors.
                    unsafe { blocked::<16, 6>(m, k, n, o, x86::kernel_avx2) }
                };
                let mut whole = vec![f32::NAN; m * n];
                serial(m, k, n, o(&mut whole));
                let mut splits = vec![Threads::Pool];
                splits.extend([2, 3].map(|count| Threads::Part { index: 0, count }));
                for threads in splits {
                    let mut parts = vec![f32::NAN; m * n];
                    let count = match threads {
                        Threads::Pool => 1,
                        Threads::Part { count, .. } => count,
                    };
                    for index in 0..count {
                        let threads = match threads {
                            Threads::Pool => Threads::Pool,
                            Threads::Part { count, .. } => Threads::Part { index, count },
                        };
                        // SAFETY: as above; each part writes its own block of C.
                        unsafe { split::<16, 6>(m, k, n, o(&mut parts), &serial, threads) };
                    }
                    assert!(
                        whole
                            .iter()
                            .zip(&parts)
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{m}×{k}×{n} split as {threads:?}"
                    );
                }
            }
        }
    }

    /// The blocks of a team's parts cover C once: disjoint, and together every element.
    #[test]
    fn the_parts_blocks_tile_c() {
        for (m, n) in [
            (1, 1),
            (5, 200),
            (200, 5),
            (64, 64),
            (6, 16),
            (97, 33),
            (2048, 10),
        ] {
            for count in 1..=4 {
                let mut owner = vec![None; m * n];
                for index in 0..count {
                    let Some((rows, cols)) = block::<16, 6>(m, n, index, count) else {
                        continue;
                    };
                    for i in rows {
                        for j in cols.clone() {
                            assert_eq!(owner[i * n + j], None, "{m}×{n} of {count}: overlap");
                            owner[i * n + j] = Some(index);
                        }
                    }
                }
                assert!(owner.iter().all(Option::is_some), "{m}×{n} of {count}");
            }
        }
    }
}
