//! Initial parameter values, drawn from the seed's initialization stream (`random`) so a seed
//! gives bit-identical weights on every machine. Uniform draws are built from raw 32-bit outputs
//! rather than a distribution type, so a dependency upgrade cannot change them. Buffers are
//! allocated fallibly: a model too large for memory is an error, not an abort.

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::lower::{Init, ParamSpec};
use crate::random::{self, Stream};

/// The buffer of parameter number `param` could not be allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocFailed {
    pub param: usize,
}

/// `len` copies of `value`, or `None` when the memory cannot be allocated.
pub fn filled(len: usize, value: f32) -> Option<Vec<f32>> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).ok()?;
    buf.resize(len, value);
    Some(buf)
}

/// A uniform draw in [-1, 1) from 24 random bits (exact in f32).
fn symmetric_unit(rng: &mut ChaCha8Rng) -> f32 {
    let bits = rng.next_u32() >> 8;
    (bits as f32 / (1u32 << 23) as f32) - 1.0
}

/// A uniform draw in [0, 1) from 24 random bits (exact in f32 and f64).
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    f64::from(rng.next_u32() >> 8) / f64::from(1u32 << 24)
}

/// Fill `buf` with normal draws N(mean, std²) by the Box–Muller transform in f64, two values per
/// pair of 32-bit draws (cosine then sine): √(−2 ln u₁) with u₁ in (0, 1], never 0. The normal is
/// not truncated (as PyTorch's initializers, unlike Keras').
fn fill_normal(buf: &mut [f32], mean: f64, std: f64, rng: &mut ChaCha8Rng) {
    for pair in buf.chunks_mut(2) {
        let u1 = 1.0 - unit(rng);
        let u2 = unit(rng);
        let r = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        let z = [r * angle.cos(), r * angle.sin()];
        for (w, z) in pair.iter_mut().zip(z) {
            *w = (mean + std * z) as f32;
        }
    }
}

/// One buffer per parameter, in order.
pub fn initialize(params: &[ParamSpec], seed: u64) -> Result<Vec<Vec<f32>>, AllocFailed> {
    let mut rng = random::stream(seed, Stream::Initialization);
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut buf = filled(p.numel(), 0.0).ok_or(AllocFailed { param: i })?;
            match p.init {
                Init::Zeros => {}
                Init::GlorotUniform { fan_in, fan_out } => {
                    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                    buf.iter_mut()
                        .for_each(|w| *w = limit * symmetric_unit(&mut rng));
                }
                Init::SymmetricUniform { limit } => {
                    let limit = limit as f32;
                    buf.iter_mut()
                        .for_each(|w| *w = limit * symmetric_unit(&mut rng));
                }
                Init::Uniform { low, high } => buf
                    .iter_mut()
                    .for_each(|w| *w = (low + (high - low) * unit(&mut rng)) as f32),
                Init::Normal { mean, std } => fill_normal(&mut buf, mean, std, &mut rng),
                Init::Constant(c) => buf.fill(c as f32),
            }
            Ok(buf)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_is_bounded_seeded_and_not_constant() {
        let p = vec![ParamSpec {
            name: "w1".into(),
            shape: vec![30, 20],
            init: Init::GlorotUniform {
                fan_in: 30,
                fan_out: 20,
            },
            layer: 0,
        }];
        let a = initialize(&p, 7).unwrap();
        let b = initialize(&p, 7).unwrap();
        let c = initialize(&p, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let limit = (6.0f32 / 50.0).sqrt();
        assert!(a[0].iter().all(|v| v.abs() <= limit));
        let mean: f32 = a[0].iter().sum::<f32>() / 600.0;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!(a[0].iter().any(|v| v.abs() > limit * 0.9));
    }
}
