//! Math written in a `.nn` file, lowered to IR: the expressions of bindings in the model block
//! and the bodies of `def`s, whether used as a layer, an activation or a loss. Names are resolved
//! and shapes checked here, where the shapes of a def's inputs are known (a def is lowered once
//! per use, like a macro, so `param(width(x), units)` takes each use's own width).
//!
//! Values are typed: a number (folded at compile time), a tensor, or a condition (the result of a
//! comparison). A condition has no derivative, so it may only choose between values in
//! `where(condition, a, b)`; using one as a number is a diagnostic rather than a silent zero
//! gradient. Numbers and tensors broadcast as in numpy, with each implicit broadcast an explicit
//! IR op. Everything a user can get wrong is a diagnostic at the expression's span.

use std::collections::HashMap;

use crate::diag::{Diagnostic, Source, Span};
use crate::ir::{ArgRole, BinaryOp, Dim, Function, Op, Origin, Shape, UnaryOp, ValueId};
use crate::syntax::ast::{BinaryOperator, Def, Expr, ExprArg, ExprKind, Ident};

use super::params::{Init, Owner, ParamSpec};
use super::spec::options::unknown_help;
use super::spec::resolve_initializer;

/// The math functions a `.nn` file can call, with their arities as written in the docs.
const BUILTINS: &[&str] = &[
    "exp",
    "expm1",
    "log",
    "sqrt",
    "abs",
    "relu",
    "sigmoid",
    "tanh",
    "softplus",
    "softmax",
    "log_softmax",
    "min",
    "max",
    "where",
    "sum",
    "mean",
    "transpose",
    "width",
    "param",
    "add",
    "concat",
];

/// `name` is neither bound (one of `bound`), nor a def, nor a built-in function. Lowering and the
/// check of every name before it (`lower::names`) give the same diagnostic.
pub fn unknown_name(
    source: &Source,
    name: &Ident,
    mut bound: Vec<&str>,
    defs: &[Def],
) -> Diagnostic {
    bound.sort_unstable();
    let mut known = bound;
    known.extend(defs.iter().map(|d| d.name.name.as_str()));
    known.extend(BUILTINS);
    Diagnostic::new(
        "nnc::math::unknown_name",
        format!("unknown name `{}`", name.name),
    )
    .with_source(source)
    .with_label(name.span, "not defined here")
    .with_help(unknown_help(&name.name, "names here", &known))
}

/// Is `name` one of the built-in math functions?
pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// A value of the math language.
#[derive(Clone, Copy, Debug)]
pub enum Val {
    Number(f64),
    Tensor(ValueId),
    /// A comparison's 0/1 result; `negated` for `!=`, which is `==` with the branches swapped.
    Condition {
        value: ValueId,
        negated: bool,
    },
}

/// Where math is being lowered: the function being built, the file, its defs, and the
/// parameters that `param(...)` creates.
pub struct MathCtx<'a> {
    pub f: &'a mut Function,
    pub source: &'a Source,
    pub defs: &'a [Def],
    /// Parameters created by `param(...)` so far; a name already declared in `f` is reused, so
    /// the same lowering run twice finds the same parameters.
    pub params: &'a mut Vec<ParamSpec>,
    /// The prefix of parameter names made here (`gated1`, `swish_2`).
    pub prefix: String,
    /// How many defs have been entered under each prefix, for unique parameter names.
    pub counters: HashMap<String, usize>,
    /// Whether `param(...)` is allowed (not in a loss).
    pub params_allowed: bool,
    /// The binding being lowered in a def's body, which names the parameters it declares.
    pub binding: Option<String>,
    /// The model entry being lowered (`ModelSpec::nodes`), which owns the parameters made here.
    pub node: usize,
    /// The index in `defs` of the first of the prelude's (`ModelSpec::prelude_start`).
    pub prelude_start: usize,
    /// Inside a prelude def, whose spans are in another text: the span of its use, where every
    /// origin and diagnostic made inside it points instead.
    pub use_site: Option<Span>,
    /// How many defs are being lowered inside one another, bounded by `MAX_DEPTH`.
    pub depth: usize,
}

/// The deepest nesting of def uses: a def that calls itself, directly or not, would otherwise
/// recurse until the stack overflows.
const MAX_DEPTH: usize = 64;

type Env = HashMap<String, Val>;

fn error(
    ctx: &MathCtx,
    code: &'static str,
    msg: String,
    span: Span,
    label: &str,
    help: &str,
) -> Diagnostic {
    Diagnostic::new(code, msg)
        .with_source(ctx.source)
        .with_label(span, label)
        .with_help(help)
}

/// Where `span` is shown: itself, or inside a prelude def, the def's use.
fn at(ctx: &MathCtx, span: Span) -> Span {
    ctx.use_site.unwrap_or(span)
}

fn text(ctx: &MathCtx, span: Span) -> String {
    let span = at(ctx, span);
    let t = ctx.source.text.get(span.start..span.end).unwrap_or("");
    let t: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 40 {
        format!("{}…", t.chars().take(39).collect::<String>())
    } else {
        t
    }
}

fn origin(ctx: &MathCtx, span: Span) -> Option<Origin> {
    let span = ctx.use_site.unwrap_or(span);
    Some(Origin {
        span,
        what: format!("`{}`", text(ctx, span)),
    })
}

impl MathCtx<'_> {
    fn push(&mut self, op: Op, target: Option<Shape>, span: Span) -> Result<ValueId, Diagnostic> {
        let o = origin(self, span);
        self.f
            .try_push(op, target, None, o)
            .map_err(|e| super::super::shape::diagnose(self.f, &e, span).in_source(self.source))
    }

    fn constant(&mut self, c: f64, like: &Shape, span: Span) -> Result<ValueId, Diagnostic> {
        let k = self.push(Op::Const(c), None, span)?;
        if like.rank() == 0 {
            return Ok(k);
        }
        self.push(Op::Broadcast(k), Some(like.clone()), span)
    }
}

/// The shape both operands broadcast to, numpy-style (aligned from the right).
fn common_shape(a: &Shape, b: &Shape) -> Option<Shape> {
    let rank = a.rank().max(b.rank());
    let dim = |s: &Shape, i: usize| -> Dim {
        let pad = rank - s.rank();
        if i < pad {
            Dim::Fixed(1)
        } else {
            s.0[i - pad]
        }
    };
    let mut dims = Vec::with_capacity(rank);
    for i in 0..rank {
        let (x, y) = (dim(a, i), dim(b, i));
        dims.push(match (x, y) {
            _ if x == y => x,
            (Dim::Fixed(1), d) | (d, Dim::Fixed(1)) => d,
            _ => return None,
        });
    }
    let s = Shape(dims);
    // The batch may only lead.
    if s.0.iter().skip(1).any(|d| *d == Dim::Batch) {
        return None;
    }
    Some(s)
}

/// Two tensors (numbers become constants) broadcast to one shape.
fn unify(
    ctx: &mut MathCtx,
    (a, a_span): (Val, Span),
    (b, b_span): (Val, Span),
    span: Span,
) -> Result<(ValueId, ValueId), Diagnostic> {
    let shape_of = |ctx: &MathCtx, v: Val| match v {
        Val::Tensor(t) => ctx.f.shape(t).clone(),
        Val::Number(_) | Val::Condition { .. } => Shape::scalar(),
    };
    let (sa, sb) = (shape_of(ctx, a), shape_of(ctx, b));
    let Some(target) = common_shape(&sa, &sb) else {
        return Err(Diagnostic::new(
            "nnc::shape::mismatch",
            format!(
                "shape mismatch: `{}` is {sa} and `{}` is {sb}, which do not broadcast",
                text(ctx, a_span),
                text(ctx, b_span)
            ),
        )
        .with_source(ctx.source)
        .with_label(at(ctx, a_span), format!("{sa}"))
        .with_label(at(ctx, b_span), format!("{sb}"))
        .with_help("operands of element-wise math need equal dimensions, or 1 where one repeats"));
    };
    let to = |ctx: &mut MathCtx, v: Val, s: &Shape| -> Result<ValueId, Diagnostic> {
        match v {
            Val::Number(n) => ctx.constant(n, &target, span),
            Val::Tensor(t) if *s == target => Ok(t),
            Val::Tensor(t) => ctx.push(Op::Broadcast(t), Some(target.clone()), span),
            Val::Condition { value, .. } => Ok(value),
        }
    };
    let x = to(ctx, a, &sa)?;
    let y = to(ctx, b, &sb)?;
    Ok((x, y))
}

fn not_differentiable(ctx: &MathCtx, span: Span) -> Diagnostic {
    error(
        ctx,
        "nnc::math::not_differentiable",
        "a comparison is used as a number".into(),
        span,
        "0 or 1, with no derivative",
        "a comparison can only choose between values: write `where(condition, a, b)`",
    )
}

/// A value that must be a tensor or a number.
fn numeric(ctx: &MathCtx, v: Val, span: Span) -> Result<Val, Diagnostic> {
    match v {
        Val::Condition { .. } => Err(not_differentiable(ctx, span)),
        v => Ok(v),
    }
}

/// A value that must be a plain number known when compiling (a width, an exponent).
fn number(ctx: &MathCtx, v: Val, span: Span, what: &str) -> Result<f64, Diagnostic> {
    match v {
        Val::Number(n) => Ok(n),
        Val::Tensor(_) | Val::Condition { .. } => Err(error(
            ctx,
            "nnc::math::expected_number",
            format!("{what} must be a number known before training"),
            span,
            "a tensor",
            "write a number, or a def parameter given a number",
        )),
    }
}

/// Lower `expr` in the environment `env`.
pub fn emit(ctx: &mut MathCtx, env: &Env, expr: &Expr) -> Result<Val, Diagnostic> {
    match &expr.kind {
        ExprKind::Number(n) => Ok(Val::Number(*n)),
        ExprKind::String(_) | ExprKind::List(_) => Err(error(
            ctx,
            "nnc::math::wrong_kind",
            "math works on numbers and tensors".into(),
            expr.span,
            "not a number or tensor",
            "strings and lists are options of layers, not math",
        )),
        ExprKind::Negate(x) => {
            let v = emit(ctx, env, x)?;
            match numeric(ctx, v, x.span)? {
                Val::Number(n) => Ok(Val::Number(-n)),
                Val::Tensor(t) => Ok(Val::Tensor(ctx.push(
                    Op::Unary(UnaryOp::Neg, t),
                    None,
                    expr.span,
                )?)),
                Val::Condition { .. } => unreachable!("invariant: `numeric` refuses conditions"),
            }
        }
        ExprKind::Binary(op, a, b) => binary(ctx, env, *op, a, b, expr.span),
        ExprKind::Call {
            name,
            args,
            parens,
            applied_to,
        } => {
            if applied_to.is_some() {
                return Err(error(
                    ctx,
                    "nnc::math::layer_in_math",
                    format!("`{}(...)(...)` applies a layer inside math", name.name),
                    expr.span,
                    "a layer applied here",
                    "apply layers as entries of their own (`f = dense(64)(h)`), then use the name",
                ));
            }
            call(ctx, env, name, args, *parens, expr.span)
        }
    }
}

fn binary(
    ctx: &mut MathCtx,
    env: &Env,
    op: BinaryOperator,
    a: &Expr,
    b: &Expr,
    span: Span,
) -> Result<Val, Diagnostic> {
    if op == BinaryOperator::MatMul {
        return matmul(ctx, env, a, b, span);
    }
    let x = emit(ctx, env, a)?;
    let x = numeric(ctx, x, a.span)?;
    let y = emit(ctx, env, b)?;
    let y = numeric(ctx, y, b.span)?;
    if let (Val::Number(p), Val::Number(q)) = (x, y) {
        let folded = match op {
            BinaryOperator::Add => p + q,
            BinaryOperator::Sub => p - q,
            BinaryOperator::Mul => p * q,
            BinaryOperator::Div => p / q,
            BinaryOperator::Pow => p.powf(q),
            BinaryOperator::MatMul => unreachable!("invariant: handled above"),
            BinaryOperator::Less
            | BinaryOperator::LessEq
            | BinaryOperator::Greater
            | BinaryOperator::GreaterEq
            | BinaryOperator::Equal
            | BinaryOperator::NotEqual => {
                return Err(error(
                    ctx,
                    "nnc::math::constant_condition",
                    "a comparison of two numbers is known before training".into(),
                    span,
                    "always the same",
                    "compare a tensor, e.g. `where(x > 0, x, 0)`",
                ))
            }
        };
        return Ok(Val::Number(folded));
    }
    if op == BinaryOperator::Pow {
        return power(ctx, x, y, (a.span, b.span), span);
    }
    let (l, r) = unify(ctx, (x, a.span), (y, b.span), span)?;
    let (ir, l, r, negated) = match op {
        BinaryOperator::Add => (BinaryOp::Add, l, r, None),
        BinaryOperator::Sub => (BinaryOp::Sub, l, r, None),
        BinaryOperator::Mul => (BinaryOp::Mul, l, r, None),
        BinaryOperator::Div => (BinaryOp::Div, l, r, None),
        BinaryOperator::Greater => (BinaryOp::Greater, l, r, Some(false)),
        BinaryOperator::GreaterEq => (BinaryOp::GreaterEq, l, r, Some(false)),
        BinaryOperator::Less => (BinaryOp::Greater, r, l, Some(false)),
        BinaryOperator::LessEq => (BinaryOp::GreaterEq, r, l, Some(false)),
        BinaryOperator::Equal => (BinaryOp::Equal, l, r, Some(false)),
        BinaryOperator::NotEqual => (BinaryOp::Equal, l, r, Some(true)),
        BinaryOperator::Pow | BinaryOperator::MatMul => {
            unreachable!("invariant: handled above")
        }
    };
    let v = ctx.push(Op::Binary(ir, l, r), None, span)?;
    Ok(match negated {
        None => Val::Tensor(v),
        Some(negated) => Val::Condition { value: v, negated },
    })
}

/// `a ^ p`: small integer and half powers exactly, others as exp(p·log a) (for a > 0).
fn power(
    ctx: &mut MathCtx,
    base: Val,
    exponent: Val,
    (base_span, exp_span): (Span, Span),
    span: Span,
) -> Result<Val, Diagnostic> {
    let Val::Tensor(x) = base else {
        // A number to a tensor power: exp(t · ln a).
        let a = number(ctx, base, base_span, "the base")?;
        let Val::Tensor(t) = exponent else {
            unreachable!("invariant: two numbers are folded")
        };
        let scaled = ctx.push(
            Op::Unary(
                UnaryOp::Affine {
                    mul: a.ln(),
                    add: 0.0,
                },
                t,
            ),
            None,
            span,
        )?;
        return Ok(Val::Tensor(ctx.push(
            Op::Unary(UnaryOp::Exp, scaled),
            None,
            span,
        )?));
    };
    let p = match exponent {
        Val::Number(p) => p,
        Val::Tensor(t) => {
            let (l, e) = unify(
                ctx,
                (Val::Tensor(x), base_span),
                (Val::Tensor(t), exp_span),
                span,
            )?;
            let lg = ctx.push(Op::Unary(UnaryOp::Log, l), None, span)?;
            let m = ctx.push(Op::Binary(BinaryOp::Mul, e, lg), None, span)?;
            return Ok(Val::Tensor(ctx.push(
                Op::Unary(UnaryOp::Exp, m),
                None,
                span,
            )?));
        }
        Val::Condition { .. } => return Err(not_differentiable(ctx, exp_span)),
    };
    let mul = |ctx: &mut MathCtx, a, b| ctx.push(Op::Binary(BinaryOp::Mul, a, b), None, span);
    let v = if p == 1.0 {
        x
    } else if p == 0.5 {
        ctx.push(Op::Unary(UnaryOp::Sqrt, x), None, span)?
    } else if p.fract() == 0.0 && (2.0..=4.0).contains(&p.abs()) || p == -1.0 {
        // x², x³, x⁴ by repeated products (exact derivatives, no log of a negative base).
        let mut acc = x;
        for _ in 1..(p.abs() as usize) {
            acc = mul(ctx, acc, x)?;
        }
        if p < 0.0 {
            let one = ctx.constant(1.0, &ctx.f.shape(acc).clone(), span)?;
            ctx.push(Op::Binary(BinaryOp::Div, one, acc), None, span)?
        } else {
            acc
        }
    } else if p == 0.0 {
        let s = ctx.f.shape(x).clone();
        ctx.constant(1.0, &s, span)?
    } else {
        let lg = ctx.push(Op::Unary(UnaryOp::Log, x), None, span)?;
        let m = ctx.push(
            Op::Unary(UnaryOp::Affine { mul: p, add: 0.0 }, lg),
            None,
            span,
        )?;
        ctx.push(Op::Unary(UnaryOp::Exp, m), None, span)?
    };
    Ok(Val::Tensor(v))
}

/// An operand of `@`, with `transpose(...)` around it folded into the product's flags.
fn matmul_operand(ctx: &mut MathCtx, env: &Env, e: &Expr) -> Result<(ValueId, bool), Diagnostic> {
    let (inner, transposed) = match &e.kind {
        ExprKind::Call {
            name,
            args,
            applied_to: None,
            ..
        } if name.name == "transpose" && args.len() == 1 => match &args[0] {
            ExprArg::Positional(x) => (x, true),
            ExprArg::Named { .. } => (e, false),
        },
        _ => (e, false),
    };
    let v = emit(ctx, env, inner)?;
    match numeric(ctx, v, inner.span)? {
        Val::Tensor(t) if ctx.f.shape(t).rank() == 2 => Ok((t, transposed)),
        Val::Tensor(t) => {
            let s = ctx.f.shape(t).clone();
            Err(error(
                ctx,
                "nnc::shape::mismatch",
                format!(
                    "`@` multiplies matrices, but `{}` is {s}",
                    text(ctx, inner.span)
                ),
                inner.span,
                "not a matrix",
                "both sides of `@` need two dimensions, e.g. (B, 64) @ (64, 32)",
            ))
        }
        Val::Number(_) | Val::Condition { .. } => Err(error(
            ctx,
            "nnc::shape::mismatch",
            "`@` multiplies matrices, not numbers".into(),
            inner.span,
            "a number",
            "use `*` to scale",
        )),
    }
}

fn matmul(ctx: &mut MathCtx, env: &Env, a: &Expr, b: &Expr, span: Span) -> Result<Val, Diagnostic> {
    let (x, ta) = matmul_operand(ctx, env, a)?;
    let (y, tb) = matmul_operand(ctx, env, b)?;
    let op = Op::MatMul {
        a: x,
        b: y,
        transpose_a: ta,
        transpose_b: tb,
    };
    let o = origin(ctx, span);
    match ctx.f.try_push(op, None, None, o) {
        Ok(v) => Ok(Val::Tensor(v)),
        Err(e) => Err(Diagnostic::new(
            "nnc::shape::mismatch",
            format!("shape mismatch: {}", e.message),
        )
        .with_source(ctx.source)
        .with_label(at(ctx, a.span), format!("{}", ctx.f.shape(x)))
        .with_label(at(ctx, b.span), format!("{}", ctx.f.shape(y)))
        .with_help("in `a @ b`, the last dimension of `a` must equal the first of `b`")),
    }
}

/// Positional and named arguments of a call, evaluated.
struct Args {
    positional: Vec<(Val, Span)>,
    named: Vec<(Ident, Val, Span)>,
}

fn eval_args(ctx: &mut MathCtx, env: &Env, args: &[ExprArg]) -> Result<Args, Diagnostic> {
    let mut out = Args {
        positional: vec![],
        named: vec![],
    };
    for a in args {
        match a {
            ExprArg::Positional(e) => out.positional.push((emit(ctx, env, e)?, e.span)),
            ExprArg::Named { name, value } => {
                out.named
                    .push((name.clone(), emit(ctx, env, value)?, value.span))
            }
        }
    }
    Ok(out)
}

fn arity(
    ctx: &MathCtx,
    name: &Ident,
    args: &Args,
    want: usize,
    span: Span,
    usage: &str,
) -> Result<(), Diagnostic> {
    if let Some((n, _, s)) = args.named.first() {
        if !(name.name == "sum" || name.name == "mean" || name.name == "param")
            || n.name != "axis" && n.name != "init"
        {
            return Err(error(
                ctx,
                "nnc::lower::unknown_option",
                format!("`{}` takes no option `{}`", name.name, n.name),
                *s,
                "not an option here",
                &format!("write `{usage}`"),
            ));
        }
    }
    if args.positional.len() != want {
        return Err(error(
            ctx,
            "nnc::math::arguments",
            format!(
                "`{}` takes {want} argument(s), given {}",
                name.name,
                args.positional.len()
            ),
            span,
            "here",
            &format!("write `{usage}`"),
        ));
    }
    Ok(())
}

fn call(
    ctx: &mut MathCtx,
    env: &Env,
    name: &Ident,
    args: &[ExprArg],
    parens: bool,
    span: Span,
) -> Result<Val, Diagnostic> {
    if !parens {
        if let Some(v) = env.get(&name.name) {
            return Ok(*v);
        }
    }
    if let Some(d) = ctx.defs.iter().position(|d| d.name.name == name.name) {
        let a = eval_args(ctx, env, args)?;
        return call_def(ctx, d, a.positional, a.named, span);
    }
    if !is_builtin(&name.name) {
        let bound: Vec<&str> = env.keys().map(String::as_str).collect();
        return Err(unknown_name(ctx.source, name, bound, ctx.defs));
    }
    if name.name == "param" {
        return param(ctx, env, args, span);
    }
    let a = eval_args(ctx, env, args)?;
    let unary = |u: UnaryOp, f: fn(f64) -> f64| (u, f);
    let elementwise = match name.name.as_str() {
        "exp" => Some(unary(UnaryOp::Exp, f64::exp)),
        "expm1" => Some(unary(UnaryOp::Expm1, f64::exp_m1)),
        "log" => Some(unary(UnaryOp::Log, f64::ln)),
        "sqrt" => Some(unary(UnaryOp::Sqrt, f64::sqrt)),
        "relu" => Some(unary(UnaryOp::Relu, |x| x.max(0.0))),
        "sigmoid" => Some(unary(UnaryOp::Sigmoid, |x| 1.0 / (1.0 + (-x).exp()))),
        "tanh" => Some(unary(UnaryOp::Tanh, f64::tanh)),
        "softplus" => Some(unary(UnaryOp::Softplus, |x| {
            x.max(0.0) + (-x.abs()).exp().ln_1p()
        })),
        _ => None,
    };
    if let Some((u, fold)) = elementwise {
        arity(ctx, name, &a, 1, span, &format!("{}(x)", name.name))?;
        let (x, xs) = a.positional[0];
        return Ok(match numeric(ctx, x, xs)? {
            Val::Number(n) => Val::Number(fold(n)),
            Val::Tensor(t) => Val::Tensor(ctx.push(Op::Unary(u, t), None, span)?),
            Val::Condition { .. } => unreachable!("invariant: `numeric` refuses conditions"),
        });
    }
    match name.name.as_str() {
        "abs" => {
            arity(ctx, name, &a, 1, span, "abs(x)")?;
            let (x, xs) = a.positional[0];
            match numeric(ctx, x, xs)? {
                Val::Number(n) => Ok(Val::Number(n.abs())),
                Val::Tensor(t) => {
                    let n = ctx.push(Op::Unary(UnaryOp::Neg, t), None, span)?;
                    Ok(Val::Tensor(ctx.push(
                        Op::Binary(BinaryOp::Max, t, n),
                        None,
                        span,
                    )?))
                }
                Val::Condition { .. } => unreachable!("invariant: `numeric` refuses conditions"),
            }
        }
        "min" | "max" | "add" => {
            if name.name == "add" && a.positional.len() >= 2 {
                let mut acc = a.positional[0];
                for &next in &a.positional[1..] {
                    let x = numeric(ctx, acc.0, acc.1)?;
                    let y = numeric(ctx, next.0, next.1)?;
                    let (l, r) = unify(ctx, (x, acc.1), (y, next.1), span)?;
                    acc = (
                        Val::Tensor(ctx.push(Op::Binary(BinaryOp::Add, l, r), None, span)?),
                        span,
                    );
                }
                return Ok(acc.0);
            }
            arity(ctx, name, &a, 2, span, &format!("{}(a, b)", name.name))?;
            let (x, xs) = a.positional[0];
            let (y, ys) = a.positional[1];
            let (x, y) = (numeric(ctx, x, xs)?, numeric(ctx, y, ys)?);
            if let (Val::Number(p), Val::Number(q)) = (x, y) {
                return Ok(Val::Number(if name.name == "min" {
                    p.min(q)
                } else {
                    p.max(q)
                }));
            }
            let (l, r) = unify(ctx, (x, xs), (y, ys), span)?;
            let op = if name.name == "min" {
                BinaryOp::Min
            } else {
                BinaryOp::Max
            };
            Ok(Val::Tensor(ctx.push(Op::Binary(op, l, r), None, span)?))
        }
        "where" => {
            arity(ctx, name, &a, 3, span, "where(condition, a, b)")?;
            let (c, cs) = a.positional[0];
            let Val::Condition { value, negated } = c else {
                return Err(error(
                    ctx,
                    "nnc::math::expected_condition",
                    "the first argument of `where` is a comparison".into(),
                    cs,
                    "not a comparison",
                    "write e.g. `where(x > 0, x, 0.01 * x)`",
                ));
            };
            let (mut yes, ys) = a.positional[1];
            let (mut no, ns) = a.positional[2];
            if negated {
                std::mem::swap(&mut yes, &mut no);
            }
            let (yes, no) = (numeric(ctx, yes, ys)?, numeric(ctx, no, ns)?);
            let (y, n) = unify(ctx, (yes, ys), (no, ns), span)?;
            let (y, c) = unify(ctx, (Val::Tensor(y), ys), (Val::Tensor(value), cs), span)?;
            let (n, c) = unify(ctx, (Val::Tensor(n), ns), (Val::Tensor(c), cs), span)?;
            let (y, _) = unify(ctx, (Val::Tensor(y), ys), (Val::Tensor(n), ns), span)?;
            Ok(Val::Tensor(ctx.push(
                Op::Select {
                    condition: c,
                    yes: y,
                    no: n,
                },
                None,
                span,
            )?))
        }
        "sum" | "mean" => reduce(ctx, name, &a, span),
        "concat" => {
            if a.positional.len() < 2 || !a.named.is_empty() {
                return Err(error(
                    ctx,
                    "nnc::math::arguments",
                    format!(
                        "`concat` joins two or more values, given {}",
                        a.positional.len()
                    ),
                    span,
                    "here",
                    "write e.g. `concat(h, g)`",
                ));
            }
            let mut parts = Vec::new();
            for &(v, vs) in &a.positional {
                match numeric(ctx, v, vs)? {
                    Val::Tensor(t) if ctx.f.shape(t).rank() > 0 => parts.push((t, vs)),
                    _ => {
                        return Err(error(
                            ctx,
                            "nnc::math::expected_tensor",
                            "`concat` joins tensors along their last axis".into(),
                            vs,
                            "not a tensor with an axis",
                            "give it layers' outputs, e.g. `concat(h, g)`",
                        ))
                    }
                }
            }
            let (mut acc, first_span) = parts[0];
            for &(t, ts) in &parts[1..] {
                let o = origin(ctx, span);
                acc = match ctx.f.try_push(Op::Concat { a: acc, b: t }, None, None, o) {
                    Ok(v) => v,
                    Err(_) => {
                        let (sa, sb) = (ctx.f.shape(acc).clone(), ctx.f.shape(t).clone());
                        return Err(Diagnostic::new(
                            "nnc::shape::mismatch",
                            format!("shape mismatch: `concat` joins values that agree in all but the last axis, but they are {sa} and {sb}"),
                        )
                        .with_source(ctx.source)
                        .with_label(at(ctx, first_span), format!("{sa}"))
                        .with_label(at(ctx, ts), format!("{sb}"))
                        .with_help("join values with one row per example, e.g. two layers' outputs"));
                    }
                };
            }
            Ok(Val::Tensor(acc))
        }
        "softmax" | "log_softmax" => {
            arity(ctx, name, &a, 1, span, &format!("{}(x)", name.name))?;
            let (x, xs) = a.positional[0];
            let Val::Tensor(t) = numeric(ctx, x, xs)? else {
                return Err(error(
                    ctx,
                    "nnc::math::expected_tensor",
                    format!("`{}` works along a tensor's last axis", name.name),
                    xs,
                    "a number",
                    "give it a layer's output",
                ));
            };
            let lp = ctx.push(Op::LogSoftmax(t), None, span)?;
            if name.name == "log_softmax" {
                return Ok(Val::Tensor(lp));
            }
            Ok(Val::Tensor(ctx.push(
                Op::Unary(UnaryOp::Exp, lp),
                None,
                span,
            )?))
        }
        "width" => {
            arity(ctx, name, &a, 1, span, "width(x)")?;
            let (x, xs) = a.positional[0];
            match x {
                Val::Tensor(t) | Val::Condition { value: t, .. } => match ctx.f.shape(t).0.last() {
                    Some(Dim::Fixed(n)) => Ok(Val::Number(*n as f64)),
                    _ => Err(error(
                        ctx,
                        "nnc::math::expected_tensor",
                        "`width` is the last dimension of a tensor with one".into(),
                        xs,
                        "no last dimension",
                        "give it a layer's output",
                    )),
                },
                Val::Number(_) => Ok(Val::Number(1.0)),
            }
        }
        "transpose" => Err(error(
            ctx,
            "nnc::math::transpose",
            "`transpose` is supported as an operand of `@`".into(),
            span,
            "outside a matrix product",
            "write e.g. `x @ transpose(w)`",
        )),
        other => unreachable!("invariant: every built-in is handled, `{other}` is not"),
    }
}

/// `sum(x)` (everything, a scalar) or `sum(x, axis: k)` (keeping that axis as 1, except the
/// batch axis, which goes); `mean` divides by the count.
fn reduce(ctx: &mut MathCtx, name: &Ident, a: &Args, span: Span) -> Result<Val, Diagnostic> {
    let usage = format!("{}(x) or {}(x, axis: -1)", name.name, name.name);
    arity(ctx, name, a, 1, span, &usage)?;
    let (x, xs) = a.positional[0];
    let t = match numeric(ctx, x, xs)? {
        Val::Number(n) => return Ok(Val::Number(n)),
        Val::Tensor(t) => t,
        Val::Condition { .. } => unreachable!("invariant: `numeric` refuses conditions"),
    };
    let shape = ctx.f.shape(t).clone();
    let target = match a.named.iter().find(|(n, _, _)| n.name == "axis") {
        None => Shape::scalar(),
        Some((_, v, vs)) => {
            let k = number(ctx, *v, *vs, "the axis")?;
            let rank = shape.rank() as f64;
            let axis = if k < 0.0 { rank + k } else { k };
            if axis.fract() != 0.0 || axis < 0.0 || axis >= rank {
                return Err(error(
                    ctx,
                    "nnc::math::axis",
                    format!(
                        "axis {k} is outside a tensor of {} dimension(s), {shape}",
                        shape.rank()
                    ),
                    *vs,
                    "no such axis",
                    "count axes from 0, or from the end with -1",
                ));
            }
            let axis = axis as usize;
            let mut dims = shape.0.clone();
            if dims[axis] == Dim::Batch {
                dims.remove(axis);
            } else {
                dims[axis] = Dim::Fixed(1);
            }
            Shape(dims)
        }
    };
    let s = ctx.push(Op::SumTo(t), Some(target.clone()), span)?;
    if name.name == "sum" {
        return Ok(Val::Tensor(s));
    }
    // The count: the fixed extents summed over, times the batch size if it was summed over.
    let fixed_in = |s: &Shape| {
        s.0.iter()
            .map(|d| match d {
                Dim::Fixed(n) => *n,
                Dim::Batch => 1,
            })
            .product::<usize>()
    };
    let count = (fixed_in(&shape) / fixed_in(&target).max(1)) as f64;
    let batch_summed = shape.has_batch() && !target.has_batch();
    let divisor = if batch_summed {
        let b = ctx.push(Op::BatchSize, None, span)?;
        ctx.push(
            Op::Unary(
                UnaryOp::Affine {
                    mul: count,
                    add: 0.0,
                },
                b,
            ),
            None,
            span,
        )?
    } else {
        ctx.push(Op::Const(count), None, span)?
    };
    let divisor = if target.rank() == 0 {
        divisor
    } else {
        ctx.push(Op::Broadcast(divisor), Some(target.clone()), span)?
    };
    Ok(Val::Tensor(ctx.push(
        Op::Binary(BinaryOp::Div, s, divisor),
        None,
        span,
    )?))
}

/// `param(d1, d2, ..., init: glorot_uniform | zeros)`: a trained parameter of this use of the
/// def, initialized with Glorot's uniform rule when it is a matrix and with zeros otherwise.
fn param(ctx: &mut MathCtx, env: &Env, args: &[ExprArg], span: Span) -> Result<Val, Diagnostic> {
    if !ctx.params_allowed {
        return Err(error(
            ctx,
            "nnc::math::param_in_loss",
            "a loss has no parameters of its own".into(),
            span,
            "a parameter",
            "declare parameters in a def used as a layer or an activation",
        ));
    }
    let mut dims = Vec::new();
    let mut init: Option<&Expr> = None;
    for a in args {
        match a {
            ExprArg::Positional(e) => {
                let v = emit(ctx, env, e)?;
                let n = number(ctx, v, e.span, "a parameter's dimension")?;
                if n.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&n) {
                    return Err(error(
                        ctx,
                        "nnc::lower::out_of_range",
                        format!(
                            "a parameter's dimension must be a whole number of at least 1, not {n}"
                        ),
                        e.span,
                        "not a dimension",
                        "write e.g. `param(width(x), 64)`",
                    ));
                }
                dims.push(n as usize);
            }
            ExprArg::Named { name, value } if name.name == "init" => init = Some(value),
            ExprArg::Named { name, .. } => {
                return Err(error(
                    ctx,
                    "nnc::lower::unknown_option",
                    format!("`param` takes no option `{}`", name.name),
                    name.span,
                    "not an option of param",
                    &unknown_help(&name.name, "options", &["init"]),
                ))
            }
        }
    }
    if dims.is_empty() || dims.len() > 2 {
        return Err(error(
            ctx,
            "nnc::math::arguments",
            format!(
                "a parameter has one or two dimensions, given {}",
                dims.len()
            ),
            span,
            "here",
            "write `param(width(x), units)` for a matrix or `param(units)` for a vector",
        ));
    }
    // The initializers of layers (`init:` of `dense`), with a matrix's fans its two dimensions
    // and a vector's its length; by default Glorot's uniform rule for a matrix, zeros for a vector.
    let (fan_in, fan_out) = (dims[0], *dims.last().expect("invariant: checked above"));
    let init = match init {
        None if dims.len() == 2 => Init::GlorotUniform { fan_in, fan_out },
        None => Init::Zeros,
        Some(e) => {
            let call =
                match e.to_value().map(|v| v.kind) {
                    Some(crate::syntax::ast::ValueKind::Call(c)) => c,
                    _ => return Err(error(
                        ctx,
                        "nnc::lower::wrong_kind",
                        "`init` names an initializer".into(),
                        e.span,
                        "not an initializer",
                        "write e.g. `init: glorot_uniform`, `init: ones` or `init: normal(0.01)`",
                    )),
                };
            let d = resolve_initializer(ctx.source, &call)?;
            super::regularize::init_of(d, fan_in, fan_out)
        }
    };
    // `gated1_w` for `w = param(...)` in the first use of `gated`; a second parameter in one
    // binding gets a number. The same lowering gives the same names, which is how a second
    // function finds the parameters the first declared.
    let base = format!(
        "{}_{}",
        ctx.prefix,
        ctx.binding.clone().unwrap_or_else(|| "p".into())
    );
    let seen = ctx.counters.entry(format!("param {base}")).or_insert(0);
    *seen += 1;
    let name = if *seen == 1 {
        base
    } else {
        format!("{base}{seen}")
    };
    let shape = Shape::fixed(&dims);
    if let Some(v) = ctx.f.arg_named(&name) {
        return Ok(Val::Tensor(v));
    }
    let o = origin(ctx, span);
    let v = ctx.f.add_arg(&name, shape, ArgRole::Param, o.clone());
    ctx.params.push(ParamSpec {
        name,
        shape: dims,
        init,
        owner: Owner::Math {
            origin: o.expect("invariant: `origin` always gives one"),
            node: ctx.node,
        },
    });
    Ok(Val::Tensor(v))
}

/// Lower a use of def number `d` with these arguments: positional ones bind the def's
/// parameters in order, named ones by name, and the rest take their defaults. Inside a prelude
/// def every span shown is the use's.
pub fn call_def(
    ctx: &mut MathCtx,
    d: usize,
    positional: Vec<(Val, Span)>,
    named: Vec<(Ident, Val, Span)>,
    span: Span,
) -> Result<Val, Diagnostic> {
    if ctx.depth >= MAX_DEPTH {
        let name = ctx.defs[d].name.name.clone();
        return Err(error(
            ctx,
            "nnc::math::recursion",
            format!("`{name}` is used inside itself: defs nest more than {MAX_DEPTH} deep"),
            span,
            "used here",
            "a def cannot call itself, directly or through another def",
        ));
    }
    let outer_site = ctx.use_site;
    if d >= ctx.prelude_start && ctx.use_site.is_none() {
        ctx.use_site = Some(span);
    }
    ctx.depth += 1;
    let result = bind_and_lower(ctx, d, positional, named, span);
    ctx.depth -= 1;
    ctx.use_site = outer_site;
    result
}

fn bind_and_lower(
    ctx: &mut MathCtx,
    d: usize,
    positional: Vec<(Val, Span)>,
    named: Vec<(Ident, Val, Span)>,
    span: Span,
) -> Result<Val, Diagnostic> {
    let def = &ctx.defs[d];
    let names: Vec<&str> = def.params.iter().map(|p| p.name.name.as_str()).collect();
    if positional.len() > def.params.len() {
        return Err(error(
            ctx,
            "nnc::lower::too_many_arguments",
            format!(
                "`{}` takes {} argument(s), given {}",
                def.name.name,
                def.params.len(),
                positional.len()
            ),
            span,
            "here",
            &format!("`{}({})`", def.name.name, names.join(", ")),
        )
        .with_label(at(ctx, def.name.span), "defined here"));
    }
    let mut env: Env = HashMap::new();
    for (p, (v, _)) in def.params.iter().zip(&positional) {
        env.insert(p.name.name.clone(), *v);
    }
    for (n, v, _) in &named {
        if !names.contains(&n.name.as_str()) {
            return Err(error(
                ctx,
                "nnc::lower::unknown_option",
                format!("`{}` has no parameter `{}`", def.name.name, n.name),
                n.span,
                "not a parameter",
                &unknown_help(&n.name, "parameters", &names),
            )
            .with_label(at(ctx, def.name.span), "defined here"));
        }
        if env.insert(n.name.clone(), *v).is_some() {
            return Err(error(
                ctx,
                "nnc::lower::duplicate_option",
                format!("`{}` is given twice", n.name),
                n.span,
                "given again here",
                "give each parameter once",
            ));
        }
    }
    let def = def.clone();
    for p in &def.params {
        if env.contains_key(&p.name.name) {
            continue;
        }
        let Some(default) = &p.default else {
            return Err(error(
                ctx,
                "nnc::lower::missing_option",
                format!("`{}` needs its parameter `{}`", def.name.name, p.name.name),
                span,
                "missing here",
                &format!("give it, e.g. `{}({})`", def.name.name, names.join(", ")),
            )
            .with_label(at(ctx, p.name.span), "the parameter"));
        };
        let v = emit(ctx, &HashMap::new(), default)?;
        env.insert(p.name.name.clone(), v);
    }
    let outer = ctx.prefix.clone();
    let count = ctx.counters.entry(outer.clone()).or_insert(0);
    *count += 1;
    ctx.prefix = if outer.is_empty() {
        format!("{}{count}", def.name.name)
    } else {
        format!("{outer}_{}{count}", def.name.name)
    };
    let result = (|| {
        for b in &def.body {
            ctx.binding = Some(b.name.name.clone());
            let v = emit(ctx, &env, &b.value);
            ctx.binding = None;
            env.insert(b.name.name.clone(), v?);
        }
        emit(ctx, &env, &def.result)
    })();
    ctx.prefix = outer;
    result
}
