//! `--set` and `--sweep` as a user meets them: the overridden file reaching the run and the saved
//! model, mistakes shown in the flag's text with exit code 1, and a sweep's table and JSON report
//! best first, with a failing variant in its row.

mod common;

use common::nnc;

use std::path::{Path, PathBuf};
use std::process::Output;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch folder holding the iris data and `model`, emptied first.
fn iris_dir(name: &str, model: &str) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("nnc-experiments-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("examples/data/iris.csv", dir.join("iris.csv")).unwrap();
    let path = dir.join("model.nn");
    std::fs::write(&path, model).unwrap();
    (dir, path)
}

const IRIS: &str = "\
data {
  path: \"iris.csv\"
  target: species
}
model {
  input(4)
  dense(8, activation: relu)
  output(3, activation: softmax)
}
loss: cross_entropy
optimizer: adam(learning_rate: 0.01)
train {
  epochs: 3
  batch_size: 16
}
";

fn run(path: &Path, args: &[&str]) -> Output {
    let mut all = vec!["run", path.to_str().unwrap()];
    all.extend_from_slice(args);
    nnc(&all)
}

#[test]
fn set_reaches_the_run_and_the_saved_model_records_the_overridden_file() {
    let (dir, path) = iris_dir("set-out", IRIS);
    let out_dir = dir.join("saved");
    let report = dir.join("report.json");
    let out = run(
        &path,
        &[
            "--set",
            "train.epochs=5",
            "--set",
            "model.1.units=12",
            "--set",
            "optimizer=sgd(learning_rate: 0.1, momentum: 0.9)",
            "--set",
            "model.1.activation=tanh",
            "--set",
            "train.seed=3",
            "--out",
            out_dir.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["epochs_run"], 5);
    let saved = std::fs::read_to_string(out_dir.join("model.nn")).unwrap();
    assert!(saved.contains("  dense(12, activation: tanh)\n"), "{saved}");
    assert!(
        saved.contains("optimizer: sgd(learning_rate: 0.1, momentum: 0.9)\n"),
        "{saved}"
    );
    assert!(
        saved.contains("  epochs: 5\n  batch_size: 16\n  seed: 3\n}"),
        "{saved}"
    );
    // The file on disk is untouched.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), IRIS);
    // The summary shows the overridden layer: 4·12 + 12 + 12·3 + 3 parameters.
    let out = nnc(&[
        "summary",
        path.to_str().unwrap(),
        "--set",
        "model.1.units=12",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("99"), "{}", text(&out.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn set_mistakes_are_shown_in_the_flags_text() {
    let (dir, path) = iris_dir("set-mistakes", IRIS);
    let model = path.to_str().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        // A wrong path: "did you mean" and what exists at that level.
        (
            "optimizer.learning_rat=0.1",
            "--set:1:11",
            &["did you mean `learning_rate`"],
        ),
        (
            "model.4.units=3",
            "--set:1:7",
            &["1 (`dense(8,", "2 (`output(3"],
        ),
        ("trian.epochs=3", "--set:1:1", &["did you mean `train`"]),
        // A bad value, in the flag's text.
        (
            "optimizer.learning_rate=20",
            "--set:1:25",
            &["between 0 and 10"],
        ),
        (
            "model.1.activation=tanhh",
            "--set:1:20",
            &["did you mean `tanh`"],
        ),
        ("loss=msee", "--set:1:6", &["did you mean `mse`"]),
    ];
    for (flag, place, helps) in cases {
        let out = nnc(&["check", model, "--set", flag]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag}: {err}");
        assert!(err.contains(&format!("[{place}]")), "{flag}: {err}");
        assert!(
            err.contains(flag),
            "{flag}: the flag's text is shown: {err}"
        );
        for h in *helps {
            assert!(err.contains(h), "{flag}: {h}: {err}");
        }
        assert!(!err.contains("panicked"), "{flag}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sweep over two learning rates and two widths, one of which fails the shape check.
#[test]
fn a_sweep_trains_every_combination_and_ranks_them_best_first() {
    let (dir, path) = iris_dir("sweep", IRIS);
    let report = dir.join("sweep.json");
    let out = run(
        &path,
        &[
            "--sweep",
            "optimizer=adam(learning_rate: 0.05),sgd(learning_rate: 0.0001)",
            "--sweep",
            "model.2.units=3,4",
            "--set",
            "train.epochs=20",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for n in 1..=4 {
        assert!(stdout.contains(&format!("variant {n}/4: ")), "{stdout}");
    }
    assert!(stdout.contains("variant 2/4 failed: "), "{stdout}");
    assert!(
        stderr.contains("nnc::"),
        "the failure is shown in full: {stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["metric"], "accuracy");
    let variants = json["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 4);
    let numbers: Vec<u64> = variants
        .iter()
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    // Adam at 0.05 learns iris in 20 epochs, SGD at 0.0001 does not; units 4 and units 3 with
    // 3 classes: the 4-unit output does not fit the 3 classes and fails.
    assert_eq!(numbers, [1, 3, 2, 4], "{json:#}");
    let val = |i: usize| variants[i]["validation"]["accuracy"].as_f64().unwrap();
    assert!(val(0) >= val(1), "{json:#}");
    assert_eq!(variants[0]["settings"][0]["key"], "optimizer");
    assert_eq!(variants[0]["settings"][1]["value"], "3");
    assert_eq!(variants[0]["epochs_run"], 20);
    for failed in &variants[2..] {
        assert_eq!(failed["error"]["code"], "nnc::shape::mismatch", "{json:#}");
        assert!(failed.get("test").is_none());
    }
    // The table: a header, then the rows in the same order.
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("rank"))
        .collect();
    assert!(table[0].contains("val accuracy") && table[0].contains("test accuracy"));
    let row_of = |n: usize| {
        table
            .iter()
            .position(|l| l.trim_start().starts_with(&n.to_string()))
    };
    assert_eq!(table.len(), 5, "{stdout}");
    assert!(
        table[1].contains("adam(learning_rate: 0.05)  model.2.units=3"),
        "{stdout}"
    );
    assert!(
        table[2].contains("sgd(learning_rate: 0.0001)  model.2.units=3"),
        "{stdout}"
    );
    assert!(
        table[3].contains("failed: nnc::shape::mismatch"),
        "{stdout}"
    );
    assert_eq!(row_of(4), Some(4));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_where_every_variant_fails_exits_1() {
    let (dir, path) = iris_dir("sweep-fails", IRIS);
    let out = run(&path, &["--sweep", "model.2.units=5,6"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("failed: nnc::"));
    let out = run(&path, &["--sweep", "model.2.units"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nnc::cli::sweep"));
    let _ = std::fs::remove_dir_all(&dir);
}
