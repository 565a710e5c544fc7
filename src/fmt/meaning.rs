//! What "the same meaning" is for the formatter: the same syntax tree once every span is cleared
//! (spans are where things are, which formatting is meant to change).

use crate::diag::Span;
use crate::syntax::ast::*;

/// The tree with every span set to `0..0`, to compare two trees modulo layout.
pub fn without_spans(file: &File) -> File {
    let mut file = file.clone();
    for item in &mut file.items {
        match item {
            Item::Block(b) => block(b),
            Item::Setting(s) => setting(s),
            Item::Def(d) => def(d),
        }
    }
    file
}

fn clear(span: &mut Span) {
    *span = Span::default();
}

fn ident(i: &mut Ident) {
    clear(&mut i.span);
}

fn block(b: &mut Block) {
    clear(&mut b.span);
    ident(&mut b.name);
    if let Some(label) = &mut b.label {
        ident(label);
    }
    for e in &mut b.entries {
        match e {
            Entry::Setting(s) => setting(s),
            Entry::Call(c) => call(c),
            Entry::Block(b) => block(b),
            Entry::Binding(b) => binding(b),
        }
    }
}

fn setting(s: &mut Setting) {
    clear(&mut s.span);
    ident(&mut s.key);
    value(&mut s.value);
}

fn call(c: &mut Call) {
    clear(&mut c.span);
    ident(&mut c.name);
    for a in &mut c.args {
        match a {
            Arg::Positional(v) => value(v),
            Arg::Named { name, value: v } => {
                ident(name);
                value(v);
            }
        }
    }
}

fn value(v: &mut Value) {
    clear(&mut v.span);
    match &mut v.kind {
        ValueKind::Number(_) | ValueKind::String(_) => {}
        ValueKind::List(items) => items.iter_mut().for_each(value),
        ValueKind::Call(c) => call(c),
    }
}

fn def(d: &mut Def) {
    clear(&mut d.span);
    ident(&mut d.name);
    for p in &mut d.params {
        ident(&mut p.name);
        if let Some(e) = &mut p.default {
            expr(e);
        }
    }
    d.body.iter_mut().for_each(binding);
    expr(&mut d.result);
}

fn binding(b: &mut Binding) {
    clear(&mut b.span);
    ident(&mut b.name);
    expr(&mut b.value);
}

fn expr(e: &mut Expr) {
    clear(&mut e.span);
    match &mut e.kind {
        ExprKind::Number(_) | ExprKind::String(_) => {}
        ExprKind::List(items) => items.iter_mut().for_each(expr),
        ExprKind::Call {
            name,
            args,
            applied_to,
            ..
        } => {
            ident(name);
            args.iter_mut().for_each(expr_arg);
            if let Some(input) = applied_to {
                input.iter_mut().for_each(expr_arg);
            }
        }
        ExprKind::Negate(x) => expr(x),
        ExprKind::Binary(_, a, b) => {
            expr(a);
            expr(b);
        }
    }
}

fn expr_arg(a: &mut ExprArg) {
    match a {
        ExprArg::Positional(e) => expr(e),
        ExprArg::Named { name, value } => {
            ident(name);
            expr(value);
        }
    }
}
