//! `nnc explain`: the formulas read off the gradient function's IR, for the examples. The iris
//! model's whole text is a snapshot; the other tests check what must hold for every model (a
//! formula for every parameter's gradient, in the parameter's own section) and the derivative of a
//! `def` activation the compiler found.

mod common;

use std::path::Path;

use nnc::explain::{self, Explanation};
use nnc::train::overrides::Overrides;
use nnc::train::session;

use common::EXAMPLES;
fn explained(name: &str) -> (nnc::program::Program, Explanation) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.nn"));
    let program = session::build_file(&path, &Overrides::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("{name}: {}", e.render_plain()));
    let explanation = explain::explain(&program);
    (program, explanation)
}

/// The lines of a section's formulas, rendered, without the shape column.
fn formulas(e: &Explanation, title_start: &str) -> Vec<String> {
    let section = e
        .sections
        .iter()
        .find(|s| s.title.starts_with(title_start))
        .unwrap_or_else(|| panic!("no section `{title_start}`"));
    section
        .forward
        .iter()
        .chain(&section.backward)
        .map(|f| {
            format!(
                "{} = {}",
                explain::unicode::name(&f.lhs),
                explain::unicode::expr(&f.rhs)
            )
        })
        .collect()
}

#[test]
fn iris_formulas_are_the_textbook_ones() {
    let (_, e) = explained("iris");
    assert_eq!(
        formulas(&e, "layer 1"),
        [
            "z₁ = x·w₁ + b₁",
            "h₁ = relu(z₁)",
            "∂L/∂h₁ = ∂L/∂logits·w₂ᵀ",
            "∂L/∂z₁ = ∂L/∂h₁ ⊙ H(z₁)",
            "∂L/∂b₁ = Σᵢ ∂L/∂z₁",
            "∂L/∂w₁ = xᵀ·∂L/∂z₁",
        ]
    );
    assert_eq!(
        formulas(&e, "layer 2"),
        [
            "logits = h₁·w₂ + b₂",
            "log_probs = log_softmax(logits)",
            "output = exp(log_probs)",
            "∂L/∂log_probs = (−1/B)·y",
            "∂L/∂logits = ∂L/∂log_probs − output ⊙ Σⱼ ∂L/∂log_probs",
            "∂L/∂b₂ = Σᵢ ∂L/∂logits",
            "∂L/∂w₂ = h₁ᵀ·∂L/∂logits",
        ]
    );
    assert_eq!(formulas(&e, "the loss"), ["loss = −Σᵢⱼ (y ⊙ log_probs)/B"]);
    insta::assert_snapshot!("iris", explain::render_text(&e));
}

#[test]
fn sections_name_their_lines() {
    let (_, e) = explained("iris");
    let places: Vec<(&str, Option<usize>)> = e
        .sections
        .iter()
        .map(|s| (s.title.as_str(), s.line))
        .collect();
    assert_eq!(
        places,
        [
            ("layer 1 `dense(16, activation: relu)`", Some(11)),
            ("layer 2 `output(3, activation: softmax)`", Some(12)),
            ("the loss `cross_entropy`", Some(15)),
        ]
    );
}

#[test]
fn a_def_activation_shows_the_derivative_found() {
    let (_, e) = explained("custom_layer");
    let layer = formulas(&e, "layer 1");
    // swish with β = 1.5: x·σ(1.5x), whose derivative is σ(1.5x) + 1.5·x·σ(1.5x)(1 − σ(1.5x)).
    assert!(
        layer.contains(&"h₁ = z₁ ⊙ σ(1.5·z₁)".to_string()),
        "{layer:#?}"
    );
    assert!(
        layer.contains(
            &"∂L/∂z₁ = ∂L/∂h₁ ⊙ σ(1.5·z₁) + 1.5·(∂L/∂h₁ ⊙ z₁ ⊙ σ(1.5·z₁) ⊙ (1 − σ(1.5·z₁)))"
                .to_string()
        ),
        "{layer:#?}"
    );
    // The gated layer, a def with its own parameters, is its own section.
    let gated = formulas(&e, "`gated(64)`");
    assert!(
        gated.iter().any(|f| f.starts_with("∂L/∂gated2_w = h₁ᵀ·")),
        "{gated:#?}"
    );
}

#[test]
fn every_parameter_has_its_gradient_in_its_own_section() {
    for name in EXAMPLES {
        let (program, e) = explained(name);
        for p in &program.params {
            let lhs = format!(
                "∂L/∂{}",
                explain::unicode::name(&explain::expr::Name::Value(p.name.clone()))
            );
            // One formula: an adjoint's partial sums are written out in the finished one.
            let holders: Vec<&str> = (e.sections.iter())
                .flat_map(|s| s.backward.iter().map(move |f| (s, f)))
                .filter(|(_, f)| explain::unicode::name(&f.lhs) == lhs)
                .map(|(s, _)| s.title.as_str())
                .collect();
            assert_eq!(holders.len(), 1, "{name}: `{lhs}` in {holders:?}");
            // In the section that also shows where the parameter is used.
            let section = e.sections.iter().find(|s| s.title == holders[0]).unwrap();
            let used = section
                .forward
                .iter()
                .any(|f| explain::unicode::expr(&f.rhs).contains(&lhs["∂L/∂".len()..]));
            assert!(used, "{name}: `{lhs}` is not beside a use of it");
        }
        let text = explain::render_text(&e);
        assert!(
            !text.contains("d_"),
            "{name}: an IR adjoint name is left:\n{text}"
        );
    }
}

#[test]
fn penalties_and_dropout_stay_with_their_layer() {
    let (_, e) = explained("breast_cancer_dropout");
    let layer = formulas(&e, "layer 1");
    for expected in [
        "mask₁ = M(p=0.5)",
        "h1_dropped = h₁ ⊙ mask₁",
        "l2_w₁ = 0.001·Σᵢⱼ (w₁ ⊙ w₁)",
        "∂L/∂h₁ = ∂L/∂h1_dropped ⊙ mask₁",
    ] {
        assert!(
            layer.contains(&expected.to_string()),
            "{expected}: {layer:#?}"
        );
    }
    assert_eq!(
        formulas(&e, "the total loss"),
        ["loss = data_loss + l2_w₁ + l1_w₂ + l2_w₂"]
    );
}

/// Tags open and close in order (a MathML renderer drops what it cannot parse).
fn balanced(html: &str) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').ok_or("an unclosed `<`")? + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        let name = tag.split_whitespace().next().unwrap_or("");
        if let Some(closing) = name.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == closing => {}
                other => return Err(format!("`</{closing}>` closes {other:?}")),
            }
        } else if !name.starts_with('!') && name != "meta" && !tag.ends_with('/') {
            open.push(name);
        }
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(format!("left open: {open:?}"))
    }
}

#[test]
fn the_page_is_self_contained_mathml() {
    for name in EXAMPLES {
        let (_, e) = explained(name);
        let page = explain::html::render(&e, &format!("The formulas of `{name}.nn`"));
        balanced(&page).unwrap_or_else(|err| panic!("{name}: {err}"));
        let formulas: usize = e
            .sections
            .iter()
            .map(|s| s.forward.len() + s.backward.len())
            .sum();
        assert_eq!(
            page.matches("<math display=\"block\">").count(),
            formulas,
            "{name}"
        );
        for outside in ["http:", "https:", "<script", "<link", "src="] {
            assert!(
                !page.contains(outside),
                "{name}: the page refers to `{outside}`"
            );
        }
    }
    let (_, e) = explained("iris");
    let page = explain::html::render(&e, "iris");
    // ∂L/∂w₁ = xᵀ·∂L/∂z₁
    assert!(page.contains(
        "<mfrac><mrow><mo>∂</mo><mi>L</mi></mrow><mrow><mo>∂</mo><msub><mi>w</mi><mn>1</mn></msub>\
         </mrow></mfrac><mo>=</mo><mrow><msup><mi>x</mi><mi>T</mi></msup><mo>·</mo>"
    ));
}

#[test]
fn the_command_prints_and_writes_the_page() {
    let out = common::nnc(&["explain", "examples/iris.nn"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("layer 1 `dense(16, activation: relu)`, line 11\n"),
        "{text}"
    );
    assert!(text.contains("H(x) = 1 where x > 0, else 0: the derivative of relu"));

    let dir = common::scratch("explain");
    let page = dir.join("iris.html");
    let out = common::nnc(&[
        "explain",
        "examples/iris.nn",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&page).unwrap().contains("<math"));

    let missing = dir.join("no/such/folder/iris.html");
    let out = common::nnc(&[
        "explain",
        "examples/iris.nn",
        "--html",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("nnc::io::explain") && err.contains("cannot write"),
        "{err}"
    );
}
