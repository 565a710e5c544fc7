//! Helpers shared by test files (each test file that uses them says `mod common;`). Each test
//! crate uses only some of them, hence `dead_code` is allowed here.
#![allow(dead_code)]

pub mod parquet;
pub mod targets;
pub mod wide;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The shipped examples, by name (`examples/NAME.nn`).
pub const EXAMPLES: [&str; 9] = [
    "iris",
    "breast_cancer",
    "breast_cancer_dropout",
    "diabetes",
    "diabetes_regularized",
    "digits",
    "digits_deep",
    "residual",
    "custom_layer",
];

/// A path as a command-line argument.
pub fn arg(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The standard output of a command that must have succeeded (else its standard error).
pub fn ok(what: &str, out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run the `nnc` binary under test with `args`, without colours.
pub fn nnc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the nnc binary runs")
}

/// What must agree between two runs saved in `dir`: the weights' bytes, and the report without
/// the times (and the memory peak).
pub fn saved_outcome(dir: &std::path::Path) -> (Vec<u8>, serde_json::Value) {
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let text = std::fs::read_to_string(dir.join("metrics.json")).unwrap();
    let mut metrics: serde_json::Value = serde_json::from_str(&text).unwrap();
    let m = metrics.as_object_mut().unwrap();
    for key in [
        "load_seconds",
        "peak_rss_mib",
        "compile_ms",
        "train_seconds",
        "samples_per_second",
    ] {
        m.remove(key);
    }
    for e in m["history"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("seconds");
    }
    (weights, metrics)
}

/// A scratch folder for one test, emptied first: named after the test crate, the process and
/// `name`, so that tests running at once never share one.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "nnc-{}-{}-{name}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `base` with `len` characters from character `start` replaced by `insert` (both clamped to
/// its length): a mangled copy of a valid file.
pub fn splice(base: &str, start: usize, len: usize, insert: &str) -> String {
    let chars: Vec<char> = base.chars().collect();
    let start = start.min(chars.len());
    let end = (start + len).min(chars.len());
    chars[..start]
        .iter()
        .chain(insert.chars().collect::<Vec<_>>().iter())
        .chain(&chars[end..])
        .collect()
}

/// The text of every ```` ```nn ```` block of a Markdown file, in order.
pub fn nn_blocks(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(doc).unwrap();
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```nn") => current = Some(String::new()),
            (Some(block), "```") => {
                out.push(std::mem::take(block));
                current = None;
            }
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "{doc}: an ```nn block is not closed");
    out
}
