//! `nnc fmt` on files: read one (a diagnostic if it cannot be read or is not UTF-8), format it,
//! and either say where it differs from its formatted text (`--check`) or replace it. A file is
//! replaced through a temporary file beside it that is renamed over it, so a failure at any point
//! leaves the old file whole.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Source, Span};

/// What formatting a file found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The file is already in the canonical layout.
    Unchanged,
    /// The formatted text differs (and, unless checking, was written).
    Changed(Difference),
}

/// The first line where a text and its formatted text differ.
#[derive(Debug, PartialEq, Eq)]
pub struct Difference {
    /// 1-based.
    pub line: usize,
    /// The line in the file, `None` past its end.
    pub old: Option<String>,
    /// The line in the formatted text, `None` past its end.
    pub new: Option<String>,
}

/// Format the file at `path`; unless `check`, write the result over it when it differs.
pub fn format_file(path: &Path, check: bool) -> Result<Outcome, Diagnostic> {
    let name = path.display().to_string();
    let bytes = fs::read(path).map_err(|e| {
        Diagnostic::new(
            "nnc::io::model_file",
            format!("cannot read the model file `{name}`: {e}"),
        )
        .with_help("check the path; model files end in `.nn`")
    })?;
    let (formatted, outcome) = format_bytes(&name, &bytes)?;
    if !check && outcome != Outcome::Unchanged {
        replace(path, &formatted)?;
    }
    Ok(outcome)
}

/// The formatted text of a file's bytes (`name` names it in diagnostics), and whether it differs.
pub fn format_bytes(name: &str, bytes: &[u8]) -> Result<(String, Outcome), Diagnostic> {
    let text = utf8(name, bytes)?;
    let formatted = super::format_text(name, text)?;
    let outcome = match first_difference(text, &formatted) {
        None => Outcome::Unchanged,
        Some(d) => Outcome::Changed(d),
    };
    Ok((formatted, outcome))
}

/// The text of a file's bytes, or a diagnostic at the first byte that is not UTF-8.
pub fn utf8<'b>(name: &str, bytes: &'b [u8]) -> Result<&'b str, Diagnostic> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        // The lossy text is the same up to the bad byte, which becomes one replacement character.
        let shown = Source::new(name, String::from_utf8_lossy(bytes).into_owned());
        let (line, column) = shown.line_col(at);
        Diagnostic::new(
            "nnc::fmt::not_utf8",
            format!(
                "`{name}` is not UTF-8 text: byte 0x{:02x} at line {line}, column {column}",
                bytes[at]
            ),
        )
        .with_source(&shown)
        .with_label(Span::new(at, at + '\u{fffd}'.len_utf8()), "not UTF-8")
        .with_help("save the file as UTF-8; .nn files are UTF-8 text")
    })
}

/// The first line where `old` and `new` differ, if they do.
pub fn first_difference(old: &str, new: &str) -> Option<Difference> {
    if old == new {
        return None;
    }
    let (mut a, mut b) = (old.split('\n'), new.split('\n'));
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (x, y) => {
                // Two texts that differ only in the line end after the last line, or in `\r`s.
                let shown = |l: Option<&str>| l.map(|l| l.trim_end_matches('\r').to_string());
                return Some(Difference {
                    line,
                    old: shown(x),
                    new: shown(y),
                });
            }
        }
    }
}

/// Write `text` over the file at `path` (the file a link points to, for a symbolic link) by
/// renaming a temporary file with the same permissions over it.
fn replace(path: &Path, text: &str) -> Result<(), Diagnostic> {
    let failed = |what: &str, e: std::io::Error| {
        Diagnostic::new(
            "nnc::io::fmt_write",
            format!(
                "cannot write the formatted `{}`: {what}: {e}",
                path.display()
            ),
        )
        .with_help("check that the file and its folder are writable; the file is unchanged")
    };
    let target = fs::canonicalize(path).map_err(|e| failed("cannot find it", e))?;
    let permissions = fs::metadata(&target)
        .map_err(|e| failed("cannot read its permissions", e))?
        .permissions();
    let temporary = temporary_beside(&target);
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::set_permissions(&temporary, permissions)?;
        fs::rename(&temporary, &target)
    })();
    written.map_err(|e| {
        let _ = fs::remove_file(&temporary);
        failed("cannot replace it", e)
    })
}

/// A name beside `target` that no other process formatting the same file picks.
fn temporary_beside(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.nnc-fmt-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_names_its_line() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        let d = first_difference("a\n b\nc\n", "a\nb\nc\n").unwrap();
        assert_eq!(
            (d.line, d.old.as_deref(), d.new.as_deref()),
            (2, Some(" b"), Some("b"))
        );
        let d = first_difference("a\n\n", "a\n").unwrap();
        assert_eq!((d.line, d.old.as_deref(), d.new), (3, Some(""), None));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_a_diagnostic_at_their_place() {
        let d = utf8("x.nn", b"loss: mse\n# caf\xe9\n").unwrap_err();
        assert_eq!(d.code, "nnc::fmt::not_utf8");
        assert_eq!(d.location().as_deref(), Some("x.nn:2:6"));
        assert!(d.help.is_some());
        let _ = d.render_plain();
    }
}
