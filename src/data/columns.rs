//! Typing the cells of a CSV file: feature columns become numbers, the target becomes class
//! labels or numbers as the caller's [`TargetKind`] asks, and every value that cannot be read
//! (empty, text in a numeric column, NaN or infinity, a text-only column) becomes a diagnostic on
//! its cell. It receives records whose structure `load` has already checked, and must not know
//! about splits, scaling or training.

use std::collections::{BTreeMap, BTreeSet};

use super::load::{Raw, Table, Target};
use super::{DataOrigin, TargetKind};
use crate::diag::Diagnostic;

/// Cells and names are compared without surrounding spaces, since "1, 2" is a common way to write
/// CSV by hand.
pub(crate) fn clean(s: &str) -> &str {
    s.trim()
}

fn number(s: &str) -> Option<f64> {
    clean(s).parse::<f64>().ok()
}

pub(crate) fn type_table(
    raw: &Raw,
    kind: TargetKind,
    origin: &DataOrigin,
) -> Result<Table, Diagnostic> {
    let target = raw.target;
    let name = &raw.source.name;
    if raw.header.len() < 2 {
        return Err(raw
            .error(
                "nnc::data::no_features",
                format!(
                    "data file `{name}` has no feature columns, only the target `{}`",
                    raw.header[target]
                ),
                raw.header_cell(target),
                "the only column".into(),
            )
            .with_help("every column except the target is an input feature; add at least one"));
    }
    let parsed = parse_cells(raw);
    check_categorical(raw, &parsed)?;

    let feature_columns: Vec<usize> = (0..raw.header.len()).filter(|&c| c != target).collect();
    let features: Vec<String> = feature_columns
        .iter()
        .map(|&c| raw.header[c].clone())
        .collect();
    let mut x = Vec::with_capacity(raw.rows.len() * features.len());
    let mut values = Vec::new();
    let mut class_cells = Vec::new();
    // Row-major, so the first problem reported is the first one in the file.
    let width = raw.header.len();
    for (row, record) in raw.rows.iter().enumerate() {
        for (col, cell) in record.iter().enumerate() {
            let cell = clean(cell);
            if cell.is_empty() {
                return Err(missing(raw, row, col));
            }
            if col != target {
                x.push(feature_value(
                    raw,
                    row,
                    col,
                    cell,
                    parsed[row * width + col],
                )?);
                continue;
            }
            match kind {
                TargetKind::Values => values.push(target_value(raw, row, cell, origin)?),
                TargetKind::Classes => {
                    if number(cell).is_some_and(|v| !v.is_finite()) {
                        return Err(not_finite(raw, row, col, cell));
                    }
                    class_cells.push(cell);
                }
            }
        }
    }
    let target_values = match kind {
        TargetKind::Values => Target::Values(values),
        TargetKind::Classes => classes(raw, &class_cells, origin)?,
    };
    Ok(Table {
        source: raw.source.clone(),
        features,
        rows: raw.rows.len(),
        x,
        target: target_values,
        target_name: raw.header[target].clone(),
        row_starts: raw.starts.clone(),
        feature_columns,
        target_column: target,
    })
}

/// Every cell parsed once, row-major (the order the records sit in memory): `None` for an empty
/// or non-numeric cell. Large files (thousands of columns) make a second parse or a column-major
/// walk over the records the slowest part of a run.
fn parse_cells(raw: &Raw) -> Vec<Option<f64>> {
    let mut parsed = Vec::with_capacity(raw.rows.len() * raw.header.len());
    for record in &raw.rows {
        parsed.extend(record.iter().map(number));
    }
    parsed
}

/// A feature column that is mostly text is a categorical column, not a numeric one with a typo:
/// it gets one diagnostic on its header instead of one on its first cell.
fn check_categorical(raw: &Raw, parsed: &[Option<f64>]) -> Result<(), Diagnostic> {
    let width = raw.header.len();
    // Per column: non-empty cells, numeric cells, and the first text cell's row.
    let mut filled = vec![0usize; width];
    let mut numeric = vec![0usize; width];
    let mut first_text: Vec<Option<usize>> = vec![None; width];
    for (row, record) in raw.rows.iter().enumerate() {
        for (col, cell) in record.iter().enumerate() {
            if parsed[row * width + col].is_some() {
                filled[col] += 1;
                numeric[col] += 1;
            } else if !clean(cell).is_empty() {
                filled[col] += 1;
                first_text[col].get_or_insert(row);
            }
        }
    }
    for col in (0..width).filter(|&c| c != raw.target) {
        let (filled, numeric) = (filled[col], numeric[col]);
        let example = first_text[col].map(|row| clean(&raw.rows[row][col]));
        if let Some(example) = example.filter(|_| numeric * 2 < filled) {
            let column = &raw.header[col];
            return Err(raw
                .error(
                    "nnc::data::categorical_feature",
                    format!(
                        "column `{column}` of data file `{}` holds text (such as `{example}`): categorical feature columns are not supported yet",
                        raw.source.name
                    ),
                    raw.header_cell(col),
                    format!("{} of {filled} values are text", filled - numeric),
                )
                .with_help(format!(
                    "encode `{column}` as numbers (for example one 0/1 column per category) or drop the column"
                )));
        }
    }
    Ok(())
}

fn feature_value(
    raw: &Raw,
    row: usize,
    col: usize,
    cell: &str,
    parsed: Option<f64>,
) -> Result<f64, Diagnostic> {
    match parsed {
        Some(v) if v.is_finite() => Ok(v),
        Some(_) => Err(not_finite(raw, row, col, cell)),
        None => {
            let column = &raw.header[col];
            Err(raw
                .error(
                    "nnc::data::not_a_number",
                    format!(
                        "line {} of data file `{}`: `{cell}` in column `{column}` is not a number",
                        raw.line(row),
                        raw.source.name
                    ),
                    raw.cell(row, col),
                    "not a number".into(),
                )
                .with_help(format!(
                    "column `{column}` is a numeric feature: write this value as a number (a `.` decimal point, no thousands separators or units) or drop the row"
                )))
        }
    }
}

fn target_value(raw: &Raw, row: usize, cell: &str, origin: &DataOrigin) -> Result<f64, Diagnostic> {
    let col = raw.target;
    match number(cell) {
        Some(v) if v.is_finite() => Ok(v),
        Some(_) => Err(not_finite(raw, row, col, cell)),
        None => {
            let column = &raw.header[col];
            let diag = raw
                .error(
                    "nnc::data::non_numeric_target",
                    format!(
                        "line {} of data file `{}`: target `{column}` must be numeric for a regression loss, but this row has `{cell}`",
                        raw.line(row),
                        raw.source.name
                    ),
                    raw.cell(row, col),
                    "not a number".into(),
                )
                .with_help(
                    "regression losses (mse, mae, huber) need numeric targets; for class labels use a cross-entropy loss",
                );
            Err(with_target_origin(diag, origin))
        }
    }
}

fn classes(raw: &Raw, cells: &[&str], origin: &DataOrigin) -> Result<Target, Diagnostic> {
    let distinct: BTreeSet<&str> = cells.iter().copied().collect();
    let mut names: Vec<&str> = distinct.into_iter().collect();
    // Numeric labels sort by value so that "10" follows "9"; ties between spellings of one value
    // ("1" and "1.0") keep the lexicographic order the set already gave them.
    let numeric: Option<Vec<f64>> = names.iter().map(|n| number(n)).collect();
    if numeric.is_some() {
        names.sort_by(|a, b| {
            let (a, b) = (number(a).unwrap_or(0.0), number(b).unwrap_or(0.0));
            a.total_cmp(&b)
        });
    }
    if names.len() < 2 {
        let column = &raw.header[raw.target];
        let only = names.first().copied().unwrap_or_default();
        let diag = raw
            .error(
                "nnc::data::single_class",
                format!(
                    "target `{column}` of data file `{}` has only one class (`{only}`); classification needs at least two",
                    raw.source.name
                ),
                raw.header_cell(raw.target),
                format!("every row has `{only}`"),
            )
            .with_help("check that this is the right target column and file; a model cannot learn to tell apart classes it never sees");
        return Err(with_target_origin(diag, origin));
    }
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let labels = cells.iter().map(|c| index[c]).collect();
    Ok(Target::Classes {
        names: names.into_iter().map(String::from).collect(),
        labels,
    })
}

fn missing(raw: &Raw, row: usize, col: usize) -> Diagnostic {
    raw.error(
        "nnc::data::missing_value",
        format!(
            "line {} of data file `{}` has no value in column `{}`",
            raw.line(row),
            raw.source.name,
            raw.header[col]
        ),
        raw.cell(row, col),
        "empty cell".into(),
    )
    .with_help("missing values are not supported yet: fill the cell or drop the row")
}

fn not_finite(raw: &Raw, row: usize, col: usize, cell: &str) -> Diagnostic {
    raw.error(
        "nnc::data::not_finite",
        format!(
            "line {} of data file `{}`: `{cell}` in column `{}` is not a finite number",
            raw.line(row),
            raw.source.name,
            raw.header[col]
        ),
        raw.cell(row, col),
        "NaN or infinite".into(),
    )
    .with_help(
        "NaN and infinite values are not supported: replace them with a number or drop the row",
    )
}

/// Target problems are often a wrong `target` setting rather than bad data, so point there too.
fn with_target_origin(diag: Diagnostic, origin: &DataOrigin) -> Diagnostic {
    match origin.nn_span(origin.target_span) {
        Some((nn, span)) => {
            let code = diag.code;
            diag.with_related(
                Diagnostic::new(code, "the target column is chosen here")
                    .with_source(nn)
                    .with_label(span, "target"),
            )
        }
        None => diag,
    }
}
