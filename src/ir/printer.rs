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

use super::{ArgRole, Function, Op, UnaryOp};

fn num(x: f64) -> String {
    // Shortest text that reads back to the same f64: stable across platforms.
    let s = format!("{x}");
    if s.contains('e') || s.contains('.') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// `name` or `name[key=value, ...]` for a unary op, with the parameter names of its table.
fn unary_text(op: &UnaryOp) -> String {
    let params = op.params();
    if params.is_empty() {
        return op.name().to_string();
    }
    let pairs: Vec<String> = op
        .kind()
        .param_names()
        .iter()
        .zip(&params)
        .map(|(k, v)| format!("{k}={}", num(*v)))
        .collect();
    format!("{}[{}]", op.name(), pairs.join(", "))
}

/// The right-hand side of an equation, e.g. `matmul[transpose_b] dy w1`.
pub fn op_text(f: &Function, op: &Op) -> String {
    let n = |v| f.name_of(v);
    match op {
        Op::Const(c) => format!("{} {}", op.name(), num(*c)),
        Op::Vector(v) => {
            let items: Vec<String> = v.iter().map(|x| num(*x)).collect();
            format!("{} {}", op.name(), items.join(" "))
        }
        Op::BatchSize => op.name().into(),
        Op::Unary(u, x) => format!("{} {}", unary_text(u), n(*x)),
        Op::Binary(b, x, y) => format!("{} {} {}", b.name(), n(*x), n(*y)),
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
            format!("{}{flags} {} {}", op.name(), n(*a), n(*b))
        }
        Op::Broadcast(x) | Op::SumTo(x) | Op::LogSoftmax(x) => format!("{} {}", op.name(), n(*x)),
        Op::Concat { a, b } => format!("{} {} {}", op.name(), n(*a), n(*b)),
        Op::Slice { x, start, len } => format!("{}[start={start}, len={len}] {}", op.name(), n(*x)),
        Op::Select { condition, yes, no } => {
            format!("{} {} {} {}", op.name(), n(*condition), n(*yes), n(*no))
        }
        Op::DropoutMask { rate, at, counter } => format!(
            "{}[rate={}, key={}, site={}] {}",
            op.name(),
            num(*rate),
            at.key,
            at.site,
            n(*counter)
        ),
        Op::NormalNoise { std, at, counter } => format!(
            "{}[std={}, key={}, site={}] {}",
            op.name(),
            num(*std),
            at.key,
            at.site,
            n(*counter)
        ),
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
