//! Reading Parquet: one file, or a folder of part files as Spark, Dask and polars write a dataset
//! (read as one table, in the order of the file names). The rows are rendered, a batch at a time,
//! as the CSV text a CSV writer would make of them, and that text goes through the same reader as
//! a CSV file: so a Parquet file is typed, checked and preprocessed exactly as the CSV of its
//! rows, and its diagnostics show the row at fault as a CSV line. Columns the run leaves out are
//! not decoded at all. This module owns finding the part files, the Parquet types nnc reads, and
//! the diagnostics about the files themselves (`nnc::data::parquet_*`); it must not type columns
//! or know about targets: that is `load`'s job.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowTemporalType, Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, PrimitiveArray, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::DataOrigin;
use crate::diag::Diagnostic;

/// The first four bytes of every Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// Rows decoded at a time: enough to amortize the decoder's per-batch work, few enough that a
/// batch of wide rows stays a few megabytes (1024 rows of 785 numbers: 6 MiB decoded, 8 MiB as
/// text).
const BATCH_ROWS: usize = 1024;

/// A Parquet dataset: the files that make it up, in reading order.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The path as the user wrote it, for messages.
    pub name: String,
    pub parts: Vec<PathBuf>,
}

/// What `path` holds: `Some` for a Parquet file (recognized by its first bytes, whatever its
/// name) or a folder of Parquet part files, `None` for anything else (read as CSV). Only regular
/// files are looked into: reading the first bytes of a pipe would take them from the CSV reader.
pub(crate) fn dataset(path: &Path, origin: &DataOrigin) -> Result<Option<Dataset>, Diagnostic> {
    let name = path.display().to_string();
    let fail = |e: io::Error| super::load::file_error(&name, &e, origin);
    let meta = std::fs::metadata(path).map_err(fail)?;
    if meta.is_dir() {
        let parts = list_parts(path).map_err(|e| match e.downcast::<PartitionedFolder>() {
            Ok(sub) => partitioned(&name, &sub.0, origin),
            Err(e) => fail(e),
        })?;
        let set = Dataset {
            name: name.clone(),
            parts,
        };
        return match set.parts.is_empty() {
            true => Err(set.no_parts(origin)),
            false => Ok(Some(set)),
        };
    }
    sniff(path, name.clone()).map_err(fail)
}

/// `Some` when the regular file at `path` starts as a Parquet file does.
fn sniff(path: &Path, name: String) -> io::Result<Option<Dataset>> {
    if !std::fs::metadata(path)?.is_file() {
        return Ok(None);
    }
    let mut first = [0u8; 4];
    let mut file = File::open(path)?;
    let mut got = 0;
    while got < first.len() {
        match file.read(&mut first[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok((got == MAGIC.len() && &first == MAGIC).then(|| Dataset {
        name,
        parts: vec![path.to_path_buf()],
    }))
}

/// The Parquet part files of `folder` in reading order; `None` when it cannot be listed or holds
/// a subfolder (what a checkpoint's fingerprint of the data needs).
pub fn part_files(folder: &Path) -> Option<Vec<PathBuf>> {
    list_parts(folder).ok()
}

/// The Parquet part files of a folder, by file name. Files whose names start with `_` or `.`
/// are the writers' bookkeeping (`_SUCCESS`, `_metadata`, `.part-0.crc`) and are passed over;
/// so is anything not named `*.parquet`. An empty list is the caller's to report.
fn list_parts(folder: &Path) -> io::Result<Vec<PathBuf>> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(['_', '.']) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            return Err(io::Error::other(PartitionedFolder(name.into_owned())));
        }
        if name.to_ascii_lowercase().ends_with(".parquet") {
            parts.push(entry.path());
        }
    }
    parts.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(parts)
}

/// A folder of part files that holds a subfolder, as a dataset partitioned by a column's values.
fn partitioned(name: &str, sub: &str, origin: &DataOrigin) -> Diagnostic {
    let diag = Diagnostic::new(
        "nnc::data::partitioned",
        format!("folder `{name}` holds a subfolder `{sub}`, as a partitioned dataset does"),
    )
    .with_help(
        "nnc reads a folder of part files but not partitions (`year=2020/`), whose column \
         values live in folder names: write the dataset without partitioning it, or point the \
         path at one folder of part files",
    );
    with_path_label(diag, name, origin)
}

/// A subfolder found among part files: a dataset partitioned by a column (`year=2020/`), whose
/// values live in folder names rather than in the files.
#[derive(Debug)]
pub(crate) struct PartitionedFolder(pub String);

impl std::fmt::Display for PartitionedFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "it holds a subfolder `{}`", self.0)
    }
}

impl std::error::Error for PartitionedFolder {}

impl Dataset {
    /// The column names, from the first part's footer.
    pub(crate) fn header(&self, origin: &DataOrigin) -> Result<Vec<String>, Diagnostic> {
        let first = self.parts.first().ok_or_else(|| self.no_parts(origin))?;
        let schema = self.schema_of(first, origin)?;
        Ok(column_names(&schema))
    }

    /// The rows as CSV text, header first. Columns named in `skip` are not decoded: their cells
    /// are empty. Every part must have the same column names, and every other column a type nnc
    /// reads; both are checked here, from the footers, before a row is decoded.
    pub(crate) fn csv(&self, skip: &[String], origin: &DataOrigin) -> Result<CsvRows, Diagnostic> {
        let first = self.parts.first().ok_or_else(|| self.no_parts(origin))?;
        let schema = self.schema_of(first, origin)?;
        let names = column_names(&schema);
        for part in &self.parts[1..] {
            let other = column_names(self.schema_of(part, origin)?.as_ref());
            if other != names {
                return Err(self.parts_differ(first, &names, part, &other, origin));
            }
        }
        let decoded: Vec<bool> = names.iter().map(|n| !skip.contains(n)).collect();
        for part in &self.parts {
            let schema = self.schema_of(part, origin)?;
            for (field, _) in schema.fields().iter().zip(&decoded).filter(|(_, d)| **d) {
                if !readable(field.data_type()) {
                    return Err(self.column_type(part, field.name(), field.data_type(), origin));
                }
            }
        }
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_text(&mut out, name.as_bytes());
        }
        out.push(b'\n');
        let batches = Batches {
            parts: self.parts.clone(),
            next_part: 0,
            batches: None,
            decoded,
        };
        CsvRows::start(out, batches).map_err(|e| self.unreadable(first, &e.to_string(), origin))
    }

    fn builder(
        &self,
        part: &Path,
        origin: &DataOrigin,
    ) -> Result<ParquetRecordBatchReaderBuilder<File>, Diagnostic> {
        let fail = |why: String| self.unreadable(part, &why, origin);
        let file = File::open(part).map_err(|e| fail(e.to_string()))?;
        // The embedded Arrow schema would turn text into dictionaries and views; the Parquet
        // schema alone gives the plain types `write_cell` knows.
        let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
        ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
            .map_err(|e| fail(e.to_string()))
    }

    fn schema_of(&self, part: &Path, origin: &DataOrigin) -> Result<Arc<Schema>, Diagnostic> {
        Ok(self.builder(part, origin)?.schema().clone())
    }

    fn no_parts(&self, origin: &DataOrigin) -> Diagnostic {
        let diag = Diagnostic::new(
            "nnc::data::no_parts",
            format!("folder `{}` holds no Parquet part files", self.name),
        )
        .with_help(
            "a data path names a CSV file, a Parquet file, or a folder of `*.parquet` part files \
             (as Spark, Dask and polars write a dataset)",
        );
        with_path_label(diag, &self.name, origin)
    }

    fn unreadable(&self, part: &Path, why: &str, origin: &DataOrigin) -> Diagnostic {
        let diag = Diagnostic::new(
            "nnc::data::bad_parquet",
            format!("cannot read Parquet file `{}`: {why}", part.display()),
        )
        .with_help(
            "check that the file was written completely; nnc reads Parquet with any of the \
             standard codecs (snappy, gzip, zstd, lz4, brotli)",
        );
        with_path_label(diag, &self.name, origin)
    }

    fn parts_differ(
        &self,
        first: &Path,
        names: &[String],
        part: &Path,
        other: &[String],
        origin: &DataOrigin,
    ) -> Diagnostic {
        let at = (0..names.len().max(other.len()))
            .find(|&i| names.get(i) != other.get(i))
            .expect("invariant: the two lists of names differ");
        let show = |n: Option<&String>| n.map_or("no column".to_string(), |n| format!("`{n}`"));
        let diag = Diagnostic::new(
            "nnc::data::parts_differ",
            format!(
                "the part files of `{}` do not have the same columns: column {} is {} in `{}` \
                 but {} in `{}`",
                self.name,
                at + 1,
                show(names.get(at)),
                file_name(first),
                show(other.get(at)),
                file_name(part),
            ),
        )
        .with_help(
            "every part file of a dataset must have the same columns in the same order; move \
             files of another table out of the folder",
        );
        with_path_label(diag, &self.name, origin)
    }

    fn column_type(
        &self,
        part: &Path,
        column: &str,
        ty: &DataType,
        origin: &DataOrigin,
    ) -> Diagnostic {
        let diag = Diagnostic::new(
            "nnc::data::parquet_type",
            format!(
                "column `{column}` of Parquet file `{}` holds {ty} values, which cannot be a \
                 feature or a target",
                part.display()
            ),
        )
        .with_help(format!(
            "nnc reads columns of numbers, text, booleans, dates, times and decimals; leave this \
             one out with `ignore: [{column}]` in the data block, or store it as one of those"
        ));
        with_path_label(diag, &self.name, origin)
    }
}

/// The diagnostic about a data path, labelled at the path in the `.nn` file when known.
pub(crate) fn with_path_label(diag: Diagnostic, name: &str, origin: &DataOrigin) -> Diagnostic {
    match origin.nn_span(origin.path_span) {
        Some((nn, span)) => diag
            .with_source(nn)
            .with_label(span, format!("resolved to `{name}`")),
        None => diag,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// The names of a schema's top-level columns, trimmed as the CSV reader trims a header's.
fn column_names(schema: &Schema) -> Vec<String> {
    (schema.fields().iter())
        .map(|f| f.name().trim().to_string())
        .collect()
}

/// Whether `write_cell` renders values of this type. Nested values (lists, structs, maps) have no
/// single cell, and fixed-size binaries (UUIDs, hashes) and intervals no text a column is typed by.
fn readable(ty: &DataType) -> bool {
    use DataType::*;
    matches!(
        ty,
        Null | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Utf8
            | LargeUtf8
            | Utf8View
            | Binary
            | LargeBinary
            | BinaryView
            | Date32
            | Date64
            | Timestamp(_, _)
            | Time32(TimeUnit::Second | TimeUnit::Millisecond)
            | Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond)
            | Decimal32(_, _)
            | Decimal64(_, _)
            | Decimal128(_, _)
            | Decimal256(_, _)
    )
}

/// A dataset's rows as CSV text. A worker thread decodes and renders the batches, a few ahead of
/// the reader, so that decoding overlaps with the CSV reader's parsing of the text before.
pub(crate) struct CsvRows {
    chunks: Option<mpsc::Receiver<io::Result<Vec<u8>>>>,
    worker: Option<std::thread::JoinHandle<()>>,
    out: Vec<u8>,
    pos: usize,
}

/// Rendered batches waiting for the reader: enough to keep the worker busy while the reader
/// parses, few enough to bound the memory they hold.
const CHUNKS_AHEAD: usize = 2;

impl CsvRows {
    fn start(header: Vec<u8>, mut batches: Batches) -> io::Result<Self> {
        let (send, chunks) = mpsc::sync_channel(CHUNKS_AHEAD);
        let worker = std::thread::Builder::new()
            .name("nnc-parquet".into())
            .spawn(move || loop {
                let next = batches.next_chunk();
                let last = !matches!(next, Ok(Some(_)));
                let sent = match next {
                    Ok(Some(chunk)) => send.send(Ok(chunk)),
                    Ok(None) => break,
                    Err(e) => send.send(Err(e)),
                };
                // A reader gone (it stopped at an error of its own) wants no more.
                if sent.is_err() || last {
                    break;
                }
            })?;
        Ok(CsvRows {
            chunks: Some(chunks),
            worker: Some(worker),
            out: header,
            pos: 0,
        })
    }
}

impl Read for CsvRows {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            let next = self.chunks.as_ref().and_then(|c| c.recv().ok());
            match next {
                Some(chunk) => {
                    self.out = chunk?;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for CsvRows {
    fn drop(&mut self) {
        // Closing the channel first ends a worker waiting to send; then it is waited for, so no
        // decoding outlives the reader.
        self.chunks = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The decoding side of [`CsvRows`]: the parts still to read and the batches of the current one.
struct Batches {
    parts: Vec<PathBuf>,
    next_part: usize,
    batches: Option<ParquetRecordBatchReader>,
    /// Per column, whether it is decoded (else its cells are empty).
    decoded: Vec<bool>,
}

impl Batches {
    /// The next batch of rows as CSV lines; `None` after the last part.
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(batches) = &mut self.batches {
                match batches.next() {
                    Some(batch) => {
                        let batch = batch.map_err(|e| self.part_error(e))?;
                        let mut out = Vec::new();
                        render(&batch, &self.decoded, &mut out);
                        if !out.is_empty() {
                            return Ok(Some(out));
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
            let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
            let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
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

    /// A decoding error, as the I/O error the CSV reader reports, naming the part at fault.
    fn part_error(&self, e: impl std::fmt::Display) -> io::Error {
        let part = &self.parts[self.next_part - 1];
        io::Error::other(format!("Parquet file `{}`: {e}", part.display()))
    }
}

/// The rows of `batch` as CSV lines appended to `out`. The batch holds the decoded columns only,
/// in order; the others are written as empty cells.
fn render(batch: &RecordBatch, decoded: &[bool], out: &mut Vec<u8>) {
    let mut columns = batch.columns().iter();
    let cells: Vec<Cells> = (decoded.iter())
        .map(|&d| match d {
            true => columns
                .next()
                .map_or(Cells::Empty, |a| Cells::of(a.as_ref())),
            false => Cells::Empty,
        })
        .collect();
    for row in 0..batch.num_rows() {
        for (i, column) in cells.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            column.write(out, row);
        }
        out.push(b'\n');
    }
}

/// A column of a batch, resolved once per batch: the common types reach their values without
/// dispatching on the type per cell.
enum Cells<'a> {
    Empty,
    F64(&'a PrimitiveArray<Float64Type>),
    F32(&'a PrimitiveArray<Float32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    Text(&'a arrow_array::StringArray),
    Other(&'a dyn Array),
}

impl<'a> Cells<'a> {
    fn of(array: &'a dyn Array) -> Self {
        match array.data_type() {
            DataType::Null => Cells::Empty,
            DataType::Float64 => Cells::F64(array.as_primitive()),
            DataType::Float32 => Cells::F32(array.as_primitive()),
            DataType::Int64 => Cells::I64(array.as_primitive()),
            DataType::Int32 => Cells::I32(array.as_primitive()),
            DataType::Utf8 => Cells::Text(array.as_string()),
            _ => Cells::Other(array),
        }
    }

    fn write(&self, out: &mut Vec<u8>, row: usize) {
        let valid = |a: &dyn Array| a.is_valid(row);
        match self {
            Cells::Empty => {}
            Cells::F64(a) if valid(*a) => write_f64(out, a.value(row)),
            Cells::F32(a) if valid(*a) => write_f32(out, a.value(row)),
            Cells::I64(a) if valid(*a) => write_integer(out, a.value(row)),
            Cells::I32(a) if valid(*a) => write_integer(out, a.value(row)),
            Cells::Text(a) if valid(*a) => write_text(out, a.value(row).as_bytes()),
            Cells::Other(a) if valid(*a) => write_cell(out, *a, row),
            _ => {}
        }
    }
}

/// One non-null value as a CSV writer writes it: numbers in their shortest round-trip form (so
/// an f32 column reads as the decimals it was written from, as its CSV would) and whole floats
/// without a fraction, NaN as `NaN` (a missing value to nnc), text quoted where it must be, dates
/// and times in ISO form.
fn write_cell(out: &mut Vec<u8>, array: &dyn Array, row: usize) {
    use std::io::Write;
    use DataType::*;
    let mut text = |s: &dyn std::fmt::Display| {
        write!(out, "{s}").expect("invariant: writing to a Vec cannot fail");
    };
    match array.data_type() {
        Null => {}
        Boolean => text(&array.as_boolean().value(row)),
        Int8 => text(&array.as_primitive::<Int8Type>().value(row)),
        Int16 => text(&array.as_primitive::<Int16Type>().value(row)),
        Int32 => text(&array.as_primitive::<Int32Type>().value(row)),
        Int64 => text(&array.as_primitive::<Int64Type>().value(row)),
        UInt8 => text(&array.as_primitive::<UInt8Type>().value(row)),
        UInt16 => text(&array.as_primitive::<UInt16Type>().value(row)),
        UInt32 => text(&array.as_primitive::<UInt32Type>().value(row)),
        UInt64 => text(&array.as_primitive::<UInt64Type>().value(row)),
        Float16 => write_f32(out, array.as_primitive::<Float16Type>().value(row).to_f32()),
        Float32 => write_f32(out, array.as_primitive::<Float32Type>().value(row)),
        Float64 => write_f64(out, array.as_primitive::<Float64Type>().value(row)),
        Utf8 => write_text(out, array.as_string::<i32>().value(row).as_bytes()),
        LargeUtf8 => write_text(out, array.as_string::<i64>().value(row).as_bytes()),
        Utf8View => write_text(out, array.as_string_view().value(row).as_bytes()),
        Binary => write_text(out, array.as_binary::<i32>().value(row)),
        LargeBinary => write_text(out, array.as_binary::<i64>().value(row)),
        BinaryView => write_text(out, array.as_binary_view().value(row)),
        Date32 => text(&temporal::<Date32Type>(array, row)),
        Date64 => text(&temporal::<Date64Type>(array, row)),
        Timestamp(TimeUnit::Second, _) => text(&temporal::<TimestampSecondType>(array, row)),
        Timestamp(TimeUnit::Millisecond, _) => {
            text(&temporal::<TimestampMillisecondType>(array, row))
        }
        Timestamp(TimeUnit::Microsecond, _) => {
            text(&temporal::<TimestampMicrosecondType>(array, row))
        }
        Timestamp(TimeUnit::Nanosecond, _) => {
            text(&temporal::<TimestampNanosecondType>(array, row))
        }
        Time32(TimeUnit::Second) => text(&temporal::<Time32SecondType>(array, row)),
        Time32(TimeUnit::Millisecond) => text(&temporal::<Time32MillisecondType>(array, row)),
        Time64(TimeUnit::Microsecond) => text(&temporal::<Time64MicrosecondType>(array, row)),
        Time64(TimeUnit::Nanosecond) => text(&temporal::<Time64NanosecondType>(array, row)),
        Decimal32(_, _) => text(
            &array
                .as_primitive::<arrow_array::types::Decimal32Type>()
                .value_as_string(row),
        ),
        Decimal64(_, _) => text(
            &array
                .as_primitive::<arrow_array::types::Decimal64Type>()
                .value_as_string(row),
        ),
        Decimal128(_, _) => text(
            &array
                .as_primitive::<arrow_array::types::Decimal128Type>()
                .value_as_string(row),
        ),
        Decimal256(_, _) => text(
            &array
                .as_primitive::<arrow_array::types::Decimal256Type>()
                .value_as_string(row),
        ),
        other => unreachable!("invariant: `readable` admitted only rendered types, not {other}"),
    }
}

fn write_integer(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A float as CSV writers write one: the shortest text that reads back as the same value, `NaN`,
/// `inf` and `-inf`; a whole number without a fraction (`3`, not `3.0`), so that a class label
/// stored as a float reads as the label it was written from.
fn write_f64(out: &mut Vec<u8>, v: f64) {
    if !write_special(out, v) && !write_short_decimal(out, v) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// Powers of ten that are exact f64s.
const POW10: [f64; 8] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7];

/// `v` as `m / 10^k` written out (`-0.0123`), for the fewest fraction digits k ≤ 7 at which that
/// quotient, correctly rounded, is `v` itself, with |m| < 2^53; false when there is none. Most
/// data was written as short decimals, and this finds them several times faster than a general
/// shortest-form search. The text reads back as exactly `v` (the division of two exact f64s is
/// what parsing it computes), so it reads as the value a CSV writer's shortest form reads as.
fn write_short_decimal(out: &mut Vec<u8>, v: f64) -> bool {
    for (k, &scale) in POW10.iter().enumerate().skip(1) {
        let scaled = v * scale;
        if scaled.abs() >= 9.0e15 {
            return false;
        }
        // Rounded by a cast rather than `f64::round` (a library call on baseline x86-64); an
        // off-by-one candidate only fails the exact check below.
        let m = (scaled + 0.5f64.copysign(scaled)) as i64 as f64;
        if m / scale == v {
            let mut buffer = itoa::Buffer::new();
            let digits = buffer.format(m.abs() as u64).as_bytes();
            if v < 0.0 {
                out.push(b'-');
            }
            let whole = digits.len().saturating_sub(k);
            match whole {
                0 => out.push(b'0'),
                _ => out.extend_from_slice(&digits[..whole]),
            }
            out.push(b'.');
            out.extend(std::iter::repeat_n(b'0', k.saturating_sub(digits.len())));
            out.extend_from_slice(&digits[whole..]);
            return true;
        }
    }
    false
}

/// [`write_f64`] for an f32, in the shortest form of its own width: `5.1` for the f32 nearest
/// 5.1, not its 17 f64 digits, as a CSV writer writes it.
fn write_f32(out: &mut Vec<u8>, v: f32) {
    if !write_special(out, f64::from(v)) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// NaN, the infinities and whole numbers (below 2^53 in magnitude, where every whole float is
/// exact in an i64); false for anything else.
fn write_special(out: &mut Vec<u8>, v: f64) -> bool {
    match v {
        v if v.is_nan() => out.extend_from_slice(b"NaN"),
        f64::INFINITY => out.extend_from_slice(b"inf"),
        f64::NEG_INFINITY => out.extend_from_slice(b"-inf"),
        v if v.fract() == 0.0 && v.abs() < 9.0e15 => {
            if v == 0.0 && v.is_sign_negative() {
                out.push(b'-');
            }
            write_integer(out, v as i64);
        }
        _ => return false,
    }
    true
}

/// A date, time or timestamp in ISO 8601 form (`2024-03-01`, `2024-03-01 12:30:00`, in UTC for
/// a timestamp with a time zone); the raw count where it is out of the calendar's range.
fn temporal<T: ArrowTemporalType>(array: &dyn Array, row: usize) -> String
where
    i64: From<T::Native>,
    T::Native: std::fmt::Display,
{
    let array: &PrimitiveArray<T> = array.as_primitive::<T>();
    let shown = match T::DATA_TYPE {
        DataType::Time32(_) | DataType::Time64(_) => {
            array.value_as_time(row).map(|t| t.to_string())
        }
        DataType::Date32 | DataType::Date64 => array.value_as_date(row).map(|d| d.to_string()),
        _ => array.value_as_datetime(row).map(|d| d.to_string()),
    };
    shown.unwrap_or_else(|| array.value(row).to_string())
}

/// Text or bytes as one CSV field: quoted, with quotes doubled, when it holds the delimiter, a
/// quote or a line break; as it is otherwise.
fn write_text(out: &mut Vec<u8>, bytes: &[u8]) {
    let quote = bytes
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !quote {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for &b in bytes {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
        Float64Array, Int64Array, StringArray, Time64MicrosecondArray, TimestampMillisecondArray,
        UInt8Array,
    };

    fn rendered(columns: Vec<(&str, ArrayRef)>, decoded: &[bool]) -> String {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let mut out = Vec::new();
        render(&batch, decoded, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn values_are_written_as_a_csv_writer_writes_them() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "f32",
                Arc::new(Float32Array::from(vec![Some(5.1), None, Some(1e-7)])),
            ),
            (
                "f64",
                Arc::new(Float64Array::from(vec![3.0, f64::NAN, 0.1 + 0.2])),
            ),
            (
                "inf",
                Arc::new(Float64Array::from(vec![
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    1e300,
                ])),
            ),
            ("int", Arc::new(Int64Array::from(vec![-7, i64::MAX, 0]))),
            ("u8", Arc::new(UInt8Array::from(vec![255, 0, 1]))),
            (
                "ok",
                Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            ),
            (
                "text",
                Arc::new(StringArray::from(vec![
                    Some("a, b"),
                    Some("say \"hi\""),
                    Some("two\nlines"),
                ])),
            ),
            ("day", Arc::new(Date32Array::from(vec![0, 19_783, -1]))),
            (
                "at",
                Arc::new(TimestampMillisecondArray::from(vec![
                    0,
                    1_709_296_200_500,
                    -1000,
                ])),
            ),
            (
                "time",
                Arc::new(Time64MicrosecondArray::from(vec![0, 45_000_000_000, 1])),
            ),
            (
                "price",
                Arc::new(
                    Decimal128Array::from(vec![12345, -5, 0])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            (
                "raw",
                Arc::new(BinaryArray::from(vec![&b"x"[..], &b"\xff"[..], &b""[..]])),
            ),
        ];
        let all = [true; 12];
        let text = rendered(columns, &all);
        let expected = "\
5.1,3,inf,-7,255,true,\"a, b\",1970-01-01,1970-01-01 00:00:00,00:00:00,123.45,x
,NaN,-inf,9223372036854775807,0,false,\"say \"\"hi\"\"\",2024-03-01,2024-03-01 12:30:00.500,12:30:00,-0.05,\u{fffd}
1e-7,0.30000000000000004,1e300,0,1,,\"two
lines\",1969-12-31,1969-12-31 23:59:59,00:00:00.000001,0.00,
";
        // The binary cell's byte 0xFF is written as it is (shown here as U+FFFD): the CSV
        // reader reports it as not UTF-8, at its cell.
        assert_eq!(text, expected);
    }

    #[test]
    fn every_float_reads_back_as_itself() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let check = |v: f64| {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            let text = String::from_utf8(out).unwrap();
            let back: f64 = crate::data::number::parse_f64(&text).unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{v:?} written as {text}");
            let ryu_back: f64 = ryu::Buffer::new().format(v).parse().unwrap();
            assert_eq!(back.to_bits(), ryu_back.to_bits(), "{v:?}");
        };
        for v in [
            0.1,
            -0.1,
            0.5,
            1.0 / 3.0,
            1e-7,
            123.456,
            -0.000123,
            0.30000000000000004,
        ] {
            check(v);
        }
        for _ in 0..200_000 {
            // Short decimals, as data files hold them, and arbitrary bit patterns.
            let digits = rng.random_range(1..=7);
            let short: f64 = format!("{:.*}", digits, rng.random_range(-1e4..1e4))
                .parse()
                .unwrap();
            check(short);
            let any = f64::from_bits(rng.random::<u64>());
            if any.is_finite() {
                check(any);
            }
        }
    }

    #[test]
    fn columns_left_out_are_empty_cells() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("a", Arc::new(Int64Array::from(vec![1, 2]))),
            ("c", Arc::new(Int64Array::from(vec![3, 4]))),
        ];
        assert_eq!(
            rendered(columns, &[true, false, true, false]),
            "1,,3,\n2,,4,\n"
        );
    }

    #[test]
    fn a_file_is_parquet_by_its_first_bytes_and_a_pipe_is_never_read() {
        let dir = std::env::temp_dir().join(format!("nnc-parquet-sniff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("data.parquet");
        std::fs::write(&csv, "x,y\n1,2\n").unwrap();
        let origin = DataOrigin::default();
        assert_eq!(dataset(&csv, &origin).unwrap(), None);
        let named_csv = dir.join("data.csv");
        std::fs::write(&named_csv, "PAR1....").unwrap();
        let set = dataset(&named_csv, &origin).unwrap().unwrap();
        assert_eq!(set.parts, vec![named_csv.clone()]);
        let short = dir.join("short");
        std::fs::write(&short, "PA").unwrap();
        assert_eq!(dataset(&short, &origin).unwrap(), None);
        // /dev/stdin is not a regular file: it is left to the CSV reader, unread.
        if Path::new("/dev/null").exists() {
            assert_eq!(dataset(Path::new("/dev/null"), &origin).unwrap(), None);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn part_files_are_read_in_the_order_of_their_names_without_bookkeeping() {
        let dir = std::env::temp_dir().join(format!("nnc-parquet-parts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "b.parquet",
            "a.PARQUET",
            "_SUCCESS",
            ".a.parquet.crc",
            "_metadata",
            "c.txt",
        ] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        let names: Vec<String> = (list_parts(&dir).unwrap().iter())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.PARQUET", "b.parquet"]);
        std::fs::create_dir(dir.join("year=2024")).unwrap();
        let err = dataset(&dir, &DataOrigin::default()).unwrap_err();
        assert_eq!(err.code, "nnc::data::partitioned");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
