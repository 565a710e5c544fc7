//! Dropping a compiled function frees its machine code. Each compilation maps fresh pages for
//! its code and constants; if dropping did not unmap them, the process's address space would grow
//! by at least a page per compilation. This test is alone in its file so that it has its process
//! to itself (nothing else maps or unmaps memory while it measures).

#![cfg(target_os = "linux")]

use nnc::codegen::{compile, CodegenOptions};
use nnc::ir::{ArgRole, BinaryOp, Function, Op, Shape, UnaryOp, VerifiedFunction};

/// A dense layer with a sigmoid: a matrix product, a broadcast, a fused loop and a helper call.
fn layer() -> VerifiedFunction {
    let mut f = Function::new("layer");
    let w = f.add_arg("w", Shape::fixed(&[3, 4]), ArgRole::Param, None);
    let b = f.add_arg("b", Shape::fixed(&[4]), ArgRole::Param, None);
    let x = f.add_arg("x", Shape::batched(&[3]), ArgRole::Data, None);
    let op = Op::MatMul {
        a: x,
        b: w,
        transpose_a: false,
        transpose_b: false,
    };
    let z = f.push(op, None, None, None);
    let bb = f.push(Op::Broadcast(b), Some(Shape::batched(&[4])), None, None);
    let s = f.push(Op::Binary(BinaryOp::Add, z, bb), None, None, None);
    let y = f.push(Op::Unary(UnaryOp::Sigmoid, s), None, Some("y"), None);
    f.add_output("y", y);
    VerifiedFunction::new(f).unwrap()
}

/// The process's virtual memory size in KiB, from /proc/self/status.
fn vm_size_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux has /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .expect("/proc/self/status has VmSize");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn compile_run_and_drop(f: &VerifiedFunction, times: usize) {
    let mut params = vec![vec![0.5f32; 12], vec![0.0f32; 4]];
    let x = [1.0f32; 6];
    for _ in 0..times {
        let mut c = compile(f, 2, &CodegenOptions::default()).unwrap();
        c.call(&mut params, &[&x[..]], 2).unwrap();
        let y = c.output("y");
        assert!((y[0] - 0.817_574_5).abs() < 1e-5, "sigmoid(1.5) = {}", y[0]);
    }
}

#[test]
fn compiling_and_dropping_functions_returns_their_memory() {
    let f = layer();
    // Warm up: allocator arenas and Cranelift's caches reach their steady size.
    compile_run_and_drop(&f, 200);
    let before = vm_size_kib();
    let n = 2000;
    compile_run_and_drop(&f, n);
    let grown = vm_size_kib().saturating_sub(before);
    // A leak maps at least one 4 KiB page per compilation: 8 000 KiB here.
    assert!(
        grown < 2048,
        "the address space grew by {grown} KiB over {n} compilations"
    );
}
