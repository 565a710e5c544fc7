//! The reference interpreter: evaluates an IR function on `ndarray` in f64, one equation at a time,
//! in the most obvious way. It is slow on purpose and shares no kernel with code generation: it is
//! the oracle that gradient checks and JIT-versus-interpreter tests compare against.

use ndarray::{ArrayD, Axis, IxDyn, Zip};

use crate::ir::{BinaryOp, Function, Op, UnaryOp, VerifiedFunction};

pub type Tensor = ArrayD<f64>;

/// Arguments that do not fit the function they are given to.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum InterpError {
    #[error("`{function}` takes {expected} arguments, got {got}")]
    ArgumentCount {
        function: String,
        expected: usize,
        got: usize,
    },
    #[error("argument `{name}` should be {expected:?} at batch {batch} but is {got:?}")]
    ArgumentShape {
        name: String,
        batch: usize,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
}

/// Every value of one evaluation, indexed by `ValueId`.
pub struct Evaluation {
    pub values: Vec<Tensor>,
}

impl Evaluation {
    pub fn get(&self, f: &Function, name: &str) -> &Tensor {
        let v = f
            .output_named(name)
            .or_else(|| f.arg_named(name))
            .unwrap_or_else(|| {
                panic!(
                    "invariant: `{name}` is an output or argument of `{}`",
                    f.name
                )
            });
        &self.values[v.index()]
    }
}

pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// −1 or 1 by the sign of x; ±0 and NaN are returned as they are (what generated code does).
pub fn sign(x: f64) -> f64 {
    if x == 0.0 || x.is_nan() {
        x
    } else {
        1f64.copysign(x)
    }
}

/// Φ(x) = ½·erfc(−x/√2): erfc keeps full relative precision in the lower tail, where
/// ½·(1 + erf(x/√2)) would cancel to 0.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

pub fn unary(op: &UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Expm1 => x.exp_m1(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Heaviside => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        UnaryOp::LeakyRelu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha * x
            }
        }
        UnaryOp::LeakySlope { alpha } => {
            if x > 0.0 {
                1.0
            } else {
                *alpha
            }
        }
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Softplus => softplus(x),
        UnaryOp::Affine { mul, add } => mul * x + add,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign => sign(x),
        UnaryOp::NormalCdf => normal_cdf(x),
    }
}

pub fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Max => {
            if a > b {
                a
            } else {
                b
            }
        }
        BinaryOp::Min => {
            if a < b {
                a
            } else {
                b
            }
        }
        BinaryOp::Greater => f64::from(u8::from(a > b)),
        BinaryOp::GreaterEq => f64::from(u8::from(a >= b)),
        BinaryOp::Equal => f64::from(u8::from(a == b)),
    }
}

/// Evaluate `f` with one tensor per argument, in `f.args` order, at batch size `batch` (which
/// `batch_size` evaluates to, and the leading extent of every batched argument).
pub fn evaluate(
    f: &VerifiedFunction,
    args: &[Tensor],
    batch: usize,
) -> Result<Evaluation, InterpError> {
    if args.len() != f.args.len() {
        return Err(InterpError::ArgumentCount {
            function: f.name.clone(),
            expected: f.args.len(),
            got: args.len(),
        });
    }
    let mut values: Vec<Option<Tensor>> = vec![None; f.values.len()];
    for (a, t) in f.args.iter().zip(args) {
        let want = f.shape(a.value).extents(batch);
        if t.shape() != want.as_slice() {
            return Err(InterpError::ArgumentShape {
                name: f.name_of(a.value).to_string(),
                batch,
                expected: want,
                got: t.shape().to_vec(),
            });
        }
        values[a.value.index()] = Some(t.clone());
    }
    for eq in &f.body {
        let get = |v: crate::ir::ValueId| {
            values[v.index()]
                .as_ref()
                .expect("invariant: verified IR defines values before use")
        };
        let out_extents = f.shape(eq.out).extents(batch);
        let result: Tensor = match &eq.op {
            Op::Const(c) => ArrayD::from_elem(IxDyn(&[]), *c),
            Op::BatchSize => ArrayD::from_elem(IxDyn(&[]), batch as f64),
            Op::Vector(v) => ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.clone())
                .expect("invariant: a vector's shape is its length"),
            Op::Unary(u, x) => get(*x).mapv(|v| unary(u, v)),
            Op::Binary(b, x, y) => {
                let mut r = get(*x).clone();
                Zip::from(&mut r)
                    .and(get(*y))
                    .for_each(|r, &y| *r = binary(*b, *r, y));
                r
            }
            Op::MatMul {
                a,
                b,
                transpose_a,
                transpose_b,
            } => {
                let matrix = |v| {
                    get(v)
                        .view()
                        .into_dimensionality::<ndarray::Ix2>()
                        .expect("invariant: verified matmul operands are matrices")
                };
                let (a, b) = (matrix(*a), matrix(*b));
                let a = if *transpose_a { a.reversed_axes() } else { a };
                let b = if *transpose_b { b.reversed_axes() } else { b };
                a.dot(&b).into_dyn()
            }
            Op::Broadcast(x) => get(*x)
                .broadcast(IxDyn(&out_extents))
                .expect("invariant: verified broadcasts follow numpy's rules")
                .to_owned(),
            Op::SumTo(x) => sum_to(get(*x), &out_extents),
            Op::DropoutMask { rate, at, counter } => {
                random(get(*counter), &out_extents, *at, |w| {
                    crate::philox::dropout_value(w, *rate)
                })
            }
            Op::NormalNoise { std, at, counter } => random(get(*counter), &out_extents, *at, |w| {
                crate::philox::noise_value(w, *std)
            }),
            Op::LogSoftmax(x) => {
                let x = get(*x);
                let last = Axis(x.ndim() - 1);
                let mut r = x.clone();
                for mut lane in r.lanes_mut(last) {
                    let m = lane.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                    let lse = m + lane.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                    lane.mapv_inplace(|v| v - lse);
                }
                r
            }
            Op::Concat { a, b } => {
                let (a, b) = (get(*a), get(*b));
                let last = Axis(a.ndim() - 1);
                ndarray::concatenate(last, &[a.view(), b.view()])
                    .expect("invariant: verified concat operands agree but in the last axis")
            }
            Op::Slice { x, start, len } => {
                let x = get(*x);
                let last = Axis(x.ndim() - 1);
                x.slice_axis(last, ndarray::Slice::from(*start..*start + *len))
                    .to_owned()
            }
            Op::Select { condition, yes, no } => {
                let mut r = get(*yes).clone();
                Zip::from(&mut r)
                    .and(get(*condition))
                    .and(get(*no))
                    .for_each(|r, &c, &n| {
                        if c == 0.0 {
                            *r = n
                        }
                    });
                r
            }
        };
        // Keep every value in row-major order, as the compiled code stores it.
        let result = if result.is_standard_layout() {
            result
        } else {
            result.as_standard_layout().into_owned()
        };
        values[eq.out.index()] = Some(result);
    }
    Ok(Evaluation {
        values: values
            .into_iter()
            .map(|v| v.unwrap_or_else(|| ArrayD::zeros(IxDyn(&[]))))
            .collect(),
    })
}

/// A random tensor of `extents`: element `i` (row-major) from the counter-based generator at the
/// step the scalar `counter` holds (read as the f32 the compiled code keeps).
fn random(
    counter: &Tensor,
    extents: &[usize],
    at: crate::ir::RandomSite,
    value: impl Fn([u32; 4]) -> f64,
) -> Tensor {
    let step = crate::philox::step_of(counter.sum() as f32);
    let n: usize = extents.iter().product();
    let data = (0..n)
        .map(|i| value(crate::philox::words(at, step, i as u64)))
        .collect();
    ArrayD::from_shape_vec(IxDyn(extents), data)
        .expect("invariant: a random tensor has the product of its extents in values")
}

/// Sum `x` down to `to` (numpy broadcasting in reverse).
fn sum_to(x: &Tensor, to: &[usize]) -> Tensor {
    let mut r = x.clone();
    let offset = x.ndim() - to.len();
    // Leading axes that `to` lacks are summed away entirely.
    for _ in 0..offset {
        r = r.sum_axis(Axis(0));
    }
    for (axis, &n) in to.iter().enumerate() {
        if n == 1 && r.shape()[axis] != 1 {
            r = r.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    r
}

/// Run `f` and write its updates back into `args`: one training step on the interpreter.
pub fn step_in_place(
    f: &VerifiedFunction,
    args: &mut [Tensor],
    batch: usize,
) -> Result<Evaluation, InterpError> {
    let ev = evaluate(f, args, batch)?;
    for u in &f.updates {
        let pos = f
            .args
            .iter()
            .position(|a| a.value == u.arg)
            .expect("invariant: verified updates target arguments");
        args[pos] = ev.values[u.value.index()].clone();
    }
    Ok(ev)
}
