//! Every activation against its textbook formula in f64, over a sweep from 0 through tiny, unit,
//! large and huge inputs of both signs (±1e-30, ±1, ±20, ±88, ±1e4, ±1e30, and a grid over
//! [−30, 30]): compiled (f32) within 1e-6 relative of the exact value, interpreted (f64) within
//! 1e-12, and never NaN or infinite. The model is one unit with weight 1 and bias 0, so its output
//! is the activation of the input itself.

use nnc::codegen::{self, CodegenOptions};
use nnc::diag::Source;
use nnc::interp::{self, Tensor};
use nnc::ir::ArgRole;
use nnc::lower::spec::{SELU_ALPHA, SELU_LAMBDA};
use nnc::lower::DataShape;

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}

fn elu(x: f64, alpha: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        alpha * x.exp_m1()
    }
}

/// An activation's exact value in f64.
type Formula = Box<dyn Fn(f64) -> f64>;

/// (name in a file, formula) for every activation that is more than one IR op, and softplus.
fn activations() -> Vec<(&'static str, Formula)> {
    vec![
        ("elu", Box::new(|x| elu(x, 1.0))),
        ("elu(alpha: 0)", Box::new(|x| elu(x, 0.0))),
        ("elu(alpha: 10)", Box::new(|x| elu(x, 10.0))),
        ("selu", Box::new(|x| SELU_LAMBDA * elu(x, SELU_ALPHA))),
        (
            "gelu",
            Box::new(|x| x * 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)),
        ),
        ("swish", Box::new(|x| x * sigmoid(x))),
        ("silu", Box::new(|x| x * sigmoid(x))),
        (
            "softplus",
            Box::new(|x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p()),
        ),
        ("softsign", Box::new(|x: f64| x / (1.0 + x.abs()))),
        (
            "hard_sigmoid",
            Box::new(|x: f64| ((x + 3.0).clamp(0.0, 6.0)) / 6.0),
        ),
    ]
}

fn sweep() -> Vec<f32> {
    let mut x = vec![0.0f32];
    for m in [1e-30f32, 1e-7, 1.0, 2.999_999_8, 3.0, 20.0, 88.0, 1e4, 1e30] {
        x.extend([m, -m]);
    }
    x.extend((-300..=300).map(|i| i as f32 * 0.1));
    x
}

/// Within `rel` of `want`, or within f32's smallest normal number of it: below that an f32 has
/// fewer than 24 bits, so no f32 result can be relatively accurate (gelu(−20) ≈ −6e-88).
fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs() + f64::from(f32::MIN_POSITIVE)
}

#[test]
fn every_activation_is_accurate_and_finite_over_the_whole_range() {
    let x = sweep();
    let n = x.len();
    for (name, formula) in activations() {
        let text = format!("model {{\n  input(1)\n  dense(1, activation: {name})\n}}\nloss: mse\n");
        let spec = nnc::program::parse_model(&Source::new("a.nn", text)).unwrap();
        let shape = DataShape {
            features: 1,
            target_width: 1,
            ..DataShape::default()
        };
        let p = nnc::program::build(&spec, Some(&shape)).unwrap();
        let f = &p.forward;
        let values = |arg: &str| -> Vec<f32> {
            match arg {
                "w1" => vec![1.0],
                "b1" => vec![0.0],
                _ => x.clone(),
            }
        };
        let tensors: Vec<Tensor> = f
            .args
            .iter()
            .map(|a| {
                let v: Vec<f64> = values(f.name_of(a.value))
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                Tensor::from_shape_vec(f.shape(a.value).extents(n), v).unwrap()
            })
            .collect();
        let interpreted = interp::evaluate(f, &tensors, n).unwrap();
        let interpreted: Vec<f64> = interpreted.get(f, "output").iter().copied().collect();
        for opts in [
            CodegenOptions::default(),
            CodegenOptions {
                checked: true,
                ..Default::default()
            },
        ] {
            let mut c = codegen::compile(f, n, &opts).unwrap();
            let (mut persistent, mut data) = (Vec::new(), Vec::new());
            for a in &f.args {
                let v = values(f.name_of(a.value));
                match a.role {
                    ArgRole::Data => data.push(v),
                    ArgRole::Param | ArgRole::State => persistent.push(v),
                }
            }
            c.call(&mut persistent, &data, n).unwrap();
            let compiled = c.output("output");
            // The worst relative error where the exact value is a normal f32, for the record.
            let mut worst = (0.0f64, 0.0f64);
            for i in 0..n {
                let xi = f64::from(x[i]);
                let want = formula(xi);
                let (got, exact) = (f64::from(compiled[i]), interpreted[i]);
                assert!(
                    compiled[i].is_finite() && exact.is_finite(),
                    "{name}({xi}): compiled {got}, interpreted {exact}"
                );
                // Compiled code flushes subnormal intermediates to zero (as XLA does): gelu's
                // Φ(−13.1) = 1.6e-39 becomes 0, and x·Φ(x) loses up to |x| times f32's smallest
                // normal number.
                let floor = f64::from(f32::MIN_POSITIVE) * xi.abs();
                assert!(
                    close(got, want, 1e-6) || (got - want).abs() <= floor,
                    "{name}({xi}): compiled {got}, exact {want}"
                );
                assert!(
                    close(exact, want, 1e-12),
                    "{name}({xi}): interpreted {exact}, exact {want}"
                );
                if want.abs() >= f64::from(f32::MIN_POSITIVE) {
                    let rel = (got - want).abs() / want.abs();
                    if rel > worst.0 {
                        worst = (rel, xi);
                    }
                }
            }
            eprintln!(
                "{name} (checked {}): worst relative error {:.2e} at {}",
                opts.checked, worst.0, worst.1
            );
        }
    }
}
