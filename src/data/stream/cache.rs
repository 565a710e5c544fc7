//! The prepared rows of one part of a streamed run, in a file: each row its model inputs and
//! encoded target (f32), then its label or unscaled target value (f64) and its row in the data
//! file (u64), little-endian, one after the other. The file is anonymous, in the temporary
//! folder (`TMPDIR`): it disappears with the process, whatever way it ends. A row costs as
//! many bytes as the inputs it becomes, whatever the text it was read from.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use super::super::preprocess::{Examples, Matrix};

/// Whether the part's rows carry class labels or target values (the metrics read one or the
/// other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    Labels,
    Values,
}

pub struct RowCache {
    writer: Option<BufWriter<File>>,
    file: Option<File>,
    x_width: usize,
    y_width: usize,
    truth: Truth,
    rows: usize,
}

impl std::fmt::Debug for RowCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RowCache({} rows of {} + {})",
            self.rows, self.x_width, self.y_width
        )
    }
}

impl RowCache {
    pub fn new(x_width: usize, y_width: usize, truth: Truth) -> std::io::Result<Self> {
        Ok(RowCache {
            writer: Some(BufWriter::with_capacity(1 << 20, tempfile::tempfile()?)),
            file: None,
            x_width,
            y_width,
            truth,
            rows: 0,
        })
    }

    /// Bytes of one row in the file.
    pub fn row_bytes(&self) -> usize {
        4 * (self.x_width + self.y_width) + 16
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn x_width(&self) -> usize {
        self.x_width
    }

    pub fn y_width(&self) -> usize {
        self.y_width
    }

    /// Append the rows of `ex`, whose `rows` are already the data file's row numbers.
    pub fn append(&mut self, ex: &Examples) -> std::io::Result<()> {
        let w = self
            .writer
            .as_mut()
            .expect("invariant: rows are appended before the cache is read");
        assert_eq!(
            (ex.x.cols, ex.y.cols),
            (self.x_width, self.y_width),
            "invariant: a cache holds rows of one shape"
        );
        // The rows' bytes laid out first, then written a megabyte at a time: a write per value
        // costs more than the values.
        let mut bytes = Vec::with_capacity(2 << 20);
        for r in 0..ex.len() {
            if bytes.len() >= 1 << 20 {
                w.write_all(&bytes)?;
                bytes.clear();
            }
            for v in ex.x.row(r).iter().chain(ex.y.row(r)) {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            let truth = match self.truth {
                Truth::Labels => ex.labels[r] as f64,
                Truth::Values => ex.values[r],
            };
            bytes.extend_from_slice(&truth.to_le_bytes());
            bytes.extend_from_slice(&(ex.rows[r] as u64).to_le_bytes());
        }
        w.write_all(&bytes)?;
        self.rows += ex.len();
        Ok(())
    }

    /// End the writing: the rows can be read from now on.
    pub fn seal(&mut self) -> std::io::Result<()> {
        if let Some(w) = self.writer.take() {
            self.file = Some(w.into_inner().map_err(|e| e.into_error())?);
        }
        Ok(())
    }

    /// Rows `start..start + count` as raw bytes into `buf` (resized).
    pub fn read_raw(
        &mut self,
        start: usize,
        count: usize,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let row = self.row_bytes();
        let file = self
            .file
            .as_mut()
            .expect("invariant: a cache is sealed before it is read");
        file.seek(SeekFrom::Start((start * row) as u64))?;
        buf.resize(count * row, 0);
        file.read_exact(buf)
    }

    /// The x and y of a raw row, appended to `x` and `y`.
    pub fn split_row(&self, raw: &[u8], x: &mut Vec<f32>, y: &mut Vec<f32>) {
        let at = 4 * self.x_width;
        append_f32s(x, &raw[..at]);
        append_f32s(y, &raw[at..at + 4 * self.y_width]);
    }

    /// Every row in file order, `chunk` rows at a time, as examples.
    pub fn for_each_chunk<E: From<std::io::Error>>(
        &mut self,
        chunk: usize,
        mut f: impl FnMut(&Examples) -> Result<(), E>,
    ) -> Result<(), E> {
        let chunk = chunk.max(1);
        let mut buf = Vec::new();
        let mut start = 0;
        while start < self.rows {
            let count = chunk.min(self.rows - start);
            self.read_raw(start, count, &mut buf)?;
            let ex = self.examples(&buf, count);
            f(&ex)?;
            start += count;
        }
        Ok(())
    }

    fn examples(&self, raw: &[u8], count: usize) -> Examples {
        let row = self.row_bytes();
        let mut x = Vec::with_capacity(count * self.x_width);
        let mut y = Vec::with_capacity(count * self.y_width);
        let (mut labels, mut values, mut rows) =
            (Vec::new(), Vec::new(), Vec::with_capacity(count));
        for r in raw.chunks_exact(row) {
            self.split_row(r, &mut x, &mut y);
            let tail = &r[row - 16..];
            let truth = f64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
            match self.truth {
                Truth::Labels => labels.push(truth as usize),
                Truth::Values => values.push(truth),
            }
            rows.push(u64::from_le_bytes(tail[8..].try_into().expect("8 bytes")) as usize);
        }
        Examples {
            x: Matrix {
                rows: count,
                cols: self.x_width,
                data: x,
            },
            y: Matrix {
                rows: count,
                cols: self.y_width,
                data: y,
            },
            labels,
            values,
            rows,
        }
    }
}

/// Append the little-endian f32s of `bytes` to `out`: into place, a loop the compiler turns
/// into vector moves (the shuffle buffer copies every row of every epoch through here).
fn append_f32s(out: &mut Vec<f32>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + bytes.len() / 4, 0.0);
    for (v, b) in out[start..].iter_mut().zip(bytes.chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(first: usize, n: usize) -> Examples {
        Examples {
            x: Matrix {
                rows: n,
                cols: 2,
                data: (0..n).flat_map(|r| [r as f32, 0.5]).collect(),
            },
            y: Matrix {
                rows: n,
                cols: 1,
                data: (0..n).map(|r| -(r as f32)).collect(),
            },
            labels: Vec::new(),
            values: (0..n).map(|r| r as f64 * 1.25).collect(),
            rows: (first..first + n).collect(),
        }
    }

    #[test]
    fn rows_come_back_as_written_in_any_chunks() {
        let mut cache = RowCache::new(2, 1, Truth::Values).unwrap();
        cache.append(&examples(0, 5)).unwrap();
        cache.append(&examples(10, 3)).unwrap();
        cache.seal().unwrap();
        assert_eq!(cache.len(), 8);
        let mut back = Vec::new();
        cache
            .for_each_chunk(3, |ex| {
                back.push(ex.clone());
                Ok::<(), std::io::Error>(())
            })
            .unwrap();
        assert_eq!(
            back.iter().map(Examples::len).collect::<Vec<_>>(),
            [3, 3, 2]
        );
        let rows: Vec<usize> = back.iter().flat_map(|e| e.rows.clone()).collect();
        assert_eq!(rows, [0, 1, 2, 3, 4, 10, 11, 12]);
        let x: Vec<f32> = back.iter().flat_map(|e| e.x.data.clone()).collect();
        assert_eq!(&x[..6], &[0.0, 0.5, 1.0, 0.5, 2.0, 0.5]);
        let values: Vec<f64> = back.iter().flat_map(|e| e.values.clone()).collect();
        assert_eq!(values[6], 1.25);
        assert_eq!(back[2].y.data, [-1.0, -2.0]);
    }
}
