//! A compiled training step copies no batch and allocates nothing. A counting allocator wraps the
//! system's and counts the allocations made on the test's thread while it runs a whole epoch of
//! steps and an evaluation, after one warm-up step: that first step sizes the matrix products'
//! thread-local packing buffers, which every later product reuses.

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

#[test]
fn compiled_steps_and_evaluations_allocate_nothing_after_the_first_step() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/digits.nn");
    let spec = load_model(&path, &Default::default()).unwrap();
    let data = prepare_data(&spec, &path, &Default::default(), &mut |_| {}).unwrap();
    let prepared = &data.prepared;
    let program = nnc::program::build(&spec, Some(&data.shape)).unwrap();
    let mut exec = JitExecutor::new(&program, 1, &CodegenOptions::default()).unwrap();

    let train = &prepared.train;
    let mut batcher = Batcher::new(train.len(), spec.train.batch_size, 1);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let ranges = batcher.epoch();
    // The first gather sizes the batch buffers; after it, they are reused.
    batcher.gather(train, ranges[0].clone(), &mut x, &mut y);
    let rows = exec.max_eval_batch().min(train.len());
    let mut predictions = nnc::train::Predictions {
        outputs: Vec::with_capacity(rows * train.y.cols),
        logits: Vec::with_capacity(rows),
    };
    let warm_up = ranges[0].clone();
    exec.step(&x, &y, warm_up.len()).unwrap();
    let eval = |exec: &mut JitExecutor, predictions: &mut nnc::train::Predictions| {
        predictions.outputs.clear();
        predictions.logits.clear();
        exec.evaluate(
            &train.x.data[..rows * train.x.cols],
            &train.y.data[..rows * train.y.cols],
            rows,
            predictions,
        )
        .unwrap()
    };
    // So does the first evaluation (each thread of a team sizes its own products' buffers).
    eval(&mut exec, &mut predictions);

    let before = allocations();
    let steps = ranges.len();
    for range in ranges {
        let n = range.len();
        batcher.gather(train, range, &mut x, &mut y);
        assert!(exec.step(&x, &y, n).unwrap().is_finite());
    }
    let loss = eval(&mut exec, &mut predictions);
    assert!(loss.is_finite());
    let made = allocations() - before;

    assert!(steps > 10, "a whole epoch of steps ran");
    assert!(
        matrix_products(&program.step) > 0,
        "the steps multiplied matrices"
    );
    assert_eq!(
        made, 0,
        "allocations during {steps} steps and one evaluation"
    );
}
