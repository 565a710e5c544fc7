//! A compiled training step copies no batch and allocates nothing of its own. A counting allocator
//! wraps the system's and counts the allocations made on the test's thread while it runs a whole
//! epoch of steps and an evaluation. The only allocations allowed are those `matrixmultiply`'s
//! `sgemm` makes for its packing buffer, one per matrix product (measured here too, so that a
//! change in that crate shows up as a change in this number rather than hiding an allocation of
//! nnc's own).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use nnc::codegen::CodegenOptions;
use nnc::data::Batcher;
use nnc::ir::{Op, VerifiedFunction};
use nnc::train::session::{load_model, prepare_data};
use nnc::train::{Executor, JitExecutor};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// thread-local `Cell` with a constant initializer, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn matrix_products(f: &VerifiedFunction) -> usize {
    f.body
        .iter()
        .filter(|eq| matches!(eq.op, Op::MatMul { .. }))
        .count()
}

/// How many allocations one `sgemm` call makes, measured.
fn sgemm_allocations() -> usize {
    let (m, k, n) = (16, 64, 10);
    let (a, b, mut c) = (
        vec![1.0f32; m * k],
        vec![1.0f32; k * n],
        vec![0.0f32; m * n],
    );
    let mut product = || {
        // SAFETY: row-major m×k, k×n and m×n matrices with their row strides, all in bounds.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    };
    // The first product of a process starts matrixmultiply's thread pool (once); count a later one.
    product();
    let before = allocations();
    product();
    allocations() - before
}

#[test]
fn compiled_steps_and_evaluations_allocate_only_in_sgemm() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits.nn");
    let spec = load_model(&path, &Default::default()).unwrap();
    let data = prepare_data(&spec, &path, &Default::default()).unwrap();
    let prepared = &data.prepared;
    let program = nnc::program::build(&spec, Some(&data.shape)).unwrap();
    let mut exec = JitExecutor::new(&program, 1, &CodegenOptions::default()).unwrap();
    let per_product = sgemm_allocations();
    assert!(
        per_product <= 1,
        "sgemm allocates {per_product} times per call"
    );

    let train = &prepared.train;
    let mut batcher = Batcher::new(train.len(), spec.train.batch_size, 1);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let ranges = batcher.epoch();
    // The first gather sizes the batch buffers; after it, they are reused.
    batcher.gather(train, ranges[0].clone(), &mut x, &mut y);
    let rows = exec.max_eval_batch().min(train.len());
    let mut predictions = Vec::with_capacity(rows * train.y.cols);

    let before = allocations();
    let steps = ranges.len();
    for range in ranges {
        let n = range.len();
        batcher.gather(train, range, &mut x, &mut y);
        assert!(exec.step(&x, &y, n).unwrap().is_finite());
    }
    let loss = exec
        .evaluate(
            &train.x.data[..rows * train.x.cols],
            &train.y.data[..rows * train.y.cols],
            rows,
            &mut predictions,
        )
        .unwrap();
    assert!(loss.is_finite());
    let made = allocations() - before;

    assert!(steps > 10, "a whole epoch of steps ran");
    let expected =
        per_product * (steps * matrix_products(&program.step) + matrix_products(&program.loss));
    assert_eq!(
        made, expected,
        "allocations during {steps} steps and one evaluation, all of them sgemm's"
    );
}
