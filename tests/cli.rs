//! The command line as a user meets it: exit codes, silence on success, and bad input that
//! never panics but names the file, line and column with exit code 1.

mod common;

use common::{nnc, scratch};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn model_for(dir: &Path, csv: &str) -> PathBuf {
    let path = dir.join("model.nn");
    std::fs::write(
        &path,
        format!(
            "data {{\n  path: \"{csv}\"\n  target: \"label\"\n}}\nmodel {{\n  dense(2, activation: softmax)\n}}\nloss: cross_entropy\ntrain {{ epochs: 1 }}\n"
        ),
    )
    .unwrap();
    path
}

/// Run `nnc run` on a model whose CSV has `contents`; it must fail cleanly with exit 1.
fn run_on_bad_csv(name: &str, contents: Option<&str>) -> String {
    let dir = scratch(name);
    if let Some(c) = contents {
        std::fs::write(dir.join("data.csv"), c).unwrap();
    }
    let model = model_for(&dir, "data.csv");
    let out = nnc(&["run", model.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{name}: exit code 1, stderr: {err}"
    );
    assert!(!err.contains("panicked"), "{name}: no panic: {err}");
    err
}

#[test]
fn check_is_silent_on_a_valid_file() {
    let out = nnc(&["check", "examples/iris.nn"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).is_empty() && stderr(&out).is_empty());
}

#[test]
fn check_reports_a_broken_file_with_its_place_and_exit_1() {
    let out = nnc(&["check", "tests/ui/unknown_activation.nn"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("tests/ui/unknown_activation.nn:3:25"), "{err}");
    assert!(err.contains("did you mean `relu`"), "{err}");
}

#[test]
fn a_missing_model_file_is_an_error_not_a_panic() {
    let out = nnc(&["check", "no/such/model.nn"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no/such/model.nn"));
}

#[test]
fn a_missing_data_file_names_the_path_in_the_model() {
    let err = run_on_bad_csv("missing", None);
    assert!(err.contains("model.nn:2:9"), "{err}");
    assert!(err.contains("data.csv"), "{err}");
}

#[test]
fn an_empty_csv_is_an_error() {
    let err = run_on_bad_csv("empty", Some(""));
    assert!(err.contains("data.csv"), "{err}");
}

#[test]
fn a_ragged_row_names_its_line() {
    let err = run_on_bad_csv("ragged", Some("a,b,label\n1,2,x\n3,4\n5,6,y\n"));
    assert!(err.contains("data.csv:3:"), "{err}");
}

#[test]
fn a_non_numeric_value_names_its_cell() {
    let err = run_on_bad_csv("text", Some("a,b,label\n1,2,x\n3,oops,y\n5,6,x\n7,8,y\n"));
    assert!(err.contains("data.csv:3:3"), "{err}");
}

#[test]
fn summary_prints_the_parameter_count() {
    let out = nnc(&["summary", "examples/iris.nn"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("Total params: 131"), "{text}");
    assert!(text.contains("(B, 16)"), "{text}");
}

#[test]
fn ir_prints_each_stage_and_the_cranelift_ir() {
    let forward = stdout(&nnc(&["ir", "examples/iris.nn"]));
    assert!(forward.starts_with("forward {"), "{forward}");
    let grad = stdout(&nnc(&["ir", "examples/iris.nn", "--grad"]));
    assert!(grad.contains("d_w1:f32[4,16]"), "{grad}");
    let step = stdout(&nnc(&["ir", "examples/iris.nn", "--step"]));
    assert!(
        step.contains("update ") && step.contains("w1 <- new_w1"),
        "{step}"
    );
    let clif = stdout(&nnc(&[
        "ir",
        "examples/iris.nn",
        "--step",
        "--emit",
        "clif",
    ]));
    assert!(clif.contains("function"), "{clif}");
    let asm = stdout(&nnc(&["ir", "examples/iris.nn", "--emit", "asm"]));
    assert!(asm.contains("ret"), "{asm}");
}

#[test]
fn run_prints_epochs_and_writes_a_report() {
    let dir = scratch("report");
    let report = dir.join("report.json");
    let out = nnc(&[
        "run",
        "examples/iris.nn",
        "--epochs",
        "3",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("epoch")).count(),
        3,
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(json["task"], "classification");
    assert_eq!(json["epochs_run"], 3);
    assert_eq!(json["history"].as_array().unwrap().len(), 3);
    for key in ["loss", "accuracy", "precision", "recall", "f1", "confusion"] {
        assert!(json["test"].get(key).is_some(), "test.{key} in {json}");
    }
    assert!(json["samples_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn flags_override_the_file() {
    let out = nnc(&[
        "run",
        "examples/iris.nn",
        "--epochs",
        "2",
        "--data",
        "examples/data/iris.csv",
        "--target",
        "species",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.starts_with("epoch"))
            .count(),
        2
    );
    let bad = nnc(&["run", "examples/iris.nn", "--target", "colour"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("colour"));
}

#[test]
fn a_diverging_run_stops_with_a_diagnostic() {
    let dir = scratch("diverge");
    let model = dir.join("model.nn");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/diabetes.csv");
    std::fs::write(
        &model,
        format!(
            "data {{ path: \"{}\" target: progression }}\nmodel {{ dense(64, activation: relu) dense(1) }}\nloss: mse\noptimizer: sgd(learning_rate: 5, momentum: 0.9)\n",
            data.display()
        ),
    )
    .unwrap();
    let out = nnc(&["run", model.to_str().unwrap(), "--quiet"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("nnc::train::diverged") && err.contains("model.nn:4:12"),
        "{err}"
    );
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(["ir", "examples/digits.nn", "--step"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before nnc writes: every write then fails with a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));

    // The work goes on without its output: `nnc run --out DIR | head` still saves the model.
    let dir = scratch("closed-pipe");
    let saved = dir.join("model");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(["run", "examples/iris.nn", "--epochs", "3", "--out"])
        .arg(&saved)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(saved.join("model.safetensors").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn split_fractions_can_be_set_from_the_command_line() {
    let out = nnc(&[
        "run",
        "examples/iris.nn",
        "--epochs",
        "1",
        "--test-fraction",
        "0.5",
        "--validation-fraction",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("75 train / 0 validation / 75 test rows"),
        "{}",
        stdout(&out)
    );
    let bad = nnc(&["run", "examples/iris.nn", "--test-fraction", "1.5"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn an_empty_test_split_reports_no_metrics() {
    let dir = scratch("notest");
    let report = dir.join("r.json");
    let out = nnc(&[
        "run",
        "examples/iris.nn",
        "--epochs",
        "1",
        "--test-fraction",
        "0",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("no test metrics"), "{}", stdout(&out));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(json["test"].is_null(), "{json}");
}

#[test]
fn an_output_layer_without_units_takes_its_width_from_the_data() {
    let out = nnc(&["summary", "examples/digits.nn"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("output_2"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("(softmax)") && row.contains("(B, 10)") && row.ends_with("650"),
        "{row}"
    );
}

#[test]
fn a_model_file_with_a_byte_order_mark_and_crlf_line_ends_is_read() {
    let dir = scratch("bom");
    let model = dir.join("model.nn");
    let text = std::fs::read_to_string("examples/iris.nn")
        .unwrap()
        .replace('\n', "\r\n");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/iris.csv");
    std::fs::write(&model, format!("\u{feff}{text}")).unwrap();
    let out = nnc(&[
        "check",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A model file in a scratch folder next to a copy of the iris data (with `edit` applied to its
/// rows), run with `args`.
fn run_iris_variant(
    name: &str,
    model: &str,
    edit: impl Fn(&mut Vec<String>),
    args: &[&str],
) -> Output {
    let dir = scratch(name);
    let csv = std::fs::read_to_string("examples/data/iris.csv").unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    edit(&mut lines);
    std::fs::write(dir.join("iris.csv"), lines.join("\n") + "\n").unwrap();
    let path = dir.join("model.nn");
    std::fs::write(&path, model).unwrap();
    let mut all = vec!["run", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = nnc(&all);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn a_layer_too_wide_for_memory_is_a_diagnostic_at_the_layer_not_an_abort() {
    // With batch_size 1 the training step fits, but evaluation runs batches of 256 rows: this
    // used to abort with "memory allocation of 51539607552 bytes failed".
    let model = "data { path: \"iris.csv\" target: species }\nmodel {\n  input(4)\n  dense(16777216, activation: relu)\n  output(3, activation: softmax)\n}\nloss: cross_entropy\ntrain { epochs: 1 batch_size: 1 }\n";
    let out = run_iris_variant("too_wide", model, |_| {}, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nnc::lower::too_large") && err.contains("model.nn:4:3"),
        "{err}"
    );
    assert!(
        !err.contains("memory allocation") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn a_huge_but_finite_value_trains_instead_of_diverging() {
    // 1e200 squared overflows f64: the variance of its column became infinite, the feature
    // became ±inf and the run blamed the optimizer.
    let model = "data { path: \"iris.csv\" target: species }\nmodel {\n  dense(8, activation: relu)\n  output(activation: softmax)\n}\nloss: cross_entropy\ntrain { epochs: 5 }\n";
    let out = run_iris_variant(
        "huge_value",
        model,
        |lines| {
            let mut cells: Vec<&str> = lines[5].split(',').collect();
            cells[0] = "1e200";
            lines[5] = cells.join(",");
        },
        &["--test-fraction", "0", "--validation-fraction", "0"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("diverged"), "{err}");
}

#[test]
fn flags_take_the_ranges_the_file_takes() {
    // A seed the file accepts is accepted on the command line, and one it refuses is refused.
    let ok = nnc(&[
        "run",
        "examples/iris.nn",
        "--epochs",
        "1",
        "--seed",
        "4294967295",
        "-q",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    for (flag, value) in [
        ("--seed", "4294967296"),
        ("--epochs", "0"),
        ("--batch-size", "1048577"),
        ("--test-fraction", "0.95"),
        ("--validation-fraction", "-0.1"),
    ] {
        let out = nnc(&["run", "examples/iris.nn", flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: a usage error");
        let err = stderr(&out);
        assert!(err.contains("must be between"), "{flag} {value}: {err}");
    }
}

#[test]
fn every_training_flag_reaches_the_run() {
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "examples/iris.nn", "--epochs", "1"];
        args.extend_from_slice(extra);
        let out = nnc(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let header = |text: &str| text.lines().next().unwrap_or_default().to_string();
    // The first epoch line without its time, which varies with the machine's load.
    let epoch = |text: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with("epoch"))
            .unwrap_or_default();
        line.rsplit_once("  ").map_or(line, |(l, _)| l).to_string()
    };
    let base = run(&[]);
    assert!(header(&base).contains("1 epochs of batch 16"), "{base}");
    let batch = run(&["--batch-size", "7"]);
    assert!(header(&batch).contains("of batch 7"), "{batch}");
    let seeded = run(&["--seed", "5"]);
    assert_ne!(
        epoch(&seeded),
        epoch(&base),
        "another seed, another first epoch"
    );
    assert_eq!(epoch(&run(&["--seed", "5"])), epoch(&seeded));
    let split = run(&["--test-fraction", "0.5", "--validation-fraction", "0.2"]);
    assert!(
        header(&split).contains("60 train / 15 validation / 75 test rows"),
        "{split}"
    );
}

/// The epoch lines of a run's output.
fn epoch_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("epoch")).collect()
}

#[test]
fn early_stopping_ends_the_run_and_the_report_says_where() {
    let dir = scratch("early-report");
    let report = dir.join("r.json");
    let model = std::fs::read_to_string("examples/iris.nn")
        .unwrap()
        .replace("data/iris.csv", "iris.csv")
        .replace(
            "  seed: 42\n",
            "  seed: 42\n  early_stopping(patience: 2)\n",
        );
    assert!(model.contains("early_stopping") && model.contains("epochs: 100"));
    let out = run_iris_variant(
        "early",
        &model,
        |_| {},
        &["--report", report.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let run = json["epochs_run"].as_u64().unwrap();
    let best = json["best_epoch"].as_u64().unwrap();
    assert!(run < 100, "stops before the 100 epochs: {run}");
    assert_eq!(json["stopped_early"], true);
    assert_eq!(best + 2, run, "patience 2: two epochs after the best");
    let history = json["history"].as_array().unwrap();
    assert_eq!(history.len() as u64, run);
    assert!(history.iter().all(|e| e["val_accuracy"].is_f64()), "{json}");
    let text = stdout(&out);
    let lines = epoch_lines(&text);
    assert!(lines[0].starts_with("epoch    1 "), "{text}");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("epoch {run:>4} ")),
        "the epoch that stopped is printed: {text}"
    );
    assert!(lines.len() <= 22, "about 20 lines for 100 epochs: {text}");
    assert!(lines.iter().all(|l| l.contains("val accuracy")), "{text}");
    let best_loss = history[best as usize - 1]["val_loss"].as_f64().unwrap();
    let summary =
        format!("stopped early at epoch {run}; best epoch {best} (val_loss {best_loss:.4}), parameters restored");
    assert!(text.contains(&summary), "`{summary}` in {text}");

    // Without early stopping the report says so too.
    let plain = scratch("early-none");
    let report = plain.join("r.json");
    let out = nnc(&[
        "run",
        "examples/iris.nn",
        "--epochs",
        "1",
        "-q",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&plain);
    assert!(json["best_epoch"].is_null(), "{json}");
    assert_eq!(json["stopped_early"], false);
}

#[test]
fn a_long_run_prints_about_twenty_epoch_lines() {
    let out = nnc(&["run", "examples/iris.nn", "--epochs", "100"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let epochs: Vec<usize> = epoch_lines(&text)
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    let every_fifth: Vec<usize> = std::iter::once(1).chain((5..=100).step_by(5)).collect();
    assert_eq!(epochs, every_fifth, "{text}");
    // Each line ends with its time in a unit that shows it: never zero, at most three digits
    // before the unit (an iris epoch takes well under a millisecond).
    for line in epoch_lines(&text) {
        let time = line.rsplit_once("  ").unwrap().1;
        let number = ["ns", "µs", "ms", "s"]
            .iter()
            .find_map(|unit| time.strip_suffix(unit))
            .unwrap_or_else(|| panic!("a unit in {line:?}"));
        let value: f64 = number.parse().unwrap_or_else(|_| panic!("{line:?}"));
        let digits = number.chars().filter(char::is_ascii_digit).count();
        assert!(value > 0.0 && digits <= 3, "{line:?}");
    }
    let short = nnc(&["run", "examples/iris.nn", "--epochs", "20"]);
    assert_eq!(epoch_lines(&stdout(&short)).len(), 20);
    let odd = nnc(&["run", "examples/iris.nn", "--epochs", "43"]);
    let text = stdout(&odd);
    let lines = epoch_lines(&text);
    assert!(lines.last().unwrap().starts_with("epoch   43 "), "{text}");
    assert_eq!(
        lines.len(),
        1 + 14 + 1,
        "1, every third to 42, and 43: {text}"
    );
}

#[test]
fn cross_validation_reports_every_fold_and_the_mean() {
    let dir = scratch("cv");
    let report = dir.join("cv.json");
    let out = nnc(&[
        "cv",
        "examples/iris.nn",
        "--folds",
        "3",
        "--epochs",
        "20",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("fold")).count(),
        3,
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let folds = json["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    // Stratified folds of iris's 150 rows: 50 each, 150 held out in all.
    let held: u64 = folds.iter().map(|f| f["test_rows"].as_u64().unwrap()).sum();
    assert_eq!(held, 150);
    let accuracies: Vec<f64> = (folds.iter())
        .map(|f| f["metrics"]["accuracy"].as_f64().unwrap())
        .collect();
    let mean = accuracies.iter().sum::<f64>() / 3.0;
    let summary = &json["summary"]["accuracy"];
    assert!(
        (summary["mean"].as_f64().unwrap() - mean).abs() < 1e-12,
        "{json}"
    );
    assert!(mean > 0.8, "{accuracies:?}");
    assert!(summary["std"].as_f64().unwrap() >= 0.0);
    // One fold is not cross-validation.
    let out = nnc(&["cv", "examples/iris.nn", "--folds", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// `nnc cv` reads only the training file: it says so of a `test` or `validation` file, at its
/// place, and shows the data file's warnings as `nnc run` does, before the folds.
#[test]
fn cross_validation_warns_of_the_files_it_does_not_read() {
    let dir = scratch("cv-unused");
    let csv = std::fs::read_to_string("examples/data/iris.csv").unwrap();
    // A name per row: a text column with nearly one value per row.
    let named: Vec<String> = csv
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            0 => format!("name,{l}"),
            _ => format!("flower{i},{l}"),
        })
        .collect();
    std::fs::write(dir.join("iris.csv"), named.join("\n") + "\n").unwrap();
    let model = std::fs::read_to_string("examples/iris.nn")
        .unwrap()
        .replace(
            "path: \"data/iris.csv\"",
            "path: \"iris.csv\"\n  test: \"iris.csv\"\n  validation: \"iris.csv\"",
        )
        .replace("input(4)", "input");
    assert!(model.contains("test: \"iris.csv\""), "{model}");
    let path = dir.join("model.nn");
    std::fs::write(&path, model).unwrap();
    let out = nnc(&[
        "cv",
        path.to_str().unwrap(),
        "--folds",
        "2",
        "--epochs",
        "1",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("nnc::train::cv_unused_file").count(),
        2,
        "{err}"
    );
    assert!(
        err.contains("the `test` file `iris.csv`") && err.contains("the `validation` file"),
        "{err}"
    );
    assert!(
        err.contains("model.nn:6:9"),
        "the `test` file's place: {err}"
    );
    assert!(err.contains("nnc::data::high_cardinality"), "{err}");
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.starts_with("fold"))
            .count(),
        2
    );
}

#[test]
fn every_data_setting_has_a_flag() {
    let dir = scratch("data-flags");
    // Semicolons, decimal commas, an id column, `-` for a missing value, an integer category.
    let mut csv = String::from("id;x;zone;label\n");
    for i in 0..60 {
        let x = if i == 7 {
            "-".to_string()
        } else {
            format!("{},{}", i % 10, i % 7)
        };
        csv.push_str(&format!(
            "r{i};{x};{};{}\n",
            i % 3,
            if i % 10 < 5 { "a" } else { "b" }
        ));
    }
    std::fs::write(dir.join("d.csv"), &csv).unwrap();
    let model = dir.join("m.nn");
    std::fs::write(
        &model,
        "data { path: \"d.csv\" target: label }\nmodel { input dense(4, activation: relu) output(activation: softmax) }\nloss: cross_entropy\ntrain { epochs: 2 }\n",
    )
    .unwrap();
    let m = model.to_str().unwrap();
    // Without the flags the decimal commas stop the run at their first cell.
    let out = nnc(&["run", m]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nnc::data::decimal_comma"),
        "{}",
        stderr(&out)
    );
    let flags = [
        "--decimal",
        "comma",
        "--missing-markers",
        "[\"-\"]",
        "--missing",
        "median",
        "--ignore",
        "[id]",
        "--categorical",
        "[zone]",
        "--unseen",
        "error",
    ];
    let out = nnc(&[&["summary", m][..], &flags[..]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // One input for `x`, three for the categories of `zone`, none for `id`.
    assert!(stdout(&out).contains("(B, 4)"), "{}", stdout(&out));
    let out = nnc(&[&["run", m][..], &flags[..]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("high_cardinality"),
        "{}",
        stderr(&out)
    );
    // A mistake in a flag is shown in the flag's text.
    let out = nnc(&["run", m, "--decimal", "coma"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--decimal"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--batch-size all` makes one step of the whole training split per epoch; a word other than
/// `all` is a usage error naming what the flag takes.
#[test]
fn batch_size_all_from_the_command_line_is_full_batch() {
    let out = nnc(&[
        "run",
        "examples/iris.nn",
        "--epochs",
        "2",
        "--batch-size",
        "all",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // 150 rows: 30 for the test, 12 of the rest for validation, 108 to train on.
    assert!(text.contains("epochs of batch 108 (all rows)"), "{text}");
    let bad = nnc(&["run", "examples/iris.nn", "--batch-size", "al"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("or `all`"), "{}", stderr(&bad));
}

/// `nnc check --message-format json` prints one JSON object per diagnostic on stdout, with the
/// code, the byte range and the line and column (in characters: the non-ASCII `é` before the
/// error on the same line counts once), and nothing for a valid file.
#[test]
fn check_reports_diagnostics_as_json() {
    let dir = scratch("json");
    let path = dir.join("bad.nn");
    let text = "model {\n  input(4)\n  dense(3, activation: softmax)\n}\n\
                data { path: \"données.csv\" target: \"y\" } loss: cross_entropyy\n";
    std::fs::write(&path, text).unwrap();
    // The data file exists and reads, so the loss is the file's one error.
    std::fs::write(dir.join("données.csv"), "a,y\n1,0\n2,1\n").unwrap();
    let out = nnc(&["check", path.to_str().unwrap(), "--message-format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "one diagnostic, one line: {lines:?}");
    let d: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "nnc::lower::unknown_loss");
    let start = text.find("cross_entropyy").unwrap();
    assert_eq!(d["range"]["start"], start);
    assert_eq!(d["range"]["end"], start + "cross_entropyy".len());
    let line_start = text[..start].rfind('\n').unwrap() + 1;
    let column = text[line_start..start].chars().count() + 1;
    assert_eq!(
        column + 1,
        start - line_start + 1,
        "one two-byte character before"
    );
    assert_eq!(d["start"]["line"], 5);
    assert_eq!(d["start"]["column"], column);
    assert_eq!(d["labels"][0]["text"], "not a known loss");
    assert!(d["help"].as_str().unwrap().contains("cross_entropy"));
    assert!(d["file"].as_str().unwrap().ends_with("bad.nn"));

    let good = nnc(&["check", "examples/iris.nn", "--message-format", "json"]);
    assert_eq!(good.status.code(), Some(0));
    assert!(stdout(&good).is_empty() && stderr(&good).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `nnc check --message-format json` of a broken file: exit status 1 and each line's diagnostic.
fn check_json(path: &Path) -> Vec<serde_json::Value> {
    let out = nnc(&["check", path.to_str().unwrap(), "--message-format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `nnc check` reports every independent error of a file, in the order of the file's parts: a
/// misplaced item, the model's unknown activation, the unknown loss and the unknown optimizer.
#[test]
fn check_reports_every_independent_error() {
    let dir = scratch("all-errors");
    let path = dir.join("bad.nn");
    let text =
        "model {\n  input(4)\n  dense(8, activation: rleu)\n  output(3, activation: softmax)\n}\n\
                loss: cross_entropyy\noptimizer: adamm(learning_rate: 0.01)\nbogus: 3\n";
    std::fs::write(&path, text).unwrap();
    let diagnostics = check_json(&path);
    let codes: Vec<String> = diagnostics.iter().map(|d| d["code"].to_string()).collect();
    assert_eq!(
        codes,
        [
            "\"nnc::lower::unknown_item\"",
            "\"nnc::lower::unknown_activation\"",
            "\"nnc::lower::unknown_loss\"",
            "\"nnc::lower::unknown_optimizer\"",
        ]
    );
    // The terminal shows all four too.
    let human = nnc(&["check", path.to_str().unwrap()]);
    assert_eq!(stderr(&human).matches("nnc::lower::unknown_").count(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Inside each part too, every error is reported: unknown names in two defs (one no layer uses),
/// two bad options of one layer, an unknown layer between two bad ones, an unknown name in the
/// model's math (but not `a`, bound by a layer that failed), two bad options each of the loss,
/// the optimizer, its schedule, the data block, a column block, the train block, early stopping
/// and the regularization, each at the text it is about and in the order the parts are resolved.
#[test]
fn check_reports_every_error_inside_each_part() {
    let dir = scratch("all-errors-inside");
    let path = dir.join("bad.nn");
    let text = "\
def gate(x) = sigmoid(x) * y0
def unused(x) { h = x * 2
  h + z0 }
model {
  input(4)
  a = dense(16, activaton: relu, dropuot: 0.5)
  denes(8)
  b = dense(8, activation: rleu, init: he_nromal)
  c = relu(a + q0)
  output(3, activation: softmax)
}
loss: cross_entropy(label_smoothing: 2, class_weights: [1, -1, 1])
optimizer: adam(beta1: 3, schedule: cosine(steps: 0, min: -2), clip_norm: -1)
train {
  epochs: 0
  batch_size: 0
  early_stopping(patience: 0.5, min_delta: -5)
}
data {
  test_fraction: 2
  validation_fraction: -1
  column city {
    scaling: sometimes
    missing: never
  }
}
regularization: l1_l2(l1: -3, l2: -4)
";
    std::fs::write(&path, text).unwrap();
    let diagnostics = check_json(&path);
    let found: Vec<(String, String)> = diagnostics
        .iter()
        .map(|d| {
            let (start, end) = (
                d["range"]["start"].as_u64().unwrap() as usize,
                d["range"]["end"].as_u64().unwrap() as usize,
            );
            (
                d["code"].as_str().unwrap().to_string(),
                text[start..end].to_string(),
            )
        })
        .collect();
    let expected = [
        ("nnc::math::unknown_name", "y0"),
        ("nnc::math::unknown_name", "z0"),
        ("nnc::lower::unknown_option", "activaton"),
        ("nnc::lower::unknown_option", "dropuot"),
        ("nnc::lower::unknown_layer", "denes"),
        ("nnc::lower::unknown_activation", "rleu"),
        ("nnc::lower::unknown_initializer", "he_nromal"),
        ("nnc::math::unknown_name", "q0"),
        ("nnc::lower::out_of_range", "2"),
        ("nnc::lower::out_of_range", "-1"),
        ("nnc::lower::out_of_range", "3"),
        ("nnc::lower::out_of_range", "0"),
        ("nnc::lower::out_of_range", "-2"),
        ("nnc::lower::out_of_range", "-1"),
        ("nnc::lower::out_of_range", "2"),
        ("nnc::lower::out_of_range", "-1"),
        ("nnc::lower::unknown_choice", "sometimes"),
        ("nnc::lower::unknown_choice", "never"),
        ("nnc::lower::out_of_range", "0"),
        ("nnc::lower::out_of_range", "0"),
        ("nnc::lower::out_of_range", "0.5"),
        ("nnc::lower::out_of_range", "-5"),
        ("nnc::lower::out_of_range", "-3"),
        ("nnc::lower::out_of_range", "-4"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, t)| (c.to_string(), t.to_string()))
        .collect();
    assert_eq!(found, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Shape errors too: two branches of a model that each add widths that differ give two errors;
/// the entries that use a failed one (`c = relu(r1)`, and the output after it) give none, since
/// theirs would follow from it.
#[test]
fn check_reports_independent_shape_errors_and_not_those_that_follow() {
    let dir = scratch("shape-errors");
    let path = dir.join("bad.nn");
    let text = "\
model {
  x = input(4)
  a = dense(8)
  r1 = a + x
  b = dense(6)(x)
  r2 = b + x
  c = relu(r1)
  output(3, activation: softmax)
}
loss: cross_entropy
";
    std::fs::write(&path, text).unwrap();
    let diagnostics = check_json(&path);
    let found: Vec<(String, usize)> = diagnostics
        .iter()
        .map(|d| {
            let line = d["start"]["line"].as_u64().unwrap() as usize;
            (d["code"].as_str().unwrap().to_string(), line)
        })
        .collect();
    let mismatch = "nnc::shape::mismatch".to_string();
    assert_eq!(found, [(mismatch.clone(), 4), (mismatch, 6)]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file whose model has an error is still checked against its data file: an unknown layer and
/// a target column the file lacks are reported together.
#[test]
fn check_reports_data_errors_beside_model_errors() {
    let dir = scratch("data-beside-model");
    std::fs::write(dir.join("d.csv"), "a,b,species\n1,2,x\n3,4,y\n").unwrap();
    let path = dir.join("bad.nn");
    let text = "model {\n  input\n  denes(8)\n  output(activation: softmax)\n}\n\
                loss: cross_entropy\ndata {\n  path: \"d.csv\"\n  target: specie\n}\n";
    std::fs::write(&path, text).unwrap();
    let diagnostics = check_json(&path);
    let codes: Vec<String> = diagnostics.iter().map(|d| d["code"].to_string()).collect();
    assert_eq!(
        codes,
        [
            "\"nnc::lower::unknown_layer\"",
            "\"nnc::data::unknown_target\""
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
