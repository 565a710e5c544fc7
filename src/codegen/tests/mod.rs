//! Differential tests of code generation against the reference interpreter: the same IR run by
//! `interp::evaluate` in f64 and by the compiled code in f32, on seeded random inputs, at several
//! batch sizes from one compilation, in both plain and checked mode. This file holds the harness;
//! `ops` covers every op alone, `functions` whole functions with updates and arena reuse.

mod functions;
mod ops;

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{compile, CodegenOptions, CompiledFunction};
use crate::interp::{self, Tensor};
use crate::ir::{ArgRole, Function, ValueId, VerifiedFunction};

pub(super) const BATCHES: [usize; 3] = [1, 3, 17];
pub(super) const MAX_BATCH: usize = 17;

pub(super) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// One buffer per argument, uniform in `range`, and the same numbers as f64 tensors.
pub(super) fn random_args(
    f: &Function,
    batch: usize,
    rng: &mut ChaCha8Rng,
    range: (f32, f32),
) -> (Vec<Vec<f32>>, Vec<Tensor>) {
    let bufs: Vec<Vec<f32>> = f
        .args
        .iter()
        .map(|a| {
            let n = f
                .shape(a.value)
                .numel(batch)
                .expect("test shapes are small");
            (0..n).map(|_| rng.random_range(range.0..range.1)).collect()
        })
        .collect();
    let tensors = f
        .args
        .iter()
        .zip(&bufs)
        .map(|(a, b)| tensor(f, a.value, batch, b))
        .collect();
    (bufs, tensors)
}

pub(super) fn tensor(f: &Function, v: ValueId, batch: usize, data: &[f32]) -> Tensor {
    let ext = f.shape(v).extents(batch);
    ArrayD::from_shape_vec(IxDyn(&ext), data.iter().map(|&x| x as f64).collect())
        .expect("test data has the value's size")
}

/// Relative 1e-5, with an absolute floor of 1e-6 scaled by the largest expected magnitude (a sum
/// of many terms carries rounding proportional to them, not to the possibly cancelled result).
pub(super) fn assert_close(what: &str, got: &[f32], want: &Tensor) {
    let want = want
        .as_slice()
        .expect("the interpreter keeps values in row-major order");
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = g as f64;
        let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-5 * w.abs() + 1e-6 * scale;
        assert!(ok, "{what}[{i}]: compiled {g}, interpreter {w}");
    }
}

/// Plain and checked code, on one thread and on teams of two and three threads.
pub(super) fn modes() -> [CodegenOptions; 4] {
    [
        CodegenOptions::default(),
        CodegenOptions {
            checked: true,
            emit_clif: true,
            ..Default::default()
        },
        CodegenOptions {
            threads: 2,
            ..Default::default()
        },
        CodegenOptions {
            threads: 3,
            checked: true,
            ..Default::default()
        },
    ]
}

/// Buffers in argument order, split into the persistent (parameter and state) and data buffers
/// that `CompiledFunction::call` takes.
pub(super) fn split<'a>(
    f: &Function,
    bufs: &'a mut [Vec<f32>],
) -> (Vec<&'a mut [f32]>, Vec<&'a [f32]>) {
    assert_eq!(f.args.len(), bufs.len(), "one buffer per argument");
    let (mut persistent, mut data) = (Vec::new(), Vec::new());
    for (a, b) in f.args.iter().zip(bufs.iter_mut()) {
        if a.role == ArgRole::Data {
            let shared: &'a Vec<f32> = b;
            data.push(shared.as_slice());
        } else {
            persistent.push(b.as_mut_slice());
        }
    }
    (persistent, data)
}

pub(super) fn call(c: &mut CompiledFunction, bufs: &mut [Vec<f32>], batch: usize) {
    let f = c.function.clone();
    let (mut persistent, data) = split(&f, bufs);
    c.call(&mut persistent, &data, batch)
        .expect("call succeeds");
}

pub(super) fn verified(f: &Function) -> VerifiedFunction {
    VerifiedFunction::new(f.clone()).unwrap_or_else(|e| panic!("{}: {e}", f.name))
}

/// Compile `f` once per mode and compare every output with the interpreter at every batch size.
pub(super) fn check_outputs(f: &Function, seed: u64, range: (f32, f32)) {
    let mut rng = rng(seed);
    let f = &verified(f);
    for opts in modes() {
        let mut c = compile(f, MAX_BATCH, &opts).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        for batch in BATCHES {
            let (mut bufs, tensors) = random_args(f, batch, &mut rng, range);
            let ev = interp::evaluate(f, &tensors, batch).expect("interpreter runs");
            call(&mut c, &mut bufs, batch);
            for o in &f.outputs {
                let what = format!(
                    "{} (batch {batch}, checked {}, threads {}) output `{}`",
                    f.name, opts.checked, opts.threads, o.name
                );
                assert_close(&what, c.output(&o.name), &ev.values[o.value.index()]);
            }
        }
    }
}
