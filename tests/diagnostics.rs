//! The catalog of diagnostic codes, `docs/diagnostics.md`, is what these tests run. Each
//! `### nnc::...` section holds an example: files (an ```` ```nn ```` block is `model.nn`, a
//! ```` ```csv ```` block `data.csv`, a second word in the fence names another file, and
//! ```` ```csv parquet NAME ```` is written as the Parquet file NAME of its rows) and a
//! ```` ```console ```` transcript of commands with what each prints on stderr. The example is
//! played in a scratch folder, top to bottom, each command by `sh` with the `nnc` binary under
//! test first on the path (and nothing else in the environment): every command must print
//! exactly what the transcript shows (stderr, which is not a terminal there: no colours, 80
//! columns), the commands before the last must succeed, and the last must report exactly the
//! section's code with a help line; its output is also an insta snapshot
//! (`code_<stage>_<name>`). A code no input can reach is built by the library function that makes
//! it (`CONSTRUCTED`) and compared with the section's ```` ```text ```` block. A second test checks
//! that the codes written in `src/`, the catalog's sections and the examples run are one set, in
//! the catalog's order.
//!
//! After changing a message, `UPDATE_DIAGNOSTICS_DOC=1 cargo test --release --test diagnostics`
//! writes the actual output into the catalog (review the diff) instead of comparing.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nnc::diag::{Diagnostic, Source};

const CATALOG: &str = "docs/diagnostics.md";

/// The stages in the order the catalog lists them (a section's code is `nnc::<stage>::<name>`,
/// or `nnc::<stage>` alone).
const STAGES: [&str; 14] = [
    "syntax", "lower", "math", "shape", "data", "fmt", "io", "model", "export", "cli", "bench",
    "train", "lsp", "internal",
];

/// A function that builds a diagnostic.
type Build = fn() -> Diagnostic;

/// Codes that no input is known to reach, each built by the library function that makes it.
const CONSTRUCTED: &[(&str, Build)] = &[
    ("nnc::data::changed", || nnc::data::changed("data.csv")),
    ("nnc::data::target_kind", target_kind),
    ("nnc::model::plot", || {
        let e = nnc::plots::PlotError::Draw("the backend refused the text".into());
        nnc::train::saved::plot_error(e)
    }),
    ("nnc::fmt::internal", || {
        let source = Source::new("model.nn", "loss: mse\n");
        nnc::fmt::check_meaning(&source, "loss: mae\n").unwrap_err()
    }),
    ("nnc::io::temporary", || {
        nnc::train::session::temporary_error(&std::io::Error::from_raw_os_error(28))
    }),
    ("nnc::internal", || {
        nnc::train::session::internal("the compiled step returned an error")
    }),
];

/// A preprocessing fitted on a target of classes, applied to the same file read with a target
/// of values: what `nnc eval` would meet if a saved model's target kind were not the one it
/// reads the file with.
fn target_kind() -> Diagnostic {
    use nnc::data::{fit, parse_csv, DataOrigin, TargetEncoding, TargetKind};
    let source = Source::new("data.csv", "x,y\n1.5,0\n2.0,1\n2.5,0\n3.0,1\n");
    let read = |kind| parse_csv(&source, "y", kind, &DataOrigin::default()).unwrap();
    let rows = [0, 1, 2, 3];
    let fitted = fit(
        &read(TargetKind::Classes),
        &rows,
        &Default::default(),
        TargetEncoding::OneHot,
        &[],
    )
    .unwrap();
    fitted.apply(&read(TargetKind::Values), &rows).unwrap_err()
}

/// One step of an example, in the catalog's order.
enum Block {
    /// A file to write into the scratch folder: the text, or a Parquet file of the CSV text's
    /// rows (typed as `common::parquet` says).
    File {
        name: String,
        text: String,
        parquet: bool,
    },
    /// A command and what it prints on stderr; `line` is the command's line in the catalog.
    Command {
        command: String,
        expected: String,
        line: usize,
    },
    /// The rendering of a `CONSTRUCTED` diagnostic, starting after the fence at `line`.
    Rendered { expected: String, line: usize },
}

struct Section {
    code: String,
    blocks: Vec<Block>,
}

fn catalog() -> String {
    std::fs::read_to_string(CATALOG).expect("docs/diagnostics.md is readable")
}

/// The catalog's sections: a `### nnc::...` heading, then its fenced blocks up to the next
/// heading. Fences of other languages (`rust`) are shown to readers only.
fn sections(text: &str) -> Vec<Section> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Section> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if let Some(heading) = line.strip_prefix("### ") {
            out.push(Section {
                code: heading.trim().to_string(),
                blocks: Vec::new(),
            });
            continue;
        }
        if line.starts_with("## ") || !line.starts_with("```") {
            continue;
        }
        let info: Vec<&str> = line[3..].split_whitespace().collect();
        let fence = i;
        let mut body = Vec::new();
        while i < lines.len() && lines[i] != "```" {
            body.push(lines[i]);
            i += 1;
        }
        assert!(i < lines.len(), "{CATALOG}:{fence}: a fence is not closed");
        i += 1;
        let Some(section) = out.last_mut() else {
            continue;
        };
        let text: String = body.iter().map(|l| format!("{l}\n")).collect();
        match info.as_slice() {
            ["console"] => section.blocks.extend(commands(&body, fence)),
            ["text"] => section.blocks.push(Block::Rendered {
                expected: text,
                line: fence,
            }),
            ["nn"] => section.blocks.push(file("model.nn", text)),
            ["csv"] => section.blocks.push(file("data.csv", text)),
            ["csv", "parquet", name] => section.blocks.push(Block::File {
                name: name.to_string(),
                text,
                parquet: true,
            }),
            [_, name] => section.blocks.push(file(name, text)),
            _ => {}
        }
    }
    out
}

fn file(name: &str, text: String) -> Block {
    Block::File {
        name: name.to_string(),
        text,
        parquet: false,
    }
}

/// A transcript's commands (`$ ...` lines) with the lines after each as its expected stderr.
/// `first_line` is the 1-based catalog line of the transcript's first line.
fn commands(body: &[&str], first_line: usize) -> Vec<Block> {
    let mut out = Vec::new();
    for (k, line) in body.iter().enumerate() {
        match (line.strip_prefix("$ "), out.last_mut()) {
            (Some(command), _) => out.push(Block::Command {
                command: command.to_string(),
                expected: String::new(),
                line: first_line + k + 1,
            }),
            (None, Some(Block::Command { expected, .. })) => {
                expected.push_str(line);
                expected.push('\n');
            }
            (None, _) => panic!(
                "{CATALOG}:{}: a transcript starts with a `$ ` command",
                first_line + k + 1
            ),
        }
    }
    out
}

/// Trailing spaces and blank lines carry no meaning in a transcript (and editors strip them).
fn normalize(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let mut text = lines.join("\n");
    text.truncate(text.trim_end().len());
    text
}

struct Ran {
    stderr: String,
    success: bool,
}

/// Run one transcript command in `dir` with `sh`, the `nnc` under test first on the path.
fn run(dir: &Path, command: &str) -> Ran {
    let bin = Path::new(env!("CARGO_BIN_EXE_nnc")).parent().unwrap();
    // `timeout` ends the whole command, nnc and all, should a change make it wait forever.
    let out = Command::new("timeout")
        .args(["120", "sh", "-c", command])
        .current_dir(dir)
        // What nnc prints depends on nothing but its arguments and files.
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    Ran {
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    }
}

/// A diagnostic rendered as the binary prints it when stderr is not a terminal.
fn render(d: Diagnostic) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(80);
    let mut out = String::new();
    handler.render_report(&mut out, &d).unwrap();
    out
}

/// A fresh scratch folder for one section's example.
fn scratch(code: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("diagnostics")
        .join(code.replace("::", "_"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Play a section's example, adding the actual output of each command (or rendering) by its
/// catalog line to `outputs`, and what is wrong to `problems`.
fn play(section: &Section, outputs: &mut Vec<(usize, String)>, problems: &mut Vec<String>) {
    let code = &section.code;
    let dir = scratch(code);
    let before = problems.len();
    let mut last: Option<(String, bool)> = None;
    for block in &section.blocks {
        let (expected, line, actual) = match block {
            Block::File {
                name,
                text,
                parquet,
            } => {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                match parquet {
                    true => common::parquet::write(&path, text),
                    false => std::fs::write(path, text).unwrap(),
                }
                continue;
            }
            Block::Command {
                command,
                expected,
                line,
            } => {
                if let Some((_, false)) = &last {
                    problems.push(format!("{CATALOG}:{line}: the command before failed"));
                }
                let ran = run(&dir, command);
                last = Some((ran.stderr.clone(), ran.success));
                (expected, line, ran.stderr)
            }
            Block::Rendered { expected, line } => {
                let Some((_, make)) = CONSTRUCTED.iter().find(|(c, _)| c == code) else {
                    problems.push(format!("{CATALOG}:{line}: `{code}` is not in CONSTRUCTED"));
                    continue;
                };
                let rendered = render(make());
                last = Some((rendered.clone(), false));
                (expected, line, rendered)
            }
        };
        if normalize(expected) != normalize(&actual) {
            problems.push(format!(
                "{CATALOG}:{line}: the output differs; it is:\n{actual}"
            ));
        }
        outputs.push((*line, actual));
    }
    match last {
        None => problems.push(format!("`{code}`: the section has no example")),
        Some((stderr, success)) => {
            problems.extend(check_reported(code, &stderr, success));
            insta::assert_snapshot!(format!("code_{}", code[5..].replace("::", "_")), stderr);
        }
    }
    // A failing example's folder stays for a look.
    if problems.len() == before {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The last command reported exactly `code`, first, with a help line; it failed unless the
/// diagnostic is a warning.
fn check_reported(code: &str, stderr: &str, success: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let first = stderr.lines().next().unwrap_or("");
    if first != code {
        problems.push(format!(
            "`{code}`: the last command reported `{first}`:\n{stderr}"
        ));
    }
    if !stderr.lines().any(|l| l.starts_with("  help: ")) {
        problems.push(format!("`{code}`: no help line:\n{stderr}"));
    }
    let warning = stderr.lines().nth(2).is_some_and(|l| l.starts_with("  ⚠"));
    if success != warning {
        problems.push(format!(
            "`{code}`: the last command {} (a warning lets the command succeed, an error fails it)",
            if success { "succeeded" } else { "failed" }
        ));
    }
    problems
}

/// The catalog with each transcript's and rendering's output replaced by the actual one.
fn updated(text: &str, outputs: &[(usize, String)]) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for (k, line) in text.lines().enumerate() {
        let number = k + 1;
        if skipping {
            if line == "```" || line.starts_with("$ ") {
                skipping = false;
            } else {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
        if let Some((_, actual)) = outputs.iter().find(|(l, _)| *l == number) {
            out.push_str(&normalize(actual));
            if !actual.trim().is_empty() {
                out.push('\n');
            }
            skipping = true;
        }
    }
    out
}

#[test]
fn every_code_is_reported_as_the_catalog_shows() {
    let text = catalog();
    let mut outputs = Vec::new();
    let mut problems = Vec::new();
    for section in sections(&text) {
        play(&section, &mut outputs, &mut problems);
    }
    if std::env::var_os("UPDATE_DIAGNOSTICS_DOC").is_some() {
        std::fs::write(CATALOG, updated(&text, &outputs)).unwrap();
        // The outputs are written as they are; what else is wrong still needs a look.
        for p in &problems {
            eprintln!("{p}\n");
        }
        return;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Every `"nnc::..."` string literal in the files under `dir`.
fn codes_in(dir: &Path, codes: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            codes_in(&path, codes);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("\"nnc::") {
            let rest = &text[at + 1..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "_:".contains(c)))
                .unwrap_or(rest.len());
            if rest[end..].starts_with('"') {
                codes.insert(rest[..end].to_string());
            }
        }
    }
}

/// Where a code goes in the catalog: by stage, then by name.
fn order(code: &str) -> (usize, &str) {
    let mut parts = code.splitn(3, "::").skip(1);
    let stage = parts.next().unwrap_or("");
    let position = STAGES.iter().position(|s| *s == stage);
    (
        position.unwrap_or_else(|| panic!("`{code}`: unknown stage, add it to STAGES")),
        parts.next().unwrap_or(""),
    )
}

#[test]
fn source_catalog_and_examples_have_the_same_codes() {
    let mut in_src = BTreeSet::new();
    codes_in(Path::new("src"), &mut in_src);
    assert!(in_src.len() > 100, "the scan finds the codes: {in_src:?}");

    let sections = sections(&catalog());
    let documented: Vec<&str> = sections.iter().map(|s| s.code.as_str()).collect();
    let exampled: BTreeSet<&str> = (sections.iter())
        .filter(|s| s.blocks.iter().any(|b| !matches!(b, Block::File { .. })))
        .map(|s| s.code.as_str())
        .collect();

    let in_src: BTreeSet<&str> = in_src.iter().map(String::as_str).collect();
    let documented_set: BTreeSet<&str> = documented.iter().copied().collect();
    let missing: Vec<_> = in_src.difference(&documented_set).collect();
    let stale: Vec<_> = documented_set.difference(&in_src).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "codes in src/ but not in {CATALOG}: {missing:?}; in {CATALOG} but not in src/: {stale:?}"
    );
    assert_eq!(
        documented.len(),
        documented_set.len(),
        "a code has two sections"
    );
    for (code, _) in CONSTRUCTED {
        assert!(
            documented_set.contains(code),
            "`{code}` is built but has no section"
        );
    }
    let untested: Vec<_> = documented_set.difference(&exampled).collect();
    assert!(
        untested.is_empty(),
        "sections without an example: {untested:?}"
    );

    let mut sorted = documented.clone();
    sorted.sort_by_key(|c| order(c));
    assert_eq!(
        documented, sorted,
        "{CATALOG} lists codes by stage, then by name"
    );
}
