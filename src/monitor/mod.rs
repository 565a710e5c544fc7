//! Training statistics measured inside the compiled step: `instrument` appends to the step
//! function the reductions each statistic needs, as extra outputs, so that both executors compute
//! them with the step itself (no second pass over the data); `epoch` turns one epoch's sums of
//! those outputs into per-layer and per-parameter figures; `warn` names what they show is wrong.
//!
//! Per step, for each dense layer: the sum and the sum of squares of its output (before dropout),
//! and per unit, the number of examples whose pre-activation was positive (relu: the unit fired)
//! or beyond the saturation bound (sigmoid, tanh). For each parameter: the sums of squares of its
//! gradient and of the update. The weights' own norms need no pass in the step: `epoch` takes them
//! from the parameters at the epoch's end.

pub mod epoch;
pub mod panels;
pub mod warn;

use crate::ir::{BinaryOp, Dim, Equation, Function, Op, Shape, UnaryOp, ValueId};
use crate::lower::{Activation, DenseValues, ModelSpec, ParamSpec};

/// |pre-activation| beyond which a sigmoid unit counts as saturated: σ′(4) = 0.018, 7% of its
/// largest value, so a gradient through it is cut to a fourteenth or less.
pub const SIGMOID_SATURATION: f64 = 4.0;
/// The same for tanh: tanh′(2) = 0.071, 7% of its largest value.
pub const TANH_SATURATION: f64 = 2.0;

/// What one extra output of the step measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// Σ of a layer's output over the batch and its units (a scalar).
    OutputSum,
    /// Σ of its square (a scalar).
    OutputSquares,
    /// Per unit, the examples whose pre-activation was > 0 (a relu layer's units that fired).
    Fired,
    /// Per unit, the examples whose |pre-activation| exceeded the saturation bound.
    Saturated,
    /// Σ of a parameter's gradient squared (a scalar).
    GradientSquares,
    /// Σ of the update's square, new value minus old (a scalar).
    UpdateSquares,
}

/// One extra output of the instrumented step.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// The output's name in the step function.
    pub output: String,
    pub stat: Stat,
    /// What it measures: a dense layer (`ModelSpec::layers` index) or a parameter (by name).
    pub of: Subject,
    /// The number of values the output has: 1, or the layer's units.
    pub len: usize,
    /// The layer's units, or the parameter's number of values.
    pub units: usize,
    /// For a parameter: the dense layer (`ModelSpec::layers` index) it belongs to, if any, and
    /// whether it is the layer's weight matrix (rather than its bias).
    pub layer: Option<usize>,
    pub matrix: bool,
    /// What the output is multiplied by to give the statistic: `c²` for an update `Δ = c·x`
    /// whose `Σx²` the step sums (1 otherwise). Applied outside the step, so that the sum is an
    /// output no equation of the step reads (see `place`).
    pub scale: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    Layer(usize),
    Param(String),
}

/// Append the statistics' reductions to `step` as outputs and say what each is. `dense` names
/// each dense layer's values in `step`; `wrt` pairs each parameter with its gradient, and
/// `params` says what each belongs to; the parameters' new values are `step`'s updates.
pub fn instrument(
    step: &mut Function,
    spec: &ModelSpec,
    dense: &[DenseValues],
    wrt: &[(ValueId, ValueId)],
    params: &[ParamSpec],
) -> Vec<Probe> {
    let first_new = step.body.len();
    let mut probes = Vec::new();
    let mut add =
        |step: &mut Function, value: ValueId, stat: Stat, of: Subject, units: usize, scale: f64| {
            let tag = match &of {
                Subject::Layer(i) => format!("layer{}", i + 1),
                Subject::Param(p) => p.clone(),
            };
            let output = format!("monitor_{}_{tag}", stat_name(stat));
            let len = step.shape(value).extents(1).iter().product();
            step.add_output(&output, value);
            let owner = match &of {
                Subject::Layer(_) => None,
                Subject::Param(p) => params.iter().find(|s| &s.name == p),
            };
            probes.push(Probe {
                output,
                stat,
                of,
                len,
                units,
                layer: owner.and_then(ParamSpec::layer),
                matrix: owner.is_some_and(|s| s.shape.len() == 2),
                scale,
            });
        };
    for d in dense {
        let (Some(z), Some(h)) = (
            value_named(step, &d.pre_activation),
            value_named(step, &d.output),
        ) else {
            continue;
        };
        let of = || Subject::Layer(d.layer);
        let units = step.shape(h).extents(1).last().copied().unwrap_or(1);
        let sum = all_sum(step, h);
        add(step, sum, Stat::OutputSum, of(), units, 1.0);
        let sq = step.push(Op::Binary(BinaryOp::Mul, h, h), None, None, None);
        let squares = all_sum(step, sq);
        add(step, squares, Stat::OutputSquares, of(), units, 1.0);
        let layer = &spec.layers[d.layer];
        if layer.is_output || layer.activation_def.is_some() {
            continue;
        }
        match layer.activation {
            Activation::Relu => {
                let fired = step.push(Op::Unary(UnaryOp::Heaviside, z), None, None, None);
                let per_unit = unit_sum(step, fired);
                add(step, per_unit, Stat::Fired, of(), units, 1.0);
            }
            Activation::Sigmoid | Activation::Tanh => {
                let bound = match layer.activation {
                    Activation::Sigmoid => SIGMOID_SATURATION,
                    _ => TANH_SATURATION,
                };
                let size = step.push(Op::Unary(UnaryOp::Abs, z), None, None, None);
                let c = step.push(Op::Const(bound), None, None, None);
                let c = step.push(Op::Broadcast(c), Some(step.shape(z).clone()), None, None);
                let beyond = step.push(Op::Binary(BinaryOp::Greater, size, c), None, None, None);
                let per_unit = unit_sum(step, beyond);
                add(step, per_unit, Stat::Saturated, of(), units, 1.0);
            }
            _ => {}
        }
    }
    for &(p, g) in wrt {
        let subject = Subject::Param(step.name_of(p).to_string());
        let units = step.shape(p).extents(1).iter().product();
        let g2 = step.push(Op::Binary(BinaryOp::Mul, g, g), None, None, None);
        let g2 = all_sum(step, g2);
        add(step, g2, Stat::GradientSquares, subject.clone(), units, 1.0);
        if let Some(new) = step.updates.iter().find(|u| u.arg == p).map(|u| u.value) {
            // Every optimizer's update is `p − Δ`: Δ is squared where it is computed, so that
            // the update can still overwrite the parameter in place.
            let delta = match definition(step, new) {
                Some(Op::Binary(BinaryOp::Sub, a, d)) if a == p => d,
                _ => step.push(Op::Binary(BinaryOp::Sub, new, p), None, None, None),
            };
            // Δ = c·x (SGD's rate times the gradient or the velocity): the step sums x², with
            // no copy of Δ kept for the sum, and the probe's scale is c².
            let (scale, x) = scaled(step, delta).unwrap_or((1.0, delta));
            let x2 = step.push(Op::Binary(BinaryOp::Mul, x, x), None, None, None);
            let x2 = all_sum(step, x2);
            add(step, x2, Stat::UpdateSquares, subject, units, scale * scale);
        }
    }
    place(step, first_new);
    probes
}

/// `v` as a constant times another value, when its definition says so.
fn scaled(f: &Function, v: ValueId) -> Option<(f64, ValueId)> {
    let constant = |c: ValueId| match definition(f, c)? {
        Op::Const(k) => Some(k),
        Op::Broadcast(x) => match definition(f, x)? {
            Op::Const(k) => Some(k),
            _ => None,
        },
        _ => None,
    };
    match definition(f, v)? {
        Op::Unary(UnaryOp::Affine { mul, add: 0.0 }, x) => Some((mul, x)),
        Op::Binary(BinaryOp::Mul, a, b) => match (constant(a), constant(b)) {
            (Some(k), _) => Some((k, b)),
            (_, Some(k)) => Some((k, a)),
            _ => None,
        },
        _ => None,
    }
}

fn definition(f: &Function, v: ValueId) -> Option<Op> {
    f.body.iter().find(|eq| eq.out == v).map(|eq| eq.op.clone())
}

/// Place each equation from `first_new` on, in order, where the compiled step fuses it into a
/// loop it already has. First just after the last definition it reads: a reduction then runs
/// while what it reads is fresh, and nothing the step computes has to stay alive to its end for
/// it (a gradient, a parameter's old value). Then two moves later: a square `x·x` (a gradient's)
/// goes to just before the first equation of its shape that reads `x` (the optimizer's update of
/// that parameter), so that the square and its sum are computed in the update's loop, not in a
/// loop of their own; and a per-unit sum (a helper call, which ends a loop) goes after the
/// element-wise equations that follow it, so that it does not cut their loop in two. Last, a
/// broadcast and an equation of totals (`c²·Σx²`) go to just before their first reader, or to
/// the end: each is computed where it is used, not in a loop of its own or between two halves
/// of one. (Constants stay at the start, where they read nothing.)
fn place(f: &mut Function, first_new: usize) {
    let added: Vec<_> = f.body.drain(first_new..).collect();
    let outs: Vec<ValueId> = added.iter().map(|eq| eq.out).collect();
    for eq in added {
        let after = eq
            .op
            .operands()
            .iter()
            .filter_map(|v| f.body.iter().position(|e| e.out == *v))
            .max()
            .map_or(0, |i| i + 1);
        let shape = f.shape(eq.out).clone();
        let at = match eq.op {
            Op::Binary(BinaryOp::Mul, x, y) if x == y => f.body[after..]
                .iter()
                .position(|e| e.op.operands().contains(&x) && *f.shape(e.out) == shape)
                .map_or(after, |k| after + k),
            Op::SumTo(_) if shape.fixed_numel() != Some(1) => {
                let mut k = after;
                while k < f.body.len() && element_wise(f, &f.body[k]) {
                    k += 1;
                }
                k
            }
            _ => after,
        };
        f.body.insert(at, eq);
    }
    let total = |f: &Function, v: &ValueId| {
        f.body
            .iter()
            .any(|e| e.out == *v && matches!(e.op, Op::SumTo(_)))
            && f.shape(*v).fixed_numel() == Some(1)
    };
    for v in outs.into_iter().rev() {
        let Some(i) = f.body.iter().position(|e| e.out == v) else {
            continue;
        };
        let late = match &f.body[i].op {
            Op::Broadcast(_) => true,
            op => op.operands().iter().any(|x| total(f, x)),
        };
        if !late {
            continue;
        }
        let eq = f.body.remove(i);
        let at = f.body[i..]
            .iter()
            .position(|e| e.op.operands().contains(&v))
            .map_or(f.body.len(), |k| i + k);
        f.body.insert(at, eq);
    }
}

/// An equation computed element by element, or a sum of all elements (which joins such a loop).
fn element_wise(f: &Function, eq: &Equation) -> bool {
    match eq.op {
        Op::Const(_) | Op::BatchSize | Op::Unary(..) | Op::Binary(..) | Op::Select { .. } => true,
        Op::Broadcast(_) => true,
        Op::SumTo(_) => f.shape(eq.out).fixed_numel() == Some(1),
        _ => false,
    }
}

fn stat_name(stat: Stat) -> &'static str {
    match stat {
        Stat::OutputSum => "sum",
        Stat::OutputSquares => "squares",
        Stat::Fired => "fired",
        Stat::Saturated => "saturated",
        Stat::GradientSquares => "gradient_squares",
        Stat::UpdateSquares => "update_squares",
    }
}

/// The value named `name` that an equation of `f` defines: the step may have dropped a value
/// it does not need (a softmax output's probabilities), keeping only its name.
fn value_named(f: &Function, name: &str) -> Option<ValueId> {
    let v = ValueId(f.values.iter().position(|v| v.name == name)? as u32);
    f.body.iter().any(|eq| eq.out == v).then_some(v)
}

/// The sum of every element: a scalar.
fn all_sum(f: &mut Function, v: ValueId) -> ValueId {
    f.push(Op::SumTo(v), Some(Shape::scalar()), None, None)
}

/// The sum over the batch of a [B, n] value: [n].
fn unit_sum(f: &mut Function, v: ValueId) -> ValueId {
    let units = match f.shape(v).0.as_slice() {
        [Dim::Batch, Dim::Fixed(n)] => *n,
        other => panic!("invariant: a dense layer's values are [B, n], not {other:?}"),
    };
    f.push(Op::SumTo(v), Some(Shape::fixed(&[units])), None, None)
}
