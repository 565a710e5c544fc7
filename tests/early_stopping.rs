//! Early stopping on real training: it ends before the last epoch, `restore_best` puts back the
//! best epoch's buffers bit for bit on both executors, a seed still gives bit-identical histories,
//! the validation metric is in the target's units, and an empty validation split is a diagnostic
//! at the `early_stopping` call.

use std::path::{Path, PathBuf};

use nnc::codegen::CodegenOptions;
use nnc::data::Prepared;
use nnc::diag::Source;
use nnc::program::Program;
use nnc::train::session::{prepare_data, run, Overrides, RunOptions};
use nnc::train::{
    evaluate, fit, EpochRecord, Executor, History, InterpExecutor, JitExecutor, Task,
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A model of the shipped data set `csv` (its target `target`) whose train block is `train`.
fn model_text(csv: &str, target: &str, model: &str, loss: &str, train: &str) -> String {
    let csv = root().join("examples/data").join(csv);
    format!(
        "data {{ path: {:?} target: {target} }}\nmodel {{\n{model}\n}}\nloss: {loss}\noptimizer: adam(learning_rate: 0.05)\ntrain {{\n{train}\n}}\n",
        csv.display().to_string()
    )
}

fn build(text: &str) -> (Program, Prepared) {
    let spec = nnc::program::parse_model(&Source::new("early.nn", text))
        .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let data = prepare_data(
        &spec,
        &root().join("early.nn"),
        &Overrides::default(),
        &mut |_| {},
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let prepared = data.prepared.clone();
    let program = nnc::program::build(&spec, Some(&data.shape)).unwrap();
    (program, prepared)
}

/// Iris with a learning rate high enough that the validation loss soon stops improving.
fn iris(train: &str) -> (Program, Prepared) {
    build(&model_text(
        "iris.csv",
        "species",
        "  input(4)\n  dense(32, activation: relu)\n  output(3, activation: softmax)",
        "cross_entropy",
        train,
    ))
}

fn executors(program: &Program) -> Vec<(&'static str, Box<dyn Executor>)> {
    let seed = program.spec.train.seed;
    vec![
        (
            "jit",
            Box::new(JitExecutor::new(program, seed, &CodegenOptions::default()).unwrap()),
        ),
        (
            "interpreter",
            Box::new(InterpExecutor::new(program, seed).unwrap()),
        ),
    ]
}

fn train(exec: &mut dyn Executor, program: &Program, prepared: &Prepared, task: Task) -> History {
    fit(
        exec,
        &prepared.train,
        &prepared.validation,
        &program.spec.train,
        &program.probes,
        task,
        |_| {},
    )
    .unwrap()
}

fn record(h: &History, epoch: usize) -> &EpochRecord {
    h.epochs.iter().find(|e| e.epoch == epoch).unwrap()
}

#[test]
fn restore_best_puts_back_the_best_epochs_parameters_on_both_executors() {
    let (program, prepared) =
        iris("  epochs: 200\n  batch_size: 8\n  early_stopping(patience: 5, min_delta: 0)");
    for (name, mut exec) in executors(&program) {
        let h = train(exec.as_mut(), &program, &prepared, Task::Classification);
        assert!(h.stopped_early, "{name}: stops before epoch 200");
        assert!(h.epochs.len() < 200, "{name}");
        let best = h.best_epoch.expect("a best epoch");
        // Stopping after five epochs without improvement: the best is five epochs back.
        assert_eq!(best + 5, h.epochs.len(), "{name}");
        let best_loss = record(&h, best).val_loss.unwrap();
        let last_loss = h.epochs.last().unwrap().val_loss.unwrap();
        assert_ne!(best_loss, last_loss, "{name}: the last epoch is worse");
        let (now, _) = evaluate(exec.as_mut(), &prepared.validation).unwrap();
        assert_eq!(
            now.to_bits(),
            best_loss.to_bits(),
            "{name}: evaluated {now}, best epoch {best} had {best_loss}"
        );
        assert!(h
            .epochs
            .iter()
            .all(|e| e.val_loss.unwrap() >= best_loss && e.val_accuracy.is_some()));
    }
}

#[test]
fn without_restore_best_the_last_epochs_parameters_stay() {
    let (program, prepared) = iris(
        "  epochs: 200\n  batch_size: 8\n  early_stopping(patience: 5, min_delta: 0, restore_best: false)",
    );
    for (name, mut exec) in executors(&program) {
        let h = train(exec.as_mut(), &program, &prepared, Task::Classification);
        assert!(h.stopped_early, "{name}");
        let last_loss = h.epochs.last().unwrap().val_loss.unwrap();
        let (now, _) = evaluate(exec.as_mut(), &prepared.validation).unwrap();
        assert_eq!(now.to_bits(), last_loss.to_bits(), "{name}");
    }
}

/// Everything of a history but the wall-clock times.
fn fingerprint(h: &History) -> Vec<[u64; 4]> {
    let bits = |v: Option<f64>| v.map_or(u64::MAX, f64::to_bits);
    h.epochs
        .iter()
        .map(|e| {
            [
                e.train_loss.to_bits(),
                bits(e.val_loss),
                bits(e.val_accuracy),
                bits(e.val_mae),
            ]
        })
        .collect()
}

#[test]
fn a_seed_gives_bit_identical_histories_with_early_stopping() {
    let (program, prepared) = iris(
        "  epochs: 200\n  batch_size: 8\n  early_stopping(patience: 3, monitor: val_accuracy)",
    );
    let runs: Vec<History> = (0..2)
        .map(|_| {
            let mut exec = JitExecutor::new(&program, 42, &CodegenOptions::default()).unwrap();
            train(&mut exec, &program, &prepared, Task::Classification)
        })
        .collect();
    assert_eq!(fingerprint(&runs[0]), fingerprint(&runs[1]));
    assert_eq!(runs[0].best_epoch, runs[1].best_epoch);
    assert_eq!(runs[0].stopped_early, runs[1].stopped_early);
    // Accuracy is watched upwards: no epoch beats the best one.
    let best = record(&runs[0], runs[0].best_epoch.unwrap())
        .val_accuracy
        .unwrap();
    assert!(runs[0]
        .epochs
        .iter()
        .all(|e| e.val_accuracy.unwrap() <= best));
}

#[test]
fn the_validation_mae_is_in_the_targets_units() {
    let (program, prepared) = build(&model_text(
        "diabetes.csv",
        "progression",
        "  input(10)\n  dense(16, activation: relu)\n  output(1)",
        "mse",
        "  epochs: 3\n  early_stopping(monitor: val_mae, restore_best: false)",
    ));
    let nnc::data::FittedTarget::Values { mean, std, .. } = prepared.preprocessing.target else {
        panic!("a regression target")
    };
    let task = Task::Regression { mean, std };
    let mut exec = JitExecutor::new(&program, 42, &CodegenOptions::default()).unwrap();
    let h = train(&mut exec, &program, &prepared, task);
    let last = h.epochs.last().unwrap();
    assert_eq!(last.val_accuracy, None);
    let (_, predictions) = evaluate(&mut exec, &prepared.validation).unwrap();
    let by_hand = predictions
        .outputs
        .iter()
        .zip(&prepared.validation.values)
        .map(|(&p, t)| (prepared.preprocessing.unscale_target(p) - t).abs())
        .sum::<f64>()
        / prepared.validation.len() as f64;
    assert!(h.best_epoch.is_some());
    let mae = last.val_mae.unwrap();
    assert!(
        (mae - by_hand).abs() <= 1e-9 * by_hand,
        "{mae} vs {by_hand}"
    );
    // The target's standard deviation is about 77: an error in standardized units would be ~1.
    assert!(mae > 20.0, "{mae}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("nnc-early-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn early_stopping_without_validation_rows_is_a_diagnostic_at_the_call() {
    let dir = scratch("noval");
    let path = dir.join("model.nn");
    let text = model_text(
        "iris.csv",
        "species",
        "  dense(3, activation: softmax)",
        "cross_entropy",
        "  epochs: 5\n  early_stopping(patience: 2)",
    );
    std::fs::write(&path, &text).unwrap();
    let opts = RunOptions {
        overrides: Overrides {
            validation_fraction: Some(0.0),
            ..Default::default()
        },
        interpret: false,
        codegen: Default::default(),
        persistence: Default::default(),
    };
    let result = run(
        &path,
        &opts,
        |_| {},
        |_, _, _| {},
        |_| panic!("no epoch runs"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let d = match result {
        Ok(_) => panic!("trained without validation rows"),
        Err(d) => d,
    };
    assert_eq!(d.code, "nnc::train::no_validation");
    let line = text
        .lines()
        .position(|l| l.contains("early_stopping"))
        .unwrap()
        + 1;
    let location = d.location().unwrap();
    assert!(
        location.ends_with(&format!("model.nn:{line}:3")),
        "{location}"
    );
    assert!(d.help.unwrap().contains("validation_fraction"));
}

#[test]
fn a_stop_on_the_last_epoch_is_not_early_but_still_restores() {
    let early = "  batch_size: 8\n  early_stopping(patience: 5, min_delta: 0)";
    let (program, prepared) = iris(&format!("  epochs: 200\n{early}"));
    let mut exec = JitExecutor::new(&program, 42, &CodegenOptions::default()).unwrap();
    let long = train(&mut exec, &program, &prepared, Task::Classification);
    assert!(long.stopped_early);
    let stop = long.epochs.len();
    // The same run with exactly as many epochs as the first one took.
    let (program, prepared) = iris(&format!("  epochs: {stop}\n{early}"));
    let mut exec = JitExecutor::new(&program, 42, &CodegenOptions::default()).unwrap();
    let h = train(&mut exec, &program, &prepared, Task::Classification);
    assert_eq!(fingerprint(&h), fingerprint(&long));
    assert!(!h.stopped_early, "every epoch ran");
    assert_eq!(h.best_epoch, long.best_epoch);
    let best_loss = record(&h, h.best_epoch.unwrap()).val_loss.unwrap();
    let (now, _) = evaluate(&mut exec, &prepared.validation).unwrap();
    assert_eq!(now.to_bits(), best_loss.to_bits());
}
