//! Records through `csv_core`'s quote-aware state machine, fed one block of the file at a time.
//! The machine's state and the record's unescaped bytes and field ends are kept across blocks, so
//! a record longer than a block costs work linear in its length and memory about its length (plus
//! a block), never a re-parse from its start; a record past the [`Limits`] stops reading with
//! [`Problem::TooLong`] instead of growing until memory runs out. The header, and the data rows
//! from the first quote on, are read this way. Line breaks are `csv_core`'s: `\n`, `\r\n` or a
//! bare `\r`, and blank lines between records are skipped. It only splits records: what a record
//! means is the caller's.

use super::read::{Limit, Limits, Problem};

/// What [`Records::next`] found.
#[derive(Debug, PartialEq)]
pub(crate) enum Found {
    /// A whole record, starting at this file offset: its fields are [`Records::record`].
    Record(usize),
    /// The input ran out before the record (or the blank lines before it) ended: feed the next
    /// block.
    More,
    /// The end of the input, with no record left.
    End,
}

/// `csv_core`'s reader with the record in progress.
pub(crate) struct Records {
    reader: csv_core::Reader,
    output: Vec<u8>,
    ends: Vec<usize>,
    /// Output and ends filled for the record in progress (or the last one found).
    out_len: usize,
    ends_len: usize,
    /// File offset where the record in progress starts (`None` between records).
    start: Option<usize>,
    /// The last call found a record, which the next call forgets.
    found: bool,
    limits: Limits,
    /// Bytes given to `csv_core`, for tests that bound the work.
    #[cfg(test)]
    pub fed: usize,
}

impl Records {
    pub fn new(delimiter: u8, limits: Limits) -> Self {
        Records {
            reader: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            output: vec![0; 1 << 16],
            ends: vec![0; 1 << 10],
            out_len: 0,
            ends_len: 0,
            start: None,
            found: false,
            limits,
            #[cfg(test)]
            fed: 0,
        }
    }

    /// Parse `input`, which starts at file offset `base` and is followed by the rest of the file
    /// (nothing when `eof`), up to the end of the next record. Returns the bytes consumed; with
    /// [`Found::More`] that is all of them, and the next call takes the bytes after them.
    pub fn next(
        &mut self,
        input: &[u8],
        base: usize,
        eof: bool,
    ) -> (usize, Result<Found, Problem>) {
        if std::mem::take(&mut self.found) {
            self.out_len = 0;
            self.ends_len = 0;
            self.start = None;
        }
        let mut at = 0;
        loop {
            let start = match self.start {
                Some(start) => start,
                None => {
                    at += blank_prefix(&input[at..]);
                    if at == input.len() && !eof {
                        return (at, Ok(Found::More));
                    }
                    *self.start.insert(base + at)
                }
            };
            let rest = &input[at..];
            let (result, read, written, n_ends) = self.reader.read_record(
                rest,
                &mut self.output[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            #[cfg(test)]
            {
                self.fed += read;
            }
            at += read;
            self.out_len += written;
            self.ends_len += n_ends;
            // A record found in a non-empty input ended at a line break, which is not its length.
            let record = result == csv_core::ReadRecordResult::Record;
            let end = base + at - usize::from(record && !rest.is_empty());
            if let Some(limit) = self.exceeded(end - start) {
                return (
                    at,
                    Err(Problem::TooLong {
                        start,
                        row: None,
                        limit,
                    }),
                );
            }
            match result {
                csv_core::ReadRecordResult::InputEmpty if !eof => return (at, Ok(Found::More)),
                // At the end of the input, an empty input finishes the last record.
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    // Room for every byte left in this block: one growth per block at most, to
                    // about the record's length.
                    let need = (self.out_len + (input.len() - at)).max(self.output.len()) + 1;
                    self.output.reserve_exact(need - self.output.len());
                    self.output.resize(need, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.found = true;
                    return (at, Ok(Found::Record(start)));
                }
                csv_core::ReadRecordResult::End => return (at, Ok(Found::End)),
            }
        }
    }

    /// The unescaped bytes and field ends of the record the last [`Records::next`] found.
    pub fn record(&self) -> (&[u8], &[usize]) {
        (&self.output[..self.out_len], &self.ends[..self.ends_len])
    }

    /// The limit a record of `len` bytes (so far) with the fields read so far is past.
    fn exceeded(&self, len: usize) -> Option<Limit> {
        if len > self.limits.bytes {
            Some(Limit::Bytes(self.limits.bytes))
        } else if self.ends_len > self.limits.fields {
            Some(Limit::Fields(self.limits.fields))
        } else {
            None
        }
    }
}

/// How many bytes of line breaks `bytes` starts with.
fn blank_prefix(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Limits = Limits {
        bytes: usize::MAX,
        fields: usize::MAX,
    };

    /// Every record of `text` fed in pieces of `piece` bytes, as (start, fields).
    fn records(
        text: &[u8],
        piece: usize,
        limits: Limits,
    ) -> Result<Vec<(usize, Vec<String>)>, Problem> {
        let mut r = Records::new(b',', limits);
        let mut out = Vec::new();
        let mut base = 0;
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let eof = base + pending.len() >= text.len();
            let (used, found) = r.next(&pending, base, eof);
            pending.drain(..used);
            base += used;
            match found? {
                Found::Record(start) => {
                    let (bytes, ends) = r.record();
                    let mut from = 0;
                    let fields = ends
                        .iter()
                        .map(|&e| {
                            let f = String::from_utf8(bytes[from..e].to_vec()).unwrap();
                            from = e;
                            f
                        })
                        .collect();
                    out.push((start, fields));
                }
                Found::End => return Ok(out),
                Found::More => {
                    let from = base + pending.len();
                    let to = (from + piece).min(text.len());
                    pending.extend_from_slice(&text[from..to]);
                }
            }
        }
    }

    fn fields(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_line_break_ends_a_record_in_any_piece_size() {
        // LF, CRLF, a bare CR, blank lines of each kind, and a CR and an LF inside quotes.
        let text = b"a,b\r\n1,2\r3,\"x\ry\"\n\r\n\r4,\"p\nq\"\r\n5,6";
        for piece in [1, 2, 3, 7, text.len()] {
            let got = records(text, piece, WIDE).unwrap();
            assert_eq!(
                got,
                vec![
                    (0, fields(&["a", "b"])),
                    (5, fields(&["1", "2"])),
                    (9, fields(&["3", "x\ry"])),
                    (20, fields(&["4", "p\nq"])),
                    (29, fields(&["5", "6"])),
                ],
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn a_long_record_is_parsed_once_and_held_once() {
        let field = vec![b'x'; 1 << 20];
        let mut text = b"\"".to_vec();
        text.extend_from_slice(&field);
        text.extend_from_slice(b"\",y\n1,2\n");
        let piece = 1 << 12;
        let mut r = Records::new(b',', WIDE);
        let mut base = 0;
        let found = loop {
            let to = (base + piece).min(text.len());
            let (used, found) = r.next(&text[base..to], base, to == text.len());
            base += used;
            match found.unwrap() {
                Found::More => continue,
                f => break f,
            }
        };
        assert_eq!(found, Found::Record(0));
        assert_eq!(r.record().1, &[1 << 20, (1 << 20) + 1]);
        assert_eq!(r.fed, field.len() + 5, "each byte is parsed once");
        assert!(
            r.output.len() <= field.len() + piece + 1,
            "output of {} bytes for a field of {}",
            r.output.len(),
            field.len()
        );
    }

    #[test]
    fn records_past_the_limits_stop_reading() {
        let limits = Limits {
            bytes: 10,
            fields: 3,
        };
        // Ten bytes and three fields are allowed, line breaks not counted.
        let ok = b"0123456789\r\na,b,c\n";
        assert_eq!(records(ok, 4, limits).unwrap().len(), 2);
        let too_long = |text: &[u8]| {
            (1..=text.len())
                .map(|piece| records(text, piece, limits).unwrap_err())
                .collect::<Vec<_>>()
        };
        for p in too_long(b"a\n\n01234567890\n") {
            assert_eq!(
                p,
                Problem::TooLong {
                    start: 3,
                    row: None,
                    limit: Limit::Bytes(10)
                }
            );
        }
        for p in too_long(b"a\n,,,\n") {
            assert_eq!(
                p,
                Problem::TooLong {
                    start: 2,
                    row: None,
                    limit: Limit::Fields(3)
                }
            );
        }
        // Without a line break, at the end of the input.
        assert!(records(b"x\n\"0123456789\"", 3, limits).is_err());
    }
}
