//! End to end with the examples' fixed seeds: the shipped models reach the accuracy the peers
//! reach on the same data (BENCHMARKS.md protocol), and a seed gives bit-identical runs.

use std::path::Path;

use nnc::train::report::Report;
use nnc::train::session::{run, Overrides, RunOptions};

fn train(name: &str, interpret: bool, overrides: Overrides) -> Report {
    let opts = RunOptions {
        overrides,
        interpret,
        codegen: Default::default(),
    };
    let path = Path::new("examples").join(format!("{name}.nn"));
    run(&path, &opts, |_, _, _| {}, |_| {})
        .unwrap_or_else(|d| panic!("{}", d.render_plain()))
        .report
}

fn accuracy(r: &Report) -> f64 {
    r.test
        .as_ref()
        .expect("a test split")
        .classification
        .as_ref()
        .expect("a classification report")
        .accuracy
}

#[test]
fn iris_reaches_at_least_0_93_test_accuracy() {
    let r = train("iris", false, Overrides::default());
    assert_eq!(r.task, "classification");
    assert!(accuracy(&r) >= 0.93, "iris test accuracy {}", accuracy(&r));
}

#[test]
fn breast_cancer_reaches_at_least_0_95_test_accuracy() {
    let r = train("breast_cancer", false, Overrides::default());
    assert!(
        accuracy(&r) >= 0.95,
        "breast cancer test accuracy {}",
        accuracy(&r)
    );
}

#[test]
fn diabetes_reaches_a_test_mae_of_at_most_56() {
    let r = train("diabetes", false, Overrides::default());
    assert_eq!(r.task, "regression");
    let mae = r
        .test
        .as_ref()
        .unwrap()
        .regression
        .as_ref()
        .expect("a regression report")
        .mae;
    assert!(mae <= 56.0, "diabetes test MAE {mae}");
}

#[test]
fn a_seed_gives_bit_identical_runs_and_another_seed_does_not() {
    let o = |seed| Overrides {
        epochs: Some(5),
        seed: Some(seed),
        ..Default::default()
    };
    let losses = |r: &Report| {
        r.history
            .iter()
            .map(|e| (e.train_loss, e.val_loss))
            .collect::<Vec<_>>()
    };
    let a = train("iris", false, o(3));
    let b = train("iris", false, o(3));
    let c = train("iris", false, o(4));
    assert_eq!(losses(&a), losses(&b));
    assert_eq!(
        a.test.as_ref().unwrap().loss.to_bits(),
        b.test.as_ref().unwrap().loss.to_bits()
    );
    assert_ne!(losses(&a), losses(&c));
}

#[test]
fn the_interpreter_trains_to_the_same_result() {
    let o = || Overrides {
        epochs: Some(10),
        ..Default::default()
    };
    let jit = train("iris", false, o());
    let interp = train("iris", true, o());
    assert_eq!(interp.executor, "interpreter");
    for (a, b) in jit.history.iter().zip(&interp.history) {
        assert!(
            (a.train_loss - b.train_loss).abs() <= 1e-3 * b.train_loss.abs(),
            "epoch {}: jit {} vs interpreter {}",
            a.epoch,
            a.train_loss,
            b.train_loss
        );
    }
}
