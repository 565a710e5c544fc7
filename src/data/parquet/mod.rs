//! Reading Parquet: one file, or a folder of part files as Spark, Dask and polars write a dataset
//! (read as one table, in the order of the file names). Each cell goes to the CSV reader's cell
//! logic as the CSV text a writer would make of it (a float as the number that text reads as), so
//! a Parquet file is typed, checked and preprocessed exactly as the CSV of its rows; diagnostics
//! show the row at fault rendered as that CSV line. Columns the run leaves out are not decoded.
//! This module owns finding the part files, the Parquet types nnc reads, and the diagnostics about
//! the files themselves (`nnc::data::parquet_type` and its neighbours); `cells` owns the text of a
//! value and `stream` the decoding. It must not type columns or know about targets: that is
//! `load`'s job.

mod cells;
mod guard;
mod stream;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub(crate) use stream::CsvRows;

use super::read::{Cells, Plan};
use super::DataOrigin;
use crate::diag::Diagnostic;

/// The first four bytes of every Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

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

/// Whether the regular file at `path` is a Parquet file (by its first bytes).
pub(crate) fn is_parquet(path: &Path) -> bool {
    sniff(path, String::new()).is_ok_and(|s| s.is_some())
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

    /// The column names, and which are decoded (not in `skip`). Every part must have the same
    /// column names, and every decoded column a type nnc reads; both are checked from the
    /// footers, before a row is decoded.
    fn columns(
        &self,
        skip: &[String],
        origin: &DataOrigin,
    ) -> Result<(Vec<String>, Vec<bool>), Diagnostic> {
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
        Ok((names, decoded))
    }

    /// The rows read into cells following `plan` (the columns in `skip` empty), as the CSV text
    /// of them would be read.
    pub(crate) fn cells(
        &self,
        skip: &[String],
        plan: &Plan,
        origin: &DataOrigin,
    ) -> Result<Cells, Diagnostic> {
        let (names, decoded) = self.columns(skip, origin)?;
        let batches = stream::Batches::new(self.parts.clone(), decoded);
        let mut all = None;
        stream::read_chunks(batches, plan, names.len(), usize::MAX, &mut |cells| {
            all = Some(cells);
            true
        });
        Ok(all.expect("invariant: reading ends with one last chunk"))
    }

    /// [`Dataset::cells`] a chunk of at least `chunk_rows` rows at a time (the last may be
    /// shorter), each handed to `on_chunk` as it is read, until it returns false. A chunk's
    /// rows are numbered from its own first row; their starts are row indices in the dataset.
    pub(crate) fn cell_chunks(
        &self,
        skip: &[String],
        plan: &Plan,
        origin: &DataOrigin,
        chunk_rows: usize,
        on_chunk: &mut dyn FnMut(Cells) -> bool,
    ) -> Result<(), Diagnostic> {
        let (names, decoded) = self.columns(skip, origin)?;
        let batches = stream::Batches::new(self.parts.clone(), decoded);
        stream::read_chunks(batches, plan, names.len(), chunk_rows, on_chunk);
        Ok(())
    }

    /// The first `rows` rows as CSV text, header first, the columns in `skip` empty: what
    /// diagnostics show. `None` when the files can no longer be read as they were.
    pub(crate) fn csv_rows(&self, skip: &[String], rows: usize) -> Option<CsvRows> {
        let mut csv = self.csv(skip, &DataOrigin::default()).ok()?;
        csv.limit_rows(rows);
        Some(csv)
    }

    /// The rows as CSV text, header first, the columns in `skip` empty.
    pub(crate) fn csv(&self, skip: &[String], origin: &DataOrigin) -> Result<CsvRows, Diagnostic> {
        let (names, decoded) = self.columns(skip, origin)?;
        let mut header = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                header.push(b',');
            }
            cells::write_text(&mut header, name.as_bytes());
        }
        header.push(b'\n');
        Ok(CsvRows::new(
            header,
            stream::Batches::new(self.parts.clone(), decoded),
        ))
    }

    fn builder(
        &self,
        part: &Path,
        origin: &DataOrigin,
    ) -> Result<ParquetRecordBatchReaderBuilder<File>, Diagnostic> {
        let fail = |why: String| self.unreadable(part, &why, origin);
        let file = File::open(part).map_err(|e| fail(e.to_string()))?;
        guard::guarded(|| {
            ParquetRecordBatchReaderBuilder::try_new_with_options(file, stream::options())
        })
        .map_err(fail)?
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
        let message = format!("cannot read Parquet file `{}`: {why}", part.display());
        with_path_label(undecodable(&message), &self.name, origin)
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

/// A Parquet file that cannot be decoded, with `message` saying which and why.
pub(crate) fn undecodable(message: &str) -> Diagnostic {
    Diagnostic::new("nnc::data::bad_parquet", message.to_string()).with_help(
        "check that the file was written completely; nnc reads Parquet with any of the standard \
         codecs (snappy, gzip, zstd, lz4, brotli)",
    )
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

/// Whether `cells` writes values of this type. Nested values (lists, structs, maps) have no
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

#[cfg(test)]
mod tests {
    use super::*;

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
