//! One epoch's statistics from the sums of the step's probe outputs: per layer the output's mean
//! and standard deviation over every example and unit, the fraction of dead relu units (never
//! positive in the epoch) and of saturated sigmoid/tanh units (beyond the bound for more than half
//! of the epoch's examples); per parameter the gradient's norm, its ratio to the weight's norm (at
//! the epoch's end) and the update's ratio to it, the gradient's and the update's norms each the
//! root mean square over the epoch's steps.

use serde::{Deserialize, Serialize};

use super::{Probe, Stat, Subject};

/// The running sums of one epoch, in f64 whatever the executor.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sums {
    /// Per probe, its values summed over the epoch's steps.
    pub values: Vec<Vec<f64>>,
    pub steps: usize,
    /// Examples seen.
    pub rows: usize,
}

impl Sums {
    pub fn new(probes: &[Probe]) -> Self {
        Sums {
            values: probes.iter().map(|p| vec![0.0; p.len]).collect(),
            steps: 0,
            rows: 0,
        }
    }

    /// Add one step's value of probe `i`.
    pub fn add(&mut self, i: usize, step: impl IntoIterator<Item = f64>) {
        for (sum, v) in self.values[i].iter_mut().zip(step) {
            *sum += v;
        }
    }

    /// Count one step of `rows` examples (after its probes are added).
    pub fn end_step(&mut self, rows: usize) {
        self.steps += 1;
        self.rows += rows;
    }

    pub fn clear(&mut self) {
        for v in &mut self.values {
            v.fill(0.0);
        }
        self.steps = 0;
        self.rows = 0;
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    /// The layer's number, as diagnostics name it (`layer 1` is the first dense layer).
    pub layer: usize,
    #[serde(deserialize_with = "number_or_nan")]
    pub mean: f64,
    #[serde(deserialize_with = "number_or_nan")]
    pub std: f64,
    pub units: usize,
    /// Relu layers: units that were not positive for any example of the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_units: Option<usize>,
    /// Sigmoid and tanh layers: units beyond the saturation bound for more than half the
    /// epoch's examples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saturated_units: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamStats {
    pub name: String,
    /// The dense layer the parameter belongs to, numbered as in `LayerStats`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The layer's weight matrix (not its bias).
    #[serde(skip)]
    pub matrix: bool,
    #[serde(deserialize_with = "number_or_nan")]
    pub gradient_norm: f64,
    #[serde(deserialize_with = "number_or_nan")]
    pub weight_norm: f64,
    /// gradient_norm / weight_norm (infinite for a zero weight with a gradient).
    #[serde(deserialize_with = "number_or_nan")]
    pub gradient_to_weight: f64,
    /// The update's norm over the weight's norm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_to_weight: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    pub layers: Vec<LayerStats>,
    pub params: Vec<ParamStats>,
}

/// The figures of one epoch from its sums and the parameters' values at its end (`weight` gives
/// a parameter's values by name).
pub fn summarize<'a>(
    probes: &[Probe],
    sums: &Sums,
    weight: impl Fn(&str) -> Option<&'a [f32]>,
) -> EpochStats {
    let mut out = EpochStats::default();
    if sums.steps == 0 {
        return out;
    }
    let steps = sums.steps as f64;
    let rows = sums.rows as f64;
    // A probe's values, times its scale.
    let find = |stat: Stat, of: &Subject| {
        let i = probes.iter().position(|p| p.stat == stat && &p.of == of)?;
        Some(
            sums.values[i]
                .iter()
                .map(|v| v * probes[i].scale)
                .collect::<Vec<f64>>(),
        )
    };
    let ratio = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a / b };
    for p in probes {
        match (&p.of, p.stat) {
            (Subject::Layer(layer), Stat::OutputSum) => {
                let of = &p.of;
                let squares = find(Stat::OutputSquares, of).map_or(0.0, |v| v[0]);
                let fired = find(Stat::Fired, of);
                let saturated = find(Stat::Saturated, of);
                let count = rows * p.units as f64;
                let mean = sums.values[index(probes, p)][0] / count;
                let variance = (squares / count - mean * mean).max(0.0);
                out.layers.push(LayerStats {
                    layer: layer + 1,
                    mean,
                    std: variance.sqrt(),
                    units: p.units,
                    dead_units: fired.map(|v| v.iter().filter(|&&c| c == 0.0).count()),
                    saturated_units: saturated
                        .map(|v| v.iter().filter(|&&c| c > rows / 2.0).count()),
                });
            }
            (Subject::Param(name), Stat::GradientSquares) => {
                let mean_sqrt = |v: Option<Vec<f64>>| v.map(|v| (v[0] / steps).sqrt());
                let gradient_norm = (sums.values[index(probes, p)][0] / steps).sqrt();
                let weight_norm = weight(name).map_or(0.0, |w| {
                    w.iter()
                        .map(|&v| f64::from(v) * f64::from(v))
                        .sum::<f64>()
                        .sqrt()
                });
                out.params.push(ParamStats {
                    name: name.clone(),
                    layer: p.layer.map(|l| l + 1),
                    matrix: p.matrix,
                    gradient_norm,
                    weight_norm,
                    gradient_to_weight: ratio(gradient_norm, weight_norm),
                    update_to_weight: mean_sqrt(find(Stat::UpdateSquares, &p.of))
                        .map(|u| ratio(u, weight_norm)),
                });
            }
            _ => {}
        }
    }
    out
}

fn index(probes: &[Probe], p: &Probe) -> usize {
    probes
        .iter()
        .position(|q| q == p)
        .expect("invariant: the probe is one of the list")
}

/// A statistic read back from JSON, where a non-finite number was written as `null` (a
/// checkpoint's history): `null` reads as NaN.
fn number_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}
