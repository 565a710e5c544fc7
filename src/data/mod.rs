//! The data stage: reading a CSV file into a typed table, splitting it into train, validation and
//! test rows, standardizing with statistics fitted on the training rows only, and cutting seeded
//! mini-batches. It owns every diagnostic about a data file (code `nnc::data::...`, pointing at the
//! cell, header or `.nn` setting at fault). It must not know about the IR, losses or the training
//! loop: the caller translates its loss into a [`TargetKind`] and a [`TargetEncoding`].

mod batch;
mod columns;
mod load;
mod prepare;
mod spans;
mod split;

pub use batch::Batcher;
pub use load::{last_column, load_csv, parse_csv, Table, Target};
pub use prepare::{prepare, Examples, Matrix, Prepared, TargetEncoding};
pub use split::{split, Split, SplitConfig};

use crate::diag::{Source, Span};

/// Where the data path and target came from in the `.nn` file, so diagnostics can point there.
/// Spans are `None` when the value came from a command-line flag.
#[derive(Clone, Debug, Default)]
pub struct DataOrigin {
    pub nn: Option<Source>,
    pub path_span: Option<Span>,
    pub target_span: Option<Span>,
}

impl DataOrigin {
    /// The `.nn` source and one of its spans, when both are known.
    fn nn_span(&self, span: Option<Span>) -> Option<(&Source, Span)> {
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
