//! The training statistics as a picture: which panels the plot of `--out`'s
//! `training_statistics.svg` (and the report page) has, and which line of which panel each
//! statistic of each epoch becomes. Per layer: the activations' standard deviation, and the share
//! of units dead (relu) or saturated (sigmoid, tanh); per weight matrix: the gradient's and the
//! update's norm over the weight's norm. Biases are left out: their norm starts at zero, so
//! their ratios say little, and they would double the lines.

use crate::plots::{Panel, Series};
use crate::train::EpochRecord;

/// The panels of a run's statistics; empty when the run measured none.
pub fn panels(history: &[EpochRecord]) -> Vec<Panel> {
    let epochs: Vec<_> = history
        .iter()
        .filter_map(|e| Some((e.epoch, e.monitor.as_ref()?)))
        .collect();
    let Some((_, first)) = epochs.first() else {
        return Vec::new();
    };
    let layer_line =
        |title: &str, value: &dyn Fn(&crate::monitor::epoch::LayerStats) -> Option<f64>| {
            let series = first
                .layers
                .iter()
                .map(|l| Series {
                    label: format!("layer {}", l.layer),
                    points: epochs
                        .iter()
                        .filter_map(|(e, m)| {
                            let own = m.layers.iter().find(|x| x.layer == l.layer)?;
                            Some((*e, value(own)?))
                        })
                        .collect(),
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            Panel {
                title: title.to_string(),
                series,
            }
        };
    let param_line =
        |title: &str, value: &dyn Fn(&crate::monitor::epoch::ParamStats) -> Option<f64>| {
            let series = first
                .params
                .iter()
                .filter(|p| p.matrix)
                .map(|p| Series {
                    label: match p.layer {
                        Some(l) => format!("layer {l} ({})", p.name),
                        None => p.name.clone(),
                    },
                    points: epochs
                        .iter()
                        .filter_map(|(e, m)| {
                            let own = m.params.iter().find(|x| x.name == p.name)?;
                            Some((*e, value(own)?))
                        })
                        .collect(),
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            Panel {
                title: title.to_string(),
                series,
            }
        };
    let share = |count: Option<usize>, units: usize| Some(count? as f64 / units.max(1) as f64);
    let candidates = [
        layer_line("activation standard deviation", &|l| Some(l.std)),
        layer_line("share of units dead (relu) or saturated", &|l| {
            share(l.dead_units.or(l.saturated_units), l.units)
        }),
        param_line("gradient norm ÷ weight norm", &|p| {
            Some(p.gradient_to_weight)
        }),
        param_line("update norm ÷ weight norm", &|p| p.update_to_weight),
    ];
    candidates
        .into_iter()
        .filter(|p| !p.series.is_empty())
        .collect()
}
