//! Printing `nnc run --sweep`: a line as each variant starts and ends, then the comparison table
//! best first. The grid, the runs and the ranking are `nnc::train::sweep`'s.

use std::path::Path;

use nnc::diag::Diagnostic;
use nnc::train::session::{Overrides, RunOptions};
use nnc::train::sweep::{self, Scores, Variant};

use super::write_stdout;

fn settings_text(v: &Variant) -> String {
    (v.settings.iter())
        .map(|s| format!("{}={}", s.key, s.value))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The metric, then the loss, of one split; dashes when not measured.
fn scores_cells(s: Option<Scores>) -> (String, String) {
    match s {
        None => ("-".into(), "-".into()),
        Some(s) => (
            (s.accuracy.or(s.mae))
                .map(|m| format!("{m:.4}"))
                .unwrap_or_else(|| "-".into()),
            format!("{:.4}", s.loss),
        ),
    }
}

pub fn run(
    file: &Path,
    overrides: Overrides,
    interp: bool,
    flags: &[String],
    report_path: Option<&Path>,
) -> Result<(), Diagnostic> {
    let axes = flags
        .iter()
        .map(|f| sweep::parse_axis(f))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = RunOptions::new(overrides, interp);
    let mut first_error = None;
    let report = sweep::sweep(
        file,
        &opts,
        &axes,
        |n, count, settings| {
            let text: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            say!("variant {n}/{count}: {}", text.join("  "));
        },
        |w| eprintln!("{:?}", miette::Report::new(w.clone())),
        |v, count, error| {
            let n = v.number;
            match error {
                Some(d) => {
                    eprintln!("{:?}", miette::Report::new(d.clone()));
                    say!("variant {n}/{count} failed: {}", d.message);
                    first_error.get_or_insert_with(|| d.clone());
                }
                None => {
                    let (val, _) = scores_cells(v.validation);
                    let (test, _) = scores_cells(v.test);
                    say!(
                        "variant {n}/{count}: validation {val}  test {test}  {} epochs  {:.1} s",
                        v.epochs_run,
                        v.seconds
                    );
                }
            }
        },
    );
    let metric = report.metric.unwrap_or("metric");
    let rows: Vec<[String; 8]> = (report.variants.iter().enumerate())
        .map(|(rank, v)| {
            let (val, val_loss) = scores_cells(v.validation);
            let (test, test_loss) = scores_cells(v.test);
            let (epochs, time) = match &v.error {
                Some(e) => (format!("failed: {}", e.code), String::new()),
                None => (v.epochs_run.to_string(), format!("{:.1}", v.seconds)),
            };
            [
                (rank + 1).to_string(),
                settings_text(v),
                val,
                val_loss,
                test,
                test_loss,
                epochs,
                time,
            ]
        })
        .collect();
    let header = [
        "rank".to_string(),
        "variant".to_string(),
        format!("val {metric}"),
        "val loss".to_string(),
        format!("test {metric}"),
        "test loss".to_string(),
        "epochs".to_string(),
        "seconds".to_string(),
    ];
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            (rows.iter().map(|r| r[c].chars().count()))
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String; 8]| {
        let text: Vec<String> = (cells.iter().zip(&widths).enumerate())
            .map(|(c, (cell, w))| match c {
                1 | 6 => format!("{cell:<w$}"),
                _ => format!("{cell:>w$}"),
            })
            .collect();
        text.join("  ").trim_end().to_string()
    };
    say!("");
    say!("{}", line(&header));
    for r in &rows {
        say!("{}", line(r));
    }
    if let Some(path) = report_path {
        nnc::train::report::write_json(path, &report)?;
    }
    // The sweep's exit code: success when any variant trained, else the first variant's error.
    match first_error {
        Some(d) if report.variants.iter().all(|v| v.error.is_some()) => Err(d),
        _ => Ok(()),
    }
}
