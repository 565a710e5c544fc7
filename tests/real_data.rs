//! A messy copy of the iris data through the whole pipeline: an id column, a text column, an
//! integer column, missing values written three ways, outliers and a semicolon delimiter. Every
//! missing-value strategy, outlier rule and scaling trains to a sensible model from the command
//! line; the default refuses the first missing cell by its place; statistics come from the
//! training rows only; unseen categories, delimiters and forced categorical columns do what the
//! data block says.

mod common;

use common::{nnc, scratch};

use std::path::{Path, PathBuf};
use std::process::Output;

use nnc::data::{
    fit, load_table, split, usable_rows, ColumnSettings, DataOrigin, Missing, Named, Outliers,
    PrepareConfig, ReadOptions, Scaling, SplitConfig, Table, TargetEncoding, TargetKind,
    TargetSpec, Unseen,
};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A diagnostic's text with the line wrapping and the margin taken out, for phrases that may be
/// wrapped.
fn flat(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The run succeeded; its standard output.
fn ok(what: &str, o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(0), "{what}: exit 0, stderr: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    stdout(o)
}

/// The run failed cleanly with exit code 1; its standard error.
fn fails(what: &str, o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{what}: exit 1, stderr: {err}");
    assert!(!err.contains("panicked"), "{what}: no panic: {err}");
    err
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

// ---- the messy file ----

const HEADER: [&str; 8] = [
    "id",
    "sepal_length_cm",
    "sepal_width_cm",
    "petal_length_cm",
    "petal_width_cm",
    "color",
    "batch",
    "species",
];
const COLORS: [&str; 3] = ["red", "green", "blue"];

/// Missing cells as (data row, column, marker). The first in file order is row 7's petal length,
/// although an earlier column misses a value on a later row (30).
const MISSING: [(usize, &str, &str); 5] = [
    (7, "petal_length_cm", ""),
    (30, "sepal_length_cm", "NA"),
    (60, "petal_width_cm", "?"),
    (95, "color", "?"),
    (115, "sepal_width_cm", "NA"),
];

/// Values far outside their columns.
const OUTLIERS: [(usize, &str, &str); 2] = [
    (20, "sepal_width_cm", "1e6"),
    (140, "sepal_length_cm", "1e6"),
];

fn col(name: &str) -> usize {
    HEADER.iter().position(|h| *h == name).unwrap()
}

/// The header and 150 rows: the shipped iris measurements with an id (`id-1` ...), a color that
/// says nothing about the species, an integer batch number (1 to 4), missing cells and outliers.
fn messy() -> Vec<Vec<String>> {
    let iris = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/iris.csv"),
    )
    .unwrap();
    let mut rows = vec![HEADER.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for (i, line) in iris.lines().skip(1).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let mut row = vec![format!("id-{}", i + 1)];
        row.extend(cells[..4].iter().map(|c| c.to_string()));
        row.push(COLORS[i % 3].to_string());
        row.push((i % 4 + 1).to_string());
        row.push(cells[4].to_string());
        rows.push(row);
    }
    assert_eq!(rows.len(), 151);
    for (r, c, v) in MISSING.into_iter().chain(OUTLIERS) {
        rows[r + 1][col(c)] = v.to_string();
    }
    rows
}

fn write_rows(path: &Path, rows: &[Vec<String>], delimiter: char) {
    let text: String = rows
        .iter()
        .map(|r| r.join(&delimiter.to_string()) + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

/// `dir/model.nn` reading `csv` with the extra data settings `settings` (one per line).
fn model(dir: &Path, csv: &str, settings: &[&str]) -> PathBuf {
    let path = dir.join("model.nn");
    let settings: String = settings.iter().map(|s| format!("  {s}\n")).collect();
    std::fs::write(
        &path,
        format!(
            "data {{\n  path: \"{csv}\"\n  target: species\n{settings}}}\n\
             model {{\n  dense(16, activation: relu)\n  output(activation: softmax)\n}}\n\
             loss: cross_entropy\noptimizer: adam(learning_rate: 0.01)\n\
             train {{ epochs: 100 batch_size: 16 seed: 42 }}\n"
        ),
    )
    .unwrap();
    path
}

/// The feature named `name` in a saved `preprocessing.json`.
fn feature<'a>(pre: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    pre["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no feature {name} in {pre}"))
}

/// The `(B, n)` width of the input row of `nnc summary`.
fn input_width(summary: &str) -> String {
    summary
        .lines()
        .find(|l| l.starts_with("input"))
        .unwrap_or_else(|| panic!("{summary}"))
        .split_whitespace()
        .skip(1)
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- every strategy trains ----

#[test]
fn every_missing_strategy_outlier_rule_and_scaling_trains_a_sensible_model() {
    let dir = scratch("matrix");
    write_rows(&dir.join("messy.csv"), &messy(), ';');
    let report = dir.join("report.json");
    let saved = dir.join("saved");
    let strategies = [
        ("drop", serde_json::json!("drop")),
        ("mean", serde_json::json!("mean")),
        ("median", serde_json::json!("median")),
        ("most_frequent", serde_json::json!("most_frequent")),
        ("constant(0)", serde_json::json!({ "constant": 0.0 })),
    ];
    for (missing, recorded) in &strategies {
        for outliers in ["none", "clip(z: 3)", "clip(quantiles: 0.01)"] {
            for scaling in ["standard", "minmax", "robust", "none"] {
                let what = format!("missing: {missing}, outliers: {outliers}, scaling: {scaling}");
                let m = model(
                    &dir,
                    "messy.csv",
                    &[
                        "ignore: [id]",
                        &format!("missing: {missing}"),
                        &format!("outliers: {outliers}"),
                        &format!("scaling: {scaling}"),
                    ],
                );
                let out = nnc(&[
                    "run",
                    arg(&m),
                    "-q",
                    "--report",
                    arg(&report),
                    "--out",
                    arg(&saved),
                ]);
                ok(&what, &out);
                assert!(
                    !stderr(&out).contains("high_cardinality"),
                    "{what}: the ignored id column is not looked at: {}",
                    stderr(&out)
                );

                let r = json(&report);
                let accuracy = r["test"]["accuracy"].as_f64().unwrap();
                assert!(accuracy >= 0.8, "{what}: test accuracy {accuracy}");
                let load = r["load_seconds"].as_f64().unwrap();
                assert!((0.0..60.0).contains(&load), "{what}: load_seconds {load}");
                if cfg!(target_os = "linux") {
                    let rss = r["peak_rss_mib"].as_f64().unwrap();
                    assert!(rss > 1.0, "{what}: peak_rss_mib {rss}");
                }
                let rows = &r["rows"];
                let dropped = rows["dropped_missing"].as_u64().unwrap();
                let expected = if *missing == "drop" { MISSING.len() } else { 0 };
                assert_eq!(dropped, expected as u64, "{what}: {rows}");
                let used: u64 = ["train", "validation", "test"]
                    .iter()
                    .map(|k| rows[k].as_u64().unwrap())
                    .sum();
                assert_eq!(used + dropped, 150, "{what}: {rows}");

                // The saved preprocessing records what was fitted.
                let pre = json(&saved.join("preprocessing.json"));
                let width = feature(&pre, "sepal_width_cm");
                assert_eq!(&width["missing"], recorded, "{what}: {width}");
                assert_eq!(
                    width["fill"].is_null(),
                    *missing == "drop",
                    "{what}: {width}"
                );
                let reference = width["reference"].as_f64().unwrap();
                match outliers {
                    "none" => assert!(width["clip"].is_null(), "{what}: {width}"),
                    _ => {
                        let hi = width["clip"][1].as_f64().unwrap() + reference;
                        assert!(hi < 1e6, "{what}: the outlier is clipped: {width}");
                    }
                }
                if scaling == "none" {
                    assert_eq!(width["center"].as_f64(), Some(-reference), "{what}");
                    assert_eq!(width["scale"].as_f64(), Some(1.0), "{what}");
                }
                let color = feature(&pre, "color");
                assert_eq!(
                    color["categories"],
                    serde_json::json!(["blue", "green", "red"]),
                    "{what}"
                );
                let fill = &color["fill"];
                match *missing {
                    "drop" => assert!(fill.is_null(), "{what}: {color}"),
                    "constant(0)" => assert_eq!(fill, "0", "{what}: {color}"),
                    _ => assert!(
                        COLORS.iter().any(|c| fill == c),
                        "{what}: a color fills the gap: {color}"
                    ),
                }
                assert_eq!(feature(&pre, "batch")["kind"], "numeric", "{what}");
                assert!(
                    pre["features"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|f| f["name"] != "id"),
                    "{what}: the id column is ignored"
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_missing_strategy_the_first_missing_cell_is_named_by_its_place() {
    let dir = scratch("missing-error");
    let rows = messy();
    write_rows(&dir.join("messy.csv"), &rows, ';');
    let out = nnc(&["run", arg(&model(&dir, "messy.csv", &["ignore: [id]"]))]);
    let err = fails("missing: error", &out);
    let _ = std::fs::remove_dir_all(&dir);

    let (row, column, _) = MISSING[0];
    assert!(
        MISSING.iter().all(|&(r, _, _)| r >= row),
        "the first missing row"
    );
    let line = row + 2;
    // 1-based character column of the cell: the cells before it and their delimiters.
    let at = rows[row + 1][..col(column)]
        .iter()
        .map(|c| c.len() + 1)
        .sum::<usize>()
        + 1;
    assert!(
        err.contains(&format!("messy.csv:{line}:{at}]")),
        "names messy.csv:{line}:{at}: {err}"
    );
    assert!(
        err.contains("nnc::data::missing_value") && err.contains(column),
        "{err}"
    );
    let flat = flat(&err);
    let help = &flat[flat
        .find("help:")
        .unwrap_or_else(|| panic!("a help line: {err}"))..];
    assert!(help.contains("`missing:`"), "{help}");
}

#[test]
fn an_id_column_is_flagged_unless_it_is_ignored() {
    let dir = scratch("id");
    write_rows(&dir.join("messy.csv"), &messy(), ';');
    let noisy = nnc(&[
        "run",
        arg(&model(&dir, "messy.csv", &["missing: median"])),
        "--epochs",
        "1",
        "-q",
    ]);
    ok("id not ignored", &noisy);
    let warned = flat(&stderr(&noisy));
    assert!(
        warned.contains("nnc::data::high_cardinality")
            && warned.contains("column `id`")
            && warned.contains("150 distinct values")
            && warned.contains("ignore: [id]"),
        "{warned}"
    );
    let quiet = nnc(&[
        "run",
        arg(&model(
            &dir,
            "messy.csv",
            &["missing: median", "ignore: [id]"],
        )),
        "--epochs",
        "1",
        "-q",
    ]);
    ok("id ignored", &quiet);
    assert!(
        !stderr(&quiet).contains("high_cardinality"),
        "{}",
        stderr(&quiet)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- statistics come from the training rows only ----

const PREPARED: [&str; 4] = [
    "ignore: [id]",
    "missing: median",
    "outliers: clip(z: 3)",
    "scaling: robust",
];

fn prepare_config() -> PrepareConfig {
    PrepareConfig {
        defaults: ColumnSettings {
            missing: Missing::Median,
            outliers: Outliers::ClipZ(3.0),
            scaling: Scaling::Robust,
            unseen: Unseen::Zeros,
        },
        columns: Vec::new(),
    }
}

/// Row `r` of `rows` with other measurements, a color never seen before and another batch; the
/// id, the species and the missing cells stay.
fn disguise(rows: &mut [Vec<String>], r: usize) {
    let row = &mut rows[r + 1];
    for cell in &mut row[1..=4] {
        if let Ok(v) = cell.parse::<f64>() {
            *cell = format!("{}", v * 3.0 + 1.25);
        }
    }
    if !row[col("color")].is_empty() && row[col("color")] != "?" {
        row[col("color")] = "purple".into();
    }
    row[col("batch")] = "9".into();
}

fn read(path: &Path) -> Table {
    let opts = ReadOptions {
        ignore: vec![Named::new("id")],
        ..Default::default()
    };
    let target = TargetSpec {
        name: "species".into(),
        kind: TargetKind::Classes,
        required: true,
    };
    load_table(path, Some(&target), &opts, &DataOrigin::default())
        .unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

/// The rows `nnc run` trains on and holds out for a file with 150 usable rows and the default
/// fractions and seed.
fn cli_split(table: &Table) -> nnc::data::Split {
    let rows = usable_rows(table, &prepare_config()).unwrap().rows;
    let cfg = SplitConfig {
        test_fraction: 0.2,
        validation_fraction: 0.1,
        seed: 42,
    };
    split(&table.target.as_ref().unwrap().data, &rows, &cfg).unwrap()
}

#[test]
fn fitting_looks_only_at_training_rows() {
    let dir = scratch("fit");
    let rows = messy();
    write_rows(&dir.join("a.csv"), &rows, ';');
    let a = read(&dir.join("a.csv"));
    let s = cli_split(&a);
    assert!(!s.validation.is_empty() && !s.test.is_empty());

    // Every held-out row changes. Row 0 is never one of them: its values are the references the
    // cells of each column are stored relative to, so the split always trains on it.
    assert!(s.train.contains(&0));
    let mut changed = rows.clone();
    for &r in s.validation.iter().chain(&s.test) {
        disguise(&mut changed, r);
    }
    write_rows(&dir.join("b.csv"), &changed, ';');
    let b = read(&dir.join("b.csv"));
    assert_eq!(cli_split(&b), s, "the split depends on the classes only");

    let config = prepare_config();
    let fitted = |t: &Table, on: &[usize]| {
        fit(t, on, &config, TargetEncoding::OneHot, &[])
            .unwrap_or_else(|d| panic!("{}", d.render_plain()))
    };
    assert_eq!(fitted(&a, &s.train), fitted(&b, &s.train));
    // The changes are visible to a fit that looks at them.
    let all: Vec<usize> = (0..150).collect();
    assert_ne!(fitted(&a, &all), fitted(&b, &all));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn held_out_rows_leave_the_saved_preprocessing_byte_identical() {
    let dir = scratch("held-out");
    let rows = messy();
    let train_and = |name: &str, settings: &[&str]| -> (Vec<u8>, Vec<u8>, serde_json::Value) {
        let saved = dir.join(format!("saved-{name}"));
        let out = nnc(&[
            "run",
            arg(&model(&dir, "train.csv", settings)),
            "-q",
            "--out",
            arg(&saved),
        ]);
        ok(name, &out);
        (
            std::fs::read(saved.join("preprocessing.json")).unwrap(),
            std::fs::read(saved.join("model.safetensors")).unwrap(),
            json(&saved.join("metrics.json"))["test"].clone(),
        )
    };

    // A separate test file: rows i % 5 == 2 (ten of each species) are held out.
    let held = |i: usize| i % 5 == 2;
    let train: Vec<Vec<String>> = (rows.iter().enumerate())
        .filter(|(i, _)| *i == 0 || !held(*i - 1))
        .map(|(_, r)| r.clone())
        .collect();
    write_rows(&dir.join("train.csv"), &train, ';');
    let mut test: Vec<Vec<String>> = (rows.iter().enumerate())
        .filter(|(i, _)| *i == 0 || held(*i - 1))
        .map(|(_, r)| r.clone())
        .collect();
    write_rows(&dir.join("test.csv"), &test, ';');
    let mut settings = PREPARED.to_vec();
    settings.push("test: \"test.csv\"");
    let (pre, weights, metrics) = train_and("test-file", &settings);
    for r in 0..test.len() - 1 {
        disguise(&mut test, r);
    }
    write_rows(&dir.join("test.csv"), &test, ';');
    let (pre2, weights2, metrics2) = train_and("test-file-changed", &settings);
    assert!(pre == pre2, "preprocessing.json changed with the test file");
    assert!(
        weights == weights2,
        "the weights changed with the test file"
    );
    assert_ne!(
        metrics, metrics2,
        "the test file is used for the test metrics"
    );

    // Held out by fraction: every row the split puts in validation and test changes.
    write_rows(&dir.join("train.csv"), &rows, ';');
    let s = cli_split(&read(&dir.join("train.csv")));
    let (pre, weights, _) = train_and("fraction", &PREPARED);
    let mut changed = rows.clone();
    for &r in s.validation.iter().chain(&s.test) {
        disguise(&mut changed, r);
    }
    write_rows(&dir.join("train.csv"), &changed, ';');
    let (pre2, weights2, _) = train_and("fraction-changed", &PREPARED);
    assert!(pre == pre2, "preprocessing.json changed with held-out rows");
    assert!(
        weights == weights2,
        "the weights changed with held-out rows"
    );

    // A training row, though, changes it.
    let mut changed = rows.clone();
    disguise(&mut changed, s.train[s.train.len() / 2]);
    write_rows(&dir.join("train.csv"), &changed, ';');
    let (pre3, _, _) = train_and("train-changed", &PREPARED);
    assert!(pre != pre3, "a training row is part of the fit");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- unseen categories ----

/// `train.csv` (rows i % 5 != 2) and a test file `name` of the other rows, where from test row
/// `first` on (if given) the color is `purple`; returns the (line, column) of the first purple
/// cell.
fn unseen_files(dir: &Path, name: &str, first: Option<usize>) -> (usize, usize) {
    let rows = messy();
    let held = |i: usize| i % 5 == 2;
    let train: Vec<Vec<String>> = (rows.iter().enumerate())
        .filter(|(i, _)| *i == 0 || !held(*i - 1))
        .map(|(_, r)| r.clone())
        .collect();
    write_rows(&dir.join("train.csv"), &train, ';');
    let mut test: Vec<Vec<String>> = (rows.iter().enumerate())
        .filter(|(i, _)| *i == 0 || held(*i - 1))
        .map(|(_, r)| r.clone())
        .collect();
    let Some(k) = first else {
        write_rows(&dir.join(name), &test, ';');
        return (0, 0);
    };
    for row in test.iter_mut().skip(k + 1) {
        row[col("color")] = "purple".into();
    }
    write_rows(&dir.join(name), &test, ';');
    let at = test[k + 1][..col("color")]
        .iter()
        .map(|c| c.len() + 1)
        .sum::<usize>()
        + 1;
    (k + 2, at)
}

#[test]
fn an_unseen_category_is_zeros_by_default_and_an_error_at_its_place_when_asked() {
    let dir = scratch("unseen");
    let (line, at) = unseen_files(&dir, "test.csv", Some(4));
    let mut settings = PREPARED.to_vec();
    settings.push("test: \"test.csv\"");
    ok(
        "unseen: zeros",
        &nnc(&["run", arg(&model(&dir, "train.csv", &settings)), "-q"]),
    );
    settings.push("unseen: error");
    let err = fails(
        "unseen: error",
        &nnc(&["run", arg(&model(&dir, "train.csv", &settings)), "-q"]),
    );
    assert!(
        err.contains("nnc::data::unseen_category")
            && err.contains(&format!("test.csv:{line}:{at}]")),
        "test.csv:{line}:{at}: {err}"
    );

    // At `nnc eval` and `nnc predict` on a saved model, likewise.
    unseen_files(&dir, "clean.csv", None);
    let (line, at) = unseen_files(&dir, "new.csv", Some(7));
    for unseen in ["zeros", "error"] {
        let saved = dir.join(format!("saved-{unseen}"));
        let mut settings = PREPARED.to_vec();
        settings.push("test: \"clean.csv\"");
        let setting = format!("unseen: {unseen}");
        settings.push(&setting);
        let m = model(&dir, "train.csv", &settings);
        ok(
            &setting,
            &nnc(&["run", arg(&m), "-q", "--out", arg(&saved)]),
        );
        let new = dir.join("new.csv");
        for command in ["eval", "predict"] {
            let out = nnc(&[command, arg(&saved), "--data", arg(&new)]);
            if unseen == "zeros" {
                ok(command, &out);
            } else {
                let err = fails(command, &out);
                assert!(
                    err.contains("nnc::data::unseen_category")
                        && err.contains(&format!("new.csv:{line}:{at}]")),
                    "{command}: new.csv:{line}:{at}: {err}"
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_held_out_file_may_hold_numbers_or_nothing_in_a_text_column() {
    let dir = scratch("held-out-types");
    unseen_files(&dir, "test.csv", None);
    let test = std::fs::read_to_string(dir.join("test.csv")).unwrap();
    let rewrite = |f: &dyn Fn(usize) -> String| {
        let text: String = (test.lines().enumerate())
            .map(|(i, l)| {
                let mut cells: Vec<String> = l.split(';').map(String::from).collect();
                if i > 0 {
                    cells[col("color")] = f(i);
                }
                cells.join(";") + "\n"
            })
            .collect();
        std::fs::write(dir.join("test.csv"), text).unwrap();
    };
    let mut settings = PREPARED.to_vec();
    settings.push("test: \"test.csv\"");
    // A color column of numbers in the test file: unseen categories, not a numeric column.
    rewrite(&|i| (i % 3).to_string());
    ok(
        "numbers",
        &nnc(&["run", arg(&model(&dir, "train.csv", &settings)), "-q"]),
    );
    // Every color missing: filled with the training rows' most frequent color.
    rewrite(&|_| String::new());
    ok(
        "all missing",
        &nnc(&["run", arg(&model(&dir, "train.csv", &settings)), "-q"]),
    );
    rewrite(&|i| (i % 3).to_string());
    settings.push("unseen: error");
    let err = fails(
        "numbers, unseen: error",
        &nnc(&["run", arg(&model(&dir, "train.csv", &settings)), "-q"]),
    );
    assert!(err.contains("nnc::data::unseen_category"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- delimiters and column types ----

#[test]
fn delimiters_are_detected_and_the_setting_overrides_them() {
    let dir = scratch("delimiters");
    let rows = messy();
    let summary = |csv: &str, settings: &[&str], flags: &[&str]| {
        let mut all = vec!["ignore: [id]", "missing: median"];
        all.extend_from_slice(settings);
        let m = model(&dir, csv, &all);
        let mut args = vec!["summary", arg(&m)];
        args.extend_from_slice(flags);
        nnc(&args)
    };
    for (file, d) in [
        ("messy.tsv", '\t'),
        ("tabs.csv", '\t'),
        ("pipes.csv", '|'),
        ("semicolons.csv", ';'),
        ("commas.csv", ','),
    ] {
        write_rows(&dir.join(file), &rows, d);
        let text = ok(file, &summary(file, &[], &[]));
        assert_eq!(input_width(&text), "(B, 8)", "{file}: {text}");
    }

    // Not a candidate for detection: the setting or the flag names it.
    write_rows(&dir.join("colons.csv"), &rows, ':');
    let err = fails("colons", &summary("colons.csv", &[], &[]));
    assert!(
        err.contains("nnc::data::unknown_target") && flat(&err).contains("set `delimiter:`"),
        "{err}"
    );
    let text = ok(
        "delimiter: \":\"",
        &summary("colons.csv", &["delimiter: \":\""], &[]),
    );
    assert_eq!(input_width(&text), "(B, 8)", "{text}");
    ok(
        "--delimiter :",
        &summary("colons.csv", &[], &["--delimiter", "\":\""]),
    );

    // The setting wins over detection and over the `.tsv` extension.
    fails(
        "delimiter: comma on semicolons",
        &summary("semicolons.csv", &["delimiter: comma"], &[]),
    );
    write_rows(&dir.join("semicolons.tsv"), &rows, ';');
    fails("semicolons in a .tsv", &summary("semicolons.tsv", &[], &[]));
    ok(
        "delimiter: semicolon in a .tsv",
        &summary("semicolons.tsv", &["delimiter: semicolon"], &[]),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn categorical_one_hot_encodes_an_integer_column() {
    let dir = scratch("categorical");
    write_rows(&dir.join("messy.csv"), &messy(), ';');
    let run = |settings: &[&str], saved: &Path| {
        let mut all = vec!["ignore: [id]", "missing: median"];
        all.extend_from_slice(settings);
        let m = model(&dir, "messy.csv", &all);
        let summary = ok("summary", &nnc(&["summary", arg(&m)]));
        ok(
            "run",
            &nnc(&["run", arg(&m), "--epochs", "1", "-q", "--out", arg(saved)]),
        );
        (
            input_width(&summary),
            json(&saved.join("preprocessing.json")),
        )
    };
    let (width, pre) = run(&[], &dir.join("numeric"));
    assert_eq!(width, "(B, 8)");
    assert_eq!(feature(&pre, "batch")["kind"], "numeric");
    let (width, pre) = run(&["categorical: [batch]"], &dir.join("categorical"));
    assert_eq!(width, "(B, 11)", "4 numbers, 3 colors and 4 batches");
    let batch = feature(&pre, "batch");
    assert_eq!(batch["kind"], "categorical");
    assert_eq!(batch["categories"], serde_json::json!(["1", "2", "3", "4"]));
    let _ = std::fs::remove_dir_all(&dir);
}
