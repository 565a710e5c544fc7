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

    /// The next non-empty batch; `None` after the last part.
    fn next_batch(&mut self) -> io::Result<Option<RecordBatch>> {
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
/// read (`read::read_typed`); a decoding error is the cells' problem, as an I/O error of a CSV
/// file is.
pub(super) fn read_cells(mut batches: Batches, plan: &Plan, width: usize) -> Cells {
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
                // A reader that stopped at a problem wants no more.
                if sent.is_err() || end {
                    break;
                }
            });
        let mut references = plan.references.clone();
        let mut total = read::Cells::new(plan, width);
        match decoder {
            Err(e) => total.problem = Some(Problem::Io(e.to_string())),
            Ok(_) => {
                for next in receive.iter() {
                    let batch = match next {
                        Ok(batch) => batch,
                        Err(e) => {
                            total.problem = Some(Problem::Io(e.to_string()));
                            break;
                        }
                    };
                    let typed = Batch::new(&batch, &decoded);
                    let cells = read::read_typed(plan, width, &mut references, &typed, total.rows);
                    total.absorb(cells);
                    if total.problem.is_some() {
                        break;
                    }
                }
            }
        }
        // Dropping the receiver ends a decoder waiting to send; the scope then waits for it.
        drop(receive);
        total.references = references.unwrap_or_else(|| vec![0.0; width]);
        total
    })
}

/// A dataset's rows as CSV text, header first, rendered a batch at a time as it is read: what a
/// diagnostic about a cell shows.
pub(crate) struct CsvRows {
    batches: Batches,
    out: Vec<u8>,
    pos: usize,
}

impl CsvRows {
    pub(super) fn new(header: Vec<u8>, batches: Batches) -> Self {
        CsvRows {
            batches,
            out: header,
            pos: 0,
        }
    }
}

impl Read for CsvRows {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            let Some(batch) = self.batches.next_batch()? else {
                return Ok(0);
            };
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
