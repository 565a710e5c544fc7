//! The syntax tree of a `.nn` file. Every node keeps the byte span it came from, so every later
//! error can point at the text. The tree is deliberately generic (blocks, settings, calls): the
//! meaning of names belongs to `lower`.

use crate::diag::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Block(Block),
    Setting(Setting),
}

/// `name { entries }`, or `name label { entries }` (`column age { ... }`).
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub name: Ident,
    /// The label, from a name or a string (`column "yrs married" { ... }`).
    pub label: Option<Ident>,
    pub entries: Vec<Entry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Setting(Setting),
    Call(Call),
    Block(Block),
}

/// `key: value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: Ident,
    pub value: Value,
    pub span: Span,
}

/// `name`, `name()` or `name(positional, key: value, ...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Positional(Value),
    Named { name: Ident, value: Value },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    Number(f64),
    String(String),
    List(Vec<Value>),
    Call(Call),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

impl Value {
    /// A short description for "expected a number, found ..." messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            ValueKind::Number(n) => format!("the number {n}"),
            ValueKind::String(s) => format!("the string \"{s}\""),
            ValueKind::List(_) => "a list".to_string(),
            ValueKind::Call(c) if c.args.is_empty() => format!("the name `{}`", c.name.name),
            ValueKind::Call(c) => format!("`{}(...)`", c.name.name),
        }
    }
}
