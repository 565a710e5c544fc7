//! The counter-based generator behind the random ops of the IR (`dropout_mask`, `normal_noise`):
//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), a
//! keyed bijection of a 128-bit counter. Element `i` of a random tensor is a pure function of the
//! key (drawn once from the train seed, see `random::counter_key`), the site (which layer or input
//! asks), the training step number and `i`, so the interpreter and the compiled kernel compute it
//! independently and get the same bits, and a step can be replayed without any generator state.
//!
//! This module is the definition of those ops' values: the interpreter (in f64) and the
//! code generator's kernel (`codegen::random`) both call it, each with its own loop over the
//! elements; the shared part is only the integer hash and the conversions below, which are exact.

/// Where the random numbers of one op come from: the run's key and the op's site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RandomSite {
    /// 32 bits drawn from the seed's own stream (`random::Stream::Counter`).
    pub key: u32,
    /// Which op of the model draws: 0 for the input noise, the layer's number for its dropout.
    pub site: u32,
}

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds, as in Random123.
pub fn philox4x32_10(mut c: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The step number a counter buffer holds. The counter is an f32 that the training step adds 1
/// to; it is exact up to 2²⁴ steps (then it stops growing, like Adam's step count). Negative or
/// NaN values, which no training run produces, read as 0.
pub fn step_of(counter: f32) -> u32 {
    counter as u32
}

/// The four random words of element `index` at training step `step`.
pub fn words(at: RandomSite, step: u32, index: u64) -> [u32; 4] {
    philox4x32_10(
        [index as u32, (index >> 32) as u32, step, 0x6E6E_6300],
        [at.key, at.site],
    )
}

/// 2⁻²⁴: uniform numbers have 24 random bits, exact in f32 and f64.
const UNIT: f64 = 1.0 / (1u32 << 24) as f64;

/// A uniform number in [0, 1) from the top 24 bits of a word.
pub fn uniform(word: u32) -> f64 {
    f64::from(word >> 8) * UNIT
}

/// Whether dropout with `rate` keeps an element: its uniform number is at least `rate`, so a
/// share of exactly 1 − rate (to 2⁻²⁴) is kept. The comparison is exact in f64.
pub fn keeps(word: u32, rate: f64) -> bool {
    uniform(word) >= rate
}

/// A standard normal number from two words by the Box–Muller transform, computed in f64:
/// √(−2 ln u₁) · cos(2π u₂) with u₁ in (0, 1] (never 0, so the logarithm is finite) and u₂ in
/// [0, 1). The largest magnitude it can give is √(2 · 24 ln 2) ≈ 5.77.
pub fn standard_normal(w0: u32, w1: u32) -> f64 {
    let u1 = f64::from((w0 >> 8) + 1) * UNIT;
    let u2 = uniform(w1);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The value of `dropout_mask[rate]` at one element: 0, or 1/(1 − rate) where kept.
pub fn dropout_value(words: [u32; 4], rate: f64) -> f64 {
    if keeps(words[0], rate) {
        1.0 / (1.0 - rate)
    } else {
        0.0
    }
}

/// The value of `normal_noise[std]` at one element.
pub fn noise_value(words: [u32; 4], std: f64) -> f64 {
    std * standard_normal(words[0], words[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors of Random123 (`kat_vectors`, philox4x32 with 10 rounds).
    #[test]
    fn philox_matches_the_published_vectors() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    #[test]
    fn uniform_and_normal_have_their_moments() {
        let at = RandomSite { key: 7, site: 1 };
        let n = 200_000u64;
        let (mut s, mut s2, mut kept) = (0.0, 0.0, 0u64);
        for i in 0..n {
            let w = words(at, 3, i);
            let z = standard_normal(w[0], w[1]);
            s += z;
            s2 += z * z;
            kept += u64::from(keeps(w[0], 0.3));
        }
        let mean = s / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!(
            (s2 / n as f64 - 1.0).abs() < 0.01,
            "variance {}",
            s2 / n as f64
        );
        let share = kept as f64 / n as f64;
        assert!((share - 0.7).abs() < 0.005, "kept {share}");
        assert_ne!(words(at, 3, 0), words(at, 4, 0), "steps differ");
        assert_ne!(words(at, 3, 0), words(RandomSite { key: 7, site: 2 }, 3, 0));
        assert_ne!(words(at, 3, 0), words(RandomSite { key: 8, site: 1 }, 3, 0));
    }
}
