//! `nnc bench`: the training throughput of a model on synthetic data of its shape, by the protocol
//! the peer frameworks are measured with (`bench_train.py` of the shared benchmarks): N(0, 1) f32
//! inputs and random classes (or N(0, 1) targets) drawn with seed 0, pre-split into full batches
//! before timing, one warm-up epoch, then timed epochs in order without shuffling; throughput is
//! the samples of an epoch over the median epoch time, and FLOP per step 6 · B · Σ fan_in · fan_out
//! over the model's matrices. Compile time runs from reading the file to callable native code.
//!
//! `prepare` builds the same compiled step and the same synthetic batches without the timing
//! loop, so that a benchmark harness (`benches/kernels.rs`) can time single steps itself.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::codegen::CodegenOptions;
use crate::diag::Diagnostic;
use crate::lower::{DataShape, ModelSpec};
use crate::program::{self, Program};

use super::session::{exec_error, load_model, Overrides};
use super::{Executor, JitExecutor};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The batch size, instead of the file's.
    pub batch: Option<usize>,
    /// Samples in the synthetic data set (whole batches of it are used).
    pub samples: usize,
    /// Timed epochs after the warm-up (at least 5 give a meaningful median).
    pub epochs: usize,
}

/// The fewest timed epochs: the median of fewer says little on a shared machine.
pub const MIN_EPOCHS: usize = 5;

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub batch: usize,
    pub samples_per_epoch: usize,
    pub epochs: usize,
    /// From reading the file to callable native code, in milliseconds: parsing, lowering,
    /// autodiff and code generation of the step and the evaluation function.
    pub compile_ms: f64,
    /// Drawing the initial parameters and allocating the optimizer's state, in milliseconds (tens
    /// of milliseconds for millions of parameters, which is not compilation).
    pub init_ms: f64,
    pub samples_per_second: f64,
    /// 6 · batch · Σ fan_in · fan_out per step, over the median step time, in GFLOP/s.
    pub gflops: f64,
    pub flop_per_step: f64,
    /// The forward pass and loss alone, at the evaluation batch size.
    pub eval_samples_per_second: f64,
    pub epoch_seconds: Vec<f64>,
    /// With 10 timed epochs or more: the median epoch time of the last fifth of them over that of
    /// the first fifth. Well above 1 when training slows as it goes (values decaying into the
    /// processor's slow range, memory growing); `--epochs 400` runs long enough to show it.
    pub drift: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

/// The median of the last fifth of `seconds` over the median of the first fifth, with at least
/// ten.
pub fn drift(seconds: &[f64]) -> Option<f64> {
    let fifth = seconds.len() / 5;
    (fifth >= 2).then(|| {
        median(seconds[seconds.len() - fifth..].to_vec()) / median(seconds[..fifth].to_vec())
    })
}

/// A standard normal draw from two raw 32-bit outputs (Box–Muller in f64), so that a dependency
/// upgrade cannot change the data.
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u = |rng: &mut ChaCha8Rng| (f64::from(rng.next_u32() >> 8) + 0.5) / f64::from(1u32 << 24);
    let (a, b) = (u(rng), u(rng));
    ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()) as f32
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench_error(code: &'static str, message: String, help: &str) -> Diagnostic {
    Diagnostic::new(code, message).with_help(help)
}

/// The model in `path` with `batch` rows per step (the file's when `None`), checked to declare the
/// widths the synthetic data needs; also the input width.
fn load(
    path: &Path,
    overrides: &Overrides,
    batch: Option<usize>,
) -> Result<(ModelSpec, usize), Diagnostic> {
    let mut spec = load_model(path, overrides)?;
    let Some(features) = spec.input.width else {
        return Err(Diagnostic::new(
            "nnc::bench::input_width",
            "`nnc bench` needs the model to declare its input width",
        )
        .with_source(&spec.source)
        .with_label(spec.input.span, "no width here")
        .with_help("write the width, e.g. `input(784)`: the benchmark makes data of that shape"));
    };
    if let Some(last) = spec.layers.last().filter(|l| !l.units_declared) {
        return Err(Diagnostic::new(
            "nnc::bench::output_width",
            "`nnc bench` needs the model to declare its output width",
        )
        .with_source(&spec.source)
        .with_label(last.span, "its width comes from the data")
        .with_help(
            "write the width, e.g. `output(10, activation: softmax)`, or `--set model.N.units=10`",
        ));
    }
    if let Some(b) = batch {
        spec.train.batch_size = b;
    }
    Ok((spec, features))
}

/// Draws the synthetic batches of a model, in the order `nnc bench` uses them.
struct Synthetic {
    rng: ChaCha8Rng,
    batch: usize,
    features: usize,
    target_width: usize,
    classes: bool,
}

impl Synthetic {
    /// The data source of `spec` with `features` inputs, seeded with 0.
    fn new(spec: &ModelSpec, features: usize) -> Self {
        Synthetic {
            rng: ChaCha8Rng::seed_from_u64(0),
            batch: spec.train.batch_size,
            features,
            target_width: crate::lower::graph::default_target_width(spec).max(1),
            classes: spec.loss.kind().is_classification(),
        }
    }

    fn shape(&self) -> DataShape {
        DataShape {
            features: self.features,
            target_width: self.target_width,
            ..DataShape::default()
        }
    }

    /// The next batch: inputs and targets.
    fn next_batch(&mut self) -> (Vec<f32>, Vec<f32>) {
        let (batch, target_width) = (self.batch, self.target_width);
        let rng = &mut self.rng;
        let x: Vec<f32> = (0..batch * self.features).map(|_| normal(rng)).collect();
        let y: Vec<f32> = if self.classes && target_width > 1 {
            let mut y = vec![0.0; batch * target_width];
            for r in 0..batch {
                let c = (rng.next_u32() as usize) % target_width;
                y[r * target_width + c] = 1.0;
            }
            y
        } else if self.classes {
            (0..batch).map(|_| (rng.next_u32() & 1) as f32).collect()
        } else {
            (0..batch * target_width).map(|_| normal(rng)).collect()
        };
        (x, y)
    }
}

/// The program of `spec` for the synthetic data's shape, compiled to native code, with its
/// parameters initialized.
fn compile(spec: &ModelSpec, data: &Synthetic) -> Result<(Program, JitExecutor), Diagnostic> {
    Ok(compile_timed(spec, data)?.0)
}

/// `compile`, and how long building the program and generating its code took, apart from drawing the initial parameters and allocating the optimizer's state (`init`).
fn compile_timed(
    spec: &ModelSpec,
    data: &Synthetic,
) -> Result<((Program, JitExecutor), Duration, Duration), Diagnostic> {
    let started = Instant::now();
    let program = program::build(spec, Some(&data.shape()))?;
    let built = started.elapsed();
    let exec = JitExecutor::new(&program, spec.train.seed, &CodegenOptions::default())
        .map_err(|e| exec_error(spec, e))?;
    let codegen = exec.compile_time();
    let init = (started.elapsed() - built).saturating_sub(codegen);
    Ok(((program, exec), built + codegen, init))
}

/// How many synthetic batches a `PreparedStep` cycles through: a few, so that the parameters
/// keep training on varied data as in `nnc bench` instead of fitting one batch, and few enough
/// that the data of the medium model stays a few megabytes.
const PREPARED_BATCHES: usize = 8;

/// A model's compiled training step with synthetic batches drawn as `nnc bench` draws them,
/// ready to be timed one step at a time. Each `step` trains on the next batch, cycling, so the
/// parameters change from step to step as in a run.
pub struct PreparedStep {
    spec: ModelSpec,
    exec: JitExecutor,
    batches: Vec<(Vec<f32>, Vec<f32>)>,
    next: usize,
}

/// Compile the training step of the model in `path` for `batch` rows (the file's batch size when
/// `None`), with its synthetic data; the model must declare its input and output widths, as for
/// `nnc bench`.
pub fn prepare(path: &Path, batch: Option<usize>) -> Result<PreparedStep, Diagnostic> {
    let (spec, features) = load(path, &Overrides::default(), batch)?;
    let mut data = Synthetic::new(&spec, features);
    let (_, exec) = compile(&spec, &data)?;
    let batches = (0..PREPARED_BATCHES).map(|_| data.next_batch()).collect();
    Ok(PreparedStep {
        spec,
        exec,
        batches,
        next: 0,
    })
}

impl PreparedStep {
    /// Rows per step.
    pub fn batch(&self) -> usize {
        self.spec.train.batch_size
    }

    /// One training step on the next batch; returns its mean loss.
    pub fn step(&mut self) -> Result<f32, Diagnostic> {
        let (x, y) = &self.batches[self.next];
        self.next = (self.next + 1) % self.batches.len();
        self.exec
            .step(x, y, self.spec.train.batch_size)
            .map_err(|e| exec_error(&self.spec, e))
    }
}

/// Measure the model in `path`.
pub fn bench(
    path: &Path,
    overrides: &Overrides,
    opts: &BenchOptions,
) -> Result<BenchReport, Diagnostic> {
    let started = Instant::now();
    let (spec, features) = load(path, overrides, opts.batch)?;
    let batch = spec.train.batch_size;
    let steps = opts.samples / batch.max(1);
    if steps == 0 || opts.epochs < MIN_EPOCHS {
        return Err(bench_error(
            "nnc::bench::too_few",
            format!(
                "{} samples in batches of {batch}, {} timed epochs: too few to measure",
                opts.samples, opts.epochs
            ),
            &format!(
                "give at least one batch of samples (`--samples`) and {MIN_EPOCHS} epochs or more"
            ),
        ));
    }
    let parsed = started.elapsed();
    let mut data = Synthetic::new(&spec, features);
    let ((program, mut exec), code, init) = compile_timed(&spec, &data)?;
    let compile_ms = (parsed + code).as_secs_f64() * 1e3;
    let init_ms = init.as_secs_f64() * 1e3;

    // The data, drawn once and split into whole batches before any timing.
    let batches: Vec<(Vec<f32>, Vec<f32>)> = (0..steps).map(|_| data.next_batch()).collect();

    // The training statistics are read after every step, as `nnc run` does.
    let mut sums = crate::monitor::epoch::Sums::new(&program.probes);
    let mut epoch = |exec: &mut JitExecutor| -> Result<Duration, Diagnostic> {
        let t = Instant::now();
        for (x, y) in &batches {
            exec.step(x, y, batch).map_err(|e| exec_error(&spec, e))?;
            if !program.probes.is_empty() {
                exec.add_probes(&mut sums);
                sums.end_step(batch);
            }
        }
        Ok(t.elapsed())
    };
    epoch(&mut exec)?;
    let mut seconds = Vec::with_capacity(opts.epochs);
    for _ in 0..opts.epochs {
        seconds.push(epoch(&mut exec)?.as_secs_f64());
    }
    let samples_per_epoch = steps * batch;
    let median_epoch = median(seconds.clone());
    let matrices: f64 = program
        .params
        .iter()
        .filter(|p| p.shape.len() == 2)
        .map(|p| (p.shape[0] * p.shape[1]) as f64)
        .sum();
    let flop_per_step = 6.0 * batch as f64 * matrices;

    // Evaluation: the loss function over the same batches, the median of as many passes.
    let mut predictions = super::Predictions::default();
    let mut eval_seconds = Vec::with_capacity(opts.epochs);
    for _ in 0..=opts.epochs {
        let t = Instant::now();
        for (x, y) in &batches {
            predictions.clear();
            exec.evaluate(x, y, batch, &mut predictions)
                .map_err(|e| exec_error(&spec, e))?;
        }
        eval_seconds.push(t.elapsed().as_secs_f64());
    }
    eval_seconds.remove(0);

    Ok(BenchReport {
        model: path.display().to_string(),
        batch,
        samples_per_epoch,
        epochs: opts.epochs,
        compile_ms,
        init_ms,
        samples_per_second: samples_per_epoch as f64 / median_epoch,
        gflops: flop_per_step * steps as f64 / median_epoch / 1e9,
        flop_per_step,
        eval_samples_per_second: samples_per_epoch as f64 / median(eval_seconds),
        drift: drift(&seconds),
        epoch_seconds: seconds,
        peak_rss_mib: super::report::peak_rss_mib(),
    })
}
