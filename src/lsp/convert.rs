//! Conversions between nnc's diagnostics and the Language Server Protocol's: byte offsets into
//! a text become (line, character) positions counted in UTF-16 code units, the protocol's default
//! encoding, and a `Diagnostic` becomes an `lsp_types::Diagnostic` with its code, help and
//! related locations. File URIs and paths convert both ways for `file:` URIs.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Position, Range,
    Uri,
};

use crate::diag::{Diagnostic, Source, Span};

/// The protocol position of a byte offset of `text`: a 0-based line and the UTF-16 code units
/// before the offset on that line. An offset inside a character counts from its start.
pub fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character: usize = before[line_start..].chars().map(char::len_utf16).sum();
    Position::new(line as u32, character as u32)
}

/// The protocol range of a span of `text`.
pub fn range(text: &str, span: Span) -> Range {
    Range::new(position(text, span.start), position(text, span.end))
}

/// The path of a `file:` URI, with percent-escapes decoded; `None` for other schemes.
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

/// The `file:` URI of a path (absolute paths; characters outside the unreserved set escaped).
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let mut uri = String::from("file://");
    for b in path.to_str()?.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&uri).ok()
}

/// A diagnostic of the buffer `text` (whose URI is `uri`) for the client. Labels after the first,
/// and related diagnostics (which may point into a data file), become related information; the
/// help line follows the message, as the terminal shows it below.
pub fn diagnostic(d: &Diagnostic, uri: &Uri, text: &str) -> lsp_types::Diagnostic {
    // A diagnostic from the data file carries that file as its source: its spans are not
    // offsets into the buffer, so it points at the buffer's start and names the file.
    let in_buffer = |source: Option<&Source>| source.is_none_or(|s| s.text.as_ref() == text);
    let here = in_buffer(d.source.as_ref());
    let primary = d.labels.iter().find(|l| l.primary).or(d.labels.first());
    let main_range = match primary {
        Some(l) if here => range(text, l.span),
        _ => Range::default(),
    };
    let mut related = Vec::new();
    for l in &d.labels {
        let is_primary = here && primary.is_some_and(|p| std::ptr::eq(p, l));
        if is_primary || l.text.is_empty() {
            continue;
        }
        if let Some(location) = location_of(d.source.as_ref(), l.span, uri, text) {
            related.push(DiagnosticRelatedInformation {
                location,
                message: l.text.clone(),
            });
        }
    }
    for r in &d.related {
        let span = r.labels.first().map_or(Span::default(), |l| l.span);
        if let Some(location) = location_of(r.source.as_ref(), span, uri, text) {
            related.push(DiagnosticRelatedInformation {
                location,
                message: r.message.clone(),
            });
        }
    }
    let mut message = d.message.clone();
    if let (false, Some(source)) = (here, d.source.as_ref()) {
        let at = d.location().unwrap_or_else(|| source.name.clone());
        message = format!("{message} ({at})");
    }
    if let Some(help) = &d.help {
        message = format!("{message}\nhelp: {help}");
    }
    lsp_types::Diagnostic {
        range: main_range,
        severity: Some(if d.warning {
            DiagnosticSeverity::WARNING
        } else {
            DiagnosticSeverity::ERROR
        }),
        code: Some(NumberOrString::String(d.code.to_string())),
        source: Some("nnc".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

/// Where a span of `source` is: in the buffer, or in another file on disk.
fn location_of(source: Option<&Source>, span: Span, uri: &Uri, text: &str) -> Option<Location> {
    match source {
        Some(s) if s.text.as_ref() != text => {
            let file_uri = path_to_uri(&std::path::absolute(&s.name).ok()?)?;
            Some(Location::new(file_uri, range(&s.text, span)))
        }
        _ => Some(Location::new(uri.clone(), range(text, span))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Characters outside the Basic Multilingual Plane count two UTF-16 units, others one,
    /// whatever their UTF-8 length.
    #[test]
    fn positions_count_utf16_units() {
        let text = "ab\né😀x\n";
        assert_eq!(position(text, 0), Position::new(0, 0));
        assert_eq!(position(text, 3), Position::new(1, 0));
        let x = text.find('x').unwrap();
        assert_eq!(position(text, x), Position::new(1, 3));
        // Past the end clamps; inside a character counts from its start.
        assert_eq!(position(text, 999), Position::new(2, 0));
        assert_eq!(position(text, 4), Position::new(1, 0));
    }

    #[test]
    fn file_uris_and_paths_round_trip() {
        let path = Path::new("/data/my models/données.nn");
        let uri = path_to_uri(path).unwrap();
        assert_eq!(uri.as_str(), "file:///data/my%20models/donn%C3%A9es.nn");
        assert_eq!(uri_to_path(&uri).unwrap(), path);
        assert_eq!(uri_to_path(&Uri::from_str("untitled:1").unwrap()), None);
    }
}
