//! Formulas read off an IR function: each value the reader should see (a layer's pre-activation,
//! its output, a parameter's gradient) as an expression tree over the other shown values, with the
//! compiler's temporaries (`t7`, `d_t12`) and partial sums of an adjoint substituted into it.
//! Rendering is `unicode`'s and `mathml`'s; this module decides only what a formula says.

use std::collections::{HashMap, HashSet};

use crate::ir::{BinaryOp, Dim, Function, Op, UnaryOp, ValueId};

/// A value as a formula names it.
#[derive(Clone, Debug, PartialEq)]
pub enum Name {
    /// A value of the forward pass or an argument (`x`, `w1`, `z1`, `logits`).
    Value(String),
    /// The loss's derivative with respect to the named value: `d_z1` is ∂L/∂z1.
    Adjoint(String),
}

/// An element-wise function, by the symbol a formula writes for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    Exp,
    Expm1,
    Log,
    Relu,
    /// The unit step: relu's derivative.
    Step,
    LeakyRelu,
    /// leaky_relu's derivative: 1 where x > 0, else α.
    LeakyStep,
    Sigmoid,
    Tanh,
    Softplus,
    Sign,
    NormalCdf,
    LogSoftmax,
    /// Inverted dropout's random multiplier.
    DropoutMask,
    /// Gaussian noise.
    Noise,
}

impl Func {
    /// The glossary line for a function that is not common knowledge, or `None`.
    pub fn meaning(self) -> Option<&'static str> {
        Some(match self {
            Func::Step => "H(x) = 1 where x > 0, else 0: the derivative of relu",
            Func::LeakyStep => "H_α(x) = 1 where x > 0, else α: the derivative of leaky_relu",
            Func::LeakyRelu => "leaky_relu_α(x) = x where x > 0, else α·x",
            Func::Sigmoid => "σ(x) = 1/(1 + e^−x), whose derivative is σ(x)(1 − σ(x))",
            Func::Softplus => "softplus(x) = log(1 + e^x), whose derivative is σ(x)",
            Func::NormalCdf => "Φ(x): the standard normal distribution function",
            Func::Expm1 => "expm1(x) = e^x − 1, exact for small x",
            Func::LogSoftmax => "log_softmax(x)ⱼ = xⱼ − log Σₖ e^xₖ, along each row",
            Func::DropoutMask => {
                "M_p: 1/(1 − p) for a kept unit, 0 for a dropped one, drawn anew every step"
            }
            Func::Noise => "ε_s: normal noise of standard deviation s, drawn anew every step",
            Func::Exp | Func::Log | Func::Relu | Func::Tanh | Func::Sign => return None,
        })
    }
}

/// Which axes a sum runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axes {
    /// Over the examples of the batch (a bias's gradient): Σᵢ.
    Batch,
    /// Along each row (over the units): Σⱼ.
    Row,
    /// Over every element: Σᵢⱼ.
    All,
}

/// A comparison that gives 1 or 0 (an Iverson bracket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    Greater,
    GreaterEq,
    Equal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Infix {
    Add,
    Sub,
    /// Element-wise product of two arrays: ⊙.
    Hadamard,
    /// A product with a scalar: ·.
    Scale,
    Div,
    /// Matrix product: also ·, but never reordered.
    MatMul,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Var(Name),
    Num(f64),
    BatchSize,
    Neg(Box<Expr>),
    Infix(Infix, Box<Expr>, Box<Expr>),
    Transpose(Box<Expr>),
    /// A function applied element-wise, with its parameters (leaky_relu's α, dropout's rate).
    Call(Func, Vec<f64>, Box<Expr>),
    Abs(Box<Expr>),
    Sqrt(Box<Expr>),
    Max(Box<Expr>, Box<Expr>),
    Min(Box<Expr>, Box<Expr>),
    Sum(Axes, Box<Expr>),
    Indicator(Compare, Box<Expr>, Box<Expr>),
    /// `where(c, a, b)`: a where c ≠ 0, else b.
    Select(Box<Expr>, Box<Expr>, Box<Expr>),
    /// Two arrays side by side along the rows.
    Concat(Box<Expr>, Box<Expr>),
    /// Columns `start..start + len` of an array.
    Columns(Box<Expr>, usize, usize),
    /// A constant vector (per-class weights).
    Vector(Vec<f64>),
}

/// A temporary of more nodes than this that is used more than once keeps its own line instead of
/// being written out at every use, so that no formula grows without bound.
const INLINE_NODES: usize = 14;

/// The formulas of a function: for each value shown, its expression over shown values.
pub struct Formulas {
    pub shown: Vec<ValueId>,
    pub exprs: HashMap<ValueId, Expr>,
    /// How each shown value is named on the left of its formula.
    pub names: HashMap<ValueId, Name>,
}

/// The name a value is shown under, or `None` for a temporary that formulas write out in place.
/// Temporaries are the compiler's `tN` and their adjoints `d_tN`, and an adjoint's partial sums
/// (`d_h1` when `d_h1_1 = d_h1 + …` follows it): the reader sees the finished sum only.
fn display_name(f: &Function, v: ValueId, partial: &[bool]) -> Option<Name> {
    let name = &f.values[v.index()].name;
    if partial[v.index()] || is_temporary(name) {
        return None;
    }
    match name.strip_prefix("d_") {
        Some(primal) => {
            let primal = strip_copy_suffix(f, primal);
            (!is_temporary(primal)).then(|| Name::Adjoint(primal.to_string()))
        }
        None => Some(Name::Value(name.clone())),
    }
}

/// The name of a temporary that keeps its own line: its IR name (`t17`, as `nnc ir --grad`
/// prints it), an adjoint's as ∂L/∂t17.
fn kept_name(name: &str) -> Name {
    match name.strip_prefix("d_") {
        Some(primal) => Name::Adjoint(primal.to_string()),
        None => Name::Value(name.to_string()),
    }
}

/// `t12`, or `t12_1` (a temporary's name made unique).
pub fn is_temporary(name: &str) -> bool {
    let digits = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix('t')
        .is_some_and(|n| match n.split_once('_') {
            Some((a, b)) => digits(a) && digits(b),
            None => digits(n),
        })
}

/// `h1_1` → `h1` when `h1` is a value of `f`: the IR makes a repeated name unique with a suffix.
fn strip_copy_suffix<'a>(f: &Function, name: &'a str) -> &'a str {
    match name.rsplit_once('_') {
        Some((base, n))
            if !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && f.values
                    .iter()
                    .any(|v| v.name == base || v.name == format!("d_{base}")) =>
        {
            base
        }
        _ => name,
    }
}

/// Which values are partial sums of an adjoint: used by an `add` whose result is the same adjoint
/// under a suffixed name.
fn partial_sums(f: &Function) -> Vec<bool> {
    let mut partial = vec![false; f.values.len()];
    for eq in &f.body {
        if let Op::Binary(BinaryOp::Add, a, b) = eq.op {
            let out = &f.values[eq.out.index()].name;
            for operand in [a, b] {
                let name = &f.values[operand.index()].name;
                if name.starts_with("d_") && strip_copy_suffix(f, out) == strip_copy_suffix(f, name)
                {
                    partial[operand.index()] = true;
                }
            }
        }
    }
    partial
}

/// Builds every value's formula, substituting temporaries other than those in `keep`.
pub fn formulas(f: &Function, keep: &HashSet<ValueId>) -> Formulas {
    let partial = partial_sums(f);
    let mut uses = vec![0usize; f.values.len()];
    for eq in &f.body {
        for v in eq.op.operands() {
            uses[v.index()] += 1;
        }
    }
    let mut names = HashMap::new();
    for (i, info) in f.values.iter().enumerate() {
        let v = ValueId(i as u32);
        if let Some(n) = display_name(f, v, &partial) {
            names.insert(v, n);
        } else if f.args.iter().any(|a| a.value == v) {
            names.insert(v, Name::Value(info.name.clone()));
        }
    }
    // Each value as an operand reads: its name if shown, else its expression written out.
    let mut operand: HashMap<ValueId, Expr> = HashMap::new();
    for arg in &f.args {
        operand.insert(arg.value, Expr::Var(names[&arg.value].clone()));
    }
    let mut exprs = HashMap::new();
    let mut shown = Vec::new();
    for eq in &f.body {
        let expr = build(f, &eq.op, eq.out, &operand);
        // A named number (the seed ∂L/∂loss = 1) reads better in place.
        let number = matches!(expr, Expr::Num(_)) && !f.outputs.iter().any(|o| o.value == eq.out);
        let keep = (names.contains_key(&eq.out) && !number)
            || keep.contains(&eq.out)
            || (uses[eq.out.index()] > 1 && size(&expr) > INLINE_NODES);
        if keep {
            let name = names
                .entry(eq.out)
                .or_insert_with(|| kept_name(&f.values[eq.out.index()].name))
                .clone();
            operand.insert(eq.out, Expr::Var(name));
            exprs.insert(eq.out, expr);
            shown.push(eq.out);
        } else {
            operand.insert(eq.out, expr);
        }
    }
    Formulas {
        shown,
        exprs,
        names,
    }
}

fn size(e: &Expr) -> usize {
    1 + e.children().into_iter().map(size).sum::<usize>()
}

impl Expr {
    /// The operands, in order.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Var(_) | Expr::Num(_) | Expr::BatchSize | Expr::Vector(_) => vec![],
            Expr::Neg(a)
            | Expr::Transpose(a)
            | Expr::Call(_, _, a)
            | Expr::Abs(a)
            | Expr::Sqrt(a)
            | Expr::Sum(_, a)
            | Expr::Columns(a, _, _) => vec![a],
            Expr::Infix(_, a, b)
            | Expr::Max(a, b)
            | Expr::Min(a, b)
            | Expr::Indicator(_, a, b)
            | Expr::Concat(a, b) => vec![a, b],
            Expr::Select(c, a, b) => vec![c, a, b],
        }
    }
}

fn build(f: &Function, op: &Op, out: ValueId, operand: &HashMap<ValueId, Expr>) -> Expr {
    let arg = |v: &ValueId| Box::new(operand[v].clone());
    let scalar = |v: &ValueId| is_scalar(f, *v);
    match op {
        Op::Const(c) => Expr::Num(*c),
        Op::BatchSize => Expr::BatchSize,
        Op::Vector(values) => Expr::Vector(values.clone()),
        Op::Unary(u, x) => unary(u, arg(x)),
        Op::Binary(b, x, y) => {
            let (x_, y_) = (arg(x), arg(y));
            match b {
                BinaryOp::Add => Expr::Infix(Infix::Add, x_, y_),
                BinaryOp::Sub => Expr::Infix(Infix::Sub, x_, y_),
                // A number goes first: `1.5·z`, not `z·1.5`.
                BinaryOp::Mul if scalar(y) => Expr::Infix(Infix::Scale, y_, x_),
                BinaryOp::Mul if scalar(x) => Expr::Infix(Infix::Scale, x_, y_),
                BinaryOp::Mul => Expr::Infix(Infix::Hadamard, x_, y_),
                BinaryOp::Div => Expr::Infix(Infix::Div, x_, y_),
                BinaryOp::Max => Expr::Max(x_, y_),
                BinaryOp::Min => Expr::Min(x_, y_),
                BinaryOp::Greater => Expr::Indicator(Compare::Greater, x_, y_),
                BinaryOp::GreaterEq => Expr::Indicator(Compare::GreaterEq, x_, y_),
                BinaryOp::Equal => Expr::Indicator(Compare::Equal, x_, y_),
            }
        }
        Op::MatMul {
            a,
            b,
            transpose_a,
            transpose_b,
        } => {
            let t = |e: Box<Expr>, yes: bool| if yes { Box::new(Expr::Transpose(e)) } else { e };
            Expr::Infix(
                Infix::MatMul,
                t(arg(a), *transpose_a),
                t(arg(b), *transpose_b),
            )
        }
        // Broadcasting repeats a value along the axes it lacks, as the formulas' arithmetic reads.
        Op::Broadcast(x) => *arg(x),
        Op::SumTo(x) => Expr::Sum(sum_axes(&f.shape(*x).0, &f.shape(out).0), arg(x)),
        Op::LogSoftmax(x) => Expr::Call(Func::LogSoftmax, vec![], arg(x)),
        Op::Concat { a, b } => Expr::Concat(arg(a), arg(b)),
        Op::Slice { x, start, len } => Expr::Columns(arg(x), *start, *len),
        Op::Select { condition, yes, no } => Expr::Select(arg(condition), arg(yes), arg(no)),
        Op::DropoutMask { rate, .. } => {
            Expr::Call(Func::DropoutMask, vec![*rate], Box::new(Expr::Num(*rate)))
        }
        Op::NormalNoise { std, .. } => {
            Expr::Call(Func::Noise, vec![*std], Box::new(Expr::Num(*std)))
        }
    }
}

/// Whether `v` is one number, possibly broadcast to an array (which formulas do not show) and
/// computed on element-wise after.
fn is_scalar(f: &Function, v: ValueId) -> bool {
    if f.shape(v).0.is_empty() {
        return true;
    }
    match f.body.iter().find(|eq| eq.out == v).map(|eq| &eq.op) {
        Some(Op::Const(_) | Op::BatchSize) => true,
        Some(op @ (Op::Broadcast(_) | Op::Unary(..) | Op::Binary(..))) => {
            op.operands().iter().all(|x| is_scalar(f, *x))
        }
        _ => false,
    }
}

fn unary(u: &UnaryOp, x: Box<Expr>) -> Expr {
    let call = |func, x| Expr::Call(func, vec![], x);
    match *u {
        UnaryOp::Neg => Expr::Neg(x),
        UnaryOp::Exp => call(Func::Exp, x),
        UnaryOp::Expm1 => call(Func::Expm1, x),
        UnaryOp::Log => call(Func::Log, x),
        UnaryOp::Sqrt => Expr::Sqrt(x),
        UnaryOp::Relu => call(Func::Relu, x),
        UnaryOp::Heaviside => call(Func::Step, x),
        UnaryOp::LeakyRelu { alpha } => Expr::Call(Func::LeakyRelu, vec![alpha], x),
        UnaryOp::LeakySlope { alpha } => Expr::Call(Func::LeakyStep, vec![alpha], x),
        UnaryOp::Sigmoid => call(Func::Sigmoid, x),
        UnaryOp::Tanh => call(Func::Tanh, x),
        UnaryOp::Softplus => call(Func::Softplus, x),
        UnaryOp::Abs => Expr::Abs(x),
        UnaryOp::Sign => call(Func::Sign, x),
        UnaryOp::NormalCdf => call(Func::NormalCdf, x),
        UnaryOp::Affine { mul, add } => {
            let scaled = match mul {
                1.0 => x,
                -1.0 => Box::new(Expr::Neg(x)),
                m => Box::new(Expr::Infix(Infix::Scale, Box::new(Expr::Num(m)), x)),
            };
            match (add, *scaled) {
                (0.0, e) => e,
                (a, Expr::Neg(e)) => Expr::Infix(Infix::Sub, Box::new(Expr::Num(a)), e),
                (a, e) => Expr::Infix(Infix::Add, Box::new(e), Box::new(Expr::Num(a))),
            }
        }
    }
}

/// The axes `SumTo` removes or shrinks to 1, from the source's shape to the result's.
fn sum_axes(from: &[Dim], to: &[Dim]) -> Axes {
    if to.iter().all(|d| *d == Dim::Fixed(1)) {
        return Axes::All;
    }
    let keeps_rows = from.len() == to.len() && to.first() == from.first();
    if keeps_rows {
        Axes::Row
    } else {
        Axes::Batch
    }
}

/// How tightly an expression binds, for parentheses: sums 1, products 2, prefix operators 3,
/// atoms and postfix forms 4.
pub fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::Infix(Infix::Add | Infix::Sub, ..) => 1,
        Expr::Infix(..) => 2,
        Expr::Neg(_) | Expr::Sum(..) => 3,
        Expr::Num(c) if *c < 0.0 => 3,
        _ => 4,
    }
}

/// Whether `child`, the left (`right == false`) or right operand of `op`, needs parentheses.
/// Matrix and element-wise products do not associate with each other, so a product inside the
/// other kind is always bracketed; the right operand of `−` and `/` is bracketed at its own level.
pub fn bracket_operand(op: Infix, child: &Expr, right: bool) -> bool {
    let level = |o: Infix| match o {
        Infix::Add | Infix::Sub => 1,
        _ => 2,
    };
    let (p, c) = (level(op), precedence(child));
    if c < p {
        return true;
    }
    match child {
        Expr::Infix(inner, ..) if c == p => match op {
            Infix::Sub | Infix::Div => right || (op == Infix::Div && *inner != Infix::Div),
            Infix::MatMul => *inner != Infix::MatMul,
            Infix::Hadamard | Infix::Scale => {
                *inner == Infix::MatMul || *inner == Infix::Div || (right && *inner != op)
            }
            Infix::Add => false,
        },
        Expr::Neg(_) => right || p == 2,
        Expr::Num(v) if *v < 0.0 => right || op == Infix::MatMul,
        Expr::Var(Name::Adjoint(_)) => op == Infix::Div,
        _ => false,
    }
}
