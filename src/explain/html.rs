//! `nnc explain --html`: the explanation as one self-contained page, formulas in MathML (no
//! script, no style sheet or font from the network).

use super::{mathml, Explanation};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline code spans (`` `dense(16)` ``) as `<code>`.
fn with_code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("<code>{part}</code>"));
        } else {
            out.push_str(part);
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;\
padding:0 1rem;color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;\
border-bottom:1px solid #ddd}h3{font-size:.95rem;color:#555;margin:.8rem 0 .2rem}\
.formula{display:flex;align-items:center;gap:1rem}.formula math{margin:.3rem 0}\
.shape{color:#888;font-family:monospace;font-size:.85rem}code{background:#f3f3f3;\
padding:0 .2rem}.notes{margin-top:2rem;color:#444;font-size:.9rem}";

/// The page: a heading, one part per section, the notation and glossary at the end.
pub fn render(e: &Explanation, title: &str) -> String {
    let mut body = format!("<h1>{}</h1>\n", with_code(title));
    for s in &e.sections {
        let line = s.line.map_or(String::new(), |l| format!(", line {l}"));
        body.push_str(&format!("<h2>{}{line}</h2>\n", with_code(&s.title)));
        for (label, formulas) in [("forward", &s.forward), ("backward", &s.backward)] {
            if formulas.is_empty() {
                continue;
            }
            body.push_str(&format!("<h3>{label}</h3>\n"));
            for f in formulas {
                body.push_str(&format!(
                    "<div class=\"formula\">{}<span class=\"shape\">{}</span></div>\n",
                    mathml::formula(&f.lhs, &f.rhs),
                    escape(&f.shape)
                ));
            }
        }
    }
    body.push_str("<div class=\"notes\">\n");
    body.push_str(&format!("<p>{}</p>\n", with_code(super::NOTATION)));
    for line in &e.glossary {
        body.push_str(&format!("<p>{}</p>\n", escape(line)));
    }
    body.push_str("</div>\n");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}
