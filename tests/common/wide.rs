//! A synthetic wide table for the streaming tests: 60 numeric columns, a colour and a class that
//! follows the first two numbers; a model trained on 400 of its rows; any number of rows to
//! predict, some with a colour training never had.

use std::path::{Path, PathBuf};

use super::{arg, nnc, ok};

/// Columns of the synthetic table: this many numbers, a colour and the class.
pub const NUMBERS: usize = 60;

/// Row `i` of a table whose class follows its first two numbers; colours cycle through three,
/// or, with `unseen`, sometimes a colour training never had.
pub fn row(i: usize, unseen: bool) -> String {
    let x: Vec<String> = (0..NUMBERS)
        .map(|c| {
            format!(
                "{:.3}",
                ((i * 7919 + c * 104_729) % 1000) as f64 / 250.0 - 2.0
            )
        })
        .collect();
    let colours = ["red", "green", "blue"];
    let colour = match unseen && i % 9_973 == 17 {
        true => "violet",
        false => colours[i % 3],
    };
    let class = if x[0].parse::<f64>().unwrap() + x[1].parse::<f64>().unwrap() > 0.0 {
        "up"
    } else {
        "down"
    };
    format!("{},{colour},{class}\n", x.join(","))
}

pub fn header() -> String {
    let names: Vec<String> = (0..NUMBERS).map(|c| format!("x{c}")).collect();
    format!("{},colour,class\n", names.join(","))
}

/// A model trained on 400 rows, saved in `dir/saved`.
pub fn trained(dir: &Path) -> PathBuf {
    let data: String = (0..400).map(|i| row(i, false)).collect();
    std::fs::write(dir.join("train.csv"), header() + &data).unwrap();
    let model = dir.join("model.nn");
    std::fs::write(
        &model,
        "data {\n  path: \"train.csv\"\n  target: \"class\"\n}\nmodel {\n  input\n  \
         dense(8, activation: relu)\n  output(activation: softmax)\n}\nloss: cross_entropy\n\
         train {\n  epochs: 3\n}\n",
    )
    .unwrap();
    let saved = dir.join("saved");
    ok(
        "train",
        nnc(&["run", arg(&model), "--quiet", "--out", arg(&saved)]),
    );
    saved
}

/// `rows` rows to predict (without the class column) written to `path`.
pub fn rows_to_predict(path: &Path, rows: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(header().as_bytes()).unwrap();
    for i in 0..rows {
        out.write_all(row(i, true).as_bytes()).unwrap();
    }
    out.flush().unwrap();
}
