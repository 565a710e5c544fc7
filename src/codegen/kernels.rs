//! The math kernels that generated code calls, over slices, for benchmarks and other callers
//! outside the code generator. Each function runs the same loop as the `extern "C"` helper that
//! compiled code reaches (`helpers`, with the math in `vmath`), minus the pointer-to-slice step,
//! so a change in its speed is a change in what training pays; `matmul` is the matrix product.
//!
//! Every function panics if the slices do not fit each other, instead of reading or writing past
//! one of them.

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
    /// Panics unless every element of an `r`×`c` matrix lies inside `data`.
    fn check(&self, name: &str, r: usize, c: usize) {
        let last = (r.max(1) - 1).checked_mul(self.rows).and_then(|i| {
            (c.max(1) - 1)
                .checked_mul(self.cols)
                .and_then(|j| i.checked_add(j))
        });
        assert!(
            r == 0 || c == 0 || last.is_some_and(|l| l < self.data.len()),
            "kernels::matmul: {name} ({r}×{c}) reaches past its {} floats",
            self.data.len()
        );
    }
}

/// `c` (m×n, row-major) = `a` (m×k) · `b` (k×n), through the same routine as compiled code.
/// A transposed operand is a matrix with its strides swapped.
pub fn matmul(m: usize, k: usize, n: usize, a: Strided, b: Strided, c: &mut [f32]) {
    a.check("A", m, k);
    b.check("B", k, n);
    assert_eq!(c.len(), m * n, "kernels::matmul: C must hold m·n floats");
    let stride = |s: usize| isize::try_from(s).expect("kernels::matmul: stride fits isize");
    // SAFETY: every element the product reads lies inside `a.data` and `b.data` (checked above)
    // and C is a separate, exclusively borrowed slice of m·n floats.
    unsafe {
        super::gemm::sgemm(
            m,
            k,
            n,
            a.data.as_ptr(),
            stride(a.rows),
            stride(a.cols),
            b.data.as_ptr(),
            stride(b.rows),
            stride(b.cols),
            c.as_mut_ptr(),
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

    #[test]
    #[should_panic(expected = "reaches past")]
    fn matmul_refuses_operands_too_short() {
        let a = Strided {
            data: &[1.0; 3],
            rows: 2,
            cols: 1,
        };
        matmul(
            2,
            2,
            1,
            a,
            Strided {
                data: &[1.0; 2],
                rows: 1,
                cols: 1,
            },
            &mut [0.0; 2],
        );
    }

    #[test]
    #[should_panic(expected = "lengths differ")]
    fn mismatched_lengths_panic() {
        exp(&[1.0, 2.0], &mut [0.0]);
    }

    #[test]
    #[should_panic(expected = "whole rows")]
    fn partial_rows_panic() {
        log_softmax(&[0.0; 5], &mut [0.0; 5], 2);
    }
}
