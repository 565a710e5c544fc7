//! Bad input never panics: arbitrary text and small edits of a valid model file either compile,
//! run a step and evaluate, or come back as a diagnostic with a help line; arbitrary text and
//! small edits of a valid CSV file either load, split and prepare, or come back as a diagnostic.

mod common;

use common::splice;

use proptest::prelude::*;

use nnc::codegen::CodegenOptions;
use nnc::data::{
    self, ColumnSettings, DataOrigin, Missing, PrepareConfig, SplitConfig, TargetEncoding,
    TargetKind,
};
use nnc::diag::{Diagnostic, Source};
use nnc::ir::ArgRole;
use nnc::train::session::exec_error;
use nnc::train::{Executor, JitExecutor};

const VALID: &str = "data {\n  path: \"iris.csv\"\n  target: species\n}\nmodel {\n  input(4)\n  dense(16, activation: leaky_relu(alpha: 0.1))\n  dense(3, activation: softmax)\n}\nloss: cross_entropy\noptimizer: sgd(learning_rate: 0.1, momentum: 0.9)\ntrain { epochs: 3 batch_size: 8 seed: 1 }\n";

const VALID_CSV: &str = "a,b,label\n1.5,2,x\n-3,4e1,y\n5,.6,x\n7,8,y\n0.5,1,x\n2,3,y\n";

fn well_formed(d: &Diagnostic) {
    assert!(d.help.is_some(), "{}", d.render_plain());
    // Rendering must not panic either (spans inside the text, on char boundaries).
    let _ = d.render_plain();
}

/// Build what parses; compile what builds, with bounds checks on, and run a training step and an
/// evaluation on a batch of zeros.
fn compile(text: &str) {
    let source = Source::new("fuzz.nn", text);
    let spec = match nnc::program::parse_model(&source) {
        Ok(spec) => spec,
        Err(d) => return well_formed(&d),
    };
    let program = match nnc::program::build(&spec, None) {
        Ok(p) => p,
        Err(d) => return well_formed(&d),
    };
    assert!(!program.step.body.is_empty());
    // Every built program explains, in text and as a page.
    let explanation = nnc::explain::explain(&program);
    assert!(!nnc::explain::render_text(&explanation).is_empty());
    assert!(nnc::explain::html::render(&explanation, "fuzz").contains("</html>"));
    let opts = CodegenOptions {
        checked: true,
        ..Default::default()
    };
    let mut exec = match JitExecutor::new(&program, 1, &opts) {
        Ok(e) => e,
        Err(e) => return well_formed(&exec_error(&spec, e)),
    };
    let width = |name: &str| {
        let f = &program.loss;
        let v = f
            .args_with_role(ArgRole::Data)
            .find(|&v| f.name_of(v) == name)
            .unwrap();
        f.shape(v).last_fixed().unwrap()
    };
    let (x, y) = (vec![0.0; width("x")], vec![0.0; width("y")]);
    exec.step(&x, &y, 1)
        .unwrap_or_else(|e| panic!("a built program runs: {e}"));
    let mut predictions = nnc::train::Predictions::default();
    exec.evaluate(&x, &y, 1, &mut predictions)
        .unwrap_or_else(|e| panic!("a built program evaluates: {e}"));
    assert_eq!(predictions.outputs.len(), width("y"));
}

/// Load the text as a CSV file with several targets and target kinds; split and prepare what
/// loads, with every encoding, at several fractions.
fn load(text: &str) {
    let source = Source::new("fuzz.csv", text);
    for kind in [TargetKind::Classes, TargetKind::Values] {
        for target in ["label", "a", "missing"] {
            let table = match data::parse_csv(&source, target, kind, &DataOrigin::default()) {
                Ok(t) => t,
                Err(d) => {
                    well_formed(&d);
                    continue;
                }
            };
            for (test_fraction, validation_fraction) in [(0.2, 0.1), (0.0, 0.0), (0.5, 0.45)] {
                let cfg = SplitConfig {
                    test_fraction,
                    validation_fraction,
                    seed: 3,
                };
                let config = |missing| PrepareConfig {
                    defaults: ColumnSettings {
                        missing,
                        ..ColumnSettings::default()
                    },
                    columns: Vec::new(),
                };
                let target = &table.target.as_ref().unwrap().data;
                let rows = match data::usable_rows(&table, &config(Missing::Drop)) {
                    Ok(usable) => usable.rows,
                    Err(d) => {
                        well_formed(&d);
                        continue;
                    }
                };
                let split = match data::split(target, &rows, &cfg) {
                    Ok(s) => s,
                    Err(d) => {
                        well_formed(&d);
                        continue;
                    }
                };
                let encodings: &[TargetEncoding] = match table.class_names() {
                    Some(names) if names.len() == 2 => {
                        &[TargetEncoding::OneHot, TargetEncoding::Binary]
                    }
                    Some(_) => &[TargetEncoding::OneHot],
                    None => &[TargetEncoding::Standardized],
                };
                for &encoding in encodings {
                    for missing in [Missing::Drop, Missing::Mean, Missing::MostFrequent] {
                        match data::prepare(&table, &split, encoding, &config(missing), &[]) {
                            Ok(p) => assert!(p.train.x.data.iter().all(|v| v.is_finite())),
                            Err(d) => well_formed(&d),
                        }
                    }
                }
            }
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
