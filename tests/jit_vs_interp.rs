//! Differential tests: compiled code (f32) against the reference interpreter (f64) on the same IR.
//! For every example model: the forward pass on random inputs agrees to a relative 1e-5, and 20
//! training steps on the same batches give the same losses.

use std::path::Path;

use nnc::codegen::{self, CodegenOptions};
use nnc::data::Batcher;
use nnc::interp::{self, Tensor};
use nnc::train::session::{load_model, prepare_data};
use nnc::train::{Executor, InterpExecutor, JitExecutor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EXAMPLES: [&str; 4] = ["iris", "breast_cancer", "diabetes", "digits"];

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.nn"))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) + 1e-6
}

#[test]
fn forward_pass_agrees_on_random_inputs() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for name in EXAMPLES {
        let path = example(name);
        let spec = load_model(&path, &Default::default()).unwrap();
        let (data, _) = prepare_data(&spec, &path, &Default::default()).unwrap();
        let program = nnc::program::build(&spec, Some(&data.shape)).unwrap();
        let f = &program.forward;
        let mut compiled = codegen::compile(f, 64, &CodegenOptions::default()).unwrap();
        for batch in [1, 7, 64] {
            let buffers: Vec<Vec<f32>> = f
                .args
                .iter()
                .map(|a| {
                    (0..f.shape(a.value).numel(batch))
                        .map(|_| rng.random_range(-1.0f32..1.0))
                        .collect()
                })
                .collect();
            let tensors: Vec<Tensor> = f
                .args
                .iter()
                .zip(&buffers)
                .map(|(a, b)| {
                    Tensor::from_shape_vec(
                        f.shape(a.value).extents(batch),
                        b.iter().map(|&v| v as f64).collect(),
                    )
                    .unwrap()
                })
                .collect();
            let expected = interp::evaluate(f, &tensors).unwrap();
            let expected = expected.get(f, "output");
            let mut owned = buffers.clone();
            let mut args: Vec<&mut [f32]> = owned.iter_mut().map(|b| b.as_mut_slice()).collect();
            compiled.call(&mut args, batch).unwrap();
            let got = compiled.output("output");
            assert_eq!(got.len(), expected.len());
            for (g, e) in got.iter().zip(expected.iter()) {
                assert!(
                    close(*g as f64, *e, 1e-5),
                    "{name} batch {batch}: jit {g} vs interpreter {e}"
                );
            }
        }
    }
}

#[test]
fn twenty_training_steps_give_the_same_losses() {
    for name in EXAMPLES {
        let path = example(name);
        let spec = load_model(&path, &Default::default()).unwrap();
        let (data, prepared) = prepare_data(&spec, &path, &Default::default()).unwrap();
        let program = nnc::program::build(&spec, Some(&data.shape)).unwrap();
        let batch = spec.train.batch_size;
        let mut jit = JitExecutor::new(&program, batch, 1, &CodegenOptions::default()).unwrap();
        let mut oracle = InterpExecutor::new(&program, 1);
        let mut batcher = Batcher::new(prepared.train.len(), batch, 3);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut steps = 0;
        while steps < 20 {
            for range in batcher.epoch() {
                if steps == 20 {
                    break;
                }
                let rows = range.len();
                batcher.gather(&prepared.train, range, &mut x, &mut y);
                let a = jit.step(&x, &y, rows).unwrap() as f64;
                let b = oracle.step(&x, &y, rows).unwrap() as f64;
                assert!(
                    close(a, b, 1e-5),
                    "{name} step {steps}: jit loss {a} vs interpreter {b}"
                );
                steps += 1;
            }
        }
        // The weights after 20 steps agree too.
        for ((n, a), (_, b)) in jit.parameters().iter().zip(oracle.parameters()) {
            for (u, v) in a.iter().zip(&b) {
                assert!(
                    close(*u as f64, *v as f64, 1e-4),
                    "{name}: `{n}` jit {u} vs interpreter {v}"
                );
            }
        }
    }
}
