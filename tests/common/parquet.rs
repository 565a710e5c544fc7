//! Writing test Parquet files from CSV text, with the `parquet` crate's own writer. A column of
//! numbers (empty cells allowed) becomes nullable float64, or another type named in the header
//! after a colon (`age:int64`, `w:float32`, `ok:bool`, `day:date`, `tags:list`, `t:text`, each
//! with the suffix removed from the name); every other column is nullable text. An empty cell is
//! a null; a list column's cells are split at `;`.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// The records of CSV text (quotes handled by the `csv` crate), header first.
pub fn records(csv_text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(csv_text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// The CSV text as one Arrow batch, typed as the module documentation says.
pub fn batch(csv_text: &str) -> RecordBatch {
    let rows = records(csv_text);
    let (header, body) = rows.split_first().expect("a header");
    let columns: Vec<(String, ArrayRef)> = header
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let cells: Vec<&str> = body.iter().map(|r| r[c].as_str()).collect();
            let (name, kind) = name.split_once(':').unwrap_or((name, ""));
            (name.to_string(), column(kind, &cells))
        })
        .collect();
    RecordBatch::try_from_iter(columns).unwrap()
}

fn column(kind: &str, cells: &[&str]) -> ArrayRef {
    let present = |s: &str| !s.is_empty();
    let numbers = cells
        .iter()
        .filter(|s| present(s))
        .all(|s| s.parse::<f64>().is_ok());
    match kind {
        "int64" => Arc::new(Int64Array::from_iter(
            cells.iter().map(|s| present(s).then(|| s.parse().unwrap())),
        )),
        "float32" => Arc::new(Float32Array::from_iter(
            cells.iter().map(|s| present(s).then(|| s.parse().unwrap())),
        )),
        "bool" => Arc::new(BooleanArray::from_iter(
            cells.iter().map(|s| present(s).then(|| *s == "true")),
        )),
        "date" => Arc::new(Date32Array::from_iter(
            cells.iter().map(|s| present(s).then(|| s.parse().unwrap())),
        )),
        "list" => {
            let mut list = ListBuilder::new(StringBuilder::new());
            for s in cells {
                for item in s.split(';').filter(|i| !i.is_empty()) {
                    list.values().append_value(item);
                }
                list.append(present(s));
            }
            Arc::new(list.finish())
        }
        "" if numbers => Arc::new(Float64Array::from_iter(
            cells.iter().map(|s| present(s).then(|| s.parse().unwrap())),
        )),
        "" | "text" => Arc::new(StringArray::from_iter(
            cells.iter().map(|s| present(s).then_some(*s)),
        )),
        other => panic!("no test column type `{other}`"),
    }
}

/// Write `batches` to `path` as one Parquet file with `compression`, in row groups of at most
/// `group_rows` rows.
pub fn write_batches(
    path: &Path,
    batches: &[RecordBatch],
    compression: Compression,
    group_rows: usize,
) {
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batches[0].schema(), Some(props)).unwrap();
    for b in batches {
        writer.write(b).unwrap();
    }
    writer.close().unwrap();
}

/// Write CSV text to `path` as a zstd-compressed Parquet file.
pub fn write(path: &Path, csv_text: &str) {
    let zstd = Compression::ZSTD(ZstdLevel::default());
    write_batches(path, &[batch(csv_text)], zstd, 1 << 20);
}
