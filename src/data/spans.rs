//! Byte spans of CSV records and fields in the original file text, so that a diagnostic can point
//! at the exact cell. The csv crate reports where a record starts but its field ranges index its
//! own unescaped buffer, not the file, so quoted fields would be misplaced; this module re-scans
//! one raw record with the same dialect the reader uses. It only computes positions: it must not
//! interpret values or build diagnostics.

use crate::diag::Span;

/// The spans of every field of the record starting at `start`, including any surrounding quotes.
/// The dialect is the csv crate's default with the file's delimiter: `"` quotes that are only special at
/// the start of a field, `""` inside quotes for a literal quote, and any of `\r`, `\n` or `\r\n`
/// ending the record. After a closing quote the field runs on unquoted, as the crate reads it.
pub(crate) fn field_spans(text: &str, start: usize, delimiter: u8) -> Vec<Span> {
    let bytes = text.as_bytes();
    let len = bytes.len();
    let mut spans = Vec::new();
    let mut i = start.min(len);
    loop {
        let field_start = i;
        if i < len && bytes[i] == b'"' {
            i += 1;
            while i < len {
                if bytes[i] == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
        }
        while i < len && bytes[i] != delimiter && !matches!(bytes[i], b'\r' | b'\n') {
            i += 1;
        }
        spans.push(Span::new(field_start, i));
        if i < len && bytes[i] == delimiter {
            i += 1;
        } else {
            return spans;
        }
    }
}

/// `text` with each bare `\r` (one not followed by `\n`) replaced by `\n`, for rendering: the
/// reader ends a line at a bare `\r` (old Mac files, some spreadsheet exports) and the
/// renderer counts lines at `\n`. One byte for one, so every span still holds.
pub(crate) fn bare_cr_as_lf(text: String) -> String {
    let mut bytes = text.into_bytes();
    let bare: Vec<usize> = memchr::memchr_iter(b'\r', &bytes)
        .filter(|&i| bytes.get(i + 1) != Some(&b'\n'))
        .collect();
    for i in bare {
        bytes[i] = b'\n';
    }
    String::from_utf8(bytes).expect("invariant: replacing one ASCII byte by another keeps UTF-8")
}

/// The span of one record from its first to its last byte, terminator excluded.
pub(crate) fn record_span(text: &str, start: usize, delimiter: u8) -> Span {
    // A text that no longer holds the record (a file that changed) gives an empty span at its end.
    let start = start.min(text.len());
    let fields = field_spans(text, start, delimiter);
    let end = fields.last().map_or(start, |f| f.end);
    Span::new(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(text: &str, start: usize) -> Vec<&str> {
        field_spans(text, start, b',')
            .into_iter()
            .map(|s| &text[s.start..s.end])
            .collect()
    }

    #[test]
    fn plain_fields_and_empty_cells() {
        assert_eq!(cells("a,,c\nx", 0), vec!["a", "", "c"]);
        assert_eq!(cells("a,b,\r\n", 0), vec!["a", "b", ""]);
    }

    #[test]
    fn quoted_fields_keep_commas_newlines_and_doubled_quotes() {
        let text = "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",z\r\nnext";
        assert_eq!(
            cells(text, 0),
            vec!["\"a,b\"", "\"say \"\"hi\"\"\"", "\"two\nlines\"", "z"]
        );
    }

    #[test]
    fn other_delimiters() {
        assert_eq!(record_span("a;b\n", 0, b';'), Span::new(0, 3));
        assert_eq!(field_spans("a;\"x;y\";c", 0, b';').len(), 3);
    }
}
