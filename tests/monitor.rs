//! The training statistics the step computes (`nnc::monitor`), on a small model with chosen
//! weights: each figure against one computed here from the interpreter's values of the plain
//! gradient function (which has no statistics in it), on both executors; and monitoring changes
//! no result of training. And what a run writes of them.

mod common;

use ndarray::{ArrayD, IxDyn};
use nnc::codegen::CodegenOptions;
use nnc::diag::Source;
use nnc::interp::{self, Tensor};
use nnc::monitor::epoch::{summarize, EpochStats, Sums};
use nnc::program::Program;
use nnc::train::{Executor, InterpExecutor, JitExecutor};

const ROWS: usize = 4;
const RATE: f64 = 0.1;

fn model(monitor: bool) -> Program {
    let text = format!(
        "model {{\n  input(3)\n  dense(4, activation: relu)\n  dense(3, activation: tanh)\n  \
         output(1)\n}}\nloss: mse\noptimizer: sgd(learning_rate: {RATE})\n\
         train {{\n  batch_size: {ROWS}\n  monitor: {monitor}\n}}\n"
    );
    let spec = nnc::program::parse_model(&Source::new("monitor.nn", text)).unwrap();
    nnc::program::build(&spec, None).unwrap()
}

/// Weights chosen so that the first layer's last unit never fires on the (positive) inputs and
/// the second layer's second unit is saturated for every example.
fn weights() -> Vec<(&'static str, Vec<f32>)> {
    vec![
        (
            "w1",
            vec![
                0.5, -0.2, 0.3, -1.0, 0.1, 0.4, -0.3, -1.0, -0.2, 0.6, 0.2, -1.0,
            ],
        ),
        ("b1", vec![0.1, 0.0, -0.05, -0.5]),
        (
            "w2",
            vec![0.3, 4.0, 0.1, -0.4, 5.0, 0.2, 0.2, 6.0, -0.1, 0.1, 7.0, 0.3],
        ),
        ("b2", vec![0.0, 1.0, 0.0]),
        ("w3", vec![0.7, -0.3, 0.2]),
        ("b3", vec![0.05]),
    ]
}

const X: [f32; 12] = [0.2, 0.5, 0.9, 1.0, 0.3, 0.1, 0.6, 0.6, 0.6, 0.05, 0.8, 0.4];
const Y: [f32; 4] = [0.5, -0.2, 1.0, 0.0];

fn one_step(exec: &mut dyn Executor, program: &Program) -> EpochStats {
    for (name, values) in weights() {
        assert!(exec.set_persistent(name, &values), "{name}");
    }
    exec.step(&X, &Y, ROWS).unwrap();
    let mut sums = Sums::new(&program.probes);
    exec.add_probes(&mut sums);
    sums.end_step(ROWS);
    let buffers = exec.persistent();
    summarize(&program.probes, &sums, |name| {
        (buffers.iter().find(|(n, _)| n == name)).map(|(_, v)| v.as_slice())
    })
}

/// Every value of the plain gradient function on the chosen weights and batch, by name.
fn interpreted(program: &Program) -> impl Fn(&str) -> Vec<f64> {
    let f = program.grad.clone();
    let w = weights();
    let args: Vec<Tensor> = f
        .args
        .iter()
        .map(|a| {
            let name = f.name_of(a.value);
            let shape = f.shape(a.value).extents(ROWS);
            let data: Vec<f64> = match name {
                "x" => X.iter().map(|&v| f64::from(v)).collect(),
                "y" => Y.iter().map(|&v| f64::from(v)).collect(),
                _ => (w.iter().find(|(n, _)| *n == name).unwrap().1.iter())
                    .map(|&v| f64::from(v))
                    .collect(),
            };
            ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
        })
        .collect();
    let ev = interp::evaluate(&f, &args, ROWS).unwrap();
    move |name: &str| {
        let v = f
            .values
            .iter()
            .position(|v| v.name == name)
            .unwrap_or_else(|| panic!("no value `{name}`"));
        match f.args.iter().position(|a| a.value.index() == v) {
            Some(i) => args[i].iter().copied().collect(),
            None => ev.values[v].iter().copied().collect(),
        }
    }
}

fn close(got: f64, want: f64, tolerance: f64, what: &str) {
    assert!(
        (got - want).abs() <= tolerance * want.abs().max(1e-3),
        "{what}: {got} against {want}"
    );
}

#[test]
fn every_statistic_matches_one_computed_from_the_interpreters_values() {
    let program = model(true);
    let value = interpreted(&program);
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut jit = JitExecutor::new(&program, 1, &CodegenOptions::default()).unwrap();
    let mut oracle = InterpExecutor::new(&program, 1).unwrap();
    for (stats, tolerance) in [
        (one_step(&mut jit, &program), 1e-5),
        (one_step(&mut oracle, &program), 1e-12),
    ] {
        // Layers: mean and deviation of the output, dead and saturated units.
        let layer = |n: usize| stats.layers.iter().find(|l| l.layer == n).unwrap();
        for (n, output, units) in [(1, "h1", 4), (2, "h2", 3), (3, "output", 1)] {
            let h = value(output);
            let mean = h.iter().sum::<f64>() / h.len() as f64;
            let var = h.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / h.len() as f64;
            close(layer(n).mean, mean, tolerance, &format!("mean of {output}"));
            close(
                layer(n).std,
                var.sqrt(),
                tolerance.max(1e-9),
                &format!("std of {output}"),
            );
            assert_eq!(layer(n).units, units);
        }
        let z1 = value("z1");
        let dead = (0..4)
            .filter(|u| (0..ROWS).all(|r| z1[r * 4 + u] <= 0.0))
            .count();
        assert_eq!(dead, 1, "the chosen weights kill one unit");
        assert_eq!(layer(1).dead_units, Some(dead));
        assert_eq!(layer(1).saturated_units, None);
        let z2 = value("z2");
        let saturated = (0..3)
            .filter(|u| (0..ROWS).filter(|r| z2[r * 3 + u].abs() > 2.0).count() > ROWS / 2)
            .count();
        assert_eq!(saturated, 1, "the chosen weights saturate one unit");
        assert_eq!(layer(2).saturated_units, Some(saturated));
        assert_eq!(layer(2).dead_units, None);
        assert_eq!(layer(3).dead_units.or(layer(3).saturated_units), None);

        // Parameters: the gradient's norm, the norm of the weights after the step (plain SGD's:
        // w − rate × gradient) and the update's, rate × the gradient's.
        assert_eq!(stats.params.len(), 6);
        for p in &stats.params {
            let gradient = value(&format!("d_{}", p.name));
            let g = norm(&gradient);
            let after: Vec<f64> = (value(&p.name).iter().zip(&gradient))
                .map(|(w, g)| w - RATE * g)
                .collect();
            let w = norm(&after);
            close(
                p.gradient_norm,
                g,
                tolerance,
                &format!("gradient norm of {}", p.name),
            );
            // The weights are read as f32 at the epoch's end, whatever the executor.
            let read = tolerance.max(1e-7);
            close(
                p.weight_norm,
                w,
                read,
                &format!("weight norm of {}", p.name),
            );
            close(p.gradient_to_weight, g / w, read, &p.name);
            let update = p.update_to_weight.unwrap();
            close(
                update,
                RATE * g / w,
                tolerance.max(1e-6),
                &format!("update of {}", p.name),
            );
        }
    }
}

#[test]
fn monitoring_changes_no_result() {
    let (on, off) = (model(true), model(false));
    assert!(!on.probes.is_empty());
    assert!(off.probes.is_empty());
    assert_eq!(off.step.outputs.len(), 1, "only the loss");
    let mut with = JitExecutor::new(&on, 7, &CodegenOptions::default()).unwrap();
    let mut without = JitExecutor::new(&off, 7, &CodegenOptions::default()).unwrap();
    for _ in 0..3 {
        let a = with.step(&X, &Y, ROWS).unwrap();
        let b = without.step(&X, &Y, ROWS).unwrap();
        assert_eq!(a.to_bits(), b.to_bits());
    }
    assert_eq!(with.persistent(), without.persistent());
}

#[test]
fn a_monitored_run_writes_its_statistics() {
    let dir = common::scratch("monitored");
    let (on, off) = (dir.join("on"), dir.join("off"));
    for (out, flag) in [(&on, "--monitor"), (&off, "--no-monitor")] {
        let run = common::nnc(&[
            "run",
            "examples/iris.nn",
            "--epochs",
            "3",
            flag,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    assert!(!off.join("monitor.csv").exists());
    let csv = std::fs::read_to_string(on.join("monitor.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "epoch,subject,name,statistic,value");
    for epoch in 1..=3 {
        let dead = format!("{epoch},layer,1,dead_units,");
        let count = lines.iter().find_map(|l| l.strip_prefix(dead.as_str()));
        assert!(count.is_some_and(|c| c.parse::<u32>().is_ok()), "{csv}");
        for p in ["w1", "b1", "w2", "b2"] {
            let row = format!("{epoch},parameter,{p},update_to_weight,");
            assert!(lines.iter().any(|l| l.starts_with(&row)), "{row} in {csv}");
        }
    }
    let report = std::fs::read_to_string(on.join("metrics.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let first = &report["history"][0]["monitor"];
    assert_eq!(first["layers"][0]["layer"], 1);
    assert_eq!(first["layers"][0]["units"], 16);
    assert_eq!(first["params"].as_array().unwrap().len(), 4);
}
