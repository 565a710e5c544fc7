//! Reading a CSV file into a [`Table`]: the file itself (missing, unreadable, not UTF-8), the
//! record structure (empty file, no data rows, ragged rows, header names) and finding the target
//! column. Typing the cells is `columns`' job; this module hands it the raw records with their
//! byte offsets. It must not know about splits, scaling or anything downstream of the table.

use std::path::Path;

use csv::StringRecord;

use super::{columns, spans, DataOrigin, TargetKind};
use crate::diag::{did_you_mean, Diagnostic, Source, Span};

/// A CSV file read into numbers: every column but the target is a numeric feature.
#[derive(Clone, Debug)]
pub struct Table {
    /// The CSV text, named by its path as given, so later stages can point into it.
    pub source: Source,
    pub features: Vec<String>,
    pub rows: usize,
    /// `rows × features.len()`, row-major.
    pub x: Vec<f64>,
    pub target: Target,
    pub target_name: String,
    /// Where each data row starts in `source` (byte offset), for diagnostics about its cells.
    pub row_starts: Vec<usize>,
    /// The CSV column of each feature, and of the target.
    pub feature_columns: Vec<usize>,
    pub target_column: usize,
}

/// The target column, read as the loss needs it.
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

impl Table {
    /// The class names, or `None` for a regression target.
    pub fn class_names(&self) -> Option<&[String]> {
        match &self.target {
            Target::Classes { names, .. } => Some(names),
            Target::Values(_) => None,
        }
    }

    /// The header row's span in [`Table::source`], for diagnostics about the columns as a whole
    /// (for instance an input layer whose width disagrees with the number of features).
    pub fn header_span(&self) -> Span {
        let text = &self.source.text;
        spans::record_span(text, bom_len(text))
    }

    /// The 1-based line of data row `row`.
    pub fn line(&self, row: usize) -> usize {
        self.source.line_col(self.row_starts[row]).0
    }

    /// The span of feature `feature`'s cell in data row `row`.
    pub fn feature_cell(&self, row: usize, feature: usize) -> Span {
        cell(
            &self.source.text,
            self.row_starts[row],
            self.feature_columns[feature],
        )
    }

    /// The span of the target's cell in data row `row`.
    pub fn target_cell(&self, row: usize) -> Span {
        cell(&self.source.text, self.row_starts[row], self.target_column)
    }

    /// The span of a named column's header cell in [`Table::source`], if the column exists.
    pub fn column_span(&self, name: &str) -> Option<Span> {
        let text = &self.source.text;
        spans::field_spans(text, bom_len(text))
            .into_iter()
            .find(|s| columns::clean(&text[s.start..s.end]) == name)
    }
}

/// The records of a CSV file, before typing: the header names and every data row with the byte
/// offset where it starts in the source text.
pub(crate) struct Raw<'a> {
    pub source: &'a Source,
    pub header: Vec<String>,
    pub header_start: usize,
    pub rows: Vec<StringRecord>,
    pub starts: Vec<usize>,
    pub target: usize,
}

impl Raw<'_> {
    pub fn header_cell(&self, col: usize) -> Span {
        cell(&self.source.text, self.header_start, col)
    }

    pub fn cell(&self, row: usize, col: usize) -> Span {
        cell(&self.source.text, self.starts[row], col)
    }

    pub fn line(&self, row: usize) -> usize {
        self.source.line_col(self.starts[row]).0
    }

    /// A diagnostic about the CSV file with its primary label at `span`.
    pub fn error(
        &self,
        code: &'static str,
        message: String,
        span: Span,
        label: String,
    ) -> Diagnostic {
        Diagnostic::new(code, message)
            .with_source(self.source)
            .with_label(span, label)
    }
}

fn cell(text: &str, record_start: usize, col: usize) -> Span {
    let fields = spans::field_spans(text, record_start);
    // The rescanned record can only disagree with the csv crate's on dialect details it does
    // not share; falling back to the whole record still points at the right line.
    fields
        .get(col)
        .copied()
        .unwrap_or_else(|| spans::record_span(text, record_start))
}

/// Read `path` and type its columns: every column but `target` must be numeric; the target is
/// read as classes or values according to `kind`. Every failure is a diagnostic pointing at the
/// cell, the header, or (through `origin`) the `.nn` setting at fault.
pub fn load_csv(
    path: &Path,
    target: &str,
    kind: TargetKind,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    let source = read_source(path, origin)?;
    parse_csv(&source, target, kind, origin)
}

/// [`load_csv`] on text already read: the CSV in `source`, named for its diagnostics.
pub fn parse_csv(
    source: &Source,
    target: &str,
    kind: TargetKind,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    let raw = read_records(source, target, origin)?;
    columns::type_table(&raw, kind, origin)
}

/// The name of the last column, the conventional target when none is named. Reads only the
/// header, with the same diagnostics as [`load_csv`] for a missing, unreadable or empty file.
pub fn last_column(path: &Path, origin: &DataOrigin) -> Result<String, Diagnostic> {
    let source = read_source(path, origin)?;
    let base = bom_len(&source.text);
    match reader(&source.text, base).records().next() {
        None => Err(empty_file(&source)),
        Some(Err(e)) => Err(malformed(&source, base, &e)),
        Some(Ok(header)) => {
            Ok(columns::clean(header.iter().next_back().unwrap_or_default()).to_string())
        }
    }
}

fn read_source(path: &Path, origin: &DataOrigin) -> Result<Source, Diagnostic> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| file_error(&name, &e, origin))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => Err(not_utf8(name, e)),
    }
}

/// The csv crate does not strip a byte-order mark, which would otherwise glue itself to the
/// first column's name; the reader starts after it and offsets are shifted back by its length.
fn bom_len(text: &str) -> usize {
    if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    }
}

fn reader(text: &str, base: usize) -> csv::Reader<&[u8]> {
    // Flexible, so that ragged rows reach us as records and get a diagnostic with a span
    // instead of the crate's error.
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&text.as_bytes()[base..])
}

fn empty_file(source: &Source) -> Diagnostic {
    Diagnostic::new(
        "nnc::data::empty_file",
        format!("data file `{}` is empty", source.name),
    )
    .with_source(source)
    .with_label(Span::new(0, 0), "nothing here")
    .with_help("the file needs a header row naming the columns, then one row per example")
}

fn file_error(name: &str, err: &std::io::Error, origin: &DataOrigin) -> Diagnostic {
    let (code, what) = match err.kind() {
        std::io::ErrorKind::NotFound => ("nnc::data::file_not_found", "no such file".to_string()),
        _ => ("nnc::data::unreadable", err.to_string()),
    };
    let mut diag = Diagnostic::new(code, format!("cannot read data file `{name}`: {what}"))
        .with_help(
        "check the file name and folder: a data path in a .nn file is relative to the folder of \
         that .nn file, and `--data FILE` on the command line overrides it",
    );
    if let Some((nn, span)) = origin.nn_span(origin.path_span) {
        diag = diag
            .with_source(nn)
            .with_label(span, format!("resolved to `{name}`"));
    }
    diag
}

fn not_utf8(name: String, err: std::string::FromUtf8Error) -> Diagnostic {
    // Lossy decoding keeps every byte before the first invalid one in place, so the label still
    // points at the right offset.
    let at = err.utf8_error().valid_up_to();
    let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
    let source = Source::new(name.clone(), text);
    Diagnostic::new(
        "nnc::data::not_utf8",
        format!("data file `{name}` is not valid UTF-8 text"),
    )
    .with_source(&source)
    .with_label(Span::new(at, at + '\u{fffd}'.len_utf8()), "not UTF-8")
    .with_help("save the file as UTF-8 CSV text (most spreadsheet programs offer \"CSV UTF-8\")")
}

fn read_records<'a>(
    source: &'a Source,
    target: &str,
    origin: &DataOrigin,
) -> Result<Raw<'a>, Diagnostic> {
    let text: &str = &source.text;
    let name = &source.name;
    let base = bom_len(text);
    let mut reader = reader(text, base);
    let mut records = Vec::new();
    let mut starts = Vec::new();
    for result in reader.records() {
        let record = result.map_err(|e| malformed(source, base, &e))?;
        let reported = record.position().map_or(0, |p| p.byte() as usize) + base;
        starts.push(spans::record_start(text, reported));
        records.push(record);
    }
    if records.is_empty() {
        return Err(empty_file(source));
    }
    let header_record = records.remove(0);
    let header_start = starts.remove(0);
    let mut raw = Raw {
        source,
        header: header_record
            .iter()
            .map(columns::clean)
            .map(String::from)
            .collect(),
        header_start,
        rows: records,
        starts,
        target: 0,
    };
    if raw.rows.is_empty() {
        let span = spans::record_span(text, header_start);
        return Err(raw
            .error(
                "nnc::data::no_rows",
                format!("data file `{name}` has a header but no data rows"),
                span,
                "only a header".into(),
            )
            .with_help("add one row per example below the header row"));
    }
    check_header(&raw)?;
    raw.target = find_target(&raw, target, origin)?;
    check_ragged(&raw)?;
    Ok(raw)
}

fn malformed(source: &Source, base: usize, err: &csv::Error) -> Diagnostic {
    let at = err.position().map_or(0, |p| p.byte() as usize) + base;
    let at = spans::record_start(&source.text, at);
    Diagnostic::new(
        "nnc::data::malformed",
        format!("cannot parse data file `{}`: {err}", source.name),
    )
    .with_source(source)
    .with_label(spans::record_span(&source.text, at), "in this record")
    .with_help("the file must be comma-separated text with a header row")
}

fn check_header(raw: &Raw) -> Result<(), Diagnostic> {
    let name = &raw.source.name;
    for (col, column) in raw.header.iter().enumerate() {
        if column.is_empty() {
            return Err(raw
                .error(
                    "nnc::data::unnamed_column",
                    format!("column {} of data file `{name}` has no name", col + 1),
                    raw.header_cell(col),
                    "empty column name".into(),
                )
                .with_help("give every column a name in the header row (a trailing comma adds an empty column)"));
        }
        if let Some(first) = raw.header[..col].iter().position(|c| c == column) {
            return Err(raw
                .error(
                    "nnc::data::duplicate_column",
                    format!("data file `{name}` has two columns named `{column}`"),
                    raw.header_cell(col),
                    "second column with this name".into(),
                )
                .with_label(raw.header_cell(first), "first one")
                .with_help("rename one of them: columns are selected by name"));
        }
    }
    Ok(())
}

fn find_target(raw: &Raw, target: &str, origin: &DataOrigin) -> Result<usize, Diagnostic> {
    let wanted = columns::clean(target);
    if let Some(col) = raw.header.iter().position(|c| c == wanted) {
        return Ok(col);
    }
    let name = &raw.source.name;
    let message = format!("data file `{name}` has no column named `{wanted}`");
    let close = did_you_mean(wanted, raw.header.iter().map(String::as_str));
    let mut help = match close {
        Some(close) => format!("did you mean `{close}`? "),
        None => String::new(),
    };
    help.push_str(&format!("the columns are: {}", list_columns(&raw.header)));
    // Point at the likely intended column when there is one; otherwise at the whole header.
    let (header_span, header_label) =
        match close.and_then(|c| raw.header.iter().position(|h| h == c)) {
            Some(col) => (
                raw.header_cell(col),
                "did you mean this column?".to_string(),
            ),
            None => (
                spans::record_span(&raw.source.text, raw.header_start),
                format!("the columns of `{name}`"),
            ),
        };
    let diag = match origin.nn_span(origin.target_span) {
        Some((nn, span)) => Diagnostic::new("nnc::data::unknown_target", message)
            .with_source(nn)
            .with_label(span, "no such column")
            .with_related(
                Diagnostic::new(
                    "nnc::data::unknown_target",
                    format!("the header of `{name}`"),
                )
                .with_source(raw.source)
                .with_label(header_span, header_label),
            ),
        None => raw.error(
            "nnc::data::unknown_target",
            message,
            header_span,
            header_label,
        ),
    };
    Err(diag.with_help(help))
}

/// The column names for a help line. Wide files (64 pixel columns) keep the first and the last
/// few, since the target is usually the last column.
fn list_columns(header: &[String]) -> String {
    const HEAD: usize = 6;
    const TAIL: usize = 3;
    let quoted = |cols: &[String]| {
        cols.iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if header.len() <= HEAD + TAIL + 1 {
        return quoted(header);
    }
    format!(
        "{}, … {} ({} columns)",
        quoted(&header[..HEAD]),
        quoted(&header[header.len() - TAIL..]),
        header.len()
    )
}

fn check_ragged(raw: &Raw) -> Result<(), Diagnostic> {
    let expected = raw.header.len();
    let Some(row) = raw.rows.iter().position(|r| r.len() != expected) else {
        return Ok(());
    };
    let found = raw.rows[row].len();
    let text = &raw.source.text;
    let record = spans::record_span(text, raw.starts[row]);
    // Too many fields: point at the first surplus one. Too few: the whole row is suspect, since
    // the missing field could be anywhere in it.
    let (span, label) = if found > expected {
        let first_extra = raw.cell(row, expected);
        let span = Span::new(first_extra.start, record.end);
        (
            span,
            format!(
                "{} extra field{}",
                found - expected,
                plural(found - expected)
            ),
        )
    } else {
        (record, format!("{found} field{} here", plural(found)))
    };
    Err(raw
        .error(
            "nnc::data::ragged_row",
            format!(
                "line {} of data file `{}` has {found} field{}, expected {expected} like the header",
                raw.line(row),
                raw.source.name,
                plural(found)
            ),
            span,
            label,
        )
        .with_help(
            "every row needs one value per header column; quote values that contain commas, \
             and check for a trailing comma",
        ))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
