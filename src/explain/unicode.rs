//! Formulas in plain Unicode for the terminal: `z₁ = x·w₁ + b₁`, `∂L/∂w₁ = xᵀ·∂L/∂z₁`.

use super::expr::{bracket_operand, precedence, Axes, Compare, Expr, Func, Infix, Name};

/// A value's name with trailing digits as subscripts (`w1` → `w₁`), or an adjoint as ∂L/∂name.
pub fn name(n: &Name) -> String {
    match n {
        Name::Value(v) => subscripted(v),
        Name::Adjoint(v) => format!("∂L/∂{}", subscripted(v)),
    }
}

fn subscripted(name: &str) -> String {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = name.split_at(name.len() - digits);
    if stem.is_empty() || stem.ends_with('_') || number.is_empty() {
        return name.to_string();
    }
    let sub: String = number
        .chars()
        .map(|c| char::from_u32('₀' as u32 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
        .collect();
    format!("{stem}{sub}")
}

/// A number as written in a formula: the shortest decimal that reads back, with a true minus.
pub fn number(v: f64) -> String {
    let text = if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    };
    text.replace('-', "−")
}

pub fn expr(e: &Expr) -> String {
    match e {
        Expr::Var(n) => name(n),
        Expr::Num(v) => number(*v),
        Expr::BatchSize => "B".into(),
        Expr::Neg(x) => format!("−{}", bracketed(x, precedence(x) < 2)),
        Expr::Infix(op, a, b) => {
            let symbol = match op {
                Infix::Add => " + ",
                Infix::Sub => " − ",
                Infix::Hadamard => " ⊙ ",
                Infix::Scale | Infix::MatMul => "·",
                Infix::Div => "/",
            };
            format!(
                "{}{symbol}{}",
                bracketed(a, bracket_operand(*op, a, false)),
                bracketed(b, bracket_operand(*op, b, true))
            )
        }
        Expr::Transpose(x) => format!("{}ᵀ", bracketed(x, precedence(x) < 4)),
        Expr::Call(func, params, x) => call(*func, params, x),
        Expr::Abs(x) => format!("|{}|", expr(x)),
        Expr::Sqrt(x) => format!("√{}", bracketed(x, precedence(x) < 4)),
        Expr::Max(a, b) => format!("max({}, {})", expr(a), expr(b)),
        Expr::Min(a, b) => format!("min({}, {})", expr(a), expr(b)),
        Expr::Sum(axes, x) => {
            let sigma = match axes {
                Axes::Batch => "Σᵢ",
                Axes::Row => "Σⱼ",
                Axes::All => "Σᵢⱼ",
            };
            format!("{sigma} {}", bracketed(x, precedence(x) < 3))
        }
        Expr::Indicator(cmp, a, b) => {
            let symbol = match cmp {
                Compare::Greater => ">",
                Compare::GreaterEq => "≥",
                Compare::Equal => "=",
            };
            format!("[{} {symbol} {}]", expr(a), expr(b))
        }
        Expr::Select(c, a, b) => format!("where({}, {}, {})", expr(c), expr(a), expr(b)),
        Expr::Concat(a, b) => format!("[{} | {}]", expr(a), expr(b)),
        Expr::Columns(x, start, len) => format!(
            "{}[:, {}..{}]",
            bracketed(x, precedence(x) < 4),
            start,
            start + len
        ),
        Expr::Vector(values) if values.len() <= 6 => {
            let items: Vec<String> = values.iter().map(|v| number(*v)).collect();
            format!("({})", items.join(", "))
        }
        Expr::Vector(values) => format!("({} constants)", values.len()),
    }
}

fn call(func: Func, params: &[f64], x: &Expr) -> String {
    let param = |p: &str| {
        format!(
            "{p}={}",
            params.first().map_or(String::new(), |v| number(*v))
        )
    };
    match func {
        Func::DropoutMask => format!("M({})", param("p")),
        Func::Noise => format!("ε({})", param("s")),
        Func::LeakyRelu => format!("leaky_relu({}; {})", expr(x), param("α")),
        Func::LeakyStep => format!("H({}; {})", expr(x), param("α")),
        _ => format!("{}({})", func_symbol(func), expr(x)),
    }
}

/// The symbol of an element-wise function (shared with the MathML renderer).
pub fn func_symbol(func: Func) -> &'static str {
    match func {
        Func::Exp => "exp",
        Func::Expm1 => "expm1",
        Func::Log => "log",
        Func::Relu => "relu",
        Func::Step | Func::LeakyStep => "H",
        Func::LeakyRelu => "leaky_relu",
        Func::Sigmoid => "σ",
        Func::Tanh => "tanh",
        Func::Softplus => "softplus",
        Func::Sign => "sign",
        Func::NormalCdf => "Φ",
        Func::LogSoftmax => "log_softmax",
        Func::DropoutMask => "M",
        Func::Noise => "ε",
    }
}

fn bracketed(e: &Expr, yes: bool) -> String {
    if yes {
        format!("({})", expr(e))
    } else {
        expr(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(n: &str) -> Box<Expr> {
        Box::new(Expr::Var(Name::Value(n.into())))
    }

    fn infix(op: Infix, a: Box<Expr>, b: Box<Expr>) -> Box<Expr> {
        Box::new(Expr::Infix(op, a, b))
    }

    #[test]
    fn parentheses_only_where_the_meaning_needs_them() {
        let (a, b, c) = (var("a"), var("b"), var("c"));
        let sub_bc = infix(Infix::Sub, b.clone(), c.clone());
        assert_eq!(
            expr(&infix(Infix::Sub, a.clone(), sub_bc.clone())),
            "a − (b − c)"
        );
        assert_eq!(
            expr(&infix(Infix::Sub, sub_bc.clone(), a.clone())),
            "b − c − a"
        );
        let matmul = infix(Infix::MatMul, a.clone(), b.clone());
        assert_eq!(
            expr(&infix(Infix::Hadamard, matmul.clone(), c.clone())),
            "(a·b) ⊙ c"
        );
        let hadamard = infix(Infix::Hadamard, b.clone(), c.clone());
        assert_eq!(
            expr(&infix(Infix::MatMul, a.clone(), hadamard.clone())),
            "a·(b ⊙ c)"
        );
        assert_eq!(
            expr(&infix(Infix::Hadamard, a.clone(), hadamard)),
            "a ⊙ b ⊙ c"
        );
        assert_eq!(
            expr(&infix(
                Infix::Div,
                a.clone(),
                infix(Infix::Div, b.clone(), c.clone())
            )),
            "a/(b/c)"
        );
        let neg = Box::new(Expr::Neg(a.clone()));
        assert_eq!(expr(&infix(Infix::Scale, neg.clone(), b.clone())), "(−a)·b");
        assert_eq!(expr(&infix(Infix::Add, b.clone(), neg)), "b + (−a)");
        assert_eq!(
            expr(&infix(Infix::Scale, Box::new(Expr::Num(-2.0)), b.clone())),
            "−2·b"
        );
        assert_eq!(
            expr(&infix(
                Infix::Hadamard,
                b.clone(),
                Box::new(Expr::Num(-2.0))
            )),
            "b ⊙ (−2)"
        );
        assert_eq!(expr(&Expr::Transpose(matmul)), "(a·b)ᵀ");
        assert_eq!(
            expr(&Expr::Sum(Axes::Batch, infix(Infix::Add, a, b))),
            "Σᵢ (a + b)"
        );
    }

    #[test]
    fn names_take_subscripts_and_adjoints() {
        assert_eq!(name(&Name::Value("w12".into())), "w₁₂");
        assert_eq!(name(&Name::Value("gated2_w".into())), "gated2_w");
        assert_eq!(name(&Name::Value("h1_1".into())), "h1_1");
        assert_eq!(name(&Name::Adjoint("z3".into())), "∂L/∂z₃");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(-1.0), "−1");
        assert_eq!(number(0.001), "0.001");
    }
}
