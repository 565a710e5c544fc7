//! The `data` block: where the rows come from (`path`, `target`, `test`/`validation` files,
//! fractions, `split_seed`), how the file is read (`delimiter`, `missing_markers`, `categorical`,
//! `ignore`) and how each column is prepared (`missing`, `outliers`, `scaling`, `unseen`, for all
//! columns or in a `column NAME { ... }` block). The same resolvers read the command line's
//! `--missing`, `--scaling`, ... flags, parsed as `.nn` values, so a flag means what the setting
//! means. It produces plain settings for the data stage and must not read files.

use crate::data::{
    ColumnSettings, Constant, Missing, Named, Outliers, PrepareConfig, Scaling, Unseen,
};
use crate::diag::{Diagnostic, Source, Span};
use crate::syntax::ast::{Block, Call, Entry, Value, ValueKind};

use super::collect::Errors;
use super::options::{unknown_help, Count, Number, Options};
use super::{err, settings_of, SEED, TEST_FRACTION, VALIDATION_FRACTION};

#[derive(Clone, Debug, PartialEq)]
pub struct DataSpec {
    /// The CSV path as written (relative to the `.nn` file's folder) and where it was written.
    pub path: Option<(String, Span)>,
    pub target: Option<(String, Span)>,
    /// Held-out rows given as their own files instead of fractions of `path`.
    pub test_file: Option<(String, Span)>,
    pub validation_file: Option<(String, Span)>,
    pub test_fraction: f64,
    pub validation_fraction: f64,
    /// The seed of the split; `None` uses the training seed.
    pub split_seed: Option<u64>,
    pub delimiter: Option<u8>,
    /// Numbers are written with a decimal comma (`decimal: comma`).
    pub decimal_comma: bool,
    pub missing_markers: Vec<String>,
    /// `memory_limit`: the bytes the run's data may take; a file whose reading would take more
    /// is streamed (`data::stream`). `None`: the default, half of the machine's memory.
    pub memory_limit: Option<u64>,
    pub categorical: Vec<Named>,
    pub ignore: Vec<Named>,
    pub prepare: PrepareConfig,
    /// The `column NAME { ... }` blocks as written, for what only the data can tell (a column
    /// the file lacks, a setting that does nothing to a column of its kind).
    pub column_blocks: Vec<ColumnBlock>,
    /// The column settings written at the data block's top level, for all columns: each name
    /// (one of `missing`, `outliers`, `scaling`, `unseen`) and its span.
    pub column_defaults: Vec<(&'static str, Span)>,
    pub span: Span,
}

/// A `column NAME { ... }` block: the column it names and where each of its settings is.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnBlock {
    pub column: Named,
    /// Each setting's name (one of `missing`, `outliers`, `scaling`, `unseen`) and its span.
    pub settings: Vec<(&'static str, Span)>,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            path: None,
            target: None,
            test_file: None,
            validation_file: None,
            test_fraction: TEST_FRACTION.default,
            validation_fraction: VALIDATION_FRACTION.default,
            split_seed: None,
            delimiter: None,
            decimal_comma: false,
            missing_markers: Vec::new(),
            memory_limit: None,
            categorical: Vec::new(),
            ignore: Vec::new(),
            prepare: PrepareConfig::default(),
            column_blocks: Vec::new(),
            column_defaults: Vec::new(),
            span: Span::new(0, 0),
        }
    }
}

pub const SPLIT_SEED: Count = Count {
    name: "split_seed",
    ..SEED
};

pub(super) const DATA_OPTIONS: &[&str] = &[
    "path",
    "target",
    "test",
    "validation",
    TEST_FRACTION.name,
    VALIDATION_FRACTION.name,
    SPLIT_SEED.name,
    "delimiter",
    "decimal",
    "missing_markers",
    "memory_limit",
    "categorical",
    "ignore",
    "missing",
    "outliers",
    "scaling",
    "unseen",
];
pub(super) const COLUMN_OPTIONS: &[&str] = &["missing", "outliers", "scaling", "unseen"];

const Z: Number = Number {
    name: "z",
    default: 3.0,
    min: 0.1,
    max: 1e6,
};
const QUANTILES: Number = Number {
    name: "quantiles",
    default: 0.01,
    min: 0.0,
    max: 0.49,
};

pub(super) fn resolve_data(
    source: &Source,
    block: Option<&Block>,
) -> Result<DataSpec, Vec<Diagnostic>> {
    let Some(block) = block else {
        return Ok(DataSpec::default());
    };
    // `column NAME { ... }` blocks first; everything else is a setting.
    let mut columns = Vec::new();
    let mut rest = block.clone();
    rest.entries.retain(|e| match e {
        Entry::Block(b) => {
            columns.push(b.clone());
            false
        }
        _ => true,
    });
    let settings = settings_of(source, &rest)?;
    let o =
        Options::from_settings_all(source, &settings, DATA_OPTIONS, "data settings", block.span)?;
    // Each setting and column is checked apart, so that every bad one is reported.
    let mut errors = Errors::default();
    let test_file = errors.take(o.text("test"), None);
    if let (Some(_), Some(v)) = (&test_file, o.value(TEST_FRACTION.name)) {
        let conflict = err(
            source,
            "nnc::lower::conflicting_settings",
            "`test_fraction` and a `test` file are both given",
            v.span,
            "not used with a test file",
            "the test rows come from the `test` file; remove `test_fraction`",
        );
        errors.take(Err(conflict), ());
    }
    let validation_file = errors.take(o.text("validation"), None);
    if let (Some(_), Some(v)) = (&validation_file, o.value(VALIDATION_FRACTION.name)) {
        let conflict = err(
            source,
            "nnc::lower::conflicting_settings",
            "`validation_fraction` and a `validation` file are both given",
            v.span,
            "not used with a validation file",
            "the validation rows come from the `validation` file; remove `validation_fraction`",
        );
        errors.take(Err(conflict), ());
    }
    let defaults = errors.take(
        column_settings(source, &o, ColumnSettings::default()),
        ColumnSettings::default(),
    );
    let column_defaults = (COLUMN_OPTIONS.iter())
        .filter_map(|&name| Some((name, o.value(name)?.span)))
        .collect();
    let mut per_column: Vec<(Named, ColumnSettings)> = Vec::new();
    let mut column_blocks = Vec::new();
    for b in &columns {
        let Some((name, settings, written)) =
            errors.take(resolve_column(source, b, &defaults).map(Some), None)
        else {
            continue;
        };
        if let Some((first, _)) = per_column.iter().find(|(n, _)| n.name == name.name) {
            let d = err(
                source,
                "nnc::lower::duplicate_item",
                format!("column `{}` has two blocks", name.name),
                name.span.unwrap_or(b.span),
                "second block",
                "merge the settings into one `column` block",
            );
            let d = match first.span {
                Some(s) => d.with_label(s, "first one"),
                None => d,
            };
            errors.take(Err(d), ());
            continue;
        }
        column_blocks.push(ColumnBlock {
            column: name.clone(),
            settings: written,
        });
        per_column.push((name, settings));
    }
    let path = errors.take(o.text("path"), None);
    let target = errors.take(o.text("target"), None);
    let test_fraction = match test_file {
        Some(_) => 0.0,
        None => errors.take(o.number(&TEST_FRACTION), 0.0),
    };
    let validation_fraction = match validation_file {
        Some(_) => 0.0,
        None => errors.take(o.number(&VALIDATION_FRACTION), 0.0),
    };
    let split_seed = match o.value(SPLIT_SEED.name) {
        Some(_) => errors.take(o.count(&SPLIT_SEED).map(Some), None),
        None => None,
    };
    let delimiter = errors.take(
        o.value("delimiter")
            .map(|v| delimiter(source, v))
            .transpose(),
        None,
    );
    let decimal_comma = match o.value("decimal") {
        Some(v) => errors.take(decimal(source, v), false),
        None => false,
    };
    let missing_markers = errors.take(
        o.value("missing_markers")
            .map(|v| markers(source, v))
            .transpose(),
        None,
    );
    let memory_limit = errors.take(
        o.value("memory_limit")
            .map(|v| memory_limit(source, v))
            .transpose(),
        None,
    );
    let categorical = errors.take(names(source, &o, "categorical"), Vec::new());
    let ignore = errors.take(names(source, &o, "ignore"), Vec::new());
    errors.finish(|| DataSpec {
        path,
        target,
        test_fraction,
        validation_fraction,
        test_file,
        validation_file,
        split_seed,
        delimiter,
        decimal_comma,
        missing_markers: missing_markers.unwrap_or_default(),
        memory_limit,
        categorical,
        ignore,
        prepare: PrepareConfig {
            defaults,
            columns: per_column,
        },
        column_blocks,
        column_defaults,
        span: block.name.span,
    })
}

/// A `column` block: the column, its settings (the others from `defaults`) and where each
/// setting it writes is.
#[allow(
    clippy::type_complexity,
    reason = "a private resolver's three results, named where they are taken apart"
)]
fn resolve_column(
    source: &Source,
    b: &Block,
    defaults: &ColumnSettings,
) -> Result<(Named, ColumnSettings, Vec<(&'static str, Span)>), Vec<Diagnostic>> {
    if b.name.name != "column" {
        return Err(vec![err(
            source,
            "nnc::lower::unknown_item",
            format!("unknown block `{}` in the data block", b.name.name),
            b.name.span,
            "not known here",
            "the data block holds settings and `column NAME { ... }` blocks",
        )]);
    }
    let Some(label) = &b.label else {
        return Err(vec![err(
            source,
            "nnc::lower::missing_option",
            "a `column` block needs the column's name",
            b.name.span,
            "which column?",
            "write `column age { scaling: robust }` (or `column \"yrs married\" { ... }`)",
        )]);
    };
    let settings = settings_of(source, b)?;
    let o =
        Options::from_settings_all(source, &settings, COLUMN_OPTIONS, "column settings", b.span)?;
    let named = Named {
        name: label.name.clone(),
        span: Some(label.span),
    };
    // Every key is one of COLUMN_OPTIONS: `from_settings_all` refused the others.
    let written = (settings.iter())
        .filter_map(|(key, _)| {
            let known = COLUMN_OPTIONS.iter().find(|k| **k == key.name)?;
            Some((*known, key.span))
        })
        .collect();
    Ok((
        named,
        column_settings(source, &o, defaults.clone())?,
        written,
    ))
}

/// The column settings given in `o`, the others from `base`; every bad one reported.
fn column_settings(
    source: &Source,
    o: &Options,
    base: ColumnSettings,
) -> Result<ColumnSettings, Vec<Diagnostic>> {
    let mut errors = Errors::default();
    let missing = match o.value("missing") {
        Some(v) => errors.take(missing(source, v), base.missing),
        None => base.missing,
    };
    let outliers = match o.value("outliers") {
        Some(v) => errors.take(outliers(source, v), base.outliers),
        None => base.outliers,
    };
    let scaling = match o.value("scaling") {
        Some(v) => errors.take(scaling(source, v), base.scaling),
        None => base.scaling,
    };
    let unseen = match o.value("unseen") {
        Some(v) => errors.take(unseen(source, v), base.unseen),
        None => base.unseen,
    };
    errors.finish(|| ColumnSettings {
        missing,
        outliers,
        scaling,
        unseen,
    })
}

/// A call value whose name must be one of `known`; returns the name and the call.
fn choice<'a>(
    source: &Source,
    v: &'a Value,
    setting: &str,
    known: &[&'static str],
) -> Result<(&'static str, &'a Call), Diagnostic> {
    let ValueKind::Call(call) = &v.kind else {
        return Err(err(
            source,
            "nnc::lower::wrong_kind",
            format!(
                "`{setting}` must be one of {}, but it is {}",
                known.join(", "),
                v.describe()
            ),
            v.span,
            "expected a name",
            format!("write e.g. `{setting}: {}`", known[0]),
        ));
    };
    let name = call.name.name.as_str();
    let Some(&k) = known.iter().find(|k| **k == name) else {
        return Err(err(
            source,
            "nnc::lower::unknown_choice",
            format!("unknown {setting} `{name}`"),
            call.name.span,
            &format!("not a known {setting}"),
            unknown_help(name, &format!("values of `{setting}`"), known),
        ));
    };
    Ok((k, call))
}

/// A choice that takes no arguments.
fn plain(
    source: &Source,
    v: &Value,
    setting: &str,
    known: &[&'static str],
) -> Result<&'static str, Diagnostic> {
    let (k, call) = choice(source, v, setting, known)?;
    Options::from_call(source, call, &[], &[])?;
    Ok(k)
}

pub fn missing(source: &Source, v: &Value) -> Result<Missing, Diagnostic> {
    const KNOWN: &[&str] = &[
        "error",
        "drop",
        "mean",
        "median",
        "most_frequent",
        "constant",
    ];
    let (k, call) = choice(source, v, "missing", KNOWN)?;
    if k == "constant" {
        let o = Options::from_call(
            source,
            call,
            super::positional::CONSTANT_POSITIONAL,
            &["value"],
        )?;
        let Some(value) = o.value("value") else {
            return Err(err(
                source,
                "nnc::lower::missing_option",
                "`constant` needs the value a missing cell becomes",
                call.span,
                "needs a value",
                "write `constant(0)` or `constant(\"unknown\")`",
            ));
        };
        return match &value.kind {
            ValueKind::Number(n) => Ok(Missing::Constant(Constant::Number(*n))),
            ValueKind::String(s) => Ok(Missing::Constant(Constant::Text(s.clone()))),
            _ => Err(err(
                source,
                "nnc::lower::wrong_kind",
                format!(
                    "the constant must be a number or a string, not {}",
                    value.describe()
                ),
                value.span,
                "expected a number or a string",
                "write `constant(0)` or `constant(\"unknown\")`",
            )),
        };
    }
    Options::from_call(source, call, &[], &[])?;
    Ok(match k {
        "error" => Missing::Error,
        "drop" => Missing::Drop,
        "mean" => Missing::Mean,
        "median" => Missing::Median,
        _ => Missing::MostFrequent,
    })
}

pub fn outliers(source: &Source, v: &Value) -> Result<Outliers, Diagnostic> {
    let (k, call) = choice(source, v, "outliers", &["none", "clip"])?;
    if k == "none" {
        Options::from_call(source, call, &[], &[])?;
        return Ok(Outliers::None);
    }
    let o = Options::from_call(source, call, &[], &[Z.name, QUANTILES.name])?;
    match (o.value(Z.name), o.value(QUANTILES.name)) {
        (Some(_), None) => Ok(Outliers::ClipZ(o.number(&Z)?)),
        (None, Some(_)) => Ok(Outliers::ClipQuantiles(o.number(&QUANTILES)?)),
        _ => Err(err(
            source,
            "nnc::lower::missing_option",
            "`clip` takes exactly one of `z` and `quantiles`",
            call.span,
            "clip how?",
            "write `clip(z: 3)` (mean ± 3 standard deviations) or `clip(quantiles: 0.01)` (the 1st and 99th percentiles)",
        )),
    }
}

pub fn scaling(source: &Source, v: &Value) -> Result<Scaling, Diagnostic> {
    Ok(
        match plain(
            source,
            v,
            "scaling",
            &["standard", "minmax", "robust", "none"],
        )? {
            "standard" => Scaling::Standard,
            "minmax" => Scaling::Minmax,
            "robust" => Scaling::Robust,
            _ => Scaling::None,
        },
    )
}

pub fn unseen(source: &Source, v: &Value) -> Result<Unseen, Diagnostic> {
    Ok(match plain(source, v, "unseen", &["zeros", "error"])? {
        "zeros" => Unseen::Zeros,
        _ => Unseen::Error,
    })
}

/// `comma`, `semicolon`, `tab`, `pipe`, or a one-character string.
pub fn delimiter(source: &Source, v: &Value) -> Result<u8, Diagnostic> {
    const NAMES: &[&str] = &["comma", "semicolon", "tab", "pipe"];
    if let ValueKind::String(s) = &v.kind {
        return match s.as_bytes() {
            [b] if b.is_ascii() && !matches!(b, b'"' | b'\r' | b'\n') => Ok(*b),
            _ => Err(err(
                source,
                "nnc::lower::bad_delimiter",
                format!("the delimiter must be one character, not \"{s}\""),
                v.span,
                "not one ASCII character",
                "write `delimiter: \";\"`, or one of `comma`, `semicolon`, `tab`, `pipe`",
            )),
        };
    }
    Ok(match plain(source, v, "delimiter", NAMES)? {
        "comma" => b',',
        "semicolon" => b';',
        "tab" => b'\t',
        _ => b'|',
    })
}

/// `memory_limit`: a size with its unit (`"512 MiB"`, `"2 GB"`), or a number of bytes.
pub fn memory_limit(source: &Source, v: &Value) -> Result<u64, Diagnostic> {
    let parsed = match &v.kind {
        ValueKind::String(s) => crate::data::stream::parse_size(s),
        ValueKind::Number(n) => crate::data::stream::parse_size(&n.to_string()),
        _ => None,
    };
    parsed.ok_or_else(|| {
        err(
            source,
            "nnc::lower::out_of_range",
            format!("`memory_limit` must be a size of at least 1 KiB, not {}", v.describe()),
            v.span,
            "not a size",
            "write a number and a unit: `memory_limit: \"512 MiB\"` or `\"2 GB\"` (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024)",
        )
    })
}

/// The items of a list value (a single item may be written without brackets).
fn items(v: &Value) -> Vec<&Value> {
    match &v.kind {
        ValueKind::List(items) => items.iter().collect(),
        _ => vec![v],
    }
}

/// A list of column names (names or strings).
fn names(source: &Source, o: &Options, setting: &str) -> Result<Vec<Named>, Diagnostic> {
    match o.value(setting) {
        Some(v) => column_names(source, v, setting),
        None => Ok(Vec::new()),
    }
}

/// `ignore: [id, "full name"]`: the columns to leave out.
pub fn ignore_list(source: &Source, v: &Value) -> Result<Vec<Named>, Diagnostic> {
    column_names(source, v, "ignore")
}

/// `categorical: [zip]`: the columns read as categories.
pub fn categorical_list(source: &Source, v: &Value) -> Result<Vec<Named>, Diagnostic> {
    column_names(source, v, "categorical")
}

/// `decimal: comma` (true) or `decimal: point`.
pub fn decimal(source: &Source, v: &Value) -> Result<bool, Diagnostic> {
    Ok(plain(source, v, "decimal", &["point", "comma"])? == "comma")
}

fn column_names(source: &Source, v: &Value, setting: &str) -> Result<Vec<Named>, Diagnostic> {
    items(v)
        .into_iter()
        .map(|item| match &item.kind {
            ValueKind::String(s) => Ok(Named {
                name: s.clone(),
                span: Some(item.span),
            }),
            ValueKind::Call(c) if c.args.is_empty() => Ok(Named {
                name: c.name.name.clone(),
                span: Some(item.span),
            }),
            _ => Err(err(
                source,
                "nnc::lower::wrong_kind",
                format!(
                    "`{setting}` lists column names, but this is {}",
                    item.describe()
                ),
                item.span,
                "expected a column name",
                format!("write `{setting}: [id, \"full name\"]`"),
            )),
        })
        .collect()
}

/// Missing-value markers: strings, or numbers written as in the file (`-999`).
pub fn markers(source: &Source, v: &Value) -> Result<Vec<String>, Diagnostic> {
    items(v)
        .into_iter()
        .map(|item| match &item.kind {
            ValueKind::String(s) => Ok(s.clone()),
            ValueKind::Number(_) => Ok(source.text[item.span.start..item.span.end].to_string()),
            _ => Err(err(
                source,
                "nnc::lower::wrong_kind",
                format!(
                    "a missing-value marker is a string, but this is {}",
                    item.describe()
                ),
                item.span,
                "expected a string",
                "write `missing_markers: [\"-\", \"unknown\", -999]`",
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::data::{Constant, Missing, Outliers, Scaling, Unseen};
    use crate::diag::Source;

    fn data(body: &str) -> Result<super::DataSpec, crate::diag::Diagnostic> {
        let text = format!("data {{\n{body}\n}}\nmodel {{ input(2) output(1) }}\nloss: mse\n");
        crate::program::parse_model(&Source::new("m.nn", text)).map(|s| s.data)
    }

    #[test]
    fn every_setting_is_read() {
        let d = data(
            "path: \"a.csv\" target: y test: \"t.csv\" split_seed: 7 delimiter: tab\n\
             decimal: comma missing_markers: [\"-\", -999] categorical: [zip] ignore: [id, \"full name\"]\n\
             missing: median outliers: clip(z: 2.5) scaling: robust unseen: error\n\
             column age { missing: constant(30) scaling: minmax }\n\
             column \"yrs married\" { outliers: clip(quantiles: 0.05) }",
        )
        .unwrap();
        assert_eq!(d.test_file.as_ref().unwrap().0, "t.csv");
        assert_eq!(d.test_fraction, 0.0);
        assert_eq!(d.split_seed, Some(7));
        assert_eq!(d.delimiter, Some(b'\t'));
        assert!(d.decimal_comma);
        assert_eq!(d.missing_markers, vec!["-", "-999"]);
        assert_eq!(d.categorical[0].name, "zip");
        assert_eq!(d.ignore[1].name, "full name");
        let p = &d.prepare;
        assert_eq!(p.defaults.missing, Missing::Median);
        assert_eq!(p.defaults.outliers, Outliers::ClipZ(2.5));
        assert_eq!(p.defaults.unseen, Unseen::Error);
        let age = p.settings("age");
        assert_eq!(age.missing, Missing::Constant(Constant::Number(30.0)));
        assert_eq!(age.scaling, Scaling::Minmax);
        assert_eq!(
            age.outliers,
            Outliers::ClipZ(2.5),
            "unset keys inherit the block's"
        );
        let yrs = p.settings("yrs married");
        assert_eq!(yrs.outliers, Outliers::ClipQuantiles(0.05));
        assert_eq!(yrs.scaling, Scaling::Robust);
    }

    #[test]
    fn mistakes_are_diagnostics_at_their_text() {
        for (body, code, at) in [
            ("missing: mode", "nnc::lower::unknown_choice", "m.nn:2:10"),
            (
                "outliers: clip(z: 3, quantiles: 0.1)",
                "nnc::lower::missing_option",
                "m.nn:2:11",
            ),
            (
                "outliers: clip(z: 0)",
                "nnc::lower::out_of_range",
                "m.nn:2:19",
            ),
            ("scaling: \"robust\"", "nnc::lower::wrong_kind", "m.nn:2:10"),
            (
                "delimiter: \";;\"",
                "nnc::lower::bad_delimiter",
                "m.nn:2:12",
            ),
            ("ignore: [1]", "nnc::lower::wrong_kind", "m.nn:2:10"),
            (
                "test: \"t.csv\" test_fraction: 0.3",
                "nnc::lower::conflicting_settings",
                "m.nn:2:30",
            ),
            ("column { }", "nnc::lower::missing_option", "m.nn:2:1"),
            ("columns age { }", "nnc::lower::unknown_item", "m.nn:2:1"),
            (
                "column a { scaling: none } column a { }",
                "nnc::lower::duplicate_item",
                "m.nn:2:35",
            ),
            (
                "column a { target: x }",
                "nnc::lower::unknown_option",
                "m.nn:2:12",
            ),
            (
                "missing: constant()",
                "nnc::lower::missing_option",
                "m.nn:2:10",
            ),
        ] {
            let d = data(body).unwrap_err();
            assert_eq!(
                (d.code, d.location().as_deref()),
                (code, Some(at)),
                "{body}"
            );
            assert!(d.help.is_some(), "{body}");
        }
    }
}
