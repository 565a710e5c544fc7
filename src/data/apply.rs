//! Applying fitted preprocessing to the rows of a table: each fitted feature is bound once to the
//! table's column of the same name, then every row becomes model inputs (filled, clipped, scaled,
//! one-hot) and targets (encoded as the model was trained). It is a pure function of the
//! `Preprocessing` and the table, the same for training rows, held-out rows and new files; every
//! value it cannot use is a diagnostic at its cell. It must not fit anything.

use super::preprocess::{
    missing_error, short, Examples, Feature, FittedTarget, Matrix, Preprocessing, TargetEncoding,
    Unseen,
};
use super::read::MISSING_CODE;
use super::table::{ColumnKind, Table, Target, NO_LABEL};
use crate::diag::Diagnostic;

/// Where each fitted feature sits in a table, resolved once per table.
enum Bound<'t> {
    Numeric {
        col: usize,
        fill: Option<f64>,
        clip: Option<(f64, f64)>,
        center: f64,
        scale: f64,
    },
    Categorical {
        col: usize,
        codes: &'t [u32],
        /// Per table category, its input index, or `None` when unseen in training.
        index: Vec<Option<usize>>,
        fill: Option<Option<usize>>,
        width: usize,
        unseen: Unseen,
    },
}

impl Preprocessing {
    /// Transform `rows` of `table` into model inputs (and targets, when the table has them).
    pub fn apply(&self, table: &Table, rows: &[usize]) -> Result<Examples, Diagnostic> {
        let bound = self.bind(table)?;
        let width = self.input_width();
        let mut x = Vec::with_capacity(rows.len() * width);
        for &r in rows {
            for b in &bound {
                match b {
                    Bound::Numeric {
                        col,
                        fill,
                        clip,
                        center,
                        scale,
                    } => {
                        let mut d = table.shifted(r, *col);
                        if d.is_nan() {
                            d = fill.ok_or_else(|| missing_error(table, r, *col, "missing:"))?;
                        }
                        if let Some((lo, hi)) = clip {
                            d = d.clamp(*lo, *hi);
                        }
                        let z = ((d - center) / scale) as f32;
                        if !z.is_finite() {
                            return Err(out_of_range(table, r, *col, *center, *scale));
                        }
                        x.push(z);
                    }
                    Bound::Categorical {
                        col,
                        codes,
                        index,
                        fill,
                        width,
                        unseen,
                    } => {
                        let code = codes[r];
                        let hot = if code == MISSING_CODE {
                            fill.ok_or_else(|| missing_error(table, r, *col, "missing:"))?
                        } else {
                            index[code as usize]
                        };
                        if hot.is_none() && code != MISSING_CODE && *unseen == Unseen::Error {
                            return Err(unseen_error(table, r, *col));
                        }
                        let at = x.len();
                        x.resize(at + width, 0.0);
                        if let Some(h) = hot {
                            x[at + h] = 1.0;
                        }
                    }
                }
            }
        }
        let x = Matrix {
            rows: rows.len(),
            cols: width,
            data: x,
        };
        let (y, labels, values) = self.targets(table, rows)?;
        Ok(Examples {
            x,
            y,
            labels,
            values,
            rows: rows.to_vec(),
        })
    }

    /// One warning per categorical column for which some of `rows` hold a category the training
    /// rows never had, with how many and the first such cell: `apply` encodes such a row as all
    /// zeros (`unseen: zeros`) without a word. Empty under `unseen: error`, where `apply` refuses
    /// the first such cell instead.
    pub fn unseen_warnings(
        &self,
        table: &Table,
        rows: &[usize],
    ) -> Result<Vec<Diagnostic>, Diagnostic> {
        let mut tally = UnseenTally::default();
        self.tally_unseen(table, rows, &mut tally)?;
        Ok(tally.warnings())
    }

    /// Count the rows of `table` (of those in `rows`) whose category of a column training never
    /// saw, into `tally`: a file read a chunk at a time is tallied chunk by chunk.
    pub fn tally_unseen(
        &self,
        table: &Table,
        rows: &[usize],
        tally: &mut UnseenTally,
    ) -> Result<(), Diagnostic> {
        tally.rows += rows.len();
        for (feature, b) in self.bind(table)?.into_iter().enumerate() {
            let Bound::Categorical {
                col,
                codes,
                index,
                unseen: Unseen::Zeros,
                ..
            } = b
            else {
                continue;
            };
            let is_unseen = |r: &usize| {
                let code = codes[*r];
                code != MISSING_CODE && index[code as usize].is_none()
            };
            let mut unseen = rows.iter().copied().filter(is_unseen);
            let Some(first) = unseen.next() else {
                continue;
            };
            let count = 1 + unseen.count();
            match tally.found.iter_mut().find(|f| f.feature == feature) {
                Some(found) => found.count += count,
                None => tally.found.push(UnseenFound {
                    feature,
                    count,
                    line: table.line(&table.source_through_row(first), first),
                    file: table.name().to_string(),
                    warning: unseen_warning(table, first, col, 0, 0),
                    column: table.header[col].clone(),
                }),
            }
        }
        Ok(())
    }

    fn bind<'t>(&self, table: &'t Table) -> Result<Vec<Bound<'t>>, Diagnostic> {
        self.features
            .iter()
            .map(|f| {
                let col = table
                    .columns
                    .iter()
                    .find(|c| c.name == f.name())
                    .ok_or_else(|| missing_column(table, f.name()))?;
                Ok(match f {
                    Feature::Numeric {
                        fill,
                        clip,
                        center,
                        scale,
                        reference,
                        ..
                    } => {
                        if col.kind == ColumnKind::Categorical {
                            return Err(text_in_numeric(table, col.index));
                        }
                        debug_assert_eq!(
                            table.reference(col.index).to_bits(),
                            reference.to_bits(),
                            "invariant: a file is read with the references of the model it is applied to"
                        );
                        Bound::Numeric {
                            col: col.index,
                            fill: *fill,
                            clip: *clip,
                            center: *center,
                            scale: *scale,
                        }
                    }
                    Feature::Categorical {
                        categories,
                        fill,
                        unseen,
                        ..
                    } => {
                        let (names, codes) = table.text_column(col.index);
                        let position = |n: &str| categories.iter().position(|c| c == n);
                        Bound::Categorical {
                            col: col.index,
                            codes,
                            index: names.iter().map(|n| position(n)).collect(),
                            fill: fill.as_ref().map(|f| position(f)),
                            width: categories.len(),
                            unseen: *unseen,
                        }
                    }
                })
            })
            .collect()
    }

    fn targets(
        &self,
        table: &Table,
        rows: &[usize],
    ) -> Result<(Matrix, Vec<usize>, Vec<f64>), Diagnostic> {
        let Some(t) = &table.target else {
            let y = Matrix {
                rows: rows.len(),
                cols: 0,
                data: Vec::new(),
            };
            return Ok((y, Vec::new(), Vec::new()));
        };
        match (&t.data, &self.target) {
            (
                Target::Classes {
                    names: seen,
                    labels,
                },
                FittedTarget::Classes {
                    names, encoding, ..
                },
            ) => {
                let remap: Vec<Option<usize>> = seen
                    .iter()
                    .map(|s| names.iter().position(|n| n == s))
                    .collect();
                let mut picked = Vec::with_capacity(rows.len());
                for &r in rows {
                    let l = labels[r];
                    match remap.get(l).copied().flatten() {
                        Some(l) => picked.push(l),
                        None if l == NO_LABEL => {
                            return Err(missing_error(table, r, t.index, "missing:"))
                        }
                        None => return Err(unknown_class(table, r, t.index, names)),
                    }
                }
                let (cols, y) = match encoding {
                    TargetEncoding::Binary => (1, picked.iter().map(|&l| l as f32).collect()),
                    _ => {
                        let mut y = vec![0.0f32; rows.len() * names.len()];
                        for (i, &l) in picked.iter().enumerate() {
                            y[i * names.len() + l] = 1.0;
                        }
                        (names.len(), y)
                    }
                };
                let y = Matrix {
                    rows: rows.len(),
                    cols,
                    data: y,
                };
                Ok((y, picked, Vec::new()))
            }
            (Target::Values(v), FittedTarget::Values { mean, std, .. }) => {
                let mut y = Vec::with_capacity(rows.len());
                for &r in rows {
                    let z = ((v[r] - mean) / std) as f32;
                    if !z.is_finite() {
                        return Err(out_of_range(table, r, t.index, *mean, *std));
                    }
                    y.push(z);
                }
                let picked = rows.iter().map(|&r| v[r]).collect();
                let y = Matrix {
                    rows: rows.len(),
                    cols: 1,
                    data: y,
                };
                Ok((y, Vec::new(), picked))
            }
            _ => Err(Diagnostic::new(
                "nnc::data::target_kind",
                format!(
                    "target `{}` of data file `{}` is read as {} but the model predicts {}",
                    t.name,
                    table.name(),
                    kind(&t.data),
                    match self.target {
                        FittedTarget::Classes { .. } => "classes",
                        FittedTarget::Values { .. } => "values",
                    }
                ),
            )
            .with_help("this is a bug in nnc: the target kind comes from the saved model")),
        }
    }
}

fn kind(t: &Target) -> &'static str {
    match t {
        Target::Classes { .. } => "classes",
        Target::Values(_) => "values",
    }
}

fn missing_column(table: &Table, name: &str) -> Diagnostic {
    let source = table.source();
    let span = table.header_span(&source);
    Diagnostic::new(
        "nnc::data::missing_column",
        format!(
            "data file `{}` has no column `{name}`, which the model takes as input",
            table.name()
        ),
    )
    .with_source(&source)
    .with_label(span, "the columns of this file")
    .with_help(format!(
        "the file needs every feature column the model was trained on, by name; the columns are: {}",
        super::load::list_columns(&table.header)
    ))
}

fn text_in_numeric(table: &Table, col: usize) -> Diagnostic {
    let row = table.cells.counts[col].first_text.unwrap_or(0);
    let column = &table.header[col];
    table
        .cell_error(
            "nnc::data::not_a_number",
            format!(
                "{}: column `{column}` was numeric in training, but this cell is text",
                table.where_row(row)
            ),
            row,
            col,
            "not a number",
        )
        .with_help("write the value as a number, or leave the cell empty if it is missing")
}

fn unseen_error(table: &Table, row: usize, col: usize) -> Diagnostic {
    let column = &table.header[col];
    table
        .cell_error(
            "nnc::data::unseen_category",
            format!(
                "{}: this value of column `{column}` never occurs in the training rows",
                table.where_row(row)
            ),
            row,
            col,
            "unseen category",
        )
        .with_help(format!(
            "with `unseen: zeros` (the default) an unseen category becomes all zeros; `unseen: error` is set for `{column}`"
        ))
}

/// Rows with categories training never saw, per column, over the chunks of a file.
#[derive(Debug, Default)]
pub struct UnseenTally {
    rows: usize,
    found: Vec<UnseenFound>,
}

#[derive(Debug)]
struct UnseenFound {
    /// The feature's index, which orders the warnings.
    feature: usize,
    count: usize,
    column: String,
    /// Where the first such row is (`line 12`), in which file, and the warning pointing at its
    /// cell.
    line: String,
    file: String,
    warning: Diagnostic,
}

impl UnseenTally {
    /// One `nnc::data::unseen_categories` warning per column that had such rows, with the
    /// counts over everything tallied.
    pub fn warnings(mut self) -> Vec<Diagnostic> {
        self.found.sort_by_key(|f| f.feature);
        let rows = self.rows;
        (self.found.into_iter())
            .map(|f| {
                let mut warning = f.warning;
                warning.message = unseen_message(f.count, rows, &f.file, &f.column, &f.line);
                warning
            })
            .collect()
    }
}

fn unseen_message(count: usize, rows: usize, file: &str, column: &str, line: &str) -> String {
    let many = if count == 1 { "row" } else { "rows" };
    format!(
        "{count} of {rows} {many} of data file `{file}` have a category of column `{column}` that the training rows never had (the first on {line}): the column's inputs are all zeros for them"
    )
}

/// The warning about unseen categories in column `col`, pointing at row `first`'s cell; its
/// message is the tally's.
fn unseen_warning(
    table: &Table,
    first: usize,
    col: usize,
    count: usize,
    rows: usize,
) -> Diagnostic {
    let column = &table.header[col];
    let line = table.line(&table.source_through_row(first), first);
    table
        .cell_error(
            "nnc::data::unseen_categories",
            unseen_message(count, rows, table.name(), column, &line),
            first,
            col,
            "unseen category",
        )
        .with_help(format!(
            "the model was trained with `unseen: zeros` (the default) for `{column}`; to refuse such rows instead, say `unseen: error` for it and train again"
        ))
        .as_warning()
}

fn unknown_class(table: &Table, row: usize, col: usize, names: &[String]) -> Diagnostic {
    table
        .cell_error(
            "nnc::data::unknown_class",
            format!(
                "{}: this class is not one the model was trained on",
                table.where_row(row)
            ),
            row,
            col,
            "unknown class",
        )
        .with_help(format!("the model knows the classes {}", names.join(", ")))
}

/// A value too far from the training rows to standardize into an f32.
fn out_of_range(table: &Table, row: usize, col: usize, center: f64, scale: f64) -> Diagnostic {
    let column = &table.header[col];
    table
        .cell_error(
            "nnc::data::out_of_range",
            format!(
                "{}: the value in column `{column}` is too far from the training rows (center {}, scale {}) to represent in f32",
                table.where_row(row),
                short(center + table.reference(col)),
                short(scale)
            ),
            row,
            col,
            "out of range",
        )
        .with_help("check this value: it is beyond 3.4e38 scales of the training rows; `outliers: clip(z: 3)` bounds such values")
}
