//! A model saved with `nnc run --out DIR` and used again: its weights are the trained ones bit
//! for bit, `nnc predict` gives bit for bit the outputs the trained model gave on its test rows,
//! `nnc eval` on those rows reproduces the run's test metrics exactly, and bad data or a damaged
//! model directory is a clear error with exit code 1, never a panic.

mod common;

use common::{nnc, scratch};

use std::path::{Path, PathBuf};
use std::process::Output;

use nnc::artifacts;
use nnc::codegen::CodegenOptions;
use nnc::train::saved;
use nnc::train::session::{self, Overrides, RunOptions, RunOutcome};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(what: &str, o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(0), "{what}: exit 0, stderr: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    stdout(o)
}

/// The command failed cleanly with exit code 1, with `code` in its diagnostic.
fn fails(what: &str, o: &Output, code: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{what}: exit 1, stderr: {err}");
    assert!(!err.contains("panicked"), "{what}: no panic: {err}");
    assert!(err.contains(code), "{what}: {code} in {err}");
    assert!(err.contains("help:"), "{what}: a help line in {err}");
    err
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn shipped(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

const EPOCHS: u64 = 20;

/// Train `model` in this process, as `nnc run --epochs 20` does.
fn train(model: &Path) -> RunOutcome {
    let opts = RunOptions {
        overrides: Overrides {
            epochs: Some(EPOCHS),
            ..Default::default()
        },
        interpret: false,
        codegen: CodegenOptions::default(),
        persistence: Default::default(),
    };
    session::run(model, &opts, |_| {}, |_, _, _| {}, |_| {})
        .unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The saved weights are the run's parameters: same names, shapes and bits, in order.
fn assert_weights_are(dir: &Path, outcome: &RunOutcome, what: &str) {
    let saved = artifacts::load(dir).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    assert_eq!(saved.tensors.len(), outcome.parameters.len(), "{what}");
    for (t, (name, shape, data)) in saved.tensors.iter().zip(&outcome.parameters) {
        assert_eq!((&t.name, &t.shape), (name, shape), "{what}");
        assert!(bits(&t.data) == bits(data), "{what}: weights of `{name}`");
    }
}

/// The lines of a CSV file whose data rows are `rows` (0-based), header first.
fn subset(text: &str, rows: &[usize]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    std::iter::once(lines[0])
        .chain(rows.iter().map(|&r| lines[r + 1]))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The CSV text without the column named `name`.
fn without_column(text: &str, name: &str) -> String {
    let at = text
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|h| h == name)
        .unwrap();
    text.lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let kept: Vec<&str> = (cells.iter().enumerate())
                .filter(|(i, _)| *i != at)
                .map(|(_, c)| *c)
                .collect();
            kept.join(",") + "\n"
        })
        .collect()
}

/// JSON text without white space (the texts compared hold no strings with spaces). Numbers are
/// written in their shortest form that reads back exactly, so equal texts mean equal bits;
/// comparing parsed values would not, as parsing may round the last bit.
fn compact(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The compact text of the `"test"` object of a run report.
fn test_object(report: &str) -> String {
    let text = compact(report);
    let start = text.find("\"test\":{").expect("a test object") + "\"test\":".len();
    let mut depth = 0;
    for (i, c) in text[start..].char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return text[start..=start + i].to_string();
                }
            }
            _ => {}
        }
    }
    panic!("an unterminated test object in {report}")
}

/// The predicted class of each row of model outputs, as the metrics pick it.
fn classes_of(outputs: &[f32], width: usize) -> Vec<usize> {
    if width == 1 {
        outputs.iter().map(|&p| usize::from(p > 0.5)).collect()
    } else {
        outputs
            .chunks(width)
            .map(|r| (0..width).fold(0, |best, i| if r[i] > r[best] { i } else { best }))
            .collect()
    }
}

#[test]
fn a_saved_model_predicts_bit_for_bit_what_the_trained_model_did() {
    for (example, csv, target) in [
        ("iris.nn", "iris.csv", "species"),
        ("breast_cancer.nn", "breast_cancer.csv", "diagnosis"),
        // Batch normalization's running statistics are saved with the weights.
        ("residual.nn", "digits.csv", "digit"),
    ] {
        let dir = scratch(example);
        let model = shipped(&format!("examples/{example}"));
        let data = shipped(&format!("examples/data/{csv}"));
        let text = std::fs::read_to_string(&data).unwrap();
        let n = text.lines().count() - 1;

        // In this process: train, save, load, predict on the training file.
        let outcome = train(&model);
        let here = dir.join("in-process");
        saved::save_run(&here, &outcome).unwrap_or_else(|d| panic!("{}", d.render_plain()));
        assert_weights_are(&here, &outcome, example);
        let mut loaded = saved::open(&here).unwrap_or_else(|d| panic!("{}", d.render_plain()));
        let predicted = loaded.predict(&data).unwrap();
        let (outputs, logits) = (
            &predicted.predictions.outputs,
            &predicted.predictions.logits,
        );
        assert_eq!(
            predicted.examples.rows,
            (0..n).collect::<Vec<_>>(),
            "{example}"
        );
        let width = outputs.len() / n;
        let classes = match target {
            "species" => 3,
            "digit" => 10,
            _ => 1,
        };
        assert_eq!(width, classes);
        // A sigmoid output comes with its logit, and nothing else does.
        assert_eq!(logits.len(), if width == 1 { n } else { 0 }, "{example}");

        // The test rows: the loaded model's outputs are the trained model's, bit for bit.
        let test = &outcome.test_rows;
        assert_eq!(test.len(), outcome.report.rows.test, "{example}");
        assert_eq!(outcome.test_outputs.len(), test.len() * width);
        for (i, &r) in test.iter().enumerate() {
            let trained = &outcome.test_outputs[i * width..(i + 1) * width];
            let reloaded = &outputs[r * width..(r + 1) * width];
            assert!(
                bits(trained) == bits(reloaded),
                "{example} row {r}: trained {trained:?}, reloaded {reloaded:?}"
            );
        }

        // Without the target column, the same outputs.
        let unlabelled = dir.join("unlabelled.csv");
        std::fs::write(&unlabelled, without_column(&text, target)).unwrap();
        let again = loaded.predict(&unlabelled).unwrap().predictions;
        assert!(
            bits(&again.outputs) == bits(outputs) && bits(&again.logits) == bits(logits),
            "{example}: without the target"
        );

        // The confusion matrix of the run is the one of these outputs on the test rows.
        let names = &outcome.report.classes;
        let label = |r: usize| {
            let line = text.lines().nth(r + 1).unwrap();
            let class = line.split(',').next_back().unwrap();
            names.iter().position(|c| c == class).unwrap()
        };
        let mut confusion = vec![vec![0u64; names.len()]; names.len()];
        for (i, &p) in classes_of(&outcome.test_outputs, width).iter().enumerate() {
            confusion[label(test[i])][p] += 1;
        }
        // A sigmoid output's ROC AUC ranks the rows by their logits: their probabilities round
        // to 1 from a logit of about 16.6 on, which would tie rows of both classes.
        if width == 1 {
            let truth: Vec<usize> = test.iter().map(|&r| label(r)).collect();
            let scores: Vec<f32> = test.iter().map(|&r| logits[r]).collect();
            let c = outcome
                .report
                .test
                .as_ref()
                .unwrap()
                .classification
                .as_ref()
                .unwrap();
            assert_eq!(c.roc_auc, nnc::train::metrics::roc_auc(&truth, &scores));
        }

        // From the command line, in another process: the same weights and test metrics.
        let cli = dir.join("cli");
        let epochs = EPOCHS.to_string();
        ok(
            "run",
            &nnc(&[
                "run",
                arg(&model),
                "--epochs",
                &epochs,
                "-q",
                "--out",
                arg(&cli),
            ]),
        );
        assert_weights_are(&cli, &outcome, example);
        let metrics_text = std::fs::read_to_string(cli.join("metrics.json")).unwrap();
        let test_metrics = test_object(&metrics_text);
        assert_eq!(
            test_metrics,
            test_object(&outcome.report.to_json()),
            "{example}"
        );
        let metrics: serde_json::Value = serde_json::from_str(&metrics_text).unwrap();
        assert_eq!(metrics["test"]["confusion"], serde_json::json!(confusion));

        // `nnc predict`: one line per row, the outputs printed so that they read back exactly.
        let written = dir.join("predictions.csv");
        let said = ok(
            "predict",
            &nnc(&[
                "predict",
                arg(&cli),
                "--data",
                arg(&data),
                "--output",
                arg(&written),
            ]),
        );
        assert!(said.contains(&format!("wrote {n} predictions")), "{said}");
        let predictions = std::fs::read_to_string(&written).unwrap();
        let mut lines = predictions.lines();
        let mut header = vec!["row".to_string(), format!("predicted_{target}")];
        header.extend(names.iter().map(|c| format!("probability_{c}")));
        assert_eq!(lines.next(), Some(header.join(",").as_str()));
        let classes = classes_of(outputs, width);
        // Rows whose positive class rounds to 1 yet whose negative class is written above 0.
        let mut saturated = 0;
        for (r, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells[0], (r + 1).to_string());
            assert_eq!(cells[1], names[classes[r]], "{example} row {r}");
            let p: Vec<f32> = cells[2..].iter().map(|c| c.parse().unwrap()).collect();
            let expected: Vec<f32> = if width == 1 {
                // The negative class is sigmoid(−z), by the sigmoid that gave the positive one.
                let z = logits[r];
                assert_eq!(saved::negative_class(-z).to_bits(), outputs[r].to_bits());
                vec![saved::negative_class(z), outputs[r]]
            } else {
                outputs[r * width..(r + 1) * width].to_vec()
            };
            assert!(bits(&p) == bits(&expected), "{example} row {r}: {line}");
            saturated += usize::from(width == 1 && p[1] == 1.0 && p[0] > 0.0);
        }
        if width == 1 {
            assert!(saturated > 0, "{example}: some logits are above 16.6");
        }
        assert_eq!(predictions.lines().count(), n + 1);
        let printed = ok(
            "predict without target",
            &nnc(&["predict", arg(&cli), "--data", arg(&unlabelled)]),
        );
        assert_eq!(
            printed, predictions,
            "{example}: stdout and file, with or without target"
        );

        // `nnc eval` on exactly the test rows reproduces the run's test metrics.
        let test_csv = dir.join("test-rows.csv");
        std::fs::write(&test_csv, subset(&text, test)).unwrap();
        let report = dir.join("eval.json");
        let printed = ok(
            "eval",
            &nnc(&[
                "eval",
                arg(&cli),
                "--data",
                arg(&test_csv),
                "--report",
                arg(&report),
            ]),
        );
        assert!(
            printed.contains(&format!("({} rows)", test.len())),
            "{printed}"
        );
        assert_eq!(
            compact(&std::fs::read_to_string(&report).unwrap()),
            test_metrics,
            "{example}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---- nnc eval ----

/// A model trained on iris and saved in `dir/model`.
fn saved_iris(dir: &Path) -> PathBuf {
    let saved = dir.join("model");
    ok(
        "run",
        &nnc(&[
            "run",
            arg(&shipped("examples/iris.nn")),
            "--epochs",
            "30",
            "-q",
            "--out",
            arg(&saved),
        ]),
    );
    saved
}

#[test]
fn eval_prints_the_metrics_and_writes_them_as_json() {
    let dir = scratch("eval");
    let saved = saved_iris(&dir);
    let report = dir.join("eval.json");
    let data = shipped("examples/data/iris.csv");
    let text = ok(
        "eval",
        &nnc(&[
            "eval",
            arg(&saved),
            "--data",
            arg(&data),
            "--report",
            arg(&report),
        ]),
    );
    for needle in [
        "(150 rows): loss",
        "accuracy",
        "weighted: precision",
        "setosa",
        "confusion matrix (rows: truth, columns: predicted; setosa, versicolor, virginica)",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    let r = json(&report);
    for key in [
        "loss",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "weighted",
        "per_class",
        "confusion",
    ] {
        assert!(r.get(key).is_some(), "{key} in {r}");
    }
    let confusion: Vec<Vec<u64>> = serde_json::from_value(r["confusion"].clone()).unwrap();
    let per_class: Vec<u64> = confusion.iter().map(|row| row.iter().sum()).collect();
    assert_eq!(per_class, [50, 50, 50]);
    assert!(r["accuracy"].as_f64().unwrap() > 0.8, "{r}");

    // A file of one class can be evaluated: it is not training data.
    let one = dir.join("setosa.csv");
    let iris = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&one, subset(&iris, &(0..50).collect::<Vec<_>>())).unwrap();
    let text = ok(
        "one class",
        &nnc(&["eval", arg(&saved), "--data", arg(&one)]),
    );
    assert!(text.contains("(50 rows)"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- bad data ----

/// The place a diagnostic points at, as `name:line:col]` of its snippet header.
fn at(err: &str, place: &str) -> bool {
    err.contains(&format!("{place}]"))
}

#[test]
fn bad_training_data_is_a_clear_error_at_its_place() {
    let dir = scratch("bad-train");
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        "data {\n  path: \"data.csv\"\n  target: label\n}\nmodel {\n  dense(4, activation: relu)\n  output(activation: softmax)\n}\nloss: cross_entropy\ntrain { epochs: 1 }\n",
    )
    .unwrap();
    for (what, csv, code, place) in [
        (
            "ragged row",
            "a,b,label\n1,2,x\n3,4\n5,6,y\n",
            "nnc::data::ragged_row",
            "data.csv:3:1",
        ),
        (
            "too many fields",
            "a,b,label\n1,2,x\n3,4,y\n5,6,x,7\n",
            "nnc::data::ragged_row",
            "data.csv:4:7",
        ),
        ("empty file", "", "nnc::data::empty_file", "data.csv:1:1"),
        (
            "header only",
            "a,b,label\n",
            "nnc::data::no_rows",
            "data.csv:1:1",
        ),
        (
            "no target column",
            "a,b,class\n1,2,x\n3,4,y\n",
            "nnc::data::unknown_target",
            "model.nn:3:11",
        ),
        (
            "one class",
            "a,b,label\n1,2,x\n3,4,x\n5,6,x\n",
            "nnc::data::single_class",
            "data.csv:1:5",
        ),
        (
            "text in a numeric column",
            "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,z,y\n",
            "nnc::data::not_a_number",
            "data.csv:5:3",
        ),
    ] {
        std::fs::write(dir.join("data.csv"), csv).unwrap();
        let err = fails(what, &nnc(&["run", arg(&model)]), code);
        assert!(at(&err, place), "{what}: {place} in {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_files_to_predict_or_evaluate_are_clear_errors_at_their_place() {
    let dir = scratch("bad-predict");
    let saved = saved_iris(&dir);
    let iris = std::fs::read_to_string(shipped("examples/data/iris.csv")).unwrap();
    let ragged = iris.replacen("4.9,3,1.4,0.2,setosa", "4.9,3,1.4,setosa", 1);
    let text = iris.replacen("4.7,3.2,1.3,0.2", "4.7,3.2,wide,0.2", 1);
    // Every petal width written as text: the column reads as text, not as mostly numbers.
    let all_text: String = (iris.lines().enumerate())
        .map(|(i, line)| match i {
            0 => format!("{line}\n"),
            _ => {
                let mut cells: Vec<&str> = line.split(',').collect();
                cells[3] = "wide";
                format!("{}\n", cells.join(","))
            }
        })
        .collect();
    let no_width = without_column(&iris, "petal_width_cm");
    let no_target = without_column(&iris, "species");
    let other_class = iris.replacen("5,3.6,1.4,0.2,setosa", "5,3.6,1.4,0.2,rose", 1);
    for (what, commands, csv, code, place) in [
        (
            "ragged row",
            &["predict", "eval"][..],
            ragged.as_str(),
            "nnc::data::ragged_row",
            Some("rows.csv:3:1"),
        ),
        (
            "empty file",
            &["predict", "eval"],
            "",
            "nnc::data::empty_file",
            Some("rows.csv:1:1"),
        ),
        (
            "header only",
            &["predict", "eval"],
            "sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm,species\n",
            "nnc::data::no_rows",
            Some("rows.csv:1:1"),
        ),
        (
            "a missing feature column",
            &["predict", "eval"],
            no_width.as_str(),
            "nnc::data::missing_column",
            Some("rows.csv:1:1"),
        ),
        (
            "text in a numeric column",
            &["predict", "eval"],
            text.as_str(),
            "nnc::data::not_a_number",
            Some("rows.csv:4:9"),
        ),
        (
            "a numeric column all text",
            &["predict", "eval"],
            all_text.as_str(),
            "nnc::data::not_a_number",
            Some("rows.csv:2:13"),
        ),
        (
            "no target column",
            &["eval"],
            no_target.as_str(),
            "nnc::data::unknown_target",
            Some("rows.csv:1:1"),
        ),
        (
            "a class the model does not know",
            &["eval"],
            other_class.as_str(),
            "nnc::data::unknown_class",
            Some("rows.csv:6:15"),
        ),
    ] {
        let rows = dir.join("rows.csv");
        std::fs::write(&rows, csv).unwrap();
        for &command in commands {
            let what = format!("{command}: {what}");
            let err = fails(
                &what,
                &nnc(&[command, arg(&saved), "--data", arg(&rows)]),
                code,
            );
            if let Some(place) = place {
                assert!(at(&err, place), "{what}: {place} in {err}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- damaged model directories ----

/// 64-bit FNV-1a, the checksum the manifest records.
fn fnv1a64(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A copy of the model directory `from` at `to`, with `edit` applied to the copy.
fn damaged(from: &Path, to: &Path, edit: impl Fn(&Path)) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    edit(to);
    to.to_path_buf()
}

/// Rewrite the manifest's size and checksum of `file` to match its current bytes.
fn reseal(dir: &Path, file: &str) {
    let bytes = std::fs::read(dir.join(file)).unwrap();
    let path = dir.join(artifacts::MANIFEST_FILE);
    let mut manifest = json(&path);
    for entry in manifest["files"].as_array_mut().unwrap() {
        if entry["name"] == file {
            entry["size"] = serde_json::json!(bytes.len());
            entry["fnv1a64"] = serde_json::json!(fnv1a64(&bytes));
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn damaged_or_foreign_model_directories_are_refused() {
    let dir = scratch("damaged");
    let saved = saved_iris(&dir);
    let data = shipped("examples/data/iris.csv");
    let weights = artifacts::WEIGHTS_FILE;
    let truncate = |d: &Path| {
        let bytes = std::fs::read(d.join(weights)).unwrap();
        std::fs::write(d.join(weights), &bytes[..bytes.len() / 2]).unwrap();
    };
    let cases = [
        (
            "not a model",
            damaged(&saved, &dir.join("plain"), |d| {
                std::fs::remove_file(d.join(artifacts::MANIFEST_FILE)).unwrap();
            }),
            artifacts::NOT_A_MODEL,
        ),
        ("no such folder", dir.join("nowhere"), artifacts::NOT_FOUND),
        ("a file", data.clone(), artifacts::NOT_A_MODEL),
        (
            "truncated weights",
            damaged(&saved, &dir.join("truncated"), truncate),
            artifacts::CORRUPT,
        ),
        (
            "truncated weights with a matching manifest",
            damaged(&saved, &dir.join("resealed"), |d| {
                truncate(d);
                reseal(d, weights);
            }),
            artifacts::CORRUPT,
        ),
        (
            "an edited preprocessing",
            damaged(&saved, &dir.join("edited"), |d| {
                let path = d.join(artifacts::PREPROCESSING_FILE);
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, text.replacen("setosa", "setosb", 1)).unwrap();
            }),
            artifacts::CORRUPT,
        ),
        (
            "a future format version",
            damaged(&saved, &dir.join("future"), |d| {
                let path = d.join(artifacts::MANIFEST_FILE);
                let mut manifest = json(&path);
                manifest["format_version"] = serde_json::json!(artifacts::FORMAT_VERSION + 1);
                std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
            }),
            artifacts::INCOMPATIBLE,
        ),
    ];
    for (what, model, code) in &cases {
        for command in ["predict", "eval"] {
            let what = format!("{command}: {what}");
            fails(
                &what,
                &nnc(&[command, arg(model), "--data", arg(&data)]),
                code,
            );
        }
    }
    // The undamaged original still works.
    ok(
        "predict",
        &nnc(&["predict", arg(&saved), "--data", arg(&data)]),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- edited preprocessing behind a resealed manifest ----

/// A small two-class file with every kind of fitted field: a numeric column with missing cells
/// (filled with the median) and outliers (clipped), a categorical one with a missing cell, a
/// missing-value marker, and a numeric target column `b` for a regression model.
const MIXED_CSV: &str = "a,b,color,label\n\
    0.5,1.0,red,x\n1.5,2.0,blue,y\n-,3.5,red,x\n2.5,4.0,green,y\n3.0,5.5,,x\n\
    0.7,1.2,blue,y\n1.1,2.4,red,x\n90.0,3.1,green,y\n2.2,4.4,blue,x\n0.9,0.5,red,y\n\
    1.3,1.7,green,x\n2.8,2.9,blue,y\n";

/// Rows to predict: a category training never saw, a missing number and a missing category.
const MIXED_NEW_CSV: &str = "a,b,color,label\n1.0,2.0,pink,x\n-,1.0,,y\n2.0,3.0,red,x\n";

const MIXED_DATA: &str =
    "  path: \"data.csv\"\n  missing: median\n  outliers: clip(z: 3)\n  missing_markers: [\"-\"]\n";

/// The saved models of `MIXED_CSV`, trained once: two classes, the regression of `b`, and two
/// classes again with `unseen: error` for `color`.
fn mixed_models() -> &'static [PathBuf; 3] {
    static MODELS: std::sync::OnceLock<[PathBuf; 3]> = std::sync::OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = scratch("mixed");
        std::fs::write(dir.join("data.csv"), MIXED_CSV).unwrap();
        std::fs::write(dir.join("new.csv"), MIXED_NEW_CSV).unwrap();
        let models = [
            ("classes", "label", "  ignore: [b]\n", "output(1, activation: sigmoid)\n}\nloss: binary_cross_entropy"),
            ("values", "b", "  ignore: [label]\n", "output(1)\n}\nloss: mse"),
            ("unseen-error", "label", "  ignore: [b]\n  column color { unseen: error }\n", "output(1, activation: sigmoid)\n}\nloss: binary_cross_entropy"),
        ];
        models.map(|(name, target, ignore, end)| {
            let model = dir.join(format!("{name}.nn"));
            let text = format!(
                "data {{\n{MIXED_DATA}{ignore}  target: \"{target}\"\n  validation_fraction: 0\n  test_fraction: 0\n}}\nmodel {{\n  dense(3, activation: relu)\n  {end}\ntrain {{ epochs: 2 }}\n"
            );
            std::fs::write(&model, text).unwrap();
            let saved = dir.join(name);
            saved::save_run(&saved, &train(&model)).unwrap_or_else(|d| panic!("{}", d.render_plain()));
            saved
        })
    })
}

/// A copy of the saved model `from` at `to`, its preprocessing edited by `edit` and its manifest
/// resealed, then the manifest edited by `edit_manifest`.
fn edited(
    from: &Path,
    to: &Path,
    edit: impl Fn(&mut serde_json::Value),
    edit_manifest: impl Fn(&mut serde_json::Value),
) -> PathBuf {
    damaged(from, to, |d| {
        let path = d.join(artifacts::PREPROCESSING_FILE);
        let mut value = json(&path);
        edit(&mut value);
        std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
        reseal(d, artifacts::PREPROCESSING_FILE);
        let path = d.join(artifacts::MANIFEST_FILE);
        let mut manifest = json(&path);
        edit_manifest(&mut manifest);
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    })
}

/// Open the model in `dir`, predict and evaluate the rows of `data` with it, and export it to
/// ONNX: the first diagnostic, or `None` when everything went through.
fn use_model(dir: &Path, data: &Path) -> Option<nnc::diag::Diagnostic> {
    if let Err(d) = nnc::export::onnx(dir) {
        return Some(d);
    }
    let mut loaded = match saved::open(dir) {
        Ok(l) => l,
        Err(d) => return Some(d),
    };
    let predicted = match loaded.predict(data) {
        Ok(p) => p,
        Err(d) => return Some(d),
    };
    let text = loaded.predictions_csv(&predicted);
    assert_eq!(text.lines().count(), predicted.examples.len() + 1);
    loaded.evaluate(data).err()
}

#[test]
fn an_edited_preprocessing_is_refused_naming_the_field() {
    let [classes, values, _] = mixed_models();
    let dir = scratch("edited-fields");
    let new = dir.join("new.csv");
    std::fs::write(&new, MIXED_NEW_CSV).unwrap();
    // The untouched models predict and evaluate.
    for model in [classes, values] {
        if let Some(d) = use_model(model, &new) {
            panic!("{}", d.render_plain());
        }
    }
    use serde_json::json as j;
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&Path, &str, Edit, &str); 16] = [
        // The case: one class name for a two-class target panicked in `predict`.
        (
            classes,
            "one class",
            |p| p["target"]["names"] = j!(["x"]),
            "`target.names` lists 1 class names",
        ),
        (
            classes,
            "three classes",
            |p| p["target"]["names"] = j!(["x", "y", "z"]),
            "`target.names` lists 3",
        ),
        (
            classes,
            "a class twice",
            |p| p["target"]["names"] = j!(["x", "x"]),
            "the class `x` twice",
        ),
        (
            classes,
            "values for classes",
            |p| p["target"] = j!({"kind": "values", "name": "label", "mean": 0.0, "std": 1.0}),
            "the model's loss predicts classes",
        ),
        (
            classes,
            "one-hot for one unit",
            |p| p["target"]["encoding"] = j!("one_hot"),
            "this model's output layer takes `binary`",
        ),
        (
            values,
            "a std of 0",
            |p| p["target"]["std"] = j!(0.0),
            "`target.std` is 0",
        ),
        (
            classes,
            "a scale of 0",
            |p| p["features"][0]["scale"] = j!(0.0),
            "`features[0]` (`a`).scale is 0",
        ),
        (
            classes,
            "a negative scale",
            |p| p["features"][0]["scale"] = j!(-1.5),
            ".scale is -1.5",
        ),
        (
            classes,
            "clip bounds crossed",
            |p| p["features"][0]["clip"] = j!([2.0, 1.0]),
            "lower bound is above",
        ),
        (
            classes,
            "no fill for the median",
            |p| p["features"][0]["fill"] = j!(null),
            "has no `fill`",
        ),
        (
            classes,
            "a category twice",
            |p| p["features"][1]["categories"] = j!(["blue", "blue", "red"]),
            "lists `blue` twice",
        ),
        (
            classes,
            "a feature twice",
            |p| p["features"][1]["name"] = j!("a"),
            "an earlier feature names",
        ),
        (
            classes,
            "the target as a feature",
            |p| p["features"][0]["name"] = j!("label"),
            "is the target column",
        ),
        (
            classes,
            "no features",
            |p| p["features"] = j!([]),
            "`features` is empty",
        ),
        (
            classes,
            "a marker that is a category",
            |p| p["missing_markers"] = j!(["RED"]),
            "is also a category of `color`",
        ),
        // One more category than the weights take.
        (
            classes,
            "a category added",
            |p| p["features"][1]["categories"] = j!(["blue", "green", "red", "teal"]),
            "does not fit",
        ),
    ];
    for (i, (model, what, edit, needle)) in cases.into_iter().enumerate() {
        let copy = edited(model, &dir.join(format!("case-{i}")), edit, |_| {});
        let d = use_model(&copy, &new).unwrap_or_else(|| panic!("{what}: refused"));
        assert_eq!(d.code, artifacts::CORRUPT, "{what}: {}", d.render_plain());
        assert!(
            d.message.contains(needle),
            "{what}: {needle:?} in {}",
            d.message
        );
        assert!(
            d.message.contains(artifacts::PREPROCESSING_FILE) || needle == "does not fit",
            "{what}: {}",
            d.message
        );
        // The command line says the same, with exit code 1.
        if i == 0 {
            for command in ["predict", "eval"] {
                fails(
                    what,
                    &nnc(&[command, arg(&copy), "--data", arg(&new)]),
                    artifacts::CORRUPT,
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sigmoid output's ROC AUC ranks rows by their logits: a model whose logits are all above
/// 17 gives every row the probability 1, which would tie them all (an AUC of exactly 0.5).
#[test]
fn a_sigmoid_outputs_roc_auc_ranks_rows_by_their_logits() {
    let [classes, _, _] = mixed_models();
    let dir = scratch("confident");
    let data = dir.join("data.csv");
    std::fs::write(&data, MIXED_CSV).unwrap();
    let mut model = artifacts::load(classes).unwrap();
    // The output layer's bias: every logit is 60 give or take the small weighted sum.
    let last = model.tensors.len() - 1;
    model.tensors[last].data = vec![60.0];
    let confident = dir.join("confident");
    artifacts::save(&confident, &model, &[]).unwrap();
    let mut loaded = saved::open(&confident).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let predicted = loaded.predict(&data).unwrap();
    let (outputs, logits) = (
        &predicted.predictions.outputs,
        &predicted.predictions.logits,
    );
    assert!(outputs.iter().all(|&p| p == 1.0), "{outputs:?}");
    // Label the rows so that the larger logits are the positive class: a perfect ranking.
    let mut sorted = logits.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(sorted[0] < median, "the logits differ: {sorted:?}");
    let truth: Vec<usize> = logits.iter().map(|&z| usize::from(z >= median)).collect();
    let relabelled: String = std::iter::once("a,b,color,label".to_string())
        .chain(MIXED_CSV.lines().skip(1).zip(&truth).map(|(l, &t)| {
            let cells: Vec<&str> = l.rsplitn(2, ',').collect();
            format!("{},{}", cells[1], ["x", "y"][t])
        }))
        .map(|l| l + "\n")
        .collect();
    std::fs::write(&data, relabelled).unwrap();
    let evaluated = loaded.evaluate(&data).unwrap();
    let c = evaluated.metrics.classification.unwrap();
    let by_logit = nnc::train::metrics::roc_auc(&truth, logits);
    assert_eq!(c.roc_auc, by_logit);
    assert_eq!(by_logit, Some(1.0), "the logits rank the rows");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- categories unseen in training ----

/// `predict` and `eval` say on standard error how many rows had a category training never saw
/// (encoded as all zeros), at the first such cell, and keep it out of the predictions; with
/// `unseen: error` for the column, they refuse that cell.
#[test]
fn categories_unseen_in_training_are_counted_or_refused() {
    let [classes, _, unseen_error] = mixed_models();
    let dir = scratch("new-categories");
    let new = dir.join("new.csv");
    // Rows 1 and 4 have categories the training rows never had; row 2's is missing (filled).
    let rows = "a,b,color,label\n1.0,2.0,pink,x\n-,1.0,,y\n2.0,3.0,red,x\n1.5,2.5,teal,y\n";
    std::fs::write(&new, rows).unwrap();
    for command in ["predict", "eval"] {
        let out = nnc(&[command, arg(classes), "--data", arg(&new)]);
        let printed = ok(command, &out);
        let err = stderr(&out);
        assert!(
            err.contains("nnc::data::unseen_categories"),
            "{command}: {err}"
        );
        // The message as one line, without the terminal's wrapping.
        let flat: Vec<&str> = err.split_whitespace().filter(|w| *w != "│").collect();
        let flat = flat.join(" ");
        assert!(
            flat.contains("2 of 4 rows of data file"),
            "{command}: {err}"
        );
        assert!(
            flat.contains("have a category of column `color` that the training rows never had"),
            "{command}: {err}"
        );
        assert!(
            at(&err, "new.csv:2:9"),
            "{command}: at the first such cell: {err}"
        );
        assert!(err.contains("`unseen: error`"), "{command}: {err}");
        assert!(
            !printed.contains("never occurs"),
            "{command}: nothing of it on stdout: {printed}"
        );
        let err = fails(
            command,
            &nnc(&[command, arg(unseen_error), "--data", arg(&new)]),
            "nnc::data::unseen_category",
        );
        assert!(at(&err, "new.csv:2:9"), "{command}: {err}");
    }
    // Without unseen categories, not a word.
    std::fs::write(&new, "a,b,color,label\n1.0,2.0,red,x\n").unwrap();
    for model in [classes, unseen_error] {
        let out = nnc(&["predict", arg(model), "--data", arg(&new)]);
        ok("predict", &out);
        assert_eq!(stderr(&out), "");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every JSON value (and the document itself) of `v`, as a path of keys and indices.
fn json_paths(v: &serde_json::Value, at: &mut Vec<JsonKey>, out: &mut Vec<Vec<JsonKey>>) {
    out.push(at.clone());
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                at.push(JsonKey::Key(k.clone()));
                json_paths(child, at, out);
                at.pop();
            }
        }
        serde_json::Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(JsonKey::Index(i));
                json_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum JsonKey {
    Key(String),
    Index(usize),
}

fn at_path<'v>(v: &'v mut serde_json::Value, path: &[JsonKey]) -> &'v mut serde_json::Value {
    path.iter().fold(v, |v, k| match k {
        JsonKey::Key(k) => &mut v[k.as_str()],
        JsonKey::Index(i) => &mut v[*i],
    })
}

/// One edit of a JSON value: a new value of any type, one of its own type (which gets past the
/// types to the checks of values), or a change of an array's length or an object's keys.
#[derive(Clone, Debug)]
enum JsonEdit {
    Set(serde_json::Value),
    Like(proptest::sample::Index),
    RemoveFirst,
    RepeatFirst,
    RepeatLast,
}

fn numbers() -> Vec<serde_json::Value> {
    use serde_json::json as j;
    vec![
        j!(0),
        j!(1),
        j!(2),
        j!(-1),
        j!(0.5),
        j!(-0.0),
        j!(1e308),
        j!(-1e308),
        j!(5e-324),
        j!(u64::MAX),
    ]
}

fn strings() -> Vec<serde_json::Value> {
    [
        "",
        "x",
        "y",
        "a",
        "b",
        "red",
        "blue",
        "color",
        "label",
        "numeric",
        "categorical",
        "classes",
        "values",
        "binary",
        "one_hot",
        "standardized",
        "error",
        "zeros",
        "drop",
        "median",
        "NA",
        "-",
    ]
    .map(serde_json::Value::from)
    .to_vec()
}

fn arrays() -> Vec<serde_json::Value> {
    use serde_json::json as j;
    vec![
        j!([]),
        j!([1.0, 0.0]),
        j!([0.0, 0.0]),
        j!(["x"]),
        j!(["x", "x"]),
        j!(["red", "RED"]),
    ]
}

fn json_edit() -> impl proptest::strategy::Strategy<Value = JsonEdit> {
    use proptest::prelude::*;
    use serde_json::json as j;
    let mut any_value = numbers();
    any_value.extend(strings());
    any_value.extend(arrays());
    any_value.extend([
        j!({"constant": "red"}),
        j!({"constant": 1.5}),
        j!({"clip_z": 1.0}),
        j!(true),
        j!(null),
        j!({}),
    ]);
    prop_oneof![
        2 => prop::sample::select(any_value).prop_map(JsonEdit::Set),
        4 => any::<prop::sample::Index>().prop_map(JsonEdit::Like),
        1 => Just(JsonEdit::RemoveFirst),
        1 => Just(JsonEdit::RepeatFirst),
        1 => Just(JsonEdit::RepeatLast),
    ]
}

fn apply_edits(v: &mut serde_json::Value, edits: &[(proptest::sample::Index, JsonEdit)]) {
    for (at, edit) in edits {
        let mut paths = Vec::new();
        json_paths(v, &mut Vec::new(), &mut paths);
        let target = at_path(v, &paths[at.index(paths.len())]);
        match (edit, target) {
            (JsonEdit::Set(new), target) => *target = new.clone(),
            (JsonEdit::Like(i), target) => {
                let pool = match target {
                    serde_json::Value::String(_) => strings(),
                    serde_json::Value::Array(_) => arrays(),
                    serde_json::Value::Object(_) | serde_json::Value::Bool(_) => continue,
                    serde_json::Value::Number(_) | serde_json::Value::Null => numbers(),
                };
                *target = i.get(&pool).clone();
            }
            (JsonEdit::RemoveFirst, serde_json::Value::Array(a)) if !a.is_empty() => {
                a.remove(0);
            }
            (JsonEdit::RemoveFirst, serde_json::Value::Object(m)) => {
                if let Some(k) = m.keys().next().cloned() {
                    m.remove(&k);
                }
            }
            (JsonEdit::RepeatFirst, serde_json::Value::Array(a)) if !a.is_empty() => {
                a.insert(0, a[0].clone());
            }
            (JsonEdit::RepeatLast, serde_json::Value::Array(a)) if !a.is_empty() => {
                a.push(a[a.len() - 1].clone());
            }
            _ => {}
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Any field of a saved model's preprocessing or manifest edited (its value, its type, an
    /// array's length, an object's keys) behind a resealed manifest: opening the model,
    /// predicting and evaluating give a result or a diagnostic, never a panic.
    #[test]
    fn edited_model_json_never_panics(
        regression in proptest::prelude::any::<bool>(),
        preprocessing in proptest::collection::vec(
            (proptest::prelude::any::<proptest::sample::Index>(), json_edit()), 0..4),
        manifest in proptest::collection::vec(
            (proptest::prelude::any::<proptest::sample::Index>(), json_edit()), 0..2),
    ) {
        let model = &mixed_models()[usize::from(regression)];
        let dir = scratch("edited-json");
        let new = dir.join("new.csv");
        std::fs::write(&new, MIXED_NEW_CSV).unwrap();
        let copy = edited(
            model,
            &dir.join("model"),
            |p| apply_edits(p, &preprocessing),
            |m| apply_edits(m, &manifest),
        );
        let outcome = use_model(&copy, &new);
        if let Some(d) = outcome {
            proptest::prop_assert!(d.code.starts_with("nnc::"), "{}", d.code);
            proptest::prop_assert!(d.help.is_some(), "{}", d.render_plain());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
