//! `--sweep KEY=V1,V2,...`: the grid of every combination of the swept values, each variant a run
//! with those values added as `--set` flags, and the comparison of the runs, best first. A variant
//! that fails (a shape error for one width, a diverging learning rate) is a row with its error; the
//! others still run.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::diag::{Diagnostic, Source, Span};

use super::report::{Report, TestMetrics};
use super::session::{self, RunOptions};

/// One swept key and its values, each the text of a `.nn` value.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

/// Split at the commas outside parentheses, brackets and strings, so that
/// `adam(learning_rate: 0.01),sgd(momentum: 0.9)` is two values.
fn split_top_level(text: &str) -> Vec<(usize, &str)> {
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let mut parts = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push((start, &text[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push((start, &text[start..]));
    parts
}

/// Read `KEY=V1,V2,...`. An empty value is an error at its place in the flag.
pub fn parse_axis(text: &str) -> Result<Axis, Diagnostic> {
    let source = Source::new("--sweep", text.to_string());
    let bad = |span: Span, message: String| {
        Diagnostic::new("nnc::cli::sweep", message)
            .with_source(&source)
            .with_label(span, "here")
            .with_help(
                "write `--sweep PATH=V1,V2,...`, e.g. `--sweep optimizer.learning_rate=0.01,0.003`",
            )
    };
    let Some(eq) = text.find('=') else {
        return Err(bad(
            Span::new(0, text.len()),
            format!("`--sweep {text}` has no `=`"),
        ));
    };
    let mut values = Vec::new();
    for (start, v) in split_top_level(&text[eq + 1..]) {
        if v.trim().is_empty() {
            let at = eq + 1 + start;
            return Err(bad(
                Span::new(at, at + v.len()),
                "an empty value in `--sweep`".into(),
            ));
        }
        values.push(v.trim().to_string());
    }
    Ok(Axis {
        key: text[..eq].to_string(),
        values,
    })
}

/// Every combination of the axes' values, the first axis varying slowest; each variant is its
/// list of `KEY=VALUE` settings.
pub fn variants(axes: &[Axis]) -> Vec<Vec<(String, String)>> {
    axes.iter().fold(vec![Vec::new()], |grid, axis| {
        grid.iter()
            .flat_map(|done| {
                axis.values.iter().map(move |v| {
                    let mut next = done.clone();
                    next.push((axis.key.clone(), v.clone()));
                    next
                })
            })
            .collect()
    })
}

/// A loss and the task's headline metric (accuracy or MAE) on one split.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Scores {
    pub loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
}

impl Scores {
    /// The metric, oriented so that larger is better (accuracy, or −MAE).
    fn merit(&self) -> Option<f64> {
        self.accuracy.or(self.mae.map(|m| -m))
    }
}

/// One variant's row of the comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Variant {
    /// Its place in the grid (1-based), before sorting.
    pub number: usize,
    pub settings: Vec<Setting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Scores>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Scores>,
    pub epochs_run: usize,
    /// Wall-clock seconds of the whole variant: loading, compiling, training, testing.
    pub seconds: f64,
    /// The error that ended this variant, as its code and its plain rendering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<VariantError>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct VariantError {
    pub code: &'static str,
    pub message: String,
}

/// The comparison of every variant, best first: by validation metric, a tie broken by the test
/// metric; failed variants last, in grid order.
#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    /// `accuracy` for classification, `mae` for regression (absent when every variant failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<&'static str>,
    pub variants: Vec<Variant>,
}

fn test_scores(t: &TestMetrics) -> Scores {
    Scores {
        loss: t.loss,
        accuracy: t.classification.as_ref().map(|c| c.accuracy),
        mae: t.regression.as_ref().map(|r| r.mae),
    }
}

/// The validation scores of the parameters the run ended with: the best epoch's when early
/// stopping restored them, else the last epoch's.
fn validation_scores(r: &Report, restored: bool) -> Option<Scores> {
    let epoch = match (restored, r.best_epoch) {
        (true, Some(best)) => r.history.iter().find(|e| e.epoch == best),
        _ => r.history.last(),
    }?;
    Some(Scores {
        loss: epoch.val_loss?,
        accuracy: epoch.val_accuracy,
        mae: epoch.val_mae,
    })
}

/// Sort best first (see `SweepReport`); the sort is stable, so ties keep grid order.
pub fn rank(variants: &mut [Variant]) {
    let key = |v: &Variant| {
        (
            v.error.is_none(),
            v.validation.and_then(|s| s.merit()),
            v.test.and_then(|s| s.merit()),
        )
    };
    variants.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        // Larger is better everywhere; a missing metric ranks below any present one.
        let by = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        kb.0.cmp(&ka.0).then(by(ka.1, kb.1)).then(by(ka.2, kb.2))
    });
}

/// Run every variant of the grid in turn. `on_start(number, count, settings)` is called before a
/// variant, `on_done(variant, count)` after it (with its error if it failed), `on_warning` with
/// each warning about the data the first time a variant raises it (variants read the same data,
/// so most raise the same ones). Only a mistake in a `--sweep` flag itself is an error here; a
/// variant's failure is in its row.
pub fn sweep(
    file: &Path,
    opts: &RunOptions,
    axes: &[Axis],
    mut on_start: impl FnMut(usize, usize, &[(String, String)]),
    mut on_warning: impl FnMut(&Diagnostic),
    mut on_done: impl FnMut(&Variant, usize, Option<&Diagnostic>),
) -> SweepReport {
    let mut warned: Vec<String> = Vec::new();
    let grid = variants(axes);
    let count = grid.len();
    let mut rows = Vec::with_capacity(count);
    let mut metric = None;
    for (i, settings) in grid.into_iter().enumerate() {
        on_start(i + 1, count, &settings);
        let mut overrides = opts.overrides.clone();
        overrides
            .set
            .extend(settings.iter().map(|(k, v)| format!("{k}={v}")));
        let variant_opts = RunOptions {
            overrides,
            interpret: opts.interpret,
            codegen: opts.codegen.clone(),
            persistence: Default::default(),
        };
        let started = Instant::now();
        let warn = |w: Diagnostic| {
            let text = w.render_plain();
            if !warned.contains(&text) {
                on_warning(&w);
                warned.push(text);
            }
        };
        let outcome = session::run(file, &variant_opts, warn, |_, _, _| {}, |_| {});
        let seconds = started.elapsed().as_secs_f64();
        let settings = (settings.into_iter())
            .map(|(key, value)| Setting { key, value })
            .collect();
        let (row, error) = match outcome {
            Ok(o) => {
                let r = &o.report;
                let restored =
                    (o.spec.train.early_stopping.as_ref()).is_some_and(|e| e.restore_best);
                metric = Some(if r.task == "classification" {
                    "accuracy"
                } else {
                    "mae"
                });
                let row = Variant {
                    number: i + 1,
                    settings,
                    validation: validation_scores(r, restored),
                    test: r.test.as_ref().map(test_scores),
                    epochs_run: r.epochs_run,
                    seconds,
                    error: None,
                };
                (row, None)
            }
            Err(d) => {
                let row = Variant {
                    number: i + 1,
                    settings,
                    validation: None,
                    test: None,
                    epochs_run: 0,
                    seconds,
                    error: Some(VariantError {
                        code: d.code,
                        message: d.message.clone(),
                    }),
                };
                (row, Some(d))
            }
        };
        on_done(&row, count, error.as_ref());
        rows.push(row);
    }
    rank(&mut rows);
    SweepReport {
        metric,
        variants: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_at_top_level_commas_only() {
        let a = parse_axis("optimizer=adam(learning_rate: 0.01, beta1: 0.8),sgd(momentum: 0.9)")
            .unwrap();
        assert_eq!(a.key, "optimizer");
        assert_eq!(
            a.values,
            [
                "adam(learning_rate: 0.01, beta1: 0.8)",
                "sgd(momentum: 0.9)"
            ]
        );
        let a = parse_axis("data.ignore=[a, b],[\"x,y\"]").unwrap();
        assert_eq!(a.values, ["[a, b]", "[\"x,y\"]"]);
        assert_eq!(
            parse_axis("a.b=1,,2").unwrap_err().location().as_deref(),
            Some("--sweep:1:7")
        );
        assert_eq!(parse_axis("a.b").unwrap_err().code, "nnc::cli::sweep");
    }

    #[test]
    fn the_grid_holds_every_combination_first_axis_slowest() {
        let axes = [
            Axis {
                key: "a".into(),
                values: vec!["1".into(), "2".into()],
            },
            Axis {
                key: "b".into(),
                values: vec!["x".into(), "y".into(), "z".into()],
            },
        ];
        let grid = variants(&axes);
        assert_eq!(grid.len(), 6);
        let text = |v: &Vec<(String, String)>| {
            v.iter()
                .map(|(k, x)| format!("{k}={x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(text(&grid[0]), "a=1 b=x");
        assert_eq!(text(&grid[2]), "a=1 b=z");
        assert_eq!(text(&grid[3]), "a=2 b=x");
    }

    fn row(number: usize, val: Option<f64>, test: Option<f64>, failed: bool) -> Variant {
        let scores = |a: Option<f64>| {
            a.map(|a| Scores {
                loss: 0.0,
                accuracy: None,
                mae: Some(a),
            })
        };
        Variant {
            number,
            settings: Vec::new(),
            validation: scores(val),
            test: scores(test),
            epochs_run: 1,
            seconds: 0.0,
            error: failed.then(|| VariantError {
                code: "x",
                message: String::new(),
            }),
        }
    }

    #[test]
    fn ranking_is_by_validation_then_test_with_failures_last() {
        // MAE: lower is better.
        let mut rows = vec![
            row(1, None, None, true),
            row(2, Some(3.0), Some(9.0), false),
            row(3, Some(2.0), Some(9.0), false),
            row(4, Some(3.0), Some(1.0), false),
            row(5, None, Some(0.5), false),
        ];
        rank(&mut rows);
        let order: Vec<usize> = rows.iter().map(|r| r.number).collect();
        assert_eq!(order, [3, 4, 2, 5, 1]);
    }
}
