//! Every path form of `--set` on small files: the edited text, what the resolver reads from it,
//! and each mistake shown where it was made.

use crate::diag::{Diagnostic, Source};
use crate::lower::spec::{Activation, OptimizerKind};
use crate::lower::ModelSpec;

const FILE: &str = "\
model {
  input(4)
  dense(64, activation: relu)
  output(3, activation: softmax)
}
loss: cross_entropy
optimizer: adam(learning_rate: 0.01)
train {
  epochs: 50
}
";

fn edit(text: &str, flags: &[&str]) -> Result<(String, ModelSpec), Diagnostic> {
    let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    let edited = super::apply(&Source::new("m.nn", text), &flags)?;
    let spec = crate::program::parse_model(&edited.source).map_err(|d| edited.remap(d))?;
    Ok((edited.source.text.to_string(), spec))
}

fn ok(text: &str, flags: &[&str]) -> (String, ModelSpec) {
    edit(text, flags).unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

fn err(text: &str, flags: &[&str]) -> Diagnostic {
    match edit(text, flags) {
        Ok((t, _)) => panic!("expected an error, got:\n{t}"),
        Err(d) => d,
    }
}

#[test]
fn a_setting_in_a_block_is_replaced() {
    let (text, spec) = ok(FILE, &["train.epochs=20"]);
    assert!(text.contains("  epochs: 20\n"), "{text}");
    assert_eq!(spec.train.epochs, 20);
}

#[test]
fn a_named_option_of_a_setting_is_replaced() {
    let (text, spec) = ok(FILE, &["optimizer.learning_rate=0.003"]);
    assert!(text.contains("adam(learning_rate: 0.003)"), "{text}");
    assert_eq!(spec.optimizer.options()[0], ("learning_rate", 0.003));
}

#[test]
fn a_positional_option_is_reached_by_its_name() {
    let (text, spec) = ok(FILE, &["model.1.units=128"]);
    assert!(text.contains("dense(128, activation: relu)"), "{text}");
    assert_eq!(spec.layers[0].units, 128);
    let (_, spec) = ok(FILE, &["model.input.width=4", "model.2.units=3"]);
    assert_eq!(spec.input.width, Some(4));
}

#[test]
fn layers_are_numbered_as_diagnostics_number_them() {
    let (text, spec) = ok(FILE, &["model.2.activation=sigmoid"]);
    assert!(text.contains("output(3, activation: sigmoid)"), "{text}");
    assert_eq!(spec.layers[1].activation, Activation::Sigmoid);
    assert_eq!(spec.layers[0].activation, Activation::Relu);
    let (text, _) = ok(FILE, &["model.1=dense(8, activation: tanh)"]);
    assert!(
        text.contains("  dense(8, activation: tanh)\n  output"),
        "{text}"
    );
}

#[test]
fn whole_values_are_replaced() {
    let (text, spec) = ok(FILE, &["optimizer=sgd(momentum: 0.9)", "loss=mse"]);
    assert!(text.contains("optimizer: sgd(momentum: 0.9)\n"), "{text}");
    assert!(text.contains("loss: mse\n"), "{text}");
    assert_eq!(OptimizerKind::from(&spec.optimizer), OptimizerKind::Sgd);
}

#[test]
fn absent_options_settings_calls_and_blocks_are_inserted() {
    let (text, spec) = ok(FILE, &["optimizer.beta1=0.8", "train.seed=7"]);
    assert!(
        text.contains("adam(learning_rate: 0.01, beta1: 0.8)"),
        "{text}"
    );
    assert!(text.contains("  epochs: 50\n  seed: 7\n}"), "{text}");
    assert_eq!(spec.train.seed, 7);
    // A bare name gains parentheses; a one-line block gets the setting before its brace.
    let small = "model { dense(2, activation: leaky_relu) }\nloss: mse\noptimizer: adam\n";
    let (text, spec) = ok(
        small,
        &["model.1.activation.alpha=0.2", "optimizer.beta2=0.99"],
    );
    assert!(text.contains("leaky_relu(alpha: 0.2)"), "{text}");
    assert!(text.contains("optimizer: adam(beta2: 0.99)"), "{text}");
    assert_eq!(
        spec.layers[0].activation,
        Activation::LeakyRelu { alpha: 0.2 }
    );
    // A missing block is appended; a missing call in a block is written with its option.
    let (text, spec) = ok(
        small,
        &["train.epochs=3", "train.early_stopping.patience=4"],
    );
    assert!(
        text.ends_with("train {\n  epochs: 3\n  early_stopping(patience: 4)\n}\n"),
        "{text}"
    );
    assert_eq!(spec.train.epochs, 3);
    assert_eq!(
        spec.train.early_stopping.as_ref().map(|e| e.patience),
        Some(4)
    );
    let (text, _) = ok(small, &["model.1.units=5", "loss=mse"]);
    assert!(text.starts_with("model { dense(5, activation: leaky_relu) }"));
}

#[test]
fn a_column_block_is_reached_by_its_label() {
    let text = "data {\n  path: \"d.csv\"\n  column age { scaling: none }\n}\nmodel { dense(1) }\nloss: mse\n";
    let (edited, _) = ok(
        text,
        &["data.column.age.scaling=robust", "data.scaling=minmax"],
    );
    assert!(
        edited.contains("column age { scaling: robust }"),
        "{edited}"
    );
    assert!(edited.contains("  scaling: minmax\n}"), "{edited}");
}

#[test]
fn a_wrong_path_lists_what_exists_with_a_suggestion() {
    let d = err(FILE, &["model.3.units=8"]);
    assert_eq!(d.code, "nnc::cli::set_path");
    assert_eq!(d.location().as_deref(), Some("--set:1:7"));
    let help = d.help.unwrap();
    assert!(help.contains("1 (`dense(64, activation: relu)`)"), "{help}");
    assert!(
        help.contains("2 (`output(3, activation: softmax)`)"),
        "{help}"
    );
    let d = err(FILE, &["model.1.unit.x=8"]);
    assert_eq!(d.code, "nnc::cli::set_path");
    let help = d.help.unwrap();
    assert!(help.starts_with("did you mean `units`?"), "{help}");
    assert!(help.contains("units, activation"), "{help}");
    let d = err(FILE, &["train.epochs.max=3"]);
    assert_eq!(d.code, "nnc::cli::set_path");
    assert!(d.message.contains("the number 50"), "{}", d.message);
    let d = err(FILE, &["train=3"]);
    assert_eq!(d.code, "nnc::cli::set_path");
}

#[test]
fn a_misspelled_name_that_was_inserted_is_reported_in_the_flag() {
    // Absent names are written in, and the resolver's "did you mean" then points into the flag.
    let d = err(FILE, &["optimizer.learning_rat=0.1"]);
    assert_eq!(d.code, "nnc::lower::unknown_option");
    assert_eq!(d.location().as_deref(), Some("--set:1:11"));
    assert!(d.help.unwrap().contains("did you mean `learning_rate`"));
    let d = err(FILE, &["optimzer.learning_rate=0.1"]);
    assert_eq!(d.code, "nnc::lower::unknown_item");
    assert_eq!(d.location().as_deref(), Some("--set:1:1"));
    assert!(d.help.unwrap().contains("did you mean `optimizer`"));
}

#[test]
fn a_bad_value_is_shown_in_the_flag() {
    let d = err(FILE, &["optimizer.learning_rate=20"]);
    assert_eq!(d.code, "nnc::lower::out_of_range");
    assert_eq!(d.location().as_deref(), Some("--set:1:25"));
    assert_eq!(
        d.source.as_ref().unwrap().text.as_ref(),
        "optimizer.learning_rate=20"
    );
    let d = err(FILE, &["model.2.activation=softmx"]);
    assert_eq!(d.code, "nnc::lower::unknown_activation");
    assert_eq!(d.location().as_deref(), Some("--set:1:20"));
    let d = err(FILE, &["model.1.units=dense(", "loss=mse"]);
    assert_eq!(d.location().as_deref().map(|l| &l[..6]), Some("--set:"));
    let d = err(FILE, &["model.1.units"]);
    assert_eq!(d.code, "nnc::cli::set");
    // A value with a comment after it: only the value is spliced, the rest of the line stays.
    let (text, _) = ok(FILE, &["model.1.units=8 # eight"]);
    assert!(text.contains("dense(8, activation: relu)"), "{text}");
}

#[test]
fn a_later_flag_sees_the_earlier_ones_and_their_places_stay_mapped() {
    let d = err(
        FILE,
        &[
            "optimizer.learning_rate=99",
            "model.1.units=32",
            "train.seed=1",
        ],
    );
    assert_eq!(
        d.source.as_ref().unwrap().text.as_ref(),
        "optimizer.learning_rate=99"
    );
    let (text, _) = ok(FILE, &["model.1.units=32", "model.1.units=16"]);
    assert!(text.contains("dense(16, activation: relu)"), "{text}");
}

/// A layer bound to a name (`h = dense(64)`) is numbered like any layer, its options are reached
/// through its number, and math bindings and defs are left alone.
#[test]
fn named_layers_in_a_graph_are_numbered_like_layers() {
    let graph = "\
def double(x) = 2 * x
model {
  input(4)
  h = dense(8, activation: relu)
  g = dense(8)
  r = relu(h + g)
  output(3, activation: softmax)
}
loss: cross_entropy
";
    let (text, spec) = ok(graph, &["model.2.units=16", "model.1.activation=tanh"]);
    assert!(text.contains("h = dense(8, activation: tanh)"), "{text}");
    assert!(text.contains("g = dense(16)"), "{text}");
    assert!(text.contains("r = relu(h + g)"), "{text}");
    assert_eq!(spec.layers[1].units, 16);
    assert_eq!(spec.layers[0].activation, Activation::Tanh);
    let d = err(graph, &["model.4.units=3"]);
    assert_eq!(d.code, "nnc::cli::set_path");
}
