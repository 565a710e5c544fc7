//! `report.html`: the one page a person opens after a run. Self-contained (the plots are inline
//! SVG, the formulas MathML, the style sheet in the page; no script, nothing loaded from
//! anywhere), in the order a reader asks: what was trained and how it went, what went wrong and
//! what to change, the model, the learning curves, the training statistics, the test metrics,
//! and the formulas the compiler derived. Every figure comes from the run's report; nothing here
//! computes a number of its own.

use crate::explain::html::{escape, page, sections, with_code, STYLE};
use crate::train::report::{Report, TestMetrics, WarningRecord};

/// What the page shows besides the report: drawn and written by `save_run`.
pub struct Parts<'a> {
    /// The `.nn` file's name and text.
    pub file_name: &'a str,
    pub source: &'a str,
    /// `nnc summary`'s table.
    pub summary: &'a str,
    pub explanation: &'a crate::explain::Explanation,
    /// SVG pictures; the statistics' is None when the run measured none.
    pub learning_curves: &'a str,
    pub statistics: Option<&'a str>,
    pub confusion: Option<&'a str>,
}

const PAGE_STYLE: &str = ".overview{color:#333}.warning{border-left:4px solid #d65f00;\
background:#fff6ee;padding:.4rem .8rem;margin:.8rem 0}.warning .code{font-family:monospace;\
color:#a04000}.warning pre{margin:.3rem 0;background:#fff;padding:.2rem .4rem}\
.ok{border-left:4px solid #2c8c2c;background:#f1f9f1;padding:.4rem .8rem}\
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto}svg{max-width:100%;height:auto}\
table.metrics{border-collapse:collapse}table.metrics td,table.metrics th{padding:.2rem .8rem;\
text-align:right;border-bottom:1px solid #eee}table.metrics th:first-child,\
table.metrics td:first-child{text-align:left}nav a{margin-right:1rem}";

/// The page of a finished run.
pub fn render(report: &Report, parts: &Parts) -> String {
    let title = format!("{}: training report", parts.file_name);
    let mut body = format!("<h1>{}</h1>\n", escape(&title));
    body.push_str(
        "<nav><a href=\"#warnings\">warnings</a><a href=\"#model\">model</a>\
         <a href=\"#curves\">learning curves</a><a href=\"#statistics\">training statistics</a>\
         <a href=\"#test\">test</a><a href=\"#formulas\">formulas</a></nav>\n",
    );
    body.push_str(&overview(report));
    body.push_str(&warnings(&report.warnings, parts.source, report));
    body.push_str(&format!(
        "<h2 id=\"model\">Model</h2>\n<pre>{}</pre>\n",
        escape(parts.summary)
    ));
    body.push_str(&format!(
        "<h2 id=\"curves\">Learning curves</h2>\n{}\n",
        parts.learning_curves
    ));
    body.push_str("<h2 id=\"statistics\">Training statistics</h2>\n");
    match parts.statistics {
        Some(svg) => body.push_str(&format!(
            "<p>Per layer and epoch, measured inside the training step: the activations' spread, \
             the share of units dead or saturated, and each weight matrix's gradient and update \
             relative to its size.</p>\n{svg}\n"
        )),
        None => body.push_str(
            "<p>Not measured in this run: it ran with <code>--no-monitor</code> (or \
             <code>monitor: false</code> in the <code>train</code> block).</p>\n",
        ),
    }
    body.push_str(&test(
        report.test.as_ref(),
        &report.classes,
        report.rows.test,
    ));
    if let Some(svg) = parts.confusion {
        body.push_str(&format!("{svg}\n"));
    }
    body.push_str(&format!(
        "<h2 id=\"formulas\">Formulas</h2>\n<p>What each layer computes and the derivatives \
         the compiler found for it (<code>nnc explain</code>).</p>\n{}",
        sections(parts.explanation, "h3", "h4")
    ));
    page(&title, &format!("{STYLE}{PAGE_STYLE}"), &body)
}

fn overview(r: &Report) -> String {
    let stopped = match (r.stopped_early, r.best_epoch) {
        (true, Some(b)) => format!(", stopped early; best epoch {b}"),
        (false, Some(b)) => format!("; best epoch {b}"),
        _ => String::new(),
    };
    let last = r.history.last().map_or(String::new(), |e| {
        let validation = e.val_loss.map_or(String::new(), |v| {
            format!(", validation loss {}", figure(v))
        });
        format!(
            "; last epoch: training loss {}{validation}",
            figure(e.train_loss)
        )
    });
    format!(
        "<p class=\"overview\">A {} model, trained by the {} on {} rows ({} for validation, {} \
         for test): {} epochs{stopped}{last}, in {} ({:.0} samples/s).</p>\n",
        r.task,
        if r.executor == "jit" {
            "compiled step"
        } else {
            "interpreter"
        },
        r.rows.train,
        r.rows.validation,
        r.rows.test,
        r.epochs_run,
        seconds(r.train_seconds),
        r.samples_per_second
    )
}

/// A duration in seconds, or in milliseconds below one.
fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn figure(v: f64) -> String {
    format!("{v:.4}")
}

/// Each warning with its code, message, the line of the file it points at, and its help.
fn warnings(list: &[WarningRecord], source: &str, r: &Report) -> String {
    let mut out = String::from("<h2 id=\"warnings\">Warnings</h2>\n");
    if list.is_empty() {
        let measured = r.history.iter().any(|e| e.monitor.is_some());
        let scope = if measured {
            "in the data, the learning curves or the training statistics"
        } else {
            "in the data or the learning curves (the training statistics were not measured)"
        };
        out.push_str(&format!(
            "<p class=\"ok\">None: nnc found nothing wrong {scope}.</p>\n"
        ));
        return out;
    }
    for w in list {
        out.push_str("<div class=\"warning\">\n");
        out.push_str(&format!(
            "<div><span class=\"code\">{}</span>: {}</div>\n",
            escape(w.code),
            with_code(&w.message)
        ));
        if let Some(at) = &w.at {
            let line = line_of(at).and_then(|n| source.lines().nth(n - 1));
            out.push_str(&format!("<div>at {}</div>\n", escape(at)));
            if let Some(text) = line {
                out.push_str(&format!("<pre>{}</pre>\n", escape(text.trim_end())));
            }
        }
        if let Some(help) = &w.help {
            out.push_str(&format!("<div>help: {}</div>\n", with_code(help)));
        }
        out.push_str("</div>\n");
    }
    out
}

/// The line number of a `file:line:column` place.
fn line_of(at: &str) -> Option<usize> {
    let mut parts = at.rsplitn(3, ':');
    let _column = parts.next()?;
    parts.next()?.parse().ok().filter(|&n| n > 0)
}

fn test(t: Option<&TestMetrics>, classes: &[String], rows: usize) -> String {
    let mut out = String::from("<h2 id=\"test\">Test</h2>\n");
    let Some(t) = t else {
        out.push_str("<p>No test metrics: the test split is empty.</p>\n");
        return out;
    };
    out.push_str(&format!(
        "<p>{rows} rows held out of training; loss {}.</p>\n",
        figure(t.loss)
    ));
    if let Some(c) = &t.classification {
        out.push_str(&format!(
            "<p>accuracy {}, macro precision {}, recall {}, F1 {}{}</p>\n",
            figure(c.accuracy),
            figure(c.precision),
            figure(c.recall),
            figure(c.f1),
            c.roc_auc
                .map_or(String::new(), |a| format!(", ROC AUC {}", figure(a)))
        ));
        out.push_str(
            "<table class=\"metrics\"><tr><th>class</th><th>precision</th><th>recall</th>\
             <th>F1</th><th>support</th></tr>\n",
        );
        for (name, s) in classes.iter().zip(&c.per_class) {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(name),
                figure(s.precision),
                figure(s.recall),
                figure(s.f1),
                s.support
            ));
        }
        out.push_str("</table>\n");
    }
    if let Some(m) = &t.regression {
        out.push_str(&format!(
            "<table class=\"metrics\"><tr><th>MAE</th><th>MSE</th><th>RMSE</th><th>R²</th></tr>\n\
             <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>\n",
            figure(m.mae),
            figure(m.mse),
            figure(m.rmse),
            figure(m.r2)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn a_place_gives_its_line() {
        assert_eq!(line_of("model.nn:12:5"), Some(12));
        assert_eq!(line_of("C:/m/model.nn:3:1"), Some(3));
        assert_eq!(line_of("model.nn"), None);
        assert_eq!(line_of("model.nn:0:1"), None);
    }
}
