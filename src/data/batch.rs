//! Seeded, shuffled mini-batches: a new permutation of the rows every epoch, cut into ranges, and
//! a gather that copies one batch's rows into reusable buffers so the training loop does not
//! allocate per step. It must not know what a step does with the batch.

use std::ops::Range;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::random::{self, Stream};

use super::preprocess::Examples;

#[derive(Clone, Debug)]
pub struct Batcher {
    permutation: Vec<usize>,
    batch_size: usize,
    rng: ChaCha8Rng,
}

impl Batcher {
    /// A batch size of 0 is read as 1, and one larger than `rows` gives full-batch descent. The
    /// order comes from the seed's shuffle stream.
    pub fn new(rows: usize, batch_size: usize, seed: u64) -> Self {
        Batcher {
            permutation: (0..rows).collect(),
            batch_size: batch_size.max(1),
            rng: random::stream(seed, Stream::Shuffle),
        }
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.permutation.len().div_ceil(self.batch_size)
    }

    /// Reshuffle and return the batches of the new epoch as ranges into [`Batcher::permutation`].
    /// The last batch is shorter when the batch size does not divide the rows: dropping it would
    /// never train on some rows of small data sets in a given epoch.
    pub fn epoch(&mut self) -> Vec<Range<usize>> {
        // The generator carries over between epochs, so each epoch gets a different order and
        // the whole sequence still depends only on the seed.
        self.permutation.shuffle(&mut self.rng);
        let n = self.permutation.len();
        (0..n)
            .step_by(self.batch_size)
            .map(|start| start..(start + self.batch_size).min(n))
            .collect()
    }

    /// The current epoch's order of rows (the identity before the first epoch).
    pub fn permutation(&self) -> &[usize] {
        &self.permutation
    }

    /// Copy the `x` and `y` rows of one batch into contiguous buffers, replacing their contents.
    /// The buffers keep their capacity, so after the first full batch no step allocates.
    pub fn gather(
        &self,
        ex: &Examples,
        range: Range<usize>,
        x_out: &mut Vec<f32>,
        y_out: &mut Vec<f32>,
    ) {
        assert_eq!(
            ex.x.rows,
            self.permutation.len(),
            "invariant: a batcher gathers from the examples it was built for"
        );
        x_out.clear();
        y_out.clear();
        for &r in &self.permutation[range] {
            x_out.extend_from_slice(ex.x.row(r));
            y_out.extend_from_slice(ex.y.row(r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Matrix;

    fn examples(rows: usize) -> Examples {
        Examples {
            x: Matrix {
                rows,
                cols: 2,
                data: (0..rows).flat_map(|r| [r as f32, -(r as f32)]).collect(),
            },
            y: Matrix {
                rows,
                cols: 1,
                data: (0..rows).map(|r| r as f32 * 10.0).collect(),
            },
            labels: Vec::new(),
            values: Vec::new(),
            rows: (0..rows).collect(),
        }
    }

    #[test]
    fn every_row_once_per_epoch_with_a_partial_last_batch() {
        let mut b = Batcher::new(10, 4, 3);
        assert_eq!(b.batches_per_epoch(), 3);
        let mut orders = Vec::new();
        for _ in 0..3 {
            let batches = b.epoch();
            let sizes: Vec<usize> = batches.iter().map(|r| r.len()).collect();
            assert_eq!(sizes, vec![4, 4, 2]);
            let mut seen: Vec<usize> = batches
                .into_iter()
                .flat_map(|r| b.permutation()[r].to_vec())
                .collect();
            orders.push(seen.clone());
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
        }
        assert_ne!(orders[0], orders[1], "epochs are shuffled differently");
        assert_ne!(
            orders[0],
            (0..10).collect::<Vec<_>>(),
            "the first epoch is shuffled"
        );
    }

    #[test]
    fn same_seed_same_batches() {
        let (mut a, mut b, mut c) = (
            Batcher::new(50, 8, 1),
            Batcher::new(50, 8, 1),
            Batcher::new(50, 8, 2),
        );
        for _ in 0..2 {
            a.epoch();
            b.epoch();
            c.epoch();
            assert_eq!(a.permutation(), b.permutation());
            assert_ne!(a.permutation(), c.permutation());
        }
    }

    #[test]
    fn gather_copies_the_batch_rows_in_order() {
        let ex = examples(5);
        let mut b = Batcher::new(5, 2, 9);
        let batches = b.epoch();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for range in batches {
            let rows = b.permutation()[range.clone()].to_vec();
            b.gather(&ex, range, &mut x, &mut y);
            let want_x: Vec<f32> = rows.iter().flat_map(|&r| [r as f32, -(r as f32)]).collect();
            let want_y: Vec<f32> = rows.iter().map(|&r| r as f32 * 10.0).collect();
            assert_eq!((&x, &y), (&want_x, &want_y));
        }
        let capacity = x.capacity();
        b.gather(&ex, 0..2, &mut x, &mut y);
        assert_eq!(
            x.capacity(),
            capacity,
            "no reallocation once capacity is reached"
        );
    }

    #[test]
    fn degenerate_sizes() {
        assert_eq!(Batcher::new(0, 4, 0).epoch(), Vec::<Range<usize>>::new());
        assert_eq!(Batcher::new(3, 0, 0).epoch().len(), 3);
        assert_eq!(Batcher::new(3, 100, 0).epoch(), vec![0..3]);
    }
}
