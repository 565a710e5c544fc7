//! A streaming quantile sketch for the statistics of a file too large to sort: medians for
//! `missing: median`, quartiles for `scaling: robust`, the cut points of
//! `outliers: clip(quantiles: q)`. It is the compactor hierarchy of Karnin, Lang and Liberty
//! ("Optimal quantile approximation in streams", 2016): level `h` holds values that each stand
//! for `2^h` of the stream; a full level is sorted and every other value moves up a level. The
//! capacities shrink by 2/3 per level below the top, so the whole sketch holds about `3k` values
//! however long the stream. Which half moves up alternates per level instead of being drawn at
//! random, so the same values in the same order give the same sketch. Until a level is first
//! compacted nothing is lost: up to `k` values the quantiles are exact, and equal to those of
//! the sorted values (`preprocess::quantile`).

/// Values kept at the bottom level before the first compaction: the rank error of a quantile is
/// about 1/k of the values (a few tenths of a percent).
pub const SKETCH_K: usize = 1024;

#[derive(Clone, Debug)]
pub struct Sketch {
    k: usize,
    levels: Vec<Vec<f64>>,
    /// Per level, whether its next compaction keeps the odd positions.
    odd: Vec<bool>,
    count: u64,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::new(SKETCH_K)
    }
}

impl Sketch {
    pub fn new(k: usize) -> Self {
        Sketch {
            k: k.max(2),
            levels: vec![Vec::new()],
            odd: vec![false],
            count: 0,
        }
    }

    /// Values seen.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether every value seen is still held (no level was compacted).
    pub fn is_exact(&self) -> bool {
        self.levels.len() == 1
    }

    pub fn insert(&mut self, v: f64) {
        self.levels[0].push(v);
        self.count += 1;
        if self.levels[0].len() >= self.capacity(0) {
            self.compact();
        }
    }

    /// Level `h`'s capacity: `k` at the top, two thirds of the level above below it, at least 2.
    fn capacity(&self, h: usize) -> usize {
        let depth = self.levels.len() - 1 - h;
        let c = (self.k as f64 * (2.0f64 / 3.0).powi(depth as i32)).ceil() as usize;
        c.max(2)
    }

    fn compact(&mut self) {
        let mut h = 0;
        while h < self.levels.len() {
            if self.levels[h].len() >= self.capacity(h) {
                if h + 1 == self.levels.len() {
                    self.levels.push(Vec::new());
                    self.odd.push(false);
                }
                let mut level = std::mem::take(&mut self.levels[h]);
                level.sort_unstable_by(f64::total_cmp);
                // An odd value out stays at this level, unweighted by the move.
                if level.len() % 2 == 1 {
                    let last = level
                        .pop()
                        .expect("invariant: an odd-length level is not empty");
                    self.levels[h].push(last);
                }
                let start = usize::from(self.odd[h]);
                self.odd[h] = !self.odd[h];
                let up: Vec<f64> = level.iter().skip(start).step_by(2).copied().collect();
                self.levels[h + 1].extend(up);
            }
            h += 1;
        }
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) of the values seen; 0 for none. Exact, interpolated between
    /// neighbours as numpy does, while the sketch is exact; else the held value whose weighted
    /// rank is nearest below `q·(n−1)`.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        if self.is_exact() {
            let mut sorted = self.levels[0].clone();
            sorted.sort_unstable_by(f64::total_cmp);
            return super::super::preprocess::quantile(&sorted, q);
        }
        let mut weighted: Vec<(f64, u64)> = Vec::new();
        for (h, level) in self.levels.iter().enumerate() {
            weighted.extend(level.iter().map(|&v| (v, 1u64 << h)));
        }
        weighted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let total: u64 = weighted.iter().map(|w| w.1).sum();
        let rank = q.clamp(0.0, 1.0) * (total - 1) as f64;
        let mut seen = 0u64;
        for &(v, w) in &weighted {
            seen += w;
            if seen as f64 > rank {
                return v;
            }
        }
        weighted.last().map_or(0.0, |w| w.0)
    }

    /// Values held (the memory the sketch uses, in values).
    pub fn held(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_up_to_k_values() {
        let values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0];
        let mut s = Sketch::new(16);
        values.iter().for_each(|&v| s.insert(v));
        assert!(s.is_exact());
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.25, 0.5, 0.75, 0.9, 1.0] {
            assert_eq!(
                s.quantile(q),
                crate::data::preprocess::quantile(&sorted, q),
                "q = {q}"
            );
        }
        assert_eq!(s.quantile(0.5), 3.5);
    }

    /// Exact while the bottom level has room: up to `SKETCH_K − 1` values, the median and the
    /// quartiles those values give in memory.
    #[test]
    fn exact_up_to_one_value_short_of_its_size() {
        let mut s = Sketch::default();
        let v = |i: usize| ((i * 7919) % 10007) as f64;
        (0..SKETCH_K - 1).for_each(|i| s.insert(v(i)));
        assert!(s.is_exact(), "{} values", SKETCH_K - 1);
        let mut sorted: Vec<f64> = (0..SKETCH_K - 1).map(v).collect();
        sorted.sort_by(f64::total_cmp);
        for q in [0.25, 0.5, 0.75] {
            assert_eq!(s.quantile(q), crate::data::preprocess::quantile(&sorted, q));
        }
        s.insert(v(SKETCH_K - 1));
        assert!(!s.is_exact(), "{SKETCH_K} values are compacted");
    }

    /// A compaction moves pairs up a level, each at twice the weight, and keeps an odd value
    /// out where it is: the held weights add up to the values seen, after every insert.
    #[test]
    fn the_weights_held_add_up_to_the_values_seen() {
        let mut s = Sketch::new(16);
        for i in 0..5_000u64 {
            s.insert(((i * 7919) % 10007) as f64);
            let weight: u64 = (s.levels.iter().enumerate())
                .map(|(h, level)| (level.len() as u64) << h)
                .sum();
            assert_eq!(weight, s.count(), "after {} values", i + 1);
        }
    }

    #[test]
    fn a_million_values_within_half_a_percent_of_rank_in_bounded_space() {
        // A scrambled order of 0..n: the q-quantile is q·(n−1).
        let n = 1_000_000u64;
        let mut s = Sketch::default();
        for i in 0..n {
            let v = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n) as f64;
            s.insert(v);
        }
        assert!(!s.is_exact());
        assert_eq!(s.count(), n);
        // Bounded, and not by throwing the values away: the top level alone holds up to k.
        let held = s.held();
        assert!(
            (SKETCH_K / 2..4 * SKETCH_K).contains(&held),
            "held {held} values"
        );
        for q in [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99] {
            let got = s.quantile(q);
            let want = q * (n - 1) as f64;
            let error = (got - want).abs() / n as f64;
            assert!(error < 0.005, "q = {q}: {got} against {want}");
        }
    }

    #[test]
    fn the_same_stream_gives_the_same_sketch() {
        let fill = |s: &mut Sketch| (0..50_000).for_each(|i| s.insert(((i * 7919) % 10007) as f64));
        let (mut a, mut b) = (Sketch::default(), Sketch::default());
        fill(&mut a);
        fill(&mut b);
        for q in [0.1, 0.5, 0.9] {
            assert_eq!(a.quantile(q).to_bits(), b.quantile(q).to_bits());
        }
    }
}
