//! The warnings a run raises about itself (`nnc::monitor::warn`): each check on made-up
//! histories on both sides of its threshold, the chance loss each check measures against, and the
//! shipped examples, which must raise none but the one they are known for. Each code's example
//! model, run for real, is in docs/diagnostics.md (played by `tests/diagnostics.rs`).

mod common;

use nnc::diag::Source;
use nnc::lower::ModelSpec;
use nnc::monitor::epoch::{EpochStats, LayerStats, ParamStats};
use nnc::monitor::warn::{chance_loss, warnings};
use nnc::train::EpochRecord;

fn spec(text: &str) -> ModelSpec {
    nnc::program::parse_model(&Source::new("model.nn", text)).unwrap()
}

const PLAIN: &str =
    "model {\n  input(3)\n  dense(16, activation: relu)\n  dense(16, activation: relu)\n  \
                     output(1)\n}\nloss: mse\noptimizer: sgd(learning_rate: 0.01)\n";

/// Epochs with these training losses (and validation losses, when given).
fn curve(train: &[f64], val: Option<&[f64]>) -> Vec<EpochRecord> {
    (train.iter().enumerate())
        .map(|(i, &t)| EpochRecord {
            epoch: i + 1,
            train_loss: t,
            val_loss: val.map(|v| v[i]),
            val_accuracy: None,
            val_mae: None,
            seconds: 0.0,
            monitor: None,
        })
        .collect()
}

fn codes(w: &[nnc::diag::Diagnostic]) -> Vec<&'static str> {
    w.iter().map(|d| d.code).collect()
}

/// A history whose layer 1 (16 relu units) had `dead[i]` dead units in epoch i + 1.
fn history_of(dead: &[usize]) -> Vec<EpochRecord> {
    let mut h = curve(&vec![1.0; dead.len()], None);
    for (e, &d) in h.iter_mut().zip(dead) {
        e.monitor = Some(EpochStats {
            layers: vec![LayerStats {
                layer: 1,
                mean: 0.0,
                std: 0.0,
                units: 16,
                dead_units: Some(d),
                saturated_units: None,
            }],
            params: vec![],
        });
    }
    h
}

#[test]
fn half_a_layer_dead_in_the_last_epoch_is_a_warning_at_the_layer() {
    let text = "model {\n  input(3)\n  dense(16, activation: relu)\n  output(1)\n}\nloss: mse\n";
    let spec = spec(text);
    let warn = |dead: &[usize]| warnings(&spec, &history_of(dead), None);
    assert!(warn(&[0, 3, 7]).is_empty(), "7 of 16 is fewer than half");
    assert!(warn(&[16, 16, 2]).is_empty(), "only the last epoch counts");
    let w = warn(&[0, 8, 2, 9, 16]);
    assert_eq!(codes(&w), ["nnc::train::dead_units"]);
    assert!(w[0].warning);
    assert_eq!(
        w[0].message,
        "16 of 16 units of layer 1 never fired in epoch 5, and at least half of them since \
         epoch 4"
    );
    assert_eq!(w[0].labels[0].span, spec.layers[0].span);
    let first = warn(&[8]);
    assert!(
        first[0].message.contains("since epoch 1"),
        "{}",
        first[0].message
    );
}

#[test]
fn half_a_layer_saturated_in_the_last_epoch_is_a_warning_at_the_layer() {
    let text = "model {\n  input(3)\n  dense(16, activation: tanh)\n  output(1)\n}\nloss: mse\n";
    let spec = spec(text);
    let history = |saturated: &[usize]| {
        let mut h = history_of(&vec![0; saturated.len()]);
        for (e, &s) in h.iter_mut().zip(saturated) {
            let layer = &mut e.monitor.as_mut().unwrap().layers[0];
            layer.dead_units = None;
            layer.saturated_units = Some(s);
        }
        h
    };
    let warn = |s: &[usize]| warnings(&spec, &history(s), None);
    assert!(warn(&[16, 7]).is_empty());
    let w = warn(&[3, 8, 12]);
    assert_eq!(codes(&w), ["nnc::train::saturated_units"]);
    assert_eq!(
        w[0].message,
        "12 of 16 units of layer 1 were saturated for most examples in epoch 3, and at least half \
         of them since epoch 2"
    );
}

/// The last epoch's statistics with these relative gradients (gradient norm over weight norm)
/// for the weight matrices of layers 1, 2, ....
fn gradients(relative: &[f64]) -> Vec<EpochRecord> {
    let mut h = curve(&[1.0, 0.9], None);
    let params = (relative.iter().enumerate())
        .flat_map(|(i, &r)| {
            let matrix = ParamStats {
                name: format!("w{}", i + 1),
                layer: Some(i + 1),
                matrix: true,
                gradient_norm: 2.0 * r,
                weight_norm: 2.0,
                gradient_to_weight: r,
                update_to_weight: None,
            };
            // A bias with a far larger relative gradient, which neither check looks at.
            let bias = ParamStats {
                name: format!("b{}", i + 1),
                matrix: false,
                gradient_to_weight: 1e6,
                ..matrix.clone()
            };
            [matrix, bias]
        })
        .collect();
    h[1].monitor = Some(EpochStats {
        layers: vec![],
        params,
    });
    h
}

#[test]
fn a_first_layer_learning_a_hundred_times_slower_than_the_last_is_a_vanishing_gradient() {
    let spec = spec(PLAIN);
    let warn = |r: &[f64]| warnings(&spec, &gradients(r), None);
    let w = warn(&[1e-5, 1e-3, 2e-3]);
    assert_eq!(codes(&w), ["nnc::train::vanishing_gradients"]);
    assert_eq!(
        w[0].message,
        "the gradient reaching layer 1's weights is 1.00e-5 of their norm in epoch 2, 0.00500 \
         times layer 3's (0.00200)"
    );
    assert_eq!(w[0].labels[0].span, spec.layers[0].span);
    assert!(
        warn(&[2.1e-5, 1e-3, 2e-3]).is_empty(),
        "a ratio above 1/100"
    );
    assert!(
        warn(&[0.0, 1e-3, 2e-3]).is_empty(),
        "no gradient at all: dead, not vanishing"
    );
    assert!(
        warn(&[1e-5]).is_empty(),
        "one layer has nothing to compare with"
    );
    assert!(warnings(&spec, &curve(&[1.0, 0.9], None), None).is_empty());
}

#[test]
fn a_gradient_a_hundred_times_its_weights_is_exploding_unless_the_optimizer_clips() {
    let spec_plain = spec(PLAIN);
    let w = warnings(&spec_plain, &gradients(&[50.0, 300.0, 120.0]), None);
    assert_eq!(codes(&w), ["nnc::train::exploding_gradients"]);
    assert_eq!(
        w[0].message,
        "the gradient of layer 2's weights has a norm of 600 in epoch 2, 300 times the \
         weights' own (2.00)"
    );
    assert_eq!(w[0].labels[0].span, spec_plain.layers[1].span);
    assert!(warnings(&spec_plain, &gradients(&[0.5, 99.0, 1.0]), None).is_empty());
    let clipped = PLAIN.replace("0.01)", "0.01, clip_norm: 1)");
    assert!(warnings(&spec(&clipped), &gradients(&[0.5, 300.0, 1.0]), None).is_empty());
}

#[test]
fn a_validation_loss_rising_while_the_training_loss_falls_is_over_fitting() {
    let spec_plain = spec(PLAIN);
    let train: Vec<f64> = (0..20).map(|i| 1.0 - 0.04 * i as f64).collect();
    let val = |rise: f64| -> Vec<f64> {
        (0..20)
            .map(|i| {
                if i <= 9 {
                    1.0 - 0.05 * i as f64
                } else {
                    0.55 + rise * (i - 9) as f64
                }
            })
            .collect()
    };
    let warn = |v: &[f64], t: &[f64], chance| warnings(&spec_plain, &curve(t, Some(v)), chance);
    // Lowest 0.55 in epoch 10; the last three average 0.55 + 9·0.02 = 0.73.
    let w = warn(&val(0.02), &train, Some(1.0));
    assert_eq!(codes(&w), ["nnc::train::overfitting"]);
    assert_eq!(
        w[0].message,
        "the validation loss rose from 0.550 in epoch 10 to 0.730 in epoch 20 while the training \
         loss fell from 0.640 to 0.240"
    );
    assert_eq!(w[0].labels[0].span, spec_plain.model_span);
    assert!(
        warn(&val(0.005), &train, None).is_empty(),
        "a rise under 10%"
    );
    assert!(
        warn(&val(0.02), &train, Some(4.0)).is_empty(),
        "a rise of 0.18 is under 5% of a chance loss of 4"
    );
    let rising: Vec<f64> = train.iter().rev().copied().collect();
    assert!(
        !codes(&warn(&val(0.02), &rising, None)).contains(&"nnc::train::overfitting"),
        "the training loss did not fall"
    );
    let mut late = val(0.02);
    late[..17].fill(1.0);
    late[16] = 0.5;
    assert!(
        warn(&late, &train, None).is_empty(),
        "lowest four epochs before the end: not yet a trend"
    );
    // In a run of 40 epochs, a trend is 8 epochs long: 7 is not enough.
    let long: Vec<f64> = (0..40).map(|i| 1.0 - 0.02 * i as f64).collect();
    let rise_after = |lowest: usize| -> Vec<f64> {
        (0..40)
            .map(|i| {
                if i < lowest {
                    1.0 - 0.01 * i as f64
                } else {
                    0.6 + 0.05 * (i - lowest) as f64
                }
            })
            .collect()
    };
    assert!(
        warn(&rise_after(32), &long, None).is_empty(),
        "7 epochs since the lowest"
    );
    assert_eq!(
        codes(&warn(&rise_after(31), &long, None)),
        ["nnc::train::overfitting"]
    );
    // Validation rising while the training loss settles at the chance loss: a collapse to a
    // constant prediction, not over-fitting.
    assert!(
        warn(&val(0.02), &train, Some(0.25)).is_empty(),
        "0.24 is 96% of 0.25"
    );
    assert_eq!(
        codes(&warn(&val(0.02), &train, Some(0.3))),
        ["nnc::train::overfitting"]
    );
    let stopping = format!("{PLAIN}train {{\n  early_stopping(patience: 50)\n}}\n");
    assert!(warnings(&spec(&stopping), &curve(&train, Some(&val(0.02))), None).is_empty());
}

#[test]
fn a_training_loss_that_jumps_or_climbs_means_a_rate_too_high() {
    let spec_plain = spec(PLAIN);
    let warn = |t: &[f64]| warnings(&spec_plain, &curve(t, None), None);
    // The last half (epochs 10 to 20) goes up by 50% every other epoch.
    let jumping: Vec<f64> = (0..20)
        .map(|i| if i % 2 == 0 { 0.4 } else { 0.6 })
        .collect();
    let w = warn(&jumping);
    assert_eq!(codes(&w), ["nnc::train::learning_rate_high"]);
    assert_eq!(
        w[0].message,
        "the training loss jumped up by more than 10% in 5 of the last 9 epochs (1.50× in epoch \
         12)"
    );
    assert_eq!(w[0].labels[0].span, spec_plain.optimizer_span);
    assert_eq!(w[0].labels[0].text, "learning rate 0.01");
    assert!(w[0]
        .help
        .as_ref()
        .unwrap()
        .contains("`learning_rate: 0.001`"));
    let small: Vec<f64> = (0..20)
        .map(|i| if i % 2 == 0 { 0.4 } else { 0.43 })
        .collect();
    assert!(warn(&small).is_empty(), "jumps of 7.5%");
    let climbing: Vec<f64> = (0..10).map(|i| 1.0 + 0.1 * i as f64).collect();
    let w = warn(&climbing);
    assert_eq!(
        w[0].message,
        "the training loss climbed from 1.00 in epoch 1 to 1.90 in epoch 10"
    );
    assert!(
        warn(&[1.0, 0.5, 0.5, 0.75]).is_empty(),
        "a rise of 1.5× within 2 epochs"
    );
    assert!(
        warn(&[1.0, 0.5, 0.5, 0.5, 0.74]).is_empty(),
        "a rise of 1.48×"
    );
    assert_eq!(
        codes(&warn(&[1.0, 0.5, 0.5, 0.5, 0.75])),
        ["nnc::train::learning_rate_high"]
    );
    let falling: Vec<f64> = (0..20).map(|i| 1.0 / (1.0 + i as f64)).collect();
    assert!(warn(&falling).is_empty());
}

#[test]
fn a_slow_steady_fall_near_the_chance_loss_means_a_rate_too_low() {
    let spec_plain = spec(PLAIN);
    let slow: Vec<f64> = (0..10).map(|i| 1.05 - 0.001 * i as f64).collect();
    let w = warnings(&spec_plain, &curve(&slow, None), Some(1.1));
    assert_eq!(codes(&w), ["nnc::train::learning_rate_low"]);
    assert_eq!(
        w[0].message,
        "after 10 epochs the training loss is 1.04, 95% of what a constant prediction gives \
         (1.10), and it fell by only 0.9% since epoch 1, in small steady steps"
    );
    assert!(w[0].help.as_ref().unwrap().contains("`learning_rate: 0.1`"));
    assert!(
        warnings(&spec_plain, &curve(&slow, None), Some(1.2)).is_empty(),
        "87% of the chance loss"
    );
    assert!(warnings(&spec_plain, &curve(&slow, None), None).is_empty());
    let mut wobbly = slow.clone();
    wobbly[7] = 1.1;
    assert!(warnings(&spec_plain, &curve(&wobbly, None), Some(1.1)).is_empty());
    assert!(warnings(&spec_plain, &curve(&slow[..4], None), Some(1.1)).is_empty());
    // A fall of 18% that stopped at the chance loss: a network that collapsed to a constant.
    let collapsed: Vec<f64> = (0..10).map(|i| 1.0 + 0.2 / (1.0 + i as f64)).collect();
    assert!(warnings(&spec_plain, &curve(&collapsed, None), Some(1.0)).is_empty());
    let slight: Vec<f64> = (0..10).map(|i| 1.0 + 0.04 / (1.0 + i as f64)).collect();
    assert_eq!(
        codes(&warnings(&spec_plain, &curve(&slight, None), Some(1.0))),
        ["nnc::train::learning_rate_low"]
    );
    // Only the last half must fall steadily: the first may wander.
    let settling = [
        1.05, 1.07, 1.04, 1.06, 1.05, 1.049, 1.048, 1.047, 1.046, 1.045,
    ];
    assert_eq!(
        codes(&warnings(&spec_plain, &curve(&settling, None), Some(1.1))),
        ["nnc::train::learning_rate_low"]
    );
    // A dead layer explains a loss stuck near chance better than the rate does.
    let mut dead = history_of(&[16; 10]);
    for (e, &t) in dead.iter_mut().zip(&slow) {
        e.train_loss = t;
    }
    assert_eq!(
        codes(&warnings(&spec_plain, &dead, Some(1.1))),
        ["nnc::train::dead_units"]
    );
}

#[test]
fn the_chance_loss_is_that_of_the_best_constant_prediction() {
    use nnc::data::Matrix;
    let y = |cols: usize, data: &[f32]| Matrix {
        rows: data.len() / cols,
        cols,
        data: data.to_vec(),
    };
    let loss = |l: &str| {
        spec(&format!(
            "model {{\n  input(1)\n  output(3)\n}}\nloss: {l}\n"
        ))
    };
    let one_hot = y(3, &[1., 0., 0., 1., 0., 0., 0., 1., 0., 0., 0., 1.]);
    let entropy = -(0.5f64 * 0.5f64.ln() + 2.0 * 0.25 * 0.25f64.ln());
    let got = chance_loss(&loss("cross_entropy"), &one_hot).unwrap();
    assert!((got - entropy).abs() < 1e-12, "{got}");
    // Smoothing 0.3 over 3 classes: 0.5·0.7 + 0.1 = 0.45, 0.25·0.7 + 0.1 = 0.275.
    let smoothed = -(0.45f64 * 0.45f64.ln() + 2.0 * 0.275 * 0.275f64.ln());
    let got = chance_loss(&loss("cross_entropy(label_smoothing: 0.3)"), &one_hot).unwrap();
    assert!((got - smoothed).abs() < 1e-12, "{got}");
    let binary = y(1, &[1., 0., 0., 0.]);
    let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
    let got = chance_loss(&loss("binary_cross_entropy"), &binary).unwrap();
    assert!((got - h).abs() < 1e-12, "{got}");
    let values = y(1, &[1., 2., 3., 10.]);
    // Mean 4: (9 + 4 + 1 + 36) / 4.
    assert_eq!(chance_loss(&loss("mse"), &values), Some(12.5));
    // Median (the upper middle) 3: (2 + 1 + 0 + 7) / 4.
    assert_eq!(chance_loss(&loss("mae"), &values), Some(2.5));
    assert_eq!(chance_loss(&loss("huber"), &values), None);
    assert_eq!(chance_loss(&loss("mse"), &y(1, &[])), None);
}

#[test]
fn the_examples_raise_no_warning_but_diabetes_over_fitting() {
    for name in common::EXAMPLES {
        let model = format!("examples/{name}.nn");
        let run = common::nnc(&["run", &model, "--monitor", "--quiet"]);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{name}: {err}");
        let raised: Vec<&str> = err.lines().filter(|l| l.starts_with("nnc::")).collect();
        // The plain diabetes network over-fits from its third epoch, as its comment says;
        // `diabetes_regularized` is the same task done right.
        let expected: &[&str] = match name {
            "diabetes" => &["nnc::train::overfitting"],
            _ => &[],
        };
        assert_eq!(raised, expected, "{name}:\n{err}");
    }
}

#[test]
fn the_report_and_the_saved_metrics_list_the_warnings() {
    let dir = common::scratch("warnings_report");
    let report = dir.join("report.json");
    let out = dir.join("model");
    let run = common::nnc(&[
        "run",
        "examples/diabetes.nn",
        "--quiet",
        "--report",
        report.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for file in [report, out.join("metrics.json")] {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let warnings = json["warnings"].as_array().expect("a list of warnings");
        assert_eq!(warnings.len(), 1, "{file:?}");
        assert_eq!(warnings[0]["code"], "nnc::train::overfitting");
        assert_eq!(warnings[0]["at"], "examples/diabetes.nn:11:1");
        let message = warnings[0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("the validation loss rose from"),
            "{message}"
        );
        assert!(warnings[0]["help"]
            .as_str()
            .unwrap()
            .contains("early_stopping"));
    }
    let healthy = dir.join("iris.json");
    let run = common::nnc(&[
        "run",
        "examples/iris.nn",
        "--quiet",
        "--report",
        healthy.to_str().unwrap(),
    ]);
    assert!(run.status.success());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&healthy).unwrap()).unwrap();
    assert!(json.get("warnings").is_none(), "no warnings, no list");
}

#[test]
fn unscaled_inputs_are_named_at_the_scaling_that_leaves_them() {
    let dir = common::scratch("warnings_unscaled");
    let rows: String = (0..12)
        .map(|i| {
            format!(
                "{},{},{}\n",
                1000 + 37 * i,
                0.001 * (1 + i % 4) as f64,
                i % 3
            )
        })
        .collect();
    std::fs::write(dir.join("data.csv"), format!("area,ratio,y\n{rows}")).unwrap();
    let run = |data_settings: &str| {
        let model = format!(
            "data {{\n  path: \"data.csv\"\n  target: \"y\"\n{data_settings}}}\nmodel {{\n  \
             input\n  output(1)\n}}\nloss: mse\ntrain {{\n  epochs: 2\n  monitor: false\n}}\n"
        );
        std::fs::write(dir.join("model.nn"), model).unwrap();
        let path = dir.join("model.nn");
        let out = common::nnc(&["run", path.to_str().unwrap(), "--quiet"]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(!run("").contains("nnc::"), "scaled by default");
    let all = run("  scaling: none\n");
    assert!(all.contains("nnc::data::unscaled_inputs"), "{all}");
    assert!(
        all.contains("model.nn:4:12"),
        "at the data block's `none`:\n{all}"
    );
    // Only the large column left as it is: the warning points at its own block.
    let own = run("  column area { scaling: none }\n");
    assert!(
        own.contains("model.nn:4:17"),
        "at the column's `scaling`:\n{own}"
    );
    // The small column alone left as it is is just as far from the scaled one.
    let small = run("  column ratio { scaling: none }\n");
    assert!(small.contains("nnc::data::unscaled_inputs"), "{small}");
    // Two unscaled columns of one size: nothing to say.
    let even = run("  scaling: none\n  ignore: [ratio]\n");
    assert!(!even.contains("nnc::"), "{even}");
}
