//! Kernel benchmarks, run with `cargo bench --bench kernels` (see `docs/performance.md`). Each
//! group is one function registered in `criterion_group!` at the bottom and sets its own timing,
//! so a group can be added or run alone (`cargo bench --bench kernels -- vmath`).
//!
//! - `vmath`: the element-wise transcendental kernels that generated code calls, over a short
//!   array (one hidden layer of a small batch) and a long one (where memory traffic shows), and
//!   log-softmax over the rows of a 10-class output.
//! - `step`: one whole training step of each reference model but the large one (which takes too
//!   long per step for a statistical loop), as `nnc bench` compiles and feeds it.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use nnc::codegen::kernels;

/// Inputs spread over [-8, 8]: the range activations see, and one where no result is denormal
/// (denormals would time the CPU's slow path rather than the kernel).
fn inputs(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| -8.0 + 16.0 * (i as f32 / n as f32))
        .collect()
}

fn vmath(c: &mut Criterion) {
    let mut group = c.benchmark_group("vmath");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    type Kernel = fn(&[f32], &mut [f32]);
    let element_wise: [(&str, Kernel); 5] = [
        ("exp", kernels::exp),
        ("ln", kernels::ln),
        ("tanh", kernels::tanh),
        ("sigmoid", kernels::sigmoid),
        ("softplus", kernels::softplus),
    ];
    for n in [2048, 65536] {
        let x = inputs(n);
        // ln is measured on positive inputs, where it is defined: |x| + 0.01 keeps them away from
        // 0 and spread over several binades.
        let positive: Vec<f32> = x.iter().map(|v| v.abs() + 0.01).collect();
        let mut y = vec![0.0f32; n];
        group.throughput(Throughput::Elements(n as u64));
        for (name, kernel) in element_wise {
            let x = if name == "ln" { &positive } else { &x };
            group.bench_with_input(BenchmarkId::new(name, n), x, |b, x| {
                b.iter(|| kernel(black_box(x), black_box(&mut y)))
            });
        }
    }
    // 64 rows of 10 classes: the output of a classifier at a typical batch size.
    let (rows, width) = (64, 10);
    let x = inputs(rows * width);
    let mut y = vec![0.0f32; rows * width];
    group.throughput(Throughput::Elements((rows * width) as u64));
    group.bench_with_input(
        BenchmarkId::new("log_softmax", format!("{rows}x{width}")),
        &x,
        |b, x| b.iter(|| kernels::log_softmax(black_box(x), black_box(&mut y), width)),
    );
    group.finish();
}

fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    // A step takes from microseconds (tiny) to milliseconds (medium): flat sampling with fewer
    // samples keeps the slow ones within the measurement time instead of criterion's linear
    // ramp of 1 + 2 + ... + n iterations.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    for model in ["tiny", "regression", "small", "medium"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("benches/models")
            .join(format!("{model}.nn"));
        let mut prepared = nnc::train::bench::prepare(&path, None)
            .unwrap_or_else(|d| panic!("{}", d.render_plain()));
        group.throughput(Throughput::Elements(prepared.batch() as u64));
        group.bench_function(model, |b| {
            b.iter(|| {
                prepared
                    .step()
                    .unwrap_or_else(|d| panic!("{}", d.render_plain()))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, vmath, step);
criterion_main!(benches);
