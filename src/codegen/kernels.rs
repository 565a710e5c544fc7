//! The math kernels that generated code calls, over slices, for benchmarks and other callers
//! outside the code generator. Each function runs the same loop as the `extern "C"` helper that
//! compiled code reaches (`helpers`, with the math in `vmath`), minus the pointer-to-slice step,
//! so a change in its speed is a change in what training pays; `matmul` is the matrix product.
//!
//! Every function panics, naming itself, if the slices do not fit each other or a size overflows,
//! instead of reading or writing past one of them: sizes are computed with checked arithmetic
//! before anything trusts them.

use super::{helpers, vmath};

fn check(name: &str, x: &[f32], y: &[f32]) {
    assert_eq!(
        x.len(),
        y.len(),
        "kernels::{name}: input and output lengths differ"
    );
}

/// `y[i] = exp(x[i])`.
pub fn exp(x: &[f32], y: &mut [f32]) {
    check("exp", x, y);
    vmath::map(x, y, vmath::exp);
}

/// `y[i] = ln(x[i])`: the natural logarithm.
pub fn ln(x: &[f32], y: &mut [f32]) {
    check("ln", x, y);
    vmath::map(x, y, vmath::ln);
}

/// `y[i] = tanh(x[i])`.
pub fn tanh(x: &[f32], y: &mut [f32]) {
    check("tanh", x, y);
    vmath::map(x, y, vmath::tanh);
}

/// `y[i] = 1 / (1 + exp(-x[i]))`.
pub fn sigmoid(x: &[f32], y: &mut [f32]) {
    check("sigmoid", x, y);
    vmath::map(x, y, vmath::sigmoid);
}

/// `y[i] = ln(1 + exp(x[i]))`.
pub fn softplus(x: &[f32], y: &mut [f32]) {
    check("softplus", x, y);
    vmath::map(x, y, vmath::softplus);
}

/// The log-softmax of each row of `width` contiguous floats of `x` into the same row of `y`.
///
/// Panics unless `width` is at least 1, `x` and `y` have the same length and that length is a
/// whole number of rows.
pub fn log_softmax(x: &[f32], y: &mut [f32], width: usize) {
    check("log_softmax", x, y);
    assert!(width > 0, "kernels::log_softmax: width must be at least 1");
    assert!(
        x.len().is_multiple_of(width),
        "kernels::log_softmax: {} floats are not whole rows of {width}",
        x.len()
    );
    helpers::log_softmax(x, y, width);
}

/// A matrix read through strides: element (i, j) of `data` is at `i * rows + j * cols`.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
}

impl Strided<'_> {
    /// The strides as the `isize` offsets `gemm` takes, after checking that every element of an
    /// `r`×`c` matrix lies inside `data`. An empty matrix (r or c = 0) has no element to check:
    /// the product reads nothing of it (with k = 0 it only clears C, which `matmul` checks).
    fn checked_strides(&self, name: &str, r: usize, c: usize) -> (isize, isize) {
        let (Ok(rows), Ok(cols)) = (isize::try_from(self.rows), isize::try_from(self.cols)) else {
            panic!(
                "kernels::matmul: {name}'s strides ({}, {}) exceed isize::MAX",
                self.rows, self.cols
            )
        };
        if r > 0 && c > 0 {
            let last = (r - 1)
                .checked_mul(self.rows)
                .zip((c - 1).checked_mul(self.cols))
                .and_then(|(i, j)| i.checked_add(j));
            assert!(
                last.is_some_and(|l| l < self.data.len()),
                "kernels::matmul: {name} ({r}×{c}) at strides ({}, {}) reaches past its {} floats",
                self.rows,
                self.cols,
                self.data.len()
            );
        }
        (rows, cols)
    }
}

/// `c` (m×n, row-major) = `a` (m×k) · `b` (k×n), through the same routine as compiled code.
/// A transposed operand is a matrix with its strides swapped; a stride of 0 repeats an element.
///
/// Panics unless `c` holds exactly m·n floats, each dimension is at most `isize::MAX` (offsets
/// are `isize`) and every element of A and B lies inside its data. Every size is computed with
/// checked arithmetic, so a product that wraps is refused, never trusted: C is written even
/// when k = 0 (cleared), and only an m·n that truly equals its length bounds those writes.
pub fn matmul(m: usize, k: usize, n: usize, a: Strided, b: Strided, c: &mut [f32]) {
    assert!(
        m.checked_mul(n) == Some(c.len()),
        "kernels::matmul: C holds {} floats, not m·n = {m}·{n}",
        c.len()
    );
    assert!(
        [m, k, n].iter().all(|&d| isize::try_from(d).is_ok()),
        "kernels::matmul: m, k and n must be at most isize::MAX, got {m}, {k} and {n}"
    );
    let (rsa, csa) = a.checked_strides("A", m, k);
    let (rsb, csb) = b.checked_strides("B", k, n);
    // SAFETY: every element the product reads lies inside `a.data` and `b.data`, every one it
    // writes inside C (m·n floats, checked without wrapping), and each extent and stride fits
    // an `isize` (all checked above); C is a separate, exclusively borrowed slice.
    unsafe {
        super::gemm::sgemm(
            m,
            k,
            n,
            a.data.as_ptr(),
            rsa,
            csa,
            b.data.as_ptr(),
            rsb,
            csb,
            c.as_mut_ptr(),
            super::gemm::Threads::Pool,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_compute_their_functions() {
        let x = [-2.0f32, -0.5, 0.0, 0.5, 2.0];
        let close = |got: &[f32], want: fn(f64) -> f64| {
            for (&g, &x) in got.iter().zip(&x) {
                let w = want(f64::from(x));
                assert!(
                    (f64::from(g) - w).abs() <= 1e-6 * w.abs().max(1.0),
                    "{g} vs {w}"
                );
            }
        };
        let mut y = [0.0; 5];
        exp(&x, &mut y);
        close(&y, f64::exp);
        tanh(&x, &mut y);
        close(&y, f64::tanh);
        sigmoid(&x, &mut y);
        close(&y, |v| 1.0 / (1.0 + (-v).exp()));
        softplus(&x, &mut y);
        close(&y, |v| v.exp().ln_1p());
        let pos = [0.25f32, 1.0, 3.0];
        let mut z = [0.0; 3];
        ln(&pos, &mut z);
        assert_eq!(z[1], 0.0);
        assert!((z[2] - 3f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn log_softmax_rows_exponentiate_to_one() {
        let x: Vec<f32> = (0..12).map(|i| (i as f32 * 0.7).sin() * 3.0).collect();
        let mut y = vec![0.0; 12];
        log_softmax(&x, &mut y, 4);
        for row in y.chunks(4) {
            let s: f32 = row.iter().map(|v| v.exp()).sum();
            assert!((s - 1.0).abs() < 1e-6, "{s}");
        }
    }

    #[test]
    fn matmul_multiplies_plain_and_transposed_operands() {
        // A = [[1, 2], [3, 4]], B = [[5, 6], [7, 8]]; Aᵀ·B = [[26, 30], [38, 44]].
        let (a, b) = ([1.0f32, 2.0, 3.0, 4.0], [5.0f32, 6.0, 7.0, 8.0]);
        let plain = |d| Strided {
            data: d,
            rows: 2,
            cols: 1,
        };
        let mut c = [0.0f32; 4];
        matmul(2, 2, 2, plain(&a), plain(&b), &mut c);
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        let transposed = Strided {
            data: &a,
            rows: 1,
            cols: 2,
        };
        matmul(2, 2, 2, transposed, plain(&b), &mut c);
        assert_eq!(c, [26.0, 30.0, 38.0, 44.0]);
    }

    /// The message `f` panics with, or `None` when it returns.
    fn panic_message(f: impl FnOnce()) -> Option<String> {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).err()?;
        Some(match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(p) => p.downcast_ref::<&str>().map_or("", |s| s).to_string(),
        })
    }

    /// Why `f` did not panic with a message that contains `want`, if it did not.
    fn panics_with(what: &str, want: &str, f: impl FnOnce()) -> Result<(), String> {
        match panic_message(f) {
            Some(m) if m.contains(want) => Ok(()),
            Some(m) => Err(format!("{what}: panicked with {m:?}, not {want:?}")),
            None => Err(format!(
                "{what}: returned instead of panicking with {want:?}"
            )),
        }
    }

    /// `f` panics with a message that contains `want`.
    fn assert_panics(what: &str, want: &str, f: impl FnOnce()) {
        if let Err(e) = panics_with(what, want, f) {
            panic!("{e}");
        }
    }

    /// A matrix of `data` read at strides `rows` and `cols`.
    fn strided(data: &[f32], rows: usize, cols: usize) -> Strided<'_> {
        Strided { data, rows, cols }
    }

    #[test]
    fn every_element_wise_wrapper_refuses_slices_of_different_lengths() {
        type Wrapper = fn(&[f32], &mut [f32]);
        let wrappers: [(&str, Wrapper); 5] = [
            ("exp", exp),
            ("ln", ln),
            ("tanh", tanh),
            ("sigmoid", sigmoid),
            ("softplus", softplus),
        ];
        for (name, f) in wrappers {
            let want = format!("kernels::{name}: input and output lengths differ");
            assert_panics(name, &want, || f(&[1.0, 2.0], &mut [0.0]));
            assert_panics(name, &want, || f(&[1.0], &mut [0.0, 0.0]));
        }
    }

    #[test]
    fn log_softmax_refuses_rows_that_do_not_fit() {
        let want = "kernels::log_softmax: input and output lengths differ";
        assert_panics("lengths", want, || log_softmax(&[0.0; 4], &mut [0.0; 2], 2));
        assert_panics("width 0", "width must be at least 1", || {
            log_softmax(&[0.0; 4], &mut [0.0; 4], 0)
        });
        assert_panics("partial rows", "5 floats are not whole rows of 2", || {
            log_softmax(&[0.0; 5], &mut [0.0; 5], 2)
        });
    }

    /// Sizes whose product wraps, dimensions beyond what an offset can hold and strides whose
    /// last element overflows or lies outside the data: each is a panic naming `matmul`, never
    /// an access out of bounds. Before m·n was checked, the first case (from a review) passed
    /// the size check as 2 floats and the product cleared 2^63 + 1 rows: a segfault.
    #[test]
    fn matmul_refuses_every_size_that_overflows_or_does_not_fit() {
        let (one, two) = ([1.0f32], [1.0f32; 2]);
        let zero = |d| strided(d, 0, 0);
        type Case<'a> = (&'a str, &'a str, Box<dyn FnOnce() + 'a>);
        let cases: Vec<Case> = vec![
            (
                "m·n wraps to C's length, k = 0",
                "C holds 2 floats, not m·n = 9223372036854775809·2",
                Box::new(|| matmul((1 << 63) + 1, 0, 2, zero(&two), zero(&two), &mut [0.0; 2])),
            ),
            (
                "m·n wraps to C's length, m within isize",
                "C holds 4 floats, not m·n",
                Box::new(|| matmul((1 << 62) + 1, 0, 4, zero(&one), zero(&one), &mut [0.0; 4])),
            ),
            (
                "m·n wraps to C's length, k = 1 through broadcast operands",
                "C holds 4 floats, not m·n",
                Box::new(|| matmul((1 << 62) + 1, 1, 4, zero(&one), zero(&one), &mut [0.0; 4])),
            ),
            (
                "C one float short",
                "C holds 3 floats, not m·n = 2·2",
                Box::new(|| matmul(2, 1, 2, zero(&one), zero(&one), &mut [0.0; 3])),
            ),
            (
                "m beyond isize with n = 0",
                "kernels::matmul: m, k and n must be at most isize::MAX",
                Box::new(|| matmul(1 << 63, 0, 0, zero(&one), zero(&one), &mut [])),
            ),
            (
                "k beyond isize through broadcast operands",
                "kernels::matmul: m, k and n must be at most isize::MAX",
                Box::new(|| matmul(1, 1 << 63, 1, zero(&one), zero(&one), &mut [0.0])),
            ),
            (
                "A's last element overflows usize",
                "kernels::matmul: A (3×2) at strides",
                Box::new(|| {
                    let a = strided(&two, isize::MAX as usize, 2);
                    matmul(3, 2, 1, a, zero(&one), &mut [0.0; 3])
                }),
            ),
            (
                "B's last element overflows usize",
                "kernels::matmul: B (2×3) at strides",
                Box::new(|| {
                    let b = strided(&two, 2, isize::MAX as usize);
                    matmul(1, 2, 3, zero(&one), b, &mut [0.0; 3])
                }),
            ),
            (
                "a stride beyond isize",
                "kernels::matmul: A's strides (18446744073709551615, 1) exceed isize::MAX",
                Box::new(|| {
                    matmul(
                        1,
                        1,
                        1,
                        strided(&one, usize::MAX, 1),
                        zero(&one),
                        &mut [0.0],
                    )
                }),
            ),
            (
                "stride 0 over no data",
                "kernels::matmul: A (2×3) at strides (0, 0) reaches past its 0 floats",
                Box::new(|| matmul(2, 3, 1, zero(&[]), zero(&one), &mut [0.0; 2])),
            ),
            (
                "A one float short",
                "kernels::matmul: A (2×2) at strides (2, 1) reaches past its 3 floats",
                Box::new(|| matmul(2, 2, 1, strided(&[1.0; 3], 2, 1), zero(&one), &mut [0.0; 2])),
            ),
        ];
        let failed: Vec<String> = cases
            .into_iter()
            .filter_map(|(what, want, f)| panics_with(what, want, f).err())
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }

    /// What the checks let through is safe: an empty k clears C without reading A or B (which
    /// may then hold nothing), a zero stride repeats one element over any extent, and an empty
    /// C (m or n = 0) touches nothing whatever the other dimensions.
    #[test]
    fn matmul_of_empty_and_broadcast_operands() {
        let mut c = [f32::NAN; 6];
        matmul(3, 0, 2, strided(&[], 0, 0), strided(&[], 0, 0), &mut c);
        assert_eq!(c, [0.0; 6], "k = 0 clears C");
        let mut c = [f32::NAN; 3];
        matmul(
            3,
            5,
            1,
            strided(&[2.0], 0, 0),
            strided(&[1.0; 5], 1, 0),
            &mut c,
        );
        assert_eq!(c, [10.0; 3], "stride 0 repeats A's one element");
        let huge = isize::MAX as usize;
        matmul(
            huge,
            1,
            0,
            strided(&[1.0], 0, 0),
            strided(&[], 0, 0),
            &mut [],
        );
        matmul(
            0,
            huge,
            huge,
            strided(&[], 0, 0),
            strided(&[1.0], 0, 0),
            &mut [],
        );
    }
}
