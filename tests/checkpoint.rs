//! Checkpoints and resume (`train::checkpoint`): a run killed with SIGKILL at several moments and
//! resumed each time ends with the weights, history and test metrics of the run never stopped,
//! bit for bit; Ctrl-C stops after a step, saves, exits with 130 and resumes exactly; a changed
//! model, setting or data file is refused by name; a checkpoint that cannot be written is an
//! error that leaves the previous model loadable.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Digits with everything a checkpoint must carry: dropout (the random tensors' counter), a
/// decaying rate (the schedule's step count), Adam's moments, and early stopping that keeps the
/// best epoch's weights (its state and the snapshot).
fn model(dir: &Path, epochs: usize) -> PathBuf {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.csv");
    let text = format!(
        "data {{\n  path: \"{}\"\n  target: \"digit\"\n}}\nmodel {{\n  input\n  \
         dense(48, activation: relu, dropout: 0.2)\n  output(activation: softmax)\n}}\n\
         loss: cross_entropy\noptimizer: adam(learning_rate: 0.002, schedule: cosine(steps: \
         4000))\ntrain {{\n  epochs: {epochs}\n  batch_size: 32\n  seed: 5\n  \
         early_stopping(patience: 1000, restore_best: true)\n}}\n",
        data.display()
    );
    let path = dir.join("model.nn");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> std::process::Output {
    let out = common::nnc(args);
    assert!(
        out.status.success(),
        "nnc {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What must agree between two runs: the weights' bytes, and the metrics without the times.
fn outcome(dir: &Path) -> (Vec<u8>, serde_json::Value) {
    let (weights, mut metrics) = common::saved_outcome(dir);
    // The paths of the data files are the same; the warnings may name the folder.
    metrics.as_object_mut().unwrap().remove("warnings");
    (weights, metrics)
}

/// Start `nnc run` in the background.
fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_run_killed_again_and_again_resumes_to_the_same_bits() {
    let dir = common::scratch("killed");
    let path = model(&dir, 120);
    let path = path.to_str().unwrap();
    let whole = dir.join("whole");
    run(&["run", path, "--quiet", "--out", whole.to_str().unwrap()]);
    let expected = outcome(&whole);

    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let started = Instant::now();
    run(&[
        "run",
        path,
        "--quiet",
        "--out",
        out,
        "--checkpoint-every",
        "1",
    ]);
    let full = started.elapsed();
    assert_eq!(
        outcome(Path::new(out)),
        expected,
        "checkpoints change nothing"
    );
    std::fs::remove_dir_all(out).unwrap();

    // SIGKILL at moments over the run (from before the first checkpoint on: with a checkpoint
    // every epoch some land while one is being written), then resume; each resumed run is killed
    // again, and the last one runs to the end.
    let mut checkpoints_found = 0;
    // Random moments (printed, to repeat a failure): the first before any checkpoint, the others
    // anywhere in the run.
    let mut shares: Vec<f64> = (0..4).map(|_| rand::random::<f64>()).collect();
    shares.insert(0, 0.0);
    eprintln!("killed at these shares of half the run's time: {shares:?}");
    for share in shares {
        let args = [
            "run",
            path,
            "--quiet",
            "--out",
            out,
            "--checkpoint-every",
            "1",
        ];
        let resume = ["--resume", out];
        let has = Path::new(out).join("checkpoint.nnc").exists();
        checkpoints_found += usize::from(has);
        let mut child = match has {
            true => spawn(&[&args[..], &resume[..]].concat()),
            false => spawn(&args),
        };
        std::thread::sleep(full.mul_f64(share / 2.0) + Duration::from_millis(5));
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        checkpoints_found >= 1,
        "the kills came after some checkpoints"
    );
    run(&[
        "run",
        path,
        "--quiet",
        "--out",
        out,
        "--checkpoint-every",
        "1",
        "--resume",
        out,
    ]);
    let resumed = outcome(Path::new(out));
    assert!(resumed.0 == expected.0, "the weights differ");
    assert_eq!(resumed.1, expected.1);
}

#[test]
fn more_epochs_continue_a_finished_run() {
    let dir = common::scratch("more");
    let path = model(&dir, 30);
    let path = path.to_str().unwrap();
    let whole = dir.join("whole");
    run(&[
        "run",
        path,
        "--quiet",
        "--epochs",
        "50",
        "--out",
        whole.to_str().unwrap(),
    ]);
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    run(&[
        "run",
        path,
        "--quiet",
        "--out",
        out,
        "--checkpoint-every",
        "10",
    ]);
    run(&[
        "run", path, "--quiet", "--epochs", "50", "--out", out, "--resume", out,
    ]);
    assert_eq!(outcome(Path::new(out)), outcome(&whole));
}

#[test]
fn ctrl_c_stops_after_a_step_saves_and_resumes_exactly() {
    let dir = common::scratch("interrupt");
    let path = model(&dir, 3000);
    let path = path.to_str().unwrap();
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(["run", path, "--quiet", "--out", out])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let stopped = Instant::now();
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(130), "{stderr}");
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "stopped promptly"
    );
    assert!(stderr.contains(&format!("--resume {out}")), "{stderr}");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        stdout.contains("no test metrics: the run was stopped"),
        "{stdout}"
    );
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/metrics.json")).unwrap())
            .unwrap();
    let at = &metrics["interrupted"];
    let epoch = at["epoch"].as_u64().expect("marked as interrupted");
    assert!(epoch < 3000, "{at}");
    assert!(
        metrics["test"].is_null(),
        "no test metrics for a stopped run"
    );
    // What it saved is a model `predict` can use.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.csv");
    run(&["predict", out, "--data", data.to_str().unwrap()]);

    // Resumed to its end (fewer epochs than asked first, to keep the test short), it equals
    // the run never stopped.
    let epochs = (epoch + 20).to_string();
    run(&[
        "run", path, "--quiet", "--epochs", &epochs, "--out", out, "--resume", out,
    ]);
    let whole = dir.join("whole");
    run(&[
        "run",
        path,
        "--quiet",
        "--epochs",
        &epochs,
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert_eq!(outcome(Path::new(out)), outcome(&whole));
}

#[test]
fn a_changed_model_setting_or_data_file_is_refused_by_name() {
    let dir = common::scratch("mismatch");
    let path = model(&dir, 3);
    let p = path.to_str().unwrap();
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    run(&["run", p, "--quiet", "--out", out, "--checkpoint-every", "1"]);
    let refused = |args: &[&str], what: &str| {
        let r = common::nnc(args);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("nnc::train::checkpoint_mismatch"),
            "{stderr}"
        );
        assert!(stderr.contains(what), "{what}: {stderr}");
    };
    refused(
        &["run", p, "--out", out, "--resume", out, "--seed", "6"],
        "`--seed` was added (6)",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("dense(48", "dense(40")).unwrap();
    refused(
        &["run", p, "--out", out, "--resume", out],
        "the model file changed (first at line 7)",
    );
    std::fs::write(&path, &text).unwrap();
    let copy = dir.join("digits.csv");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.csv");
    let mut rows = std::fs::read_to_string(data).unwrap();
    let first_row = rows.lines().nth(1).unwrap().to_owned();
    rows.push_str(&first_row);
    rows.push('\n');
    std::fs::write(&copy, rows).unwrap();
    refused(
        &[
            "run",
            p,
            "--out",
            out,
            "--resume",
            out,
            "--data",
            copy.to_str().unwrap(),
        ],
        "`--data` was added",
    );
    // Fewer epochs than the checkpoint has done cannot continue it.
    run(&[
        "run", p, "--quiet", "--out", out, "--resume", out, "--epochs", "5",
    ]);
    refused(
        &["run", p, "--out", out, "--resume", out, "--epochs", "4"],
        "past epoch 5",
    );
    // A folder without a checkpoint starts from the beginning, saying so.
    let fresh = dir.join("fresh");
    let fresh = fresh.to_str().unwrap();
    let r = run(&["run", p, "--quiet", "--out", fresh, "--resume", fresh]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("nnc::train::no_checkpoint"), "{stderr}");
}

#[test]
fn a_checkpoint_that_cannot_be_written_is_an_error_and_the_old_model_stays() {
    let dir = common::scratch("unwritable");
    let path = model(&dir, 2);
    let p = path.to_str().unwrap();
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    run(&["run", p, "--quiet", "--out", o]);
    let before = std::fs::read(out.join("model.safetensors")).unwrap();
    // A folder where the checkpoint file should go: renaming the new one over it fails.
    assert!(
        !out.join("checkpoint.nnc").exists(),
        "no checkpoint without --checkpoint-every"
    );
    std::fs::create_dir(out.join("checkpoint.nnc")).unwrap();
    std::fs::write(out.join("checkpoint.nnc/x"), "x").unwrap();
    let r = common::nnc(&["run", p, "--quiet", "--out", o, "--checkpoint-every", "1"]);
    let stderr = unwrapped(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&squashed("cannot write the checkpoint into")) && stderr.contains(o),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        before
    );
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.csv");
    run(&["predict", o, "--data", data.to_str().unwrap()]);
    // Under a path that is a file, the error names the path.
    let file = dir.join("file");
    std::fs::write(&file, "x").unwrap();
    let under = file.join("out");
    let r = common::nnc(&[
        "run",
        p,
        "--quiet",
        "--out",
        under.to_str().unwrap(),
        "--checkpoint-every",
        "1",
    ]);
    let stderr = unwrapped(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(under.to_str().unwrap()), "{stderr}");
}

/// A message as one line: the terminal renderer wraps long ones (a break may take the place of
/// a space, or split a path), so the texts looked for are compared with `squashed`.
fn unwrapped(stderr: &[u8]) -> String {
    squashed(&String::from_utf8_lossy(stderr))
}

/// The text without white space and the renderer's margin.
fn squashed(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

/// A full disk, on a small tmpfs where the test may mount one (as root; skipped elsewhere, where
/// the injected failure above stands in): the run that cannot save its model or a checkpoint
/// fails naming the folder, and the model saved before it still predicts.
#[test]
fn a_full_disk_is_an_error_and_the_old_model_stays() {
    let dir = common::scratch("full_disk");
    let path = model(&dir, 2);
    let p = path.to_str().unwrap();
    // The size of one saved folder, measured in an ordinary one.
    let measured = dir.join("measured");
    run(&["run", p, "--quiet", "--out", measured.to_str().unwrap()]);
    let size: u64 = std::fs::read_dir(&measured)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len().div_ceil(4096) * 4096)
        .sum();
    let disk = dir.join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={}", size * 3 / 2)])
        .arg("tmpfs")
        .arg(&disk)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let out = disk.join("model");
    let o = out.to_str().unwrap();
    let first = common::nnc(&["run", p, "--quiet", "--out", o]);
    // The second save needs room for a whole new folder beside the old one: there is none.
    let second = common::nnc(&["run", p, "--quiet", "--out", o, "--checkpoint-every", "1"]);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.csv");
    let predicted = common::nnc(&["predict", o, "--data", data.to_str().unwrap()]);
    let _ = Command::new("umount").arg(&disk).status();
    assert!(first.status.success(), "{}", unwrapped(&first.stderr));
    let stderr = unwrapped(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&squashed("No space left on device")),
        "{stderr}"
    );
    assert!(stderr.contains(o), "names the folder: {stderr}");
    assert!(predicted.status.success(), "the first model still predicts");
}

/// A run that early stopping ended stays ended when it is resumed: the same weights and history,
/// not one more epoch.
#[test]
fn a_run_ended_by_early_stopping_stays_ended() {
    let dir = common::scratch("early");
    let path = model(&dir, 400);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("patience: 1000", "patience: 2")).unwrap();
    let p = path.to_str().unwrap();
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    run(&["run", p, "--quiet", "--out", o, "--checkpoint-every", "50"]);
    let first = outcome(&out);
    assert_eq!(first.1["stopped_early"], true, "the model stops early");
    run(&["run", p, "--quiet", "--out", o, "--resume", o]);
    assert_eq!(outcome(&out), first);
}
