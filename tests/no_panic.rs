//! Bad input never panics: arbitrary text and small edits of a valid model file either compile,
//! run a step and evaluate, or come back as a diagnostic with a help line; arbitrary text and
//! small edits of a valid CSV file either load, split and prepare, or come back as a diagnostic;
//! so do damaged Parquet files (bytes flipped, cut, spliced).

mod common;

use common::splice;
use common::targets::{compile, load, load_parquet};

use proptest::prelude::*;

use nnc::data::{self, DataOrigin, TargetKind};
use nnc::diag::Source;

const VALID: &str = "data {\n  path: \"iris.csv\"\n  target: species\n}\nmodel {\n  input(4)\n  dense(16, activation: leaky_relu(alpha: 0.1))\n  dense(3, activation: softmax)\n}\nloss: cross_entropy\noptimizer: sgd(learning_rate: 0.1, momentum: 0.9)\ntrain { epochs: 3 batch_size: 8 seed: 1 }\n";

const VALID_CSV: &str = "a,b,label\n1.5,2,x\n-3,4e1,y\n5,.6,x\n7,8,y\n0.5,1,x\n2,3,y\n";

/// A valid Parquet file as bytes: 300 rows of a float, a whole number, a text and a label column
/// (with nulls), snappy-compressed in row groups of 64, so that most of its bytes are pages.
fn valid_parquet() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let rows: String = (0..300)
            .map(|i| {
                let a = if i % 17 == 0 {
                    String::new()
                } else {
                    format!("{}.25", i % 23)
                };
                let label = ["x", "y", ""][i % 3];
                format!(
                    "{a},{},{},{label}\n",
                    i * 7,
                    ["red", "green", "blue", "violet"][i % 4]
                )
            })
            .collect();
        let text = format!("a,b:int64,c,label\n{rows}");
        let path = common::scratch("valid_parquet").join("valid.parquet");
        let batch = common::parquet::batch(&text);
        common::parquet::write_batches(&path, &[batch], parquet::basic::Compression::SNAPPY, 64);
        std::fs::read(path).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_damaged_parquet_file(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0usize..3), 1..6),
        cut in any::<Option<prop::sample::Index>>(),
    ) {
        let mut bytes = valid_parquet().to_vec();
        for (at, byte, how) in edits {
            let i = at.index(bytes.len());
            match how {
                0 => bytes[i] = byte,
                1 => bytes[i] ^= 1 << (byte % 8),
                _ => bytes.insert(i, byte),
            }
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()).max(4));
        }
        let dir = std::env::temp_dir().join(format!("nnc-no-panic-parquet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("{:?}.parquet", std::thread::current().id()).replace(['(', ')'], "");
        load_parquet(&bytes, &dir.join(name));
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        compile(&text);
    }

    #[test]
    fn a_valid_file_with_a_span_replaced(start in 0usize..VALID.len(), len in 0usize..12, insert in "[a-z0-9_:(){},.\"# \\n-]{0,6}") {
        compile(&splice(VALID, start, len, &insert));
    }

    #[test]
    fn arbitrary_csv_text(text in "\\PC{0,200}") {
        load(&text);
    }

    #[test]
    fn a_valid_csv_with_a_span_replaced(
        edits in prop::collection::vec(
            (0usize..VALID_CSV.len(), 0usize..6, "[a-z0-9,.\"\\n\\r -]{0,4}|1e999|NaN|-inf|\u{feff}|\\PC{0,2}"),
            1..4,
        ),
    ) {
        let mut text = VALID_CSV.to_string();
        for (start, len, insert) in edits {
            text = splice(&text, start, len, &insert);
        }
        load(&text);
    }
}

#[test]
fn the_unedited_files_load_and_compile() {
    compile(VALID);
    load(VALID_CSV);
    let source = Source::new("fuzz.csv", VALID_CSV);
    let table = data::parse_csv(
        &source,
        "label",
        TargetKind::Classes,
        &DataOrigin::default(),
    )
    .unwrap();
    assert_eq!((table.rows, table.columns.len()), (6, 2));
}

#[test]
fn a_model_too_large_for_memory_is_a_diagnostic() {
    let text = "model {\n  input(100000)\n  dense(100000)\n}\nloss: mse\n";
    let source = Source::new("big.nn", text);
    let spec = nnc::program::parse_model(&source).unwrap();
    let err = nnc::program::build(&spec, None).unwrap_err();
    assert_eq!(err.code, "nnc::lower::too_large");
    assert_eq!(err.location().as_deref(), Some("big.nn:3:3"));
}
