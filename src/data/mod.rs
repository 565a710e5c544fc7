//! The data stage: reading a CSV file into a typed table (streamed, delimiter detected, columns
//! typed numeric or categorical), splitting it into train, validation and test rows, fitting the
//! preprocessing (missing values, outliers, scaling, one-hot encoding) on the training rows only
//! and applying it to every part, and cutting seeded mini-batches. It owns every diagnostic about a data file (code `nnc::data::...`, pointing at the
//! cell, header or `.nn` setting at fault). It must not know about the IR, losses or the training
//! loop: the caller translates its loss into a [`TargetKind`] and a [`TargetEncoding`].

mod apply;
mod batch;
mod dialect;
mod load;
mod number;
mod parquet;
mod preprocess;
mod read;
mod records;
mod spans;
mod split;
pub mod stream;
mod table;

pub use apply::UnseenTally;
pub use batch::Batcher;
pub use load::{
    changed, header_names, kind_changed, last_column, load_csv, load_first_chunk, load_table,
    load_table_chunks, parse_csv, parse_table, single_class, unknown_column, MAX_CATEGORIES,
};
pub use parquet::part_files;
pub use preprocess::{
    fit, usable_rows, ColumnSettings, Constant, Examples, Feature, FittedTarget, Matrix, Missing,
    Outliers, PrepareConfig, Preprocessing, Scaling, TargetEncoding, Unseen, Usable,
};
pub use split::{check_fractions, empty_train, folds, split, Split, SplitConfig};
pub use table::{
    Column, ColumnKind, DataText, Named, ReadOptions, Table, Target, TargetColumn, TargetSpec,
    NO_LABEL,
};

use crate::diag::{Source, Span};

/// Where the data path and target came from in the `.nn` file, so diagnostics can point there.
/// Spans are `None` when the value came from a command-line flag.
#[derive(Clone, Debug, Default)]
pub struct DataOrigin {
    pub nn: Option<Source>,
    pub path_span: Option<Span>,
    pub target_span: Option<Span>,
    /// The flag that gave the path (`--data`, `--test-data`, ...), when one did.
    pub path_flag: Option<&'static str>,
}

impl DataOrigin {
    /// The `.nn` source and one of its spans, when both are known.
    pub(crate) fn nn_span(&self, span: Option<Span>) -> Option<(&Source, Span)> {
        Some((self.nn.as_ref()?, span?))
    }
}

/// How the target column is read, chosen by the caller from the loss: class labels for
/// cross-entropy losses, numbers for regression losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    Classes,
    Values,
}

/// The three parts of a split, transformed by preprocessing fitted on the training part.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub train: Examples,
    pub validation: Examples,
    pub test: Examples,
    pub preprocessing: Preprocessing,
}

/// Fit the preprocessing on `split.train` and apply it to every part.
pub fn prepare(
    table: &Table,
    split: &Split,
    encoding: TargetEncoding,
    config: &PrepareConfig,
    missing_markers: &[String],
) -> Result<Prepared, crate::diag::Diagnostic> {
    let preprocessing = fit(table, &split.train, config, encoding, missing_markers)?;
    Ok(Prepared {
        train: preprocessing.apply(table, &split.train)?,
        validation: preprocessing.apply(table, &split.validation)?,
        test: preprocessing.apply(table, &split.test)?,
        preprocessing,
    })
}
