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
            owner: crate::lower::Owner::Layer(0),
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

    fn draws(init: Init, n: usize, seed: u64) -> Vec<f32> {
        let p = vec![ParamSpec {
            name: "w1".into(),
            shape: vec![n],
            init,
            owner: crate::lower::Owner::Layer(0),
        }];
        initialize(&p, seed).unwrap().remove(0)
    }

    fn moments(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var)
    }

    /// Each initializer of a `[fan_in, fan_out]` layer against its formula: the bounds of the
    /// uniform ones, the mean and variance of all (uniform in ±a has variance a²/3), over 40000
    /// draws (the variance's relative error is then about 1%). The same seed repeats them.
    #[test]
    fn every_initializer_has_the_moments_of_its_formula() {
        use crate::lower::spec::Initializer as I;
        let (fan_in, fan_out) = (50usize, 30usize);
        let (fi, fo) = (fan_in as f64, fan_out as f64);
        // (initializer, mean, variance, bounds of the uniform ones)
        type Case = (I, f64, f64, Option<(f64, f64)>);
        let cases: Vec<Case> = vec![
            (
                I::GlorotUniform,
                0.0,
                6.0 / (fi + fo) / 3.0,
                Some((-(6.0 / (fi + fo)).sqrt(), (6.0 / (fi + fo)).sqrt())),
            ),
            (I::GlorotNormal, 0.0, 2.0 / (fi + fo), None),
            (
                I::HeUniform,
                0.0,
                6.0 / fi / 3.0,
                Some((-(6.0 / fi).sqrt(), (6.0 / fi).sqrt())),
            ),
            (I::HeNormal, 0.0, 2.0 / fi, None),
            (
                I::LecunUniform,
                0.0,
                3.0 / fi / 3.0,
                Some((-(3.0 / fi).sqrt(), (3.0 / fi).sqrt())),
            ),
            (I::LecunNormal, 0.0, 1.0 / fi, None),
            (
                I::Uniform {
                    low: 1.0,
                    high: 3.0,
                },
                2.0,
                4.0 / 12.0,
                Some((1.0, 3.0)),
            ),
            (
                I::Normal {
                    mean: -2.0,
                    std: 0.5,
                },
                -2.0,
                0.25,
                None,
            ),
        ];
        for (init, mean, var, bounds) in cases {
            let spec = crate::lower::regularize_init(init, fan_in, fan_out);
            let v = draws(spec, 40_000, 11);
            assert_eq!(v, draws(spec, 40_000, 11), "{init:?} repeats for a seed");
            assert_ne!(
                v,
                draws(spec, 40_000, 12),
                "{init:?} differs for another seed"
            );
            let (m, s2) = moments(&v);
            let sd = var.sqrt();
            assert!(
                (m - mean).abs() < 0.03 * sd.max(1e-3) * 2.0,
                "{init:?}: mean {m}, want {mean}"
            );
            assert!(
                (s2 / var - 1.0).abs() < 0.04,
                "{init:?}: variance {s2}, want {var}"
            );
            if let Some((lo, hi)) = bounds {
                assert!(
                    v.iter().all(|&x| (lo as f32..=hi as f32).contains(&x)),
                    "{init:?} in bounds"
                );
                assert!(
                    v.iter().any(|&x| f64::from(x) > lo + 0.95 * (hi - lo)),
                    "{init:?} reaches its top"
                );
            }
        }
        for (init, c) in [(I::Zeros, 0.0), (I::Ones, 1.0)] {
            let v = draws(crate::lower::regularize_init(init, fan_in, fan_out), 100, 1);
            assert!(v.iter().all(|&x| x == c));
        }
    }

    /// The default stays the Glorot-uniform draw it always was, so existing runs are unchanged.
    #[test]
    fn the_default_initializer_is_the_historical_glorot_uniform() {
        let init =
            crate::lower::regularize_init(crate::lower::spec::Initializer::GlorotUniform, 3, 2);
        assert_eq!(
            init,
            Init::GlorotUniform {
                fan_in: 3,
                fan_out: 2
            }
        );
    }
}
