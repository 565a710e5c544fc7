//! `nnc bench`: the JSON it prints has every figure, consistent with the protocol (whole batches
//! of the requested samples, the requested number of timed epochs, FLOP per step from the
//! model's matrices); mistakes are diagnostics. No figure is compared with a time: the machines
//! are shared.

use std::process::Command;

fn nnc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn bench_prints_every_figure_as_json() {
    let out = nnc(&[
        "bench",
        "benches/models/regression.nn",
        "--samples",
        "1000",
        "--epochs",
        "6",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Batches of 32: 31 whole ones of the 1000 samples.
    assert_eq!(r["batch"], 32);
    assert_eq!(r["samples_per_epoch"], 31 * 32);
    assert_eq!(r["epoch_seconds"].as_array().unwrap().len(), 6);
    // 10-64-64-1: 6 · 32 · (10·64 + 64·64 + 64·1).
    assert_eq!(r["flop_per_step"], 6.0 * 32.0 * (640.0 + 4096.0 + 64.0));
    for key in [
        "compile_ms",
        "init_ms",
        "samples_per_second",
        "gflops",
        "eval_samples_per_second",
        "peak_rss_mib",
    ] {
        let v = r[key].as_f64().unwrap_or_else(|| panic!("{key}: {r}"));
        assert!(v.is_finite() && v > 0.0, "{key} = {v}");
    }
    // GFLOP/s and samples/s describe the same median epoch.
    let steps_per_second = r["samples_per_second"].as_f64().unwrap() / 32.0;
    let gflops = r["flop_per_step"].as_f64().unwrap() * steps_per_second / 1e9;
    assert!((gflops / r["gflops"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    // --batch replaces the file's.
    let out = nnc(&[
        "bench",
        "benches/models/tiny.nn",
        "--batch",
        "50",
        "--samples",
        "120",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["batch"].clone(), r["samples_per_epoch"].clone()),
        (50.into(), 100.into())
    );
    // Fewer than ten timed epochs say nothing of a drift.
    assert!(r["drift"].is_null(), "{r}");
}

/// With ten timed epochs or more, the drift is the median epoch of the last fifth over that of
/// the first fifth, from the same epoch times the report lists.
#[test]
fn a_long_bench_reports_the_drift_of_its_epoch_times() {
    let out = nnc(&[
        "bench",
        "benches/models/tiny.nn",
        "--samples",
        "320",
        "--epochs",
        "12",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seconds: Vec<f64> = (r["epoch_seconds"].as_array().unwrap().iter())
        .map(|s| s.as_f64().unwrap())
        .collect();
    assert_eq!(seconds.len(), 12);
    // A fifth of 12 is 2 epochs: the median of two is the larger (the upper middle).
    let median2 = |a: f64, b: f64| a.max(b);
    let want = median2(seconds[10], seconds[11]) / median2(seconds[0], seconds[1]);
    let got = r["drift"].as_f64().unwrap_or_else(|| panic!("{r}"));
    assert!(
        (got / want - 1.0).abs() < 1e-12,
        "drift {got}, epochs {seconds:?}"
    );
    let text = nnc(&[
        "bench",
        "benches/models/tiny.nn",
        "--samples",
        "320",
        "--epochs",
        "12",
    ]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("drift"));
}

#[test]
fn bench_mistakes_are_diagnostics() {
    let dir = std::env::temp_dir().join(format!("nnc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("no_width.nn");
    std::fs::write(&model, "model {\n  input\n  output(1)\n}\nloss: mse\n").unwrap();
    let out = nnc(&["bench", model.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nnc::bench::input_width") && err.contains("no_width.nn:2:3"),
        "{err}"
    );
    // An output layer whose width would come from the data.
    let out = nnc(&[
        "bench",
        "examples/digits.nn",
        "--set",
        "model.input.width=64",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nnc::bench::output_width") && err.contains("digits.nn:11:3"),
        "{err}"
    );
    for args in [["--samples", "10"], ["--epochs", "2"]] {
        let mut a = vec!["bench", "benches/models/tiny.nn"];
        a.extend(args);
        let out = nnc(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("nnc::bench::too_few"), "{err}");
    }
}
