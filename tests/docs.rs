//! Every ```nn example in docs/language.md, docs/data.md, docs/experiments.md, docs/formatting.md
//! and the README parses and resolves; those that declare their input width are also built into
//! verified IR and compiled to native code (the others need their data file).

use nnc::diag::Source;

mod common;

fn check(doc: &str, min: usize) {
    let blocks = common::nn_blocks(doc);
    assert!(
        blocks.len() >= min,
        "{doc}: found {} examples",
        blocks.len()
    );
    for (i, text) in blocks.iter().enumerate() {
        let source = Source::new(format!("{doc} example {}", i + 1), text.as_str());
        let spec =
            nnc::program::parse_model(&source).unwrap_or_else(|d| panic!("{}", d.render_plain()));
        if spec.input.width.is_some() {
            let p =
                nnc::program::build(&spec, None).unwrap_or_else(|d| panic!("{}", d.render_plain()));
            // Down to native code: the training step and the evaluation loss, as a run compiles
            // them, and the forward pass that prediction uses.
            let batch = p.spec.train.batch_size;
            for f in [&p.forward, &p.loss, &p.step] {
                nnc::codegen::compile(f, batch, &Default::default())
                    .unwrap_or_else(|e| panic!("{doc} example {}: {e}", i + 1));
            }
        }
    }
}

#[test]
fn language_reference_examples_are_valid() {
    check("docs/language.md", 13);
}

#[test]
fn readme_examples_are_valid() {
    check("README.md", 1);
}

#[test]
fn data_guide_examples_are_valid() {
    check("docs/data.md", 1);
}

#[test]
fn formatting_guide_examples_are_valid() {
    check("docs/formatting.md", 2);
}

#[test]
fn experiments_guide_examples_are_valid() {
    check("docs/experiments.md", 1);
}

/// The rows of the markdown table that follows `heading` in `doc`: each row's cells, with `\|`
/// read as `|`.
fn table_after(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(doc).unwrap();
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("{doc}: no `{heading}`"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.replace("\\|", "\u{0}")
                .split('|')
                .map(|c| c.trim().replace('\u{0}', "|"))
                .collect::<Vec<String>>()[1..]
                .to_vec()
        })
        .collect()
}

/// The names a table row's first cell gives in backticks (`` `swish`, or `silu` ``, `` `huber(delta: δ)` ``).
fn names_in(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|n| n.split('(').next().unwrap().to_string())
        .collect()
}

/// The formula an editor shows on hover over an activation, a loss or an optimizer is the text
/// of its row in the language reference (the first row that names it).
#[test]
fn hover_formulas_are_the_language_reference_s() {
    use strum::IntoEnumIterator;
    let formula_in = |heading: &str, column: usize, name: &str| -> String {
        table_after("docs/language.md", heading)
            .into_iter()
            .find(|row| names_in(&row[0]).iter().any(|n| n == name))
            .unwrap_or_else(|| panic!("no row for `{name}` after {heading}"))[column]
            .clone()
    };
    use nnc::lower::spec::{ActivationKind, LossKind, OptimizerKind};
    for k in ActivationKind::iter() {
        assert_eq!(k.formula(), formula_in("### Activations", 1, k.name()));
    }
    for k in LossKind::iter() {
        assert_eq!(k.formula(), formula_in("## `loss`", 3, k.name()));
    }
    for k in OptimizerKind::iter() {
        assert_eq!(k.formula(), formula_in("## `optimizer`", 2, k.name()));
    }
}
