//! The training rows of a streamed run in a new order every epoch, with a bounded buffer: the
//! rows are read from their [`RowCache`] in blocks, the blocks in a shuffled order, into a
//! buffer of at most `buffer_rows` rows; each row of a batch is drawn from the buffer at random
//! and its place taken by the next row read. Every row is taken once an epoch. A buffer as large
//! as the part is a uniform shuffle; a smaller one keeps a row within about `buffer_rows` of
//! where its block fell, which for data in no particular order is as good, and for data sorted
//! by the target is what the block order is for. The order of epoch `e` depends only on the seed
//! and `e`, so a resumed run takes it up without replaying the epochs before.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::cache::RowCache;
use crate::random::{self, Stream};

/// Rows read from the file at once: about 256 KiB.
fn block_rows(row_bytes: usize) -> usize {
    ((256 << 10) / row_bytes.max(1)).max(1)
}

pub struct ShuffledBatches<'c> {
    cache: &'c mut RowCache,
    batch_size: usize,
    buffer_rows: usize,
    rng: ChaCha8Rng,
    /// The blocks of the epoch still to read, last first.
    blocks: Vec<usize>,
    /// Raw rows of the buffer, one after the other.
    buffer: Vec<u8>,
    block: Vec<u8>,
    /// Rows of `block` not moved into the buffer yet, from this one on.
    block_next: usize,
    block_len: usize,
    left: usize,
}

impl<'c> ShuffledBatches<'c> {
    pub fn new(cache: &'c mut RowCache, batch_size: usize, buffer_rows: usize) -> Self {
        ShuffledBatches {
            cache,
            batch_size: batch_size.max(1),
            buffer_rows: buffer_rows.max(1),
            rng: random::stream(0, Stream::Shuffle),
            blocks: Vec::new(),
            buffer: Vec::new(),
            block: Vec::new(),
            block_next: 0,
            block_len: 0,
            left: 0,
        }
    }

    pub fn rows(&self) -> usize {
        self.cache.len()
    }

    pub fn batches_per_epoch(&self) -> usize {
        self.cache.len().div_ceil(self.batch_size)
    }

    /// Begin epoch `epoch` (from 1) of a run seeded `seed`.
    pub fn start_epoch(&mut self, seed: u64, epoch: usize) {
        self.rng = random::stream(super::splitmix64(seed) ^ epoch as u64, Stream::Shuffle);
        let per = block_rows(self.cache.row_bytes());
        self.blocks = (0..self.cache.len().div_ceil(per)).collect();
        self.blocks.shuffle(&mut self.rng);
        self.buffer.clear();
        self.block_next = 0;
        self.block_len = 0;
        self.left = self.cache.len();
    }

    /// The next row read from the file, or `None` at the end of the epoch's blocks.
    fn next_row(&mut self) -> std::io::Result<Option<std::ops::Range<usize>>> {
        let row = self.cache.row_bytes();
        if self.block_next == self.block_len {
            let Some(b) = self.blocks.pop() else {
                return Ok(None);
            };
            let per = block_rows(row);
            let start = b * per;
            let count = per.min(self.cache.len() - start);
            self.cache.read_raw(start, count, &mut self.block)?;
            self.block_next = 0;
            self.block_len = count;
        }
        let at = self.block_next * row;
        self.block_next += 1;
        Ok(Some(at..at + row))
    }

    /// The next batch of the epoch into `x` and `y` (replaced), and its rows; `None` when the
    /// epoch has no rows left.
    pub fn next_batch(
        &mut self,
        x: &mut Vec<f32>,
        y: &mut Vec<f32>,
    ) -> std::io::Result<Option<usize>> {
        x.clear();
        y.clear();
        let row = self.cache.row_bytes();
        let take = self.batch_size.min(self.left);
        if take == 0 {
            return Ok(None);
        }
        // Fill the buffer up.
        while self.buffer.len() / row < self.buffer_rows {
            let Some(r) = self.next_row()? else { break };
            self.buffer.extend_from_slice(&self.block[r]);
        }
        for _ in 0..take {
            let held = self.buffer.len() / row;
            let j = self.rng.random_range(0..held);
            self.cache
                .split_row(&self.buffer[j * row..(j + 1) * row], x, y);
            // The drawn row's place goes to the next row read, or to the last row held.
            match self.next_row()? {
                Some(r) => self.buffer[j * row..(j + 1) * row].copy_from_slice(&self.block[r]),
                None => {
                    let last = (held - 1) * row;
                    self.buffer.copy_within(last..last + row, j * row);
                    self.buffer.truncate(last);
                }
            }
        }
        self.left -= take;
        Ok(Some(take))
    }

    /// Skip the next `n` batches of the epoch (a resumed run's, already taken).
    pub fn skip(&mut self, n: usize) -> std::io::Result<()> {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            if self.next_batch(&mut x, &mut y)?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::stream::cache::Truth;
    use crate::data::{Examples, Matrix};

    fn cache(n: usize) -> RowCache {
        let mut c = RowCache::new(1, 1, Truth::Values).unwrap();
        c.append(&Examples {
            x: Matrix {
                rows: n,
                cols: 1,
                data: (0..n).map(|r| r as f32).collect(),
            },
            y: Matrix {
                rows: n,
                cols: 1,
                data: (0..n).map(|r| -(r as f32)).collect(),
            },
            labels: Vec::new(),
            values: vec![0.0; n],
            rows: (0..n).collect(),
        })
        .unwrap();
        c.seal().unwrap();
        c
    }

    fn epoch(b: &mut ShuffledBatches, seed: u64, e: usize) -> Vec<f32> {
        b.start_epoch(seed, e);
        let (mut x, mut y, mut all) = (Vec::new(), Vec::new(), Vec::new());
        while let Some(rows) = b.next_batch(&mut x, &mut y).unwrap() {
            assert_eq!(rows, x.len());
            assert!(
                x.iter().zip(&y).all(|(a, b)| *a == -*b),
                "x and y stay paired"
            );
            all.extend_from_slice(&x);
        }
        all
    }

    /// A block is one read of the file: about 256 KiB whatever the row, never empty.
    #[test]
    fn a_block_is_a_quarter_mebibyte_of_rows() {
        assert_eq!(block_rows(24), 10_922);
        assert_eq!(block_rows(4), 65_536);
        assert_eq!(block_rows(1 << 20), 1, "a row larger than a block");
        assert_eq!(block_rows(0), 256 << 10);
    }

    #[test]
    fn every_row_once_an_epoch_in_an_order_of_the_seed_and_epoch() {
        // 100,000 rows of 24 bytes: 10,922 a block, 10 blocks; a buffer of 5,000 rows.
        let mut c = cache(100_000);
        let mut b = ShuffledBatches::new(&mut c, 64, 5_000);
        assert_eq!(b.batches_per_epoch(), 1563);
        let first = epoch(&mut b, 3, 1);
        let mut sorted = first.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, (0..100_000).map(|r| r as f32).collect::<Vec<_>>());
        assert_ne!(first, epoch(&mut b, 3, 2), "each epoch its own order");
        assert_eq!(
            first,
            epoch(&mut b, 3, 1),
            "the same seed and epoch, the same order"
        );
        assert_ne!(first, epoch(&mut b, 4, 1));
        // Shuffled within blocks too: few rows follow their predecessor in the file.
        let runs = first.windows(2).filter(|w| w[1] == w[0] + 1.0).count();
        assert!(runs < 1000, "{runs} rows follow their predecessor");
    }

    /// Every seed and epoch its own order: the epoch's stream is the seed's hash combined with
    /// the epoch so that no two pairs meet.
    #[test]
    fn no_two_seeds_and_epochs_share_an_order() {
        let mut c = cache(1000);
        let mut b = ShuffledBatches::new(&mut c, 10, 100);
        let mut seen = std::collections::HashSet::new();
        for seed in 0..6 {
            for e in 1..=6 {
                let order: Vec<u32> = epoch(&mut b, seed, e).iter().map(|v| v.to_bits()).collect();
                assert!(
                    seen.insert(order),
                    "seed {seed}, epoch {e}: an order seen before"
                );
            }
        }
    }

    /// The buffer is the memory bound of a streamed epoch: it holds `buffer_rows` rows, never
    /// more, until the epoch's last rows.
    #[test]
    fn the_buffer_holds_its_rows_and_no_more() {
        let mut c = cache(1000);
        let mut b = ShuffledBatches::new(&mut c, 10, 100);
        b.start_epoch(1, 1);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for batch in 0..50 {
            b.next_batch(&mut x, &mut y).unwrap();
            let held = b.buffer.len() / b.cache.row_bytes();
            assert_eq!(held, 100, "after batch {batch}");
        }
    }

    #[test]
    fn skipping_batches_continues_the_same_order() {
        let mut c = cache(1000);
        let mut b = ShuffledBatches::new(&mut c, 10, 100);
        let whole = epoch(&mut b, 1, 5);
        b.start_epoch(1, 5);
        b.skip(30).unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        b.next_batch(&mut x, &mut y).unwrap();
        assert_eq!(x, whole[300..310]);
    }
}
