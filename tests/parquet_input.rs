//! Parquet input: a Parquet file (or a folder of part files) gives the same run as the CSV of its
//! rows — the same typing, missing values, preprocessing, losses, metrics and predictions, bit for
//! bit — wherever a data file is named (`path:`, `--data`, `test:`, `validation:`, `nnc predict
//! --data`). The files are written by the `parquet` crate's writer with every codec, in small row
//! groups, so rows cross batch and group boundaries. The diagnostics about the files themselves
//! are played by `tests/diagnostics.rs` from docs/diagnostics.md.

mod common;

use std::path::{Path, PathBuf};

use common::parquet::{batch, write, write_batches};
use common::{arg, nnc, ok, scratch};
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The report of `nnc run` with `args`, without what varies from run to run (times, memory) or
/// names the files.
fn report(dir: &Path, name: &str, args: &[&str]) -> serde_json::Value {
    let path = dir.join(format!("{name}.json"));
    let mut all = vec!["run"];
    all.extend(args);
    all.extend(["--quiet", "--report", arg(&path)]);
    ok(name, nnc(&all));
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    strip(&mut value);
    value
}

fn strip(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| {
                !(k.ends_with("seconds")
                    || k.ends_with("_ms")
                    || k == "samples_per_second"
                    || k == "peak_rss_mib"
                    || k == "path")
            });
            map.values_mut().for_each(strip);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Two reports are the same; else the first line of their pretty JSON that differs.
#[track_caller]
fn same(a: &serde_json::Value, b: &serde_json::Value, what: &str) {
    let (a, b) = (
        serde_json::to_string_pretty(a).unwrap(),
        serde_json::to_string_pretty(b).unwrap(),
    );
    if let Some((k, (x, y))) = (a.lines().zip(b.lines()).enumerate()).find(|(_, (x, y))| x != y) {
        panic!(
            "{what}: the reports differ at line {}: {x} against {y}",
            k + 1
        );
    }
    assert_eq!(a.lines().count(), b.lines().count(), "{what}");
}

/// Every codec Parquet writers use.
fn codec(k: usize) -> Compression {
    match k % 6 {
        0 => Compression::SNAPPY,
        1 => Compression::UNCOMPRESSED,
        2 => Compression::GZIP(GzipLevel::default()),
        3 => Compression::ZSTD(ZstdLevel::default()),
        4 => Compression::LZ4_RAW,
        _ => Compression::BROTLI(BrotliLevel::default()),
    }
}

#[test]
fn shipped_data_trains_the_same_from_parquet() {
    let dir = scratch("parquet_shipped");
    for (k, example) in ["iris", "breast_cancer", "diabetes", "digits"]
        .iter()
        .enumerate()
    {
        let csv = root().join(format!("examples/data/{example}.csv"));
        let parquet = dir.join(format!("{example}.parquet"));
        let text = std::fs::read_to_string(&csv).unwrap();
        write_batches(&parquet, &[batch(&text)], codec(k), 37);
        let model = root().join(format!("examples/{example}.nn"));
        let args = [arg(&model), "--epochs", "4"];
        let from_csv = report(&dir, &format!("{example}_csv"), &args);
        let mut args = args.to_vec();
        args.extend(["--data", arg(&parquet)]);
        let from_parquet = report(&dir, &format!("{example}_parquet"), &args);
        same(&from_csv, &from_parquet, example);
    }
}

/// A table with what real files hold: empty cells, `NA`, a float NaN, text with commas, quotes and line
/// breaks, whole numbers, single-precision numbers, booleans, a list column left out, and rows
/// without a target. In the Parquet file the columns are typed (the `:type` suffixes, see
/// `common::parquet`); in the CSV they are the text a CSV writer makes of those values.
const MESSY: &str = "\
id:int64,height:float32,colour,note,flag:bool,tags:list,weight,kind
1,1.7,red,\"tall, thin\",true,a;b,70.5,x
2,,blue,plain,false,,81.25,y
3,1.55,NA,\"says \"\"hi\"\"\",true,c,,x
4,1.8,red,\"two
lines\",,a,90,y
5,1.62,,plain,false,b,55.5,
6,1.75,green,plain,true,,NaN,x
7,1.9,blue,\"tall, thin\",false,a;c,95.5,y
8,1.6,red,plain,true,b,60,x
9,1.85,green,plain,false,,88,y
10,1.58,blue,\"says \"\"hi\"\"\",true,a,58.5,x
11,1.72,red,plain,false,c,74,y
12,1.66,green,plain,true,,66.5,x
13,1.7,red,plain,true,a,70,
";

/// The header without the type suffixes: the CSV a writer makes of the Parquet file.
fn as_csv(text: &str) -> String {
    let (header, body) = text.split_once('\n').unwrap();
    let header: Vec<&str> = header
        .split(',')
        .map(|h| h.split(':').next().unwrap())
        .collect();
    format!("{}\n{body}", header.join(","))
}

fn messy_model(dir: &Path, data: &str, test: &str, loss: &str) -> PathBuf {
    let model = dir.join(format!("messy_{loss}.nn"));
    std::fs::write(
        &model,
        format!(
            "data {{\n  path: \"{data}\"\n  test: \"{test}\"\n  target: \"kind\"\n  \
             ignore: [tags]\n  missing: most_frequent\n  validation_fraction: 0\n}}\n\
             model {{\n  input\n  dense(6, activation: relu)\n  output(activation: softmax)\n}}\n\
             loss: {loss}\noptimizer: adam(learning_rate: 0.01)\ntrain {{\n  epochs: 20\n  \
             batch_size: 4\n  seed: 3\n}}\n"
        ),
    )
    .unwrap();
    model
}

#[test]
fn a_messy_table_reads_as_its_csv_everywhere_a_file_is_named() {
    let dir = scratch("parquet_messy");
    let (train, test) = MESSY.split_at(MESSY.find("9,1.85").unwrap());
    let header = MESSY.lines().next().unwrap();
    let test = format!("{header}\n{test}");
    write(&dir.join("train.parquet"), train);
    write(&dir.join("test.parquet"), &test);
    std::fs::write(dir.join("train.csv"), as_csv(train)).unwrap();
    std::fs::write(dir.join("test.csv"), as_csv(&test)).unwrap();

    let from_csv = messy_model(&dir, "train.csv", "test.csv", "cross_entropy");
    let from_parquet = messy_model(&dir, "train.parquet", "test.parquet", "cross_entropy");
    let saved_csv = dir.join("saved_csv");
    let saved_parquet = dir.join("saved_parquet");
    let a = report(&dir, "csv", &[arg(&from_csv), "--out", arg(&saved_csv)]);
    let b = report(
        &dir,
        "parquet",
        &[arg(&from_parquet), "--out", arg(&saved_parquet)],
    );
    same(&a, &b, "messy");
    // Each file's rows without a target are counted, as a CSV's are.
    assert_eq!(a["rows"]["files"][0]["dropped_no_target"], 1, "{a}");
    assert_eq!(a["rows"]["files"][1]["dropped_no_target"], 1, "{a}");
    assert_eq!(a["rows"]["test"], 4, "{a}");

    // `--validation-data` and `nnc predict --data` read Parquet too; predicting with a model
    // trained on either file, from either file, gives the same text.
    let with_validation = |data: &Path, model: &Path| {
        let name = format!("validation_{}", data.file_name().unwrap().to_string_lossy());
        report(&dir, &name, &[arg(model), "--validation-data", arg(data)])
    };
    same(
        &with_validation(&dir.join("test.csv"), &from_csv),
        &with_validation(&dir.join("test.parquet"), &from_csv),
        "--validation-data",
    );
    let predict = |saved: &Path, data: &str| {
        ok(
            "predict",
            nnc(&["predict", arg(saved), "--data", arg(&dir.join(data))]),
        )
    };
    let expected = predict(&saved_csv, "test.csv");
    assert_eq!(expected.lines().count(), 6, "{expected}");
    assert_eq!(predict(&saved_csv, "test.parquet"), expected);
    assert_eq!(predict(&saved_parquet, "test.parquet"), expected);
}

#[test]
fn part_files_read_as_one_table_in_the_order_of_their_names() {
    let dir = scratch("parquet_parts");
    let text = std::fs::read_to_string(root().join("examples/data/iris.csv")).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let rows: Vec<&str> = body.lines().collect();
    let parts = dir.join("iris_parts");
    std::fs::create_dir_all(&parts).unwrap();
    // Written last part first, each with another codec, so neither the order of creation nor
    // the folder's listing order is the order of the names.
    let chunks: Vec<&[&str]> = rows.chunks(40).collect();
    for (k, chunk) in chunks.iter().enumerate().rev() {
        let part = format!("{header}\n{}\n", chunk.join("\n"));
        let name = format!("part-{k:05}-7f3a.c000.snappy.parquet");
        write_batches(&parts.join(name), &[batch(&part)], codec(k), 16);
    }
    // What Spark and Dask write beside the parts, and a checksum file, are passed over.
    std::fs::write(parts.join("_SUCCESS"), "").unwrap();
    std::fs::write(parts.join("_metadata"), "not a part").unwrap();
    std::fs::write(
        parts.join(".part-00000-7f3a.c000.snappy.parquet.crc"),
        "crc",
    )
    .unwrap();

    let model = root().join("examples/iris.nn");
    let whole = report(&dir, "whole", &[arg(&model), "--epochs", "3"]);
    let args = [arg(&model), "--epochs", "3", "--data", arg(&parts)];
    same(&report(&dir, "parts", &args), &whole, "parts");

    // In another order the rows split differently: the order is the names'.
    std::fs::rename(
        parts.join("part-00000-7f3a.c000.snappy.parquet"),
        parts.join("part-00009-7f3a.c000.snappy.parquet"),
    )
    .unwrap();
    assert_ne!(report(&dir, "renamed", &args), whole);
}

#[test]
fn a_diagnostic_about_a_cell_names_its_row_and_shows_it_as_csv() {
    let dir = scratch("parquet_cell");
    let data = dir.join("prices.parquet");
    write(&data, "size,price:text\n1,10\n2,20\n3,ten\n4,40\n");
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        "data {\n  path: \"prices.parquet\"\n  target: \"price\"\n}\nmodel {\n  input\n  \
         output\n}\nloss: mse\n",
    )
    .unwrap();
    let out = nnc(&["check", arg(&model)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nnc::data::non_numeric_target"), "{err}");
    assert!(err.contains("row 3 of data file"), "{err}");
    assert!(err.contains("prices.parquet (rows as CSV):4:3"), "{err}");
    assert!(err.contains("3,ten"), "{err}");
}

#[test]
fn a_column_of_a_type_nnc_cannot_read_may_be_left_out() {
    let dir = scratch("parquet_ignore");
    let data = dir.join("data.parquet");
    let rows: String = (0..20).map(|i| format!("{i},a;b,{}\n", i % 2)).collect();
    write(&data, &format!("x,tags:list,y:text\n{rows}"));
    let model = |ignore: &str| {
        let path = dir.join(format!("model{}.nn", ignore.len()));
        std::fs::write(
            &path,
            format!(
                "data {{\n  path: \"data.parquet\"\n  target: \"y\"\n{ignore}}}\nmodel {{\n  \
                 input\n  output(activation: sigmoid)\n}}\nloss: binary_cross_entropy\n"
            ),
        )
        .unwrap();
        path
    };
    let out = nnc(&["check", arg(&model(""))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nnc::data::parquet_type"), "{err}");
    assert!(err.contains("ignore: [tags]"), "{err}");
    ok(
        "ignored",
        nnc(&["check", arg(&model("  ignore: [tags]\n"))]),
    );
}

#[test]
fn text_stored_as_dictionaries_views_and_large_strings_reads_as_text() {
    use arrow_array::types::Int32Type;
    use arrow_array::{
        ArrayRef, DictionaryArray, Float64Array, LargeStringArray, RecordBatch, StringViewArray,
    };
    use std::sync::Arc;
    let dir = scratch("parquet_text_kinds");
    let colours = [
        "red", "blue", "green", "red", "blue", "green", "red", "blue",
    ];
    let sizes = ["s", "m", "l", "m", "s", "l", "s", "m"];
    let kinds = ["x", "y", "x", "y", "x", "y", "y", "x"];
    let values: Vec<f64> = (0..8).map(|i| f64::from(i) * 1.25).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("value", Arc::new(Float64Array::from(values.clone()))),
        (
            "colour",
            Arc::new(
                colours
                    .iter()
                    .copied()
                    .collect::<DictionaryArray<Int32Type>>(),
            ),
        ),
        ("size", Arc::new(LargeStringArray::from(sizes.to_vec()))),
        ("kind", Arc::new(StringViewArray::from(kinds.to_vec()))),
    ];
    // The writer embeds the Arrow schema (dictionary, large string, view); nnc reads the
    // Parquet types under it, all plain text.
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    write_batches(&dir.join("data.parquet"), &[batch], codec(0), 3);
    let csv: String = (0..8)
        .map(|i| format!("{},{},{},{}\n", values[i], colours[i], sizes[i], kinds[i]))
        .collect();
    std::fs::write(
        dir.join("data.csv"),
        format!("value,colour,size,kind\n{csv}"),
    )
    .unwrap();
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        "data {\n  path: \"data.csv\"\n  target: \"kind\"\n  test_fraction: 0.25\n}\nmodel {\n  \
         input\n  output(activation: sigmoid)\n}\nloss: binary_cross_entropy\n",
    )
    .unwrap();
    let parquet = dir.join("data.parquet");
    same(
        &report(&dir, "csv", &[arg(&model), "--epochs", "3"]),
        &report(
            &dir,
            "parquet",
            &[arg(&model), "--epochs", "3", "--data", arg(&parquet)],
        ),
        "text kinds",
    );
}

#[test]
fn resuming_notices_a_changed_part_file() {
    let dir = scratch("parquet_resume");
    let text = std::fs::read_to_string(root().join("examples/data/iris.csv")).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let rows: Vec<&str> = body.lines().collect();
    let parts = dir.join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    let write_part = |k: usize, rows: &[&str]| {
        let part = format!("{header}\n{}\n", rows.join("\n"));
        write_batches(
            &parts.join(format!("part-{k}.parquet")),
            &[batch(&part)],
            codec(k),
            64,
        );
    };
    write_part(0, &rows[..75]);
    write_part(1, &rows[75..]);
    let model = root().join("examples/iris.nn");
    let saved = dir.join("saved");
    let run = |epochs: &str, resume: bool| {
        let mut args = vec!["run", arg(&model), "--quiet", "--data", arg(&parts)];
        args.extend([
            "--epochs",
            epochs,
            "--out",
            arg(&saved),
            "--checkpoint-every",
            "1",
        ]);
        if resume {
            args.extend(["--resume", arg(&saved)]);
        }
        nnc(&args)
    };
    ok("first run", run("2", false));
    ok("resumed on the same parts", run("3", true));
    // One row of the second part differs: the data is not the checkpoint's.
    let mut changed = rows[75..].to_vec();
    changed.swap(0, 1);
    write_part(1, &changed);
    let out = run("4", true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nnc::train::checkpoint_mismatch"), "{err}");
    assert!(err.contains("the content of the data file"), "{err}");
}

#[test]
fn a_missing_marker_that_is_a_number_reads_as_in_csv() {
    let dir = scratch("parquet_marker");
    let rows: String = (0..30)
        .map(|i| {
            let x = if i % 7 == 3 {
                "-999".to_string()
            } else {
                format!("{}.5", i % 11)
            };
            format!("{x},{}\n", i % 3)
        })
        .collect();
    let text = format!("x,y\n{rows}");
    write(&dir.join("data.parquet"), &text);
    std::fs::write(dir.join("data.csv"), &text).unwrap();
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        "data {\n  path: \"data.csv\"\n  target: \"y\"\n  missing_markers: [-999]\n  \
         missing: median\n}\nmodel {\n  input\n  output(1)\n}\nloss: mse\n",
    )
    .unwrap();
    let parquet = dir.join("data.parquet");
    let a = report(&dir, "csv", &[arg(&model), "--epochs", "2"]);
    same(
        &a,
        &report(
            &dir,
            "parquet",
            &[arg(&model), "--epochs", "2", "--data", arg(&parquet)],
        ),
        "marker",
    );
    // The marker made four cells missing, filled by the median: nothing was dropped.
    assert_eq!(a["rows"]["dropped_missing"], 0, "{a}");
}
