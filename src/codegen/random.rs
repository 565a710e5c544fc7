//! The kernels of the random ops (`dropout_mask`, `normal_noise`): one loop over the output that
//! asks the counter-based generator (`philox`) for each element's words. The interpreter has its
//! own loop over the same definition, so a compiled mask equals the interpreted one bit for bit
//! (tested). The step number is read from the counter buffer when the kernel runs, which is how a
//! compiled training step draws new masks at every call without any state of its own.
//!
//! Safety: `counter` is a scalar argument buffer and `y` an arena region of `n` floats, both
//! checked by `call` (and by checked mode before the kernel) like every other kernel's operands.

use crate::philox::{self, RandomSite};

/// Unpack the `(key << 32) | site` constant the generated code passes.
fn site(packed: i64) -> RandomSite {
    let packed = packed as u64;
    RandomSite {
        key: (packed >> 32) as u32,
        site: packed as u32,
    }
}

/// Fill `y` with `value(words of element i)`, rounded to f32.
unsafe fn fill(
    counter: *const f32,
    y: *mut f32,
    n: i64,
    packed: i64,
    value: impl Fn([u32; 4]) -> f64,
) {
    // SAFETY: see the module comment: one float at `counter`, room for `n` at `y`, no overlap
    // (the plan gives every result a region of its own).
    let (step, y) = unsafe {
        (
            philox::step_of(*counter),
            std::slice::from_raw_parts_mut(y, n as usize),
        )
    };
    let at = site(packed);
    for (i, y) in y.iter_mut().enumerate() {
        *y = value(philox::words(at, step, i as u64)) as f32;
    }
}

pub(super) unsafe extern "C" fn nnc_dropout_mask(
    counter: *const f32,
    y: *mut f32,
    n: i64,
    packed: i64,
    rate_bits: i64,
) {
    let rate = f64::from_bits(rate_bits as u64);
    // SAFETY: generated code passes the counter's buffer and `n` floats at `y` (module comment).
    unsafe { fill(counter, y, n, packed, |w| philox::dropout_value(w, rate)) }
}

pub(super) unsafe extern "C" fn nnc_normal_noise(
    counter: *const f32,
    y: *mut f32,
    n: i64,
    packed: i64,
    std_bits: i64,
) {
    let std = f64::from_bits(std_bits as u64);
    // SAFETY: generated code passes the counter's buffer and `n` floats at `y` (module comment).
    unsafe { fill(counter, y, n, packed, |w| philox::noise_value(w, std)) }
}
