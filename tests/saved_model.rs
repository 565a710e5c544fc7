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
    };
    session::run(model, &opts, |_, _, _| {}, |_| {})
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
