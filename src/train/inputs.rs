//! The data of a run, from the model file's `data` block (and its overrides) to the f32
//! matrices the executors take: the training file read and typed, the usable rows split, the
//! preprocessing fitted on the training rows and applied to every part, held-out files read as
//! the training file was. It also says how a file is read for a fitted model (`predict`, `eval`).
//! It must not compile or train.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::ColumnKind;
use crate::data::{
    self, DataOrigin, Feature, Named, Prepared, Preprocessing, ReadOptions, SplitConfig, Table,
    Target, TargetEncoding, TargetKind, TargetSpec, Usable,
};
use crate::diag::{Diagnostic, Span};
use crate::ir::Origin;
use crate::lower::spec::DataSpec;
use crate::lower::{Activation, DataShape, ModelSpec};

use super::overrides::Overrides;
use super::report::FileRows;

/// The data of a model, read, split and preprocessed, with what the model's ends must be.
pub struct ModelData {
    pub prepared: Prepared,
    pub shape: DataShape,
    pub path: PathBuf,
    /// Each file read (the data file, then a `test` and a `validation` file when given): its rows
    /// and those left out (without a target value, or with a missing value under `missing: drop`).
    pub files: Vec<FileRows>,
    /// Seconds spent reading and typing the data files.
    pub load_seconds: f64,
    /// For a file larger than `memory_limit`: its prepared parts, in files (the examples of
    /// `prepared` are then empty).
    pub streamed: Option<super::streamed::Streamed>,
}

impl ModelData {
    /// Rows in the training, validation and test parts.
    pub fn part_rows(&self) -> (usize, usize, usize) {
        match &self.streamed {
            Some(s) => (s.train.len(), s.validation.len(), s.test.len()),
            None => {
                let p = &self.prepared;
                (p.train.len(), p.validation.len(), p.test.len())
            }
        }
    }

    /// The training examples in memory: all of them, or a streamed run's first ones.
    pub fn train_sample(&self) -> &crate::data::Examples {
        match &self.streamed {
            Some(s) => &s.sample,
            None => &self.prepared.train,
        }
    }
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
        partial: false,
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
        partial: false,
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
            features_detail: features_detail(preprocessing),
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

/// The `column` blocks against the file: a column the file lacks is an error; a setting that does
/// nothing to its column (`unseen` of a numeric column, `outliers` or `scaling` of a categorical
/// one, any of the target or of an ignored column) is a warning in `table.warnings`.
fn check_column_blocks(
    data: &DataSpec,
    table: &mut Table,
    origin: &DataOrigin,
) -> Result<(), Diagnostic> {
    for block in &data.column_blocks {
        let name = &block.column.name;
        let Some(index) = table.column_index(name) else {
            return Err(data::unknown_column(
                table,
                &block.column,
                "a `column` block",
                origin,
            ));
        };
        let kind = table
            .columns
            .iter()
            .find(|c| c.index == index)
            .map(|c| c.kind);
        let idle: Vec<(&str, Span)> = match kind {
            // The target, or a column left out.
            None => block.settings.clone(),
            Some(ColumnKind::Numeric) => (block.settings.iter())
                .filter(|(key, _)| *key == "unseen")
                .copied()
                .collect(),
            Some(ColumnKind::Categorical) => (block.settings.iter())
                .filter(|(key, _)| matches!(*key, "outliers" | "scaling"))
                .copied()
                .collect(),
        };
        let Some(nn) = origin.nn.as_ref().filter(|_| !idle.is_empty()) else {
            continue;
        };
        let (what, why) = match kind {
            None if table.target.as_ref().is_some_and(|t| t.index == index) => {
                ("the target", "it is not an input".to_string())
            }
            None => ("left out", "the model does not take it".to_string()),
            Some(ColumnKind::Numeric) => (
                "numeric",
                "`unseen` is about categories seen in training".to_string(),
            ),
            Some(ColumnKind::Categorical) => (
                "categorical",
                "its categories are one-hot encoded, never clipped or scaled".to_string(),
            ),
        };
        let keys: Vec<String> = idle.iter().map(|(k, _)| format!("`{k}`")).collect();
        let mut warning = Diagnostic::new(
            "nnc::data::setting_without_effect",
            format!(
                "column `{name}` is {what}: {} in its `column` block {} no effect ({why})",
                keys.join(" and "),
                if idle.len() == 1 { "has" } else { "have" }
            ),
        )
        .with_source(nn);
        for (_, span) in &idle {
            warning = warning.with_label(*span, "no effect on this column");
        }
        let keys = keys.join(" and ");
        let help = match kind {
            Some(ColumnKind::Numeric) => format!(
                "remove {keys} from the block; if `{name}` holds codes rather than amounts, make it categorical with `categorical: [{name}]`"
            ),
            _ => format!("remove {keys} from the block"),
        };
        table.warnings.push(warning.with_help(help).as_warning());
    }
    Ok(())
}

/// What a model's inputs are made of when categories are among them: `4 numeric columns + 108
/// categories of `sample_id``, the categorical columns with the most categories first (three at
/// most by name).
fn features_detail(p: &Preprocessing) -> Option<String> {
    const NAMED: usize = 3;
    let numeric = (p.features.iter())
        .filter(|f| matches!(f, Feature::Numeric { .. }))
        .count();
    let mut categorical: Vec<(&str, usize)> = (p.features.iter())
        .filter(|f| matches!(f, Feature::Categorical { .. }))
        .map(|f| (f.name(), f.width()))
        .collect();
    if categorical.is_empty() {
        return None;
    }
    categorical.sort_by_key(|c| std::cmp::Reverse(c.1));
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if numeric > 0 {
        parts.push(plural(numeric, "numeric column", "numeric columns"));
    }
    for (name, width) in categorical.iter().take(NAMED) {
        parts.push(format!(
            "{} of `{name}`",
            plural(*width, "category", "categories")
        ));
    }
    if categorical.len() > NAMED {
        let rest = &categorical[NAMED..];
        let inputs: usize = rest.iter().map(|c| c.1).sum();
        parts.push(format!(
            "{} of {} other columns",
            plural(inputs, "category", "categories"),
            rest.len()
        ));
    }
    Some(parts.join(" + "))
}

/// Where the data file named by the flags or the file is (paths in the file are relative to its
/// folder), its target, and the options it is read with.
pub fn locate_data(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
) -> Result<Located, Diagnostic> {
    let mut origin = DataOrigin {
        nn: Some(spec.source.clone()),
        ..DataOrigin::default()
    };
    let path = match (&overrides.data, &spec.data.path) {
        (Some(p), _) => {
            origin.path_flag = Some("--data");
            p.clone()
        }
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
    // With no target named, the last column is the target (the usual layout of such files).
    let target = match target {
        Some(t) => t,
        None => data::last_column(&path, &opts, &origin)?,
    };
    let target = TargetSpec::required(&target, target_kind(spec));
    Ok(Located {
        path,
        origin,
        target,
        opts,
    })
}

/// Where a model's training data is and how it is read.
pub struct Located {
    pub path: PathBuf,
    pub origin: DataOrigin,
    pub target: TargetSpec,
    pub opts: ReadOptions,
}

/// Read the data file named by the flags or the file (paths in the file are relative to its
/// folder) and type its columns.
pub fn load_training_table(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
) -> Result<TrainingTable, Diagnostic> {
    let started = Instant::now();
    let Located {
        path,
        origin,
        target,
        opts,
    } = locate_data(spec, model_path, overrides)?;
    let table = data::load_table(&path, Some(&target), &opts, &origin)?;
    let load_seconds = started.elapsed().as_secs_f64();
    training_table(spec, table, target, origin, path, load_seconds)
}

/// The checks of a training table read whole (or, for a streamed file, of its first chunk with
/// the whole file's classes), and what the model's output must be.
pub fn training_table(
    spec: &ModelSpec,
    mut table: Table,
    target: TargetSpec,
    origin: DataOrigin,
    path: PathBuf,
    load_seconds: f64,
) -> Result<TrainingTable, Diagnostic> {
    check_column_blocks(&spec.data, &mut table, &origin)?;
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
/// the training rows only. Warnings about the data go to `warn` as they are found, so that they
/// are shown even when an error follows.
pub fn prepare_data(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
    warn: &mut dyn FnMut(Diagnostic),
) -> Result<ModelData, Diagnostic> {
    if let Some(limit) = super::streamed::streaming_limit(spec, model_path, overrides) {
        return super::streamed::prepare_streamed(spec, model_path, overrides, limit, warn);
    }
    let tt = load_training_table(spec, model_path, overrides)?;
    tt.table.warnings.iter().cloned().for_each(&mut *warn);
    let mut load_seconds = tt.load_seconds;
    let table = &tt.table;
    let config = &spec.data.prepare;
    let usable = data::usable_rows(table, config)?;
    let mut files = vec![file_rows("data", &tt.path, table, &usable)];
    let split = data::split(
        tt.target_data(),
        &usable.rows,
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
    for held in held_out_files(spec, model_path, overrides, &origin) {
        let (role, path, file_origin) = (held.role, held.path, held.origin);
        let part = match role {
            "test" => &mut test,
            _ => &mut validation,
        };
        let started = Instant::now();
        // Every categorical feature (named in `categorical:` or found to hold text) is read as
        // one, even where this file's cells are all numbers or all missing.
        let opts = fitted_read_options(&preprocessing, &spec.data);
        let other = data::load_table(&path, Some(&target), &opts, &file_origin)?;
        load_seconds += started.elapsed().as_secs_f64();
        other.warnings.iter().cloned().for_each(&mut *warn);
        let usable = data::usable_rows(&other, config)?;
        files.push(file_rows(role, &path, &other, &usable));
        *part = preprocessing.apply(&other, &usable.rows)?;
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
        files,
        load_seconds,
        streamed: None,
    })
}

/// What the model's ends must be for its data: [`prepare_data`]'s shape, without preparing a
/// file too large for memory (its first pass settles the shape).
pub fn prepare_shape(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
    warn: &mut dyn FnMut(Diagnostic),
) -> Result<DataShape, Diagnostic> {
    if super::streamed::streaming_limit(spec, model_path, overrides).is_some() {
        return super::streamed::streamed_shape(spec, model_path, overrides, warn);
    }
    Ok(prepare_data(spec, model_path, overrides, warn)?.shape)
}

/// A `test:` or `validation:` file of a model: its role, its path and where it was given.
pub struct HeldOutFile {
    pub role: &'static str,
    pub path: PathBuf,
    pub origin: DataOrigin,
}

/// The held-out files the model file or the flags name, test first. A flag's path is relative
/// to the current folder, a file's to the model file's; `origin` is the training file's (its
/// target's span is theirs too).
pub fn held_out_files(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
    origin: &DataOrigin,
) -> Vec<HeldOutFile> {
    let named = [
        (
            "test",
            &spec.data.test_file,
            &overrides.test_data,
            "--test-data",
        ),
        (
            "validation",
            &spec.data.validation_file,
            &overrides.validation_data,
            "--validation-data",
        ),
    ];
    let mut files = Vec::new();
    for (role, file, flag_path, flag) in named {
        let Some((name, span)) = file else { continue };
        let mut file_origin = DataOrigin {
            nn: Some(spec.source.clone()),
            target_span: origin.target_span,
            ..DataOrigin::default()
        };
        let path = match flag_path {
            Some(p) => {
                file_origin.path_flag = Some(flag);
                p.clone()
            }
            None => {
                file_origin.path_span = Some(*span);
                beside(model_path, name)
            }
        };
        files.push(HeldOutFile {
            role,
            path,
            origin: file_origin,
        });
    }
    files
}

/// What `role`'s file at `path` held and what of it was left out.
pub fn file_rows(role: &'static str, path: &Path, table: &Table, usable: &Usable) -> FileRows {
    FileRows {
        role,
        path: path.display().to_string(),
        rows: table.rows,
        dropped_no_target: table.target.as_ref().map_or(0, |t| t.missing),
        dropped_missing: usable.dropped_missing,
        drop_columns: usable.drop_columns.clone(),
    }
}
