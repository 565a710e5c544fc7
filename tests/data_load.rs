//! The data stage against files: the four shipped data sets load with the right shapes and
//! classes and go through split, prepare and batching; every user-caused CSV problem is a
//! diagnostic with its code and the exact line and column.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nnc::data::{
    last_column, load_csv, prepare, split, usable_rows, Batcher, DataOrigin, ReadOptions,
    SplitConfig, Table, Target, TargetEncoding, TargetKind,
};
use nnc::diag::{Diagnostic, Source, Span};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(name)
}

#[allow(
    clippy::result_large_err,
    reason = "a test helper passing the library's result through"
)]
fn load(path: &Path, target: &str, kind: TargetKind) -> Result<Table, Diagnostic> {
    let t = load_csv(path, target, kind, &DataOrigin::default())?;
    // With the default settings a missing feature value is an error, found here.
    usable_rows(&t, &Default::default())?;
    Ok(t)
}

fn target(t: &Table) -> &Target {
    &t.target.as_ref().expect("a target").data
}

fn all_rows(t: &Table) -> Vec<usize> {
    (0..t.rows).collect()
}

fn names(t: &Table) -> Vec<String> {
    t.feature_names()
}

/// Row `row` of the features, in the file's units.
fn row(t: &Table, row: usize) -> Vec<f64> {
    t.columns
        .iter()
        .map(|c| t.shifted(row, c.index) + t.reference(c.index))
        .collect()
}

fn class_names(t: &Table) -> Vec<String> {
    t.class_names().expect("classes").to_vec()
}

#[test]
fn iris() {
    let t = load(&shipped("iris.csv"), "species", TargetKind::Classes).unwrap();
    assert_eq!((t.rows, t.columns.len()), (150, 4));
    assert_eq!(names(&t)[0], "sepal_length_cm");
    assert_eq!(row(&t, 0), [5.1, 3.5, 1.4, 0.2]);
    assert_eq!(class_names(&t), ["setosa", "versicolor", "virginica"]);
    assert_eq!(t.target.as_ref().unwrap().name, "species");
}

#[test]
fn breast_cancer() {
    let t = load(
        &shipped("breast_cancer.csv"),
        "diagnosis",
        TargetKind::Classes,
    )
    .unwrap();
    assert_eq!((t.rows, t.columns.len()), (569, 30));
    // Sorted names make `malignant` class 1, the positive class of a binary encoding.
    assert_eq!(class_names(&t), ["benign", "malignant"]);
    let Target::Classes { labels, .. } = target(&t) else {
        unreachable!()
    };
    assert_eq!(labels[0], 1);
    assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 212);
}

#[test]
fn diabetes() {
    let t = load(&shipped("diabetes.csv"), "progression", TargetKind::Values).unwrap();
    assert_eq!((t.rows, t.columns.len()), (442, 10));
    let Target::Values(v) = target(&t) else {
        panic!("values expected")
    };
    assert_eq!((v.len(), v[0], v[1]), (442, 151.0, 75.0));
    assert!(t.class_names().is_none());
}

#[test]
fn digits() {
    let t = load(&shipped("digits.csv"), "digit", TargetKind::Classes).unwrap();
    assert_eq!((t.rows, t.columns.len()), (1797, 64));
    let want: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    assert_eq!(class_names(&t), want);
}

#[test]
fn iris_pipeline_stratifies_standardizes_and_batches() {
    let t = load(&shipped("iris.csv"), "species", TargetKind::Classes).unwrap();
    let cfg = SplitConfig {
        seed: 42,
        ..SplitConfig::default()
    };
    let s = split(target(&t), &all_rows(&t), &cfg).unwrap();
    assert_eq!(
        (s.train.len(), s.validation.len(), s.test.len()),
        (108, 12, 30)
    );
    let Target::Classes { labels, .. } = target(&t) else {
        unreachable!()
    };
    for class in 0..3 {
        assert_eq!(s.test.iter().filter(|&&r| labels[r] == class).count(), 10);
    }
    let mut all: Vec<usize> = [&s.train, &s.validation, &s.test]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..150).collect::<Vec<_>>());
    assert_eq!(s, split(target(&t), &all_rows(&t), &cfg).unwrap());

    let p = prepare(&t, &s, TargetEncoding::OneHot, &Default::default(), &[]).unwrap();
    assert_eq!(
        (p.train.x.rows, p.train.x.cols, p.train.y.cols),
        (108, 4, 3)
    );
    for c in 0..4 {
        let (m, sd) = column_stats(&p.train.x.data, 4, c);
        assert!(
            m.abs() < 1e-5 && (sd - 1.0).abs() < 1e-5,
            "train column {c}: {m} {sd}"
        );
        let (tm, tsd) = column_stats(&p.test.x.data, 4, c);
        assert!(
            tm.abs() > 1e-4 || (tsd - 1.0).abs() > 1e-4,
            "test column {c} is scaled with train statistics"
        );
    }
    assert!(p
        .train
        .y
        .data
        .chunks(3)
        .all(|r| r.iter().sum::<f32>() == 1.0));

    let mut b = Batcher::new(p.train.x.rows, 32, 7);
    let batches = b.epoch();
    assert_eq!(
        batches.iter().map(|r| r.len()).collect::<Vec<_>>(),
        [32, 32, 32, 12]
    );
    let (mut x, mut y) = (Vec::new(), Vec::new());
    b.gather(&p.train, batches[3].clone(), &mut x, &mut y);
    assert_eq!((x.len(), y.len()), (48, 36));
}

fn column_stats(data: &[f32], cols: usize, c: usize) -> (f64, f64) {
    let col: Vec<f64> = data.chunks(cols).map(|r| f64::from(r[c])).collect();
    let n = col.len() as f64;
    let mean = col.iter().sum::<f64>() / n;
    (
        mean,
        (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt(),
    )
}

// ---- diagnostics on small files ----

/// A fresh file named `name` with `bytes` in its own temporary folder.
fn write(name: &str, bytes: &[u8]) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "nnc-data-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Load `text` as `bad.csv` and return the error, checking what every data diagnostic must have.
fn fails(text: &str, target: &str, kind: TargetKind) -> (Diagnostic, PathBuf) {
    let path = write("bad.csv", text.as_bytes());
    let err = load(&path, target, kind).expect_err("loading should fail");
    assert!(err.code.starts_with("nnc::data::"), "{}", err.code);
    assert!(
        err.message.contains("bad.csv"),
        "message names the file: {}",
        err.message
    );
    assert!(err.help.is_some(), "{} has a help line", err.code);
    (err, path)
}

/// The code and `bad.csv:line:col` of the primary label.
fn at(text: &str, target: &str, kind: TargetKind) -> (&'static str, String) {
    let (err, path) = fails(text, target, kind);
    let prefix = format!("{}:", path.display());
    let location = err.location().expect("a label in the CSV");
    let place = location
        .strip_prefix(&prefix)
        .expect("the label points into the CSV file");
    (err.code, format!("bad.csv:{place}"))
}

const C: TargetKind = TargetKind::Classes;
const V: TargetKind = TargetKind::Values;

fn expect(text: &str, target: &str, kind: TargetKind, code: &str, place: &str) {
    assert_eq!(
        at(text, target, kind),
        (code, place.to_string()),
        "for {text:?}"
    );
}

#[test]
fn empty_file_header_only_and_ragged_rows() {
    expect("", "y", C, "nnc::data::empty_file", "bad.csv:1:1");
    expect("a,b,y\n", "y", C, "nnc::data::no_rows", "bad.csv:1:1");
    expect(
        "a,b,y\n1,2,x\n1,2\n",
        "y",
        C,
        "nnc::data::ragged_row",
        "bad.csv:3:1",
    );
    expect(
        "a,b,y\n1,2,x\n1,2,x,9\n",
        "y",
        C,
        "nnc::data::ragged_row",
        "bad.csv:3:7",
    );
    let (err, _) = fails("a,b,y\n1,2,x\n1,2\n", "y", C);
    assert!(
        err.message.contains("line 3") && err.message.contains("2 fields, expected 3"),
        "{}",
        err.message
    );
}

#[test]
fn unknown_target_suggests_a_column() {
    // The label goes on the close match, or on the whole header when there is none.
    expect(
        "petal,species\n1,x\n",
        "specie",
        C,
        "nnc::data::unknown_target",
        "bad.csv:1:7",
    );
    expect(
        "petal,species\n1,x\n",
        "label",
        C,
        "nnc::data::unknown_target",
        "bad.csv:1:1",
    );
    // Wide files list the first and last columns, where the target usually is.
    let err = load(&shipped("digits.csv"), "label", C).unwrap_err();
    let help = err.help.unwrap();
    assert!(
        help.contains("`px0`") && help.contains("`digit` (65 columns)") && !help.contains("px30"),
        "{help}"
    );
    let (err, _) = fails("petal,species\n1,x\n", "specie", C);
    let help = err.help.unwrap();
    assert!(
        help.contains("did you mean `species`?") && help.contains("`petal`"),
        "{help}"
    );

    // With the setting's place in the .nn file, the label goes there.
    let nn = Source::new(
        "model.nn",
        "data {\n  file: \"bad.csv\"\n  target: specie\n}\n",
    );
    let target_at = nn.text.find("specie\n").unwrap();
    let origin = DataOrigin {
        nn: Some(nn.clone()),
        path_span: None,
        target_span: Some(Span::new(target_at, target_at + 6)),
        ..DataOrigin::default()
    };
    let path = write("bad.csv", b"petal,species\n1,x\n");
    let err = load_csv(&path, "specie", C, &origin).unwrap_err();
    assert_eq!(err.location().as_deref(), Some("model.nn:3:11"));
    assert_eq!(err.related.len(), 1, "and the CSV header is shown too");
}

#[test]
fn cells_that_are_not_numbers() {
    expect(
        "a,b,y\n1,2,x\n3,4,x\n5,abc,y\n",
        "y",
        C,
        "nnc::data::not_a_number",
        "bad.csv:4:3",
    );
    // A column of text (a number among it included) is categorical, not an error.
    let path = write("ok.csv", b"color,b,y\nred,1,x\nblue,2,y\n9,3,y\n");
    let t = load(&path, "y", C).unwrap();
    assert_eq!(t.columns[0].kind, nnc::data::ColumnKind::Categorical);
    assert_eq!(t.columns[1].kind, nnc::data::ColumnKind::Numeric);
    expect(
        "a,b,y\n1,2,x\n3, ,y\n",
        "y",
        C,
        "nnc::data::missing_value",
        "bad.csv:3:3",
    );
    // A row without a target is left out, not an error.
    let path = write("ok.csv", b"a,b,y\n1,2,x\n3,4,\n5,6,z\n");
    let t = load(&path, "y", C).unwrap();
    assert_eq!(t.target.as_ref().unwrap().missing, 1);
    assert_eq!(usable_rows(&t, &Default::default()).unwrap().rows, [0, 2]);
    expect(
        "a,y\n1,2.5\n2,abc\n",
        "y",
        V,
        "nnc::data::non_numeric_target",
        "bad.csv:3:3",
    );
    // NaN marks a missing value.
    expect(
        "a,y\n1,x\nNaN,y\n",
        "y",
        C,
        "nnc::data::missing_value",
        "bad.csv:3:1",
    );
    expect(
        "a,y\n1,1\n2,-inf\n",
        "y",
        V,
        "nnc::data::not_finite",
        "bad.csv:3:3",
    );
}

#[test]
fn classes_need_two_and_sort_numerically() {
    expect(
        "a,y\n1,x\n2,x\n",
        "y",
        C,
        "nnc::data::single_class",
        "bad.csv:1:3",
    );
    let path = write("ok.csv", b"a,y\n1,10\n2,9\n3,2\n4,9\n");
    let t = load(&path, "y", C).unwrap();
    assert_eq!(class_names(&t), ["2", "9", "10"]);
    let Target::Classes { labels, .. } = target(&t) else {
        unreachable!()
    };
    assert_eq!(labels, &[2, 1, 0, 1]);
}

#[test]
fn header_problems() {
    expect(
        "a,b,\n1,2,3\n",
        "a",
        C,
        "nnc::data::unnamed_column",
        "bad.csv:1:5",
    );
    expect(
        "a,b,a,y\n1,2,3,x\n",
        "y",
        C,
        "nnc::data::duplicate_column",
        "bad.csv:1:5",
    );
    expect("y\nx\nz\n", "y", C, "nnc::data::no_features", "bad.csv:1:1");
}

#[test]
fn spans_survive_quotes_crlf_blank_lines_and_a_bom() {
    // Lines 2-3 hold one quoted target, line 4 is blank; the bad cell is the quoted "4,5" on line 5.
    let text = "a,b,y\r\n1,2,\"two\r\nlines\"\r\n\r\n3,\"4,5\",z\r\n";
    expect(text, "y", C, "nnc::data::not_a_number", "bad.csv:5:3");
    let path = write(
        "ok.csv",
        "a,\"b\",y\r\n1,\" 2 \",x\r\n3,4,\"y,z\"\r\n".as_bytes(),
    );
    let t = load(&path, "y", C).unwrap();
    assert_eq!(names(&t), ["a", "b"]);
    assert_eq!((row(&t, 0), row(&t, 1)), (vec![1.0, 2.0], vec![3.0, 4.0]));
    assert_eq!(class_names(&t), ["x", "y,z"]);

    let text = "\u{feff}a,y\n1,x\n,z\n";
    expect(text, "y", C, "nnc::data::missing_value", "bad.csv:3:1");
    let path = write("bom.csv", "\u{feff}a,y\n1,x\n2,z\n".as_bytes());
    let t = load(&path, "y", C).unwrap();
    assert_eq!(names(&t), ["a"]);
    // Spans for later diagnostics (an input layer's width against the columns) skip the mark.
    let src = t.source();
    assert_eq!(t.header_cell(&src, 0), Span::new(3, 4));
    assert_eq!(t.header_cell(&src, 1), Span::new(5, 6));
    assert_eq!(t.header_span(&src), Span::new(3, 6));
    assert_eq!(t.column_index("z"), None);
}

#[test]
fn missing_unreadable_and_non_utf8_files() {
    let missing = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("nnc-data-test-no-such-dir/none.csv");
    let err = load(&missing, "y", C).unwrap_err();
    assert_eq!(err.code, "nnc::data::file_not_found");
    assert!(
        err.message.contains(&missing.display().to_string()),
        "{}",
        err.message
    );
    assert!(err.help.as_deref().unwrap().contains("--data"));
    assert_eq!(
        err.location(),
        None,
        "a path from the command line has no place to point at"
    );

    let nn = Source::new("model.nn", "data {\n  file: \"none.csv\"\n}\n");
    let at = nn.text.find("\"none").unwrap();
    let origin = DataOrigin {
        nn: Some(nn.clone()),
        path_span: Some(Span::new(at, at + 10)),
        ..DataOrigin::default()
    };
    let err = load_csv(&missing, "y", C, &origin).unwrap_err();
    assert_eq!(err.location().as_deref(), Some("model.nn:2:9"));
    let out = err.render_plain();
    assert!(
        out.contains("file: \"none.csv\"") && out.contains("resolved to"),
        "{out}"
    );

    let dir = write("x.csv", b"a,y\n").parent().unwrap().to_path_buf();
    assert_eq!(
        load(&dir, "y", C).unwrap_err().code,
        "nnc::data::unreadable"
    );

    let path = write("bad.csv", b"a,y\n1,caf\xe9\n");
    let err = load(&path, "y", C).unwrap_err();
    assert_eq!(err.code, "nnc::data::not_utf8");
    assert_eq!(err.location().unwrap(), format!("{}:2:6", path.display()));
}

#[test]
fn diagnostics_render_with_the_cell_and_help() {
    let (err, _) = fails("a,b,y\n1,2,x\n3,oops,y\n", "y", C);
    let out = err.render_plain();
    for needle in [
        "nnc::data::not_a_number",
        "bad.csv",
        "bad.csv:3:3]",
        "3,oops,y",
        "oops",
        "not a number",
        "help",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn last_column_is_the_default_target() {
    let none = DataOrigin::default();
    assert_eq!(
        last_column(&shipped("iris.csv"), &ReadOptions::default(), &none).unwrap(),
        "species"
    );
    let path = write("bom.csv", "\u{feff}a,\" b,c \"\n1,2\n".as_bytes());
    assert_eq!(
        last_column(&path, &ReadOptions::default(), &none).unwrap(),
        "b,c"
    );
    let path = write("bad.csv", b"");
    assert_eq!(
        last_column(&path, &ReadOptions::default(), &none)
            .unwrap_err()
            .code,
        "nnc::data::empty_file"
    );
    let missing = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("nnc-data-test-no-such-dir/none.csv");
    assert_eq!(
        last_column(&missing, &ReadOptions::default(), &none)
            .unwrap_err()
            .code,
        "nnc::data::file_not_found"
    );
}

#[test]
fn semicolon_files_with_decimal_commas() {
    let text = "sepal_length;species\n5,1;setosa\n4,9;setosa\n6,3;virginica\n";
    // Detected as semicolon-separated; the decimal commas are pointed out, not read as categories.
    expect(
        text,
        "species",
        C,
        "nnc::data::decimal_comma",
        "bad.csv:2:1",
    );
    let path = write("ok.csv", text.as_bytes());
    let opts = ReadOptions {
        decimal_comma: true,
        ..ReadOptions::default()
    };
    let target = nnc::data::TargetSpec {
        name: "species".into(),
        kind: C,
        required: true,
    };
    let t = nnc::data::load_table(&path, Some(&target), &opts, &DataOrigin::default()).unwrap();
    assert_eq!(t.delimiter, b';');
    assert_eq!(t.columns[0].kind, nnc::data::ColumnKind::Numeric);
    let second = t.shifted(1, 0) + t.reference(0);
    assert!((second - 4.9).abs() < 1e-6, "{second}");
}
