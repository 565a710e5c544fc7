//! The data of a run, from the model file's `data` block (and its overrides) to the f32
//! matrices the executors take: the training file read and typed, the usable rows split, the
//! preprocessing fitted on the training rows and applied to every part, held-out files read as
//! the training file was. It also says how a file is read for a fitted model (`predict`, `eval`).
//! It must not compile or train.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::{
    self, DataOrigin, Feature, Named, Prepared, Preprocessing, ReadOptions, SplitConfig, Table,
    Target, TargetEncoding, TargetKind, TargetSpec,
};
use crate::diag::Diagnostic;
use crate::ir::Origin;
use crate::lower::spec::DataSpec;
use crate::lower::{Activation, DataShape, ModelSpec};

use super::overrides::Overrides;

/// The data of a model, read, split and preprocessed, with what the model's ends must be.
pub struct ModelData {
    pub prepared: Prepared,
    pub shape: DataShape,
    pub path: PathBuf,
    /// Things worth knowing that did not stop the run (a text column with a value per row).
    pub warnings: Vec<Diagnostic>,
    /// Rows left out: without a target value, and with a missing value under `missing: drop`.
    pub dropped_no_target: usize,
    pub dropped_missing: usize,
    /// Seconds spent reading and typing the data files.
    pub load_seconds: f64,
}

fn target_kind(spec: &ModelSpec) -> TargetKind {
    if spec.loss.kind().is_classification() {
        TargetKind::Classes
    } else {
        TargetKind::Values
    }
}

/// Whether the file or the flags name a data file.
pub fn has_data(spec: &ModelSpec, overrides: &Overrides) -> bool {
    overrides.data.is_some() || spec.data.path.is_some()
}

/// How the data block says files are read.
pub fn read_options(spec: &ModelSpec) -> ReadOptions {
    data_read_options(&spec.data)
}

/// How a data block says files are read.
pub fn data_read_options(data: &DataSpec) -> ReadOptions {
    ReadOptions {
        delimiter: data.delimiter,
        decimal_comma: data.decimal_comma,
        missing_markers: data.missing_markers.clone(),
        categorical: data.categorical.clone(),
        ignore: data.ignore.clone(),
        references: None,
        columns: None,
    }
}

/// How a file is read to be transformed by fitted preprocessing: the training file's references
/// and column types, and only the columns the model takes.
pub fn fitted_read_options(p: &Preprocessing, data: &DataSpec) -> ReadOptions {
    let mut references = std::collections::HashMap::new();
    let mut categorical = Vec::new();
    for f in &p.features {
        match f {
            Feature::Numeric {
                name, reference, ..
            } => {
                references.insert(name.clone(), *reference);
            }
            Feature::Categorical { name, .. } => categorical.push(Named::new(name.clone())),
        }
    }
    ReadOptions {
        delimiter: data.delimiter,
        decimal_comma: data.decimal_comma,
        missing_markers: p.missing_markers.clone(),
        categorical,
        ignore: Vec::new(),
        references: Some(references),
        columns: Some(p.features.iter().map(|f| f.name().to_string()).collect()),
    }
}

/// A path written in the `.nn` file, relative to the file's folder.
pub fn beside(model_path: &Path, p: &str) -> PathBuf {
    model_path.parent().unwrap_or(Path::new("")).join(p)
}

/// The training file of a model, read and typed, with what the model's output must be.
pub struct TrainingTable {
    pub table: Table,
    pub target: TargetSpec,
    pub origin: DataOrigin,
    pub path: PathBuf,
    pub encoding: TargetEncoding,
    pub target_width: usize,
    /// The target in words, for shape diagnostics.
    target_what: String,
    pub load_seconds: f64,
}

impl TrainingTable {
    /// The target column (a training table always has one).
    pub fn target_data(&self) -> &Target {
        &self
            .table
            .target
            .as_ref()
            .expect("invariant: a required target is present in a loaded table")
            .data
    }

    /// What the model's ends must be, given preprocessing fitted on this table.
    pub fn shape(&self, preprocessing: &Preprocessing) -> DataShape {
        DataShape {
            features: preprocessing.input_width(),
            features_origin: self.origin.path_span.map(|span| Origin {
                span,
                what: match (preprocessing.input_width(), preprocessing.features.len()) {
                    (inputs, columns) if inputs == columns => {
                        format!("the data ({columns} feature columns)")
                    }
                    (inputs, columns) => format!(
                        "the data ({inputs} inputs from {columns} feature columns, categories one-hot encoded)"
                    ),
                },
            }),
            target_width: self.target_width,
            target_origin: self.origin.target_span.map(|span| Origin {
                span,
                what: self.target_what.clone(),
            }),
        }
    }
}

/// Read the data file named by the flags or the file (paths in the file are relative to its
/// folder) and type its columns.
pub fn load_training_table(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
) -> Result<TrainingTable, Diagnostic> {
    let mut origin = DataOrigin {
        nn: Some(spec.source.clone()),
        path_span: None,
        target_span: None,
    };
    let path = match (&overrides.data, &spec.data.path) {
        (Some(p), _) => p.clone(),
        (None, Some((p, span))) => {
            origin.path_span = Some(*span);
            beside(model_path, p)
        }
        (None, None) => {
            return Err(Diagnostic::new("nnc::data::no_data", "no data file is given")
                .with_source(&spec.source)
                .with_label(spec.model_span, "this model needs data to train on")
                .with_help("add `data { path: \"file.csv\" target: \"column\" }` to the file, or pass `--data FILE.csv`"))
        }
    };
    let target = match (&overrides.target, &spec.data.target) {
        (Some(t), _) => Some(t.clone()),
        (None, Some((t, span))) => {
            origin.target_span = Some(*span);
            Some(t.clone())
        }
        (None, None) => None,
    };
    let opts = read_options(spec);
    let started = Instant::now();
    // With no target named, the last column is the target (the usual layout of such files).
    let target = match target {
        Some(t) => t,
        None => data::last_column(&path, &opts, &origin)?,
    };
    let target = TargetSpec::required(&target, target_kind(spec));
    let table = data::load_table(&path, Some(&target), &opts, &origin)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let target_column = table
        .target
        .as_ref()
        .expect("invariant: a required target is present in a loaded table");
    let last = spec
        .layers
        .last()
        .expect("invariant: resolve rejects models without layers");
    if let Target::Classes { names, .. } = &target_column.data {
        // A sigmoid over more than two classes gets its own diagnostic when the model is built.
        if last.activation != Activation::Sigmoid || names.len() == 2 {
            crate::lower::loss::check_class_weights(spec, names.len(), Some(names))?;
        }
    }
    let (encoding, target_width) = match &target_column.data {
        Target::Values(_) => (TargetEncoding::Standardized, 1),
        Target::Classes { names, .. } => {
            if last.activation == Activation::Sigmoid && names.len() == 2 {
                (TargetEncoding::Binary, 1)
            } else {
                (TargetEncoding::OneHot, names.len())
            }
        }
    };
    let target_what = match &target_column.data {
        Target::Values(_) => format!("the target column `{}`", target_column.name),
        Target::Classes { names, .. } => format!(
            "the target column `{}` ({} classes)",
            target_column.name,
            names.len()
        ),
    };
    Ok(TrainingTable {
        table,
        target,
        origin,
        path,
        encoding,
        target_width,
        target_what,
        load_seconds,
    })
}

/// Load, split and preprocess the data named by the flags or the file. Statistics are fitted on
/// the training rows only.
pub fn prepare_data(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
) -> Result<ModelData, Diagnostic> {
    let tt = load_training_table(spec, model_path, overrides)?;
    let mut load_seconds = tt.load_seconds;
    let table = &tt.table;
    let config = &spec.data.prepare;
    let (rows, dropped_missing) = data::usable_rows(table, config)?;
    let dropped_no_target = table.target.as_ref().map_or(0, |t| t.missing);
    let split = data::split(
        tt.target_data(),
        &rows,
        &SplitConfig {
            test_fraction: spec.data.test_fraction,
            validation_fraction: spec.data.validation_fraction,
            seed: spec.data.split_seed.unwrap_or(spec.train.seed),
        },
    )?;
    let preprocessing = data::fit(
        table,
        &split.train,
        config,
        tt.encoding,
        &spec.data.missing_markers,
    )?;
    let apply = |rows: &[usize]| preprocessing.apply(table, rows);
    let train = apply(&split.train)?;
    let mut validation = apply(&split.validation)?;
    let mut test = apply(&split.test)?;
    let mut warnings = table.warnings.clone();
    let shape = tt.shape(&preprocessing);
    let TrainingTable {
        table,
        target,
        origin,
        path,
        ..
    } = tt;
    // The table is no longer needed: free it before the held-out files and training.
    drop(table);
    // Held-out rows from their own files, read as the training file's columns were.
    let held_out = [
        (&spec.data.test_file, &mut test),
        (&spec.data.validation_file, &mut validation),
    ];
    for (file, part) in held_out {
        let Some((name, span)) = file else { continue };
        let origin = DataOrigin {
            nn: Some(spec.source.clone()),
            path_span: Some(*span),
            target_span: origin.target_span,
        };
        let started = Instant::now();
        // Every categorical feature (named in `categorical:` or found to hold text) is read as
        // one, even where this file's cells are all numbers or all missing.
        let opts = fitted_read_options(&preprocessing, &spec.data);
        let other = data::load_table(&beside(model_path, name), Some(&target), &opts, &origin)?;
        load_seconds += started.elapsed().as_secs_f64();
        let (rows, _) = data::usable_rows(&other, config)?;
        *part = preprocessing.apply(&other, &rows)?;
        warnings.extend(other.warnings);
    }
    Ok(ModelData {
        prepared: Prepared {
            train,
            validation,
            test,
            preprocessing,
        },
        shape,
        path,
        warnings,
        dropped_no_target,
        dropped_missing,
        load_seconds,
    })
}
