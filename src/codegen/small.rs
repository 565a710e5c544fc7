//! Matrix products too small for packing to pay (the layers of the tiny and regression models:
//! 16×4×16, 32×64×64, ...). The blocked routine in `gemm` copies B into panels and looks up its
//! thread's buffers before the first multiply-add; at these sizes that costs as much as the
//! product. Here tiles of 4 rows by 16 columns of C are computed straight from A and B through
//! their strides: B's rows are read where they are when they are contiguous, and otherwise (a
//! transposed B) copied once into a buffer on the stack. Each element of C is the sum over k in
//! order, one fused multiply-add per term from zero, as the blocked routine sums a block of k.

#[cfg(target_arch = "x86_64")]
pub(super) use x86::product;

/// Products of at most this many multiply-adds, with B of at most `SMALL_B` floats, take this
/// route where the CPU has AVX2 and FMA.
pub(super) const SMALL_MACS: usize = 1 << 17;
pub(super) const SMALL_B: usize = 1 << 14;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Rows of a tile: four rows by two vectors are eight accumulators, leaving registers for
    /// B's two vectors and A's broadcast.
    const R: usize = 4;
    /// Columns of a tile: two vectors of eight.
    const W: usize = 16;

    /// A mask of the first `n` (at most 8) lanes, for loads and stores at a tile's edge.
    #[inline(always)]
    unsafe fn mask(n: usize) -> __m256i {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lanes)
    }

    /// One tile of `ROWS` (≤ R) rows and `cols` (≤ W) columns of C, element (i, j) the sum over
    /// p of `a[i·rsa + p·csa] · b[p·ldb + j]`. The row count is a constant so that the
    /// accumulators stay in registers.
    ///
    /// # Safety
    /// Every element named lies inside its operand; AVX2 and FMA are present.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const ROWS: usize>(
        k: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        ldb: isize,
        c: *mut f32,
        ldc: isize,
        cols: usize,
    ) {
        let (m0, m1) = (mask(cols.min(8)), mask(cols.saturating_sub(8)));
        let full = cols == W;
        let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
        for p in 0..k {
            // SAFETY: row p of B, columns below `cols`, inside B by the contract (masked at the
            // edge, so nothing past its last column is read).
            let (b0, b1) = unsafe {
                let row = b.offset(p as isize * ldb);
                if full {
                    (_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8)))
                } else {
                    (
                        _mm256_maskload_ps(row, m0),
                        _mm256_maskload_ps(row.add(8), m1),
                    )
                }
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: element (r, p) of A, inside it by the contract.
                let ar = _mm256_set1_ps(unsafe { *a.offset(r as isize * rsa + p as isize * csa) });
                acc[0] = _mm256_fmadd_ps(ar, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(ar, b1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: row r of the tile, columns below `cols`, inside C by the contract.
            unsafe {
                let row = c.offset(r as isize * ldc);
                if full {
                    _mm256_storeu_ps(row, acc[0]);
                    _mm256_storeu_ps(row.add(8), acc[1]);
                } else {
                    _mm256_maskstore_ps(row, m0, acc[0]);
                    _mm256_maskstore_ps(row.add(8), m1, acc[1]);
                }
            }
        }
    }

    /// B (k×n through its strides) into `out`, row-major. A transposed B (`rsb` = 1: the
    /// transpose of an n×k row-major matrix, as a layer's weights in the input gradient G·Wᵀ) is
    /// transposed eight by eight in registers. Copied element by element, the regression model's
    /// input gradient (32×64×64) took 3.85 µs against 2.5 µs for its forward product of the same
    /// shape; now 3.4 µs.
    ///
    /// # Safety
    /// Every element (p, j) of B lies inside it; `out` holds k·n floats; AVX2 is present.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn copy_rows(k: usize, n: usize, b: *const f32, rsb: isize, csb: isize, out: *mut f32) {
        let element = |p: usize, j: usize| {
            // SAFETY: (p, j) inside B and p·n + j < k·n inside `out`, by the contract.
            unsafe { *out.add(p * n + j) = *b.offset(p as isize * rsb + j as isize * csb) }
        };
        let (k8, n8) = if rsb == 1 {
            (k / 8 * 8, n / 8 * 8)
        } else {
            (0, 0)
        };
        for j0 in (0..n8).step_by(8) {
            for p0 in (0..k8).step_by(8) {
                // SAFETY: rows j0..j0 + 8 of the transposed matrix, columns p0..p0 + 8: elements
                // (p0.., j0..) of B; their transposes land at rows p0.. of `out`, columns j0...
                unsafe {
                    let rows: [__m256; 8] = std::array::from_fn(|i| {
                        _mm256_loadu_ps(b.offset((j0 + i) as isize * csb + p0 as isize))
                    });
                    for (i, v) in transpose8(rows).into_iter().enumerate() {
                        _mm256_storeu_ps(out.add((p0 + i) * n + j0), v);
                    }
                }
            }
        }
        // What the 8×8 blocks leave: the last k mod 8 rows, and the last n mod 8 columns of the
        // others (every element when B is not a plain transpose).
        for p in 0..k {
            let first = if p < k8 { n8 } else { 0 };
            for j in first..n {
                element(p, j);
            }
        }
    }

    /// The transpose of eight rows of eight.
    #[target_feature(enable = "avx2,fma")]
    fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let s = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        [
            _mm256_permute2f128_ps::<0x20>(s[0], s[4]),
            _mm256_permute2f128_ps::<0x20>(s[1], s[5]),
            _mm256_permute2f128_ps::<0x20>(s[2], s[6]),
            _mm256_permute2f128_ps::<0x20>(s[3], s[7]),
            _mm256_permute2f128_ps::<0x31>(s[0], s[4]),
            _mm256_permute2f128_ps::<0x31>(s[1], s[5]),
            _mm256_permute2f128_ps::<0x31>(s[2], s[6]),
            _mm256_permute2f128_ps::<0x31>(s[3], s[7]),
        ]
    }

    /// C (m×n, row stride `ldc`) = A · B through their strides.
    ///
    /// # Safety
    /// `gemm::sgemm`'s contract (with C's row stride `ldc`), k·n ≤ `SMALL_B`, and AVX2 and FMA
    /// are present.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(in crate::codegen) unsafe fn product(
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
        ldc: isize,
    ) {
        if csb == 1 {
            // SAFETY: the caller's contract; B's rows are contiguous.
            unsafe { tiles(m, k, n, a, rsa, csa, b, rsb, c, ldc) };
        } else if k * n <= SMALL_COPY {
            // SAFETY: the caller's contract, and k·n fits the buffer.
            unsafe { copied::<SMALL_COPY>(m, k, n, a, rsa, csa, b, rsb, csb, c, ldc) };
        } else {
            // SAFETY: the caller's contract (k·n ≤ SMALL_B).
            unsafe { copied::<{ super::SMALL_B }>(m, k, n, a, rsa, csa, b, rsb, csb, c, ldc) };
        }
    }

    /// Floats of a transposed B that a product copies into a buffer of this size rather than of
    /// `SMALL_B`: a frame of more than a page makes the function touch each page of it first (a
    /// stack probe), and for the tiny model's products those 16 pages of the large buffer were a
    /// third of the product's own time, whether B was copied or not.
    const SMALL_COPY: usize = 512;

    /// `product` for a B whose rows are not contiguous: copied row-major into a buffer of `N`
    /// floats on the stack, then multiplied.
    ///
    /// # Safety
    /// `product`'s contract, and k·n ≤ N.
    #[target_feature(enable = "avx2,fma")]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn copied<const N: usize>(
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
        ldc: isize,
    ) {
        // Not zeroed: only the k·n floats written below are read.
        let mut copy = std::mem::MaybeUninit::<[f32; N]>::uninit();
        let out = copy.as_mut_ptr().cast::<f32>();
        // SAFETY: B's elements by the contract; k·n ≤ N floats of `out`.
        unsafe { copy_rows(k, n, b, rsb, csb, out) };
        // SAFETY: the copy holds B row-major, rows of n.
        unsafe { tiles(m, k, n, a, rsa, csa, out.cast_const(), n as isize, c, ldc) };
    }

    /// C = A · B for a B whose rows are contiguous (row stride `ldb`), tile by tile.
    ///
    /// # Safety
    /// `product`'s contract, with B's column stride 1.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tiles(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        ldb: isize,
        c: *mut f32,
        ldc: isize,
    ) {
        for i in (0..m).step_by(R) {
            for j in (0..n).step_by(W) {
                let (a, b) = (a.wrapping_offset(i as isize * rsa), b.wrapping_add(j));
                let c = c.wrapping_offset(i as isize * ldc + j as isize);
                let cols = (n - j).min(W);
                // SAFETY: rows i.. and columns j.. of the operands, within m and n.
                unsafe {
                    match (m - i).min(R) {
                        4 => tile::<4>(k, a, rsa, csa, b, ldb, c, ldc, cols),
                        3 => tile::<3>(k, a, rsa, csa, b, ldb, c, ldc, cols),
                        2 => tile::<2>(k, a, rsa, csa, b, ldb, c, ldc, cols),
                        _ => tile::<1>(k, a, rsa, csa, b, ldb, c, ldc, cols),
                    }
                };
            }
        }
    }
}
