//! Bad input never panics: arbitrary text, and small edits of a valid file, either compile or
//! come back as a diagnostic with a help line.

use proptest::prelude::*;

use nnc::diag::Source;

const VALID: &str = "data {\n  path: \"iris.csv\"\n  target: species\n}\nmodel {\n  input(4)\n  dense(16, activation: leaky_relu(alpha: 0.1))\n  dense(3, activation: softmax)\n}\nloss: cross_entropy\noptimizer: sgd(learning_rate: 0.1, momentum: 0.9)\ntrain { epochs: 3 batch_size: 8 seed: 1 }\n";

fn compile(text: &str) {
    let source = Source::new("fuzz.nn", text);
    match nnc::program::parse_model(&source) {
        Ok(spec) => match nnc::program::build(&spec, None) {
            Ok(p) => assert!(!p.step.body.is_empty()),
            Err(d) => assert!(d.help.is_some(), "{}", d.render_plain()),
        },
        Err(d) => {
            assert!(d.help.is_some(), "{}", d.render_plain());
            // Rendering must not panic either (spans inside the text, on char boundaries).
            let _ = d.render_plain();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        compile(&text);
    }

    #[test]
    fn a_valid_file_with_a_span_replaced(start in 0usize..VALID.len(), len in 0usize..12, insert in "[a-z0-9_:(){},.\"# \\n-]{0,6}") {
        let start = start.min(VALID.len());
        let end = (start + len).min(VALID.len());
        let text = format!("{}{}{}", &VALID[..start], insert, &VALID[end..]);
        compile(&text);
    }
}

#[test]
fn the_unedited_file_compiles() {
    let source = Source::new("fuzz.nn", VALID);
    let spec = nnc::program::parse_model(&source).unwrap();
    nnc::program::build(&spec, None).unwrap();
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
