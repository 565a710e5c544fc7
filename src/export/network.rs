//! The network half of an exported model: the evaluation function that `nnc predict` runs (the
//! program's `loss`, optimized, in evaluation mode), cut down to what its predictions depend on,
//! written as standard ONNX operators one IR equation at a time. Translating the IR rather than
//! the layers means every layer, activation and user-defined layer the language lowers exports
//! without a case of its own. Parameters and batch-norm statistics become initializers.

use std::collections::HashMap;

use super::graph::{Attr, Graph, BOOL, FLOAT};
use crate::ir::{ArgRole, BinaryOp, Dim, Function, Op, Shape, UnaryOp, ValueId};
use crate::lower::LOGIT_OUTPUT;

/// The ONNX names of the network's results.
pub struct Network {
    /// The model's `output` value: probabilities or standardized values, [N, width].
    pub output: String,
    /// The logit of a single sigmoid unit, when the model ends in one.
    pub logit: Option<String>,
}

/// Write the predictions of `f` (an evaluation function with `x`, parameters and statistics as
/// arguments) into `g`, reading its input from the ONNX value `x`. `weights` holds every
/// parameter and statistic by name.
pub fn emit(
    g: &mut Graph,
    f: &Function,
    x: &str,
    weights: &HashMap<&str, (&[usize], &[f32])>,
) -> Network {
    let output = f
        .output_named("output")
        .expect("invariant: the evaluation function has an `output`");
    let logit = f.output_named(LOGIT_OUTPUT);
    let needed = needed(f, output, logit);
    let mut e = Emitter {
        g,
        f,
        x: x.to_string(),
        names: HashMap::new(),
        batch: None,
    };
    for a in &f.args {
        if !needed[a.value.index()] {
            continue;
        }
        let name = f.name_of(a.value);
        let onnx = match a.role {
            ArgRole::Data if name == "x" => x.to_string(),
            ArgRole::Data => panic!(
                "invariant: an evaluation function's predictions depend on `x` alone, not `{name}`"
            ),
            ArgRole::Param | ArgRole::State => {
                let (dims, data) = weights.get(name).unwrap_or_else(|| {
                    panic!(
                        "invariant: the saved model holds the weight `{name}` it was loaded with"
                    )
                });
                e.g.float_tensor(name, dims, data)
            }
        };
        e.names.insert(a.value, onnx);
    }
    let aliases = broadcast_aliases(f, &needed, &[Some(output), logit]);
    for eq in &f.body {
        if !needed[eq.out.index()] {
            continue;
        }
        let name = match aliases.get(&eq.out) {
            Some(&source) => e.name(source),
            None => e.equation(eq.out, &eq.op),
        };
        e.names.insert(eq.out, name);
    }
    Network {
        output: e.name(output),
        logit: logit.map(|l| e.name(l)),
    }
}

/// The values the outputs depend on.
fn needed(f: &Function, output: ValueId, logit: Option<ValueId>) -> Vec<bool> {
    let mut needed = vec![false; f.values.len()];
    needed[output.index()] = true;
    if let Some(l) = logit {
        needed[l.index()] = true;
    }
    for eq in f.body.iter().rev() {
        if needed[eq.out.index()] {
            for v in eq.op.operands() {
                needed[v.index()] = true;
            }
        }
    }
    needed
}

/// Broadcasts that ONNX's own (numpy) broadcasting makes unnecessary: each of their uses is a
/// binary op whose other operand already has the broadcast's shape, so the op given the source
/// broadcasts it the same way. Mapped to their source.
fn broadcast_aliases(
    f: &Function,
    needed: &[bool],
    outputs: &[Option<ValueId>],
) -> HashMap<ValueId, ValueId> {
    let mut ok: HashMap<ValueId, (ValueId, bool)> = HashMap::new();
    for eq in &f.body {
        if let (Op::Broadcast(source), true) = (&eq.op, needed[eq.out.index()]) {
            ok.insert(eq.out, (*source, !outputs.contains(&Some(eq.out))));
        }
    }
    let broadcasts: Vec<ValueId> = ok.keys().copied().collect();
    for eq in f.body.iter().filter(|eq| needed[eq.out.index()]) {
        let operands = eq.op.operands();
        for (i, v) in operands.iter().enumerate() {
            let Some(entry) = ok.get_mut(v) else { continue };
            let fits = match eq.op {
                // The other operand must have the shape itself: not be a broadcast too.
                Op::Binary(..) => {
                    let other = operands[1 - i];
                    !broadcasts.contains(&other) && f.shape(other) == f.shape(*v)
                }
                _ => false,
            };
            entry.1 &= fits;
        }
    }
    ok.into_iter()
        .filter(|(_, (_, fits))| *fits)
        .map(|(v, (source, _))| (v, source))
        .collect()
}

/// σ(x) with its relative precision where it is small: with e = exp(−|x|), 1/(1 + e) for
/// x ≥ 0 and e/(1 + e) below. ONNX Runtime's `Sigmoid` is a fast approximation that gives 0 for
/// σ(x) < 1e-10 and misses 1e-8 by a factor of three, where `nnc predict` writes every digit.
pub fn sigmoid(g: &mut Graph, x: &str, hint: &str) -> String {
    let abs = g.op("Abs", &[x], vec![], hint);
    let neg = g.op("Neg", &[&abs], vec![], hint);
    let e = g.op("Exp", &[&neg], vec![], hint);
    let one = g.float_tensor("one", &[], &[1.0]);
    let denominator = g.op("Add", &[&e, &one], vec![], hint);
    let large = g.op("Reciprocal", &[&denominator], vec![], hint);
    let small = g.op("Div", &[&e, &denominator], vec![], hint);
    let zero = g.float_tensor("zero", &[], &[0.0]);
    let positive = g.op("GreaterOrEqual", &[x, &zero], vec![], hint);
    g.op("Where", &[&positive, &large, &small], vec![], hint)
}

struct Emitter<'g, 'f> {
    g: &'g mut Graph,
    f: &'f Function,
    x: String,
    names: HashMap<ValueId, String>,
    /// The batch size as an int64 vector [N], made when a shape first needs it.
    batch: Option<String>,
}

impl Emitter<'_, '_> {
    fn name(&self, v: ValueId) -> String {
        self.names
            .get(&v)
            .unwrap_or_else(|| panic!("invariant: value {v:?} is written before its uses"))
            .clone()
    }

    fn scalar(&mut self, hint: &str, value: f64) -> String {
        self.g.float_tensor(hint, &[], &[value as f32])
    }

    /// The batch size, as the int64 vector [N].
    fn batch(&mut self) -> String {
        if let Some(b) = &self.batch {
            return b.clone();
        }
        let x = self.x.clone();
        let b = self.g.op(
            "Shape",
            &[&x],
            vec![("start", Attr::Int(0)), ("end", Attr::Int(1))],
            "batch_size",
        );
        self.batch = Some(b.clone());
        b
    }

    /// `shape` as an int64 tensor, for `Expand`.
    fn shape_tensor(&mut self, shape: &Shape) -> String {
        if !shape.has_batch() {
            let dims: Vec<i64> = shape.extents(0).iter().map(|&d| d as i64).collect();
            return self.g.int64_vector("shape", &dims);
        }
        let mut parts = Vec::new();
        for d in &shape.0 {
            parts.push(match d {
                Dim::Batch => self.batch(),
                Dim::Fixed(n) => self.g.int64_vector("dim", &[*n as i64]),
            });
        }
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.g
            .op("Concat", &parts, vec![("axis", Attr::Int(0))], "shape")
    }

    fn equation(&mut self, out: ValueId, op: &Op) -> String {
        let hint = self.f.name_of(out).to_string();
        let g_op =
            |e: &mut Self, op: &str, inputs: &[&str], attrs| e.g.op(op, inputs, attrs, &hint);
        match op {
            Op::Const(c) => self.scalar(&hint, *c),
            Op::Vector(v) => {
                let data: Vec<f32> = v.iter().map(|&c| c as f32).collect();
                self.g.float_tensor(&hint, &[data.len()], &data)
            }
            Op::BatchSize => {
                let b = self.batch();
                let squeezed = self.g.op("Squeeze", &[&b], vec![], "batch_size");
                self.g
                    .op("Cast", &[&squeezed], vec![("to", Attr::Int(FLOAT))], &hint)
            }
            Op::Unary(u, x) => {
                let x = self.name(*x);
                self.unary(*u, &x, &hint)
            }
            Op::Binary(b, a, c) => {
                let (a, c) = (self.name(*a), self.name(*c));
                let onnx = match b {
                    BinaryOp::Add => "Add",
                    BinaryOp::Sub => "Sub",
                    BinaryOp::Mul => "Mul",
                    BinaryOp::Div => "Div",
                    BinaryOp::Max => "Max",
                    BinaryOp::Min => "Min",
                    BinaryOp::Greater => "Greater",
                    BinaryOp::GreaterEq => "GreaterOrEqual",
                    BinaryOp::Equal => "Equal",
                };
                if b.is_comparison() {
                    let flag = self.g.op(onnx, &[&a, &c], vec![], &hint);
                    self.g
                        .op("Cast", &[&flag], vec![("to", Attr::Int(FLOAT))], &hint)
                } else {
                    g_op(self, onnx, &[&a, &c], vec![])
                }
            }
            Op::MatMul {
                a,
                b,
                transpose_a,
                transpose_b,
            } => {
                let (a, b) = (self.name(*a), self.name(*b));
                let attrs = vec![
                    ("transA", Attr::Int(i64::from(*transpose_a))),
                    ("transB", Attr::Int(i64::from(*transpose_b))),
                ];
                g_op(self, "Gemm", &[&a, &b], attrs)
            }
            Op::Broadcast(x) => {
                let x = self.name(*x);
                let shape = self.shape_tensor(self.f.shape(out));
                g_op(self, "Expand", &[&x, &shape], vec![])
            }
            Op::SumTo(x) => {
                let (from, to) = (self.f.shape(*x).clone(), self.f.shape(out).clone());
                let x = self.name(*x);
                self.sum_to(&x, &from, &to, &hint)
            }
            Op::LogSoftmax(x) => {
                let x = self.name(*x);
                g_op(self, "LogSoftmax", &[&x], vec![("axis", Attr::Int(-1))])
            }
            Op::Concat { a, b } => {
                let (a, b) = (self.name(*a), self.name(*b));
                g_op(self, "Concat", &[&a, &b], vec![("axis", Attr::Int(-1))])
            }
            Op::Slice { x, start, len } => {
                let x = self.name(*x);
                let starts = self.g.int64_vector("starts", &[*start as i64]);
                let ends = self.g.int64_vector("ends", &[(start + len) as i64]);
                let axes = self.g.int64_vector("axes", &[-1]);
                g_op(self, "Slice", &[&x, &starts, &ends, &axes], vec![])
            }
            Op::Select { condition, yes, no } => {
                let (c, y, n) = (self.name(*condition), self.name(*yes), self.name(*no));
                let flag = self
                    .g
                    .op("Cast", &[&c], vec![("to", Attr::Int(BOOL))], &hint);
                g_op(self, "Where", &[&flag, &y, &n], vec![])
            }
            // Dropout and input noise are lowered into the training loss only.
            Op::DropoutMask { .. } | Op::NormalNoise { .. } => {
                panic!(
                    "invariant: the evaluation function draws no random numbers, but `{hint}` does"
                )
            }
        }
    }

    fn unary(&mut self, u: UnaryOp, x: &str, hint: &str) -> String {
        let plain = |e: &mut Self, op: &str| e.g.op(op, &[x], vec![], hint);
        match u {
            UnaryOp::Neg => plain(self, "Neg"),
            UnaryOp::Exp => plain(self, "Exp"),
            UnaryOp::Log => plain(self, "Log"),
            UnaryOp::Sqrt => plain(self, "Sqrt"),
            UnaryOp::Relu => plain(self, "Relu"),
            UnaryOp::Sigmoid => sigmoid(self.g, x, hint),
            UnaryOp::Tanh => plain(self, "Tanh"),
            UnaryOp::Abs => plain(self, "Abs"),
            UnaryOp::Sign => plain(self, "Sign"),
            UnaryOp::LeakyRelu { alpha } => self.g.op(
                "LeakyRelu",
                &[x],
                vec![("alpha", Attr::Float(alpha as f32))],
                hint,
            ),
            UnaryOp::Expm1 => {
                let exp = self.g.op("Exp", &[x], vec![], hint);
                let one = self.scalar("one", 1.0);
                self.g.op("Sub", &[&exp, &one], vec![], hint)
            }
            UnaryOp::Heaviside => {
                let zero = self.scalar("zero", 0.0);
                let flag = self.g.op("Greater", &[x, &zero], vec![], hint);
                self.g
                    .op("Cast", &[&flag], vec![("to", Attr::Int(FLOAT))], hint)
            }
            UnaryOp::LeakySlope { alpha } => {
                let zero = self.scalar("zero", 0.0);
                let one = self.scalar("one", 1.0);
                let alpha = self.scalar("alpha", alpha);
                let flag = self.g.op("Greater", &[x, &zero], vec![], hint);
                self.g.op("Where", &[&flag, &one, &alpha], vec![], hint)
            }
            // max(x, 0) + log(1 + exp(−|x|)): no overflow for large x, in every engine.
            UnaryOp::Softplus => {
                let one = self.scalar("one", 1.0);
                let abs = self.g.op("Abs", &[x], vec![], hint);
                let neg = self.g.op("Neg", &[&abs], vec![], hint);
                let exp = self.g.op("Exp", &[&neg], vec![], hint);
                let sum = self.g.op("Add", &[&exp, &one], vec![], hint);
                let log = self.g.op("Log", &[&sum], vec![], hint);
                let relu = self.g.op("Relu", &[x], vec![], hint);
                self.g.op("Add", &[&relu, &log], vec![], hint)
            }
            UnaryOp::Affine { mul, add } => {
                let mut y = x.to_string();
                if mul != 1.0 {
                    let m = self.scalar("mul", mul);
                    y = self.g.op("Mul", &[&y, &m], vec![], hint);
                }
                if add != 0.0 || y == x {
                    let a = self.scalar("add", add);
                    y = self.g.op("Add", &[&y, &a], vec![], hint);
                }
                y
            }
            // Φ(x) = (1 + erf(x/√2)) / 2.
            UnaryOp::NormalCdf => {
                let scale = self.scalar("inv_sqrt2", std::f64::consts::FRAC_1_SQRT_2);
                let half = self.scalar("half", 0.5);
                let one = self.scalar("one", 1.0);
                let scaled = self.g.op("Mul", &[x, &scale], vec![], hint);
                let erf = self.g.op("Erf", &[&scaled], vec![], hint);
                let sum = self.g.op("Add", &[&erf, &one], vec![], hint);
                self.g.op("Mul", &[&sum, &half], vec![], hint)
            }
        }
    }

    /// The sum over the axes a broadcast from `to` to `from` would repeat: the leading axes
    /// `to` lacks (reduced, then squeezed away) and those where `to` has 1 (reduced, kept).
    fn sum_to(&mut self, x: &str, from: &Shape, to: &Shape, hint: &str) -> String {
        let lead = from.rank() - to.rank();
        let mut axes: Vec<i64> = (0..lead as i64).collect();
        for (i, d) in to.0.iter().enumerate() {
            if *d == Dim::Fixed(1) && from.0[lead + i] != Dim::Fixed(1) {
                axes.push((lead + i) as i64);
            }
        }
        if axes.is_empty() {
            return self.g.op("Identity", &[x], vec![], hint);
        }
        let axes_tensor = self.g.int64_vector("axes", &axes);
        let summed = self.g.op(
            "ReduceSum",
            &[x, &axes_tensor],
            vec![("keepdims", Attr::Int(1))],
            hint,
        );
        if lead == 0 {
            return summed;
        }
        let leading: Vec<i64> = (0..lead as i64).collect();
        let leading = self.g.int64_vector("axes", &leading);
        self.g.op("Squeeze", &[&summed, &leading], vec![], hint)
    }
}
