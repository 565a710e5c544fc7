//! Streaming a CSV file into cells: the header, then every data row as f32 numbers (and, for the
//! columns that need it, interned text), without holding the file in memory. The file is read in
//! blocks; a block without a quote character is cut into lines and parsed on every core at once,
//! and from the first quote on the rest of the file goes through `csv_core`'s quote-aware state
//! machine on one core (`records`), as the header does. Both paths end a line at `\n`, `\r\n` or a
//! bare `\r`, and both stop at a record past the [`Limits`]. Numbers are stored as `f32(x − reference)` with a reference per column
//! (the first row's value, or one fitted earlier), so the f32 keeps the precision of the spread of
//! a column rather than of its magnitude; values that do not fit are kept exactly on the side.
//! Problems are returned as byte offsets: turning them into diagnostics is `load`'s job.

use std::collections::HashMap;
use std::io::Read;

use super::number::{decimal_prefix, parse_f64};
use super::records::{Found, Records};

/// The marker of a missing text cell in [`TextColumn::codes`].
pub(crate) const MISSING_CODE: u32 = u32::MAX;

/// Blocks of this many bytes are read at a time; a block is parsed in parallel when it is larger
/// than [`PARALLEL_MIN`].
const BLOCK: usize = 8 << 20;
const PARALLEL_MIN: usize = 1 << 20;

/// The longest record (the header or one row) and the most fields in one: past either, reading
/// stops with [`Problem::TooLong`]. A record is held whole while it is read, so without a bound a
/// file that never ends a line (`/dev/zero`, or a file whose line breaks were lost) would be read
/// until memory runs out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Limits {
    pub bytes: usize,
    pub fields: usize,
}

/// 256 MiB is far past any row of a real table (a million numeric columns are about 10 MB) and
/// small beside this machine's memory; a million fields is 64 times a spreadsheet's 16,384
/// columns, and each column costs memory (its counts, its name) before any row is read.
pub(crate) const LIMITS: Limits = Limits {
    bytes: 256 << 20,
    fields: 1 << 20,
};

/// Which of the [`Limits`] a record is past, with its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Limit {
    Bytes(usize),
    Fields(usize),
}

/// What to do with each column while reading.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub delimiter: u8,
    /// Lower-cased markers of a missing value.
    pub missing: Vec<String>,
    /// Per column, whether its texts are interned (class targets, categorical features).
    pub text: Vec<Intern>,
    /// Whether numbers are stored at all (a second pass that only collects text skips them).
    pub numbers: bool,
    /// Per column, the value subtracted before the f32 cast; `None` takes the first data row's.
    pub references: Option<Vec<f64>>,
    /// Numbers are written with a decimal comma (`5,1`), as in files separated by semicolons.
    pub decimal_comma: bool,
}

impl Plan {
    /// A cell as a number, with the file's decimal separator.
    pub fn number(&self, cell: &str) -> Result<f64, std::num::ParseFloatError> {
        if self.decimal_comma && cell.contains(',') {
            parse_f64(&cell.replacen(',', ".", 1))
        } else {
            parse_f64(cell)
        }
    }

    pub fn is_missing(&self, cell: &str) -> bool {
        cell.is_empty()
            || self
                .missing
                .iter()
                .any(|m| m.len() == cell.len() && m.eq_ignore_ascii_case(cell))
    }
}

/// Whether a column's texts are interned while reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Intern {
    No,
    All,
    /// In case the column turns out to be text, when the file cannot be read a second time to
    /// intern it then (a pipe): up to this many distinct texts, past which the column could
    /// only be refused as having too many categories (see [`TextColumn::overflowed`]).
    UpTo(usize),
}

/// The markers every file understands, besides an empty cell.
pub(crate) const DEFAULT_MISSING: &[&str] = &["NA", "N/A", "NaN", "null", "?"];

/// Per column: what its non-missing cells held, and the first row of each kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Counts {
    pub numbers: usize,
    pub text: usize,
    pub missing: usize,
    pub first_text: Option<usize>,
    /// The first text, as written (trimmed), for diagnostics that cannot read the file again.
    pub first_text_value: Option<String>,
    pub first_missing: Option<usize>,
}

impl Counts {
    fn absorb(&mut self, other: &Counts, row_offset: usize) {
        self.numbers += other.numbers;
        self.text += other.text;
        self.missing += other.missing;
        if self.first_text.is_none() {
            self.first_text = other.first_text.map(|r| r + row_offset);
            self.first_text_value.clone_from(&other.first_text_value);
        }
        if self.first_missing.is_none() {
            self.first_missing = other.first_missing.map(|r| r + row_offset);
        }
    }
}

/// The distinct texts of a column in order of first appearance, and each row's index into them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TextColumn {
    pub names: Vec<String>,
    pub codes: Vec<u32>,
    index: HashMap<String, u32>,
    /// At most this many names are kept ([`Intern::UpTo`]).
    cap: Option<usize>,
    /// The column had more distinct texts than its cap: names and codes were dropped.
    pub overflowed: bool,
}

impl TextColumn {
    fn new(intern: Intern) -> Option<Self> {
        match intern {
            Intern::No => None,
            Intern::All => Some(TextColumn::default()),
            Intern::UpTo(cap) => Some(TextColumn {
                cap: Some(cap),
                ..TextColumn::default()
            }),
        }
    }

    fn push_missing(&mut self) {
        if !self.overflowed {
            self.codes.push(MISSING_CODE);
        }
    }

    /// Past the cap: keep nothing more, and free what was kept.
    fn overflow(&mut self) {
        *self = TextColumn {
            cap: self.cap,
            overflowed: true,
            ..TextColumn::default()
        };
    }

    fn push(&mut self, cell: &str) {
        if self.overflowed {
            return;
        }
        let code = match self.index.get(cell) {
            Some(&c) => c,
            None if self.cap.is_some_and(|cap| self.names.len() >= cap) => {
                self.overflow();
                return;
            }
            None => {
                let c = self.names.len() as u32;
                self.index.insert(cell.to_string(), c);
                self.names.push(cell.to_string());
                c
            }
        };
        self.codes.push(code);
    }

    fn absorb(&mut self, other: TextColumn) {
        if self.overflowed || other.overflowed {
            self.overflow();
            return;
        }
        let remap: Vec<u32> = other
            .names
            .into_iter()
            .map(|name| match self.index.get(&name) {
                Some(&c) => c,
                None => {
                    let c = self.names.len() as u32;
                    self.index.insert(name.clone(), c);
                    self.names.push(name);
                    c
                }
            })
            .collect();
        self.codes.extend(other.codes.iter().map(|&c| {
            if c == MISSING_CODE {
                c
            } else {
                remap[c as usize]
            }
        }));
        if self.cap.is_some_and(|cap| self.names.len() > cap) {
            self.overflow();
        }
    }
}

/// A problem that stops reading, at a byte offset of the file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Problem {
    /// A record with another number of fields than the header.
    Ragged {
        row: usize,
        start: usize,
        found: usize,
    },
    /// A number that is infinite (`inf`), which no strategy can use.
    NotFinite {
        row: usize,
        start: usize,
        column: usize,
    },
    /// Bytes that are not UTF-8, at this offset.
    NotUtf8 { offset: usize },
    /// The input could not be read.
    Io(String),
    /// A Parquet part could not be decoded (damaged or cut short).
    BadParquet(String),
    /// A record past the [`Limits`], starting at `start`; `row` is its data row (`None` for the
    /// header).
    TooLong {
        start: usize,
        row: Option<usize>,
        limit: Limit,
    },
}

/// Everything read from the data rows.
#[derive(Debug, Default)]
pub(crate) struct Cells {
    pub width: usize,
    pub rows: usize,
    /// `rows × width`, row-major: `f32(x − reference)`, NaN for missing and text cells, ±infinity
    /// where the exact value is in `exceptions`.
    pub values: Vec<f32>,
    pub exceptions: HashMap<(usize, usize), f64>,
    pub references: Vec<f64>,
    pub starts: Vec<usize>,
    pub text: Vec<Option<TextColumn>>,
    pub counts: Vec<Counts>,
    pub problem: Option<Problem>,
}

impl Cells {
    /// The value of a numeric cell relative to its column's reference, exactly as stored (the
    /// exact value where the f32 would have overflowed); NaN for missing and text cells.
    pub fn shifted(&self, row: usize, col: usize) -> f64 {
        let v = self.values[row * self.width + col];
        if v.is_infinite() {
            self.exceptions[&(row, col)]
        } else {
            f64::from(v)
        }
    }
}

/// One worker's share of the rows.
struct Sink<'p> {
    plan: &'p Plan,
    /// `None` until the first row sets them (when no references were given).
    references: Option<Vec<f64>>,
    cells: Cells,
    fields: Vec<&'p str>,
    /// Per byte, whether a missing marker can start with it (in either case): a cell starting
    /// with any other byte is not missing, without comparing it to every marker.
    marker_start: [bool; 256],
    limits: Limits,
}

impl<'p> Sink<'p> {
    fn new(plan: &'p Plan, references: Option<Vec<f64>>, width: usize, limits: Limits) -> Self {
        let mut marker_start = [false; 256];
        for m in &plan.missing {
            if let Some(&b) = m.as_bytes().first() {
                marker_start[usize::from(b.to_ascii_lowercase())] = true;
                marker_start[usize::from(b.to_ascii_uppercase())] = true;
            }
        }
        Sink {
            plan,
            references,
            cells: Cells::new(plan, width),
            fields: Vec::new(),
            marker_start,
            limits,
        }
    }

    /// One record; returns false when reading must stop.
    fn row<'a>(&mut self, fields: impl Iterator<Item = &'a str> + Clone, start: usize) -> bool {
        let width = self.cells.width;
        if self.references.is_none() {
            self.references = Some(references_of(fields.clone(), width));
        }
        let row = self.cells.rows;
        let mut n = 0;
        for field in fields {
            if n < width && !self.cell(row, n, field, None, start) {
                return false;
            }
            n += 1;
        }
        self.end_row(n, start)
    }

    /// One line of quote-free text: fields that start with a plain decimal ending at the
    /// delimiter are parsed as they are found, without first cutting the line into fields.
    fn line(&mut self, line: &str, start: usize) -> bool {
        let width = self.cells.width;
        let delimiter = self.plan.delimiter;
        if self.references.is_none() {
            self.references = Some(references_of(line.split(delimiter as char), width));
        }
        let bytes = line.as_bytes();
        let row = self.cells.rows;
        let mut n = 0;
        let mut at = 0;
        loop {
            let rest = &bytes[at..];
            let (end, number) = match decimal_prefix(rest) {
                Some((v, len)) if rest.get(len).is_none_or(|&b| b == delimiter) => {
                    (at + len, Some(v))
                }
                _ => match memchr::memchr(delimiter, rest) {
                    Some(i) => (at + i, None),
                    None => (bytes.len(), None),
                },
            };
            // The delimiter is ASCII, so `at` and `end` are character boundaries.
            if n < width && !self.cell(row, n, &line[at..end], number, start) {
                return false;
            }
            n += 1;
            if end == bytes.len() {
                break;
            }
            at = end + 1;
        }
        self.end_row(n, start)
    }

    /// The cell at `col` of the row being read; `number` is its value when the caller already
    /// parsed it as a plain decimal. Returns false when reading must stop.
    #[inline]
    fn cell(
        &mut self,
        row: usize,
        col: usize,
        field: &str,
        number: Option<f64>,
        start: usize,
    ) -> bool {
        let c = &mut self.cells;
        let references = self
            .references
            .as_ref()
            .expect("invariant: references are set before the first cell");
        // A plain decimal has no white space to trim; it may still be a missing marker.
        let (cell, number) = match number {
            Some(v) if !self.marker_start[usize::from(field.as_bytes()[0])] => (field, Some(v)),
            _ => (trim(field), None),
        };
        let counts = &mut c.counts[col];
        let mut value = f32::NAN;
        let missing = number.is_none()
            && match cell.as_bytes().first() {
                None => true,
                Some(&b) => self.marker_start[usize::from(b)] && self.plan.is_missing(cell),
            };
        if missing {
            counts.missing += 1;
            counts.first_missing.get_or_insert(row);
            if let Some(t) = &mut c.text[col] {
                t.push_missing();
            }
        } else {
            match number.map_or_else(|| self.plan.number(cell), Ok) {
                Ok(v) if !v.is_finite() => {
                    c.problem = Some(Problem::NotFinite {
                        row,
                        start,
                        column: col,
                    });
                    return false;
                }
                Ok(v) => {
                    counts.numbers += 1;
                    if self.plan.numbers {
                        let d = v - references[col];
                        value = d as f32;
                        if value.is_infinite() {
                            c.exceptions.insert((row, col), d);
                        }
                    }
                }
                Err(_) => {
                    counts.text += 1;
                    if counts.first_text.is_none() {
                        counts.first_text = Some(row);
                        counts.first_text_value = Some(cell.to_string());
                    }
                }
            }
            if let Some(t) = &mut c.text[col] {
                t.push(cell);
            }
        }
        if self.plan.numbers {
            c.values.push(value);
        }
        true
    }

    /// Close a row of `n` fields; returns false (and records the problem) when it is ragged.
    fn end_row(&mut self, n: usize, start: usize) -> bool {
        if n > self.limits.fields {
            return self.too_long(start, Limit::Fields(self.limits.fields));
        }
        let c = &mut self.cells;
        if n != c.width {
            c.problem = Some(Problem::Ragged {
                row: c.rows,
                start,
                found: n,
            });
            return false;
        }
        c.starts.push(start);
        c.rows += 1;
        true
    }

    /// Stop at the row starting at `start`, past a limit; returns false.
    fn too_long(&mut self, start: usize, limit: Limit) -> bool {
        self.cells.problem = Some(Problem::TooLong {
            start,
            row: Some(self.cells.rows),
            limit,
        });
        false
    }

    /// Quote-free text made of whole lines, starting at byte `base` of the file. A line ends at
    /// `\n` or `\r` (so `\r\n` leaves an empty line between them, skipped like a blank one), as
    /// `csv_core` ends a record.
    fn lines(&mut self, text: &'p str, base: usize) {
        let delimiter = self.plan.delimiter as char;
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let end = memchr::memchr2(b'\n', b'\r', &bytes[at..]).map_or(bytes.len(), |i| at + i);
            // Line breaks are ASCII, so `at` and `end` are character boundaries.
            let line = &text[at..end];
            let start = base + at;
            at = end + 1;
            if line.is_empty() {
                continue;
            }
            if line.len() > self.limits.bytes {
                self.too_long(start, Limit::Bytes(self.limits.bytes));
                return;
            }
            let go = if delimiter.is_ascii() {
                self.line(line, start)
            } else {
                let mut fields = std::mem::take(&mut self.fields);
                fields.clear();
                fields.extend(line.split(delimiter));
                let go = self.row(fields.iter().copied(), start);
                self.fields = fields;
                go
            };
            if !go {
                return;
            }
        }
    }
}

/// Rows that arrive typed rather than as text (a Parquet batch): per cell, the text a CSV writer
/// would write for it, or, for a float, the number itself, which reads as that text would.
pub(crate) trait TypedRows: Sync {
    fn rows(&self) -> usize;
    /// The cell's value when it is a present float (a NaN included), else `None`.
    fn number(&self, row: usize, col: usize) -> Option<f64>;
    /// The cell as the CSV text of it, unquoted (empty for a missing value), written into
    /// `scratch` where it must be made; `Err` when its bytes are not UTF-8.
    fn text<'s>(&'s self, row: usize, col: usize, scratch: &'s mut Vec<u8>) -> Result<&'s str, ()>;
}

impl Plan {
    /// Whether a number may go to the cell without its text: true unless a missing marker could
    /// be the text of a number (`-999`, `0`), which only the text can tell.
    pub fn numbers_without_text(&self) -> bool {
        !self.missing.iter().any(|m| {
            m.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'))
                || m.eq_ignore_ascii_case("inf")
                || m.eq_ignore_ascii_case("infinity")
        })
    }
}

/// Read typed rows into cells following `plan`, exactly as the CSV text of them would be read.
/// `first_row` is the data row the batch starts at: a typed row's "start" is its row index,
/// which diagnostics turn into a place in the rendered text.
pub(crate) fn read_typed<T: TypedRows>(
    plan: &Plan,
    width: usize,
    references: &mut Option<Vec<f64>>,
    batch: &T,
    first_row: usize,
) -> Cells {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rows = batch.rows();
    if references.is_none() && rows > 0 {
        let mut scratch = Vec::new();
        let mut texts = Vec::with_capacity(width);
        for col in 0..width {
            let text = batch.text(0, col, &mut scratch).unwrap_or_default();
            texts.push(text.to_string());
        }
        *references = Some(references_of(texts.iter().map(String::as_str), width));
    }
    let direct: Vec<bool> = (plan.text.iter())
        .map(|&t| t == Intern::No && plan.numbers_without_text())
        .collect();
    let read = |from: usize, to: usize| {
        let mut sink = Sink::new(plan, references.clone(), width, LIMITS);
        sink.typed(batch, &direct, from, to, first_row);
        sink.cells
    };
    // Work enough to share: about as many cells as a block of text holds.
    let parts = if rows * width >= PARALLEL_MIN / 8 {
        threads.min(rows)
    } else {
        1
    };
    let bounds: Vec<(usize, usize)> = (0..parts)
        .map(|p| (rows * p / parts, rows * (p + 1) / parts))
        .collect();
    let results: Vec<Cells> = if parts <= 1 {
        vec![read(0, rows)]
    } else {
        std::thread::scope(|scope| {
            let read = &read;
            let handles: Vec<_> = (bounds.iter())
                .map(|&(from, to)| scope.spawn(move || read(from, to)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .expect("invariant: a typed-row worker does not panic")
                })
                .collect()
        })
    };
    let mut total = Cells::new(plan, width);
    for cells in results {
        total.absorb(cells);
    }
    total.references = references.clone().unwrap_or_else(|| vec![0.0; width]);
    total
}

impl<'p> Sink<'p> {
    /// Rows `from..to` of a typed batch. A present float in a column whose text is not needed
    /// goes in as the number (what parsing its text gives, bit for bit); every other cell as
    /// its text.
    fn typed<T: TypedRows>(
        &mut self,
        batch: &T,
        direct: &[bool],
        from: usize,
        to: usize,
        first: usize,
    ) {
        let width = self.cells.width;
        let mut scratch = Vec::new();
        for r in from..to {
            let row = self.cells.rows;
            let start = first + r;
            for (col, &direct) in direct.iter().enumerate().take(width) {
                let number = match direct {
                    true => batch.number(r, col).filter(|v| !v.is_nan()),
                    false => None,
                };
                let go = match number {
                    // "0" stands for the text: no missing marker starts like a number here.
                    Some(v) => self.cell(row, col, "0", Some(v), start),
                    None => match batch.text(r, col, &mut scratch) {
                        Ok(text) => self.cell(row, col, text, None, start),
                        Err(()) => {
                            self.cells.problem = Some(Problem::NotUtf8 { offset: start });
                            false
                        }
                    },
                };
                if !go {
                    return;
                }
            }
            if !self.end_row(width, start) {
                return;
            }
        }
    }
}

impl Cells {
    pub(crate) fn new(plan: &Plan, width: usize) -> Self {
        Cells {
            width,
            text: plan.text.iter().map(|&t| TextColumn::new(t)).collect(),
            counts: vec![Counts::default(); width],
            ..Cells::default()
        }
    }

    /// Append the rows another worker read after ours.
    pub(crate) fn absorb(&mut self, other: Cells) {
        let offset = self.rows;
        let c = self;
        if c.problem.is_some() {
            return;
        }
        c.values.extend_from_slice(&other.values);
        c.exceptions.extend(
            other
                .exceptions
                .into_iter()
                .map(|((r, col), v)| ((r + offset, col), v)),
        );
        c.starts.extend_from_slice(&other.starts);
        for (mine, theirs) in c.text.iter_mut().zip(other.text) {
            if let (Some(m), Some(t)) = (mine, theirs) {
                m.absorb(t);
            }
        }
        for (mine, theirs) in c.counts.iter_mut().zip(&other.counts) {
            mine.absorb(theirs, offset);
        }
        c.rows += other.rows;
        c.problem = other.problem.map(|p| match p {
            Problem::Ragged { row, start, found } => Problem::Ragged {
                row: row + offset,
                start,
                found,
            },
            Problem::NotFinite { row, start, column } => Problem::NotFinite {
                row: row + offset,
                start,
                column,
            },
            Problem::TooLong { start, row, limit } => Problem::TooLong {
                start,
                row: row.map(|r| r + offset),
                limit,
            },
            other => other,
        });
    }
}

/// The header record and where the data rows begin.
pub(crate) struct Header {
    pub names: Vec<String>,
    pub start: usize,
}

/// A CSV byte stream positioned after its header.
pub(crate) struct CsvStream<R> {
    input: R,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    base: usize,
    eof: bool,
    pub delimiter: u8,
    pub limits: Limits,
    /// Bytes given to `csv_core` for the header, for tests that bound the work.
    #[cfg(test)]
    header_work: usize,
}

impl<R: Read> CsvStream<R> {
    /// Start reading: fills the first block and skips a byte-order mark.
    pub fn new(mut input: R) -> std::io::Result<Self> {
        let mut buf = Vec::with_capacity(BLOCK);
        let eof = fill(&mut input, &mut buf, BLOCK)?;
        let base = 0;
        let mut s = CsvStream {
            input,
            buf,
            base,
            eof,
            delimiter: b',',
            limits: LIMITS,
            #[cfg(test)]
            header_work: 0,
        };
        if s.buf.starts_with("\u{feff}".as_bytes()) {
            s.buf.drain(..3);
            s.base = 3;
        }
        Ok(s)
    }

    /// The bytes read so far (the first block), for sniffing the dialect.
    pub fn sample(&self) -> &[u8] {
        &self.buf
    }

    /// Read the header record through `csv_core` (a header is often quoted even when the data is
    /// not), a block at a time. `None` for a file without any record.
    pub fn header(&mut self) -> Result<Option<Header>, Problem> {
        let mut records = Records::new(self.delimiter, self.limits);
        loop {
            let (used, found) = records.next(&self.buf, self.base, self.eof);
            self.consume(used);
            #[cfg(test)]
            {
                self.header_work = records.fed;
            }
            match found? {
                Found::Record(start) => {
                    let (bytes, ends) = records.record();
                    let names = fields(bytes, ends).map_err(|valid| Problem::NotUtf8 {
                        offset: start + valid,
                    })?;
                    return Ok(Some(Header { names, start }));
                }
                Found::End => return Ok(None),
                Found::More => self.refill()?,
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.base += n;
    }

    /// Read every remaining record into cells following `plan`.
    pub fn read_rows(self, plan: &Plan, width: usize) -> Cells {
        let mut all = None;
        self.read_chunks(plan, width, usize::MAX, &mut |cells| {
            all = Some(cells);
            true
        });
        all.expect("invariant: reading ends with one last chunk")
    }

    /// Read every remaining record into cells following `plan`, handing them to `on_chunk` in
    /// chunks of at least `chunk_rows` rows (the last may be shorter, and holds the problem that
    /// stopped reading, if any) as each block of the file is read; `on_chunk` returns false to
    /// stop. A chunk's row numbers (its problem's too) count from its own first row; its
    /// `starts` are offsets in the whole file.
    pub fn read_chunks(
        mut self,
        plan: &Plan,
        width: usize,
        chunk_rows: usize,
        on_chunk: &mut dyn FnMut(Cells) -> bool,
    ) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let limits = self.limits;
        let mut references = plan.references.clone();
        let mut total = Cells::new(plan, width);
        let mut quoted: Option<Records> = None;
        // The bytes at the start of `buf` already searched for a quote and a line break, in vain.
        let mut searched = 0;
        loop {
            if total.rows >= chunk_rows && total.problem.is_none() {
                let mut full = std::mem::replace(&mut total, Cells::new(plan, width));
                full.references = references.clone().unwrap_or_else(|| vec![0.0; width]);
                if !on_chunk(full) {
                    return;
                }
            }
            if self.buf.is_empty() && self.eof {
                break;
            }
            if quoted.is_none() && memchr::memchr(b'"', &self.buf[searched..]).is_some() {
                quoted = Some(Records::new(self.delimiter, limits));
            }
            if let Some(records) = &mut quoted {
                let mut sink = Sink::new(plan, references.clone(), width, limits);
                let (consumed, stop) = feed(records, &self.buf, self.base, self.eof, &mut sink);
                references = references.or(sink.references);
                total.absorb(sink.cells);
                self.consume(consumed);
                if stop || total.problem.is_some() {
                    break;
                }
                if let Err(e) = self.refill() {
                    total.problem = Some(e);
                    break;
                }
                continue;
            }
            // Whole lines only; the tail waits for the next block.
            let end = if self.eof {
                self.buf.len()
            } else {
                match memchr::memrchr2(b'\n', b'\r', &self.buf[searched..]) {
                    Some(i) => searched + i + 1,
                    None if self.buf.len() > limits.bytes => {
                        total.problem = Some(Problem::TooLong {
                            start: self.base,
                            row: Some(total.rows),
                            limit: Limit::Bytes(limits.bytes),
                        });
                        break;
                    }
                    None => {
                        // One line longer than what is buffered: read on, searching only the
                        // new bytes next time.
                        searched = self.buf.len();
                        if let Err(e) = self.refill() {
                            total.problem = Some(e);
                            break;
                        }
                        continue;
                    }
                }
            };
            searched = 0;
            let text = match std::str::from_utf8(&self.buf[..end]) {
                Ok(t) => t,
                Err(e) => {
                    total.problem = Some(Problem::NotUtf8 {
                        offset: self.base + e.valid_up_to(),
                    });
                    break;
                }
            };
            if references.is_none() {
                references = Some(first_row_references(text, plan, width));
            }
            let refs = &references;
            let parts = split_lines(text, if end >= PARALLEL_MIN { threads } else { 1 });
            let base = self.base;
            let results: Vec<Cells> = if parts.len() == 1 {
                let mut sink = Sink::new(plan, refs.clone(), width, limits);
                sink.lines(text, base);
                vec![sink.cells]
            } else {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = parts
                        .iter()
                        .map(|&(from, to)| {
                            scope.spawn(move || {
                                let mut sink = Sink::new(plan, refs.clone(), width, limits);
                                sink.lines(&text[from..to], base + from);
                                sink.cells
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("invariant: a CSV worker does not panic"))
                        .collect()
                })
            };
            for cells in results {
                total.absorb(cells);
            }
            if total.problem.is_some() {
                break;
            }
            self.consume(end);
            if let Err(e) = self.refill() {
                total.problem = Some(e);
                break;
            }
        }
        total.references = references.unwrap_or_else(|| vec![0.0; width]);
        on_chunk(total);
    }

    /// Append the next block to what is left of the buffer.
    fn refill(&mut self) -> Result<(), Problem> {
        if !self.eof {
            let want = self.buf.len() + BLOCK;
            self.eof = fill(&mut self.input, &mut self.buf, want).map_err(io)?;
        }
        Ok(())
    }
}

/// A record's fields as text; `Err` holds the offset into `bytes` of the first byte that is not
/// UTF-8, plus one for each delimiter before it (its offset in the file, when nothing is quoted).
fn fields(bytes: &[u8], ends: &[usize]) -> Result<Vec<String>, usize> {
    let mut from = 0;
    let mut out = Vec::with_capacity(ends.len());
    for (i, &end) in ends.iter().enumerate() {
        match std::str::from_utf8(&bytes[from..end]) {
            Ok(s) => out.push(s.to_string()),
            Err(e) => return Err(from + e.valid_up_to() + i),
        }
        from = end;
    }
    Ok(out)
}

/// Parse the records of `input` (at file offset `base`) into `sink`; returns the bytes consumed
/// and whether to stop.
fn feed(
    records: &mut Records,
    input: &[u8],
    base: usize,
    eof: bool,
    sink: &mut Sink<'_>,
) -> (usize, bool) {
    let mut at = 0;
    loop {
        let (used, found) = records.next(&input[at..], base + at, eof);
        at += used;
        match found {
            Ok(Found::Record(start)) => {
                let (bytes, ends) = records.record();
                if !emit(bytes, ends, start, sink) {
                    return (at, true);
                }
            }
            Ok(Found::More) => return (at, false),
            Ok(Found::End) => return (at, true),
            Err(Problem::TooLong { start, limit, .. }) => {
                sink.too_long(start, limit);
                return (at, true);
            }
            Err(p) => {
                sink.cells.problem = Some(p);
                return (at, true);
            }
        }
    }
}

/// One record from `csv_core` into `sink`; returns false when reading must stop.
fn emit(bytes: &[u8], ends: &[usize], start: usize, sink: &mut Sink<'_>) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        sink.cells.problem = Some(Problem::NotUtf8 { offset: start });
        return false;
    };
    let mut fields = Vec::with_capacity(ends.len());
    let mut from = 0;
    for &end in ends {
        fields.push(&text[from..end]);
        from = end;
    }
    sink.row(fields.iter().copied(), start)
}

fn io(e: std::io::Error) -> Problem {
    Problem::Io(e.to_string())
}

/// A row's finite numbers, as references (0 where it has none).
fn references_of<'a>(fields: impl Iterator<Item = &'a str>, width: usize) -> Vec<f64> {
    let mut refs = vec![0.0; width];
    for (r, cell) in refs.iter_mut().zip(fields) {
        if let Ok(v) = parse_f64(trim(cell)) {
            if v.is_finite() {
                *r = v;
            }
        }
    }
    refs
}

/// The first data row of quote-free text, as references.
fn first_row_references(text: &str, plan: &Plan, width: usize) -> Vec<f64> {
    match text.split(['\n', '\r']).find(|l| !l.is_empty()) {
        Some(line) => references_of(line.split(plan.delimiter as char), width),
        None => vec![0.0; width],
    }
}

/// `cell.trim()`, without looking for Unicode white space when both ends are visible ASCII.
fn trim(cell: &str) -> &str {
    let visible = |b: &u8| (b'!'..=b'~').contains(b);
    let bytes = cell.as_bytes();
    if bytes.first().is_some_and(visible) && bytes.last().is_some_and(visible) {
        cell
    } else {
        cell.trim()
    }
}

/// Cut text made of whole lines into about `n` pieces at line ends.
fn split_lines(text: &str, n: usize) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut from = 0;
    for k in 1..n {
        let target = (bytes.len() * k / n).max(from);
        let cut = match memchr::memchr2(b'\n', b'\r', &bytes[target..]) {
            Some(i) => target + i + 1,
            None => break,
        };
        if cut > from && cut < bytes.len() {
            parts.push((from, cut));
            from = cut;
        }
    }
    parts.push((from, bytes.len()));
    parts
}

/// Append up to `want − buf.len()` bytes; true at the end of the input.
fn fill(input: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    while buf.len() < want {
        let old = buf.len();
        buf.resize(want, 0);
        match input.read(&mut buf[old..]) {
            Ok(0) => {
                buf.truncate(old);
                return Ok(true);
            }
            Ok(n) => buf.truncate(old + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(old),
            Err(e) => {
                buf.truncate(old);
                return Err(e);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(width: usize, text: &[usize]) -> Plan {
        Plan {
            delimiter: b',',
            missing: DEFAULT_MISSING.iter().map(|m| m.to_string()).collect(),
            text: (0..width)
                .map(|c| match text.contains(&c) {
                    true => Intern::All,
                    false => Intern::No,
                })
                .collect(),
            numbers: true,
            references: None,
            decimal_comma: false,
        }
    }

    fn read(text: &str, text_cols: &[usize]) -> (Vec<String>, Cells) {
        let mut s = CsvStream::new(text.as_bytes()).unwrap();
        let h = s.header().unwrap().unwrap();
        let w = h.names.len();
        (h.names, s.read_rows(&plan(w, text_cols), w))
    }

    #[test]
    fn numbers_are_stored_relative_to_the_first_row() {
        let (names, c) = read("a,b\n1000000.5,x\n1000000.25,NA\n", &[1]);
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(c.rows, 2);
        assert_eq!(c.references, vec![1000000.5, 0.0]);
        assert_eq!(c.shifted(1, 0), -0.25);
        assert!(c.shifted(0, 1).is_nan());
        let t = c.text[1].as_ref().unwrap();
        assert_eq!(
            (t.names.clone(), t.codes.clone()),
            (vec!["x".to_string()], vec![0, MISSING_CODE])
        );
        assert_eq!(c.counts[1].missing, 1);
        assert_eq!(c.counts[1].first_text, Some(0));
        assert_eq!(c.starts, vec![4, 16]);
    }

    #[test]
    fn quoted_and_plain_paths_agree() {
        let plain = "a,b,y\n1,2,u\n3,4,v\n\n5,6,u\r\n";
        let quoted = "a,b,y\n1,2,u\n3,4,\"v\"\n\n5,6,u\r\n";
        let (_, p) = read(plain, &[2]);
        let (_, q) = read(quoted, &[2]);
        let bits = |c: &Cells| c.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&p), bits(&q));
        assert_eq!(p.starts, [6, 12, 19]);
        assert_eq!(q.starts, [6, 12, 21], "the quotes take two bytes");
        assert_eq!(p.text, q.text);
        assert_eq!(p.rows, 3);
    }

    #[test]
    fn values_beyond_f32_are_kept_exactly() {
        let (_, c) = read("a\n1\n1e200\n-3e300\n", &[]);
        assert_eq!(c.shifted(1, 0), 1e200 - 1.0);
        assert_eq!(c.shifted(2, 0), -3e300 - 1.0);
    }

    #[test]
    fn problems_are_reported_at_their_row() {
        let (_, c) = read("a,b\n1,2\n3\n", &[]);
        assert_eq!(
            c.problem,
            Some(Problem::Ragged {
                row: 1,
                start: 8,
                found: 1
            })
        );
        let (_, c) = read("a,b\n1,2\n3,inf\n", &[]);
        assert!(matches!(
            c.problem,
            Some(Problem::NotFinite {
                row: 1,
                column: 1,
                ..
            })
        ));
    }

    /// `text` read with `limits`: the header's problem, or the rows' cells.
    fn read_limited(text: &[u8], limits: Limits) -> Result<Cells, Problem> {
        let mut s = CsvStream::new(text).unwrap();
        s.limits = limits;
        let w = s.header()?.unwrap().names.len();
        Ok(s.read_rows(&plan(w, &[]), w))
    }

    #[test]
    fn a_header_longer_than_a_block_is_parsed_once() {
        // Three and a half blocks of one quoted name, then a short one and a row.
        let long = "n".repeat(BLOCK * 7 / 2);
        let text = format!("\"{long}\",b\n1,2\n");
        let mut s = CsvStream::new(text.as_bytes()).unwrap();
        let h = s.header().unwrap().unwrap();
        assert_eq!((h.names[0].len(), h.names[1].as_str()), (long.len(), "b"));
        assert_eq!(h.start, 0);
        assert_eq!(
            s.header_work,
            long.len() + 5,
            "each byte of the header goes through csv_core once"
        );
        assert_eq!(s.read_rows(&plan(2, &[]), 2).rows, 1);
    }

    #[test]
    fn bare_cr_crlf_and_mixed_line_breaks_read_as_lf() {
        // Enough rows for parallel pieces and several blocks, a blank line, and a last line
        // without a break; every break is one byte in `lf`, `cr` and `mixed`, so offsets match.
        let mut lf = String::from("x,y,c\n\n");
        for r in 0..300_000 {
            lf.push_str(&format!("{r}.5,{},k{}\n", r % 7, r % 3));
        }
        lf.push_str("1,2,k0");
        let cr = lf.replace('\n', "\r");
        let mut k = 0;
        let mixed: String = lf
            .chars()
            .map(|c| match c {
                '\n' => {
                    k += 1;
                    if k % 2 == 0 {
                        '\r'
                    } else {
                        '\n'
                    }
                }
                c => c,
            })
            .collect();
        let crlf = lf.replace('\n', "\r\n");
        // The quoted path: a quote in the first row sends every row through csv_core.
        let quoted = cr.replacen("0.5,0,k0", "0.5,0,\"k0\"", 1);
        let (names, want) = read(&lf, &[2]);
        assert_eq!(names, ["x", "y", "c"]);
        assert_eq!((want.rows, want.problem.clone()), (300_001, None));
        for (name, text) in [
            ("cr", &cr),
            ("mixed", &mixed),
            ("crlf", &crlf),
            ("quoted", &quoted),
        ] {
            let (names, got) = read(text, &[2]);
            assert_eq!(names, ["x", "y", "c"], "{name}");
            assert_eq!(got.problem, None, "{name}");
            assert_eq!(got.rows, want.rows, "{name}");
            assert!(
                got.values
                    .iter()
                    .zip(&want.values)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{name}"
            );
            assert_eq!(got.text, want.text, "{name}");
            if name == "crlf" {
                // One more byte per line before each row.
                let shifted: Vec<usize> = (want.starts.iter().enumerate())
                    .map(|(r, &s)| s + r + 2)
                    .collect();
                assert_eq!(got.starts, shifted, "{name}");
            } else if name != "quoted" {
                assert_eq!(got.starts, want.starts, "{name}");
            }
        }
        // A bare CR inside quotes is part of the cell, in either path.
        let (_, c) = read("a,y\r1,\"u\rv\"\r2,w\r", &[1]);
        assert_eq!(c.text[1].as_ref().unwrap().names, ["u\rv", "w"]);
        assert_eq!((c.rows, c.starts.clone()), (2, vec![4, 12]));
    }

    #[test]
    fn records_past_the_limits_stop_with_their_start_and_row() {
        let limits = Limits {
            bytes: 20,
            fields: 3,
        };
        let too_long = |start, row, limit| Some(Problem::TooLong { start, row, limit });
        let bytes = Limit::Bytes(20);
        let fields = Limit::Fields(3);
        let header = |text: &str| read_limited(text.as_bytes(), limits).err();
        let rows = |text: &str| read_limited(text.as_bytes(), limits).unwrap().problem;
        assert_eq!(
            header("\n\"aaaaaaaaaaaaaaaaaaaa\"\n1\n"),
            too_long(1, None, bytes)
        );
        assert_eq!(header("a,b,c,d\n1,2,3,4\n"), too_long(0, None, fields));
        // Twenty bytes and three fields are allowed.
        let ok = read_limited(b"a,b,c\n1111111111111111,2,3\r\n", limits).unwrap();
        assert_eq!((ok.rows, ok.problem), (1, None));
        // The quote-free path, a line within the block and one without a break at all.
        assert_eq!(
            rows("a,b\n1,2\n3,4444444444444444444\n"),
            too_long(8, Some(1), bytes)
        );
        assert_eq!(rows("a,b\n1,2\n3,4,5,6\n"), too_long(8, Some(1), fields));
        let mut endless = b"a,b\n1,2\n".to_vec();
        endless.resize(2 * BLOCK, b'7');
        let mut s = CsvStream::new(endless.chain(std::io::repeat(b'7'))).unwrap();
        s.limits = limits;
        s.header().unwrap();
        assert_eq!(
            s.read_rows(&plan(2, &[]), 2).problem,
            too_long(8, Some(1), bytes)
        );
        // The quoted path.
        assert_eq!(
            rows("a,b\n\"1\",2\n3,\"444444444444444444\"\n"),
            too_long(10, Some(1), bytes)
        );
        assert_eq!(
            rows("a,b\n\"1\",2\n3,4,5,6\n"),
            too_long(10, Some(1), fields)
        );
        let mut s = CsvStream::new(b"a,b\n\"".chain(std::io::repeat(b'7'))).unwrap();
        s.limits = limits;
        s.header().unwrap();
        assert_eq!(
            s.read_rows(&plan(2, &[]), 2).problem,
            too_long(4, Some(0), bytes)
        );
    }

    #[test]
    fn capped_interning_keeps_up_to_its_cap_then_nothing() {
        // Rows enough for parallel pieces, whose distinct texts add up past the cap only merged.
        let mut text = String::from("a,b\n");
        for r in 0..200_000 {
            // Lines of one length: the two pieces are rows 0..=100_000 and the rest.
            let b = if r <= 100_000 { "u" } else { "v" };
            text.push_str(&format!("{}.123456,{b}\n", r % 3));
        }
        let read_capped = |cap| {
            let mut p = plan(2, &[]);
            p.text = vec![Intern::UpTo(cap); 2];
            let mut s = CsvStream::new(text.as_bytes()).unwrap();
            s.header().unwrap();
            s.read_rows(&p, 2)
        };
        let c = read_capped(3);
        let a = c.text[0].as_ref().unwrap();
        assert_eq!(
            (a.names.len(), a.codes.len(), a.overflowed),
            (3, 200_000, false)
        );
        let b = c.text[1].as_ref().unwrap();
        assert_eq!(
            (b.names.clone(), b.overflowed),
            (vec!["u".to_string(), "v".to_string()], false)
        );
        let c = read_capped(1);
        for t in &c.text {
            let t = t.as_ref().unwrap();
            assert!(t.overflowed && t.names.is_empty() && t.codes.is_empty());
        }
    }

    #[test]
    fn parallel_blocks_match_one_thread() {
        // Enough rows to be parsed in parallel pieces and over several blocks.
        let mut text = String::from("x,y,c\n");
        for r in 0..400_000 {
            text.push_str(&format!("{}.5,{},k{}\n", r, r % 7, r % 3));
        }
        let (_, c) = read(&text, &[2]);
        assert_eq!(c.rows, 400_000);
        for r in [0usize, 1, 199_999, 399_999] {
            assert_eq!(c.shifted(r, 0), r as f64);
            assert_eq!(c.text[2].as_ref().unwrap().codes[r], (r % 3) as u32);
        }
        assert!(c.starts.windows(2).all(|w| w[0] < w[1]));
    }

    /// Edge cases for the number parser: each must read as `str::parse::<f64>` reads it.
    const EDGE_NUMBERS: &[&str] = &[
        "0",
        "-0",
        "+0",
        "0.0",
        "-0.0",
        ".5",
        "-.5",
        "+.5",
        "5.",
        "-5.",
        "1E5",
        "1e5",
        "1e+5",
        "1e-5",
        "1.e5",
        ".5e1",
        "1e-310",
        "-1e-310",
        "4.9406564584124654e-324",
        "5e-324",
        "2.2250738585072014e-308",
        "1.7976931348623157e308",
        "1e308",
        "1e309",
        "1e22",
        "1e23",
        "1e-22",
        "1e-23",
        "9e22",
        "9999999e22",
        "9999999.9999999e-22",
        "1234567.1234567",
        "12345678",
        "12345678.5",
        "1.12345678",
        "0.1",
        "0.2",
        "0.3",
        "-1.2345e-05",
        "6.0221e23",
        "9007199254740992",
        "9007199254740993",
        "12345678901234567",
        "1234567890123456789",
        "12345678901234567890",
        "0.12345678901234567",
        "3.141592653589793238462643",
        "00000000000000000000001",
        "0000000.0000001",
        "1e0",
        "1e-0",
        "1e000",
        "1e0001",
        "1e999",
        "-1e999",
        "1e-999",
        "0e999",
        "7e-22",
        "7e-23",
        "123e-20",
        "1234567e-22",
    ];

    /// Text that is not a number, or not only one.
    const NOT_NUMBERS: &[&str] = &[
        "", "-", "+", ".", "-.", "e5", ".e5", "1e", "1e+", "1e-", "1..2", "1.2.3", "--1", "+-1",
        " 1", "1 ", "1,5", "0x10", "1_000", "1e5.5", "1ee5", "1e5e5", "inf", "-inf", "nan", "NaN",
        "infinity", "abc", "1a", "١", "1\u{a0}",
    ];

    /// Deterministic pseudo-random numbers (xorshift64*), for generated strings.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
    }

    /// Strings of the decimal grammar and near it: signs, digit runs of 0 to 19, points,
    /// exponents of 0 to 4 digits, and now and then a stray byte.
    fn generated(rng: &mut Rng) -> String {
        let mut s = String::new();
        let digits = |rng: &mut Rng, s: &mut String, n: usize| {
            for _ in 0..n {
                s.push((b'0' + rng.below(10) as u8) as char);
            }
        };
        s.push_str(["", "", "-", "+"][rng.below(4)]);
        let n = [0, 1, 1, 2, 3, 5, 7, 8, 9, 12, 17, 19][rng.below(12)];
        digits(rng, &mut s, n);
        if rng.below(4) > 0 {
            s.push('.');
            let n = [0, 1, 2, 4, 5, 6, 7, 8, 9, 16, 18][rng.below(11)];
            digits(rng, &mut s, n);
        }
        if rng.below(3) == 0 {
            s.push(['e', 'E'][rng.below(2)]);
            s.push_str(["", "-", "+"][rng.below(3)]);
            let n = [0, 1, 1, 2, 2, 3, 4][rng.below(7)];
            digits(rng, &mut s, n);
        }
        if rng.below(50) == 0 {
            let at = rng.below(s.len() as u64 + 1);
            s.insert(at, [' ', '.', 'e', 'x', '-'][rng.below(5)]);
        }
        s
    }

    fn same(
        a: &Result<f64, std::num::ParseFloatError>,
        b: &Result<f64, std::num::ParseFloatError>,
    ) -> bool {
        match (a, b) {
            (Ok(x), Ok(y)) => x.to_bits() == y.to_bits(),
            (Err(_), Err(_)) => true,
            _ => false,
        }
    }

    #[test]
    fn fast_number_parse_agrees_with_std() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut cases: Vec<String> = (EDGE_NUMBERS.iter().chain(NOT_NUMBERS))
            .map(|s| s.to_string())
            .collect();
        cases.extend((0..300_000).map(|_| generated(&mut rng)));
        // Printed f64s as CSV writers print them: shortest, scientific, %.5g-like, fixed.
        for _ in 0..100_000 {
            let v = f64::from_bits(rng.next());
            let w = (rng.next() as i64 as f64) * 1e-18 / (1 + rng.below(1000)) as f64;
            for x in [v, w] {
                if x.is_finite() {
                    cases.extend([format!("{x}"), format!("{x:e}"), format!("{x:.4e}")]);
                    cases.extend([format!("{x:.5}"), format!("{:.3}", x * 1e-3)]);
                }
            }
        }
        let mut fast = 0;
        for s in &cases {
            let std = s.parse::<f64>();
            assert!(
                same(&parse_f64(s), &std),
                "{s:?}: {:?} vs std {std:?}",
                parse_f64(s)
            );
            let prefix = decimal_prefix(s.as_bytes());
            if let Some((v, len)) = prefix {
                fast += usize::from(len == s.len());
                let head = s[..len].parse::<f64>();
                assert!(same(&Ok(v), &head), "{s:?}: prefix {v:?} vs std {head:?}");
            }
            // Eight bytes at a time or one at a time, the same answer.
            for tail in [",", ",12345678", "\n", "e", "5555555555"] {
                let longer = format!("{s}{tail}");
                let p = decimal_prefix(longer.as_bytes());
                if prefix.is_some_and(|(_, len)| len == s.len()) && !tail.starts_with(['5', 'e']) {
                    assert_eq!(
                        p.map(|(v, l)| (v.to_bits(), l)),
                        prefix.map(|(v, l)| (v.to_bits(), l)),
                        "{longer:?}"
                    );
                }
                if let Some((v, len)) = p {
                    assert!(same(&Ok(v), &longer[..len].parse::<f64>()), "{longer:?}");
                }
            }
        }
        assert!(
            fast > cases.len() / 3,
            "the fast path took only {fast} of {}",
            cases.len()
        );
    }

    #[test]
    fn cells_read_as_std_parses_them() {
        // Every edge number as a cell, in the middle and at the end of a line, with references
        // at zero so that the stored f32 is the parsed value's.
        let mut text = String::from("a,b\n");
        for s in EDGE_NUMBERS
            .iter()
            .filter(|s| s.parse::<f64>().is_ok_and(f64::is_finite))
        {
            text.push_str(&format!("{s},{s}\n"));
        }
        text.push_str(" 2.5 ,\t-7 \n-999,12\n");
        let mut p = plan(2, &[]);
        p.references = Some(vec![0.0, 0.0]);
        p.missing.push("-999".to_string());
        let mut stream = CsvStream::new(text.as_bytes()).unwrap();
        stream.header().unwrap().unwrap();
        let c = stream.read_rows(&p, 2);
        assert_eq!(c.problem, None);
        let expected: Vec<f64> = text
            .lines()
            .skip(1)
            .flat_map(|l| l.split(','))
            .map(|cell| cell.trim().parse::<f64>().unwrap_or(f64::NAN))
            .collect();
        assert_eq!(c.values.len(), expected.len());
        for (i, (&got, want)) in c.values.iter().zip(expected).enumerate() {
            let want = if i == c.values.len() - 2 {
                f64::NAN
            } else {
                want
            };
            if got.is_infinite() {
                assert_eq!(
                    c.exceptions[&(i / 2, i % 2)].to_bits(),
                    want.to_bits(),
                    "cell {i}"
                );
            } else {
                assert_eq!(got.to_bits(), (want as f32).to_bits(), "cell {i}: {want}");
            }
        }
        assert_eq!(
            c.counts[0].missing, 1,
            "`-999` is a missing marker even though a number"
        );
    }
}
