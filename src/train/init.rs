//! Initial parameter values, drawn from a seeded ChaCha stream so a seed gives bit-identical
//! weights on every machine. Uniform draws are built from raw 32-bit outputs rather than a
//! distribution type, so a dependency upgrade cannot change them.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::lower::{Init, ParamSpec};

/// A uniform draw in [-1, 1) from 24 random bits (exact in f32).
fn symmetric_unit(rng: &mut ChaCha8Rng) -> f32 {
    let bits = rng.next_u32() >> 8;
    (bits as f32 / (1u32 << 23) as f32) - 1.0
}

/// One buffer per parameter, in order.
pub fn initialize(params: &[ParamSpec], seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    params
        .iter()
        .map(|p| {
            let n: usize = p.shape.iter().product();
            match p.init {
                Init::Zeros => vec![0.0; n],
                Init::GlorotUniform { fan_in, fan_out } => {
                    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                    (0..n).map(|_| limit * symmetric_unit(&mut rng)).collect()
                }
            }
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
        }];
        let a = initialize(&p, 7);
        let b = initialize(&p, 7);
        let c = initialize(&p, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let limit = (6.0f32 / 50.0).sqrt();
        assert!(a[0].iter().all(|v| v.abs() <= limit));
        let mean: f32 = a[0].iter().sum::<f32>() / 600.0;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!(a[0].iter().any(|v| v.abs() > limit * 0.9));
    }
}
