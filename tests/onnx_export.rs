//! `nnc export DIR --onnx FILE`: the exported file, with the fitted preprocessing inside, predicts
//! what `nnc predict` predicts. Two engines check it. ONNX Runtime (with `onnx.checker`) runs the
//! whole file from the raw columns, in a Python environment `tests/onnx/env.sh` makes
//! (`tests/onnx/check.py` compares). tract, a pure-Rust engine without `ai.onnx.ml`, runs the
//! network part from nnc's own model inputs, and a numeric regression whole. Every shipped
//! example, a messy table with text columns and empty cells (softmax, sigmoid and regression
//! targets), and a model using every activation and math function are checked.
//!
//! Set `NNC_SKIP_ONNXRUNTIME=1` to leave out the ONNX Runtime checks on a machine without Python
//! or the package index; they are never skipped otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{arg, nnc, ok, scratch, EXAMPLES};
use tract_onnx::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The python of the environment with ONNX and ONNX Runtime, made once per test process;
/// `None` when the checks are switched off.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if std::env::var_os("NNC_SKIP_ONNXRUNTIME").is_some() {
                eprintln!("NNC_SKIP_ONNXRUNTIME is set: ONNX Runtime checks left out");
                return None;
            }
            let out = Command::new(root().join("tests/onnx/env.sh"))
                .output()
                .expect("tests/onnx/env.sh runs");
            assert!(
                out.status.success(),
                "making the ONNX Runtime environment failed (set NNC_SKIP_ONNXRUNTIME=1 to leave \
                 these checks out): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
        })
        .as_deref()
}

/// Train `model` (with `args`) into `dir/saved`, export it to `dir/model.onnx` and predict
/// `data` into `dir/predictions.csv`; returns the saved folder.
fn train_export_predict(dir: &Path, model: &Path, data: &Path, args: &[&str]) -> PathBuf {
    let saved = dir.join("saved");
    let mut run = vec!["run", arg(model), "--out", arg(&saved), "--no-monitor"];
    run.extend(args);
    ok("run", nnc(&run));
    let onnx = dir.join("model.onnx");
    let said = ok(
        "export",
        nnc(&["export", arg(&saved), "--onnx", arg(&onnx)]),
    );
    assert!(said.contains("model.onnx"), "{said}");
    let predictions = dir.join("predictions.csv");
    let args = ["predict", arg(&saved), "--data", arg(data), "--output"];
    ok("predict", nnc(&[&args[..], &[arg(&predictions)]].concat()));
    saved
}

/// Run `tests/onnx/check.py` on `dir`'s exported file, `data` and predictions; its report.
fn onnx_runtime_agrees(what: &str, dir: &Path, data: &Path) -> Option<serde_json::Value> {
    let python = python()?;
    let out = Command::new(python)
        .arg(root().join("tests/onnx/check.py"))
        .args([
            dir.join("model.onnx").as_path(),
            data,
            &dir.join("predictions.csv"),
        ])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: ONNX Runtime disagrees with nnc predict: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["ok"], true, "{what}: {report}");
    Some(report)
}

/// Within 1e-5 of `want` relative, plus 1e-8 absolute (numpy's `allclose`).
fn close(got: f32, want: f32) -> bool {
    (got - want).abs() <= 1e-8 + 1e-5 * want.abs()
}

/// Run the network of the saved model `saved` (`Scope::Network`) in tract on the model inputs
/// nnc computes for `data`, and compare with nnc's outputs (and logits).
fn tract_agrees(what: &str, saved: &Path, data: &Path) {
    let mut loaded = nnc::train::saved::open(saved).unwrap();
    let predicted = loaded.predict(data).unwrap();
    let x = &predicted.examples.x;
    let bytes = nnc::export::onnx_network(saved).unwrap();
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .with_input_fact(0, f32::fact([x.rows, x.cols]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = tract_ndarray::Array2::from_shape_vec((x.rows, x.cols), x.data.clone()).unwrap();
    let outputs = model.run(tvec!(Tensor::from(input).into())).unwrap();
    let outputs: Vec<Vec<f32>> = (outputs.iter())
        .map(|o| {
            o.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .copied()
                .collect()
        })
        .collect();
    let bad = differing(&outputs[0], &predicted.predictions.outputs);
    assert_eq!(bad, 0, "{what}: {bad} outputs differ in tract");
    if !predicted.predictions.logits.is_empty() {
        let bad = differing(&outputs[1], &predicted.predictions.logits);
        assert_eq!(bad, 0, "{what}: {bad} logits differ in tract");
    }
}

/// How many of `got` are not `close` to `want`'s (all, when the lengths differ).
fn differing(got: &[f32], want: &[f32]) -> usize {
    if got.len() != want.len() {
        return want.len().max(got.len());
    }
    got.iter()
        .zip(want)
        .filter(|(g, w)| !close(**g, **w))
        .count()
}

#[test]
fn every_example_predicts_the_same_in_onnx_runtime_and_tract() {
    for name in EXAMPLES {
        let dir = scratch(name);
        let model = root().join(format!("examples/{name}.nn"));
        let text = std::fs::read_to_string(&model).unwrap();
        let data_name = text
            .split('"')
            .find(|s| s.ends_with(".csv"))
            .expect("the example names its data");
        let data = root().join("examples").join(data_name);
        let saved = train_export_predict(&dir, &model, &data, &["--epochs", "3"]);
        if let Some(report) = onnx_runtime_agrees(name, &dir, &data) {
            eprintln!("{name}: {report}");
        }
        tract_agrees(name, &saved, &data);
    }
}

// ---- a messy table ----

/// Iris with the mess of a real table: a colour and a grade as text (with empty cells and `NA`),
/// missing numbers, an outlier, and a numeric column named like values the exported graph makes
/// up for itself (`features`), so that a clash of names would show. `is_setosa` is a yes/no
/// target for the sigmoid model.
fn messy_rows(unseen: bool) -> String {
    let iris = std::fs::read_to_string(root().join("examples/data/iris.csv")).unwrap();
    let colors = ["red", "green", "blue", "", "NA"];
    let grades = ["A", "B", "C", "B", ""];
    let mut text = String::from(
        "sepal_length,features,petal_length,petal_width,color,grade,is_setosa,species\n",
    );
    for (i, line) in iris.lines().skip(1).enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        let mut cells: Vec<String> = c[..4].iter().map(|s| s.to_string()).collect();
        match i % 11 {
            3 => cells[0] = String::new(),
            5 => cells[2] = "NA".into(),
            7 => cells[3] = "?".into(),
            _ => {}
        }
        if i == 40 {
            cells[1] = "1e4".into();
        }
        let color = if unseen && i % 13 == 0 {
            "purple"
        } else {
            colors[i % 5]
        };
        cells.push(color.to_string());
        cells.push(grades[(i / 3) % 5].to_string());
        let setosa = if c[4] == "setosa" { "yes" } else { "no" };
        cells.push(setosa.to_string());
        cells.push(c[4].to_string());
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    text
}

fn messy_model(dir: &Path, target: &str, output: &str, loss: &str) -> PathBuf {
    let ignore = match target {
        "species" => "[is_setosa]",
        "is_setosa" => "[species]",
        _ => "[is_setosa]",
    };
    let text = format!(
        "data {{\n  path: \"messy.csv\"\n  target: {target}\n  ignore: {ignore}\n  missing: median\n\
         \x20 column sepal_length {{ missing: mean\n scaling: minmax }}\n\
         \x20 column features {{ outliers: clip(quantiles: 0.05)\n scaling: robust }}\n\
         \x20 column grade {{ missing: constant(\"B\") }}\n\
         \x20 column petal_width {{ missing: constant(0.5)\n outliers: clip(z: 2) }}\n}}\n\
         model {{\n  input\n  dense(12, activation: tanh, dropout: 0.1)\n  {output}\n}}\n\
         loss: {loss}\noptimizer: adam(learning_rate: 0.01)\n\
         train {{ epochs: 30 batch_size: 16 seed: 7 }}\n"
    );
    let path = dir.join("model.nn");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_messy_table_with_text_columns_and_empty_cells_predicts_the_same_in_onnx_runtime() {
    let cases = [
        ("species", "output(activation: softmax)", "cross_entropy"),
        ("is_setosa", "output(activation: sigmoid)", "cross_entropy"),
        ("petal_length", "output", "mse"),
    ];
    for (target, output, loss) in cases {
        let dir = scratch(&format!("messy-{target}"));
        std::fs::write(dir.join("messy.csv"), messy_rows(false)).unwrap();
        // New rows with a colour training never saw, predicted as nnc predicts them.
        let unseen = dir.join("unseen.csv");
        std::fs::write(&unseen, messy_rows(true)).unwrap();
        let model = messy_model(&dir, target, output, loss);
        let saved = train_export_predict(&dir, &model, &unseen, &[]);
        let report = onnx_runtime_agrees(target, &dir, &unseen);
        if let Some(report) = report {
            assert_eq!(report["rows"], 150, "{target}: {report}");
            eprintln!("messy {target}: {report}");
        }
        tract_agrees(target, &saved, &unseen);
    }
}

/// The graph holds the preprocessing the model was fitted with: a regression on numeric columns
/// (no `ai.onnx.ml`) runs whole in tract too, from raw columns with a missing value, and gives
/// `nnc predict`'s values.
#[test]
fn a_numeric_regression_runs_whole_in_tract_from_raw_columns() {
    let dir = scratch("numeric-whole");
    let data = dir.join("messy.csv");
    std::fs::write(&data, messy_rows(false)).unwrap();
    let text = "data {\n  path: \"messy.csv\"\n  target: petal_length\n  \
                ignore: [color, grade, is_setosa, species]\n  missing: median\n  \
                outliers: clip(z: 3)\n}\nmodel {\n  input\n  dense(8, activation: gelu)\n  \
                output\n}\nloss: mse\noptimizer: adam(learning_rate: 0.01)\n\
                train { epochs: 20 batch_size: 16 seed: 3 }\n";
    let model = dir.join("model.nn");
    std::fs::write(&model, text).unwrap();
    train_export_predict(&dir, &model, &data, &[]);
    let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    let mut plan = tract_onnx::onnx().model_for_read(&mut &bytes[..]).unwrap();
    let csv = std::fs::read_to_string(&data).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let inputs: Vec<String> = ["sepal_length", "features", "petal_width"]
        .map(String::from)
        .into();
    let mut feed = TVec::new();
    for (i, name) in inputs.iter().enumerate() {
        let col = header.iter().position(|h| h == name).unwrap();
        let values: Vec<f32> = rows
            .iter()
            .map(|r| r[col].parse::<f32>().unwrap_or(f32::NAN))
            .collect();
        plan = plan
            .with_input_fact(i, f32::fact([rows.len(), 1]).into())
            .unwrap();
        let t = tract_ndarray::Array2::from_shape_vec((rows.len(), 1), values).unwrap();
        feed.push(Tensor::from(t).into());
    }
    let plan = plan.into_optimized().unwrap().into_runnable().unwrap();
    let got = plan.run(feed).unwrap();
    let got: Vec<f32> = got[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    let predictions = std::fs::read_to_string(dir.join("predictions.csv")).unwrap();
    let want: Vec<f32> = predictions
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let bad = differing(&got, &want);
    assert_eq!(
        bad,
        0,
        "{bad} values differ: {:?} vs {:?}",
        &got[..4],
        &want[..4]
    );
}

/// Every activation, a layer written as math with every function and comparison of the
/// language, batch normalization, layer normalization, a residual sum, concatenation and
/// dropout: all export, and predict the same in both engines.
#[test]
fn every_activation_and_math_function_exports() {
    let dir = scratch("everything");
    let activations = [
        "linear",
        "sigmoid",
        "relu",
        "leaky_relu(alpha: 0.1)",
        "tanh",
        "elu(alpha: 0.7)",
        "selu",
        "gelu",
        "swish",
        "softplus",
        "softsign",
        "hard_sigmoid",
    ];
    let layers: String = activations
        .iter()
        .map(|a| format!("  dense(8, activation: {a})\n"))
        .collect();
    let text = format!(
        "def mix(x) {{\n  w = param(width(x), 8)\n  a = x @ w\n  \
         b = where(a > 0, sqrt(abs(a) + 1), expm1(a) * 0.5)\n  \
         c = where(a <= 0.5, log(softplus(a) + 1), exp(-a * a))\n  \
         d = max(a, -1) + min(a, 1) + relu(a) * sigmoid(a) - tanh(a) / 2\n  \
         e = where(a == 0, a, a - mean(a, axis: -1)) + sum(a, axis: -1) * 0.01\n  \
         f = where(a != 1, softmax(a) + log_softmax(a) * 0.1, a ^ 2 + (abs(a) + 1) ^ 0.5)\n  \
         add(b, c, d, e, f, (a / 3) ^ 3 @ transpose(w) @ w)\n}}\n\
         data {{\n  path: \"{}\"\n  target: species\n}}\n\
         model {{\n  input\n  h = dense(8, activation: relu)\n{layers}  \
         g = batchnorm\n  r = h + g\n  layernorm\n  m = mix\n  k = concat(m, r)\n  \
         dense(8, activation: relu, dropout: 0.2)\n  output(activation: softmax)\n}}\n\
         loss: cross_entropy\noptimizer: adam(learning_rate: 0.01)\n\
         train {{ epochs: 5 batch_size: 16 seed: 5 }}\n",
        arg(&root().join("examples/data/iris.csv"))
    );
    let model = dir.join("model.nn");
    std::fs::write(&model, text).unwrap();
    let data = root().join("examples/data/iris.csv");
    let saved = train_export_predict(&dir, &model, &data, &[]);
    if let Some(report) = onnx_runtime_agrees("everything", &dir, &data) {
        eprintln!("everything: {report}");
    }
    tract_agrees("everything", &saved, &data);
}

/// A feature column named like an output cannot be exported: a diagnostic that says which and
/// what to do, and no file.
#[test]
fn a_column_named_like_an_output_is_refused_by_name() {
    let dir = scratch("name-taken");
    let csv = std::fs::read_to_string(root().join("examples/data/iris.csv")).unwrap();
    let csv = csv.replacen("sepal_length_cm", "label", 1);
    std::fs::write(dir.join("named.csv"), &csv).unwrap();
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        "data {\n  path: \"named.csv\"\n  target: species\n}\nmodel {\n  input\n  \
         output(activation: softmax)\n}\nloss: cross_entropy\n\
         train { epochs: 1 batch_size: 16 seed: 1 }\n",
    )
    .unwrap();
    let saved = dir.join("saved");
    ok("run", nnc(&["run", arg(&model), "--out", arg(&saved)]));
    let onnx = dir.join("model.onnx");
    let out = nnc(&["export", arg(&saved), "--onnx", arg(&onnx)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nnc::export::name_taken"), "{err}");
    assert!(
        err.contains("`label`") && err.contains("rename the column"),
        "{err}"
    );
    assert!(!onnx.exists());
}

/// What the export reads must be a saved model: a missing folder is the loader's diagnostic,
/// and an unwritable target names the file.
#[test]
fn export_errors_name_the_folder_or_file() {
    let dir = scratch("errors");
    let out = nnc(&["export", arg(&dir.join("nothing")), "--onnx", "x.onnx"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nothing"), "{err}");

    let model = root().join("examples/iris.nn");
    let saved = dir.join("saved");
    ok(
        "run",
        nnc(&["run", arg(&model), "--out", arg(&saved), "--epochs", "1"]),
    );
    let target = dir.join("no/such/folder/model.onnx");
    let out = nnc(&["export", arg(&saved), "--onnx", arg(&target)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nnc::export::write_failed"), "{err}");
    let flat: String = err.split_whitespace().filter(|w| *w != "│").collect();
    assert!(flat.contains("no/such/folder/model.onnx"), "{err}");
}
