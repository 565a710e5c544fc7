//! Seeded randomness. One seed drives every random choice of a run, through separate ChaCha8
//! streams (same key, different stream numbers), so that initialization, the split, the
//! shuffles and the key of the counter-based generator (`philox`) are independent of each other:
//! changing how many numbers one of them draws cannot change what the others see. Initial values
//! are built from raw 32-bit outputs (`train::init`); shuffles use `rand`'s `SliceRandom`, whose
//! draws are fixed by the `rand` version in Cargo.lock.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a stream is used for; each purpose has its own stream number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Initial parameter values.
    Initialization,
    /// The train / validation / test split.
    Split,
    /// The order of the rows in each epoch.
    Shuffle,
    /// The key of the counter-based generator (`philox`) behind dropout masks and input noise.
    Counter,
}

impl Stream {
    fn number(self) -> u64 {
        match self {
            Stream::Initialization => 1,
            Stream::Split => 2,
            Stream::Shuffle => 3,
            Stream::Counter => 4,
        }
    }
}

/// The generator of `purpose` for `seed`.
pub fn stream(seed: u64, purpose: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose.number());
    rng
}

/// The key of the counter-based generator for `seed`: the first 32 bits of its own stream, so
/// that the seed alone decides every dropout mask and every noise value of a run.
pub fn counter_key(seed: u64) -> u32 {
    use rand::RngCore;
    stream(seed, Stream::Counter).next_u32()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn streams_of_one_seed_differ_and_repeat() {
        let draw = |s: Stream| {
            let mut r = stream(7, s);
            (0..4).map(|_| r.next_u32()).collect::<Vec<_>>()
        };
        let all = [
            Stream::Initialization,
            Stream::Split,
            Stream::Shuffle,
            Stream::Counter,
        ]
        .map(draw);
        assert_ne!(all[0], all[1]);
        assert_ne!(all[1], all[2]);
        assert_ne!(all[0], all[2]);
        assert!(all[..3].iter().all(|a| *a != all[3]));
        assert_ne!(counter_key(7), counter_key(8));
        assert_eq!(all[0], draw(Stream::Initialization));
        let mut plain = ChaCha8Rng::seed_from_u64(7);
        let plain: Vec<u32> = (0..4).map(|_| plain.next_u32()).collect();
        assert!(all.iter().all(|a| *a != plain), "no purpose uses stream 0");
    }
}
