//! A run whose data file would take more memory than `memory_limit` allows: the file is read a
//! chunk at a time, never whole. The first pass types the columns, counts the rows and fits the
//! preprocessing on the training rows (`data::stream::fit`); the second applies it and writes
//! each part's prepared rows to its file (`data::stream::cache`), from which training takes
//! them through a bounded shuffle buffer and validation and test a chunk at a time. A row's part
//! comes from a hash of the split seed and its row number (`data::stream::part_of`). Held-out
//! files (`test:`, `validation:`) are read as the training file is, a chunk at a time.

use std::path::Path;
use std::time::Instant;

use crate::data::stream::cache::{RowCache, Truth};
use crate::data::stream::fit::StreamedFit;
use crate::data::stream::{self, Part};
use crate::data::{
    self, DataOrigin, Examples, Prepared, ReadOptions, SplitConfig, Table, Target, TargetSpec,
};
use crate::diag::Diagnostic;
use crate::lower::ModelSpec;

use super::inputs::{
    beside, fitted_read_options, held_out_files, locate_data, training_table, Located, ModelData,
};
use super::overrides::Overrides;
use super::report::FileRows;

/// Training rows kept in memory for the checks made before training (inputs left unscaled, the
/// loss of a constant guess): the first this many of the file.
pub const SAMPLE_ROWS: usize = 10_000;

/// The prepared parts of a streamed run, in their files.
#[derive(Debug)]
pub struct Streamed {
    pub train: RowCache,
    pub validation: RowCache,
    pub test: RowCache,
    /// The first training rows, for the checks made before training.
    pub sample: Examples,
    /// Rows the training shuffle buffer holds.
    pub buffer_rows: usize,
    /// The limit the run keeps to.
    pub limit: u64,
}

/// The memory limit of a run, when its data must be streamed under it: when reading its data
/// file and its `test:` and `validation:` files whole would take more (by
/// `stream::estimated_memory`). A pipe is never streamed: it cannot be read twice.
pub fn streaming_limit(spec: &ModelSpec, model_path: &Path, overrides: &Overrides) -> Option<u64> {
    let limit = spec
        .data
        .memory_limit
        .unwrap_or_else(stream::default_memory_limit);
    let data = match (&overrides.data, &spec.data.path) {
        (Some(p), _) => p.clone(),
        (None, Some((p, _))) => beside(model_path, p),
        (None, None) => return None,
    };
    let need = stream::estimated_memory(&data)?;
    let held_out: u64 = held_out_files(spec, model_path, overrides, &DataOrigin::default())
        .iter()
        .filter_map(|f| stream::estimated_memory(&f.path))
        .sum();
    (need.saturating_add(held_out) > limit).then_some(limit)
}

/// A streamed run's batch must fit in the shuffle buffer's share of the limit, or one batch
/// would hold more than the run may: `batch_size: all` on a file larger than memory, most
/// often.
pub fn check_batch(spec: &ModelSpec, streamed: &Streamed) -> Result<(), Diagnostic> {
    let rows = spec.train.batch_size.min(streamed.train.len());
    let bytes = rows as u64 * streamed.train.row_bytes() as u64;
    if bytes <= streamed.limit / 4 {
        return Ok(());
    }
    Err(Diagnostic::new(
        "nnc::train::batch_over_limit",
        format!(
            "a batch of {rows} rows takes {} of memory, more than the quarter of `memory_limit` ({}) a streamed run gives its rows",
            stream::show_size(bytes),
            stream::show_size(streamed.limit / 4),
        ),
    )
    .with_source(&spec.source)
    .with_label(spec.data.span, "its training file is larger than `memory_limit`")
    .with_help(format!(
        "use a smaller `batch_size` (at most {} rows here), or raise `memory_limit`",
        (streamed.limit / 4) / streamed.train.row_bytes() as u64
    )))
}

/// Rows and dropped rows of a file read a chunk at a time.
fn add_counts(rows: &mut FileRows, chunk: &Table, usable: &data::Usable) {
    rows.rows += chunk.rows;
    rows.dropped_no_target += chunk.target.as_ref().map_or(0, |t| t.missing);
    rows.dropped_missing += usable.dropped_missing;
    for c in &usable.drop_columns {
        if !rows.drop_columns.contains(c) {
            rows.drop_columns.push(c.clone());
        }
    }
}

fn file_rows(role: &'static str, path: &Path) -> FileRows {
    FileRows {
        role,
        path: path.display().to_string(),
        rows: 0,
        dropped_no_target: 0,
        dropped_missing: 0,
        drop_columns: Vec::new(),
    }
}

/// What the first pass over a streamed file settles.
struct FirstPass {
    located: Located,
    /// The target's reference in the first chunk: the prepared rows' targets are stored
    /// relative to it, as a file read whole stores them.
    target_reference: Option<f64>,
    split: SplitConfig,
    tt: super::inputs::TrainingTable,
    preprocessing: crate::data::Preprocessing,
    counts: FileRows,
}

/// The part (0 train, 1 validation, 2 test) of each of a chunk's `usable` rows.
fn parts(split: &SplitConfig, chunk: &Table, usable: &[usize]) -> [Vec<usize>; 3] {
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for &r in usable {
        let i = match stream::part_of(chunk.first_row + r, split) {
            Part::Train => 0,
            Part::Validation => 1,
            Part::Test => 2,
        };
        out[i].push(r);
    }
    out
}

/// The first pass: the file's columns typed, its rows counted, the preprocessing fitted on its
/// training rows (with one more pass for clipped values under standard scaling).
fn first_pass(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
    warn: &mut dyn FnMut(Diagnostic),
) -> Result<FirstPass, Diagnostic> {
    let located = locate_data(spec, model_path, overrides)?;
    let Located {
        path,
        origin,
        target,
        opts,
    } = &located;
    let config = &spec.data.prepare;
    let split = SplitConfig {
        test_fraction: spec.data.test_fraction,
        validation_fraction: spec.data.validation_fraction,
        seed: spec.data.split_seed.unwrap_or(spec.train.seed),
    };
    data::check_fractions(&split)?;
    // The first chunk, typed as a file read whole is (its warnings, a target of measurements
    // given to a classification loss), settles the columns' kinds and references; the whole
    // file is then read as a fitted model's file is.
    let partial = ReadOptions {
        partial: true,
        ..opts.clone()
    };
    let mut first = data::load_first_chunk(path, Some(target), &partial, origin)?;
    let settled = stream::settled_options(&partial, &first);
    let mut fit = StreamedFit::new(&first, config)?;
    let mut counts = file_rows("data", path);
    data::load_table_chunks(path, Some(target), &settled, origin, &mut |chunk| {
        let usable = data::usable_rows(&chunk, config)?;
        add_counts(&mut counts, &chunk, &usable);
        let [train, _, _] = parts(&split, &chunk, &usable.rows);
        fit.add(&chunk, &train)
    })?;
    let classes = fit.class_names();
    if let (Some(t), true) = (
        &first.target,
        classes.len() < 2 && spec.loss.kind().is_classification(),
    ) {
        let only = classes.first().map_or("", String::as_str);
        return Err(data::single_class(&first, t.index, only, origin));
    }
    if fit.train_rows() == 0 {
        let usable = counts.rows - counts.dropped_no_target - counts.dropped_missing;
        return Err(data::empty_train(usable, &split));
    }
    // The first chunk stands for the file in the checks of a training table, with the classes
    // of every chunk.
    if let Some(Target::Classes { names, .. }) = first.target.as_mut().map(|t| &mut t.data) {
        *names = classes;
    }
    // The warnings about the columns come from the first chunk, typed as a whole file would be
    // (the rest is read as a fitted model's file, which raises none), with those about the
    // `column` blocks.
    let tt = training_table(
        spec,
        first,
        target.clone(),
        origin.clone(),
        path.clone(),
        0.0,
    )?;
    tt.table.warnings.iter().cloned().for_each(&mut *warn);
    fit.settle();
    if fit.needs_clipped_pass() {
        data::load_table_chunks(path, Some(target), &settled, origin, &mut |chunk| {
            let usable = data::usable_rows(&chunk, config)?;
            let [train, _, _] = parts(&split, &chunk, &usable.rows);
            fit.add_clipped(&chunk, &train);
            Ok(())
        })?;
    }
    let classification = matches!(tt.target_data(), Target::Classes { .. });
    let preprocessing = fit.finish(
        &target.name,
        tt.encoding,
        &spec.data.missing_markers,
        classification,
    );
    let target_reference = (settled.references.as_ref())
        .and_then(|r| r.get(&target.name))
        .copied();
    Ok(FirstPass {
        located,
        target_reference,
        split,
        tt,
        preprocessing,
        counts,
    })
}

/// What the model's ends must be, from the first pass alone (for `nnc check` and `nnc build`).
pub fn streamed_shape(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
    warn: &mut dyn FnMut(Diagnostic),
) -> Result<crate::lower::DataShape, Diagnostic> {
    let first = first_pass(spec, model_path, overrides, warn)?;
    Ok(first.tt.shape(&first.preprocessing))
}

/// [`super::inputs::prepare_data`] for a file larger than `limit`.
pub fn prepare_streamed(
    spec: &ModelSpec,
    model_path: &Path,
    overrides: &Overrides,
    limit: u64,
    warn: &mut dyn FnMut(Diagnostic),
) -> Result<ModelData, Diagnostic> {
    let started = Instant::now();
    let FirstPass {
        located:
            Located {
                path,
                origin,
                target,
                ..
            },
        target_reference,
        split,
        tt,
        preprocessing,
        counts,
    } = first_pass(spec, model_path, overrides, warn)?;
    let config = &spec.data.prepare;
    let classification = matches!(tt.target_data(), Target::Classes { .. });
    let shape = tt.shape(&preprocessing);

    // Second pass: each part's prepared rows into its file.
    let truth = if classification {
        Truth::Labels
    } else {
        Truth::Values
    };
    let new_cache = || {
        RowCache::new(preprocessing.input_width(), tt.target_width, truth)
            .map_err(|e| super::session::temporary_error(&e))
    };
    let (mut caches, mut sample) = (
        [new_cache()?, new_cache()?, new_cache()?],
        Examples::default(),
    );
    let held_out_options = fitted_read_options(&preprocessing, &spec.data);
    let mut fitted = held_out_options.clone();
    if let (Some(refs), Some(r)) = (fitted.references.as_mut(), target_reference) {
        refs.insert(target.name.clone(), r);
    }
    data::load_table_chunks(&path, Some(&target), &fitted, &origin, &mut |chunk| {
        let usable = data::usable_rows(&chunk, config)?;
        for (i, rows) in parts(&split, &chunk, &usable.rows).iter().enumerate() {
            let mut ex = preprocessing.apply(&chunk, rows)?;
            ex.rows.iter_mut().for_each(|r| *r += chunk.first_row);
            if i == 0 && sample.len() < SAMPLE_ROWS {
                append_sample(&mut sample, &ex);
            }
            caches[i]
                .append(&ex)
                .map_err(|e| super::session::temporary_error(&e))?;
        }
        Ok(())
    })?;
    let mut files = vec![counts];

    // Held-out files, read as the training file's columns were, a chunk at a time.
    for held in held_out_files(spec, model_path, overrides, &origin) {
        let (role, held_path, file_origin) = (held.role, held.path, held.origin);
        let i = match role {
            "test" => 2,
            _ => 1,
        };
        let mut rows = file_rows(role, &held_path);
        let cache = &mut caches[i];
        let target: &TargetSpec = &target;
        // As a held-out file in memory is read: without the training file's target reference.
        data::load_table_chunks(
            &held_path,
            Some(target),
            &held_out_options,
            &file_origin,
            &mut |chunk| {
                chunk.warnings.iter().cloned().for_each(&mut *warn);
                let usable = data::usable_rows(&chunk, config)?;
                add_counts(&mut rows, &chunk, &usable);
                let mut ex = preprocessing.apply(&chunk, &usable.rows)?;
                ex.rows.iter_mut().for_each(|r| *r += chunk.first_row);
                cache
                    .append(&ex)
                    .map_err(|e| super::session::temporary_error(&e))
            },
        )?;
        files.push(rows);
    }
    for cache in &mut caches {
        cache
            .seal()
            .map_err(|e| super::session::temporary_error(&e))?;
    }
    let [train, validation, test] = caches;
    // A quarter of the limit for the shuffle buffer: the rest is for reading chunks, the
    // compiled step and the held-out parts' predictions.
    let buffer_rows = ((limit / 4) as usize / train.row_bytes()).max(1);
    Ok(ModelData {
        prepared: Prepared {
            train: Examples::default(),
            validation: Examples::default(),
            test: Examples::default(),
            preprocessing,
        },
        shape,
        path,
        files,
        load_seconds: started.elapsed().as_secs_f64(),
        streamed: Some(Streamed {
            train,
            validation,
            test,
            sample,
            buffer_rows,
            limit,
        }),
    })
}

/// The rows of `ex` after those of `sample`, up to `SAMPLE_ROWS` in all.
fn append_sample(sample: &mut Examples, ex: &Examples) {
    let take = (SAMPLE_ROWS - sample.len()).min(ex.len());
    let (xc, yc) = (ex.x.cols, ex.y.cols);
    sample.x.cols = xc;
    sample.y.cols = yc;
    sample.x.data.extend_from_slice(&ex.x.data[..take * xc]);
    sample.y.data.extend_from_slice(&ex.y.data[..take * yc]);
    sample.x.rows += take;
    sample.y.rows += take;
    sample.labels.extend(ex.labels.iter().take(take));
    sample.values.extend(ex.values.iter().take(take));
    sample.rows.extend(ex.rows.iter().take(take));
}
