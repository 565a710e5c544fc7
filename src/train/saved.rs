//! A trained model that outlives its run: `nnc run --out DIR` writes the weights, the `.nn`
//! source and the fitted preprocessing (through `artifacts`, atomically) with the run's metrics,
//! history and plots; `nnc predict` and `nnc eval` load it back, read a new file exactly as the
//! training file was read (same references, column types and categories) and run the compiled
//! model on it. Nothing here trains; a prediction from a loaded model is bit for bit the
//! prediction of the model that was saved.

mod check;
mod page;

use std::fmt::{Display, LowerExp};
use std::path::Path;

use crate::artifacts::{self, SavedModel, Tensor};
use crate::codegen::{kernels, CodegenOptions};
use crate::data::{self, DataOrigin, Examples, FittedTarget, Matrix, Preprocessing, TargetKind};
use crate::data::{TargetEncoding, TargetSpec};
use crate::diag::{Diagnostic, Source};
use crate::ir::ArgRole;
use crate::lower::{DataShape, ModelSpec};
use crate::plots::{self, EpochLosses};
use crate::program::{self, Program};

use super::inputs::file_rows;
use super::report::{FileRows, Report, TestMetrics};
use super::session::{exec_error, fitted_read_options, test_metrics, RunOutcome};
use super::{Executor, JitExecutor, Predictions};

/// Write the model of a finished run, with its report, history and plots, to `dir`.
pub fn save_run(dir: &Path, outcome: &RunOutcome) -> Result<(), Diagnostic> {
    let spec = &outcome.spec;
    let preprocessing = serde_json::to_value(&outcome.preprocessing)
        .expect("invariant: fitted preprocessing serializes to JSON");
    let file_name = Path::new(&spec.source.name)
        .file_name()
        .map_or_else(|| "model.nn".into(), |n| n.to_string_lossy().into_owned());
    let model = SavedModel {
        model_file_name: file_name,
        model_source: spec.source.text.to_string(),
        preprocessing,
        tensors: outcome
            .parameters
            .iter()
            .map(|(name, shape, data)| Tensor {
                name: name.clone(),
                shape: shape.clone(),
                data: data.clone(),
            })
            .collect(),
    };
    let report = &outcome.report;
    let mut extra = vec![
        ("metrics.json", report.to_json().into_bytes()),
        ("history.csv", history_csv(report).into_bytes()),
    ];
    if report.history.iter().any(|e| e.monitor.is_some()) {
        extra.push(("monitor.csv", monitor_csv(report).into_bytes()));
    }
    let epochs: Vec<EpochLosses> = report
        .history
        .iter()
        .map(|e| EpochLosses {
            epoch: e.epoch,
            train: e.train_loss,
            validation: e.val_loss,
        })
        .collect();
    let title = format!("{}: loss per epoch", model.model_file_name);
    let curves = plots::learning_curves(
        &title,
        &epochs,
        report.best_epoch,
        outcome.preprocessing.encoding(),
    )
    .map_err(plot_error)?;
    let panels = crate::monitor::panels::panels(&report.history);
    let statistics = if panels.is_empty() {
        None
    } else {
        let title = format!("{}: training statistics per epoch", model.model_file_name);
        Some(plots::panels(&title, &panels).map_err(plot_error)?)
    };
    let confusion = match report.test.as_ref().and_then(|t| t.classification.as_ref()) {
        Some(c) => {
            let title = format!("{}: test confusion matrix", model.model_file_name);
            Some(
                plots::confusion_matrix(&title, &c.confusion, &report.classes)
                    .map_err(plot_error)?,
            )
        }
        None => None,
    };
    let summary = crate::summary::summary(&outcome.program);
    let explanation = crate::explain::explain(&outcome.program);
    let html = page::render(
        report,
        &page::Parts {
            file_name: &model.model_file_name,
            source: &model.model_source,
            summary: &summary,
            explanation: &explanation,
            learning_curves: &curves,
            statistics: statistics.as_deref(),
            confusion: confusion.as_deref(),
        },
    );
    extra.push(("report.html", html.into_bytes()));
    extra.push(("learning_curves.svg", curves.into_bytes()));
    if let Some(svg) = statistics {
        extra.push(("training_statistics.svg", svg.into_bytes()));
    }
    if let Some(svg) = confusion {
        extra.push(("confusion_matrix.svg", svg.into_bytes()));
    }
    if let Some(bytes) = &outcome.checkpoint {
        // A later `--resume` (with more epochs) continues from here.
        extra.push((artifacts::CHECKPOINT_FILE, bytes.clone()));
    }
    artifacts::save(dir, &model, &extra)
}

/// A plot that could not be drawn, as the diagnostic `save_run` reports.
pub fn plot_error(e: plots::PlotError) -> Diagnostic {
    Diagnostic::new("nnc::model::plot", e.to_string())
        .with_help("this is a bug in nnc; the model itself can still be saved without plots")
}

/// Per epoch: train and validation loss and the validation metric, one line each.
pub fn history_csv(report: &Report) -> String {
    /// The epoch record's flat fields (its training statistics go to `monitor.csv`).
    #[derive(serde::Serialize)]
    struct Row {
        epoch: usize,
        train_loss: f64,
        val_loss: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        val_accuracy: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        val_mae: Option<f64>,
        seconds: f64,
    }
    csv_text(report.history.iter().map(|e| Row {
        epoch: e.epoch,
        train_loss: e.train_loss,
        val_loss: e.val_loss,
        val_accuracy: e.val_accuracy,
        val_mae: e.val_mae,
        seconds: e.seconds,
    }))
}

/// Per epoch, each training statistic (`monitor`) of each layer and parameter, one per line:
/// `epoch,subject,name,statistic,value` (`layer,1,dead_units,3`).
pub fn monitor_csv(report: &Report) -> String {
    #[derive(serde::Serialize)]
    struct Row {
        epoch: usize,
        subject: &'static str,
        name: String,
        statistic: &'static str,
        /// The shortest text that reads back (a count without a fraction: `3`, not `3.0`).
        value: String,
    }
    let mut rows = Vec::new();
    for e in &report.history {
        let Some(m) = &e.monitor else { continue };
        let mut row = |subject, name: String, statistic, value: f64| {
            rows.push(Row {
                epoch: e.epoch,
                subject,
                name,
                statistic,
                value: format!("{value}"),
            })
        };
        for l in &m.layers {
            row("layer", l.layer.to_string(), "mean", l.mean);
            row("layer", l.layer.to_string(), "std", l.std);
            if let Some(d) = l.dead_units {
                row("layer", l.layer.to_string(), "dead_units", d as f64);
            }
            if let Some(s) = l.saturated_units {
                row("layer", l.layer.to_string(), "saturated_units", s as f64);
            }
        }
        for p in &m.params {
            row(
                "parameter",
                p.name.clone(),
                "gradient_norm",
                p.gradient_norm,
            );
            row("parameter", p.name.clone(), "weight_norm", p.weight_norm);
            row(
                "parameter",
                p.name.clone(),
                "gradient_to_weight",
                p.gradient_to_weight,
            );
            if let Some(u) = p.update_to_weight {
                row("parameter", p.name.clone(), "update_to_weight", u);
            }
        }
    }
    csv_text(rows)
}

fn csv_text<T: serde::Serialize>(rows: impl IntoIterator<Item = T>) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)
            .expect("invariant: a flat record serializes to CSV");
    }
    let bytes = w
        .into_inner()
        .expect("invariant: writing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("invariant: the CSV writer writes UTF-8")
}

/// A saved model, compiled and ready to predict.
pub struct LoadedModel {
    pub spec: ModelSpec,
    pub preprocessing: Preprocessing,
    pub program: Program,
    exec: Box<dyn Executor>,
}

/// The rows of a file as the model saw them, and what it predicted for them.
pub struct Predicted {
    pub examples: Examples,
    pub predictions: Predictions,
    /// What is worth knowing about the file but did not stop the prediction: per categorical
    /// column, the rows whose category training never saw (`nnc::data::unseen_categories`).
    pub warnings: Vec<Diagnostic>,
}

/// The loss and metrics of a saved model on a labelled file.
pub struct Evaluated {
    pub rows: usize,
    pub metrics: TestMetrics,
    /// As for [`Predicted::warnings`].
    pub warnings: Vec<Diagnostic>,
    /// The file's rows and those left out (without a target, or under `missing: drop`).
    pub file: FileRows,
}

fn corrupt(dir: &Path, what: String) -> Diagnostic {
    Diagnostic::new(
        artifacts::CORRUPT,
        format!("the model in `{}` is damaged: {what}", dir.display()),
    )
    .with_help("save the model again with `nnc run MODEL.nn --out DIR`")
}

/// A saved model read back and checked, not compiled: what `open` compiles, and what an export
/// translates.
pub struct SavedParts {
    pub spec: ModelSpec,
    pub preprocessing: Preprocessing,
    pub program: Program,
    /// Every parameter and statistic, in `Program::saved_buffers` order, each checked against
    /// its buffer's name and shape.
    pub tensors: Vec<Tensor>,
}

/// Read the model saved in `dir` and check it whole: its fitted preprocessing (`check`), so that
/// nothing predicting or evaluating indexes or divides by can be out of range, and its weights
/// against the program built from its source.
pub fn read_parts(dir: &Path) -> Result<SavedParts, Diagnostic> {
    let saved = artifacts::load(dir)?;
    let name = dir.join(artifacts::SOURCE_FILE).display().to_string();
    let source = Source::new(name, saved.model_source.clone());
    let spec = program::parse_model(&source)?;
    let fitted = |e: String| corrupt(dir, format!("`{}`: {e}", artifacts::PREPROCESSING_FILE));
    let preprocessing: Preprocessing =
        serde_json::from_value(saved.preprocessing.clone()).map_err(|e| fitted(e.to_string()))?;
    check::fitted(&preprocessing, &spec).map_err(fitted)?;
    let target_width = match &preprocessing.target {
        FittedTarget::Classes {
            encoding: TargetEncoding::Binary,
            ..
        }
        | FittedTarget::Values { .. } => 1,
        FittedTarget::Classes { names, .. } => names.len(),
    };
    let shape = DataShape {
        features: preprocessing.input_width(),
        target_width,
        ..DataShape::default()
    };
    let program = program::build(&spec, Some(&shape))?;
    check::outputs(&preprocessing, &program).map_err(fitted)?;
    let buffers: Vec<(&str, &[usize])> = program.saved_buffers().collect();
    if saved.tensors.len() != buffers.len() {
        return Err(corrupt(
            dir,
            format!(
                "it holds {} weight tensors, the model has {} parameters and statistics",
                saved.tensors.len(),
                buffers.len()
            ),
        ));
    }
    for (t, (name, shape)) in saved.tensors.iter().zip(&buffers) {
        let fits =
            t.name == *name && t.shape == *shape && shape.iter().product::<usize>() == t.data.len();
        if !fits {
            return Err(corrupt(
                dir,
                format!(
                    "weight `{}` {:?} does not fit parameter `{name}` {shape:?}",
                    t.name, t.shape
                ),
            ));
        }
    }
    Ok(SavedParts {
        spec,
        preprocessing,
        program,
        tensors: saved.tensors,
    })
}

/// Load and compile the model saved in `dir` (read and checked by `read_parts`).
pub fn open(dir: &Path) -> Result<LoadedModel, Diagnostic> {
    let SavedParts {
        spec,
        preprocessing,
        program,
        tensors,
    } = read_parts(dir)?;
    let mut exec = JitExecutor::new(&program, spec.train.seed, &CodegenOptions::default())
        .map_err(|e| exec_error(&spec, e))?;
    for t in &tensors {
        if !exec.set_persistent(&t.name, &t.data) {
            return Err(corrupt(
                dir,
                format!(
                    "weight `{}` {:?} does not fit the compiled model",
                    t.name, t.shape
                ),
            ));
        }
    }
    Ok(LoadedModel {
        spec,
        preprocessing,
        program,
        exec: Box::new(exec),
    })
}

impl LoadedModel {
    fn target_kind(&self) -> TargetKind {
        match self.preprocessing.target {
            FittedTarget::Classes { .. } => TargetKind::Classes,
            FittedTarget::Values { .. } => TargetKind::Values,
        }
    }

    /// The width of the evaluation function's data argument `name` (`x` or `y`).
    fn data_width(&self, name: &str) -> usize {
        let f = &self.program.loss;
        f.args_with_role(ArgRole::Data)
            .find(|&v| f.name_of(v) == name)
            .and_then(|v| f.shape(v).last_fixed())
            .expect("invariant: the evaluation function takes `x` and `y` of fixed widths")
    }

    /// The model's outputs for every row of `path`, in file order: class probabilities (one
    /// column for a sigmoid output, with its logit) or standardized values. The whole file is
    /// held; [`LoadedModel::predict_to`] reads it a chunk at a time.
    pub fn predict(&mut self, path: &Path) -> Result<Predicted, Diagnostic> {
        let p = &self.preprocessing;
        let opts = fitted_read_options(p, &self.spec.data);
        let table = data::load_table(path, None, &opts, &DataOrigin::default())?;
        let rows: Vec<usize> = (0..table.rows).collect();
        let mut examples = p.apply(&table, &rows)?;
        let warnings = p.unseen_warnings(&table, &rows)?;
        self.zero_targets(&mut examples);
        let (_, predictions) = super::evaluate(self.exec.as_mut(), &examples)
            .map_err(|e| exec_error(&self.spec, e))?;
        Ok(Predicted {
            examples,
            predictions,
            warnings,
        })
    }

    /// The loss and metrics on the labelled rows of `path`, read a chunk at a time
    /// (`data::load_table_chunks`): of the rows, only their targets and predictions are held,
    /// and the metrics are those of the whole file read at once, to the bit.
    pub fn evaluate(&mut self, path: &Path) -> Result<Evaluated, Diagnostic> {
        let p = &self.preprocessing;
        let opts = fitted_read_options(p, &self.spec.data);
        let target = TargetSpec::required(p.target_name(), self.target_kind());
        let mut stream = super::StreamedEvaluation::new(self.exec.as_ref());
        // The targets of the rows evaluated: what the metrics read of the examples.
        let mut targets = Examples::default();
        let mut file = FileRows {
            role: "eval",
            path: path.display().to_string(),
            rows: 0,
            dropped_no_target: 0,
            dropped_missing: 0,
            drop_columns: Vec::new(),
        };
        let mut header = Vec::new();
        let mut tally = data::UnseenTally::default();
        let mut on_table = |table: data::Table| -> Result<(), Diagnostic> {
            // Labelled rows are used as a test file's are in training: a row without a target,
            // or with a missing value under `missing: drop`, is left out (and counted).
            let usable = data::usable_rows(&table, &self.spec.data.prepare)?;
            let chunk = file_rows("eval", path, &table, &usable);
            file.rows += chunk.rows;
            file.dropped_no_target += chunk.dropped_no_target;
            file.dropped_missing += chunk.dropped_missing;
            for column in chunk.drop_columns {
                if !file.drop_columns.contains(&column) {
                    file.drop_columns.push(column);
                }
            }
            header.clone_from(&table.header);
            let examples = p.apply(&table, &usable.rows)?;
            p.tally_unseen(&table, &usable.rows, &mut tally)?;
            stream
                .push(self.exec.as_mut(), &examples)
                .map_err(|e| exec_error(&self.spec, e))?;
            targets.x.rows += examples.len();
            targets.y.cols = examples.y.cols;
            targets.labels.extend(examples.labels);
            targets.values.extend(examples.values);
            Ok(())
        };
        data::load_table_chunks(
            path,
            Some(&target),
            &opts,
            &DataOrigin::default(),
            &mut on_table,
        )?;
        // In file order, as one read of the whole file lists them.
        file.drop_columns
            .sort_by_key(|c| header.iter().position(|h| h == c));
        let (loss, all) = stream
            .finish(self.exec.as_mut())
            .map_err(|e| exec_error(&self.spec, e))?;
        Ok(Evaluated {
            rows: targets.len(),
            metrics: test_metrics(loss, &all, &targets, p),
            warnings: tally.warnings(),
            file,
        })
    }

    /// Predictions as CSV text, one line per input row in input order: the row's number (1 for
    /// the first data row), the predicted class or value, and for classes each class's
    /// probability. Each number is written in its shortest form that reads back to the same
    /// value.
    pub fn predictions_csv(&self, predicted: &Predicted) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let row_number = |i: usize| predicted.examples.rows.get(i).map_or(0, |r| r + 1);
        self.write_header(&mut w)
            .and_then(|()| self.write_predictions(&mut w, &predicted.predictions, row_number))
            .expect("invariant: writing CSV to memory cannot fail");
        let bytes = w
            .into_inner()
            .expect("invariant: writing CSV to memory cannot fail");
        String::from_utf8(bytes).expect("invariant: the CSV writer writes UTF-8")
    }

    /// Predict every row of `path` a chunk at a time (`data::load_table_chunks`), writing the
    /// lines of [`LoadedModel::predictions_csv`] to `out` as each chunk is predicted: a file of
    /// any length is predicted in memory bounded by its width. `out_name` names `out` in a
    /// diagnostic about writing to it.
    pub fn predict_to(
        &mut self,
        path: &Path,
        out: &mut dyn std::io::Write,
        out_name: &str,
    ) -> Result<PredictSummary, Diagnostic> {
        let opts = fitted_read_options(&self.preprocessing, &self.spec.data);
        let mut w = csv::Writer::from_writer(out);
        let failed = |e: csv::Error| predictions_write_failed(out_name, &e.to_string());
        self.write_header(&mut w).map_err(failed)?;
        let mut tally = data::UnseenTally::default();
        let mut rows = 0;
        let mut on_table = |table: data::Table| -> Result<(), Diagnostic> {
            let all: Vec<usize> = (0..table.rows).collect();
            let p = &self.preprocessing;
            let mut examples = p.apply(&table, &all)?;
            p.tally_unseen(&table, &all, &mut tally)?;
            self.zero_targets(&mut examples);
            let (_, predictions) = super::evaluate(self.exec.as_mut(), &examples)
                .map_err(|e| exec_error(&self.spec, e))?;
            let row_number = |i: usize| table.first_row + i + 1;
            self.write_predictions(&mut w, &predictions, row_number)
                .map_err(failed)?;
            rows += table.rows;
            Ok(())
        };
        data::load_table_chunks(path, None, &opts, &DataOrigin::default(), &mut on_table)?;
        w.flush()
            .map_err(|e| predictions_write_failed(out_name, &e.to_string()))?;
        Ok(PredictSummary {
            rows,
            warnings: tally.warnings(),
        })
    }

    /// Targets of zeros for `examples`: the loss needs targets, and any will do for
    /// predictions, which do not depend on them.
    fn zero_targets(&self, examples: &mut Examples) {
        let width = self.data_width("y");
        examples.y = Matrix {
            rows: examples.len(),
            cols: width,
            data: vec![0.0; examples.len() * width],
        };
    }

    fn write_header<W: std::io::Write>(&self, w: &mut csv::Writer<W>) -> csv::Result<()> {
        let p = &self.preprocessing;
        let mut header = vec!["row".to_string(), format!("predicted_{}", p.target_name())];
        header.extend(p.class_names().iter().map(|n| format!("probability_{n}")));
        w.write_record(&header)
    }

    /// One line per row of `predictions`, numbered by `row_number` (of its index).
    fn write_predictions<W: std::io::Write>(
        &self,
        w: &mut csv::Writer<W>,
        predictions: &Predictions,
        row_number: impl Fn(usize) -> usize,
    ) -> csv::Result<()> {
        let p = &self.preprocessing;
        let names = p.class_names();
        let outputs = &predictions.outputs;
        let logits = &predictions.logits;
        let width = self.data_width("y");
        for (i, row) in outputs.chunks(width).enumerate() {
            let mut record = vec![row_number(i).to_string()];
            match &p.target {
                FittedTarget::Values { .. } => record.push(shortest(p.unscale_target(row[0]))),
                FittedTarget::Classes { .. } => {
                    let probabilities = match (width, logits.get(i)) {
                        (1, Some(&z)) => vec![negative_class(z), row[0]],
                        // A one-column output that is not a sigmoid layer's has no logit.
                        (1, None) => vec![1.0 - row[0], row[0]],
                        _ => row.to_vec(),
                    };
                    let class = super::metrics::predicted_classes(row, width)[0];
                    record.push(names[class].clone());
                    record.extend(probabilities.into_iter().map(shortest));
                }
            }
            w.write_record(&record)?;
        }
        Ok(())
    }
}

/// What [`LoadedModel::predict_to`] predicted: how many rows, and the warnings about them (as
/// [`Predicted::warnings`]).
pub struct PredictSummary {
    pub rows: usize,
    pub warnings: Vec<Diagnostic>,
}

/// The predictions could not be written to `out_name`.
pub fn predictions_write_failed(out_name: &str, why: &str) -> Diagnostic {
    Diagnostic::new(
        "nnc::io::predictions",
        format!("cannot write the predictions `{out_name}`: {why}"),
    )
    .with_help("check that the folder exists and is writable")
}

/// The probability of the negative class of a sigmoid output with logit `z`: sigmoid(−z), by
/// the compiled code's own sigmoid, so that both columns come from one function. 1 − sigmoid(z)
/// in f32 would lose the digits of a small probability and be 0 from z ≈ 16.6 on.
pub fn negative_class(z: f32) -> f32 {
    let mut p = [0.0f32];
    kernels::sigmoid(&[-z], &mut p);
    p[0]
}

/// The shortest text that reads back to the same number: Rust's shortest round-trip digits,
/// positional (`0.25`) or scientific (`1.435354e-16`), whichever is shorter.
pub fn shortest<T: Display + LowerExp>(v: T) -> String {
    let positional = v.to_string();
    let scientific = format!("{v:e}");
    if scientific.len() < positional.len() {
        scientific
    } else {
        positional
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every written number reads back to the same bits, and is no longer than either notation.
    #[test]
    fn numbers_are_written_shortest_and_read_back_exactly() {
        assert_eq!(shortest(1.435_354e-16_f32), "1.435354e-16");
        assert_eq!(shortest(0.25f32), "0.25");
        assert_eq!(shortest(1e10f32), "1e10");
        assert_eq!(shortest(123.5f32), "123.5");
        assert_eq!(shortest(-0.0f32), "-0");
        assert_eq!(shortest(3.6e-10f64), "3.6e-10");
        let specials = [
            0.0,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::MAX,
            f32::EPSILON,
        ];
        let spread = (0..u32::MAX).step_by(65_537).map(f32::from_bits);
        for v in specials.into_iter().chain(spread).filter(|v| v.is_finite()) {
            let text = shortest(v);
            let back: f32 = text.parse().unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{v:?} written as {text}");
            assert!(text.len() <= v.to_string().len().min(format!("{v:e}").len()));
            let wide = f64::from(v) * 1.5;
            let back: f64 = shortest(wide).parse().unwrap();
            assert_eq!(back.to_bits(), wide.to_bits());
        }
    }

    /// The negative class of a sigmoid is sigmoid(−z): exact where 1 − sigmoid(z) is off by
    /// 0.5% (z = 11.4) or 0 (z = 21.75), and the positive class by the same function.
    #[test]
    fn the_negative_class_comes_from_the_logit() {
        let exact = |z: f64| 1.0 / (1.0 + z.exp());
        for z in [11.4f32, 21.75, 0.0, -3.0, 40.0] {
            let p = f64::from(negative_class(z));
            let relative = (p - exact(f64::from(z))).abs() / exact(f64::from(z));
            assert!(
                relative < 1e-6,
                "z = {z}: {p} against {}",
                exact(f64::from(z))
            );
        }
        let mut positive = [0.0f32];
        kernels::sigmoid(&[21.75], &mut positive);
        assert_eq!(positive[0], 1.0);
        assert_eq!(negative_class(-21.75).to_bits(), positive[0].to_bits());
    }
}
