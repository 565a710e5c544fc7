//! Broadcast and its adjoint SumTo, for any rank, as two helpers driven by a descriptor built at
//! compile time. Both walk the *larger* shape in row-major order; the descriptor holds that
//! shape's extents (`-1` for the batch dimension, resolved per call) and, per dimension, the
//! stride into the *smaller* tensor, 0 where numpy broadcasting repeats it. At run time
//! dimensions of extent 1 are dropped and adjacent dimensions merged, so the common patterns
//! ([n]→[B,n], [B,1]→[B,n], anything→[]) become one copy, fill or sum per row.
//!
//! SumTo adds in row-major order of the source, so its result is the same on every call.

/// The generated code only passes descriptors built by `descriptor`, so ranks are bounded here
/// and the helpers need no allocation.
pub(super) const MAX_RANK: usize = 8;

/// `[rank, extents.., strides..]` for walking `big` while indexing `small`, which must be
/// broadcastable to `big` (checked by `shape` before code generation). Every number is converted
/// and multiplied with checked arithmetic, so an extent or stride that does not fit an `i64` is
/// an error rather than a descriptor `walk` would misread (a negative extent is the batch).
pub(super) fn descriptor(
    big: &crate::ir::Shape,
    small: &crate::ir::Shape,
) -> Result<Vec<i64>, String> {
    use crate::ir::Dim;
    let rank = big.rank();
    if rank > MAX_RANK || small.rank() > rank {
        return Err(format!(
            "broadcast between {small} and {big} exceeds rank {MAX_RANK}"
        ));
    }
    let too_large = || format!("broadcast between {small} and {big}: a size exceeds i64");
    let fixed = |d: &Dim| match d {
        Dim::Batch => panic!("invariant: only the leading dimension is the batch"),
        Dim::Fixed(n) => i64::try_from(*n).ok(),
    };
    let offset = rank - small.rank();
    let mut desc = vec![rank as i64];
    for d in &big.0 {
        desc.push(match d {
            Dim::Batch => -1,
            d => fixed(d).ok_or_else(too_large)?,
        });
    }
    for (d, bd) in big.0.iter().enumerate() {
        let stride = if d < offset || (small.0[d - offset] == Dim::Fixed(1) && *bd != Dim::Fixed(1))
        {
            0
        } else {
            // Only the leading dimension can be the batch, so the inner extents are all fixed.
            small.0[d - offset + 1..]
                .iter()
                .try_fold(1i64, |acc, d| acc.checked_mul(fixed(d)?))
                .ok_or_else(too_large)?
        };
        desc.push(stride);
    }
    Ok(desc)
}

/// A descriptor with the batch resolved and trivial dimensions removed.
struct Walk {
    rank: usize,
    ext: [usize; MAX_RANK],
    st: [usize; MAX_RANK],
    /// Elements of the big tensor.
    big_len: usize,
    /// Elements of the small tensor.
    small_len: usize,
}

/// SAFETY: `desc` points to a descriptor built by `descriptor`, kept alive by the compiled function.
unsafe fn walk(desc: *const i64, batch: i64) -> Walk {
    // SAFETY: (both) a descriptor starts with its rank and holds 2 * rank numbers after it.
    let rank = unsafe { *desc } as usize;
    // SAFETY: see above.
    let raw = unsafe { std::slice::from_raw_parts(desc.add(1), 2 * rank) };
    let mut w = Walk {
        rank: 0,
        ext: [0; MAX_RANK],
        st: [0; MAX_RANK],
        big_len: 1,
        small_len: 1,
    };
    for d in 0..rank {
        let e = if raw[d] < 0 { batch } else { raw[d] } as usize;
        let s = raw[rank + d] as usize;
        w.big_len *= e;
        if s != 0 {
            w.small_len *= e;
        }
        if e == 1 {
            continue;
        }
        // Merge with the previous kept dimension when it steps exactly over this one.
        if w.rank > 0 && w.st[w.rank - 1] == s * e {
            w.ext[w.rank - 1] *= e;
            w.st[w.rank - 1] = s;
        } else {
            w.ext[w.rank] = e;
            w.st[w.rank] = s;
            w.rank += 1;
        }
    }
    w
}

fn broadcast_rec(x: &[f32], y: &mut [f32], ext: &[usize], st: &[usize]) {
    // A column repeated along rows ([B,1] to [B,n]), the adjoint of a row sum: one fill per row
    // without a recursive call.
    if let ([_, n], [1, 0]) = (ext, st) {
        for (row, &v) in y.chunks_exact_mut(*n).zip(x) {
            row.fill(v);
        }
        return;
    }
    match ext.len() {
        0 => y[0] = x[0],
        1 => match st[0] {
            0 => y.fill(x[0]),
            1 => y.copy_from_slice(&x[..ext[0]]),
            s => y.iter_mut().enumerate().for_each(|(i, y)| *y = x[i * s]),
        },
        _ => {
            let inner = y.len() / ext[0];
            for (i, yc) in y.chunks_exact_mut(inner).enumerate() {
                broadcast_rec(&x[i * st[0]..], yc, &ext[1..], &st[1..]);
            }
        }
    }
}

fn sum_rec(x: &[f32], y: &mut [f32], ext: &[usize], st: &[usize]) {
    // The two sums of a matrix in one loop each (in the recursion's order): each row's
    // ([B,n] to [B,1], log-softmax's adjoint) and each column's ([B,n] to [n], a bias gradient).
    match (ext, st) {
        ([_, n], [1, 0]) => {
            for (y, row) in y.iter_mut().zip(x.chunks_exact(*n)) {
                *y += row.iter().sum::<f32>();
            }
            return;
        }
        ([_, n], [0, 1]) => {
            for row in x.chunks_exact(*n) {
                y.iter_mut().zip(row).for_each(|(y, x)| *y += x);
            }
            return;
        }
        _ => {}
    }
    match ext.len() {
        0 => y[0] += x[0],
        1 => match st[0] {
            0 => y[0] += sum_all(x),
            1 => y.iter_mut().zip(x).for_each(|(y, x)| *y += x),
            s => x.iter().enumerate().for_each(|(i, x)| y[i * s] += x),
        },
        _ => {
            let inner = x.len() / ext[0];
            for (i, xc) in x.chunks_exact(inner).enumerate() {
                sum_rec(xc, &mut y[i * st[0]..], &ext[1..], &st[1..]);
            }
        }
    }
}

/// The sum of every element, in 32 interleaved partial sums added at the end: independent
/// additions the compiler turns into vector ones (a single running sum waits for each addition
/// in turn, a quarter of an element per cycle), in a fixed order, so the same on every call.
fn sum_all(x: &[f32]) -> f32 {
    const LANES: usize = 32;
    let mut partial = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (p, v) in partial.iter_mut().zip(chunk) {
            *p += v;
        }
    }
    partial.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// y (the big shape, contiguous) = x repeated along the broadcast dimensions.
pub(super) unsafe extern "C" fn nnc_broadcast(
    x: *const f32,
    y: *mut f32,
    desc: *const i64,
    batch: i64,
) {
    // SAFETY: generated code passes a descriptor `descriptor` built, kept by the function.
    let w = unsafe { walk(desc, batch) };
    if w.big_len == 0 {
        return;
    }
    // SAFETY: x holds the small tensor and y the big one, as the generated code's plan says.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(x, w.small_len),
            std::slice::from_raw_parts_mut(y, w.big_len),
        )
    };
    broadcast_rec(x, y, &w.ext[..w.rank], &w.st[..w.rank]);
}

/// y (the small shape) = x (the big shape) summed over the broadcast dimensions.
pub(super) unsafe extern "C" fn nnc_sum_to(
    x: *const f32,
    y: *mut f32,
    desc: *const i64,
    batch: i64,
) {
    // SAFETY: generated code passes a descriptor `descriptor` built, kept by the function.
    let w = unsafe { walk(desc, batch) };
    // SAFETY: as for `nnc_broadcast`, with the roles of the two tensors swapped.
    let (x, y) = unsafe {
        (
            std::slice::from_raw_parts(x, w.big_len),
            std::slice::from_raw_parts_mut(y, w.small_len),
        )
    };
    y.fill(0.0);
    if w.big_len > 0 {
        sum_rec(x, y, &w.ext[..w.rank], &w.st[..w.rank]);
    }
}

/// Copy `count` columns of each of `rows` rows: from row-major `src` (rows of `src_width`,
/// starting at column `src_offset`) into row-major `dst` (rows of `dst_width`, starting at column
/// `dst_offset`). A concatenation is one call per operand; a slice is one call.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn nnc_copy_columns(
    src: *const f32,
    src_width: i64,
    src_offset: i64,
    dst: *mut f32,
    dst_width: i64,
    dst_offset: i64,
    rows: i64,
    count: i64,
) {
    let [sw, so, dw, doff, rows, count] =
        [src_width, src_offset, dst_width, dst_offset, rows, count].map(|v| v as usize);
    if rows == 0 || count == 0 {
        return;
    }
    // SAFETY: the generated code passes buffers of `rows` rows of `src_width` and `dst_width`
    // floats, whose lengths `call` checked, and offsets with `offset + count <= width` (the
    // shapes of the concat or slice, `shape::infer`). Source and destination never overlap.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts(src, rows * sw),
            std::slice::from_raw_parts_mut(dst, rows * dw),
        )
    };
    for (s, d) in src.chunks_exact(sw).zip(dst.chunks_exact_mut(dw)) {
        d[doff..doff + count].copy_from_slice(&s[so..so + count]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Shape;

    #[test]
    fn bias_broadcast_merges_to_one_copy_per_row() {
        let d = descriptor(&Shape::batched(&[2, 3]), &Shape::fixed(&[3])).unwrap();
        assert_eq!(d, vec![3, -1, 2, 3, 0, 0, 1]);
        // SAFETY: `d` is a descriptor built by `descriptor`.
        let w = unsafe { walk(d.as_ptr(), 5) };
        assert_eq!(
            (w.rank, &w.ext[..2], &w.st[..2]),
            (2, &[10, 3][..], &[0, 1][..])
        );
        assert_eq!((w.big_len, w.small_len), (30, 3));
    }

    /// A descriptor holds `i64`s that `walk` trusts: an extent beyond `i64::MAX` (which would
    /// read as the batch, -1) or a stride whose product overflows (2^64 wrapped to 0) is an
    /// error, never a wrong walk.
    #[test]
    fn extents_and_strides_beyond_i64_are_errors() {
        let huge = Shape::fixed(&[1 << 63]);
        assert!(
            descriptor(&huge, &Shape::fixed(&[1])).is_err(),
            "extent 2^63"
        );
        let wide = Shape::fixed(&[2, 1 << 32, 1 << 32]);
        assert!(descriptor(&wide, &wide).is_err(), "stride 2^64");
        let fits = Shape::fixed(&[2, 1 << 31, 1 << 31]);
        assert!(descriptor(&fits, &fits).is_ok(), "stride 2^62");
    }

    #[test]
    fn contiguous_dimensions_merge_into_one() {
        let s = Shape::batched(&[2, 1, 3]);
        let d = descriptor(&s, &s).unwrap();
        // SAFETY: `d` is a descriptor built by `descriptor`.
        let w = unsafe { walk(d.as_ptr(), 4) };
        assert_eq!((w.rank, w.ext[0], w.st[0]), (1, 24, 1));
    }
}
