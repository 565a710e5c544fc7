//! The optimizing pass (`nnc::optimize`) on whole models: every example, the models of
//! `tests/models` and the five benchmark models train to the same losses, parameters and optimizer
//! state, and evaluate to the same loss and predictions, bit for bit, with the pass and without
//! it, compiled and interpreted. And what the pass removes from each, as a snapshot.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use nnc::codegen::CodegenOptions;
use nnc::ir::{Op, VerifiedFunction};
use nnc::optimize::{optimize, Counts};
use nnc::program::{build_with, Optimization, Program};
use nnc::train::session::{load_model, prepare_data};
use nnc::train::{Executor, InterpExecutor, JitExecutor, Predictions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rows per training step and per evaluation.
const ROWS: usize = 8;
const STEPS: usize = 3;

/// `(folder, name, data)`: `data` when the file names a data file the model's widths come from.
const MODELS: [(&str, &str, bool); 18] = [
    ("examples", "iris", true),
    ("examples", "breast_cancer", true),
    ("examples", "diabetes", true),
    ("examples", "digits", true),
    ("examples", "digits_deep", true),
    ("examples", "residual", true),
    ("examples", "custom_layer", true),
    ("examples", "breast_cancer_dropout", true),
    ("examples", "diabetes_regularized", true),
    ("tests/models", "vocabulary", true),
    ("tests/models", "weighted", true),
    ("tests/models", "mae", true),
    ("tests/models", "math", true),
    ("benches/models", "tiny", false),
    ("benches/models", "small", false),
    ("benches/models", "medium", false),
    ("benches/models", "large", false),
    ("benches/models", "regression", false),
];

fn path(folder: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("{folder}/{name}.nn"))
}

/// The model built with the pass on and off; `monitor` sets the training statistics.
fn programs(folder: &str, name: &str, data: bool, monitor: bool) -> [Program; 2] {
    let path = path(folder, name);
    let mut spec = load_model(&path, &Default::default()).unwrap();
    spec.train.monitor = monitor;
    let shape = data.then(|| {
        prepare_data(&spec, &path, &Default::default(), &mut |_| {})
            .unwrap()
            .shape
    });
    [Optimization::On, Optimization::Off].map(|o| build_with(&spec, shape.as_ref(), o).unwrap())
}

/// A batch of `ROWS` random rows of the program's inputs and targets: one-hot classes (0 or 1 for
/// a single sigmoid unit) for a classifier, numbers for a regression.
fn batch(program: &Program, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<f32>) {
    let step = &program.step;
    let width = |name| step.shape(step.arg_named(name).unwrap()).0.len();
    let last = |name| {
        step.shape(step.arg_named(name).unwrap())
            .last_fixed()
            .unwrap()
    };
    assert_eq!(
        (width("x"), width("y")),
        (2, 2),
        "x and y are batches of rows"
    );
    let x = (0..ROWS * last("x"))
        .map(|_| rng.random_range(-2.0f32..2.0))
        .collect();
    let classes = last("y");
    let y = (0..ROWS)
        .flat_map(|_| {
            let class = rng.random_range(0..classes.max(2));
            (0..classes).map(move |c| {
                match (program.spec.loss.kind().is_classification(), classes) {
                    (true, 1) => f32::from(u8::from(class == 1)),
                    (true, _) => f32::from(u8::from(class == c)),
                    (false, _) => 0.5 * (class as f32) - 0.3 * (c as f32),
                }
            })
        })
        .collect();
    (x, y)
}

/// Every loss of `STEPS` steps and of an evaluation, the predictions, and the persistent buffers
/// at the end, as bits.
fn run(exec: &mut dyn Executor, batches: &[(Vec<f32>, Vec<f32>)]) -> Vec<Vec<u32>> {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let mut losses = Vec::new();
    for (x, y) in &batches[..STEPS] {
        losses.push(exec.step(x, y, ROWS).unwrap());
    }
    let mut predictions = Predictions::default();
    let (x, y) = &batches[STEPS];
    losses.push(exec.evaluate(x, y, ROWS, &mut predictions).unwrap());
    let mut all = vec![
        bits(&losses),
        bits(&predictions.outputs),
        bits(&predictions.logits),
    ];
    all.extend(exec.persistent().iter().map(|(_, v)| bits(v)));
    all
}

#[test]
fn optimized_models_train_and_evaluate_bit_for_bit_as_unoptimized_ones() {
    for (folder, name, data) in MODELS {
        let [on, off] = programs(folder, name, data, true);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let batches: Vec<_> = (0..=STEPS).map(|_| batch(&on, &mut rng)).collect();
        let opts = CodegenOptions::default();
        let compiled =
            [&on, &off].map(|p| run(&mut JitExecutor::new(p, 3, &opts).unwrap(), &batches));
        assert!(
            compiled[0] == compiled[1],
            "{name}: compiled results differ"
        );
        // The interpreter computes the large model's products in f64 one row at a time: too slow
        // for a test, and the smaller models have the same IR.
        if name != "large" {
            let interpreted =
                [&on, &off].map(|p| run(&mut InterpExecutor::new(p, 3).unwrap(), &batches));
            assert!(
                interpreted[0] == interpreted[1],
                "{name}: interpreted results differ"
            );
        }
    }
}

fn count(f: &VerifiedFunction, kind: fn(&Op) -> bool) -> usize {
    f.body.iter().filter(|e| kind(&e.op)).count()
}

/// A classifier's evaluation and gradient functions compute `log_softmax` once, where they
/// computed it for the loss and again for the predictions.
#[test]
fn a_classifier_computes_its_log_softmax_once() {
    let log_softmax = |op: &Op| matches!(op, Op::LogSoftmax(_));
    for name in ["tiny", "small"] {
        let [on, off] = programs("benches/models", name, false, true);
        for (what, on, off) in [("loss", &on.loss, &off.loss), ("grad", &on.grad, &off.grad)] {
            assert_eq!(count(off, log_softmax), 2, "{name} {what} as built");
            assert_eq!(count(on, log_softmax), 1, "{name} {what} optimized");
        }
    }
}

/// What the pass did to each function that runs, per model, without the training statistics
/// (docs/performance.md quotes it, and gives the count with them apart): a reviewable table.
#[test]
fn what_the_pass_removes_from_each_model() {
    let mut table = String::from(
        "model | function | equations before | after | merged | folded | simplified\n",
    );
    for (folder, name, data) in MODELS {
        let [_, off] = programs(folder, name, data, false);
        for (what, f) in [
            ("loss", &off.loss),
            ("grad", &off.grad),
            ("step", &off.step),
        ] {
            let mut g = f.clone().into_inner();
            let c: Counts = optimize(&mut g);
            let _ = writeln!(
                table,
                "{name} | {what} | {} | {} | {} | {} | {}",
                f.body.len(),
                g.body.len(),
                c.merged,
                c.folded,
                c.simplified
            );
        }
    }
    insta::assert_snapshot!("optimize_counts", table);
}
