//! Math in a `.nn` file: `def` items and bindings (`name = expr`), and the expressions on their
//! right-hand sides, built from pest's pairs by precedence climbing. From loosest to tightest:
//! comparisons, `+ −`, `* / @`, unary minus, `^` (right-associative, so `-x^2` is `−(x²)` and
//! `a^b^c` is `a^(b^c)`), then applying a call's result to an input (`dense(32)(x)`). Every node
//! keeps its span: from its left operand's start to its right operand's end.

use std::sync::LazyLock;

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use super::{ident, span_of, Rule};
use crate::diag::Span;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left)
            | Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left)
            | Op::infix(Rule::op_div, Assoc::Left)
            | Op::infix(Rule::op_matmul, Assoc::Left))
        .op(Op::prefix(Rule::negate))
        .op(Op::infix(Rule::op_pow, Assoc::Right))
        .op(Op::postfix(Rule::apply))
});

fn operator(rule: Rule) -> BinaryOperator {
    match rule {
        Rule::op_add => BinaryOperator::Add,
        Rule::op_sub => BinaryOperator::Sub,
        Rule::op_mul => BinaryOperator::Mul,
        Rule::op_div => BinaryOperator::Div,
        Rule::op_pow => BinaryOperator::Pow,
        Rule::op_matmul => BinaryOperator::MatMul,
        Rule::op_lt => BinaryOperator::Less,
        Rule::op_le => BinaryOperator::LessEq,
        Rule::op_gt => BinaryOperator::Greater,
        Rule::op_ge => BinaryOperator::GreaterEq,
        Rule::op_eq => BinaryOperator::Equal,
        Rule::op_ne => BinaryOperator::NotEqual,
        r => unreachable!("invariant: the Pratt table lists only operator rules, got {r:?}"),
    }
}

/// An `expr` pair as an expression tree.
pub(super) fn expr(pair: Pair<Rule>) -> Expr {
    // `postfixed` only keeps white space out from before `(`: its parts join the operator
    // stream, and a `primary` is its one inner pair.
    let flat: Vec<Pair<Rule>> = pair
        .into_inner()
        .flat_map(|p| match p.as_rule() {
            Rule::postfixed => p.into_inner().collect::<Vec<_>>(),
            _ => vec![p],
        })
        .map(|p| match p.as_rule() {
            Rule::primary => p
                .into_inner()
                .next()
                .expect("invariant: a primary holds one term"),
            _ => p,
        })
        .collect();
    climb(flat.into_iter())
}

fn climb<'i>(pairs: impl Iterator<Item = Pair<'i, Rule>>) -> Expr {
    PRATT
        .map_primary(primary)
        .map_prefix(|op, rhs| Expr {
            span: Span::new(span_of(&op).start, rhs.span.end),
            kind: ExprKind::Negate(Box::new(rhs)),
        })
        .map_infix(|lhs, op, rhs| Expr {
            span: Span::new(lhs.span.start, rhs.span.end),
            kind: ExprKind::Binary(operator(op.as_rule()), Box::new(lhs), Box::new(rhs)),
        })
        .map_postfix(|lhs, op| {
            let span = Span::new(lhs.span.start, span_of(&op).end);
            let input = expr_args(
                op.into_inner()
                    .next()
                    .expect("invariant: `apply` holds its arguments"),
            );
            match lhs.kind {
                ExprKind::Call {
                    name,
                    args,
                    parens,
                    applied_to: None,
                } => Expr {
                    span,
                    kind: ExprKind::Call {
                        name,
                        args,
                        parens,
                        applied_to: Some(input),
                    },
                },
                // `f(a)(b)(c)` or `(x + 1)(y)`: only a named call can be applied; resolution
                // reports this form at its span.
                kind => Expr {
                    span,
                    kind: ExprKind::Call {
                        name: Ident {
                            name: String::new(),
                            span: Span::new(span.start, span.start),
                        },
                        args: vec![ExprArg::Positional(Expr {
                            kind,
                            span: lhs.span,
                        })],
                        parens: true,
                        applied_to: Some(input),
                    },
                },
            }
        })
        .parse(pairs)
}

fn primary(pair: Pair<Rule>) -> Expr {
    let span = span_of(&pair);
    let kind = match pair.as_rule() {
        Rule::unsigned => ExprKind::Number(
            pair.as_str()
                .parse()
                .expect("invariant: the unsigned rule only matches decimal floats"),
        ),
        Rule::string => ExprKind::String(
            pair.into_inner()
                .next()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
        ),
        Rule::expr_list => ExprKind::List(pair.into_inner().map(expr).collect()),
        Rule::expr => return expr(pair),
        Rule::expr_call => {
            let mut inner = pair.into_inner();
            let name = ident(
                inner
                    .next()
                    .expect("invariant: a call starts with its name"),
            );
            match inner.next() {
                Some(args) => ExprKind::Call {
                    name,
                    args: expr_args(args),
                    parens: true,
                    applied_to: None,
                },
                None => {
                    // A bare name spans only itself (pest's span would run over the white space
                    // skipped looking for `(`).
                    let span = name.span;
                    return Expr {
                        kind: ExprKind::Call {
                            name,
                            args: vec![],
                            parens: false,
                            applied_to: None,
                        },
                        span,
                    };
                }
            }
        }
        r => {
            unreachable!("invariant: a primary is a number, string, list, call or group, got {r:?}")
        }
    };
    Expr { kind, span }
}

fn expr_args(pair: Pair<Rule>) -> Vec<ExprArg> {
    pair.into_inner()
        .map(|a| match a.as_rule() {
            Rule::expr_named => {
                let mut kv = a.into_inner();
                let name = ident(kv.next().expect("invariant: a named argument has a name"));
                let value = expr(kv.next().expect("invariant: a named argument has a value"));
                ExprArg::Named { name, value }
            }
            _ => ExprArg::Positional(expr(a)),
        })
        .collect()
}

pub(super) fn binding(pair: Pair<Rule>) -> Binding {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let name = ident(
        inner
            .next()
            .expect("invariant: a binding starts with its name"),
    );
    let value = expr(inner.next().expect("invariant: a binding has a value"));
    Binding {
        name,
        span: Span::new(span.start, value.span.end),
        value,
    }
}

pub(super) fn def(pair: Pair<Rule>) -> Def {
    let span = span_of(&pair);
    let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::def_kw);
    let name = ident(inner.next().expect("invariant: a def has a name"));
    let params = inner
        .next()
        .expect("invariant: a def has parameters")
        .into_inner()
        .map(|p| {
            let mut parts = p.into_inner();
            DefParam {
                name: ident(parts.next().expect("invariant: a parameter has a name")),
                default: parts.next().map(expr),
            }
        })
        .collect();
    let mut body = Vec::new();
    let mut result = None;
    for p in inner {
        match p.as_rule() {
            Rule::binding => body.push(binding(p)),
            _ => result = Some(expr(p)),
        }
    }
    Def {
        name,
        params,
        body,
        result: result.expect("invariant: a def ends with its result"),
        span,
    }
}

#[cfg(test)]
mod tests {
    use crate::diag::Source;
    use crate::syntax::ast::*;

    fn parse_def(text: &str) -> Def {
        let f = crate::syntax::parse(&Source::new("t.nn", text)).unwrap();
        match f.items.into_iter().next() {
            Some(Item::Def(d)) => d,
            other => panic!("expected a def, got {other:?}"),
        }
    }

    /// The tree as a fully parenthesised string.
    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Number(n) => format!("{n}"),
            ExprKind::String(s) => format!("{s:?}"),
            ExprKind::List(items) => {
                format!(
                    "[{}]",
                    items.iter().map(show).collect::<Vec<_>>().join(", ")
                )
            }
            ExprKind::Negate(x) => format!("(-{})", show(x)),
            ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.symbol(), show(b)),
            ExprKind::Call {
                name,
                args,
                applied_to,
                ..
            } => {
                let list = |args: &[ExprArg]| {
                    args.iter()
                        .map(|a| match a {
                            ExprArg::Positional(e) => show(e),
                            ExprArg::Named { name, value } => {
                                format!("{}: {}", name.name, show(value))
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let mut s = if args.is_empty() {
                    name.name.clone()
                } else {
                    format!("{}({})", name.name, list(args))
                };
                if let Some(input) = applied_to {
                    s = format!("{s}<-({})", list(input));
                }
                s
            }
        }
    }

    #[test]
    fn precedence_and_associativity() {
        let cases = [
            ("a + b * c", "(a + (b * c))"),
            ("a - b - c", "((a - b) - c)"),
            ("-x^2", "(-(x ^ 2))"),
            ("a^b^c", "(a ^ (b ^ c))"),
            ("x @ w + b", "((x @ w) + b)"),
            ("a + b > c * 2", "((a + b) > (c * 2))"),
            ("(a + b) * c", "((a + b) * c)"),
            ("x * sigmoid(beta * x)", "(x * sigmoid((beta * x)))"),
            (
                "dense(32, activation: relu)(h) + h",
                "(dense(32, activation: relu)<-(h) + h)",
            ),
            (
                "where(x >= 0, x, 0.01 * x)",
                "where((x >= 0), x, (0.01 * x))",
            ),
            ("a <= b", "(a <= b)"),
            ("a != b", "(a != b)"),
            ("2e-3 * x", "(0.002 * x)"),
        ];
        for (text, want) in cases {
            let d = parse_def(&format!("def f(x) = {text}\n"));
            assert_eq!(show(&d.result), want, "{text}");
        }
    }

    #[test]
    fn defs_with_bodies_defaults_and_spans() {
        let text = "def gated(x, units: 8) {\n  w = param(width(x), units)\n  h = x @ w\n  h * sigmoid(h)\n}\n";
        let d = parse_def(text);
        assert_eq!(d.name.name, "gated");
        assert_eq!(d.params.len(), 2);
        assert_eq!(show(d.params[1].default.as_ref().unwrap()), "8");
        assert_eq!(d.body.len(), 2);
        let b = &d.body[1];
        assert_eq!(&text[b.span.start..b.span.end], "h = x @ w");
        assert_eq!(
            &text[d.result.span.start..d.result.span.end],
            "h * sigmoid(h)"
        );
        // `==` is not a binding.
        let d = parse_def("def f(a, b) { a == b }");
        assert!(d.body.is_empty());
        // A line starting with `(` is a new expression, not an application of the last one.
        let d = parse_def("def f(x) {\n  b = g(x)\n  (x + b) * 2\n}");
        assert_eq!(d.body.len(), 1);
        assert_eq!(show(&d.result), "((x + b) * 2)");
        // A block whose name starts with `def` is still a block.
        let f = crate::syntax::parse(&Source::new("t.nn", "defaults { a: 1 }")).unwrap();
        assert!(matches!(f.items[0], Item::Block(_)));
    }

    #[test]
    fn bindings_in_blocks_and_plain_values() {
        let text = "model {\n  input\n  h = dense(64, activation: relu)\n  r = relu(h + dense(64))\n  output(activation: softmax)\n}\n";
        let f = crate::syntax::parse(&Source::new("t.nn", text)).unwrap();
        let Item::Block(m) = &f.items[0] else {
            panic!("a model block")
        };
        assert_eq!(m.entries.len(), 4);
        let Entry::Binding(h) = &m.entries[1] else {
            panic!("a binding")
        };
        assert_eq!(h.name.name, "h");
        let v = h.value.to_value().expect("a plain call is a value");
        assert!(
            matches!(v.kind, ValueKind::Call(ref c) if c.name.name == "dense" && c.args.len() == 2)
        );
        let Entry::Binding(r) = &m.entries[2] else {
            panic!("a binding")
        };
        assert!(r.value.to_value().is_none());
        assert_eq!(&text[r.span.start..r.span.end], "r = relu(h + dense(64))");
    }
}
