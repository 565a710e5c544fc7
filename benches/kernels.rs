//! Kernel benchmarks, run with `cargo bench --bench kernels` (see `docs/performance.md`). Each
//! group is one function registered in `criterion_group!` at the bottom and sets its own timing,
//! so a group can be added or run alone (`cargo bench --bench kernels -- vmath`).
//!
//! - `vmath`: the element-wise transcendental kernels that generated code calls, over a short
//!   array (one hidden layer of a small batch) and a long one (where memory traffic shows), and
//!   log-softmax over the rows of a 10-class output.
//! - `gemm`: the matrix products of the reference models' steps (forward X·W, weight gradient
//!   Xᵀ·G, input gradient G·Wᵀ) at their shapes, through the routine compiled code calls.
//! - `step`: one whole training step of each reference model but the large one (which takes too
//!   long per step for a statistical loop), as `nnc bench` compiles and feeds it.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use nnc::codegen::kernels::{self, Strided};

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

fn gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    // (name, m, k, n, A transposed, B transposed): a layer of `k` inputs and `n` outputs at batch
    // `m` runs X·W (m×k·k×n), then Xᵀ·G (k×m·m×n) for W's gradient and G·Wᵀ (m×n·n×k) for X's.
    let products = [
        ("regression_64x64", 32, 64, 64),
        ("small_784x128", 64, 784, 128),
        ("small_128x10", 64, 128, 10),
        ("medium_512x512", 128, 512, 512),
        ("large_2048x2048", 256, 2048, 2048),
    ];
    for (name, batch, inputs, outputs) in products {
        let x = vec![0.5f32; batch * inputs];
        let w = vec![0.25f32; inputs * outputs];
        let g = vec![0.125f32; batch * outputs];
        let shapes = [
            ("forward", batch, inputs, outputs),
            ("weight_grad", inputs, batch, outputs),
            ("input_grad", batch, outputs, inputs),
        ];
        for (pass, m, k, n) in shapes {
            // Row-major operands, or transposed ones through swapped strides, as compiled code
            // passes them.
            let (a, b) = match pass {
                "forward" => (
                    Strided {
                        data: &x,
                        rows: inputs,
                        cols: 1,
                    },
                    Strided {
                        data: &w,
                        rows: outputs,
                        cols: 1,
                    },
                ),
                "weight_grad" => (
                    Strided {
                        data: &x,
                        rows: 1,
                        cols: inputs,
                    },
                    Strided {
                        data: &g,
                        rows: outputs,
                        cols: 1,
                    },
                ),
                _ => (
                    Strided {
                        data: &g,
                        rows: outputs,
                        cols: 1,
                    },
                    Strided {
                        data: &w,
                        rows: 1,
                        cols: outputs,
                    },
                ),
            };
            let mut out = vec![0.0f32; m * n];
            group.throughput(Throughput::Elements((2 * m * k * n) as u64));
            group.bench_function(BenchmarkId::new(name, pass), |bench| {
                bench.iter(|| kernels::matmul(m, k, n, a, b, black_box(&mut out)))
            });
        }
    }
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

criterion_group!(benches, vmath, gemm, step);
criterion_main!(benches);
