//! Gradient clipping, an option of every optimizer: `clip_value: v` limits each gradient element
//! to [−v, v], `clip_norm: c` scales all gradients together so that their global norm is at most
//! c. Both are applied in the step IR (`optim::clip`) between the gradient and the update.

use super::options::Number;

/// The clipping of one model's gradients; `None` leaves them as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Clipping {
    /// The largest global norm √(Σ g²) over every parameter's gradient.
    pub norm: Option<f64>,
    /// The largest magnitude of any one gradient element.
    pub value: Option<f64>,
}

/// A bound of 0 would zero every gradient (and make the norm's scale 0/0), so the bounds start
/// just above it; a bound beyond a million clips nothing a standardized model produces.
pub const CLIP_NORM: Number = Number {
    name: "clip_norm",
    default: f64::INFINITY,
    min: 1e-6,
    max: 1e6,
};
pub const CLIP_VALUE: Number = Number {
    name: "clip_value",
    default: f64::INFINITY,
    min: 1e-6,
    max: 1e6,
};
