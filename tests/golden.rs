//! Golden files (insta snapshots in tests/snapshots): the printed IR of every example at each
//! stage, and the rendered diagnostic of each broken file in tests/ui. A change in either shows up
//! as a reviewable diff.

use std::path::Path;

use nnc::ir::print_function;
use nnc::train::session::{build_file, Overrides};

const EXAMPLES: [&str; 8] = [
    "iris",
    "breast_cancer",
    "diabetes",
    "digits",
    "residual",
    "custom_layer",
    "breast_cancer_dropout",
    "diabetes_regularized",
];

fn program(path: &Path) -> Result<nnc::program::Program, nnc::diag::Diagnostic> {
    build_file(path, &Overrides::default(), &mut |_| {})
}

#[test]
fn ir_of_the_examples() {
    for name in EXAMPLES {
        let p = program(Path::new(&format!("examples/{name}.nn"))).unwrap();
        insta::assert_snapshot!(format!("{name}_forward"), print_function(&p.forward));
        insta::assert_snapshot!(format!("{name}_grad"), print_function(&p.grad));
        insta::assert_snapshot!(format!("{name}_step"), print_function(&p.step));
    }
}

/// Small models of `tests/models` that use the activations, losses and ops the examples do not:
/// each composite activation, huber, mae, cross-entropy with label smoothing and class weights,
/// and every op of math in the language (`math.nn`).
#[test]
fn ir_of_the_vocabulary_models() {
    for name in ["vocabulary", "weighted", "mae", "math"] {
        let p = program(Path::new(&format!("tests/models/{name}.nn"))).unwrap();
        insta::assert_snapshot!(format!("model_{name}_forward"), print_function(&p.forward));
        insta::assert_snapshot!(format!("model_{name}_grad"), print_function(&p.grad));
    }
}

/// The step of one optimizer with every shared option: clipping by value and by global norm
/// between the gradient and the update, and the scheduled rate read from its state argument.
#[test]
fn step_ir_with_clipping_and_a_schedule() {
    let text = "model {\n  input(3)\n  dense(2, activation: tanh)\n  dense(1)\n}\nloss: mse\noptimizer: adamw(learning_rate: 0.01, clip_norm: 1.0, clip_value: 0.5, schedule: warmup(steps: 10, then: cosine(steps: 100)))\n";
    let source = nnc::diag::Source::new("clipped.nn", text);
    let spec = nnc::program::parse_model(&source).unwrap();
    let p = nnc::program::build(&spec, None).unwrap();
    insta::assert_snapshot!("adamw_clipped_scheduled_step", print_function(&p.step));
}

#[test]
fn diagnostics_of_broken_files() {
    let mut names: Vec<String> = std::fs::read_dir("tests/ui")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 9, "the broken files are found");
    for name in names {
        let path = format!("tests/ui/{name}.nn");
        let err = match program(Path::new(&path)) {
            Ok(_) => panic!("{path} is broken on purpose but compiled"),
            Err(e) => e,
        };
        assert!(
            err.help.is_some(),
            "{path}: every diagnostic has a help line"
        );
        insta::assert_snapshot!(format!("diagnostic_{name}"), err.render_plain());
    }
}
