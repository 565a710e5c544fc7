//! Parsing: the pest grammar in `grammar/nn.pest` turned into the AST of `ast`, with byte-offset
//! spans. Syntax errors become diagnostics whose span is built from pest's byte offsets (pest's own
//! line/column adapter for miette counts differently), with the expected tokens in plain words.
//! This stage knows nothing of shapes, IR or numbers beyond literals.

pub mod ast;
mod expr;

use pest::iterators::Pair;
use pest::Parser;

use crate::diag::{Diagnostic, Source, Span};
use ast::*;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/nn.pest"]
struct NnParser;

pub(super) fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

/// The deepest nesting of brackets a file may have. Parsing and every later stage recurse over
/// nesting, so without a bound a file of many `(` or `[` would overflow the stack.
pub const MAX_NESTING: usize = 200;

/// The characters of `text` outside strings and comments, with their byte offsets: what a scan
/// for brackets must see even in text that does not parse (a string or a comment ends at its
/// line's end). Quotes and `#` are left out with what they enclose.
pub fn code_chars(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let (mut in_string, mut in_comment) = (false, false);
    text.char_indices().filter(move |&(_, c)| match c {
        '\n' => {
            in_comment = false;
            in_string = false;
            true
        }
        _ if in_comment => false,
        '"' => {
            in_string = !in_string;
            false
        }
        _ if in_string => false,
        '#' => {
            in_comment = true;
            false
        }
        _ => true,
    })
}

/// Refuse a source whose brackets (outside strings and comments) nest deeper than `MAX_NESTING`.
fn check_nesting(source: &Source) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    for (i, c) in code_chars(&source.text) {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diagnostic::new(
                        "nnc::syntax::too_deep",
                        format!("brackets nest more than {MAX_NESTING} deep"),
                    )
                    .with_source(source)
                    .with_label(Span::new(i, i + 1), "too deep here")
                    .with_help("split the expression with named values (`a = ...`)"));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The most operators (`+`, `*`, `@`, a unary minus, ...) a file's math may hold. A chain of
/// operators is a tree as deep as it is long, and the stages after the parser walk trees
/// recursively, so without a bound a long enough chain would overflow the stack; real models use
/// tens.
pub const MAX_OPERATORS: usize = 1000;

/// Refuse a parse tree with more than `MAX_OPERATORS` operators, at the first one past it.
fn check_operators(source: &Source, file: &Pair<Rule>) -> Result<(), Diagnostic> {
    let operator = |r: Rule| {
        matches!(
            r,
            Rule::op_add
                | Rule::op_sub
                | Rule::op_mul
                | Rule::op_div
                | Rule::op_pow
                | Rule::op_matmul
                | Rule::op_le
                | Rule::op_ge
                | Rule::op_lt
                | Rule::op_gt
                | Rule::op_eq
                | Rule::op_ne
                | Rule::negate
        )
    };
    // `flatten` walks the tree without recursion.
    let Some(past) = file
        .clone()
        .into_inner()
        .flatten()
        .filter(|p| operator(p.as_rule()))
        .nth(MAX_OPERATORS)
    else {
        return Ok(());
    };
    let span = past.as_span();
    Err(Diagnostic::new(
        "nnc::syntax::too_long",
        format!("the file's math has more than {MAX_OPERATORS} operators"),
    )
    .with_source(source)
    .with_label(Span::new(span.start(), span.end()), "one too many")
    .with_help(
        "write the math with fewer operators: a sum of many values as `add(a, b, ...)`, parts of it \
         as named values (`a = ...`), a repeated block as a def",
    ))
}

/// Parse a whole `.nn` source into its syntax tree.
pub fn parse(source: &Source) -> Result<File, Diagnostic> {
    check_nesting(source)?;
    let mut pairs =
        NnParser::parse(Rule::file, &source.text).map_err(|e| syntax_error(source, e))?;
    let file = pairs
        .next()
        .expect("invariant: a successful parse of `file` yields one pair");
    check_operators(source, &file)?;
    let mut items = Vec::new();
    for pair in file.into_inner() {
        match pair.as_rule() {
            Rule::block => items.push(Item::Block(block(pair))),
            Rule::setting => items.push(Item::Setting(setting(pair))),
            Rule::def => items.push(Item::Def(expr::def(pair))),
            Rule::EOI => {}
            r => unreachable!(
                "invariant: the grammar allows only blocks and settings at top level, got {r:?}"
            ),
        }
    }
    Ok(File { items })
}

/// The pest parse tree of a whole file, for the formatter, which needs every token the AST
/// drops (grouping parentheses, `()` after a name, numbers as written). `None` when the text does
/// not parse or nests too deep: `parse` gives the diagnostic, and callers run it first.
pub(crate) fn parse_tree(text: &str) -> Option<Pair<'_, Rule>> {
    if check_nesting(&Source::new("", text)).is_err() {
        return None;
    }
    NnParser::parse(Rule::file, text).ok()?.next()
}

/// Parse a source holding one value (`median`, `clip(z: 3)`), as a command-line flag gives it.
pub fn parse_value(source: &Source) -> Result<Value, Diagnostic> {
    check_nesting(source)?;
    let mut pairs =
        NnParser::parse(Rule::lone_value, &source.text).map_err(|e| syntax_error(source, e))?;
    let lone = pairs
        .next()
        .expect("invariant: a successful parse of `lone_value` yields one pair");
    let pair = lone
        .into_inner()
        .next()
        .expect("invariant: `lone_value` holds a value");
    Ok(value(pair))
}

pub(super) fn ident(pair: Pair<Rule>) -> Ident {
    Ident {
        span: span_of(&pair),
        name: pair.as_str().to_string(),
    }
}

fn block(pair: Pair<Rule>) -> Block {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let name = ident(
        inner
            .next()
            .expect("invariant: a block starts with its name"),
    );
    let mut label = None;
    let entries = inner
        .filter_map(|p| match p.as_rule() {
            Rule::label => {
                label = Some(block_label(p));
                None
            }
            Rule::setting => Some(Entry::Setting(setting(p))),
            Rule::call => Some(Entry::Call(call(p))),
            Rule::block => Some(Entry::Block(block(p))),
            Rule::binding => Some(Entry::Binding(expr::binding(p))),
            r => unreachable!("invariant: a block holds settings, calls and blocks, got {r:?}"),
        })
        .collect();
    Block {
        name,
        label,
        entries,
        span,
    }
}

/// A block's label: a name, or a string's text with the string's span.
fn block_label(pair: Pair<Rule>) -> Ident {
    let inner = pair
        .into_inner()
        .next()
        .expect("invariant: a label is a name or a string");
    match inner.as_rule() {
        Rule::ident => ident(inner),
        _ => {
            let span = span_of(&inner);
            let name = inner
                .into_inner()
                .next()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            Ident { name, span }
        }
    }
}

fn setting(pair: Pair<Rule>) -> Setting {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let key = ident(
        inner
            .next()
            .expect("invariant: a setting starts with its key"),
    );
    let value = value(inner.next().expect("invariant: a setting has a value"));
    Setting { key, value, span }
}

fn call(pair: Pair<Rule>) -> Call {
    let mut span = span_of(&pair);
    let mut inner = pair.into_inner();
    let name = ident(
        inner
            .next()
            .expect("invariant: a call starts with its name"),
    );
    let mut args = Vec::new();
    let list = inner.next();
    if list.is_none() {
        // A bare name: pest's span of `ident ~ args?` runs on over the white space it skipped
        // looking for `(`, which would stretch a label over the next line.
        span = name.span;
    }
    if let Some(list) = list {
        for a in list.into_inner() {
            match a.as_rule() {
                Rule::named => {
                    let mut kv = a.into_inner();
                    let name = ident(kv.next().expect("invariant: a named argument has a name"));
                    let value = value(kv.next().expect("invariant: a named argument has a value"));
                    args.push(Arg::Named { name, value });
                }
                _ => args.push(Arg::Positional(value(a))),
            }
        }
    }
    Call { name, args, span }
}

fn value(pair: Pair<Rule>) -> Value {
    let mut span = span_of(&pair);
    let kind = match pair.as_rule() {
        Rule::number => ValueKind::Number(
            pair.as_str()
                .parse()
                .expect("invariant: the number rule only matches decimal floats"),
        ),
        Rule::string => {
            let text = pair
                .into_inner()
                .next()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            ValueKind::String(text)
        }
        Rule::call => {
            let c = call(pair);
            span = c.span;
            ValueKind::Call(c)
        }
        Rule::list => ValueKind::List(pair.into_inner().map(value).collect()),
        r => unreachable!("invariant: a value is a number, string, list or call, got {r:?}"),
    };
    Value { kind, span }
}

fn rule_words(rule: &Rule) -> &'static str {
    match rule {
        Rule::file | Rule::EOI => "end of file",
        Rule::lone_value => "a value",
        Rule::block | Rule::item => "a block",
        Rule::entry => "a setting or a call",
        Rule::label => "a block label",
        Rule::list => "a list",
        Rule::arg | Rule::value => "a value",
        Rule::setting => "a setting (`name: value`)",
        Rule::call => "a call such as `dense(16)`",
        Rule::args => "`(`",
        Rule::named => "a named argument (`name: value`)",
        Rule::number => "a number",
        Rule::string => "a string",
        Rule::text => "text",
        Rule::ident => "a name",
        Rule::WHITESPACE | Rule::COMMENT => "white space",
        Rule::def | Rule::def_kw => "a definition (`def name(x) = ...`)",
        Rule::params | Rule::param => "a parameter name",
        Rule::binding => "a binding (`name = value`)",
        Rule::expr
        | Rule::postfixed
        | Rule::primary
        | Rule::expr_arg
        | Rule::expr_call
        | Rule::unsigned => "an expression",
        Rule::expr_args | Rule::apply => "`(`",
        Rule::expr_named => "a named argument (`name: value`)",
        Rule::expr_list => "a list",
        Rule::prefix | Rule::negate => "`-`",
        Rule::infix
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::op_pow
        | Rule::op_matmul
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_eq
        | Rule::op_ne => "an operator",
    }
}

fn syntax_error(source: &Source, e: pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((s, e)) => (s, e),
    };
    // Point at the character that could not be parsed (or the end of input), never at nothing.
    let end = if end > start {
        end
    } else {
        source.text[start..]
            .chars()
            .next()
            .map(|c| start + c.len_utf8())
            .unwrap_or(start)
    };
    let found = source.text[start..]
        .chars()
        .next()
        .map(|c| match c {
            '\n' => "the end of the line".to_string(),
            c => format!("`{c}`"),
        })
        .unwrap_or_else(|| "the end of the file".to_string());
    let expected = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut words: Vec<&str> = positives.iter().map(rule_words).collect();
            words.sort();
            words.dedup();
            words
        }
        ErrorVariant::CustomError { .. } => vec![],
    };
    let message = if expected.is_empty() {
        format!("syntax error: unexpected {found}")
    } else {
        format!(
            "syntax error: expected {}, found {found}",
            join_or(&expected)
        )
    };
    Diagnostic::new("nnc::syntax", message)
        .with_source(source)
        .with_label(Span::new(start, end), "unexpected here")
        .with_help(
            "a file holds blocks (`model { ... }`), settings (`loss: mse`) and calls \
             (`dense(16, activation: relu)`); see docs/language.md",
        )
}

fn join_or(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source::new("t.nn", text)
    }

    #[test]
    fn parses_blocks_settings_and_calls_with_spans() {
        let text = "model {\n  dense(16, activation: relu) # hidden\n}\nloss: mse\n";
        let f = parse(&src(text)).unwrap();
        assert_eq!(f.items.len(), 2);
        let Item::Block(b) = &f.items[0] else {
            panic!("first item is the model block")
        };
        let Entry::Call(c) = &b.entries[0] else {
            panic!("the model holds a call")
        };
        assert_eq!(c.name.name, "dense");
        assert_eq!(
            &text[c.span.start..c.span.end],
            "dense(16, activation: relu)"
        );
        assert!(
            matches!(c.args[0], Arg::Positional(Value { kind: ValueKind::Number(n), .. }) if n == 16.0)
        );
        let Item::Setting(s) = &f.items[1] else {
            panic!("second item is a setting")
        };
        assert_eq!(s.key.name, "loss");
    }

    #[test]
    fn numbers_take_exponents_and_signs() {
        let f = parse(&src("a: 1e-3\nb: -2.5E+2\nc: \"x y\"")).unwrap();
        let vals: Vec<_> = f
            .items
            .iter()
            .map(|i| match i {
                Item::Setting(s) => s.value.kind.clone(),
                Item::Block(_) | Item::Def(_) => panic!("only settings here"),
            })
            .collect();
        assert_eq!(vals[0], ValueKind::Number(1e-3));
        assert_eq!(vals[1], ValueKind::Number(-250.0));
        assert_eq!(vals[2], ValueKind::String("x y".into()));
    }

    #[test]
    fn lists_and_labelled_blocks() {
        let text = "data {\n  ignore: [id, \"full name\",]\n  column \"yrs married\" { scaling: robust }\n  column age { }\n}\n";
        let f = parse(&src(text)).unwrap();
        let Item::Block(b) = &f.items[0] else {
            panic!("a data block")
        };
        let Entry::Setting(s) = &b.entries[0] else {
            panic!("a setting first")
        };
        let ValueKind::List(items) = &s.value.kind else {
            panic!("a list")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].kind, ValueKind::String("full name".into()));
        let Entry::Block(c) = &b.entries[1] else {
            panic!("a column block")
        };
        assert_eq!(c.name.name, "column");
        let label = c.label.as_ref().unwrap();
        assert_eq!(label.name, "yrs married");
        assert_eq!(&text[label.span.start..label.span.end], "\"yrs married\"");
        let Entry::Block(d) = &b.entries[2] else {
            panic!("a second column block")
        };
        assert_eq!(d.label.as_ref().unwrap().name, "age");
        assert!(d.entries.is_empty());
        // A bare name followed by a call is still two calls, not a labelled block.
        let f = parse(&src("model {\n  input\n  dense(3)\n}\n")).unwrap();
        let Item::Block(m) = &f.items[0] else {
            panic!("a model block")
        };
        assert_eq!(m.entries.len(), 2);
    }

    #[test]
    fn a_bare_name_spans_only_itself() {
        let text = "data {\n  target: species\n  path: \"x\"\n}\n";
        let f = parse(&src(text)).unwrap();
        let Item::Block(b) = &f.items[0] else {
            panic!("a block")
        };
        let Entry::Setting(s) = &b.entries[0] else {
            panic!("a setting")
        };
        assert_eq!(&text[s.value.span.start..s.value.span.end], "species");
    }

    #[test]
    fn syntax_errors_point_at_the_right_line_and_column() {
        let s = src("model {\n  dense(16,, activation: relu)\n}\n");
        let d = parse(&s).unwrap_err();
        assert_eq!(d.code, "nnc::syntax");
        assert_eq!(d.location().as_deref(), Some("t.nn:2:12"));
    }

    /// A long chain of operators is refused before it becomes a tree too deep to walk; one at
    /// the bound still parses, and resolves and builds on a test thread's small stack.
    #[test]
    fn long_operator_chains_are_a_diagnostic_not_a_stack_overflow() {
        let chain = |n: usize| {
            format!(
                "model {{\n  x = input(2)\n  h = {}\n  output(1)\n}}\nloss: mse\n",
                vec!["x"; n + 1].join(" + ")
            )
        };
        // On a test thread's 2 MiB stack; an unoptimized build's frames are many times larger,
        // so there the bound is checked with room to spare (release builds are what ship).
        let stack = if cfg!(debug_assertions) {
            64 << 20
        } else {
            2 << 20
        };
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                for text in [chain(100_000), chain(MAX_OPERATORS + 1)] {
                    let d = parse(&src(&text)).unwrap_err();
                    assert_eq!(d.code, "nnc::syntax::too_long");
                }
                // A chain at the bound resolves and builds, gradient included.
                let s = src(&chain(MAX_OPERATORS));
                let spec = crate::program::parse_model(&s)
                    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
                crate::program::build(&spec, None)
                    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn deep_nesting_is_a_diagnostic_not_a_stack_overflow() {
        for (open, close) in [("[", "]"), ("(", ")")] {
            let n = 50_000;
            let text = format!("a: {}{}\n", open.repeat(n), close.repeat(n));
            let d = parse(&src(&text)).unwrap_err();
            assert_eq!(d.code, "nnc::syntax::too_deep");
        }
        // Brackets in comments and strings do not count; 200 levels parse.
        let text = format!(
            "# {}\na: \"{}\"\nb: {}{}\n",
            "(".repeat(500),
            "[".repeat(500),
            "[".repeat(200),
            "]".repeat(200)
        );
        parse(&src(&text)).unwrap();
    }

    #[test]
    fn unclosed_block_points_at_the_end() {
        let s = src("model {\n  dense(3)\n");
        let d = parse(&s).unwrap_err();
        assert!(d.message.contains("end of the file"), "{}", d.message);
    }
}
