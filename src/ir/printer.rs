//! The readable form of a function, one equation per line, like a jaxpr:
//!
//! ```text
//! forward { w1:f32[4,16] b1:f32[16] ; x:f32[B,4] .
//!   let t0:f32[B,16] = matmul x w1
//!       ...
//!   in (logits) }
//! ```
//!
//! Parameters come first, then optimizer state after a `|` (written only when there is state), then
//! after `;` the data. Names are stable (they come from the builder), so golden tests diff cleanly;
//! `parser` reads this text back.

use std::fmt::Write;

use super::{ArgRole, BinaryOp, Function, Op, UnaryOp};

fn num(x: f64) -> String {
    // Shortest text that reads back to the same f64: stable across platforms.
    let s = format!("{x}");
    if s.contains('e') || s.contains('.') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

pub fn unary_name(op: &UnaryOp) -> String {
    match op {
        UnaryOp::Neg => "neg".into(),
        UnaryOp::Exp => "exp".into(),
        UnaryOp::Log => "log".into(),
        UnaryOp::Sqrt => "sqrt".into(),
        UnaryOp::Relu => "relu".into(),
        UnaryOp::Heaviside => "heaviside".into(),
        UnaryOp::LeakyRelu { alpha } => format!("leaky_relu[alpha={}]", num(*alpha)),
        UnaryOp::LeakySlope { alpha } => format!("leaky_slope[alpha={}]", num(*alpha)),
        UnaryOp::Sigmoid => "sigmoid".into(),
        UnaryOp::Tanh => "tanh".into(),
        UnaryOp::Softplus => "softplus".into(),
        UnaryOp::Affine { mul, add } => format!("affine[mul={}, add={}]", num(*mul), num(*add)),
    }
}

pub fn binary_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
    }
}

/// The right-hand side of an equation, e.g. `matmul[transpose_b] dy w1`.
pub fn op_text(f: &Function, op: &Op) -> String {
    let n = |v| f.name_of(v);
    match op {
        Op::Const(c) => format!("const {}", num(*c)),
        Op::BatchSize => "batch_size".into(),
        Op::Unary(u, x) => format!("{} {}", unary_name(u), n(*x)),
        Op::Binary(b, x, y) => format!("{} {} {}", binary_name(*b), n(*x), n(*y)),
        Op::MatMul {
            a,
            b,
            transpose_a,
            transpose_b,
        } => {
            let flags = match (transpose_a, transpose_b) {
                (false, false) => "",
                (true, false) => "[transpose_a]",
                (false, true) => "[transpose_b]",
                (true, true) => "[transpose_a, transpose_b]",
            };
            format!("matmul{flags} {} {}", n(*a), n(*b))
        }
        Op::Broadcast(x) => format!("broadcast {}", n(*x)),
        Op::SumTo(x) => format!("sum_to {}", n(*x)),
        Op::LogSoftmax(x) => format!("log_softmax {}", n(*x)),
    }
}

pub fn print_function(f: &Function) -> String {
    let mut out = String::new();
    let typed = |v| format!("{}:{}", f.name_of(v), f.shape(v));
    let group = |role| {
        f.args_with_role(role)
            .map(typed)
            .collect::<Vec<_>>()
            .join(" ")
    };
    // `|` marks where optimizer state begins, so that `parser` can give each argument its role
    // back; it is written only when there is state, leaving functions without state as they were.
    let (params, state) = (group(ArgRole::Param), group(ArgRole::State));
    let persistent = match (params.is_empty(), state.is_empty()) {
        (_, true) => params,
        (true, false) => format!("| {state}"),
        (false, false) => format!("{params} | {state}"),
    };
    let _ = writeln!(
        out,
        "{} {{ {} ; {} .",
        f.name,
        persistent,
        group(ArgRole::Data)
    );
    for (i, eq) in f.body.iter().enumerate() {
        let lead = if i == 0 { "  let " } else { "      " };
        let _ = writeln!(out, "{lead}{} = {}", typed(eq.out), op_text(f, &eq.op));
    }
    let outs = f
        .outputs
        .iter()
        .map(|o| {
            if o.name == f.name_of(o.value) {
                o.name.clone()
            } else {
                format!("{}={}", o.name, f.name_of(o.value))
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(out, "  in ({outs})");
    if !f.updates.is_empty() {
        let ups = f
            .updates
            .iter()
            .map(|u| format!("{} <- {}", f.name_of(u.arg), f.name_of(u.value)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(out, "\n  update {ups}");
    }
    out.push_str(" }\n");
    out
}
