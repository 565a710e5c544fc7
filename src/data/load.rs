//! Reading a CSV file into a [`Table`]: the file itself (missing, unreadable, not UTF-8), its
//! dialect (the delimiter, detected from the first block unless given), the record structure
//! (empty file, no data rows, ragged rows, header names), finding the target column and typing
//! every other column as numeric or categorical. The cells come from `read`, which streams the
//! file; this module turns its findings into diagnostics, re-reading the file only to render one.
//! It must not fit statistics or know about splits: that is `preprocess`'s job.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::parquet;
use super::read::{self, Cells, CsvStream, Header, Intern, Limit, Plan, Problem, MISSING_CODE};
use super::table::{cell_span, row_place, DataText, Named, ReadOptions, TargetSpec};
use super::table::{Column, ColumnKind, Table, Target, TargetColumn, NO_LABEL};
use super::{spans, DataOrigin, TargetKind};
use crate::diag::{did_you_mean, Diagnostic, Source, Span};

/// A text column with more distinct values than this (in the whole file) is refused as a
/// categorical feature: one-hot encoding it would add that many inputs.
pub const MAX_CATEGORIES: usize = 1000;

/// Read `path` with the default options, the target required.
pub fn load_csv(
    path: &Path,
    target: &str,
    kind: TargetKind,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    let target = TargetSpec::required(target, kind);
    load_table(path, Some(&target), &ReadOptions::default(), origin)
}

/// Read `path` and type its columns. Every failure is a diagnostic pointing at the cell, the
/// header, or (through `origin`) the `.nn` setting at fault.
pub fn load_table(
    path: &Path,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    if let Some(set) = parquet::dataset(path, origin)? {
        return read_parquet(set, target, opts, origin);
    }
    let (file, text, tsv) = open_csv(path, origin)?;
    let open = || std::fs::File::open(path);
    read_csv_table(file, &open, text, tsv, target, opts, origin)
}

/// A CSV file opened for reading: the file, its text for diagnostics, and whether its name says
/// it is tab-separated.
fn open_csv(
    path: &Path,
    origin: &DataOrigin,
) -> Result<(std::fs::File, DataText, bool), Diagnostic> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| file_error(&name, &e, origin))?;
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let text = DataText::File {
        name,
        path: path.to_path_buf(),
    };
    Ok((file, text, tsv))
}

/// A Parquet file or folder, each cell read as its CSV text would be. The columns the run
/// leaves out are not decoded; the dialect settings, which describe CSV text, do not apply.
fn read_parquet(
    set: parquet::Dataset,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    let (skip, text, header, opts) = parquet_layout(set, target, opts, origin)?;
    let DataText::Parquet { set, .. } = &text else {
        unreachable!("invariant: parquet_layout makes a Parquet text")
    };
    let set = set.clone();
    let mut rows = |plan: &Plan, _: usize| set.cells(&skip, plan, origin);
    read_table(header, b',', &mut rows, text, target, &opts, origin)
}

/// What reading a Parquet dataset settles first: the columns not decoded (left out, or not the
/// model's), the text diagnostics show, the header, and the options without CSV's dialect.
fn parquet_layout(
    set: parquet::Dataset,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
) -> Result<(Vec<String>, DataText, Header, ReadOptions), Diagnostic> {
    let names = set.header(origin)?;
    let wanted = |name: &String| {
        target.is_some_and(|t| &t.name == name)
            || !(opts.ignore.iter().any(|n| &n.name == name)
                || opts
                    .columns
                    .as_ref()
                    .is_some_and(|keep| !keep.contains(name)))
    };
    let skip: Vec<String> = names.iter().filter(|n| !wanted(n)).cloned().collect();
    let opts = ReadOptions {
        delimiter: Some(b','),
        decimal_comma: false,
        ..opts.clone()
    };
    let text = DataText::Parquet {
        set,
        skip: skip.clone(),
    };
    Ok((skip, text, Header { names, start: 0 }, opts))
}

/// Rows held in one chunk of [`load_table_chunks`]: about 4 MiB of cells, at least 1024 rows.
/// The peak memory of reading a chunk (its cells, its texts, the examples made of them, the
/// reader's block) is several times this; 4 MiB costs no speed against larger chunks and
/// halves the peak of 16 MiB's (76 against 134 MiB predicting 62 columns, before the
/// numeric columns' text was no longer interned).
fn chunk_rows(width: usize) -> usize {
    ((4 << 20) / (4 * width.max(1))).max(1024)
}

/// [`load_table`] a chunk of rows at a time, for a fitted model (`opts` from
/// `fitted_read_options`, so every chunk is typed and stored as the training file was): each
/// chunk, a [`Table`] whose `first_row` says where it starts in the file, goes to `on_table` as
/// it is read, and only one is held at a time. A file of any length is read in memory bounded by
/// its width. Diagnostics are those of [`load_table`].
pub fn load_table_chunks(
    path: &Path,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
    on_table: &mut dyn FnMut(Table) -> Result<(), Diagnostic>,
) -> Result<(), Diagnostic> {
    chunks(path, target, opts, origin, false, on_table)
}

/// The first chunk of [`load_table_chunks`] alone: the file is read no further.
pub fn load_first_chunk(
    path: &Path,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    let mut first = None;
    chunks(path, target, opts, origin, true, &mut |t| {
        first = Some(t);
        Ok(())
    })?;
    Ok(first.expect("invariant: a file without rows is refused before its first chunk"))
}

/// [`load_table_chunks`], or its first chunk alone.
fn chunks(
    path: &Path,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
    first_only: bool,
    on_table: &mut dyn FnMut(Table) -> Result<(), Diagnostic>,
) -> Result<(), Diagnostic> {
    if let Some(set) = parquet::dataset(path, origin)? {
        let (skip, text, header, opts) = parquet_layout(set, target, opts, origin)?;
        let DataText::Parquet { set, .. } = &text else {
            unreachable!("invariant: parquet_layout makes a Parquet text")
        };
        let set = set.clone();
        let mut read = |plan: &Plan, width: usize, on_chunk: &mut dyn FnMut(Cells) -> bool| {
            set.cell_chunks(&skip, plan, origin, chunk_rows(width), on_chunk)
        };
        return read_table_chunks(
            header, b',', &mut read, text, target, &opts, origin, first_only, on_table,
        );
    }
    let (file, text, tsv) = open_csv(path, origin)?;
    let (stream, header) = open_stream(file, &text, tsv, opts)?;
    let delimiter = stream.delimiter;
    let mut stream = Some(stream);
    let mut read = |plan: &Plan, width: usize, on_chunk: &mut dyn FnMut(Cells) -> bool| {
        let stream = stream
            .take()
            .expect("invariant: a table's chunks are read once");
        stream.read_chunks(plan, width, chunk_rows(width), on_chunk);
        Ok(())
    };
    read_table_chunks(
        header, delimiter, &mut read, text, target, opts, origin, first_only, on_table,
    )
}

/// [`load_csv`] on text already in memory.
pub fn parse_csv(
    source: &Source,
    target: &str,
    kind: TargetKind,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    let target = TargetSpec::required(target, kind);
    parse_table(source, Some(&target), &ReadOptions::default(), origin)
}

/// [`load_table`] on text already in memory.
pub fn parse_table(
    source: &Source,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    let bytes = source.text.as_bytes();
    let open = || Ok::<_, std::io::Error>(bytes);
    let tsv = source.name.to_ascii_lowercase().ends_with(".tsv");
    let text = DataText::Memory(source.clone());
    read_csv_table(bytes, &open, text, tsv, target, opts, origin)
}

/// The names of the file's columns, from its header alone (what an editor offers as column names).
pub fn header_names(path: &Path, opts: &ReadOptions) -> Result<Vec<String>, Diagnostic> {
    if let Some(set) = parquet::dataset(path, &DataOrigin::default())? {
        return set.header(&DataOrigin::default());
    }
    let text = DataText::File {
        name: path.display().to_string(),
        path: path.to_path_buf(),
    };
    let file = std::fs::File::open(path).map_err(|e| io_error(&text, &e))?;
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    Ok(open_stream(file, &text, tsv, opts)?.1.names)
}

/// The name of the last column, the conventional target when none is named. Reads only the
/// first block, with the same diagnostics as [`load_csv`] for a missing, unreadable or empty file.
pub fn last_column(
    path: &Path,
    opts: &ReadOptions,
    origin: &DataOrigin,
) -> Result<String, Diagnostic> {
    if let Some(set) = parquet::dataset(path, origin)? {
        return Ok(set.header(origin)?.last().cloned().unwrap_or_default());
    }
    let (file, text, tsv) = open_csv(path, origin)?;
    let (_, header) = open_stream(file, &text, tsv, opts)?;
    Ok(header.names.last().cloned().unwrap_or_default())
}

/// The stream positioned after the header, with the dialect settled.
fn open_stream<R: std::io::Read>(
    input: R,
    text: &DataText,
    tsv: bool,
    opts: &ReadOptions,
) -> Result<(CsvStream<R>, Header), Diagnostic> {
    let mut stream = CsvStream::new(input).map_err(|e| io_error(text, &e))?;
    stream.delimiter = opts.delimiter.unwrap_or_else(|| {
        if tsv {
            b'\t'
        } else {
            super::dialect::sniff(stream.sample())
        }
    });
    let delimiter = stream.delimiter;
    let header = match stream.header() {
        Ok(Some(h)) => h,
        Ok(None) => return Err(empty_file(&text.source())),
        Err(p) => return Err(problem(text, delimiter, &p, &[], None, 0)),
    };
    let mut header = header;
    for n in &mut header.names {
        if n.trim().len() != n.len() {
            *n = n.trim().to_string();
        }
    }
    Ok((stream, header))
}

/// Read CSV text into a [`Table`]: `input`, and `open` to read it again for a column found to
/// hold text late.
fn read_csv_table<R: std::io::Read, S: std::io::Read>(
    input: R,
    open: &dyn Fn() -> std::io::Result<S>,
    text: DataText,
    tsv: bool,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    let (stream, header) = open_stream(input, &text, tsv, opts)?;
    let delimiter = stream.delimiter;
    let mut first = Some(stream);
    let again = text.clone();
    let mut rows = |plan: &Plan, width: usize| match first.take() {
        Some(stream) => Ok(stream.read_rows(plan, width)),
        None => {
            let input = open().map_err(|e| io_error(&again, &e))?;
            let (stream, _) = open_stream(input, &again, tsv, opts)?;
            Ok(stream.read_rows(plan, width))
        }
    };
    read_table(header, delimiter, &mut rows, text, target, opts, origin)
}

/// The rows of a table read into cells following a plan: the first call reads every column the
/// plan says, a second (for text found late) only the text of the columns it interns.
type ReadRows<'a> = dyn FnMut(&Plan, usize) -> Result<Cells, Diagnostic> + 'a;

fn read_table(
    header: Header,
    delimiter: u8,
    read_rows: &mut ReadRows<'_>,
    text: DataText,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    // A file read once (a pipe) interns every column in case it is text, up to the categories
    // a column may have; a file read again interns text found late in a second pass.
    let once = !text.rereadable();
    let layout = Layout::new(header, delimiter, text, target, opts, origin, once)?;
    let cells = read_rows(&layout.plan, layout.width())?;
    if cells.rows == 0 && cells.problem.is_none() {
        return Err(no_rows(&layout.table));
    }
    layout.rows(cells, 0, Some(read_rows))
}

/// Read a chunk of rows at a time, handing each chunk's cells to the callback until it returns
/// false.
type ReadChunks<'a> =
    dyn FnMut(&Plan, usize, &mut dyn FnMut(Cells) -> bool) -> Result<(), Diagnostic> + 'a;

/// A table read in chunks: a chunk is typed on its own, with the fitted model's references and
/// categories in `opts` (every column's text is interned in case it is a category, as a
/// stream's is, unless the model says which columns are).
#[allow(clippy::too_many_arguments)]
fn read_table_chunks(
    header: Header,
    delimiter: u8,
    read_chunks: &mut ReadChunks<'_>,
    text: DataText,
    target: Option<&TargetSpec>,
    opts: &ReadOptions,
    origin: &DataOrigin,
    first_only: bool,
    on_table: &mut dyn FnMut(Table) -> Result<(), Diagnostic>,
) -> Result<(), Diagnostic> {
    // For a fitted model the numeric columns' text is not needed (see `Layout::rows`), and
    // interning every cell of them in case was half of the time predicting took.
    let once = opts.references.is_none();
    let layout = Layout::new(header, delimiter, text, target, opts, origin, once)?;
    let mut outcome = Ok(());
    let mut first_row = 0;
    let width = layout.width();
    read_chunks(&layout.plan, width, &mut |cells| {
        let rows = cells.rows;
        if rows == 0 && cells.problem.is_none() {
            // The end of a file whose rows all came in earlier chunks, or of one without rows.
            return true;
        }
        outcome = layout.rows(cells, first_row, None).and_then(&mut *on_table);
        first_row += rows;
        outcome.is_ok() && !first_only
    })?;
    outcome?;
    match first_row {
        0 => Err(no_rows(&layout.table)),
        _ => Ok(()),
    }
}

fn no_rows(table: &Table) -> Diagnostic {
    let source = table.source();
    let span = table.header_span(&source);
    Diagnostic::new(
        "nnc::data::no_rows",
        format!("data file `{}` has a header but no data rows", table.name()),
    )
    .with_source(&source)
    .with_label(span, "only a header")
    .with_help("add one row per example below the header row")
}

/// What reading a table settles before its rows: the checked header, the target and the
/// columns left out or forced, and the plan the rows are read with.
struct Layout<'a> {
    /// The table without rows.
    table: Table,
    target_col: Option<usize>,
    ignored: Vec<usize>,
    forced: Vec<usize>,
    plan: Plan,
    target: Option<&'a TargetSpec>,
    opts: &'a ReadOptions,
    origin: &'a DataOrigin,
}

impl<'a> Layout<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        header: Header,
        delimiter: u8,
        text: DataText,
        target: Option<&'a TargetSpec>,
        opts: &'a ReadOptions,
        origin: &'a DataOrigin,
        once: bool,
    ) -> Result<Self, Diagnostic> {
        let width = header.names.len();
        let table = Table {
            text,
            delimiter,
            header: header.names,
            header_start: header.start,
            first_row: 0,
            rows: 0,
            cells: Cells::default(),
            columns: Vec::new(),
            target: None,
            warnings: Vec::new(),
        };
        check_header(&table)?;
        let target_col = match target {
            Some(t) => find_target(&table, t, origin)?,
            None => None,
        };
        let mut ignored = columns_named(&table, &opts.ignore, "ignore", origin)?;
        if let Some(keep) = &opts.columns {
            ignored.extend((0..width).filter(|&c| !keep.contains(&table.header[c])));
        }
        let forced = columns_named(&table, &opts.categorical, "categorical", origin)?;
        let classes = target.is_some_and(|t| t.kind == TargetKind::Classes);
        let plan = Plan {
            delimiter,
            missing: read::DEFAULT_MISSING
                .iter()
                .map(|m| m.to_string())
                .chain(opts.missing_markers.iter().cloned())
                .collect(),
            text: (0..width)
                .map(|c| {
                    if forced.contains(&c) || (classes && Some(c) == target_col) {
                        Intern::All
                    } else if once && !ignored.contains(&c) {
                        Intern::UpTo(MAX_CATEGORIES)
                    } else {
                        Intern::No
                    }
                })
                .collect(),
            numbers: true,
            decimal_comma: opts.decimal_comma,
            references: opts.references.as_ref().map(|refs| {
                table
                    .header
                    .iter()
                    .map(|h| refs.get(h).copied().unwrap_or(0.0))
                    .collect()
            }),
        };
        Ok(Layout {
            table,
            target_col,
            ignored,
            forced,
            plan,
            target,
            opts,
            origin,
        })
    }

    fn width(&self) -> usize {
        self.table.header.len()
    }

    /// The table of `cells`, rows `first_row..` of the file, typed; `read_again` reads the
    /// rows a second time for a column found to hold text late (`None` when every column's
    /// text was interned).
    fn rows(
        &self,
        cells: Cells,
        first_row: usize,
        read_again: Option<&mut ReadRows<'_>>,
    ) -> Result<Table, Diagnostic> {
        let (target_col, ignored, forced) = (self.target_col, &self.ignored, &self.forced);
        let (target, opts, origin) = (self.target, self.opts, self.origin);
        let width = self.width();
        let delimiter = self.table.delimiter;
        let mut table = Table {
            text: self.table.text.clone(),
            delimiter,
            header: self.table.header.clone(),
            header_start: self.table.header_start,
            first_row,
            rows: 0,
            cells: Cells::default(),
            columns: Vec::new(),
            target: None,
            warnings: Vec::new(),
        };
        if let Some(p) = &cells.problem {
            return Err(problem(
                &table.text,
                delimiter,
                p,
                &table.header,
                Some(width),
                first_row,
            ));
        }
        table.rows = cells.rows;
        table.cells = cells;
        // Type the feature columns; text found in a column not interned yet needs a second pass.
        let mut late = Vec::new();
        for col in 0..width {
            if Some(col) == target_col || ignored.contains(&col) {
                continue;
            }
            let counts = &table.cells.counts[col];
            let kind = if forced.contains(&col) {
                ColumnKind::Categorical
            } else if counts.text == 0 {
                // Interned only in case it was text.
                table.cells.text[col] = None;
                ColumnKind::Numeric
            } else if counts.numbers * 2 >= counts.numbers + counts.text {
                return Err(mixed_column(&table, col));
            } else {
                if table.cells.text[col].is_none() {
                    late.push(col);
                }
                if !self.plan.decimal_comma {
                    check_decimal_comma(&table, col)?;
                }
                ColumnKind::Categorical
            };
            table.columns.push(Column {
                name: table.header[col].clone(),
                index: col,
                kind,
            });
        }
        // Read a chunk at a time for a fitted model, a column whose text was not interned is one
        // the model has as numeric (its categorical ones are interned): applying the model
        // refuses its text from the counts alone (`not_a_number` at the first text cell), so
        // its text is not needed.
        let late = match read_again {
            None if self.opts.references.is_some() => Vec::new(),
            _ => late,
        };
        if !late.is_empty() {
            let mut plan = self.plan.clone();
            plan.text = (0..width)
                .map(|c| match late.contains(&c) {
                    true => Intern::All,
                    false => Intern::No,
                })
                .collect();
            plan.numbers = false;
            let read_again = read_again.expect(
                "invariant: only a text read again has columns without their text interned",
            );
            let again = read_again(&plan, width)?;
            if again.rows != table.rows || again.problem.is_some() {
                return Err(changed(table.name()));
            }
            for col in late {
                table.cells.text[col] = again.text[col].clone();
            }
        }
        if table.columns.is_empty() {
            return Err(no_features(&table, target_col));
        }
        // A file read for a fitted model (held-out rows, or rows to predict or evaluate) takes the
        // training file's categories and classes: what it holds of its own is not the model's.
        let fitting = opts.references.is_none();
        let categorical: Vec<usize> = (table.columns.iter())
            .filter(|c| fitting && c.kind == ColumnKind::Categorical)
            .map(|c| c.index)
            .collect();
        for col in categorical {
            let named = opts
                .categorical
                .iter()
                .find(|n| n.name == table.header[col]);
            check_cardinality(&mut table, col, named, origin)?;
        }
        if let (Some(col), Some(spec)) = (target_col, target) {
            let insisted = forced.contains(&col);
            table.target = Some(read_target(
                &table,
                col,
                spec.kind,
                fitting,
                opts.partial,
                insisted,
                origin,
            )?);
        }
        Ok(table)
    }
}

/// The file read again (for a column found to hold text late) gave other rows than the first
/// time: another program wrote it meanwhile.
pub fn changed(name: &str) -> Diagnostic {
    Diagnostic::new(
        "nnc::data::changed",
        format!("data file `{name}` changed while it was being read"),
    )
    .with_help("run again once nothing else is writing the file")
}

/// The text of `span` in `source`; empty where the source no longer holds it (a file that
/// changed, or one that cannot be read again).
fn text_at(source: &Source, span: Span) -> &str {
    source.text.get(span.start..span.end).unwrap_or_default()
}

/// The CSV columns of a list of names from the `.nn` file; an unknown name is an error there.
fn columns_named(
    table: &Table,
    names: &[Named],
    setting: &str,
    origin: &DataOrigin,
) -> Result<Vec<usize>, Diagnostic> {
    names
        .iter()
        .map(|n| {
            table
                .column_index(&n.name)
                .ok_or_else(|| unknown_column(table, n, &format!("`{setting}`"), origin))
        })
        .collect()
}

/// `what` (`` `ignore` ``, a `column` block) names a column the file does not have.
pub fn unknown_column(table: &Table, n: &Named, what: &str, origin: &DataOrigin) -> Diagnostic {
    let mut help = match did_you_mean(&n.name, table.header.iter().map(String::as_str)) {
        Some(close) => format!("did you mean `{close}`? "),
        None => String::new(),
    };
    help.push_str(&format!("the columns are: {}", list_columns(&table.header)));
    let message = format!(
        "{what} names column `{}`, which data file `{}` does not have",
        n.name,
        table.name()
    );
    let d = Diagnostic::new("nnc::data::unknown_column", message).with_help(help);
    match origin.nn_span(n.span) {
        Some((nn, span)) => d.with_source(nn).with_label(span, "no such column"),
        None => {
            let source = table.source();
            let span = table.header_span(&source);
            d.with_source(&source).with_label(span, "the columns")
        }
    }
}

fn mixed_column(table: &Table, col: usize) -> Diagnostic {
    let counts = &table.cells.counts[col];
    let row = counts
        .first_text
        .expect("invariant: a mixed column has a first text cell");
    let source = table.source();
    let span = table.cell(&source, row, col);
    let cell = counts.first_text_value.as_deref().unwrap_or_default();
    let column = &table.header[col];
    Diagnostic::new(
        "nnc::data::not_a_number",
        format!(
            "{} of data file `{}`: `{cell}` in column `{column}` is not a number",
            table.line(&source, row),
            table.name()
        ),
    )
    .with_source(&source)
    .with_label(
        span,
        format!(
            "not a number ({} of {} values in this column are numbers)",
            counts.numbers,
            counts.numbers + counts.text
        ),
    )
    .with_help(format!(
        "write this value as a number (a `.` decimal point, no thousands separators or units); if it marks a missing value add it to `missing_markers: [\"{cell}\"]`, and if `{column}` holds categories say `categorical: [{column}]`"
    ))
}

/// A text column whose first text reads as a number with a decimal comma (`5,1`) is a file
/// written with decimal commas, not a column of categories.
fn check_decimal_comma(table: &Table, col: usize) -> Result<(), Diagnostic> {
    let counts = &table.cells.counts[col];
    let (Some(row), Some(cell)) = (counts.first_text, counts.first_text_value.as_deref()) else {
        return Ok(());
    };
    let looks_decimal = cell.matches(',').count() == 1
        && cell.replacen(',', ".", 1).parse::<f64>().is_ok()
        && cell
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b',' | b'-' | b'+'));
    if !looks_decimal {
        return Ok(());
    }
    let source = table.source();
    let span = table.cell(&source, row, col);
    let column = &table.header[col];
    Err(Diagnostic::new(
        "nnc::data::decimal_comma",
        format!(
            "{}: `{cell}` in column `{column}` looks like a number with a decimal comma",
            table.where_row(row)
        ),
    )
    .with_source(&source)
    .with_label(span, "a decimal comma?")
    .with_help(format!(
        "if the file writes numbers as `{cell}`, say `decimal: comma` in the data block; if `{column}` holds categories, say `categorical: [{column}]`"
    )))
}

/// A text column with about one value per row is an id or free text, not a category; a column
/// of fractional numbers made categorical by `categorical:` (`named`, where it is named) is more
/// likely a mistake than codes.
fn check_cardinality(
    table: &mut Table,
    col: usize,
    named: Option<&Named>,
    origin: &DataOrigin,
) -> Result<(), Diagnostic> {
    let (names, _) = table.text_column(col);
    let distinct = names.len();
    let fractional = looks_fractional(names.iter().map(String::as_str));
    let column = table.header[col].clone();
    let help = match named {
        Some(_) => format!(
            "`categorical: [{column}]` in the data block makes every value a category of its own: remove `{column}` from that list to use its values as numbers, or leave the column out with `ignore: [{column}]` if it is an id"
        ),
        None => format!(
            "if `{column}` is an id, a name or free text, leave it out with `ignore: [{column}]`"
        ),
    };
    let source = || table.source();
    // A column interned in case it was text stops counting past the limit.
    let overflowed = table.cells.text[col].as_ref().is_some_and(|t| t.overflowed);
    if overflowed || distinct > MAX_CATEGORIES {
        let count = match overflowed {
            true => format!("more than {MAX_CATEGORIES}"),
            false => distinct.to_string(),
        };
        let source = source();
        let span = table.header_cell(&source, col);
        let d = Diagnostic::new(
            "nnc::data::too_many_categories",
            format!(
                "column `{column}` of data file `{}` has {count} distinct values; one-hot encoding it would add {count} inputs (the limit is {MAX_CATEGORIES})",
                table.name()
            ),
        )
        .with_source(&source)
        .with_label(span, format!("{count} distinct values"))
        .with_help(help);
        return Err(with_categorical_origin(d, named, origin));
    }
    if let (Some(fractional), Some(_)) = (fractional, named) {
        let source = source();
        let span = table.header_cell(&source, col);
        let warning = Diagnostic::new(
            "nnc::data::categorical_numbers",
            format!(
                "column `{column}` of data file `{}` holds numbers ({fractional} of its {distinct} distinct values are not whole), but `categorical:` makes each value a category of its own",
                table.name()
            ),
        )
        .with_source(&source)
        .with_label(span, "numbers, read as categories")
        .with_help(format!(
            "remove `{column}` from `categorical: [...]` to use its values as numbers; `categorical:` is for numbers that are codes, such as zip codes or classes"
        ))
        .as_warning();
        table
            .warnings
            .push(with_categorical_origin(warning, named, origin));
        return Ok(());
    }
    if distinct > 20 && distinct * 2 > table.rows {
        let source = source();
        let span = table.header_cell(&source, col);
        let warning = Diagnostic::new(
            "nnc::data::high_cardinality",
            format!(
                "column `{column}` of data file `{}` has {distinct} distinct values in {} rows: one-hot encoded, it adds {distinct} inputs that rarely generalize",
                table.name(),
                table.rows
            ),
        )
        .with_source(&source)
        .with_label(span, "nearly one value per row")
        .with_help(help)
        .as_warning();
        table
            .warnings
            .push(with_categorical_origin(warning, named, origin));
    }
    Ok(())
}

/// How many of `names` are numbers with a fraction, when every one is a number.
fn looks_fractional<'a>(names: impl Iterator<Item = &'a str>) -> Option<usize> {
    let mut fractional = 0;
    for n in names {
        let v = n.trim().parse::<f64>().ok()?;
        if v.fract() != 0.0 {
            fractional += 1;
        }
    }
    (fractional > 0).then_some(fractional)
}

/// A diagnostic about a column the user listed in `categorical:`, pointing at that entry too.
fn with_categorical_origin(
    diag: Diagnostic,
    named: Option<&Named>,
    origin: &DataOrigin,
) -> Diagnostic {
    match named.and_then(|n| origin.nn_span(n.span)) {
        Some((nn, span)) => {
            let code = diag.code;
            let warning = diag.warning;
            let mut related = Diagnostic::new(code, "the column is made categorical here")
                .with_source(nn)
                .with_label(span, "categorical");
            related.warning = warning;
            diag.with_related(related)
        }
        None => diag,
    }
}

#[allow(clippy::too_many_arguments)]
fn read_target(
    table: &Table,
    col: usize,
    kind: TargetKind,
    fitting: bool,
    partial: bool,
    insisted: bool,
    origin: &DataOrigin,
) -> Result<TargetColumn, Diagnostic> {
    let counts = &table.cells.counts[col];
    let name = table.header[col].clone();
    let data = match kind {
        TargetKind::Values => {
            if let Some(row) = counts.first_text {
                return Err(non_numeric_target(table, row, col, origin));
            }
            let reference = table.reference(col);
            Target::Values(
                (0..table.rows)
                    .map(|r| table.shifted(r, col) + reference)
                    .collect(),
            )
        }
        TargetKind::Classes => classes(table, col, fitting, partial, insisted, origin)?,
    };
    Ok(TargetColumn {
        name,
        index: col,
        data,
        missing: counts.missing,
    })
}

/// The class names and labels; `fitting` (a file to train on) needs at least two classes, and
/// classes that look like measurements unless the user `insisted` (`categorical: [target]`). A
/// `partial` table (a chunk of a file being fitted) may hold one class or none: the caller
/// checks the whole file's ([`single_class`]).
fn classes(
    table: &Table,
    col: usize,
    fitting: bool,
    partial: bool,
    insisted: bool,
    origin: &DataOrigin,
) -> Result<Target, Diagnostic> {
    let (seen, codes) = table.text_column(col);
    let mut names: Vec<&str> = seen.iter().map(String::as_str).collect();
    names.sort_unstable();
    // Numeric labels sort by value so that "10" follows "9"; ties between spellings of one value
    // ("1" and "1.0") keep the lexicographic order.
    let number = |s: &str| s.parse::<f64>().ok();
    if names.iter().all(|n| number(n).is_some()) {
        names.sort_by(|a, b| {
            let (a, b) = (number(a).unwrap_or(0.0), number(b).unwrap_or(0.0));
            a.total_cmp(&b)
        });
    }
    if !partial && (names.is_empty() || (fitting && names.len() < 2)) {
        let only = names.first().copied().unwrap_or_default();
        return Err(single_class(table, col, only, origin));
    }
    if fitting && !insisted {
        check_continuous_target(table, col, &names, origin)?;
    }
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let remap: Vec<usize> = seen.iter().map(|s| index[s.as_str()]).collect();
    let labels = codes
        .iter()
        .map(|&c| {
            if c == MISSING_CODE {
                NO_LABEL
            } else {
                remap[c as usize]
            }
        })
        .collect();
    Ok(Target::Classes {
        names: names.into_iter().map(String::from).collect(),
        labels,
    })
}

/// A target column whose rows (with a target) all hold one class, `only`.
pub fn single_class(table: &Table, col: usize, only: &str, origin: &DataOrigin) -> Diagnostic {
    let column = &table.header[col];
    let source = table.source();
    let span = table.header_cell(&source, col);
    let diag = Diagnostic::new(
        "nnc::data::single_class",
        format!(
            "target `{column}` of data file `{}` has only one class (`{only}`); classification needs at least two",
            table.name()
        ),
    )
    .with_source(&source)
    .with_label(span, format!("every row has `{only}`"))
    .with_help("check that this is the right target column and file; a model cannot learn to tell apart classes it never sees");
    with_target_origin(diag, origin)
}

/// Class labels that are many numbers, some of them fractional or nearly one per row, are a
/// measurement given to a classification loss: training would make each value its own class.
fn check_continuous_target(
    table: &Table,
    col: usize,
    names: &[&str],
    origin: &DataOrigin,
) -> Result<(), Diagnostic> {
    const MANY: usize = 20;
    let distinct = names.len();
    let Some(fractional) = looks_fractional(names.iter().copied()).or_else(|| {
        // Whole numbers too, when there are about as many as rows with a target.
        let numbers = names.iter().all(|n| n.trim().parse::<f64>().is_ok());
        let rows = table.rows - table.cells.counts[col].missing;
        (numbers && distinct * 2 > rows).then_some(0)
    }) else {
        return Ok(());
    };
    if distinct <= MANY {
        return Ok(());
    }
    let column = &table.header[col];
    let what = match fractional {
        0 => format!("{distinct} distinct whole numbers"),
        f => format!("{distinct} distinct numbers, {f} of them not whole"),
    };
    let source = table.source();
    let span = table.header_cell(&source, col);
    let diag = Diagnostic::new(
        "nnc::data::continuous_target",
        format!(
            "target `{column}` of data file `{}` holds {what}: a classification loss would make each value a class of its own",
            table.name()
        ),
    )
    .with_source(&source)
    .with_label(span, format!("{distinct} distinct values"))
    .with_help(format!(
        "to predict a number, use a regression loss: `loss: mse` (or `mae`, `huber`); if these numbers really are class labels, say so with `categorical: [{column}]` in the data block"
    ));
    Err(with_target_origin(diag, origin))
}

fn non_numeric_target(table: &Table, row: usize, col: usize, origin: &DataOrigin) -> Diagnostic {
    let source = table.source();
    let span = table.cell(&source, row, col);
    let cell = table.cells.counts[col]
        .first_text_value
        .as_deref()
        .unwrap_or_default();
    let column = &table.header[col];
    let diag = Diagnostic::new(
        "nnc::data::non_numeric_target",
        format!(
            "{} of data file `{}`: target `{column}` must be numeric for a regression loss, but this row has `{cell}`",
            table.line(&source, row),
            table.name()
        ),
    )
    .with_source(&source)
    .with_label(span, "not a number")
    .with_help(
        "regression losses (mse) need numeric targets; for class labels use a cross-entropy loss",
    );
    with_target_origin(diag, origin)
}

/// Target problems are often a wrong `target` setting rather than bad data, so point there too.
fn with_target_origin(diag: Diagnostic, origin: &DataOrigin) -> Diagnostic {
    match origin.nn_span(origin.target_span) {
        Some((nn, span)) => {
            let code = diag.code;
            diag.with_related(
                Diagnostic::new(code, "the target column is chosen here")
                    .with_source(nn)
                    .with_label(span, "target"),
            )
        }
        None => diag,
    }
}

fn no_features(table: &Table, target: Option<usize>) -> Diagnostic {
    let source = table.source();
    let (span, label) = match target {
        Some(t) => (table.header_cell(&source, t), "the target"),
        None => (table.header_span(&source), "the columns"),
    };
    Diagnostic::new(
        "nnc::data::no_features",
        format!(
            "data file `{}` has no feature columns besides the target",
            table.name()
        ),
    )
    .with_source(&source)
    .with_label(span, label)
    .with_help("every column except the target and the ignored ones is an input feature; keep at least one")
}

fn io_error(text: &DataText, e: &std::io::Error) -> Diagnostic {
    Diagnostic::new(
        "nnc::data::unreadable",
        format!("cannot read data file `{}`: {e}", text.name()),
    )
    .with_help("check that the file is readable and not being written to")
}

/// A problem the reader stopped at, as a diagnostic on its place in the file.
fn problem(
    text: &DataText,
    delimiter: u8,
    p: &Problem,
    header: &[String],
    width: Option<usize>,
    first_row: usize,
) -> Diagnostic {
    let name = text.name().to_string();
    match p {
        Problem::NotUtf8 { offset } => {
            let source = text.source();
            let mut at = text.offset(&source, *offset).min(source.text.len());
            if let DataText::Parquet { .. } = text {
                // Typed rows know the row, not the byte: the first one shown as not UTF-8.
                at += source.text[at..].find('\u{fffd}').unwrap_or(0);
            }
            Diagnostic::new(
                "nnc::data::not_utf8",
                format!("data file `{name}` is not valid UTF-8 text"),
            )
            .with_source(&source)
            .with_label(Span::new(at, at + '\u{fffd}'.len_utf8()), "not UTF-8")
            .with_help(
                "save the file as UTF-8 CSV text (most spreadsheet programs offer \"CSV UTF-8\")",
            )
        }
        Problem::Io(e) => Diagnostic::new(
            "nnc::data::unreadable",
            format!("cannot read data file `{name}`: {e}"),
        )
        .with_help("check that the file is readable"),
        Problem::BadParquet(e) => parquet::undecodable(&format!("cannot read {e}")),
        Problem::Ragged { start, found, row } => {
            let source = text.source();
            let expected = width.unwrap_or(header.len());
            let found = *found;
            let record = spans::record_span(&source.text, *start, delimiter);
            // Too many fields: point at the first surplus one. Too few: the whole row is
            // suspect, since the missing field could be anywhere in it.
            let (span, label) = if found > expected {
                let first_extra = cell_span(&source, *start, expected, delimiter);
                (
                    Span::new(first_extra.start, record.end),
                    format!(
                        "{} extra field{}",
                        found - expected,
                        plural(found - expected)
                    ),
                )
            } else {
                (record, format!("{found} field{} here", plural(found)))
            };
            let line = row_place(text, &source, *start, first_row + *row);
            Diagnostic::new(
                "nnc::data::ragged_row",
                format!(
                    "{line} of data file `{name}` has {found} field{}, expected {expected} like the header",
                    plural(found)
                ),
            )
            .with_source(&source)
            .with_label(span, label)
            .with_help(format!(
                "every row needs one value per header column; the delimiter is `{}`: quote values that contain it, and check for a trailing one (or set `delimiter:` in the data block)",
                delimiter_name(delimiter)
            ))
        }
        Problem::TooLong { start, row, limit } => {
            too_long(text, *start, row.map(|r| first_row + r), *limit)
        }
        Problem::NotFinite { start, column, row } => {
            let source = text.source();
            let span = cell_span(&source, text.offset(&source, *start), *column, delimiter);
            let cell = text_at(&source, span).trim();
            let line = row_place(text, &source, *start, first_row + *row);
            Diagnostic::new(
                "nnc::data::not_finite",
                format!(
                    "{line} of data file `{name}`: `{cell}` in column `{}` is not a finite number",
                    header.get(*column).map_or("?", String::as_str)
                ),
            )
            .with_source(&source)
            .with_label(span, "infinite")
            .with_help("infinite values are not supported: replace them with a number, or leave the cell empty to treat it as missing")
        }
    }
}

/// How many bytes of a record too long to show whole a diagnostic shows.
const SHOWN: usize = 80;

/// A record past the reader's limits: named by its line when the file can be read again to
/// count lines (and then its start shown), else as the header or by its data row.
fn too_long(text: &DataText, start: usize, row: Option<usize>, limit: Limit) -> Diagnostic {
    let name = text.name();
    let (what, label, help) = match limit {
        Limit::Bytes(n) => (
            format!("is longer than {}", bytes(n)),
            format!("{} without a line break", bytes(n)),
            format!("a record (the header or one row) may be at most {}: check that the file is CSV text with a line break after each row, and that no quote `\"` is left open (it runs on to the end of the file)", bytes(n)),
        ),
        Limit::Fields(n) => (
            format!("has more than {n} fields"),
            format!("more than {n} fields"),
            format!("a record (the header or one row) may have at most {n} fields: check that the file is a CSV table, with one field per column"),
        ),
    };
    let shown = text.prefix(start + SHOWN);
    let message = match (row, &shown) {
        (None, _) => format!("the header of data file `{name}` {what}"),
        (Some(_), Some(source)) => format!(
            "the row starting on line {} of data file `{name}` {what}",
            source.line_col(start).0
        ),
        (Some(row), None) => format!("data row {} of data file `{name}` {what}", row + 1),
    };
    let diag = Diagnostic::new("nnc::data::record_too_long", message).with_help(help);
    let Some(source) = shown.filter(|s| start < s.text.len()) else {
        return diag;
    };
    // The record's first line as far as it was read, marked as going on.
    let line_end = source.text[start..]
        .find(['\n', '\r'])
        .map_or(source.text.len(), |i| start + i);
    let source = if line_end == source.text.len() {
        Source::new(source.name.clone(), format!("{} …", source.text))
    } else {
        source
    };
    diag.with_source(&source)
        .with_label(Span::new(start, line_end), label)
}

/// A size in bytes as a person reads it: MiB when it is a whole number of them.
fn bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

pub(crate) fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "tab".into(),
        b',' => ",".into(),
        d => (d as char).to_string(),
    }
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

pub(super) fn file_error(name: &str, err: &std::io::Error, origin: &DataOrigin) -> Diagnostic {
    let (code, what) = match err.kind() {
        std::io::ErrorKind::NotFound => ("nnc::data::file_not_found", "no such file".to_string()),
        _ => ("nnc::data::unreadable", err.to_string()),
    };
    let message = match origin.path_flag {
        Some(flag) => format!("cannot read data file `{name}` given by `{flag}`: {what}"),
        None => format!("cannot read data file `{name}`: {what}"),
    };
    let help = match origin.path_flag {
        Some(flag) => format!(
            "check the file name and folder: a path given by `{flag}` is relative to the current \
             folder, not to the .nn file's"
        ),
        None => "check the file name and folder: a data path in a .nn file is relative to the \
                 folder of that .nn file, and `--data FILE` on the command line overrides it"
            .to_string(),
    };
    parquet::with_path_label(Diagnostic::new(code, message).with_help(help), name, origin)
}

fn check_header(table: &Table) -> Result<(), Diagnostic> {
    let name = table.name();
    // The first column of each name: a wide header is checked in one pass, not one per column.
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(table.header.len());
    for (col, column) in table.header.iter().enumerate() {
        if column.is_empty() {
            let source = table.source();
            return Err(Diagnostic::new(
                "nnc::data::unnamed_column",
                format!("column {} of data file `{name}` has no name", col + 1),
            )
            .with_source(&source)
            .with_label(table.header_cell(&source, col), "empty column name")
            .with_help(
                "give every column a name in the header row (a trailing delimiter adds an empty column)",
            ));
        }
        if let Some(&first) = seen.get(column.as_str()) {
            let source = table.source();
            return Err(Diagnostic::new(
                "nnc::data::duplicate_column",
                format!("data file `{name}` has two columns named `{column}`"),
            )
            .with_source(&source)
            .with_label(
                table.header_cell(&source, col),
                "second column with this name",
            )
            .with_label(table.header_cell(&source, first), "first one")
            .with_help("rename one of them: columns are selected by name"));
        }
        seen.insert(column, col);
    }
    Ok(())
}

fn find_target(
    table: &Table,
    target: &TargetSpec,
    origin: &DataOrigin,
) -> Result<Option<usize>, Diagnostic> {
    let wanted = target.name.trim();
    if let Some(col) = table.column_index(wanted) {
        return Ok(Some(col));
    }
    if !target.required {
        return Ok(None);
    }
    let name = table.name();
    let message = format!("data file `{name}` has no column named `{wanted}`");
    let close = did_you_mean(wanted, table.header.iter().map(String::as_str));
    let mut help = match close {
        Some(close) => format!("did you mean `{close}`? "),
        None => String::new(),
    };
    help.push_str(&format!("the columns are: {}", list_columns(&table.header)));
    if table.header.len() == 1 {
        help.push_str(&format!(
            " (one column: if the file is not separated by `{}`, set `delimiter:` in the data block)",
            delimiter_name(table.delimiter)
        ));
    }
    let source = table.source();
    // Point at the likely intended column when there is one; otherwise at the whole header.
    let (header_span, header_label) =
        match close.and_then(|c| table.header.iter().position(|h| h == c)) {
            Some(col) => (
                table.header_cell(&source, col),
                "did you mean this column?".to_string(),
            ),
            None => (
                table.header_span(&source),
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
                .with_source(&source)
                .with_label(header_span, header_label),
            ),
        None => Diagnostic::new("nnc::data::unknown_target", message)
            .with_source(&source)
            .with_label(header_span, header_label),
    };
    Err(diag.with_help(help))
}

/// The column names for a help line. Wide files (64 pixel columns) keep the first and the last
/// few, since the target is usually the last column.
pub(crate) fn list_columns(header: &[String]) -> String {
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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A column of a file read a chunk at a time that the first chunk typed otherwise than `chunk`
/// (typed `now`): text after rows of numbers only, or numbers only after text. The first chunk
/// settles each column's kind, since the rows before are no longer held.
pub fn kind_changed(chunk: &Table, col: usize, now: ColumnKind) -> Diagnostic {
    let column = &chunk.header[col];
    let counts = &chunk.cells.counts[col];
    let (row, message, label) = match (now, counts.first_text) {
        (ColumnKind::Categorical, Some(row)) => {
            let cell = counts.first_text_value.as_deref().unwrap_or_default();
            (
                row,
                format!("`{cell}` in column `{column}` is text, but the rows read before held only numbers"),
                "text after numbers",
            )
        }
        _ => (
            0,
            format!("column `{column}` holds only numbers from here on, but the rows read before held text"),
            "numbers after text",
        ),
    };
    let source = chunk.source_through_row(row);
    let span = chunk.cell(&source, row, col);
    Diagnostic::new(
        "nnc::data::kind_changed",
        format!("{} of data file `{}`: {message}", chunk.line(&source, row), chunk.name()),
    )
    .with_source(&source)
    .with_label(span, label)
    .with_help(format!(
        "a file read in chunks (larger than `memory_limit`) takes each column's kind from its first rows: if `{column}` holds categories say `categorical: [{column}]`; if the text marks a missing value add it to `missing_markers`"
    ))
}

/// A categorical column of a file read a chunk at a time whose training rows have held more
/// than `MAX_CATEGORIES` distinct values by `chunk`.
pub fn too_many_categories(chunk: &Table, col: usize, distinct: usize) -> Diagnostic {
    let column = &chunk.header[col];
    let source = chunk.source_through_row(0);
    let span = chunk.header_cell(&source, col);
    Diagnostic::new(
        "nnc::data::too_many_categories",
        format!(
            "column `{column}` of data file `{}` has {distinct} distinct values; one-hot encoding it would add {distinct} inputs (the limit is {MAX_CATEGORIES})",
            chunk.name()
        ),
    )
    .with_source(&source)
    .with_label(span, format!("more than {MAX_CATEGORIES} distinct values"))
    .with_help(format!(
        "if `{column}` is an id, a name or free text, leave it out with `ignore: [{column}]`"
    ))
}
