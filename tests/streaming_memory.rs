//! `nnc predict` on a file larger than the memory it uses: a million rows (381 MiB of CSV, 236
//! MiB as f32 cells) predicted with a peak resident memory under 128 MiB, measured by `wait4` on
//! the child. A test binary of its own: a child's peak counts its parent's memory at the moment
//! it was started, so the parent must be small (no other test running beside it).

mod common;

use std::process::Command;

use common::wide::{rows_to_predict, trained};
use common::{arg, scratch};

/// The peak resident memory of a finished child, in MiB.
fn peak_mib(command: &mut Command) -> (std::process::ExitStatus, f64) {
    // Reaped by `wait4` below, not by `Child::wait`, which would not give the usage.
    #[allow(clippy::zombie_processes)]
    let child = command.spawn().expect("the command starts");
    let mut status = 0;
    // SAFETY: `rusage` is plain old data, written by `wait4` for the child just spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: waits for our own child, writing into the two locals above.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    use std::os::unix::process::ExitStatusExt;
    let status = std::process::ExitStatus::from_raw(status);
    // Linux reports `ru_maxrss` in KiB.
    (status, usage.ru_maxrss as f64 / 1024.0)
}

#[test]
fn predicting_a_large_file_holds_one_chunk_not_the_file() {
    let dir = scratch("memory");
    let saved = trained(&dir);
    let data = dir.join("large.csv");
    rows_to_predict(&data, 1_000_000);
    let size_mib = std::fs::metadata(&data).unwrap().len() as f64 / (1 << 20) as f64;
    assert!(size_mib > 300.0, "{size_mib}");
    let (status, peak) = peak_mib(
        Command::new(env!("CARGO_BIN_EXE_nnc"))
            .args(["predict", arg(&saved), "--data", arg(&data), "--output"])
            .arg(dir.join("out.csv"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    assert!(status.success());
    // The cells of one chunk (4 MiB) and its texts and examples, the reader's blocks, the
    // compiled model (44–46 MiB when measured): far less than the 1,000,000 rows, which as f32
    // cells alone are 236 MiB.
    assert!(
        peak < 128.0,
        "peak {peak:.1} MiB for a {size_mib:.0} MiB file"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out.csv"))
            .unwrap()
            .lines()
            .count(),
        1_000_001
    );
}

/// `nnc run` on a file whose cells alone (600,000 rows of 62 columns as f32: 142 MiB) are more
/// than the peak it is allowed, with `memory_limit: "64 MiB"`: it streams, trains, and peaks
/// far below what holding the file would take.
#[test]
fn training_on_a_file_larger_than_its_memory_limit_streams_it() {
    use std::io::Write;
    let dir = scratch("train");
    let data = dir.join("large.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&data).unwrap());
    out.write_all(common::wide::header().as_bytes()).unwrap();
    for i in 0..600_000 {
        out.write_all(common::wide::row(i, false).as_bytes())
            .unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let size_mib = std::fs::metadata(&data).unwrap().len() as f64 / (1 << 20) as f64;
    assert!(size_mib > 200.0, "{size_mib}");
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        "data {\n  path: \"large.csv\"\n  target: \"class\"\n  memory_limit: \"64 MiB\"\n}\n\
         model {\n  input\n  dense(16, activation: relu)\n  output(activation: softmax)\n}\n\
         loss: cross_entropy\noptimizer: adam(learning_rate: 0.003)\n\
         train {\n  epochs: 1\n  batch_size: 128\n}\n",
    )
    .unwrap();
    let report = dir.join("report.json");
    let (status, peak) = peak_mib(
        Command::new(env!("CARGO_BIN_EXE_nnc"))
            .args(["run", arg(&model), "--quiet", "--report", arg(&report)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    assert!(status.success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["streamed"]["memory_limit"], 64 << 20, "it streamed");
    let rows = &report["rows"];
    assert_eq!(rows["files"][0]["rows"], 600_000);
    let accuracy = report["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.9, "it learned: {accuracy}");
    // A chunk being read (as for predicting: 44–46 MiB with the compiled model), a quarter of
    // the limit for the shuffle buffer, the held-out rows' predictions: under 128 MiB, where
    // the f32 cells of the file alone would be 142 MiB.
    assert!(
        peak < 128.0,
        "peak {peak:.1} MiB for a {size_mib:.0} MiB file"
    );
}
