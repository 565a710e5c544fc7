//! `nnc explain --html`: the explanation as one self-contained page, formulas in MathML (no
//! script, no style sheet or font from the network).

use super::{mathml, Explanation};

/// `text` safe to place in HTML text or a quoted attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline code spans (`` `dense(16)` ``) as `<code>`.
pub fn with_code(text: &str) -> String {
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

/// The page's style sheet (the report page adds to it).
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;\
padding:0 1rem;color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;\
border-bottom:1px solid #ddd}h3{font-size:.95rem;color:#555;margin:.8rem 0 .2rem}\
.formula{display:flex;align-items:center;gap:1rem}.formula math{margin:.3rem 0}\
.shape{color:#888;font-family:monospace;font-size:.85rem}code{background:#f3f3f3;\
padding:0 .2rem}.notes{margin-top:2rem;color:#444;font-size:.9rem}";

/// The page: a heading, one part per section, the notation and glossary at the end.
pub fn render(e: &Explanation, title: &str) -> String {
    let body = format!("<h1>{}</h1>\n{}", with_code(title), sections(e, "h2", "h3"));
    page(title, STYLE, &body)
}

/// A whole page around `body`: its title, style sheet and nothing loaded from anywhere.
pub fn page(title: &str, style: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{style}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// The formulas, one part per section headed by `section` (`h2`), forward and backward parts
/// headed by `part`, then the notation and the glossary.
pub fn sections(e: &Explanation, section: &str, part: &str) -> String {
    let mut body = String::new();
    for s in &e.sections {
        let line = s.line.map_or(String::new(), |l| format!(", line {l}"));
        body.push_str(&format!(
            "<{section}>{}{line}</{section}>\n",
            with_code(&s.title)
        ));
        for (label, formulas) in [("forward", &s.forward), ("backward", &s.backward)] {
            if formulas.is_empty() {
                continue;
            }
            body.push_str(&format!("<{part}>{label}</{part}>\n"));
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
    body
}
