//! `nnc fmt`: the one canonical layout of a `.nn` file. This module owns that layout (`layout`:
//! indentation, spacing, where lines break; the rules are in `docs/formatting.md`), the placing of
//! comments in it (`printer`, with `comments` finding them, since the grammar skips them), the
//! check that formatting changed nothing but layout (`meaning`), and reading and rewriting files
//! for the command (`files`). It reuses the parser: a file with a syntax error is not formatted
//! and gets the diagnostic `nnc check` gives.
//!
//! The output is built from pest's parse tree, which keeps every token as written, so only white
//! space, trailing commas and comments' places can change. Then, as a safety net, it is parsed
//! again: a different syntax tree (spans aside) or a lost comment is a bug of the formatter, which
//! is reported as one instead of returning a text that means something else.

pub mod comments;
pub mod files;
mod layout;
pub mod meaning;
mod printer;

#[cfg(test)]
mod tests;

use crate::diag::{Diagnostic, Source, Span};
use crate::syntax::{self, ast};

pub use meaning::without_spans;

/// `text` in the canonical layout; `name` names it in diagnostics. A text that does not parse
/// gives the syntax diagnostic `nnc check` gives. A byte-order mark and `\r\n` line ends (if the
/// first line ends so) are kept.
pub fn format_text(name: &str, text: &str) -> Result<String, Diagnostic> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let source = Source::new(name, body);
    let tree = syntax::parse(&source)?;
    let formatted = layout_of(&source, &tree)?;
    let formatted = if first_line_end_is_crlf(body) {
        formatted.replace('\n', "\r\n")
    } else {
        formatted
    };
    Ok(format!("{bom}{formatted}"))
}

/// The formatted text of a source that parsed into `tree`, checked to mean the same.
fn layout_of(source: &Source, tree: &ast::File) -> Result<String, Diagnostic> {
    let text: &str = &source.text;
    let pairs = syntax::parse_tree(text)
        .ok_or_else(|| internal(source, None, "the parser accepted the file only once"))?;
    let found = comments::scan(text);
    let mut printer = printer::Printer::new(text, found.clone());
    layout::file(&mut printer, pairs).map_err(|b| internal(source, None, &b.0))?;
    let out = printer.finish();

    same_meaning(source, tree, &out)?;
    Ok(out)
}

/// Whether `formatted` means what `source` means: the same syntax tree, spans aside, and the same
/// comments; else the formatter's internal error. A `source` that does not parse gives its syntax
/// diagnostic.
pub fn check_meaning(source: &Source, formatted: &str) -> Result<(), Diagnostic> {
    same_meaning(source, &syntax::parse(source)?, formatted)
}

/// `check_meaning` for a source already parsed into `tree`.
fn same_meaning(source: &Source, tree: &ast::File, out: &str) -> Result<(), Diagnostic> {
    let text: &str = &source.text;
    let again = syntax::parse(&Source::new(source.name.clone(), out))
        .map_err(|_| internal(source, None, "the formatted text does not parse"))?;
    let (before, after) = (without_spans(tree), without_spans(&again));
    if before != after {
        let differs = (tree.items.iter().zip(&before.items).zip(&after.items))
            .find(|((_, b), a)| b != a)
            .map(|((item, _), _)| item_span(item));
        return Err(internal(
            source,
            differs,
            "the formatted text would mean something else",
        ));
    }
    let texts = |src: &str| -> Vec<String> {
        comments::scan(src)
            .iter()
            .map(|c| c.text(src).to_string())
            .collect()
    };
    if texts(text) != texts(out) {
        return Err(internal(source, None, "a comment would be lost or changed"));
    }
    Ok(())
}

fn item_span(item: &ast::Item) -> Span {
    match item {
        ast::Item::Block(b) => b.span,
        ast::Item::Setting(s) => s.span,
        ast::Item::Def(d) => d.span,
    }
}

fn first_line_end_is_crlf(text: &str) -> bool {
    text.find('\n').is_some_and(|i| text[..i].ends_with('\r'))
}

/// A broken invariant of the formatter, at `span` (or the file's start): the file is left as it
/// is.
fn internal(source: &Source, span: Option<Span>, what: &str) -> Diagnostic {
    let span = span.unwrap_or_else(|| {
        let first = source.text.chars().next().map_or(0, char::len_utf8);
        Span::new(0, first)
    });
    Diagnostic::new(
        "nnc::fmt::internal",
        format!("internal error of the formatter: {what}; the file is left as it is"),
    )
    .with_source(source)
    .with_label(span, "while formatting this")
    .with_help("this is a bug in nnc fmt, not in your file; please report it with the .nn file")
}
