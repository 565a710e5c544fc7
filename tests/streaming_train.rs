//! Training on a data file larger than `memory_limit` (`train::streamed`): the preprocessing
//! fitted in one pass over chunks equals the one fitted on the table in memory; a streamed run
//! is deterministic, resumes exactly after Ctrl-C and with more epochs, reads held-out files in
//! chunks, and says in its report and its first lines that it streamed. (Its peak memory is
//! checked in `streaming_memory.rs`, a test binary of its own.)

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{arg, nnc, ok, scratch};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// Every number of a saved folder's `preprocessing.json`, in order, and the rest of its text
/// without them.
fn preprocessing(dir: &Path) -> (Vec<f64>, String) {
    let text = std::fs::read_to_string(dir.join("preprocessing.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut numbers = Vec::new();
    fn walk(v: &serde_json::Value, numbers: &mut Vec<f64>, shape: &mut String) {
        match v {
            serde_json::Value::Number(n) => {
                numbers.push(n.as_f64().unwrap());
                shape.push('#');
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, numbers, shape)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, v)| {
                shape.push_str(k);
                walk(v, numbers, shape)
            }),
            other => shape.push_str(&other.to_string()),
        }
    }
    let mut shape = String::new();
    walk(&value, &mut numbers, &mut shape);
    (numbers, shape)
}

#[test]
fn the_preprocessing_fitted_in_chunks_is_the_one_fitted_in_memory() {
    let dir = scratch("fitted");
    let model = shipped("breast_cancer.nn");
    // Every row trains (no part held out), so both fit the same rows; a limit of 16 KiB streams.
    for flags in [
        &[][..],
        &["--scaling", "robust", "--outliers", "clip(z: 2)"][..],
        &["--scaling", "minmax", "--outliers", "clip(quantiles: 0.05)"][..],
    ] {
        let (mut fitted, mut losses) = (Vec::new(), Vec::new());
        for (name, limit) in [("streamed", "16KiB"), ("memory", "1GiB")] {
            let out = dir.join(name);
            let _ = std::fs::remove_dir_all(&out);
            let mut args = vec![
                "run",
                arg(&model),
                "--quiet",
                "--epochs",
                "1",
                "--set",
                "data.test_fraction=0",
                "--set",
                "data.validation_fraction=0",
                "--memory-limit",
                limit,
                "--out",
                arg(&out),
            ];
            args.extend_from_slice(flags);
            ok(name, nnc(&args));
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap())
                    .unwrap();
            assert_eq!(
                report["streamed"].is_object(),
                name == "streamed",
                "{name}: {}",
                report["streamed"]
            );
            fitted.push(preprocessing(&out));
            losses.push(report["history"][0]["train_loss"].as_f64().unwrap());
        }
        // The rows come in another order, so the epoch's mean loss differs a little; a sum over
        // the wrong number of rows would differ by orders of magnitude.
        let ratio = losses[0] / losses[1];
        assert!(
            (0.75..1.33).contains(&ratio),
            "{flags:?}: mean training loss {} streamed, {} in memory",
            losses[0],
            losses[1]
        );
        let (streamed, memory) = (&fitted[0], &fitted[1]);
        assert_eq!(
            streamed.1, memory.1,
            "{flags:?}: the same features and settings"
        );
        assert_eq!(streamed.0.len(), memory.0.len());
        for (s, m) in streamed.0.iter().zip(&memory.0) {
            // Running sums against two-pass sums: equal to rounding.
            assert!(
                (s - m).abs() <= 1e-9 * s.abs().max(m.abs()).max(1e-300),
                "{flags:?}: {s} against {m}"
            );
        }
    }
}

/// `nnc run` of digits with a limit that streams it, and more `args`, saved in `dir/name`
/// (emptied first unless the run resumes from it); the saved folder's weights and report
/// without its times.
fn digits(dir: &Path, name: &str, args: &[&str]) -> (Vec<u8>, serde_json::Value) {
    let out = dir.join(name);
    if !args.contains(&"--resume") {
        let _ = std::fs::remove_dir_all(&out);
    }
    let model = shipped("digits.nn");
    let mut all = vec![
        "run",
        arg(&model),
        "--quiet",
        "--memory-limit",
        "64KiB",
        "--out",
        arg(&out),
    ];
    all.extend_from_slice(args);
    ok(name, nnc(&all));
    outcome(&out)
}

/// The weights and the report without times; the warnings are kept, so that a run that did not
/// resume (`no_checkpoint`) differs from one that did.
fn outcome(out: &Path) -> (Vec<u8>, serde_json::Value) {
    common::saved_outcome(out)
}

#[test]
fn a_streamed_run_is_deterministic_and_its_seed_matters() {
    let dir = scratch("seeded");
    let a = digits(&dir, "a", &["--epochs", "3"]);
    let b = digits(&dir, "b", &["--epochs", "3"]);
    assert!(a.0 == b.0, "the same seed, the same weights");
    assert_eq!(a.1, b.1);
    let c = digits(&dir, "c", &["--epochs", "3", "--seed", "9"]);
    assert!(a.0 != c.0, "another seed, other weights");
    let report = &a.1;
    assert_eq!(report["streamed"]["memory_limit"], 65536);
    let rows = &report["rows"];
    let parts: u64 = ["train", "validation", "test"]
        .iter()
        .map(|p| rows[p].as_u64().unwrap())
        .sum();
    assert_eq!(parts, 1797, "every row in one part");
    // The hash split gives each part about its share (test 0.2, validation 0.1 of the rest).
    let test = rows["test"].as_u64().unwrap() as f64 / 1797.0;
    assert!((test - 0.2).abs() < 0.04, "{test}");
    let accuracy = report["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "it learns: {accuracy}");
}

#[test]
fn more_epochs_continue_a_streamed_run() {
    let dir = scratch("more");
    let whole = digits(&dir, "whole", &["--epochs", "6"]);
    let out = dir.join("out");
    digits(&dir, "out", &["--epochs", "3", "--checkpoint-every", "1"]);
    let resumed = digits(&dir, "out", &["--epochs", "6", "--resume", arg(&out)]);
    assert!(resumed.0 == whole.0, "the weights differ");
    assert_eq!(resumed.1, whole.1);
}

#[test]
fn ctrl_c_stops_a_streamed_run_and_it_resumes_exactly() {
    let dir = scratch("interrupt");
    let model = shipped("digits.nn");
    let out = dir.join("out");
    let args = |epochs: &str| {
        vec![
            "run".to_string(),
            arg(&model).to_string(),
            "--quiet".into(),
            "--memory-limit".into(),
            "64KiB".into(),
            "--epochs".into(),
            epochs.to_string(),
            "--out".into(),
            arg(&out).to_string(),
        ]
    };
    let child = Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(args("3000"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(130), "{stderr}");
    let stopped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let epoch = stopped["interrupted"]["epoch"]
        .as_u64()
        .expect("interrupted");
    let batches = stopped["interrupted"]["batches"].as_u64().unwrap();
    eprintln!("stopped at epoch {epoch}, batch {batches}");
    let epochs = (epoch + 3).to_string();
    let mut resume = args(&epochs);
    resume.extend(["--resume".to_string(), arg(&out).to_string()]);
    let resume: Vec<&str> = resume.iter().map(String::as_str).collect();
    ok("resume", nnc(&resume));
    let resumed = outcome(&out);
    let whole = digits(&dir, "whole", &["--epochs", &epochs]);
    assert!(resumed.0 == whole.0, "the weights differ");
    assert_eq!(resumed.1, whole.1);
}

#[test]
fn a_held_out_file_is_read_in_chunks_too() {
    let dir = scratch("held_out");
    let data = std::fs::read_to_string(shipped("data/iris.csv")).unwrap();
    let mut lines: Vec<&str> = data.lines().collect();
    let header = lines.remove(0);
    // Every fifth row is a test row.
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, line) in lines.into_iter().enumerate() {
        match i % 5 {
            0 => test.push(line),
            _ => train.push(line),
        }
    }
    let write = |name: &str, rows: &[&str]| {
        let text: String = std::iter::once(header)
            .chain(rows.iter().copied())
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(dir.join(name), text).unwrap();
    };
    write("train.csv", &train);
    write("test.csv", &test);
    let out = dir.join("out");
    let stdout = ok(
        "run",
        nnc(&[
            "run",
            arg(&shipped("iris.nn")),
            "--data",
            arg(&dir.join("train.csv")),
            "--test-data",
            arg(&dir.join("test.csv")),
            "--memory-limit",
            "4KiB",
            "--out",
            arg(&out),
        ]),
    );
    assert!(
        stdout.contains("larger than the memory limit of 4 KiB: read in chunks"),
        "{stdout}"
    );
    let (_, report) = outcome(&out);
    assert_eq!(report["rows"]["test"], 30, "{}", report["rows"]);
    assert_eq!(report["test"]["confusion"].as_array().unwrap().len(), 3);
    let files = report["rows"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[1]["role"], "test");
    assert_eq!(files[1]["rows"], 30);
}

#[test]
fn a_memory_limit_that_is_not_a_size_is_refused() {
    let dir = scratch("bad_limit");
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        format!(
            "data {{\n  path: \"{}\"\n  target: \"species\"\n  memory_limit: \"lots\"\n}}\n\
             model {{\n  input\n  output(activation: softmax)\n}}\nloss: cross_entropy\n",
            shipped("data/iris.csv").display()
        ),
    )
    .unwrap();
    let out = nnc(&["check", arg(&model)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nnc::lower::out_of_range"), "{stderr}");
    assert!(
        stderr.contains("512 MiB"),
        "the help shows a size: {stderr}"
    );
    let flag = nnc(&["run", arg(&model), "--memory-limit", "12 parsecs"]);
    let stderr = String::from_utf8_lossy(&flag.stderr);
    assert_eq!(flag.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("512MiB"), "{stderr}");
}

/// A file sorted by its class, so that its first chunk (at least one 8 MiB block) holds one
/// class and the rest another: the classes are the whole file's. A file of one class is
/// refused as it is in memory.
#[test]
fn classes_are_those_of_every_chunk() {
    use std::io::Write;
    let dir = scratch("sorted");
    let write = |name: &str, classes: &[(&str, usize)]| {
        let path = dir.join(name);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        out.write_all(b"x,class\n").unwrap();
        let mut i = 0usize;
        for (class, rows) in classes {
            for _ in 0..*rows {
                let x = (i * 7919 % 1000) as f64 / 1000.0;
                writeln!(out, "{x:.3},{class}").unwrap();
                i += 1;
            }
        }
        out.flush().unwrap();
        path
    };
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        "model {\n  input\n  output(activation: softmax)\n}\nloss: cross_entropy\n\
         train {\n  epochs: 1\n  batch_size: 256\n}\n",
    )
    .unwrap();
    let sorted = write("sorted.csv", &[("a", 1_200_000), ("b", 200_000)]);
    let report = dir.join("report.json");
    ok(
        "sorted",
        nnc(&[
            "run",
            arg(&model),
            "--data",
            arg(&sorted),
            "--target",
            "class",
            "--memory-limit",
            "16MiB",
            "--quiet",
            "--report",
            arg(&report),
        ]),
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(report["streamed"].is_object());
    assert_eq!(report["classes"], serde_json::json!(["a", "b"]));
    let single = write("single.csv", &[("a", 1_300_000)]);
    let out = nnc(&[
        "run",
        arg(&model),
        "--data",
        arg(&single),
        "--target",
        "class",
        "--memory-limit",
        "16MiB",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nnc::data::single_class"), "{stderr}");
}

/// The same rows streamed from Parquet train to the same bits as from CSV.
#[test]
fn a_parquet_file_streams_as_its_csv() {
    let dir = scratch("parquet");
    let csv = std::fs::read_to_string(shipped("data/digits.csv")).unwrap();
    let parquet = dir.join("digits.parquet");
    common::parquet::write(&parquet, &csv);
    let from_csv = digits(&dir, "csv", &["--epochs", "3"]);
    let from_parquet = digits(&dir, "parquet", &["--epochs", "3", "--data", arg(&parquet)]);
    assert!(from_parquet.1["streamed"].is_object());
    assert!(from_csv.0 == from_parquet.0, "the weights differ");
    let (mut a, mut b) = (from_csv.1, from_parquet.1);
    for r in [&mut a, &mut b] {
        r["rows"]["files"][0]["path"] = serde_json::Value::Null;
    }
    assert_eq!(a, b);
}
