//! A trained model that outlives its run: `nnc run --out DIR` writes the weights, the `.nn`
//! source and the fitted preprocessing (through `artifacts`, atomically) with the run's metrics,
//! history and plots; `nnc predict` and `nnc eval` load it back, read a new file exactly as the
//! training file was read (same references, column types and categories) and run the compiled
//! model on it. Nothing here trains; a prediction from a loaded model is bit for bit the
//! prediction of the model that was saved.

use std::path::Path;

use crate::artifacts::{self, SavedModel, Tensor};
use crate::codegen::CodegenOptions;
use crate::data::{self, DataOrigin, Examples, FittedTarget, Matrix, Preprocessing, TargetKind};
use crate::data::{TargetEncoding, TargetSpec};
use crate::diag::{Diagnostic, Source};
use crate::lower::{DataShape, ModelSpec};
use crate::plots::{self, EpochLosses};
use crate::program::{self, Program};

use super::report::{Report, TestMetrics};
use super::session::{evaluate_examples, exec_error, fitted_read_options, RunOutcome};
use super::{Executor, JitExecutor};

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
    extra.push(("learning_curves.svg", curves.into_bytes()));
    if let Some(c) = report.test.as_ref().and_then(|t| t.classification.as_ref()) {
        let title = format!("{}: test confusion matrix", model.model_file_name);
        let svg =
            plots::confusion_matrix(&title, &c.confusion, &report.classes).map_err(plot_error)?;
        extra.push(("confusion_matrix.svg", svg.into_bytes()));
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
    let mut w = csv::Writer::from_writer(Vec::new());
    for e in &report.history {
        w.serialize(e)
            .expect("invariant: an epoch record serializes to CSV");
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

fn corrupt(dir: &Path, what: String) -> Diagnostic {
    Diagnostic::new(
        artifacts::CORRUPT,
        format!("the model in `{}` is damaged: {what}", dir.display()),
    )
    .with_help("save the model again with `nnc run MODEL.nn --out DIR`")
}

/// Load and compile the model saved in `dir`.
pub fn open(dir: &Path) -> Result<LoadedModel, Diagnostic> {
    let saved = artifacts::load(dir)?;
    let name = dir.join(artifacts::SOURCE_FILE).display().to_string();
    let source = Source::new(name, saved.model_source.clone());
    let spec = program::parse_model(&source)?;
    let preprocessing: Preprocessing = serde_json::from_value(saved.preprocessing.clone())
        .map_err(|e| corrupt(dir, format!("{}: {e}", artifacts::PREPROCESSING_FILE)))?;
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
        features_origin: None,
        target_width,
        target_origin: None,
    };
    let program = program::build(&spec, Some(&shape))?;
    let mut exec = JitExecutor::new(&program, spec.train.seed, &CodegenOptions::default())
        .map_err(|e| exec_error(&spec, e))?;
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
        if t.name != *name || t.shape != *shape || !exec.set_persistent(&t.name, &t.data) {
            return Err(corrupt(
                dir,
                format!(
                    "weight `{}` {:?} does not fit parameter `{name}` {shape:?}",
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

    /// Read `path` as the training file was read; with `labelled`, its target is required.
    fn read(&self, path: &Path, labelled: bool) -> Result<Examples, Diagnostic> {
        let p = &self.preprocessing;
        let opts = fitted_read_options(p, &self.spec.data);
        let target = TargetSpec::required(p.target_name(), self.target_kind());
        let table = data::load_table(
            path,
            labelled.then_some(&target),
            &opts,
            &DataOrigin::default(),
        )?;
        let rows: Vec<usize> = match &table.target {
            Some(t) => (0..table.rows).filter(|&r| t.data.is_present(r)).collect(),
            None => (0..table.rows).collect(),
        };
        p.apply(&table, &rows)
    }

    /// The model's outputs for every row of `path`, in file order: class probabilities (one
    /// column for a sigmoid output) or standardized values.
    pub fn predict(&mut self, path: &Path) -> Result<(Examples, Vec<f32>), Diagnostic> {
        let mut ex = self.read(path, false)?;
        let width = self.program.spec.layers.last().map_or(1, |l| l.units);
        // The loss needs targets; any will do for predictions, which do not depend on them.
        ex.y = Matrix {
            rows: ex.len(),
            cols: width,
            data: vec![0.0; ex.len() * width],
        };
        let (_, outputs) =
            super::evaluate(self.exec.as_mut(), &ex).map_err(|e| exec_error(&self.spec, e))?;
        Ok((ex, outputs))
    }

    /// The loss and metrics on the labelled rows of `path`.
    pub fn evaluate(&mut self, path: &Path) -> Result<(usize, TestMetrics), Diagnostic> {
        let ex = self.read(path, true)?;
        let m = evaluate_examples(self.exec.as_mut(), &ex, &self.preprocessing)
            .map_err(|e| exec_error(&self.spec, e))?;
        Ok((ex.len(), m))
    }

    /// Predictions as CSV text, one line per input row in input order: the row's number (1 for
    /// the first data row), the predicted class or value, and for classes each class's
    /// probability.
    pub fn predictions_csv(&self, examples: &Examples, outputs: &[f32]) -> String {
        let p = &self.preprocessing;
        let target = p.target_name();
        let mut w = csv::Writer::from_writer(Vec::new());
        let names = p.class_names();
        let mut header = vec!["row".to_string(), format!("predicted_{target}")];
        header.extend(names.iter().map(|n| format!("probability_{n}")));
        w.write_record(&header)
            .expect("invariant: writing CSV to memory cannot fail");
        let width = if examples.is_empty() {
            0
        } else {
            outputs.len() / examples.len()
        };
        for (i, row) in outputs.chunks(width.max(1)).enumerate() {
            let row_number = examples.rows.get(i).map_or(0, |r| r + 1);
            let mut record = vec![row_number.to_string()];
            match &p.target {
                FittedTarget::Values { .. } => record.push(p.unscale_target(row[0]).to_string()),
                FittedTarget::Classes { .. } => {
                    let probabilities: Vec<f32> = if width == 1 {
                        vec![1.0 - row[0], row[0]]
                    } else {
                        row.to_vec()
                    };
                    let class = super::metrics::predicted_classes(row, width)[0];
                    record.push(names[class].clone());
                    record.extend(probabilities.iter().map(|v| v.to_string()));
                }
            }
            w.write_record(&record)
                .expect("invariant: writing CSV to memory cannot fail");
        }
        let bytes = w
            .into_inner()
            .expect("invariant: writing CSV to memory cannot fail");
        String::from_utf8(bytes).expect("invariant: the CSV writer writes UTF-8")
    }
}
