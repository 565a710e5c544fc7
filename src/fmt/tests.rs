//! The layout's rules one by one, on small texts; each output is also checked to format to
//! itself.

use super::format_text;
use crate::diag::Source;

fn fmt(text: &str) -> String {
    let once = format_text("t.nn", text).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let twice = format_text("t.nn", &once).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    assert_eq!(twice, once, "formatting {text:?} again changes it");
    once
}

#[test]
fn settings_calls_and_blocks() {
    assert_eq!(fmt("loss:mse"), "loss: mse\n");
    assert_eq!(
        fmt("optimizer :adam( learning_rate :0.01 , beta1:0.9 )"),
        "optimizer: adam(learning_rate: 0.01, beta1: 0.9)\n"
    );
    assert_eq!(
        fmt("model{input(4) dense (16,activation:relu)}"),
        "model {\n  input(4)\n  dense(16, activation: relu)\n}\n"
    );
    assert_eq!(
        fmt("data { column \"yrs married\" { scaling: robust } column age { } }"),
        "data {\n  column \"yrs married\" {\n    scaling: robust\n  }\n  column age {}\n}\n"
    );
    // Numbers and strings as written.
    assert_eq!(
        fmt("a: -2.5E+2\nb: 1e-3\nc: \"x  y\""),
        "a: -2.5E+2\nb: 1e-3\nc: \"x  y\"\n"
    );
}

#[test]
fn empty_parentheses_after_a_name_are_kept() {
    // Without them, `foo` and `bar {}` would read as one block `foo` labelled `bar`.
    assert_eq!(
        fmt("train { foo() bar {} }"),
        "train {\n  foo()\n  bar {}\n}\n"
    );
}

#[test]
fn math_has_spaces_around_binary_operators_only() {
    assert_eq!(
        fmt("def f(x,beta:1.0)=-x^2+beta*-x@w-(-1)>=a!=b"),
        "def f(x, beta: 1.0) = -x ^ 2 + beta * -x @ w - (-1) >= a != b\n"
    );
    assert_eq!(
        fmt("model { x=input(4) b=dense(16)(x)+dense (2)(x) }"),
        "model {\n  x = input(4)\n  b = dense(16)(x) + dense(2)(x)\n}\n"
    );
    // The parentheses a user wrote are kept, needed or not.
    assert_eq!(
        fmt("def f(x) = ((x + 1)) * 2"),
        "def f(x) = ((x + 1)) * 2\n"
    );
}

#[test]
fn a_def_body_has_one_binding_per_line() {
    assert_eq!(
        fmt("def f(x, g) { b = (g)  (x + b) * 2 }"),
        "def f(x, g) {\n  b = (g)\n  (x + b) * 2\n}\n"
    );
}

#[test]
fn a_list_split_over_lines_is_one_item_per_line() {
    assert_eq!(fmt("a: [x,y,]"), "a: [x, y]\n");
    assert_eq!(fmt("a: [x,\n y]"), "a: [\n  x,\n  y,\n]\n");
    assert_eq!(fmt("a: f(\n)"), "a: f()\n");
    // The outer list holds the line break of the inner one, so both are split.
    assert_eq!(
        fmt("o: adam(schedule: warmup(steps: 1,\nthen: cosine(steps: 2)))"),
        "o: adam(\n  schedule: warmup(\n    steps: 1,\n    then: cosine(steps: 2),\n  ),\n)\n"
    );
    assert_eq!(
        fmt("model {\n  h = dense(16,\n    activation: relu)(x)\n}"),
        "model {\n  h = dense(\n    16,\n    activation: relu,\n  )(x)\n}\n"
    );
    assert_eq!(fmt("def f(\nx, y) = x"), "def f(\n  x,\n  y,\n) = x\n");
}

#[test]
fn blank_lines_are_kept_between_entries_but_collapsed() {
    assert_eq!(
        fmt("\n\na: 1\n\n\n\nb: 2\nc: 3\n\n\n"),
        "a: 1\n\nb: 2\nc: 3\n"
    );
    assert_eq!(
        fmt("model {\n\n  input\n\n\n  dense(1)\n\n}\n"),
        "model {\n  input\n\n  dense(1)\n}\n"
    );
    assert_eq!(fmt("# a\n\n\nloss: mse"), "# a\n\nloss: mse\n");
}

#[test]
fn comments_stay_where_they_were() {
    // At the end of a line, aligned two spaces after the longest line of a run.
    assert_eq!(
        fmt("model { # m\ninput     # i\n  dense(16)   # d\n  dense(1)\n}   # end"),
        "model {      # m\n  input      # i\n  dense(16)  # d\n  dense(1)\n}  # end\n"
    );
    // On a line of their own, at the level of what follows, also after a block's last entry.
    assert_eq!(
        fmt("   # top\nmodel {\n        # first\n input\n      # last\n}\n# bottom   "),
        "# top\nmodel {\n  # first\n  input\n  # last\n}\n# bottom\n"
    );
    assert_eq!(fmt("model { # empty\n}"), "model {  # empty\n}\n");
    assert_eq!(fmt("model {\n# empty\n}"), "model {\n  # empty\n}\n");
    assert_eq!(fmt("# only a comment"), "# only a comment\n");
    // Inside an argument list, which is then split.
    assert_eq!(
        fmt("model { dense(16, # units\n activation: relu) }"),
        "model {\n  dense(\n    16,  # units\n    activation: relu,\n  )\n}\n"
    );
    // Where no line may break otherwise, the comment ends the line and the rest is indented.
    assert_eq!(
        fmt("model { h = # hidden\n dense(16) }"),
        "model {\n  h =  # hidden\n    dense(16)\n}\n"
    );
    assert_eq!(
        fmt("def f(x) = x # one\n + 1"),
        "def f(x) = x  # one\n  + 1\n"
    );
}

#[test]
fn line_ends_and_a_byte_order_mark_are_kept() {
    assert_eq!(fmt("a:1\r\nb :2\r\n"), "a: 1\r\nb: 2\r\n");
    // A lone `\r` ends a line (and a comment) too, as the grammar reads it.
    assert_eq!(fmt("a: 1 # c\rb: 2"), "a: 1  # c\nb: 2\n");
    assert_eq!(fmt("\u{feff}a:1"), "\u{feff}a: 1\n");
    assert_eq!(fmt(""), "");
    assert_eq!(fmt(" \n\t\n"), "");
}

#[test]
fn a_text_that_does_not_parse_is_not_formatted() {
    let d = format_text("t.nn", "model {\n  dense(16,, activation: relu)\n}\n").unwrap_err();
    assert_eq!(d.code, "nnc::syntax");
    assert_eq!(d.location().as_deref(), Some("t.nn:2:12"));
    let deep = format!("a: {}{}\n", "[".repeat(500), "]".repeat(500));
    assert_eq!(
        format_text("t.nn", &deep).unwrap_err().code,
        "nnc::syntax::too_deep"
    );
}

#[test]
fn a_layout_that_would_change_the_meaning_is_an_internal_error() {
    // The safety net, given a tree that is not the text's: it refuses at the first item that
    // differs.
    let source = Source::new("t.nn", "loss: mse\nmodel {\n  input\n}\n");
    let other =
        crate::syntax::parse(&Source::new("u.nn", "loss: mse\nmodel {\n  dense\n}\n")).unwrap();
    let d = super::layout_of(&source, &other).unwrap_err();
    assert_eq!(d.code, "nnc::fmt::internal");
    assert!(
        d.message.contains("would mean something else"),
        "{}",
        d.message
    );
    assert_eq!(d.location().as_deref(), Some("t.nn:2:1"));
    assert!(d.help.is_some());
}
