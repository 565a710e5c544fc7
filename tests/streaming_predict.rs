//! `nnc predict` reads its file a chunk at a time (`data::load_table_chunks`) and writes each
//! chunk's predictions as it goes: on a file of many chunks it writes, byte for byte, what the
//! whole-file prediction (`LoadedModel::predict`, then `predictions_csv`) gives, with the same
//! warnings about unseen categories counted over the whole file, from CSV and from Parquet. Its
//! peak memory is checked by `tests/streaming_memory.rs`, in a test process of its own.

mod common;

use common::wide::{rows_to_predict, trained};
use std::path::Path;

use common::{arg, nnc, ok, scratch};

#[test]
fn predicting_chunk_by_chunk_writes_what_predicting_the_whole_file_does() {
    let dir = scratch("chunks");
    let saved = trained(&dir);
    // 300,000 rows of 62 columns: eighteen chunks of 4 MiB of cells.
    let data = dir.join("predict.csv");
    rows_to_predict(&data, 300_000);
    let mut loaded = nnc::train::saved::open(&saved).unwrap();
    let whole = loaded.predict(&data).unwrap();
    let expected = loaded.predictions_csv(&whole);
    assert_eq!(expected.lines().count(), 300_001);
    let render = |w: &[nnc::diag::Diagnostic]| -> Vec<String> {
        w.iter().map(|d| d.render_plain()).collect()
    };
    let warned = render(&whole.warnings);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("31 of 300000 rows"), "{}", warned[0]);

    let mut streamed = Vec::new();
    let summary = loaded.predict_to(&data, &mut streamed, "memory").unwrap();
    assert_eq!(summary.rows, 300_000);
    assert!(String::from_utf8(streamed).unwrap() == expected);
    assert_eq!(render(&summary.warnings), warned);

    // The command writes the same, to a file and to standard output.
    let file = dir.join("predictions.csv");
    ok(
        "predict --output",
        nnc(&[
            "predict",
            arg(&saved),
            "--data",
            arg(&data),
            "--output",
            arg(&file),
        ]),
    );
    assert!(std::fs::read_to_string(&file).unwrap() == expected);
    let out = nnc(&["predict", arg(&saved), "--data", arg(&data)]);
    assert!(ok("predict", out) == expected);

    // From Parquet, the same.
    let parquet = dir.join("predict.parquet");
    let text = std::fs::read_to_string(&data).unwrap();
    common::parquet::write(&parquet, &text);
    let mut streamed = Vec::new();
    loaded
        .predict_to(&parquet, &mut streamed, "memory")
        .unwrap();
    assert!(String::from_utf8(streamed).unwrap() == expected);
}

#[test]
fn evaluating_chunk_by_chunk_gives_the_run_s_test_metrics_to_the_bit() {
    use common::wide::{header, row};
    let dir = scratch("eval");
    let train: String = (0..400).map(|i| row(i, false)).collect();
    std::fs::write(dir.join("train.csv"), header() + &train).unwrap();
    // 300,000 labelled rows (eighteen chunks), every thousandth without its class.
    let test: String = (0..300_000)
        .map(|i| {
            let r = row(i, true);
            match i % 1000 == 999 {
                true => r[..r.rfind(',').unwrap() + 1].to_string() + "\n",
                false => r,
            }
        })
        .collect();
    std::fs::write(dir.join("test.csv"), header() + &test).unwrap();
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        "data {\n  path: \"train.csv\"\n  test: \"test.csv\"\n  target: \"class\"\n  \
         validation_fraction: 0\n}\nmodel {\n  input\n  dense(8, activation: relu)\n  \
         output(activation: softmax)\n}\nloss: cross_entropy\ntrain {\n  epochs: 3\n}\n",
    )
    .unwrap();
    let saved = dir.join("saved");
    let run_report = dir.join("run.json");
    let args = [
        "run",
        arg(&model),
        "--quiet",
        "--out",
        arg(&saved),
        "--report",
    ];
    let mut args = args.to_vec();
    args.push(arg(&run_report));
    ok("run", nnc(&args));
    let eval_report = dir.join("eval.json");
    let test_file = dir.join("test.csv");
    let out = nnc(&[
        "eval",
        arg(&saved),
        "--data",
        arg(&test_file),
        "--report",
        arg(&eval_report),
    ]);
    let printed = ok("eval", out);
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (run, eval) = (read(&run_report), read(&eval_report));
    assert_eq!(
        run["rows"]["files"][1]["dropped_no_target"], 300,
        "{}",
        run["rows"]
    );
    assert_eq!(run["rows"]["test"], 299_700);
    assert_eq!(eval, run["test"]);
    assert!(printed.contains("left out 300 of 300000 rows"), "{printed}");
}
