//! Reading the arguments of a call (`dense(16, activation: relu)`) and the settings of a block
//! (`epochs: 100`) against a table of known names: positional arguments bind to names in order,
//! unknown names get a "did you mean", and each getter checks the value's kind and range. Every
//! failure is a diagnostic on the offending text. `Count` and `Number` define a setting's name,
//! default and range once, for the file and the command line alike.

use std::collections::BTreeMap;

use crate::diag::{did_you_mean, Diagnostic, Source, Span};
use crate::syntax::ast::{Arg, Call, Ident, Value, ValueKind};

/// Names people type from other tools, mapped to ours, for suggestions that edit distance misses.
const SYNONYMS: &[(&str, &str)] = &[
    ("lr", "learning_rate"),
    ("eps", "epsilon"),
    ("batch", "batch_size"),
    ("units", "units"),
    ("act", "activation"),
    ("file", "path"),
    ("label", "target"),
    ("epoch", "epochs"),
];

/// Suggest a known name for an unknown one.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    if let Some((_, ours)) = SYNONYMS.iter().find(|(theirs, _)| *theirs == word) {
        if let Some(k) = known.iter().find(|k| *k == ours) {
            return Some(k);
        }
    }
    did_you_mean(word, known.iter().copied())
}

/// The help line for an unknown name: a suggestion if one is close, else the full list (never
/// an empty one: with nothing known, it says so).
pub fn unknown_help(word: &str, what: &str, known: &[&str]) -> String {
    if known.is_empty() {
        return format!("there are no {what}");
    }
    match suggest(word, known) {
        Some(s) => format!("did you mean `{s}`? Known {what}: {}", known.join(", ")),
        None => format!("known {what}: {}", known.join(", ")),
    }
}

/// A whole-number setting: its name, default and inclusive range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Count {
    pub name: &'static str,
    pub default: u64,
    pub min: u64,
    pub max: u64,
}

/// A real-number setting: its name, default and inclusive range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Number {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
}

/// A boolean option: its name and default. In a file it is the bare name `true` or `false`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub default: bool,
}

impl Count {
    /// `v`, or why it is out of range.
    pub fn check(&self, v: u64) -> Result<u64, String> {
        if (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(format!(
                "`{}` is {v}, but it must be between {} and {}",
                self.name, self.min, self.max
            ))
        }
    }

    /// Read a value typed on the command line.
    pub fn parse(&self, text: &str) -> Result<u64, String> {
        let v = text
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("`{text}` is not a whole number"))?;
        self.check(v)
    }
}

impl Number {
    fn range_text(&self) -> String {
        format!("between {} and {}", self.min, self.max)
    }

    /// `v`, or why it is out of range (NaN is out of every range).
    pub fn check(&self, v: f64) -> Result<f64, String> {
        if (self.min..=self.max).contains(&v) {
            Ok(v)
        } else {
            Err(format!(
                "`{}` is {v}, but it must be {}",
                self.name,
                self.range_text()
            ))
        }
    }

    /// Read a value typed on the command line.
    pub fn parse(&self, text: &str) -> Result<f64, String> {
        let v = text
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("`{text}` is not a number"))?;
        self.check(v)
    }
}

/// The named values given to one call or block, after checking names.
pub struct Options<'a> {
    pub source: &'a Source,
    values: BTreeMap<&'static str, &'a Value>,
    /// The span of the whole call or block, for "missing option" errors.
    pub span: Span,
}

impl<'a> Options<'a> {
    /// Bind a call's arguments: positional ones to `positional` names in order, named ones to any
    /// name in `known`. The first error of `from_call_all`.
    pub fn from_call(
        source: &'a Source,
        call: &'a Call,
        positional: &[&'static str],
        known: &[&'static str],
    ) -> Result<Self, Diagnostic> {
        Self::from_call_all(source, call, positional, known).map_err(|mut e| e.remove(0))
    }

    /// `from_call`, with an error for every argument that cannot be bound (each unknown name,
    /// repeated name or extra positional argument), in the order of the arguments.
    pub fn from_call_all(
        source: &'a Source,
        call: &'a Call,
        positional: &[&'static str],
        known: &[&'static str],
    ) -> Result<Self, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut values = BTreeMap::new();
        let mut next_positional = 0;
        let mut seen_named = false;
        for arg in &call.args {
            match arg {
                Arg::Positional(v) => {
                    if seen_named {
                        errors.push(
                            Diagnostic::new(
                                "nnc::syntax::positional_after_named",
                                format!(
                                    "a positional argument follows a named one in `{}`",
                                    call.name.name
                                ),
                            )
                            .with_source(source)
                            .with_label(v.span, "positional argument")
                            .with_help("write positional arguments first, or name this one"),
                        );
                        continue;
                    }
                    let Some(name) = positional.get(next_positional) else {
                        let help = if known.is_empty() {
                            takes_no_options(call)
                        } else if positional.is_empty() {
                            format!(
                                "`{}` takes only named options: {}",
                                call.name.name,
                                known.join(", ")
                            )
                        } else {
                            format!(
                                "`{}` takes {} positional argument(s) ({}); name the others: {}",
                                call.name.name,
                                positional.len(),
                                positional.join(", "),
                                known.join(", ")
                            )
                        };
                        errors.push(
                            Diagnostic::new(
                                "nnc::lower::too_many_arguments",
                                format!("too many positional arguments to `{}`", call.name.name),
                            )
                            .with_source(source)
                            .with_label(v.span, "extra argument")
                            .with_help(help),
                        );
                        continue;
                    };
                    next_positional += 1;
                    if let Err(e) = insert(source, &mut values, name, v, v.span) {
                        errors.push(e);
                    }
                }
                Arg::Named { name, value } => {
                    seen_named = true;
                    let what = format!("options of `{}`", call.name.name);
                    let bound = resolve_name(source, name, known, &what)
                        .map_err(|d| match known {
                            [] => d.with_help(takes_no_options(call)),
                            _ => d,
                        })
                        .and_then(|key| insert(source, &mut values, key, value, name.span));
                    if let Err(e) = bound {
                        errors.push(e);
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Options {
            source,
            values,
            span: call.span,
        })
    }

    /// Bind a block's settings, e.g. `train { epochs: 10 }`. The first error of
    /// `from_settings_all`.
    pub fn from_settings(
        source: &'a Source,
        settings: &[(&'a Ident, &'a Value)],
        known: &[&'static str],
        what: &str,
        span: Span,
    ) -> Result<Self, Diagnostic> {
        Self::from_settings_all(source, settings, known, what, span).map_err(|mut e| e.remove(0))
    }

    /// `from_settings`, with an error for every unknown or repeated setting.
    pub fn from_settings_all(
        source: &'a Source,
        settings: &[(&'a Ident, &'a Value)],
        known: &[&'static str],
        what: &str,
        span: Span,
    ) -> Result<Self, Vec<Diagnostic>> {
        let mut values = BTreeMap::new();
        let errors: Vec<Diagnostic> = settings
            .iter()
            .filter_map(|(name, value)| {
                resolve_name(source, name, known, what)
                    .and_then(|key| insert(source, &mut values, key, value, name.span))
                    .err()
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Options {
            source,
            values,
            span,
        })
    }

    pub fn value(&self, name: &str) -> Option<&'a Value> {
        self.values.get(name).copied()
    }

    fn expected(&self, v: &Value, name: &str, what: &str) -> Diagnostic {
        Diagnostic::new(
            "nnc::lower::wrong_kind",
            format!("`{name}` must be {what}, but it is {}", v.describe()),
        )
        .with_source(self.source)
        .with_label(v.span, format!("expected {what}"))
        .with_help(format!("write `{name}: <{what}>`"))
    }

    /// The number given for `setting`, within its range, or its default when absent.
    pub fn number(&self, setting: &Number) -> Result<f64, Diagnostic> {
        let Some(v) = self.value(setting.name) else {
            return Ok(setting.default);
        };
        let ValueKind::Number(n) = v.kind else {
            return Err(self.expected(v, setting.name, "a number"));
        };
        setting.check(n).map_err(|message| {
            Diagnostic::new("nnc::lower::out_of_range", message)
                .with_source(self.source)
                .with_label(v.span, "out of range")
                .with_help(format!("choose a value {}", setting.range_text()))
        })
    }

    /// The whole number given for `setting`, within its range, or its default when absent.
    pub fn count(&self, setting: &Count) -> Result<u64, Diagnostic> {
        let Some(v) = self.value(setting.name) else {
            return Ok(setting.default);
        };
        // Every count's range is exact in f64 (at most 2^53), so checking as a number is exact.
        let as_number = Number {
            name: setting.name,
            default: setting.default as f64,
            min: setting.min as f64,
            max: setting.max as f64,
        };
        let n = self.number(&as_number)?;
        if n.fract() != 0.0 {
            return Err(self.expected(v, setting.name, "a whole number"));
        }
        Ok(n as u64)
    }

    /// The boolean given for `flag` (`true` or `false`, bare names), or its default when absent.
    /// Anything else, `yes`, `1` or `"true"`, is a diagnostic rather than a guess.
    pub fn flag(&self, flag: &Flag) -> Result<bool, Diagnostic> {
        const VALUES: &[&str] = &["true", "false"];
        let Some(v) = self.value(flag.name) else {
            return Ok(flag.default);
        };
        let name = flag.name;
        match &v.kind {
            ValueKind::Call(c) if c.args.is_empty() && c.name.name == "true" => Ok(true),
            ValueKind::Call(c) if c.args.is_empty() && c.name.name == "false" => Ok(false),
            ValueKind::Call(c) if c.args.is_empty() => Err(Diagnostic::new(
                "nnc::lower::wrong_kind",
                format!("`{name}` must be `true` or `false`, not `{}`", c.name.name),
            )
            .with_source(self.source)
            .with_label(v.span, "not true or false")
            .with_help(unknown_help(&c.name.name, "values", VALUES))),
            _ => Err(Diagnostic::new(
                "nnc::lower::wrong_kind",
                format!(
                    "`{name}` must be `true` or `false`, but it is {}",
                    v.describe()
                ),
            )
            .with_source(self.source)
            .with_label(v.span, "expected true or false")
            .with_help(format!("write `{name}: true` or `{name}: false`"))),
        }
    }

    /// A required whole number (the setting's default is not used).
    pub fn required_count(&self, setting: &Count, hint: &str) -> Result<u64, Diagnostic> {
        if self.value(setting.name).is_none() {
            return Err(Diagnostic::new(
                "nnc::lower::missing_option",
                format!("`{}` is required here", setting.name),
            )
            .with_source(self.source)
            .with_label(self.span, format!("needs `{}`", setting.name))
            .with_help(hint.to_string()));
        }
        self.count(setting)
    }

    /// A list of numbers such as `[1, 3]`, each within `each`'s range, with the list's span; `None`
    /// when absent. An empty list is refused: it cannot mean anything a missing one does not.
    pub fn numbers(&self, each: &Number) -> Result<Option<(Vec<f64>, Span)>, Diagnostic> {
        let Some(v) = self.value(each.name) else {
            return Ok(None);
        };
        let ValueKind::List(items) = &v.kind else {
            return Err(self.expected(v, each.name, "a list of numbers"));
        };
        if items.is_empty() {
            return Err(self.expected(v, each.name, "a list of numbers"));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let ValueKind::Number(n) = item.kind else {
                return Err(self.expected(item, each.name, "a number"));
            };
            out.push(each.check(n).map_err(|message| {
                Diagnostic::new("nnc::lower::out_of_range", message)
                    .with_source(self.source)
                    .with_label(item.span, "out of range")
                    .with_help(format!("choose each value {}", each.range_text()))
            })?);
        }
        Ok(Some((out, v.span)))
    }

    /// A string, or a bare name (so `target: species` and `target: "species"` both work).
    pub fn text(&self, name: &str) -> Result<Option<(String, Span)>, Diagnostic> {
        let Some(v) = self.value(name) else {
            return Ok(None);
        };
        match &v.kind {
            ValueKind::String(s) => Ok(Some((s.clone(), v.span))),
            ValueKind::Call(c) if c.args.is_empty() => Ok(Some((c.name.name.clone(), v.span))),
            _ => Err(self.expected(v, name, "a string")),
        }
    }

    /// A call value such as `relu` or `leaky_relu(alpha: 0.1)`.
    pub fn call(&self, name: &str) -> Result<Option<&'a Call>, Diagnostic> {
        let Some(v) = self.value(name) else {
            return Ok(None);
        };
        match &v.kind {
            ValueKind::Call(c) => Ok(Some(c)),
            _ => Err(self.expected(v, name, "a name")),
        }
    }
}

/// The help for an argument to a call that takes none.
fn takes_no_options(call: &Call) -> String {
    format!("`{0}` takes no options: write `{0}` alone", call.name.name)
}

fn resolve_name(
    source: &Source,
    name: &Ident,
    known: &[&'static str],
    what: &str,
) -> Result<&'static str, Diagnostic> {
    known
        .iter()
        .copied()
        .find(|k| *k == name.name)
        .ok_or_else(|| {
            Diagnostic::new(
                "nnc::lower::unknown_option",
                format!("unknown option `{}`", name.name),
            )
            .with_source(source)
            .with_label(name.span, "not a known option here")
            .with_help(unknown_help(&name.name, what, known))
        })
}

fn insert<'a>(
    source: &Source,
    values: &mut BTreeMap<&'static str, &'a Value>,
    name: &'static str,
    value: &'a Value,
    span: Span,
) -> Result<(), Diagnostic> {
    if let Some(prev) = values.insert(name, value) {
        return Err(Diagnostic::new(
            "nnc::lower::duplicate_option",
            format!("`{name}` is given twice"),
        )
        .with_source(source)
        .with_label(span, "given again here")
        .with_label(prev.span, "first given here")
        .with_help("keep one of them"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::unknown_help;

    #[test]
    fn an_unknown_name_among_none_says_there_are_none() {
        assert_eq!(unknown_help("x", "layers", &[]), "there are no layers");
        assert_eq!(
            unknown_help("rleu", "activations", &["relu", "tanh"]),
            "did you mean `relu`? Known activations: relu, tanh"
        );
    }
}
