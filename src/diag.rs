//! One diagnostic type for every failure a user can cause: a stable code, a message, labelled spans
//! into one source text (the `.nn` file or a CSV file), and a help line. It implements
//! `miette::Diagnostic` so the terminal renderer and, later, editors show the same thing. This module
//! owns the conversion from pest errors (built from byte offsets, because pest's own line/column
//! adapter disagrees with miette's counting) and never prints anything itself.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource, SourceSpan};

/// A byte range into a source text. Spans survive every stage so that errors found late (shape
/// checking, data loading) still point at the line that caused them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Span> for SourceSpan {
    fn from(s: Span) -> Self {
        SourceSpan::new(s.start.into(), s.len())
    }
}

/// A named text that spans point into. Cheap to clone: diagnostics carry it along.
#[derive(Clone)]
pub struct Source {
    pub name: String,
    pub text: Arc<str>,
    /// The same text under its name, as miette renders it (`╭─[iris.nn:4:12]`).
    named: NamedSource<Arc<str>>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        let text = text.into();
        Source {
            named: NamedSource::new(name.clone(), text.clone()),
            name,
            text,
        }
    }

    /// 1-based line and column (in characters) of a byte offset, for messages that name a place
    /// in words, e.g. "iris.csv:12:3".
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

#[derive(Clone, Debug)]
pub struct Label {
    pub span: Span,
    pub text: String,
    /// A label may point into another source than the diagnostic's main one (a shape mismatch
    /// between a layer and a CSV column); such labels are rendered as a related diagnostic.
    pub primary: bool,
}

/// A user-facing error (or warning) with a stable code such as `nnc::shape::mismatch`.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub code: &'static str,
    pub message: String,
    pub source: Option<Source>,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// Further diagnostics shown under this one, each with its own source (used when one error
    /// involves both the `.nn` file and a data file).
    pub related: Vec<Diagnostic>,
    /// A warning is shown and the run goes on; everything else stops it.
    pub warning: bool,
}

impl Diagnostic {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            source: None,
            labels: Vec::new(),
            help: None,
            related: Vec::new(),
            warning: false,
        }
    }

    /// The same diagnostic as a warning: shown, but not a failure.
    pub fn as_warning(mut self) -> Self {
        self.warning = true;
        self
    }

    pub fn with_source(mut self, source: &Source) -> Self {
        self.source = Some(source.clone());
        self
    }

    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Self {
        let primary = self.labels.is_empty();
        self.labels.push(Label {
            span,
            text: text.into(),
            primary,
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, related: Diagnostic) -> Self {
        self.related.push(related);
        self
    }

    /// Attach a source if the diagnostic has none yet; stages below the CLI produce spans without
    /// knowing the file name, and the caller that does know fills it in.
    pub fn in_source(mut self, source: &Source) -> Self {
        if self.source.is_none() {
            self.source = Some(source.clone());
        }
        self
    }

    /// "file:line:col" of the primary label, for plain-text summaries and tests.
    pub fn location(&self) -> Option<String> {
        let source = self.source.as_ref()?;
        let label = self.labels.first()?;
        let (line, col) = source.line_col(label.span.start);
        Some(format!("{}:{}:{}", source.name, line, col))
    }

    /// Render as the terminal shows it, without colours, at a fixed width: used by golden tests
    /// and by the CLI when stderr is not a terminal.
    pub fn render_plain(&self) -> String {
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .with_width(100);
        let mut out = String::new();
        handler
            .render_report(&mut out, self)
            .expect("invariant: rendering a diagnostic into a String cannot fail");
        out
    }
}

impl Diagnostic {
    /// The diagnostic as one JSON object, for editors, CI annotations and other tools
    /// (`nnc check --message-format json`): `severity`, `code`, `message`, `file`, the primary
    /// label's byte `range` and its `start` and `end` as 1-based line and column (columns count
    /// characters), every `label` in the same form, `help`, and `related` diagnostics (each
    /// with its own file) in this same shape. Fields without a value are `null`.
    pub fn to_json(&self) -> serde_json::Value {
        let place = |source: Option<&Source>, span: Span| {
            let at = |offset: usize| {
                source.map(|s| {
                    let (line, column) = s.line_col(offset);
                    serde_json::json!({ "line": line, "column": column })
                })
            };
            serde_json::json!({
                "range": { "start": span.start, "end": span.end },
                "start": at(span.start),
                "end": at(span.end),
            })
        };
        let source = self.source.as_ref();
        let labels: Vec<serde_json::Value> = self
            .labels
            .iter()
            .map(|l| {
                let mut v = place(source, l.span);
                v["text"] = l.text.clone().into();
                v["primary"] = l.primary.into();
                v
            })
            .collect();
        let primary = self
            .labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first());
        let (range, start, end) = match primary {
            Some(l) => {
                let v = place(source, l.span);
                (v["range"].clone(), v["start"].clone(), v["end"].clone())
            }
            None => (
                serde_json::Value::Null,
                serde_json::Value::Null,
                serde_json::Value::Null,
            ),
        };
        serde_json::json!({
            "severity": if self.warning { "warning" } else { "error" },
            "code": self.code,
            "message": self.message,
            "file": source.map(|s| s.name.clone()),
            "range": range,
            "start": start,
            "end": end,
            "labels": labels,
            "help": self.help,
            "related": self.related.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
        })
    }
}

/// One diagnostic as a list of one, so `?` carries a single error out of a stage that collects
/// every independent error (`lower::resolve_all`).
impl From<Diagnostic> for Vec<Diagnostic> {
    fn from(d: Diagnostic) -> Self {
        vec![d]
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(if self.warning {
            miette::Severity::Warning
        } else {
            miette::Severity::Error
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source
            .as_ref()
            .map(|s| &s.named as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.source.is_none() || self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().map(|l| {
            let text = if l.text.is_empty() {
                None
            } else {
                Some(l.text.clone())
            };
            if l.primary {
                LabeledSpan::new_primary_with_span(text, l.span)
            } else {
                LabeledSpan::new_with_span(text, l.span)
            }
        })))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|d| d as &dyn miette::Diagnostic),
        ))
    }
}

/// The nearest candidate by edit distance, for "did you mean" help lines. Only close matches are
/// offered: a far-fetched suggestion is worse than none.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let s = Source::new("a.nn", "ab\ncé d\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(3), (2, 1));
        // 'é' is two bytes: the byte after it is the third character of line 2.
        assert_eq!(s.line_col(6), (2, 3));
    }

    #[test]
    fn suggestions_are_close_or_absent() {
        let names = ["relu", "sigmoid", "tanh"];
        assert_eq!(did_you_mean("rleu", names), Some("relu"));
        assert_eq!(did_you_mean("sigmod", names), Some("sigmoid"));
        assert_eq!(did_you_mean("convolution", names), None);
    }
}
