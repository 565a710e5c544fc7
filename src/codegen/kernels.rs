//! The math kernels that generated code calls, over slices, for benchmarks and other callers
//! outside the code generator. Each function runs the same loop as the `extern "C"` helper that
//! compiled code reaches (`helpers`, with the math in `vmath`), minus the pointer-to-slice step,
//! so a change in its speed is a change in what training pays. Matrix products are not here.
//!
//! Every function panics if the slices do not fit each other, instead of reading or writing past
//! one of them; no `unsafe` is needed, since the kernels underneath are safe over slices.

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
