//! The typed table a CSV file becomes, and the names and options for reading one: the header, the
//! cells (through `read`'s storage), the feature columns with their kinds, the target, and the
//! spans of rows and cells for diagnostics, computed from the file's text on demand. It must not
//! read files itself (beyond re-reading one to render a diagnostic) or fit anything.

use std::collections::HashMap;
use std::path::PathBuf;

use super::parquet::Dataset;
use super::read::Cells;
use super::{spans, TargetKind};
use crate::diag::{Diagnostic, Source, Span};

/// A column name written in the `.nn` file, with where it was written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Named {
    pub name: String,
    pub span: Option<Span>,
}

impl Named {
    pub fn new(name: impl Into<String>) -> Self {
        Named {
            name: name.into(),
            span: None,
        }
    }
}

/// How to read a file: everything but the statistics.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// `None` detects it (a `.tsv` file is tab-separated).
    pub delimiter: Option<u8>,
    /// Markers of a missing value besides the built-in ones.
    pub missing_markers: Vec<String>,
    /// Numbers use a decimal comma (`5,1`).
    pub decimal_comma: bool,
    /// Columns read as categorical even when every value is a number.
    pub categorical: Vec<Named>,
    /// Columns left out entirely.
    pub ignore: Vec<Named>,
    /// The value each numeric column is stored relative to, by name (from a fitted model, so a
    /// new file's cells are stored exactly as the training file's were).
    pub references: Option<HashMap<String, f64>>,
    /// When given, only these columns are features; every other column but the target is left
    /// out without being typed (a file to predict on may hold more columns than the model takes).
    pub columns: Option<Vec<String>>,
    /// The rows read are a part of a file being fitted a chunk at a time: a part may hold a
    /// single class, or none (the caller checks the whole file's classes).
    pub partial: bool,
}

/// The target column a caller asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetSpec {
    pub name: String,
    pub kind: TargetKind,
    /// When false, a file without the column is read without a target (files to predict on).
    pub required: bool,
}

impl TargetSpec {
    /// A target the file must have.
    pub fn required(name: &str, kind: TargetKind) -> Self {
        TargetSpec {
            name: name.to_string(),
            kind,
            required: true,
        }
    }
}

/// The text of a data file, for diagnostics: held in memory when it came from memory, re-read
/// from disk otherwise (a file can be large; an error is rare).
#[derive(Clone, Debug)]
pub enum DataText {
    Memory(Source),
    File {
        name: String,
        path: PathBuf,
    },
    /// A Parquet file or folder, read as the CSV text of its rows with the `skip` columns empty
    /// (rendered again, identically, to show a diagnostic).
    Parquet {
        set: Dataset,
        skip: Vec<String>,
    },
}

impl DataText {
    pub fn name(&self) -> &str {
        match self {
            DataText::Memory(s) => &s.name,
            DataText::File { name, .. } => name,
            DataText::Parquet { set, .. } => &set.name,
        }
    }

    /// The whole text, to render a diagnostic. A file that can no longer be read renders as
    /// empty text, and so does one that cannot be read twice (a pipe or a device).
    pub fn source(&self) -> Source {
        self.read(None)
            .unwrap_or_else(|| Source::new(self.name(), ""))
    }

    /// The text from its start through the record stored at `position` (a byte offset, or for
    /// Parquet a row), and the line after: what a diagnostic about that record shows, without
    /// reading the rest of a large file.
    pub fn source_through(&self, position: usize) -> Source {
        let shown = match self {
            DataText::Memory(_) => None,
            // A record longer than this is shown cut: far past what a terminal shows anyway.
            DataText::File { .. } => self.prefix(position.saturating_add(1 << 20)),
            DataText::Parquet { set, skip } => {
                let rows = set.csv_rows(skip, position.saturating_add(2));
                rows.and_then(|rows| Some(self.as_source(read_all(rows, None)?)))
            }
        };
        shown.unwrap_or_else(|| self.source())
    }

    /// Whether the text can be read again: it is in memory or a regular file, not a pipe, a
    /// FIFO or a device (looked at without opening it: opening a FIFO waits for a writer).
    pub fn rereadable(&self) -> bool {
        match self {
            DataText::Memory(_) | DataText::Parquet { .. } => true,
            DataText::File { path, .. } => std::fs::metadata(path).is_ok_and(|m| m.is_file()),
        }
    }

    /// The byte offset in `source` (this text, read) of the record stored at `position`: the
    /// position itself for text, where records are stored by offset; for Parquet, where they
    /// are stored by data row, the start of that row in the rendered CSV text.
    pub(crate) fn offset(&self, source: &Source, position: usize) -> usize {
        match self {
            DataText::Parquet { .. } => {
                let mut at = 0;
                // Past the header, then `position` rows; each ends at one `\n`.
                for _ in 0..=position {
                    at = spans::record_span(&source.text, at, b',').end + 1;
                }
                at.min(source.text.len())
            }
            _ => position,
        }
    }

    /// The first `len` bytes of the text, for a diagnostic about a record too long to show
    /// whole; `None` for a file that cannot be read again.
    pub fn prefix(&self, len: usize) -> Option<Source> {
        self.read(Some(len))
    }

    /// The text, or its first `limit` bytes, as diagnostics show it: bytes that are not UTF-8
    /// as `�`, and a bare `\r` as the line break it is (byte for byte, so offsets still hold).
    fn read(&self, limit: Option<usize>) -> Option<Source> {
        let text: String = match self {
            DataText::Memory(s) => {
                let end = limit.map_or(s.text.len(), |l| floor_char_boundary(&s.text, l));
                s.text[..end].to_string()
            }
            DataText::File { path, .. } => {
                if !self.rereadable() {
                    return None;
                }
                let bytes = read_all(std::fs::File::open(path).ok()?, limit)?;
                String::from_utf8_lossy(&bytes).into_owned()
            }
            DataText::Parquet { set, skip } => {
                let rows = set.csv_rows(skip, usize::MAX)?;
                return Some(self.as_source(read_all(rows, limit)?));
            }
        };
        Some(Source::new(self.name(), spans::bare_cr_as_lf(text)))
    }

    /// Rendered Parquet rows as a source, shown as the CSV lines they were read as, under a
    /// name that says so.
    fn as_source(&self, bytes: Vec<u8>) -> Source {
        let name = format!("{} (rows as CSV)", self.name());
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Source::new(name, spans::bare_cr_as_lf(text))
    }
}

/// Everything `input` gives, or its first `limit` bytes.
fn read_all(input: impl std::io::Read, limit: Option<usize>) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    let limit = limit.map_or(u64::MAX, |l| l as u64);
    std::io::Read::read_to_end(&mut std::io::Read::take(input, limit), &mut bytes).ok()?;
    Some(bytes)
}

/// The largest character boundary of `text` at or below `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// The target column, read as the loss needs it. Rows whose target is missing hold
/// [`NO_LABEL`] or NaN and take part in nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Class names in label order (numeric order when every name is a number, else
    /// lexicographic), and one label per row indexing into `names`.
    Classes {
        names: Vec<String>,
        labels: Vec<usize>,
    },
    Values(Vec<f64>),
}

/// The label of a row without a target value.
pub const NO_LABEL: usize = usize::MAX;

impl Target {
    pub fn is_present(&self, row: usize) -> bool {
        match self {
            Target::Classes { labels, .. } => labels[row] != NO_LABEL,
            Target::Values(v) => !v[row].is_nan(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TargetColumn {
    pub name: String,
    /// Its CSV column.
    pub index: usize,
    pub data: Target,
    /// Rows without a target value (left out of every split).
    pub missing: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Numeric,
    Categorical,
}

/// A feature column of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    /// Its CSV column.
    pub index: usize,
    pub kind: ColumnKind,
}

/// A CSV file read into cells, with its columns typed.
#[derive(Debug)]
pub struct Table {
    pub text: DataText,
    pub delimiter: u8,
    pub header: Vec<String>,
    pub header_start: usize,
    /// The data row of the file this table's first row is (0 unless it is a chunk of a file
    /// read a chunk at a time).
    pub first_row: usize,
    pub rows: usize,
    pub(crate) cells: Cells,
    /// The feature columns, in file order (the target and ignored columns are not among them).
    pub columns: Vec<Column>,
    pub target: Option<TargetColumn>,
    /// Things worth knowing that do not stop the run (a text column with a value per row).
    pub warnings: Vec<Diagnostic>,
}

impl Table {
    pub fn name(&self) -> &str {
        self.text.name()
    }

    /// The file's text, for a diagnostic.
    pub fn source(&self) -> Source {
        self.text.source()
    }

    pub fn feature_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// The class names, or `None` for a regression target or no target.
    pub fn class_names(&self) -> Option<&[String]> {
        match &self.target.as_ref()?.data {
            Target::Classes { names, .. } => Some(names),
            Target::Values(_) => None,
        }
    }

    /// "line 12" for data row `row`, counted in `source`; "data row 11" when the file cannot be
    /// read again to count its lines (a pipe).
    pub fn line(&self, source: &Source, row: usize) -> String {
        row_place(
            &self.text,
            source,
            self.cells.starts[row],
            self.first_row + row,
        )
    }

    /// The span of CSV column `col`'s cell in data row `row`.
    pub fn cell(&self, source: &Source, row: usize, col: usize) -> Span {
        let start = self.text.offset(source, self.cells.starts[row]);
        cell_span(source, start, col, self.delimiter)
    }

    pub fn header_cell(&self, source: &Source, col: usize) -> Span {
        cell_span(source, self.header_start, col, self.delimiter)
    }

    /// The header row's span, for diagnostics about the columns as a whole.
    pub fn header_span(&self, source: &Source) -> Span {
        spans::record_span(&source.text, self.header_start, self.delimiter)
    }

    /// The CSV column named `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The value of a numeric cell relative to its column's reference; NaN when missing.
    pub fn shifted(&self, row: usize, col: usize) -> f64 {
        self.cells.shifted(row, col)
    }

    /// The reference of a numeric column (what [`Table::shifted`] is relative to).
    pub fn reference(&self, col: usize) -> f64 {
        self.cells.references[col]
    }

    /// The category names of a categorical column as they appear in the file, and each row's
    /// index into them ([`MISSING_CODE`] when missing).
    pub(crate) fn text_column(&self, col: usize) -> (&[String], &[u32]) {
        let t = self.cells.text[col]
            .as_ref()
            .expect("invariant: categorical columns are interned while reading");
        (&t.names, &t.codes)
    }

    /// The text through row `row` and the line after: what a diagnostic about the row shows.
    pub(crate) fn source_through_row(&self, row: usize) -> Source {
        self.text.source_through(self.cells.starts[row])
    }

    /// A diagnostic on one cell.
    pub(crate) fn cell_error(
        &self,
        code: &'static str,
        message: String,
        row: usize,
        col: usize,
        label: &str,
    ) -> Diagnostic {
        let source = self.source_through_row(row);
        let span = self.cell(&source, row, col);
        Diagnostic::new(code, message)
            .with_source(&source)
            .with_label(span, label)
    }

    /// "line 12 of data file `x.csv`", for messages.
    pub(crate) fn where_row(&self, row: usize) -> String {
        let source = self.source();
        format!("{} of data file `{}`", self.line(&source, row), self.name())
    }
}

/// "line 12" for the data row `row` starting at byte `start`, counted in `source`; "data row 11"
/// when `text` cannot be read again, so `source` is empty.
pub(crate) fn row_place(text: &DataText, source: &Source, start: usize, row: usize) -> String {
    match text {
        // A Parquet file has rows, not lines; its records start at their row index.
        DataText::Parquet { .. } => format!("row {}", start + 1),
        _ if text.rereadable() => format!("line {}", source.line_col(start).0),
        _ => format!("data row {}", row + 1),
    }
}

pub(crate) fn cell_span(source: &Source, record_start: usize, col: usize, delimiter: u8) -> Span {
    let fields = spans::field_spans(&source.text, record_start, delimiter);
    // The rescan can only disagree with the reader on dialect details it does not share;
    // falling back to the whole record still points at the right line.
    fields
        .get(col)
        .copied()
        .unwrap_or_else(|| spans::record_span(&source.text, record_start, delimiter))
}
