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
    Def(Def),
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
    Binding(Binding),
}

/// `def name(params) = result`, or with a body: `def name(params) { bindings  result }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Def {
    pub name: Ident,
    pub params: Vec<DefParam>,
    pub body: Vec<Binding>,
    pub result: Expr,
    pub span: Span,
}

/// A parameter of a `def`, with its default (`beta: 1.0`) if it has one.
#[derive(Clone, Debug, PartialEq)]
pub struct DefParam {
    pub name: Ident,
    pub default: Option<Expr>,
}

/// `name = expr`.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOperator {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    MatMul,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    Equal,
    NotEqual,
}

impl BinaryOperator {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOperator::Add => "+",
            BinaryOperator::Sub => "-",
            BinaryOperator::Mul => "*",
            BinaryOperator::Div => "/",
            BinaryOperator::Pow => "^",
            BinaryOperator::MatMul => "@",
            BinaryOperator::Less => "<",
            BinaryOperator::LessEq => "<=",
            BinaryOperator::Greater => ">",
            BinaryOperator::GreaterEq => ">=",
            BinaryOperator::Equal => "==",
            BinaryOperator::NotEqual => "!=",
        }
    }

    pub fn is_comparison(self) -> bool {
        match self {
            BinaryOperator::Less
            | BinaryOperator::LessEq
            | BinaryOperator::Greater
            | BinaryOperator::GreaterEq
            | BinaryOperator::Equal
            | BinaryOperator::NotEqual => true,
            BinaryOperator::Add
            | BinaryOperator::Sub
            | BinaryOperator::Mul
            | BinaryOperator::Div
            | BinaryOperator::Pow
            | BinaryOperator::MatMul => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprArg {
    Positional(Expr),
    Named { name: Ident, value: Expr },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(f64),
    String(String),
    List(Vec<Expr>),
    /// `name`, `name(args)`, or with an input applied: `dense(32)(x)`.
    Call {
        name: Ident,
        args: Vec<ExprArg>,
        /// Whether the name was followed by parentheses (`f()` rather than `f`).
        parens: bool,
        applied_to: Option<Vec<ExprArg>>,
    },
    Negate(Box<Expr>),
    Binary(BinaryOperator, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    /// The expression as a plain value (a number, a string, a list or a call whose arguments are
    /// values), as the options of a layer call take them; `None` for math.
    pub fn to_value(&self) -> Option<Value> {
        let kind = match &self.kind {
            ExprKind::Number(n) => ValueKind::Number(*n),
            ExprKind::String(s) => ValueKind::String(s.clone()),
            ExprKind::List(items) => {
                ValueKind::List(items.iter().map(Expr::to_value).collect::<Option<_>>()?)
            }
            ExprKind::Negate(inner) => match inner.kind {
                ExprKind::Number(n) => ValueKind::Number(-n),
                _ => return None,
            },
            ExprKind::Call {
                name,
                args,
                applied_to: None,
                ..
            } => ValueKind::Call(Call {
                name: name.clone(),
                args: args_to_values(args)?,
                span: self.span,
            }),
            ExprKind::Call { .. } | ExprKind::Binary(..) => return None,
        };
        Some(Value {
            kind,
            span: self.span,
        })
    }
}

/// Call arguments as plain values, if every one is.
pub fn args_to_values(args: &[ExprArg]) -> Option<Vec<Arg>> {
    args.iter()
        .map(|a| match a {
            ExprArg::Positional(e) => e.to_value().map(Arg::Positional),
            ExprArg::Named { name, value } => value.to_value().map(|value| Arg::Named {
                name: name.clone(),
                value,
            }),
        })
        .collect()
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
