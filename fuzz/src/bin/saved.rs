//! The saved-model loader: a folder saved by a real run, with one of its files replaced by the
//! input (the first byte picks which; the manifest is resealed for it), opened and, when it
//! opens, asked to predict.
use std::path::PathBuf;

use nnc::train::session::{self, Overrides, RunOptions};

struct Folders {
    template: PathBuf,
    work: PathBuf,
    data: PathBuf,
}

/// Train a small classifier with a text column and save it: the template every input edits.
fn setup() -> Folders {
    let root = std::env::temp_dir().join(format!("nnc-fuzz-saved-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("a scratch folder");
    let data = root.join("data.csv");
    let rows: String = (0..40)
        .map(|i| format!("{},{},{}\n", i % 7, ["red", "green", ""][i % 3], ["a", "b"][i % 2]))
        .collect();
    std::fs::write(&data, format!("x,colour,label\n{rows}")).expect("the data file");
    let model = root.join("model.nn");
    std::fs::write(
        &model,
        "data {\n  path: \"data.csv\"\n  target: \"label\"\n  missing: most_frequent\n}\n\
         model {\n  input\n  dense(4, activation: relu)\n  output(activation: sigmoid)\n}\n\
         loss: binary_cross_entropy\ntrain {\n  epochs: 2\n}\n",
    )
    .expect("the model file");
    let outcome = session::run(
        &model,
        &RunOptions::new(Overrides::default(), false),
        |_| {},
        |_, _, _| {},
        |_| {},
    )
    .unwrap_or_else(|d| panic!("the template trains: {}", d.render_plain()));
    let template = root.join("template");
    nnc::train::saved::save_run(&template, &outcome).expect("the template saves");
    Folders {
        template,
        work: root.join("work"),
        data,
    }
}

fn main() {
    nnc_fuzz::drive(setup, |f, input| {
        let (which, content) = input.split_first().map_or((0, &[][..]), |(w, c)| (*w, c));
        nnc_fuzz::targets::saved(&f.template, &f.work, which, content, &f.data);
    });
}
