//! Decoding a dataset's part files batch by batch, in order: on a worker thread a few batches
//! ahead of the reader, so that decoding overlaps with typing the cells ([`read_cells`]), or in
//! line for the CSV text diagnostics show ([`CsvRows`]). Columns left out are not decoded.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::cells::Batch;
use crate::data::read::{self, Cells, Plan, Problem};

/// Rows decoded at a time: enough to amortize the decoder's per-batch work, few enough that a
/// batch of wide rows stays a few megabytes (1024 rows of 785 float64 columns: 6 MiB).
const BATCH_ROWS: usize = 1024;

/// Decoded batches waiting for the reader: enough to keep the decoder busy while the reader
/// types cells, few enough to bound the memory they hold.
const BATCHES_AHEAD: usize = 2;

/// The options every part is opened with. The embedded Arrow schema would turn text into
/// dictionaries and views; the Parquet schema alone gives the plain types `cells` knows.
pub(super) fn options() -> ArrowReaderOptions {
    ArrowReaderOptions::new().with_skip_arrow_metadata(true)
}

/// The parts still to decode and the batches of the current one.
pub(super) struct Batches {
    parts: Vec<PathBuf>,
    next_part: usize,
    batches: Option<ParquetRecordBatchReader>,
    /// Per column, whether it is decoded.
    decoded: Vec<bool>,
}

impl Batches {
    pub fn new(parts: Vec<PathBuf>, decoded: Vec<bool>) -> Self {
        Batches {
            parts,
            next_part: 0,
            batches: None,
            decoded,
        }
    }

    /// The next non-empty batch; `None` after the last part. A panic of the reader on damaged
    /// data is an error like any other.
    fn next_batch(&mut self) -> io::Result<Option<RecordBatch>> {
        match super::guard::guarded(|| self.decode_next()) {
            Ok(next) => next,
            Err(message) => {
                let error = match self.next_part {
                    0 => io::Error::other(message),
                    _ => self.part_error(message),
                };
                // What the reader was in the middle of is not to be resumed.
                self.batches = None;
                self.next_part = self.parts.len();
                Err(error)
            }
        }
    }

    fn decode_next(&mut self) -> io::Result<Option<RecordBatch>> {
        loop {
            if let Some(batches) = &mut self.batches {
                match batches.next() {
                    Some(batch) => {
                        let batch = batch.map_err(|e| self.part_error(e))?;
                        if batch.num_rows() > 0 {
                            return Ok(Some(batch));
                        }
                        continue;
                    }
                    None => self.batches = None,
                }
            }
            let Some(part) = self.parts.get(self.next_part) else {
                return Ok(None);
            };
            self.next_part += 1;
            let file = File::open(part)?;
            let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options())
                .map_err(|e| self.part_error(e))?;
            let roots = (self.decoded.iter().enumerate())
                .filter(|(_, d)| **d)
                .map(|(i, _)| i);
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            let reader = builder
                .with_projection(mask)
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| self.part_error(e))?;
            self.batches = Some(reader);
        }
    }

    /// A decoding error, as an I/O error naming the part at fault.
    fn part_error(&self, e: impl std::fmt::Display) -> io::Error {
        let part = &self.parts[self.next_part - 1];
        io::Error::other(format!("Parquet file `{}`: {e}", part.display()))
    }
}

/// Every row of `batches` read into cells following `plan`, as the CSV text of them would be
/// read (`read::read_typed`), handed to `on_chunk` in chunks of at least `chunk_rows` rows (the
/// last may be shorter, and holds the problem that stopped reading, if any) until it returns
/// false. A decoding error is the cells' problem, as an I/O error of a CSV file is.
pub(super) fn read_chunks(
    mut batches: Batches,
    plan: &Plan,
    width: usize,
    chunk_rows: usize,
    on_chunk: &mut dyn FnMut(Cells) -> bool,
) {
    let decoded = batches.decoded.clone();
    let (send, receive) = mpsc::sync_channel(BATCHES_AHEAD);
    std::thread::scope(|scope| {
        let decoder = std::thread::Builder::new()
            .name("nnc-parquet".into())
            .spawn_scoped(scope, move || loop {
                let next = batches.next_batch();
                let end = !matches!(next, Ok(Some(_)));
                let sent = match next {
                    Ok(Some(batch)) => send.send(Ok(batch)),
                    Ok(None) => break,
                    Err(e) => send.send(Err(e)),
                };
                // A reader that stopped wants no more.
                if sent.is_err() || end {
                    break;
                }
            });
        let mut references = plan.references.clone();
        let mut total = Cells::new(plan, width);
        // Rows of the chunks handed on: a row's start is its index in the whole dataset.
        let mut before = 0;
        if let Err(e) = decoder {
            total.problem = Some(Problem::Io(e.to_string()));
        } else {
            for next in receive.iter() {
                let batch = match next {
                    Ok(batch) => batch,
                    Err(e) => {
                        total.problem = Some(Problem::BadParquet(e.to_string()));
                        break;
                    }
                };
                let typed = Batch::new(&batch, &decoded);
                let first = before + total.rows;
                total.absorb(read::read_typed(
                    plan,
                    width,
                    &mut references,
                    &typed,
                    first,
                ));
                if total.problem.is_some() {
                    break;
                }
                if total.rows >= chunk_rows {
                    let mut full = std::mem::replace(&mut total, Cells::new(plan, width));
                    full.references = references.clone().unwrap_or_else(|| vec![0.0; width]);
                    before += full.rows;
                    if !on_chunk(full) {
                        // Dropping the receiver ends a decoder waiting to send.
                        return;
                    }
                }
            }
        }
        drop(receive);
        total.references = references.unwrap_or_else(|| vec![0.0; width]);
        on_chunk(total);
    })
}

/// A dataset's rows as CSV text, header first, rendered a batch at a time as it is read: what a
/// diagnostic about a cell shows.
pub(crate) struct CsvRows {
    batches: Batches,
    out: Vec<u8>,
    pos: usize,
    /// Rows still to render.
    rows_left: usize,
}

impl CsvRows {
    pub(super) fn new(header: Vec<u8>, batches: Batches) -> Self {
        CsvRows {
            batches,
            out: header,
            pos: 0,
            rows_left: usize::MAX,
        }
    }

    /// Render no more than the first `rows` rows.
    pub(super) fn limit_rows(&mut self, rows: usize) {
        self.rows_left = rows;
    }
}

impl Read for CsvRows {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if self.rows_left == 0 {
                return Ok(0);
            }
            let Some(batch) = self.batches.next_batch()? else {
                return Ok(0);
            };
            let batch = batch.slice(0, batch.num_rows().min(self.rows_left));
            self.rows_left -= batch.num_rows();
            self.out.clear();
            self.pos = 0;
            Batch::new(&batch, &self.batches.decoded).render(&mut self.out);
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
