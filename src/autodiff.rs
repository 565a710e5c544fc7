//! Reverse-mode automatic differentiation, IR to IR. Given a function with a scalar output, it
//! appends to a copy of the function the equations of the backward pass (the vector-Jacobian
//! product of every op, in reverse order) and outputs the gradient of each requested argument.
//! No number is evaluated and no tape exists at run time: the gradient is just more IR, which the
//! interpreter and the code generator treat like any other. Adjoints keep the primal's origin, so a
//! problem in the backward pass still points at the layer that caused it.

use crate::ir::{ArgRole, BinaryOp, Dim, Function, Op, Shape, UnaryOp, ValueId};

/// A function that computes a scalar output and its gradient, with typed handles to both: the
/// optimizer and the driver use these, never the printed names.
#[derive(Clone, Debug)]
pub struct Gradient {
    pub function: Function,
    /// The differentiated output.
    pub of: ValueId,
    /// Each argument differentiated with respect to, with the value holding its gradient, in
    /// argument order.
    pub wrt: Vec<(ValueId, ValueId)>,
}

/// A function that computes `of` and its gradient with respect to every argument of role
/// `wrt`, in argument order. Gradients are also outputs named `d_<name>`, for reading the IR.
pub fn gradient(f: &Function, of: &str, wrt: ArgRole) -> Gradient {
    let mut g = f.clone();
    g.name = format!("{}_grad", f.name);
    let seed_value = f
        .output_named(of)
        .unwrap_or_else(|| panic!("invariant: `{of}` is an output of `{}`", f.name));
    assert!(
        f.shape(seed_value).rank() == 0,
        "invariant: gradients are taken of scalar outputs"
    );
    let targets: Vec<ValueId> = f.args_with_role(wrt).collect();
    let active = active_values(f, &targets);

    let mut adjoint: Vec<Option<ValueId>> = vec![None; f.values.len()];
    let one = g.push(Op::Const(1.0), None, Some(&format!("d_{of}")), None);
    adjoint[seed_value.index()] = Some(one);

    for eq in f.body.iter().rev() {
        let Some(dy) = adjoint[eq.out.index()] else {
            continue;
        };
        // Values made by this VJP have generated names; the first contribution to an adjoint is
        // renamed after it, while a value passed through unchanged (`dy` of an add) keeps its name.
        let made_here = g.values.len();
        for (operand, contribution) in vjp(&mut g, &eq.op, eq.out, dy, &active) {
            let name = format!("d_{}", g.name_of(operand));
            let origin = g.origin(operand).cloned();
            let total = match adjoint[operand.index()] {
                None => {
                    if contribution.index() >= made_here {
                        g.rename(contribution, &name);
                    }
                    contribution
                }
                Some(prev) => g.push(
                    Op::Binary(BinaryOp::Add, prev, contribution),
                    None,
                    Some(&name),
                    origin,
                ),
            };
            adjoint[operand.index()] = Some(total);
        }
    }

    let mut grads = Vec::with_capacity(targets.len());
    for t in targets {
        let name = format!("d_{}", f.name_of(t));
        let d = match adjoint[t.index()] {
            Some(d) => d,
            // A parameter the output does not depend on has a zero gradient.
            None => {
                let zero = g.push(Op::Const(0.0), None, None, None);
                g.push(
                    Op::Broadcast(zero),
                    Some(f.shape(t).clone()),
                    Some(&name),
                    None,
                )
            }
        };
        g.add_output(&name, d);
        grads.push((t, d));
    }
    Gradient {
        function: g,
        of: seed_value,
        wrt: grads,
    }
}

/// Values that depend on any of `targets`: only these need adjoints.
fn active_values(f: &Function, targets: &[ValueId]) -> Vec<bool> {
    let mut active = vec![false; f.values.len()];
    for t in targets {
        active[t.index()] = true;
    }
    for eq in &f.body {
        // A comparison's result is piecewise constant in its operands: nothing flows back through
        // it, so it does not make what it feeds depend on the parameters.
        let comparison = matches!(eq.op, Op::Binary(b, ..) if b.is_comparison());
        if !comparison && eq.op.operands().iter().any(|v| active[v.index()]) {
            active[eq.out.index()] = true;
        }
    }
    active
}

/// The extent of `v`'s last axis, which concat and slice operands have (`shape::infer`).
fn last_width(g: &Function, v: ValueId) -> usize {
    match g.shape(v).0.last() {
        Some(Dim::Fixed(w)) => *w,
        _ => panic!("invariant: concat and slice operands have a fixed last axis"),
    }
}

/// ln √(2π), the normal density's log normalizer.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// The contributions of one equation `y = op(...)` to its operands' adjoints, given `dy`. Only
/// operands that are active get a contribution.
fn vjp(
    g: &mut Function,
    op: &Op,
    y: ValueId,
    dy: ValueId,
    active: &[bool],
) -> Vec<(ValueId, ValueId)> {
    let origin = g.origin(y).cloned();
    let mut out = Vec::new();
    let push =
        |g: &mut Function, op: Op, target: Option<Shape>| g.push(op, target, None, origin.clone());
    let mul = |a, b| Op::Binary(BinaryOp::Mul, a, b);
    let select = |condition, yes, no| Op::Select { condition, yes, no };
    // Zeros of `like`'s shape: a scalar constant, broadcast (a splat in generated code).
    let zeros_like = |g: &mut Function, like: ValueId| {
        let zero = g.push(Op::Const(0.0), None, None, origin.clone());
        let s = g.shape(like).clone();
        if s.rank() == 0 {
            zero
        } else {
            g.push(Op::Broadcast(zero), Some(s), None, origin.clone())
        }
    };
    match op {
        Op::Const(_) | Op::BatchSize | Op::Vector(_) => {}
        Op::Unary(u, x) => {
            let x = *x;
            if !active[x.index()] {
                return out;
            }
            let dx = match u {
                UnaryOp::Neg => push(g, Op::Unary(UnaryOp::Neg, dy), None),
                UnaryOp::Exp => push(g, mul(dy, y), None),
                // d(exp(x) − 1) = exp(x) = y + 1.
                UnaryOp::Expm1 => {
                    let e = push(
                        g,
                        Op::Unary(UnaryOp::Affine { mul: 1.0, add: 1.0 }, y),
                        None,
                    );
                    push(g, mul(dy, e), None)
                }
                UnaryOp::Log => push(g, Op::Binary(BinaryOp::Div, dy, x), None),
                UnaryOp::Sqrt => {
                    let two_y = push(
                        g,
                        Op::Unary(UnaryOp::Affine { mul: 2.0, add: 0.0 }, y),
                        None,
                    );
                    push(g, Op::Binary(BinaryOp::Div, dy, two_y), None)
                }
                UnaryOp::Relu => {
                    let step = push(g, Op::Unary(UnaryOp::Heaviside, x), None);
                    push(g, mul(dy, step), None)
                }
                // Step functions: zero derivative almost everywhere, so nothing flows back.
                UnaryOp::Heaviside | UnaryOp::LeakySlope { .. } => return out,
                UnaryOp::LeakyRelu { alpha } => {
                    let slope = push(g, Op::Unary(UnaryOp::LeakySlope { alpha: *alpha }, x), None);
                    push(g, mul(dy, slope), None)
                }
                UnaryOp::Sigmoid => {
                    let one_minus = push(
                        g,
                        Op::Unary(
                            UnaryOp::Affine {
                                mul: -1.0,
                                add: 1.0,
                            },
                            y,
                        ),
                        None,
                    );
                    let local = push(g, mul(y, one_minus), None);
                    push(g, mul(dy, local), None)
                }
                UnaryOp::Tanh => {
                    let y2 = push(g, mul(y, y), None);
                    let local = push(
                        g,
                        Op::Unary(
                            UnaryOp::Affine {
                                mul: -1.0,
                                add: 1.0,
                            },
                            y2,
                        ),
                        None,
                    );
                    push(g, mul(dy, local), None)
                }
                UnaryOp::Softplus => {
                    let s = push(g, Op::Unary(UnaryOp::Sigmoid, x), None);
                    push(g, mul(dy, s), None)
                }
                UnaryOp::Affine { mul: m, .. } => push(
                    g,
                    Op::Unary(UnaryOp::Affine { mul: *m, add: 0.0 }, dy),
                    None,
                ),
                UnaryOp::Abs => {
                    let s = push(g, Op::Unary(UnaryOp::Sign, x), None);
                    push(g, mul(dy, s), None)
                }
                // Piecewise constant, like the step functions above.
                UnaryOp::Sign => return out,
                // dΦ/dx = φ(x) = exp(−x²/2 − ln√(2π)); x² overflowing to +inf gives φ = 0, the
                // right limit, so no NaN for any finite x.
                UnaryOp::NormalCdf => {
                    let x2 = push(g, mul(x, x), None);
                    let e = push(
                        g,
                        Op::Unary(
                            UnaryOp::Affine {
                                mul: -0.5,
                                add: -LN_SQRT_2PI,
                            },
                            x2,
                        ),
                        None,
                    );
                    let density = push(g, Op::Unary(UnaryOp::Exp, e), None);
                    push(g, mul(dy, density), None)
                }
            };
            out.push((x, dx));
        }
        Op::Binary(b, x1, x2) => {
            let (x1, x2) = (*x1, *x2);
            let (a1, a2) = (active[x1.index()], active[x2.index()]);
            match b {
                BinaryOp::Add => {
                    if a1 {
                        out.push((x1, dy));
                    }
                    if a2 {
                        out.push((x2, dy));
                    }
                }
                BinaryOp::Sub => {
                    if a1 {
                        out.push((x1, dy));
                    }
                    if a2 {
                        out.push((x2, push(g, Op::Unary(UnaryOp::Neg, dy), None)));
                    }
                }
                BinaryOp::Mul => {
                    if a1 {
                        out.push((x1, push(g, mul(dy, x2), None)));
                    }
                    if a2 {
                        out.push((x2, push(g, mul(dy, x1), None)));
                    }
                }
                BinaryOp::Div => {
                    if a1 {
                        out.push((x1, push(g, Op::Binary(BinaryOp::Div, dy, x2), None)));
                    }
                    if a2 {
                        // d(a/b)/db = -(a/b)/b = -y/b.
                        let dyy = push(g, mul(dy, y), None);
                        let q = push(g, Op::Binary(BinaryOp::Div, dyy, x2), None);
                        out.push((x2, push(g, Op::Unary(UnaryOp::Neg, q), None)));
                    }
                }
                BinaryOp::Max | BinaryOp::Min => {
                    // The adjoint goes to the operand that was chosen: x1 where the op picked
                    // it (x1 > x2 for max, x1 < x2 for min), else x2, as the forward op decides.
                    let picked = if *b == BinaryOp::Max {
                        push(g, Op::Binary(BinaryOp::Greater, x1, x2), None)
                    } else {
                        push(g, Op::Binary(BinaryOp::Greater, x2, x1), None)
                    };
                    let zero = zeros_like(g, dy);
                    if a1 {
                        out.push((x1, push(g, select(picked, dy, zero), None)));
                    }
                    if a2 {
                        out.push((x2, push(g, select(picked, zero, dy), None)));
                    }
                }
                // A comparison is piecewise constant: no adjoint flows through it. The language
                // refuses to use its result as a number, so this is never a silent zero there.
                BinaryOp::Greater | BinaryOp::GreaterEq | BinaryOp::Equal => {}
            }
        }
        Op::MatMul {
            a,
            b,
            transpose_a: ta,
            transpose_b: tb,
        } => {
            let (a, b, ta, tb) = (*a, *b, *ta, *tb);
            let mm = |x, y, transpose_a, transpose_b| Op::MatMul {
                a: x,
                b: y,
                transpose_a,
                transpose_b,
            };
            // C = op(A)·op(B); d op(A) = dC·op(B)ᵀ and d op(B) = op(A)ᵀ·dC, transposed back when
            // the operand was used transposed.
            if active[a.index()] {
                let da = if ta {
                    mm(b, dy, tb, true)
                } else {
                    mm(dy, b, false, !tb)
                };
                out.push((a, push(g, da, None)));
            }
            if active[b.index()] {
                let db = if tb {
                    mm(dy, a, true, ta)
                } else {
                    mm(a, dy, !ta, false)
                };
                out.push((b, push(g, db, None)));
            }
        }
        Op::Broadcast(x) => {
            if active[x.index()] {
                let s = g.shape(*x).clone();
                out.push((*x, push(g, Op::SumTo(dy), Some(s))));
            }
        }
        Op::SumTo(x) => {
            if active[x.index()] {
                let s = g.shape(*x).clone();
                out.push((*x, push(g, Op::Broadcast(dy), Some(s))));
            }
        }
        Op::Concat { a, b } => {
            let wa = last_width(g, *a);
            let wb = last_width(g, *b);
            if active[a.index()] {
                let da = Op::Slice {
                    x: dy,
                    start: 0,
                    len: wa,
                };
                out.push((*a, push(g, da, None)));
            }
            if active[b.index()] {
                let db = Op::Slice {
                    x: dy,
                    start: wa,
                    len: wb,
                };
                out.push((*b, push(g, db, None)));
            }
        }
        Op::Slice { x, start, len } => {
            if active[x.index()] {
                // The adjoint of taking columns is putting them back between zeros.
                let width = last_width(g, *x);
                let zeros = |g: &mut Function, n: usize| {
                    let mut s = g.shape(dy).clone();
                    *s.0.last_mut().expect("invariant: a slice has a last axis") = Dim::Fixed(n);
                    let zero = g.push(Op::Const(0.0), None, None, origin.clone());
                    g.push(Op::Broadcast(zero), Some(s), None, origin.clone())
                };
                let mut dx = dy;
                if *start > 0 {
                    let before = zeros(g, *start);
                    dx = push(g, Op::Concat { a: before, b: dx }, None);
                }
                let after = width - start - len;
                if after > 0 {
                    let rest = zeros(g, after);
                    dx = push(g, Op::Concat { a: dx, b: rest }, None);
                }
                out.push((*x, dx));
            }
        }
        Op::Select { condition, yes, no } => {
            let zero = zeros_like(g, dy);
            if active[yes.index()] {
                out.push((*yes, push(g, select(*condition, dy, zero), None)));
            }
            if active[no.index()] {
                out.push((*no, push(g, select(*condition, zero, dy), None)));
            }
        }
        Op::DropoutMask { .. } | Op::NormalNoise { .. } => {
            // A random tensor is a function of the step counter alone, which is state, never a
            // parameter: nothing flows back through it (`x · mask` is differentiated by `mul`).
        }
        Op::LogSoftmax(x) => {
            if active[x.index()] {
                // dx = dy - softmax(x) · Σ dy (row-wise), with softmax(x) = exp(y).
                let s = g.shape(*x).clone();
                let mut row = s.clone();
                *row.0
                    .last_mut()
                    .expect("invariant: log_softmax has an axis") = crate::ir::Dim::Fixed(1);
                let total = push(g, Op::SumTo(dy), Some(row));
                let total = push(g, Op::Broadcast(total), Some(s));
                let p = push(g, Op::Unary(UnaryOp::Exp, y), None);
                let pt = push(g, mul(p, total), None);
                out.push((*x, push(g, Op::Binary(BinaryOp::Sub, dy, pt), None)));
            }
        }
    }
    out
}
