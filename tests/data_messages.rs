//! What a user is told about the data, from the command line: the rows left out of every file
//! (the data file and `test`/`validation` files), named by cause; a numeric target under a
//! classification loss; a `categorical:` setting or a `column` block that does something the user
//! likely did not mean; warnings printed before the error that follows them; a width error that
//! says what the inputs are made of; the flag, not the file, blamed for a flag's missing file.

mod common;

use common::{nnc, scratch};

use std::path::Path;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A diagnostic's text without line wrapping and margins, for phrases that may be wrapped.
fn flat(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !matches!(*w, "│" | "·"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ok(what: &str, o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(o));
}

fn fails(what: &str, o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(o));
    assert!(!stderr(o).contains("panicked"), "{what}: {}", stderr(o));
    flat(&stderr(o))
}

/// `rows` CSV rows of `age,hours,sample_id,wage`: a wage with cents, missing on every
/// `gap`-th row when `gap` is not 0; ids unique per file (`prefix`).
fn wages(dir: &Path, name: &str, rows: usize, gap: usize, prefix: &str) {
    let mut text = String::from("age,hours,sample_id,wage\n");
    for i in 0..rows {
        let age = 18 + (i * 7) % 50;
        let hours = 10 + (i * 13) % 45;
        let wage = if gap != 0 && i % gap == gap - 1 {
            String::new()
        } else {
            format!(
                "{:.2}",
                8.0 + age as f64 * 0.3 + hours as f64 * 0.1 + (i % 7) as f64 * 0.37
            )
        };
        text.push_str(&format!("{age},{hours},{prefix}{i},{wage}\n"));
    }
    std::fs::write(dir.join(name), text).unwrap();
}

/// `dir/m.nn` over `wages.csv` with the extra data settings, model entries and loss given.
fn model(dir: &Path, data: &[&str], input: &str, output: &str, loss: &str) -> String {
    let data: String = data.iter().map(|s| format!("  {s}\n")).collect();
    let text = format!(
        "data {{\n  path: \"wages.csv\"\n  target: wage\n{data}}}\nmodel {{\n  {input}\n  \
         dense(8, activation: relu)\n  {output}\n}}\nloss: {loss}\ntrain {{ epochs: 2 }}\n"
    );
    let path = dir.join("m.nn");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn regression(dir: &Path, data: &[&str]) -> String {
    model(dir, data, "input", "output(activation: linear)", "mse")
}

#[test]
fn rows_without_a_target_are_counted_for_every_file() {
    let dir = scratch("left-out");
    wages(&dir, "wages.csv", 200, 10, "s");
    wages(&dir, "wages_test.csv", 40, 8, "t");
    let m = regression(
        &dir,
        &[
            "test: \"wages_test.csv\"",
            "ignore: [sample_id]",
            "missing: median",
        ],
    );
    let report = dir.join("r.json");
    let out = nnc(&["run", &m, "--report", report.to_str().unwrap()]);
    ok("run", &out);
    let text = stdout(&out);
    assert!(
        text.contains("wages.csv: left out 20 of 200 rows, 20 without a target value;"),
        "{text}"
    );
    assert!(
        text.contains(
            "wages_test.csv: left out 5 of 40 rows, 5 without a target value; the test metrics cover the other 35"
        ),
        "{text}"
    );
    // No row was dropped for a missing feature, and `missing: median` is in effect: the lines
    // must not name `missing: drop`.
    assert!(!text.contains("missing: drop"), "{text}");
    assert!(text.contains("test (35 rows)"), "{text}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let rows = &r["rows"];
    assert_eq!(rows["test"], 35, "{rows}");
    assert_eq!(rows["dropped_no_target"], 25, "{rows}");
    let files = rows["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{rows}");
    assert_eq!(
        (
            &files[1]["role"],
            &files[1]["rows"],
            &files[1]["dropped_no_target"]
        ),
        (&"test".into(), &40.into(), &5.into()),
        "{rows}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rows_dropped_for_a_missing_feature_name_their_column() {
    let dir = scratch("drop");
    let mut text = String::from("a,b,y\n");
    for i in 0..60 {
        let a = if i % 6 == 0 {
            String::new()
        } else {
            i.to_string()
        };
        text.push_str(&format!("{a},{},{}\n", i % 5, i % 2));
    }
    std::fs::write(dir.join("d.csv"), text).unwrap();
    let m = dir.join("m.nn");
    std::fs::write(
        &m,
        "data {\n  path: \"d.csv\"\n  target: y\n  missing: median\n  column a { missing: drop }\n}\n\
         model {\n  input\n  output(activation: sigmoid)\n}\nloss: cross_entropy\ntrain { epochs: 1 }\n",
    )
    .unwrap();
    let out = nnc(&["run", m.to_str().unwrap()]);
    ok("run", &out);
    let text = stdout(&out);
    assert!(
        text.contains(
            "d.csv: left out 10 of 60 rows, 10 with a missing value in `a` (`missing: drop`); the other 50 are used"
        ),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_measured_target_under_a_classification_loss_is_an_error_unless_insisted() {
    let dir = scratch("continuous");
    wages(&dir, "wages.csv", 200, 0, "s");
    let classify = |data: &[&str]| {
        model(
            &dir,
            data,
            "input",
            "output(activation: softmax)",
            "cross_entropy",
        )
    };
    let m = classify(&["ignore: [sample_id]"]);
    let err = fails("cross_entropy on wages", &nnc(&["run", &m]));
    assert!(err.contains("nnc::data::continuous_target"), "{err}");
    assert!(err.contains("target `wage`"), "{err}");
    assert!(err.contains("`loss: mse`"), "{err}");
    assert!(err.contains("`categorical: [wage]`"), "{err}");
    // Short of classes: one line of error, not a line per class.
    assert!(stderr(&nnc(&["run", &m])).lines().count() < 40);
    // `nnc check` finds it too.
    let err = fails("check", &nnc(&["check", &m]));
    assert!(err.contains("nnc::data::continuous_target"), "{err}");
    // Listed as categorical, the numbers are classes: the run goes on (and stops at nothing
    // about the target).
    let m = classify(&["ignore: [sample_id]", "categorical: [wage]"]);
    let out = nnc(&["check", &m]);
    assert!(
        !stderr(&out).contains("continuous_target"),
        "{}",
        stderr(&out)
    );
    // A few numeric classes are classes.
    let mut text = String::from("x,y\n");
    for i in 0..90 {
        text.push_str(&format!("{i},{}\n", (i % 3) as f64 + 0.5));
    }
    std::fs::write(dir.join("few.csv"), text).unwrap();
    let few = dir.join("few.nn");
    std::fs::write(
        &few,
        "data {\n  path: \"few.csv\"\n  target: y\n}\nmodel {\n  input\n  output(activation: softmax)\n}\n\
         loss: cross_entropy\ntrain { epochs: 1 }\n",
    )
    .unwrap();
    ok("three classes", &nnc(&["check", few.to_str().unwrap()]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fractional_numbers_made_categorical_are_a_warning_that_names_the_setting() {
    let dir = scratch("categorical-numbers");
    wages(&dir, "wages.csv", 200, 0, "s");
    // `age` as categories: whole numbers, codes perhaps, no warning; `wage` is the target, so
    // make a fractional feature categorical: the target of this model is `hours`.
    let text = std::fs::read_to_string(dir.join("wages.csv")).unwrap();
    std::fs::write(dir.join("wages.csv"), text).unwrap();
    let m = dir.join("m.nn");
    std::fs::write(
        &m,
        "data {\n  path: \"wages.csv\"\n  target: hours\n  ignore: [sample_id]\n  categorical: [age, wage]\n}\n\
         model {\n  input\n  output(activation: linear)\n}\nloss: mse\ntrain { epochs: 1 }\n",
    )
    .unwrap();
    let out = nnc(&["run", m.to_str().unwrap(), "-q"]);
    ok("run", &out);
    let err = flat(&stderr(&out));
    assert!(err.contains("nnc::data::categorical_numbers"), "{err}");
    assert!(err.contains("column `wage`"), "{err}");
    assert!(
        err.contains("remove `wage` from `categorical: [...]`"),
        "{err}"
    );
    // The warning points at the setting the user wrote.
    assert!(err.contains("m.nn:5:"), "{err}");
    // Not the id advice of the high-cardinality warning, and nothing about `age`.
    assert!(!err.contains("high_cardinality"), "{err}");
    assert!(!err.contains("column `age`"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn column_blocks_are_checked_against_the_file() {
    let dir = scratch("column-blocks");
    wages(&dir, "wages.csv", 100, 0, "s");
    let m = regression(
        &dir,
        &[
            "ignore: [sample_id]",
            "categorical: [age]",
            "column hours { unseen: error }",
            "column age { scaling: robust }",
        ],
    );
    let out = nnc(&["run", &m, "-q"]);
    ok("run", &out);
    let err = flat(&stderr(&out));
    assert!(
        err.contains("column `hours` is numeric: `unseen` in its `column` block has no effect"),
        "{err}"
    );
    assert!(
        err.contains("column `age` is categorical: `scaling` in its `column` block has no effect"),
        "{err}"
    );
    assert_eq!(
        err.matches("nnc::data::setting_without_effect").count(),
        2,
        "{err}"
    );
    // A block for a column the file lacks is an error at the block's name.
    let m = regression(
        &dir,
        &["ignore: [sample_id]", "column hour { scaling: robust }"],
    );
    let err = fails("unknown column", &nnc(&["run", &m]));
    assert!(err.contains("nnc::data::unknown_column"), "{err}");
    assert!(err.contains("did you mean `hours`?"), "{err}");
    assert!(err.contains("m.nn:5:10"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_warning_comes_before_the_error_it_explains() {
    let dir = scratch("warning-first");
    wages(&dir, "wages.csv", 100, 0, "s");
    // `sample_id` is one-hot encoded into an input per id of the training split; the model
    // says 2.
    let m = model(&dir, &[], "input(2)", "output(activation: linear)", "mse");
    for command in ["run", "check", "summary"] {
        let out = nnc(&[command, &m, "-q"][..if command == "run" { 3 } else { 2 }]);
        let err = fails(command, &out);
        let warning = err
            .find("nnc::data::high_cardinality")
            .unwrap_or_else(|| panic!("{command}: the warning is shown: {err}"));
        let error = err.find("nnc::shape::input_width").unwrap();
        assert!(warning < error, "{command}: the warning first: {err}");
        let width = err
            .split("but the data has ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("{command}: the width: {err}"));
        assert!(
            err.contains(&format!(
                "but the data has {width} (2 numeric columns + {} categories of `sample_id`)",
                width - 2
            )),
            "{command}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_held_out_file_raises_no_warning_of_its_own_about_categories() {
    let dir = scratch("held-out-warning");
    wages(&dir, "wages.csv", 100, 0, "s");
    wages(&dir, "wages_test.csv", 60, 0, "t");
    let m = regression(&dir, &["test: \"wages_test.csv\""]);
    let out = nnc(&["run", &m, "-q"]);
    ok("run", &out);
    let err = flat(&stderr(&out));
    assert_eq!(
        err.matches("nnc::data::high_cardinality").count(),
        1,
        "{err}"
    );
    assert!(err.contains("data file `"), "{err}");
    assert!(!err.contains("wages_test.csv"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_file_given_by_a_flag_is_blamed_on_the_flag() {
    let dir = scratch("flag-file");
    wages(&dir, "wages.csv", 50, 0, "s");
    let m = regression(&dir, &["ignore: [sample_id]"]);
    for flag in ["--test-data", "--validation-data", "--data"] {
        let out = nnc(&["run", &m, flag, "no-such.csv"]);
        let err = fails(flag, &out);
        assert!(err.contains("nnc::data::file_not_found"), "{flag}: {err}");
        assert!(
            err.contains(&format!("`no-such.csv` given by `{flag}`")),
            "{flag}: {err}"
        );
        assert!(
            err.contains("relative to the current folder"),
            "{flag}: {err}"
        );
        // Nothing in the model file is to blame.
        assert!(!err.contains("m.nn:"), "{flag}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_counts_the_rows_it_leaves_out() {
    let dir = scratch("eval-left-out");
    wages(&dir, "wages.csv", 100, 0, "s");
    wages(&dir, "labelled.csv", 40, 8, "t");
    let m = regression(&dir, &["ignore: [sample_id]"]);
    let saved = dir.join("saved");
    ok(
        "run --out",
        &nnc(&["run", &m, "-q", "--out", saved.to_str().unwrap()]),
    );
    let labelled = dir.join("labelled.csv");
    let out = nnc(&[
        "eval",
        saved.to_str().unwrap(),
        "--data",
        labelled.to_str().unwrap(),
    ]);
    ok("eval", &out);
    let text = stdout(&out);
    assert!(
        text.contains("labelled.csv: left out 5 of 40 rows, 5 without a target value; the metrics cover the other 35"),
        "{text}"
    );
    assert!(text.contains("(35 rows)"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
