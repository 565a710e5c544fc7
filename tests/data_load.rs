//! The data stage against files: the four shipped data sets load with the right shapes and
//! classes and go through split, prepare and batching; every user-caused CSV problem is a
//! diagnostic with its code and the exact line and column; line breaks of every kind, records
//! too long to read, the memory a long header takes (a counting allocator), and the command line
//! reading a pipe, a FIFO and a device.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nnc::data::{
    header_names, last_column, load_csv, prepare, split, usable_rows, Batcher, DataOrigin,
    ReadOptions, SplitConfig, Table, Target, TargetEncoding, TargetKind,
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

    // A folder is a dataset of Parquet part files; one of CSV files holds none.
    let csv = write("x.csv", b"a,y\n");
    let dir = csv.parent().unwrap().to_path_buf();
    assert_eq!(load(&dir, "y", C).unwrap_err().code, "nnc::data::no_parts");
    assert_eq!(
        load(&csv.join("inside"), "y", C).unwrap_err().code,
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

#[test]
fn bare_cr_line_breaks_read_like_lf() {
    // Old Mac files and some spreadsheet exports end lines with a bare CR.
    let lf = std::fs::read_to_string(shipped("iris.csv")).unwrap();
    let want = load(&shipped("iris.csv"), "species", C).unwrap();
    let mut k = 0;
    let mixed: String = (lf.chars())
        .map(|c| {
            k += usize::from(c == '\n');
            if c == '\n' && k % 3 == 1 {
                '\r'
            } else {
                c
            }
        })
        .collect();
    for text in [lf.replace('\n', "\r"), mixed, lf.replace('\n', "\r\n")] {
        let t = load(&write("cr.csv", text.as_bytes()), "species", C).unwrap();
        assert_eq!(t.rows, 150);
        assert_eq!(
            (0..150).map(|r| row(&t, r)).collect::<Vec<_>>(),
            (0..150).map(|r| row(&want, r)).collect::<Vec<_>>()
        );
        assert_eq!(target(&t), target(&want));
    }

    // Diagnostics count a bare CR as a line break, in the message, the location and the snippet.
    expect(
        "a,b,y\r1,2,x\r3,4,x\r5,abc,y\r",
        "y",
        C,
        "nnc::data::not_a_number",
        "bad.csv:4:3",
    );
    expect(
        "a,b,y\r1,2,x\r\r1,2\r",
        "y",
        C,
        "nnc::data::ragged_row",
        "bad.csv:4:1",
    );
    // Mixed breaks, a CR inside quotes, a blank CR line.
    let text = "a,b,y\r\n1,2,\"two\rlines\"\n\r3,\"4,5\",z\r";
    expect(text, "y", C, "nnc::data::not_a_number", "bad.csv:5:3");
    let (err, _) = fails("a,b,y\r1,2,x\r3,4,x\r5,abc,y\r", "y", C);
    assert!(err.message.starts_with("line 4 "), "{}", err.message);
    let out = err.render_plain();
    assert!(
        out.contains(" 4 │ 5,abc,y") && out.contains(" 3 │ 3,4,x"),
        "{out}"
    );
    assert!(!out.contains(" 0 │"), "{out}");
}

#[test]
fn a_file_of_newlines_is_empty_and_one_of_delimiters_too_wide() {
    let path = write("bad.csv", &vec![b'\n'; 20 << 20]);
    assert_eq!(
        load(&path, "y", C).unwrap_err().code,
        "nnc::data::empty_file"
    );
    let (err, _) = fails(&",".repeat(3 << 20), "y", C);
    assert_eq!(err.code, "nnc::data::record_too_long");
    assert!(
        err.message.starts_with("the header of data file `")
            && err
                .message
                .ends_with("bad.csv` has more than 1048576 fields"),
        "{}",
        err.message
    );
    assert!(err.location().unwrap().ends_with("bad.csv:1:1"));
}

// ---- memory of a long header ----

/// Forwards to the system allocator, counting the bytes each thread holds and its peak.
struct Counting;

thread_local! {
    static HELD: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn held(delta: isize) {
    HELD.with(|h| {
        let now = h.get().saturating_add_signed(delta);
        h.set(now);
        PEAK.with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// thread-local `Cell`s with constant initializers, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        held(layout.size() as isize);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        held(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        held(new_size as isize - layout.size() as isize);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_long_header_is_held_about_twice_not_nine_times() {
    // One column name of 40 MiB: five blocks of the reader.
    let len = 40 << 20;
    let mut text = vec![b'n'; len];
    text.extend_from_slice(b",y\n1,2\n");
    let path = write("long.csv", &text);
    drop(text);
    let before = HELD.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let names = header_names(&path, &ReadOptions::default()).unwrap();
    let peak = PEAK.with(Cell::get) - before;
    assert_eq!((names[0].len(), names[1].as_str()), (len, "y"));
    // The record's bytes while it is read, its names, and a block or two of the file.
    assert!(
        peak < 3 * len,
        "reading a header of {len} bytes held {peak} bytes at once"
    );
}

// ---- the command line on pipes, FIFOs and devices ----

/// How long `nnc` may wait on a pipe before it is taken to hang: far beyond what any of these
/// runs takes (a second or two), so only a hang (as on opening a FIFO again) reaches it.
const HANG: std::time::Duration = std::time::Duration::from_secs(300);

/// `nnc` with `args` in `dir`, its standard input fed by `stdin` on a thread of its own (which
/// stops when `nnc` closes the pipe). A run still going after [`HANG`] is killed, and its
/// output says so.
fn nnc_fed(
    dir: &Path,
    args: &[&str],
    stdin: impl FnOnce(&mut dyn std::io::Write) + Send + 'static,
) -> std::process::Output {
    use std::process::{Command, Stdio};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the nnc binary runs");
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin(&mut input));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (done, pid) = (done.clone(), child.id());
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !done.load(Ordering::Relaxed) {
                if start.elapsed() > HANG {
                    let _ = Command::new("kill").arg(pid.to_string()).status();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        })
    };
    let mut out = child.wait_with_output().unwrap();
    done.store(true, Ordering::Relaxed);
    watchdog.join().unwrap();
    writer.join().unwrap();
    if out.status.code().is_none() {
        out.stderr.extend_from_slice(b"\n(killed: nnc hung)");
    }
    out
}

/// Iris's model beside a copy of its data in a fresh folder, with a FIFO named `fifo.csv`.
#[cfg(unix)]
fn iris_folder(name: &str) -> PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("nnc-data-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::copy(root.join("iris.nn"), dir.join("iris.nn")).unwrap();
    std::fs::copy(root.join("data/iris.csv"), dir.join("data/iris.csv")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo.csv"))
        .status()
        .unwrap();
    assert!(made.success());
    dir
}

/// Write `bytes` into the FIFO at `path` on a thread, once a reader opens it.
#[cfg(unix)]
fn fifo_writer(path: PathBuf, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        // The reader may stop early (an error in the data): a broken pipe is its right.
        let _ = std::io::Write::write_all(&mut f, &bytes);
    })
}

/// What a run prints, without its first line (compile and training times).
fn metrics(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines().skip(1).collect::<Vec<_>>().join("\n")
}

#[cfg(unix)]
#[test]
fn training_reads_a_pipe_and_a_fifo_as_a_stream() {
    let dir = iris_folder("train");
    let csv = std::fs::read(dir.join("data/iris.csv")).unwrap();
    let run = ["run", "iris.nn", "--epochs", "3", "-q"];
    let from_file = metrics(&nnc_fed(&dir, &run, |_| {}));
    let piped = {
        let csv = csv.clone();
        nnc_fed(
            &dir,
            &[&run[..], &["--data", "/dev/stdin"]].concat(),
            move |w| {
                w.write_all(&csv).unwrap();
            },
        )
    };
    assert_eq!(metrics(&piped), from_file);
    let writer = fifo_writer(dir.join("fifo.csv"), csv.clone());
    let fifo = nnc_fed(&dir, &[&run[..], &["--data", "fifo.csv"]].concat(), |_| {});
    writer.join().unwrap();
    assert_eq!(metrics(&fifo), from_file);

    // An error in a FIFO's rows is reported without opening it again (which waited for a
    // writer that had gone).
    let mut ragged = csv;
    ragged.extend_from_slice(b"1,2,3\n");
    let writer = fifo_writer(dir.join("fifo.csv"), ragged);
    let out = nnc_fed(&dir, &["check", "iris.nn", "--data", "fifo.csv"], |_| {});
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("nnc::data::ragged_row"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_record_that_never_ends_is_a_diagnostic_from_a_device_or_a_pipe() {
    let dir = iris_folder("endless");
    let model = std::fs::read_to_string(dir.join("iris.nn")).unwrap();
    let zero = model.replace("data/iris.csv", "/dev/zero");
    assert_ne!(zero, model);
    std::fs::write(dir.join("zero.nn"), zero).unwrap();
    let out = nnc_fed(&dir, &["check", "zero.nn"], |_| {});
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nnc::data::record_too_long")
            && err.contains("the header of data file `/dev/zero` is longer than 256 MiB")
            && err.contains("help:"),
        "{err}"
    );

    // A data row without end, streamed through a pipe: named by its row, as a pipe cannot be
    // read again to count its lines.
    let out = nnc_fed(&dir, &["check", "iris.nn", "--data", "/dev/stdin"], |w| {
        let head = b"sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm,species\n";
        let mut go = w
            .write_all(head)
            .and_then(|()| w.write_all(b"1,2,3,4,setosa\n5,"));
        let block = vec![b'7'; 1 << 20];
        while go.is_ok() {
            go = w.write_all(&block);
        }
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nnc::data::record_too_long")
            && err.contains("data row 2 of data file `/dev/stdin` is longer than 256 MiB"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_piped_file_with_a_text_column_is_read_once() {
    // A column of text is interned as it streams by (a pipe cannot be read a second time for
    // it), and errors name the data row (a pipe cannot be read again to count lines).
    let dir = iris_folder("text");
    let model = "data {\n  path: \"cities.csv\"\n  target: \"y\"\n}\nmodel {\n  input\n  output(1)\n}\nloss: mse\ntrain {\n  epochs: 2\n}\n";
    std::fs::write(dir.join("model.nn"), model).unwrap();
    let mut csv = String::from("x,city,y\n");
    for r in 0..60 {
        csv.push_str(&format!(
            "{r},{},{}.5\n",
            ["paris", "rome", "oslo"][r % 3],
            r % 7
        ));
    }
    std::fs::write(dir.join("cities.csv"), &csv).unwrap();
    let run = ["run", "model.nn", "-q"];
    let from_file = metrics(&nnc_fed(&dir, &run, |_| {}));
    let feed =
        |text: String| move |w: &mut dyn std::io::Write| w.write_all(text.as_bytes()).unwrap();
    let piped = nnc_fed(
        &dir,
        &[&run[..], &["--data", "/dev/stdin"]].concat(),
        feed(csv.clone()),
    );
    assert_eq!(metrics(&piped), from_file);
    let writer = fifo_writer(dir.join("fifo.csv"), csv.clone().into_bytes());
    let fifo = nnc_fed(&dir, &[&run[..], &["--data", "fifo.csv"]].concat(), |_| {});
    writer.join().unwrap();
    assert_eq!(metrics(&fifo), from_file);

    let check = ["check", "model.nn", "--data", "/dev/stdin"];
    let stderr = |out: std::process::Output| {
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let bad_target = csv.replace("\n5,oslo,5.5\n", "\n5,oslo,x\n");
    let err = stderr(nnc_fed(&dir, &check, feed(bad_target)));
    assert!(
        err.contains("nnc::data::non_numeric_target")
            && err.contains("data row 6 of data file `/dev/stdin`")
            && err.contains("this row has `x`"),
        "{err}"
    );
    let err = stderr(nnc_fed(
        &dir,
        &check,
        feed(csv.replace("\n5,oslo,5.5\n", "\n5,oslo\n")),
    ));
    assert!(
        err.contains("data row 6 of data file `/dev/stdin` has 2 fields"),
        "{err}"
    );
    let ids: String = (0..1500).map(|r| format!("{r},id{r},1.5\n")).collect();
    let err = stderr(nnc_fed(&dir, &check, feed(format!("x,city,y\n{ids}"))));
    assert!(
        err.contains("nnc::data::too_many_categories") && err.contains("more than 1000 distinct"),
        "{err}"
    );
}
