//! `--set KEY=VALUE`: a dotted path (`optimizer.learning_rate`, `model.2.units`) resolved against
//! the syntax tree, and VALUE's text spliced into the file's text in place of the old value (or
//! inserted where the option is absent). The edited text is then parsed and resolved as any file
//! is, so ranges, defaults and diagnostics downstream are exactly the file's, and a saved model
//! records the file as it was trained. This module owns the paths and the splicing; it knows no
//! option's meaning beyond the positional names it asks `lower::spec` for, so new layers, options
//! and blocks are reachable without touching it. A mistake inside VALUE, or a misspelled name that
//! was inserted, is shown in the flag's own text (`splice::Edited::remap`).

mod path;
mod splice;

pub use splice::Edited;

use crate::diag::{Diagnostic, Source, Span};

/// One `--set KEY=VALUE` flag, its value checked to be one `.nn` value.
#[derive(Clone, Debug)]
pub struct SetFlag {
    /// The flag's whole text (`optimizer.learning_rate=0.01`), named `--set`: diagnostics about
    /// the key or the value point into it.
    pub source: Source,
    /// The dotted key's segments with their spans in `source`.
    pub segments: Vec<(String, Span)>,
    /// The value's text without surrounding space or comments, and where it starts in `source`.
    pub value: String,
    pub value_start: usize,
}

impl SetFlag {
    /// The key as written (`model.2.units`).
    pub fn key(&self) -> &str {
        let end = self.segments.last().map_or(0, |(_, s)| s.end);
        &self.source.text[..end]
    }
}

fn flag_error(source: &Source, span: Span, message: String, help: &str) -> Diagnostic {
    Diagnostic::new("nnc::cli::set", message)
        .with_source(source)
        .with_label(span, "here")
        .with_help(help)
}

/// Read `KEY=VALUE`: the key is dot-separated names or layer numbers, the value one `.nn` value
/// (`0.01`, `tanh`, `sgd(momentum: 0.9)`, `[id, name]`).
pub fn parse_flag(text: &str) -> Result<SetFlag, Diagnostic> {
    let source = Source::new("--set", text.to_string());
    const HELP: &str =
        "write `--set PATH=VALUE`, e.g. `--set optimizer.learning_rate=0.01` or `--set model.2.units=128`";
    let Some(eq) = text.find('=') else {
        return Err(flag_error(
            &source,
            Span::new(0, text.len()),
            format!("`--set {text}` has no `=`"),
            HELP,
        ));
    };
    let mut segments = Vec::new();
    let mut start = 0;
    for part in text[..eq].split('.') {
        let span = Span::new(start, start + part.len());
        let valid = !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '"' || c == ' ');
        if !valid {
            return Err(flag_error(
                &source,
                span,
                format!("`{part}` is not a name or a layer number in the path of `--set`"),
                HELP,
            ));
        }
        // A labelled block's label may be quoted: `data.column."full name".scaling`.
        segments.push((part.trim_matches('"').to_string(), span));
        start += part.len() + 1;
    }
    // The value alone, parsed with its own source so a syntax error points into the flag.
    let value_text = &text[eq + 1..];
    let value = crate::syntax::parse_value(&Source::new("--set", value_text.to_string()))
        .map_err(|d| splice::shift(d, &source, eq + 1))?;
    let span = value.span;
    Ok(SetFlag {
        value: value_text[span.start..span.end].to_string(),
        value_start: eq + 1 + span.start,
        segments,
        source,
    })
}

/// Apply every flag in order to the file's text (a later flag sees the earlier ones' edits).
pub fn apply(file: &Source, flags: &[String]) -> Result<Edited, Diagnostic> {
    let mut edited = Edited::new(file.clone());
    for text in flags {
        let flag = parse_flag(text)?;
        let tree = crate::syntax::parse(&edited.source).map_err(|d| edited.remap(d))?;
        let edit = path::locate(&tree, &edited.source.text, &flag)?;
        edited.apply(edit, &flag);
    }
    Ok(edited)
}

#[cfg(test)]
mod tests;
