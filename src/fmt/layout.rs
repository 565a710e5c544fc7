//! The canonical layout, rule by rule of the grammar (`grammar/nn.pest`), over pest's parse tree
//! rather than the AST: the tree still has every token as written (numbers, `()` after a name,
//! grouping parentheses), so the output can only differ from the source in white space, trailing
//! commas and comments' places.
//!
//! - Entries of the file, of a block and of a def's body: one per line, blocks indented.
//! - `key: value`, `name = expr`, `def name(params) = expr`, `name label {`, `name {}` when empty.
//! - Math: one space around binary operators, none after a unary minus, none before the `(` of an
//!   application (`dense(32)(x)`: with a space, it would not be one).
//! - A list (arguments, parameters, `[...]`) is written on one line, unless the source has a line
//!   break between its brackets: then one item per line, each with a trailing comma. A comment
//!   inside a list implies such a break, so it always has a line to stay on.

use pest::iterators::Pair;

use super::printer::Printer;
use crate::syntax::Rule;

/// A parse tree that breaks the formatter's reading of the grammar (a bug, not the user's).
#[derive(Debug)]
pub(super) struct Broken(pub String);

type Out = Result<(), Broken>;

fn next<'i>(
    pairs: &mut impl Iterator<Item = Pair<'i, Rule>>,
    what: &str,
) -> Result<Pair<'i, Rule>, Broken> {
    pairs
        .next()
        .ok_or_else(|| Broken(format!("{what} is missing from the parse tree")))
}

fn unexpected(pair: &Pair<Rule>, place: &str) -> Broken {
    Broken(format!("unexpected {:?} in {place}", pair.as_rule()))
}

/// A token that is one pair (a name, a number, a string, an operator), as written.
fn atom(p: &mut Printer, pair: &Pair<Rule>, space: bool) {
    let s = pair.as_span();
    p.token(s.as_str(), s.start(), s.end(), space);
}

pub(super) fn file(p: &mut Printer, file: Pair<Rule>) -> Out {
    for item in file.into_inner() {
        if item.as_rule() == Rule::EOI {
            continue;
        }
        p.entry_break(item.as_span().start());
        match item.as_rule() {
            Rule::block => block(p, item)?,
            Rule::setting => setting(p, item)?,
            Rule::def => def(p, item)?,
            _ => return Err(unexpected(&item, "the file")),
        }
    }
    Ok(())
}

/// `name label {`, the entries one per line, `}`; `name {}` when nothing is inside.
fn block(p: &mut Printer, pair: Pair<Rule>) -> Out {
    let (start, end) = (pair.as_span().start(), pair.as_span().end());
    let mut inner = pair.into_inner();
    atom(p, &next(&mut inner, "a block's name")?, false);
    let mut entries = Vec::new();
    for x in inner {
        match x.as_rule() {
            Rule::label => atom(p, &x, true),
            _ => entries.push(x),
        }
    }
    p.punct("{", true);
    let close = end - 1;
    if entries.is_empty() && !p.has_comment_in(start, end) {
        p.token("}", close, end, false);
        return Ok(());
    }
    p.indent += 1;
    for e in entries {
        p.entry_break(e.as_span().start());
        entry(p, e)?;
    }
    p.close_break(close, true);
    p.indent -= 1;
    p.token("}", close, end, false);
    Ok(())
}

fn entry(p: &mut Printer, pair: Pair<Rule>) -> Out {
    match pair.as_rule() {
        Rule::block => block(p, pair),
        Rule::setting => setting(p, pair),
        Rule::call => call(p, pair, false),
        Rule::binding => binding(p, pair),
        _ => Err(unexpected(&pair, "a block")),
    }
}

/// `key: value`
fn setting(p: &mut Printer, pair: Pair<Rule>) -> Out {
    let mut inner = pair.into_inner();
    atom(p, &next(&mut inner, "a setting's key")?, false);
    p.punct(":", false);
    value(p, next(&mut inner, "a setting's value")?, true)
}

/// `name` or `name(args)`, keeping `()` when the source has them.
fn call(p: &mut Printer, pair: Pair<Rule>, space: bool) -> Out {
    let mut inner = pair.into_inner();
    atom(p, &next(&mut inner, "a call's name")?, space);
    match inner.next() {
        Some(args) => list(p, args, false, arg),
        None => Ok(()),
    }
}

fn arg(p: &mut Printer, pair: Pair<Rule>, space: bool) -> Out {
    match pair.as_rule() {
        Rule::named => {
            let mut inner = pair.into_inner();
            atom(p, &next(&mut inner, "a named argument's name")?, space);
            p.punct(":", false);
            value(p, next(&mut inner, "a named argument's value")?, true)
        }
        _ => value(p, pair, space),
    }
}

fn value(p: &mut Printer, pair: Pair<Rule>, space: bool) -> Out {
    match pair.as_rule() {
        Rule::number | Rule::string => {
            atom(p, &pair, space);
            Ok(())
        }
        Rule::list => list(p, pair, space, value),
        Rule::call => call(p, pair, space),
        _ => Err(unexpected(&pair, "a value")),
    }
}

/// A bracketed, comma-separated list whose pair spans its brackets: on one line, or one item per
/// line when the source breaks a line between the brackets (see the module's documentation).
fn list<'i>(
    p: &mut Printer,
    pair: Pair<'i, Rule>,
    space: bool,
    item: fn(&mut Printer, Pair<'i, Rule>, bool) -> Out,
) -> Out {
    let (open, end) = (pair.as_span().start(), pair.as_span().end());
    let close = end - 1;
    let src = p.src();
    let (open_text, close_text) = (&src[open..open + 1], &src[close..end]);
    let items: Vec<Pair<Rule>> = pair.into_inner().collect();
    let has_break = src[open..end].contains(['\n', '\r']);
    let broken = has_break && (!items.is_empty() || p.has_comment_in(open, end));
    p.token(open_text, open, open + 1, space);
    if !broken {
        for (i, x) in items.into_iter().enumerate() {
            if i > 0 {
                p.punct(",", false);
            }
            item(p, x, i > 0)?;
        }
        p.token(close_text, close, end, false);
        return Ok(());
    }
    // Items one level deeper than the line the list opens on, the closing bracket back on it.
    let (outer, base) = (p.indent, p.line_indent());
    p.indent = base + 1;
    for x in items {
        p.item_break(x.as_span().start());
        item(p, x, false)?;
        p.punct(",", false);
    }
    p.close_break(close, false);
    p.indent = base;
    p.token(close_text, close, end, false);
    p.indent = outer;
    Ok(())
}

/// `name = expr`
fn binding(p: &mut Printer, pair: Pair<Rule>) -> Out {
    let mut inner = pair.into_inner();
    atom(p, &next(&mut inner, "a binding's name")?, false);
    p.punct("=", true);
    expr(p, next(&mut inner, "a binding's value")?, true)
}

/// `def name(params) = expr`, or `def name(params) {`, the bindings and the result one per line,
/// `}`.
fn def(p: &mut Printer, pair: Pair<Rule>) -> Out {
    let end = pair.as_span().end();
    let mut inner = pair.into_inner();
    atom(p, &next(&mut inner, "`def`")?, false);
    atom(p, &next(&mut inner, "a def's name")?, true);
    let params = next(&mut inner, "a def's parameters")?;
    let after_params = params.as_span().end();
    list(p, params, false, param)?;
    let rest: Vec<Pair<Rule>> = inner.collect();
    if p.next_significant(after_params).map(|(_, c)| c) == Some('{') {
        p.punct("{", true);
        p.indent += 1;
        for x in rest {
            p.entry_break(x.as_span().start());
            match x.as_rule() {
                Rule::binding => binding(p, x)?,
                _ => expr(p, x, false)?,
            }
        }
        p.close_break(end - 1, true);
        p.indent -= 1;
        p.token("}", end - 1, end, false);
    } else {
        p.punct("=", true);
        let mut rest = rest.into_iter();
        expr(p, next(&mut rest, "a def's result")?, true)?;
    }
    Ok(())
}

/// `name` or `name: default`
fn param(p: &mut Printer, pair: Pair<Rule>, space: bool) -> Out {
    let mut inner = pair.into_inner();
    atom(p, &next(&mut inner, "a parameter's name")?, space);
    if let Some(default) = inner.next() {
        p.punct(":", false);
        expr(p, default, true)?;
    }
    Ok(())
}

/// Operands and operators as pest lists them: a space around each binary operator, none after a
/// unary minus.
fn expr(p: &mut Printer, pair: Pair<Rule>, space: bool) -> Out {
    let mut space = space;
    for x in pair.into_inner() {
        match x.as_rule() {
            Rule::negate => {
                atom(p, &x, space);
                space = false;
            }
            Rule::postfixed => {
                postfixed(p, x, space)?;
                space = true;
            }
            _ => {
                // A binary operator.
                atom(p, &x, true);
                space = true;
            }
        }
    }
    Ok(())
}

/// A primary and the inputs it is applied to, each `(` right after the `)` before it.
fn postfixed(p: &mut Printer, pair: Pair<Rule>, space: bool) -> Out {
    let mut inner = pair.into_inner();
    primary(p, next(&mut inner, "an operand")?, space)?;
    for apply in inner {
        let mut args = apply.into_inner();
        list(
            p,
            next(&mut args, "an application's input")?,
            false,
            expr_arg,
        )?;
    }
    Ok(())
}

fn primary(p: &mut Printer, pair: Pair<Rule>, space: bool) -> Out {
    let (start, end) = (pair.as_span().start(), pair.as_span().end());
    let mut inner = pair.into_inner();
    let x = next(&mut inner, "an operand")?;
    match x.as_rule() {
        Rule::unsigned | Rule::string => atom(p, &x, space),
        Rule::expr_list => list(p, x, space, expr)?,
        Rule::expr_call => {
            let mut call = x.into_inner();
            atom(p, &next(&mut call, "a call's name")?, space);
            if let Some(args) = call.next() {
                list(p, args, false, expr_arg)?;
            }
        }
        // Parentheses the user wrote are kept, needed or not.
        Rule::expr => {
            p.token("(", start, start + 1, space);
            expr(p, x, false)?;
            p.token(")", end - 1, end, false);
        }
        _ => return Err(unexpected(&x, "an expression")),
    }
    Ok(())
}

fn expr_arg(p: &mut Printer, pair: Pair<Rule>, space: bool) -> Out {
    match pair.as_rule() {
        Rule::expr_named => {
            let mut inner = pair.into_inner();
            atom(p, &next(&mut inner, "a named argument's name")?, space);
            p.punct(":", false);
            expr(p, next(&mut inner, "a named argument's value")?, true)
        }
        _ => expr(p, pair, space),
    }
}
