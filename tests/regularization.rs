//! Regularization end to end: the L1/L2 penalty against a hand computation, dropout's kept share
//! and scaling, dropout and noise only in the training step, and seeded determinism of training
//! with dropout (same seed, same losses bit for bit; another seed, other losses).

use std::path::Path;

use ndarray::{arr0, ArrayD, IxDyn};
use nnc::diag::Source;
use nnc::interp::{evaluate, Tensor};
use nnc::ir::{Function, Op};
use nnc::program::{build, parse_model, Program};
use nnc::train::report::Report;
use nnc::train::session::{run, Overrides, RunOptions};

fn program(text: &str) -> Program {
    let spec =
        parse_model(&Source::new("m.nn", text)).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    build(&spec, None).unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

fn tensor(shape: &[usize], data: Vec<f64>) -> Tensor {
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

fn value<'a>(f: &Function, ev: &'a nnc::interp::Evaluation, name: &str) -> &'a Tensor {
    let v = (0..f.values.len())
        .find(|&i| f.values[i].name == name)
        .unwrap_or_else(|| panic!("`{name}` in `{}`", f.name));
    &ev.values[v]
}

#[test]
fn the_penalty_is_l1_times_the_absolute_sum_plus_l2_times_the_squares() {
    // Layer 1 has its own L1 and L2; layer 2 takes the global L2 only; biases are never penalized.
    let p = program(
        "model { input(2) dense(2, l1: 0.03, l2: 0.5) dense(1) }\n\
         loss: mse\nregularization: l2(0.25)\n",
    );
    let w1 = [0.5, -1.5, 2.0, -0.25];
    let b1 = [0.1, -0.2];
    let w2 = [-0.75, 1.25];
    let b2 = [0.3];
    let x = [1.0, 2.0, -1.0, 0.5, 0.0, 3.0];
    let y = [0.5, -1.0, 2.0];
    let args = vec![
        tensor(&[2, 2], w1.to_vec()),
        tensor(&[2], b1.to_vec()),
        tensor(&[2, 1], w2.to_vec()),
        tensor(&[1], b2.to_vec()),
        tensor(&[3, 2], x.to_vec()),
        tensor(&[3, 1], y.to_vec()),
    ];
    let ev = evaluate(&p.loss, &args, 3).unwrap();
    let loss = ev.get(&p.loss, "loss").sum();
    // By hand: the linear network's predictions, the mean squared error, then the penalties.
    let mut mse = 0.0;
    for r in 0..3 {
        let h: Vec<f64> = (0..2)
            .map(|j| x[2 * r] * w1[j] + x[2 * r + 1] * w1[2 + j] + b1[j])
            .collect();
        let out = h[0] * w2[0] + h[1] * w2[1] + b2[0];
        mse += (out - y[r]).powi(2) / 3.0;
    }
    let l1: f64 = w1.iter().map(|w: &f64| w.abs()).sum::<f64>() * 0.03;
    let l2: f64 =
        w1.iter().map(|w| w * w).sum::<f64>() * 0.5 + w2.iter().map(|w| w * w).sum::<f64>() * 0.25;
    let want = mse + l1 + l2;
    assert!((loss - want).abs() < 1e-12, "loss {loss}, by hand {want}");
    assert!((value(&p.loss, &ev, "data_loss").sum() - mse).abs() < 1e-12);
    // The penalty is in the gradient too: d/dw of 0.5·w² + 0.03·|w| at w1[0] = 0.5 is
    // 0.5 + 0.03 on top of the data term, checked against the model without penalties.
    let plain = program("model { input(2) dense(2) dense(1) }\nloss: mse\n");
    let g = evaluate(&p.grad, &args, 3).unwrap();
    let g0 = evaluate(&plain.grad, &args, 3).unwrap();
    let d = |p: &Program, ev: &nnc::interp::Evaluation| {
        ev.get(&p.grad, "d_w1").as_slice().unwrap().to_vec()
    };
    let (with, without) = (d(&p, &g), d(&plain, &g0));
    for k in 0..4 {
        let extra = 2.0 * 0.5 * w1[k] + 0.03 * w1[k].signum();
        assert!((with[k] - without[k] - extra).abs() < 1e-12, "d_w1[{k}]");
    }
}

const DROPOUT: &str =
    "model { input(8, noise: 0.2) dense(400, activation: relu, dropout: 0.25) dense(1) }\n\
                       loss: mse\ntrain { seed: 9 }\n";

#[test]
fn dropout_keeps_a_share_of_one_minus_p_scaled_by_its_inverse_and_only_in_training() {
    let p = program(DROPOUT);
    let has_random = |f: &Function| {
        f.body
            .iter()
            .any(|eq| matches!(eq.op, Op::DropoutMask { .. } | Op::NormalNoise { .. }))
    };
    assert!(
        !has_random(&p.forward) && !has_random(&p.loss),
        "evaluation has no dropout"
    );
    assert!(has_random(&p.train_loss) && has_random(&p.step));
    assert_eq!(p.state[0].name, "rng_step");

    let batch = 50;
    let f = &p.train_loss;
    let mut args: Vec<Tensor> = f
        .args
        .iter()
        .map(|a| ArrayD::from_elem(IxDyn(&f.shape(a.value).extents(batch)), 0.1))
        .collect();
    let counter = f
        .args
        .iter()
        .position(|a| f.name_of(a.value) == "rng_step")
        .unwrap();
    let mut masks = Vec::new();
    for step in [0.0, 1.0] {
        args[counter] = arr0(step).into_dyn();
        let ev = evaluate(f, &args, batch).unwrap();
        let mask = value(f, &ev, "mask1").clone();
        let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64 / mask.len() as f64;
        // 20000 draws: the share's standard deviation is 0.003.
        assert!((kept - 0.75).abs() < 0.015, "kept {kept}");
        assert!(mask.iter().all(|&m| m == 0.0 || m == 1.0 / 0.75));
        let noise = value(f, &ev, "noise");
        let var = noise.iter().map(|v| v * v).sum::<f64>() / noise.len() as f64;
        assert!((var.sqrt() - 0.2).abs() < 0.03, "noise std {}", var.sqrt());
        masks.push(mask);
    }
    assert_ne!(masks[0], masks[1], "each step draws its own mask");
    // The masks' key comes from the train seed: another seed, other masks (not only other
    // initial weights); the same seed, the same key.
    let key = |text: &str| {
        let p = program(text);
        p.step.body.iter().find_map(|eq| match eq.op {
            Op::DropoutMask { at, .. } => Some(at.key),
            _ => None,
        })
    };
    let other = DROPOUT.replace("seed: 9", "seed: 10");
    assert_eq!(key(DROPOUT), key(DROPOUT));
    assert_ne!(key(DROPOUT), key(&other));
    // Evaluating the loss twice gives the same value: nothing random in it.
    let eval_args: Vec<Tensor> = p
        .loss
        .args
        .iter()
        .map(|a| ArrayD::from_elem(IxDyn(&p.loss.shape(a.value).extents(batch)), 0.1))
        .collect();
    let once = evaluate(&p.loss, &eval_args, batch)
        .unwrap()
        .get(&p.loss, "loss")
        .sum();
    let twice = evaluate(&p.loss, &eval_args, batch)
        .unwrap()
        .get(&p.loss, "loss")
        .sum();
    assert_eq!(once.to_bits(), twice.to_bits());
}

fn train(seed: u64, interpret: bool) -> Report {
    let opts = RunOptions {
        overrides: Overrides {
            epochs: Some(4),
            seed: Some(seed),
            ..Default::default()
        },
        interpret,
        codegen: Default::default(),
        persistence: Default::default(),
    };
    run(
        Path::new("examples/diabetes_regularized.nn"),
        &opts,
        |_| {},
        |_, _, _| {},
        |_| {},
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()))
    .report
}

fn losses(r: &Report) -> Vec<(u64, Option<u64>)> {
    r.history
        .iter()
        .map(|e| (e.train_loss.to_bits(), e.val_loss.map(f64::to_bits)))
        .collect()
}

#[test]
fn dropout_training_is_bit_identical_for_a_seed_and_differs_for_another() {
    let a = train(5, false);
    let b = train(5, false);
    let c = train(6, false);
    assert_eq!(losses(&a), losses(&b));
    assert_ne!(losses(&a), losses(&c));
    // The same seed's masks are drawn alike by the interpreter: its losses agree closely.
    let i = train(5, true);
    for (x, y) in a.history.iter().zip(&i.history) {
        let rel = ((x.train_loss - y.train_loss) / y.train_loss).abs();
        assert!(
            rel < 1e-3,
            "epoch {}: jit {} vs interpreter {}",
            x.epoch,
            x.train_loss,
            y.train_loss
        );
    }
}
