//! Sums over the rows of a row-major matrix, per column: a bias gradient, or a training
//! statistic's per-unit count. The step calls one per such value, split by columns over a team.
//! Each column adds its rows in order from zero, so the result does not depend on the split, nor
//! on whether the vector path below or the plain loop ran: both do the same additions in the same
//! order, and so give the same bits.
//!
//! The vector path keeps up to eight vectors of column sums in registers over all rows (a
//! 64-unit layer's bias gradient is one pass over the matrix with no store until the end); the
//! plain loop reads and writes its running sums once per row, which measured four times slower
//! on a 32 × 64 matrix.

/// Columns `lo..hi` of the sum over the rows of a row-major `rows × width` matrix `x`, into
/// `y[lo..hi]`.
///
/// # Safety
/// `x` holds `rows · width` floats and `y` holds `width`: generated code passes a value of
/// `rows × width` floats (`rows` is the call's batch, which `call` checked against the arena
/// plan) and its sum of `width`.
pub(super) unsafe extern "C" fn nnc_column_sums(
    x: *const f32,
    y: *mut f32,
    rows: i64,
    width: i64,
    lo: i64,
    hi: i64,
) {
    let (rows, width, lo, hi) = (rows as usize, width as usize, lo as usize, hi as usize);
    assert!(
        lo <= hi && hi <= width,
        "invariant: a share of columns lies within the row ({lo}..{hi} of {width})"
    );
    let len = rows
        .checked_mul(width)
        .expect("invariant: a value's size fits in memory (the arena plan checked it)");
    // SAFETY: by the contract, `x` holds `rows · width` floats and `y` holds `width`.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(x, len),
            std::slice::from_raw_parts_mut(y, width),
        )
    };
    column_sums(x, y, width, lo..hi);
}

/// `y[c] = Σ_r x[r·width + c]` for the columns `c` in `columns`, rows added in order from zero.
fn column_sums(x: &[f32], y: &mut [f32], width: usize, columns: std::ops::Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx") {
        // SAFETY: the feature `x86::column_sums` is compiled for was just detected.
        unsafe { x86::column_sums(x, y, width, columns) };
        return;
    }
    plain(x, y, width, columns)
}

fn plain(x: &[f32], y: &mut [f32], width: usize, columns: std::ops::Range<usize>) {
    let y = &mut y[columns.clone()];
    y.fill(0.0);
    for row in x.chunks_exact(width.max(1)) {
        for (s, v) in y.iter_mut().zip(&row[columns.clone()]) {
            *s += v;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Vectors of eight columns whose sums stay in registers at once: eight accumulators and
    /// the loads that feed them fit in the sixteen registers of AVX.
    const MAX_VECTORS: usize = 8;

    #[target_feature(enable = "avx")]
    pub(super) fn column_sums(
        x: &[f32],
        y: &mut [f32],
        width: usize,
        columns: std::ops::Range<usize>,
    ) {
        let rows = x.len() / width.max(1);
        let mut c = columns.start;
        while columns.end - c >= 8 {
            let vectors = ((columns.end - c) / 8).min(MAX_VECTORS);
            match vectors {
                8 => block::<8>(x, y, width, rows, c),
                7 => block::<7>(x, y, width, rows, c),
                6 => block::<6>(x, y, width, rows, c),
                5 => block::<5>(x, y, width, rows, c),
                4 => block::<4>(x, y, width, rows, c),
                3 => block::<3>(x, y, width, rows, c),
                2 => block::<2>(x, y, width, rows, c),
                _ => block::<1>(x, y, width, rows, c),
            }
            c += 8 * vectors;
        }
        super::plain(x, y, width, c..columns.end);
    }

    /// Columns `c..c + 8·V`, their sums in `V` registers over all `rows`.
    #[target_feature(enable = "avx")]
    fn block<const V: usize>(x: &[f32], y: &mut [f32], width: usize, rows: usize, c: usize) {
        let mut acc = [_mm256_setzero_ps(); V];
        for r in 0..rows {
            let row = &x[r * width + c..][..8 * V];
            for (v, acc) in acc.iter_mut().enumerate() {
                let lanes: &[f32; 8] = row[8 * v..][..8].try_into().expect("invariant: 8 lanes");
                // SAFETY: `lanes` is eight floats; the load needs no alignment.
                *acc = _mm256_add_ps(*acc, unsafe { _mm256_loadu_ps(lanes.as_ptr()) });
            }
        }
        for (v, acc) in acc.iter().enumerate() {
            let out: &mut [f32; 8] = (&mut y[c + 8 * v..][..8])
                .try_into()
                .expect("invariant: 8 lanes");
            // SAFETY: `out` is eight floats; the store needs no alignment.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), *acc) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums that depend on the order of the additions: each column holds values of very
    /// different sizes, so adding its rows in another order (or as pairs) gives other bits.
    fn matrix(rows: usize, width: usize) -> Vec<f32> {
        (0..rows * width)
            .map(|i| {
                let (r, c) = (i / width, i % width);
                let size = [1e8f32, 1.0, -1e8, 3e-3][(r + c) % 4];
                size * (1.0 + (i % 7) as f32 / 7.0)
            })
            .collect()
    }

    fn row_order(x: &[f32], width: usize, columns: std::ops::Range<usize>) -> Vec<f32> {
        columns
            .map(|c| x.iter().skip(c).step_by(width).fold(0.0f32, |s, v| s + v))
            .collect()
    }

    #[test]
    fn every_split_of_the_columns_adds_the_rows_in_order() {
        for (rows, width) in [(32, 64), (7, 93), (1, 8), (5, 3), (0, 16), (33, 130)] {
            let x = matrix(rows, width);
            let whole = row_order(&x, width, 0..width);
            for (lo, hi) in [(0, width), (0, width / 2), (width / 2, width), (1, width)] {
                let mut y = vec![f32::NAN; width];
                column_sums(&x, &mut y, width, lo..hi);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&y[lo..hi]),
                    bits(&whole[lo..hi]),
                    "{rows}×{width} {lo}..{hi}"
                );
                assert!(
                    y[..lo].iter().chain(&y[hi..]).all(|v| v.is_nan()),
                    "outside written"
                );
            }
        }
    }

    #[test]
    fn the_plain_loop_gives_the_same_bits() {
        let (rows, width) = (19, 77);
        let x = matrix(rows, width);
        let (mut a, mut b) = (vec![0.0; width], vec![0.0; width]);
        column_sums(&x, &mut a, width, 0..width);
        plain(&x, &mut b, width, 0..width);
        assert_eq!(a, b);
    }
}
