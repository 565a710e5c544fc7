//! Formulas in MathML, which browsers render natively (no script, no network): the same trees and
//! the same parentheses as the Unicode rendering.

use super::expr::{bracket_operand, precedence, Axes, Compare, Expr, Func, Infix, Name};
use super::unicode::{func_symbol, number};

/// `lhs = rhs` as one `<math>` element.
pub fn formula(lhs: &Name, rhs: &Expr) -> String {
    format!(
        "<math display=\"block\"><mrow>{}<mo>=</mo>{}</mrow></math>",
        name(lhs),
        expr(rhs)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn identifier(name: &str) -> String {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = name.split_at(name.len() - digits);
    if stem.is_empty() || stem.ends_with('_') || number.is_empty() {
        format!("<mi>{}</mi>", escape(name))
    } else {
        format!("<msub><mi>{}</mi><mn>{number}</mn></msub>", escape(stem))
    }
}

fn name(n: &Name) -> String {
    match n {
        Name::Value(v) => identifier(v),
        Name::Adjoint(v) => format!(
            "<mfrac><mrow><mo>∂</mo><mi>L</mi></mrow><mrow><mo>∂</mo>{}</mrow></mfrac>",
            identifier(v)
        ),
    }
}

fn op(symbol: &str) -> String {
    format!("<mo>{}</mo>", escape(symbol))
}

fn bracketed(e: &Expr, yes: bool) -> String {
    if yes {
        format!("<mrow><mo>(</mo>{}<mo>)</mo></mrow>", expr(e))
    } else {
        expr(e)
    }
}

fn applied(function: &str, args: &[String]) -> String {
    format!(
        "<mrow><mi>{}</mi><mo>&#x2061;</mo><mrow><mo>(</mo>{}<mo>)</mo></mrow></mrow>",
        escape(function),
        args.join("<mo>,</mo>")
    )
}

pub fn expr(e: &Expr) -> String {
    match e {
        Expr::Var(n) => name(n),
        Expr::Num(v) if *v < 0.0 => format!("<mrow><mo>−</mo><mn>{}</mn></mrow>", number(-v)),
        Expr::Num(v) => format!("<mn>{}</mn>", number(*v)),
        Expr::BatchSize => "<mi>B</mi>".into(),
        Expr::Neg(x) => format!("<mrow><mo>−</mo>{}</mrow>", bracketed(x, precedence(x) < 2)),
        Expr::Infix(Infix::Div, a, b) => format!(
            "<mfrac><mrow>{}</mrow><mrow>{}</mrow></mfrac>",
            expr(a),
            expr(b)
        ),
        Expr::Infix(o, a, b) => {
            let symbol = match o {
                Infix::Add => "+",
                Infix::Sub => "−",
                Infix::Hadamard => "⊙",
                Infix::Scale | Infix::MatMul | Infix::Div => "·",
            };
            format!(
                "<mrow>{}{}{}</mrow>",
                bracketed(a, bracket_operand(*o, a, false)),
                op(symbol),
                bracketed(b, bracket_operand(*o, b, true))
            )
        }
        Expr::Transpose(x) => format!(
            "<msup>{}<mi>T</mi></msup>",
            bracketed(x, precedence(x) < 4)
        ),
        Expr::Call(func, params, x) => call(*func, params, x),
        Expr::Abs(x) => format!("<mrow><mo>|</mo>{}<mo>|</mo></mrow>", expr(x)),
        Expr::Sqrt(x) => format!("<msqrt>{}</msqrt>", expr(x)),
        Expr::Max(a, b) => applied("max", &[expr(a), expr(b)]),
        Expr::Min(a, b) => applied("min", &[expr(a), expr(b)]),
        Expr::Sum(axes, x) => {
            let index = match axes {
                Axes::Batch => "i",
                Axes::Row => "j",
                Axes::All => "ij",
            };
            format!(
                "<mrow><munder><mo>∑</mo><mi>{index}</mi></munder>{}</mrow>",
                bracketed(x, precedence(x) < 3)
            )
        }
        Expr::Indicator(cmp, a, b) => {
            let symbol = match cmp {
                Compare::Greater => ">",
                Compare::GreaterEq => "≥",
                Compare::Equal => "=",
            };
            format!(
                "<mrow><mo>[</mo>{}{}{}<mo>]</mo></mrow>",
                expr(a),
                op(symbol),
                expr(b)
            )
        }
        Expr::Select(c, a, b) => applied("where", &[expr(c), expr(a), expr(b)]),
        Expr::Concat(a, b) => format!(
            "<mrow><mo>[</mo>{}<mo>|</mo>{}<mo>]</mo></mrow>",
            expr(a),
            expr(b)
        ),
        Expr::Columns(x, start, len) => format!(
            "<msub>{}<mrow><mo>:</mo><mo>,</mo><mn>{start}</mn><mo>..</mo><mn>{}</mn></mrow></msub>",
            bracketed(x, precedence(x) < 4),
            start + len
        ),
        Expr::Vector(values) if values.len() <= 6 => {
            let items: Vec<String> = values.iter().map(|v| expr(&Expr::Num(*v))).collect();
            format!("<mrow><mo>(</mo>{}<mo>)</mo></mrow>", items.join("<mo>,</mo>"))
        }
        Expr::Vector(values) => format!("<mtext>({} constants)</mtext>", values.len()),
    }
}

fn call(func: Func, params: &[f64], x: &Expr) -> String {
    let param = |p: &str| {
        format!(
            "<mrow><mi>{p}</mi><mo>=</mo><mn>{}</mn></mrow>",
            params.first().map_or(String::new(), |v| number(*v))
        )
    };
    match func {
        Func::DropoutMask => applied("M", &[param("p")]),
        Func::Noise => applied("ε", &[param("s")]),
        Func::LeakyRelu | Func::LeakyStep => applied(
            func_symbol(func),
            &[format!("{}<mo>;</mo>{}", expr(x), param("α"))],
        ),
        _ => applied(func_symbol(func), &[expr(x)]),
    }
}
