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
