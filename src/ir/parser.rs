//! The reader of the printed form: `parse_function` turns the text that `print_function` writes
//! back into a `Function`, so IR can be saved, edited by hand and fed to the later stages. It owns
//! the syntax of that text and nothing else: every equation goes through the builder (`try_push`),
//! so shapes are re-inferred by the rules in `shape` and a printed shape that disagrees with them
//! is an error, and the finished function passes `verify`. Bad text of any kind is a `ParseError`
//! with a line and column, never a panic.
//!
//! The form is line-oriented, as the printer writes it: the header `name { params | state ; data .`
//! on the first line (`| state` only when there is state), one equation per line (the first after
//! `let`), `in (outputs)` on its own line, then optionally `update arg <- value, ...`, and ` }`.
//! Arguments come back in the printed order (parameters, state, data), which is the order the
//! printer groups them in rather than necessarily the original one. Values keep no origin.

use std::collections::HashMap;

use super::{
    ArgRole, BinaryOp, Dim, Function, Op, OpKind, RandomSite, Shape, UnaryKind, UnaryOp, Update,
    ValueId, VerifiedFunction,
};

/// Where the text stops making sense, and why. Lines and columns count from 1; columns in chars.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parse one function in the printed form. See the module documentation for the syntax.
pub fn parse_function(text: &str) -> Result<VerifiedFunction, ParseError> {
    let mut p = Parser {
        lines: text.lines().collect(),
        next: 0,
        f: Function::new(""),
        names: HashMap::new(),
    };
    let mut line = p.next_line("the header `name { params ; data .`")?;
    p.header(&mut line)?;
    let mut first = true;
    loop {
        let mut line = p.next_line("an equation or `in (outputs)`")?;
        if line.keyword("in", |c| c == '(') {
            p.outputs(&mut line)?;
            if !line.eat('}') {
                line.end("`}` or the end of the line")?;
                let mut line = p.next_line("`update ...` or `}`")?;
                if !line.keyword("update", |c| c.is_alphabetic() || c == '_') {
                    return line.fail("expected `update arg <- value, ...` or `}`");
                }
                p.updates(&mut line)?;
                line.expect('}', "`,` or `}`")?;
            }
            line.end("the end of the function")?;
            break;
        }
        p.equation(&mut line, first)?;
        first = false;
    }
    if let Some(i) = p.lines[p.next..].iter().position(|l| !l.trim().is_empty()) {
        let no = p.next + i;
        let mut line = Line::new(no + 1, p.lines[no]);
        line.skip_spaces();
        return line.fail("unexpected text after the closing `}`");
    }
    // Most rules of `verify` are checked above where the text is still at hand; this is the net
    // under those checks (and the only check of some, such as sizes), so a parsed function is
    // always a valid one.
    let (line, column) = p.end_position();
    VerifiedFunction::new(p.f).map_err(|e| ParseError {
        line,
        column,
        message: format!("the function does not verify: {e}"),
    })
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    /// Index of the next line to read.
    next: usize,
    f: Function,
    /// Every value defined so far, with the line it was defined on (for duplicate errors).
    names: HashMap<String, (ValueId, usize)>,
}

impl<'a> Parser<'a> {
    /// Just past the last non-blank line: where a truncated function is reported.
    fn end_position(&self) -> (usize, usize) {
        match self.lines.iter().rposition(|l| !l.trim().is_empty()) {
            Some(i) => (i + 1, self.lines[i].chars().count() + 1),
            None => (1, 1),
        }
    }

    /// The next non-blank line, or an error saying what was expected instead of the end.
    fn next_line(&mut self, expected: &str) -> Result<Line<'a>, ParseError> {
        while let Some(text) = self.lines.get(self.next) {
            self.next += 1;
            if !text.trim().is_empty() {
                return Ok(Line::new(self.next, text));
            }
        }
        let (line, column) = self.end_position();
        Err(ParseError {
            line,
            column,
            message: format!("unexpected end of input: expected {expected}"),
        })
    }

    fn header(&mut self, line: &mut Line<'a>) -> Result<(), ParseError> {
        let (_, name) = line.ident("the function name")?;
        self.f.name = name.to_string();
        line.expect('{', "`{`")?;
        let mut role = ArgRole::Param;
        loop {
            line.skip_spaces();
            match (line.peek(), role) {
                (Some('|'), ArgRole::Param) => role = ArgRole::State,
                (Some(';'), ArgRole::Param | ArgRole::State) => role = ArgRole::Data,
                (Some('.'), ArgRole::Data) => {
                    line.bump();
                    break;
                }
                _ => {
                    let expected = match role {
                        ArgRole::Param => "an argument, `|` or `;`",
                        ArgRole::State => "an argument or `;`",
                        ArgRole::Data => "an argument or `.`",
                    };
                    let (pos, name) = line.ident(expected)?;
                    self.fresh(line, pos, name)?;
                    line.expect(':', "`:`")?;
                    let shape = line.shape()?;
                    let v = self.f.add_arg(name, shape, role, None);
                    self.names.insert(name.to_string(), (v, line.no));
                    continue;
                }
            }
            line.bump();
        }
        line.end("the end of the header")
    }

    fn equation(&mut self, line: &mut Line<'a>, first: bool) -> Result<(), ParseError> {
        let has_let = line.keyword("let", |c| c.is_alphabetic() || c == '_');
        if first && !has_let {
            return line.fail("expected `let` before the first equation");
        }
        if !first && has_let {
            return line.fail("`let` stands only before the first equation");
        }
        let (name_pos, name) = line.ident("a value name")?;
        self.fresh(line, name_pos, name)?;
        line.expect(':', "`:`")?;
        line.skip_spaces();
        let shape_pos = line.pos;
        let shape = line.shape()?;
        line.expect('=', "`=`")?;
        let (op_pos, op_name) = line.ident("an operation")?;
        let params = line.params()?;
        let op = self.op(line, op_pos, op_name, &params)?;
        line.end("the end of the equation")?;
        // Broadcast and sum_to take their result shape from the equation; every other op's shape is
        // inferred and must then agree with the printed one.
        let target = matches!(
            op,
            Op::Broadcast(_) | Op::SumTo(_) | Op::DropoutMask { .. } | Op::NormalNoise { .. }
        )
        .then(|| shape.clone());
        let v = self
            .f
            .try_push(op, target, Some(name), None)
            .or_else(|e| line.fail_at(op_pos, e.message))?;
        if self.f.shape(v) != &shape {
            let inferred = self.f.shape(v).clone();
            return line.fail_at(
                shape_pos,
                format!("`{name}` is typed {shape}, but `{op_name}` gives {inferred}"),
            );
        }
        self.names.insert(name.to_string(), (v, line.no));
        Ok(())
    }

    /// The operation named `op_name` with its parameters and operands.
    fn op(
        &self,
        line: &mut Line<'a>,
        op_pos: usize,
        op_name: &str,
        params: &[Param<'a>],
    ) -> Result<Op, ParseError> {
        if let Some(kind) = UnaryKind::from_name(op_name) {
            let names = kind.param_names();
            if names.is_empty() {
                no_params(line, op_name, params)?;
            }
            let values = numbers(line, op_pos, op_name, params, names)?;
            let u = UnaryOp::with_params(kind, &values)
                .expect("invariant: `numbers` gives one value per parameter name");
            return Ok(Op::Unary(u, self.operand(line)?));
        }
        if let Some(b) = BinaryOp::from_name(op_name) {
            no_params(line, op_name, params)?;
            return Ok(Op::Binary(b, self.operand(line)?, self.operand(line)?));
        }
        let Some(kind) = OpKind::from_name(op_name) else {
            return line.fail_at(op_pos, format!("unknown operation `{op_name}`"));
        };
        let op = match kind {
            OpKind::Const => {
                no_params(line, op_name, params)?;
                Op::Const(line.number()?)
            }
            OpKind::BatchSize => {
                no_params(line, op_name, params)?;
                Op::BatchSize
            }
            OpKind::Vector => {
                no_params(line, op_name, params)?;
                // One number or more, up to the end of the line (the shape rule refuses none).
                let mut v = vec![line.number()?];
                while line.at_number() {
                    v.push(line.number()?);
                }
                Op::Vector(v)
            }
            OpKind::MatMul => {
                let [transpose_a, transpose_b] =
                    flags(line, op_name, params, ["transpose_a", "transpose_b"])?;
                Op::MatMul {
                    a: self.operand(line)?,
                    b: self.operand(line)?,
                    transpose_a,
                    transpose_b,
                }
            }
            OpKind::Broadcast => {
                no_params(line, op_name, params)?;
                Op::Broadcast(self.operand(line)?)
            }
            OpKind::SumTo => {
                no_params(line, op_name, params)?;
                Op::SumTo(self.operand(line)?)
            }
            OpKind::LogSoftmax => {
                no_params(line, op_name, params)?;
                Op::LogSoftmax(self.operand(line)?)
            }
            OpKind::Concat => {
                no_params(line, op_name, params)?;
                Op::Concat {
                    a: self.operand(line)?,
                    b: self.operand(line)?,
                }
            }
            OpKind::Slice => {
                let v = numbers(line, op_pos, op_name, params, &["start", "len"])?;
                let whole = |v: f64| {
                    v.fract() == 0.0 && (0.0..=crate::ir::MAX_ELEMENTS as f64).contains(&v)
                };
                if !whole(v[0]) || !whole(v[1]) {
                    return line
                        .fail_at(op_pos, "`slice` needs a whole start and length".to_string());
                }
                Op::Slice {
                    start: v[0] as usize,
                    len: v[1] as usize,
                    x: self.operand(line)?,
                }
            }
            OpKind::Select => {
                no_params(line, op_name, params)?;
                Op::Select {
                    condition: self.operand(line)?,
                    yes: self.operand(line)?,
                    no: self.operand(line)?,
                }
            }
            OpKind::DropoutMask | OpKind::NormalNoise => {
                let first = if kind == OpKind::DropoutMask {
                    "rate"
                } else {
                    "std"
                };
                let v = numbers(line, op_pos, op_name, params, &[first, "key", "site"])?;
                let whole = |x: f64| x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&x);
                if !whole(v[1]) || !whole(v[2]) {
                    return line.fail_at(
                        op_pos,
                        format!("`{op_name}` needs a key and a site that are 32-bit whole numbers"),
                    );
                }
                let at = RandomSite {
                    key: v[1] as u32,
                    site: v[2] as u32,
                };
                let counter = self.operand(line)?;
                if kind == OpKind::DropoutMask {
                    Op::DropoutMask {
                        rate: v[0],
                        at,
                        counter,
                    }
                } else {
                    Op::NormalNoise {
                        std: v[0],
                        at,
                        counter,
                    }
                }
            }
            OpKind::Unary | OpKind::Binary => {
                panic!("invariant: OpKind::from_name never names unary or binary ops")
            }
        };
        Ok(op)
    }

    /// A name that is not taken yet.
    fn fresh(&self, line: &Line<'a>, pos: usize, name: &str) -> Result<(), ParseError> {
        match self.names.get(name) {
            Some((_, at)) => line.fail_at(pos, format!("`{name}` is already defined on line {at}")),
            None => Ok(()),
        }
    }

    fn operand(&self, line: &mut Line<'a>) -> Result<ValueId, ParseError> {
        let (pos, name) = line.ident("an operand")?;
        self.lookup(line, pos, name)
    }

    /// A defined value. For a name that is defined further down, say so: SSA wants definitions
    /// first, and "unknown" would mislead.
    fn lookup(&self, line: &Line<'a>, pos: usize, name: &str) -> Result<ValueId, ParseError> {
        if let Some((v, _)) = self.names.get(name) {
            return Ok(*v);
        }
        let later = (line.no - 1..self.lines.len()).find(|&i| defines(self.lines[i], name));
        match later {
            Some(i) => line.fail_at(
                pos,
                format!("`{name}` is used before its definition on line {}", i + 1),
            ),
            None => line.fail_at(pos, format!("unknown value `{name}`")),
        }
    }

    fn outputs(&mut self, line: &mut Line<'a>) -> Result<(), ParseError> {
        line.expect('(', "`(`")?;
        if line.eat(')') {
            return Ok(());
        }
        loop {
            let (pos, name) = line.ident("an output")?;
            let (pos, value) = if line.eat('=') {
                line.ident("a value name")?
            } else {
                (pos, name)
            };
            let v = self.lookup(line, pos, value)?;
            self.f.add_output(name, v);
            if line.eat(')') {
                return Ok(());
            }
            line.expect(',', "`,` or `)`")?;
        }
    }

    fn updates(&mut self, line: &mut Line<'a>) -> Result<(), ParseError> {
        loop {
            let (arg_pos, arg_name) = line.ident("an argument to update")?;
            let arg = self.lookup(line, arg_pos, arg_name)?;
            let role = self.f.args.iter().find(|a| a.value == arg).map(|a| a.role);
            if !matches!(role, Some(ArgRole::Param | ArgRole::State)) {
                return line.fail_at(
                    arg_pos,
                    format!(
                        "`{arg_name}` is not a parameter or state argument: it cannot be updated"
                    ),
                );
            }
            line.expect_str("<-")?;
            let (pos, name) = line.ident("a value name")?;
            let value = self.lookup(line, pos, name)?;
            if self.f.shape(arg) != self.f.shape(value) {
                return line.fail_at(
                    pos,
                    format!(
                        "`{arg_name}` is {} but `{name}` is {}",
                        self.f.shape(arg),
                        self.f.shape(value)
                    ),
                );
            }
            self.f.updates.push(Update { arg, value });
            line.skip_spaces();
            if line.peek() != Some(',') {
                return Ok(());
            }
            line.bump();
        }
    }
}

/// Does this line define `name` (as an equation's result)?
fn defines(text: &str, name: &str) -> bool {
    let t = text.trim_start();
    let t = t.strip_prefix("let ").map_or(t, str::trim_start);
    t.strip_prefix(name)
        .is_some_and(|rest| rest.trim_start().starts_with(':'))
}

/// One `key` or `key=number` inside an op's `[...]`.
struct Param<'a> {
    pos: usize,
    key: &'a str,
    value: Option<f64>,
}

fn no_params(line: &Line<'_>, op: &str, params: &[Param<'_>]) -> Result<(), ParseError> {
    match params.first() {
        Some(p) => line.fail_at(p.pos, format!("`{op}` takes no parameters")),
        None => Ok(()),
    }
}

/// Exactly the numeric parameters `keys`, each once, in any order; the values in `keys` order.
fn numbers(
    line: &Line<'_>,
    op_pos: usize,
    op: &str,
    params: &[Param<'_>],
    keys: &[&str],
) -> Result<Vec<f64>, ParseError> {
    let mut out = vec![None; keys.len()];
    for p in params {
        let Some(i) = keys.iter().position(|k| *k == p.key) else {
            return line.fail_at(p.pos, format!("`{op}` has no parameter `{}`", p.key));
        };
        let Some(value) = p.value else {
            return line.fail_at(p.pos, format!("`{}` needs a value: `{}=...`", p.key, p.key));
        };
        if out[i].replace(value).is_some() {
            return line.fail_at(p.pos, format!("`{}` is given twice", p.key));
        }
    }
    let mut values = Vec::with_capacity(keys.len());
    for (v, key) in out.iter().zip(keys) {
        match v {
            Some(v) => values.push(*v),
            None => return line.fail_at(op_pos, format!("`{op}` needs `{key}=...`")),
        }
    }
    Ok(values)
}

/// Which of the flags `keys` are present (each at most once, without a value).
fn flags<const N: usize>(
    line: &Line<'_>,
    op: &str,
    params: &[Param<'_>],
    keys: [&str; N],
) -> Result<[bool; N], ParseError> {
    let mut out = [false; N];
    for p in params {
        let Some(i) = keys.iter().position(|k| *k == p.key) else {
            return line.fail_at(p.pos, format!("`{op}` has no flag `{}`", p.key));
        };
        if p.value.is_some() {
            return line.fail_at(p.pos, format!("`{}` is a flag and takes no value", p.key));
        }
        if std::mem::replace(&mut out[i], true) {
            return line.fail_at(p.pos, format!("`{}` is given twice", p.key));
        }
    }
    Ok(out)
}

/// A cursor over one line. Positions are byte offsets, always on char boundaries (the cursor moves
/// by whole chars), so slicing never panics whatever the text holds.
struct Line<'a> {
    /// 1-based line number.
    no: usize,
    text: &'a str,
    pos: usize,
}

impl<'a> Line<'a> {
    fn new(no: usize, text: &'a str) -> Self {
        Line { no, text, pos: 0 }
    }

    fn fail_at<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.no,
            column: self.text[..pos].chars().count() + 1,
            message: message.into(),
        })
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        self.fail_at(self.pos, message)
    }

    /// "expected X, found Y" at the cursor.
    fn unexpected<T>(&self, expected: &str) -> Result<T, ParseError> {
        let found = match self.peek() {
            Some(c) => format!("`{c}`"),
            None => "the end of the line".into(),
        };
        self.fail(format!("expected {expected}, found {found}"))
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        &self.text[start..self.pos]
    }

    /// Consume `c` (after spaces) if it is next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_spaces();
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, expected: &str) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            self.unexpected(expected)
        }
    }

    fn expect_str(&mut self, s: &str) -> Result<(), ParseError> {
        self.skip_spaces();
        if self.text[self.pos..].starts_with(s) {
            self.pos += s.len();
            Ok(())
        } else {
            self.unexpected(&format!("`{s}`"))
        }
    }

    /// Consume the keyword `word` if it is next and the first char after it (past spaces) passes
    /// `then`; that lookahead is what tells the keyword from a value that happens to share its name
    /// (`in (loss)` against `in:f32[] = ...`).
    fn keyword(&mut self, word: &str, then: impl Fn(char) -> bool) -> bool {
        let start = self.pos;
        self.skip_spaces();
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            let spaced = self.peek().is_some_and(char::is_whitespace);
            self.skip_spaces();
            // A keyword followed directly by a letter is the start of a longer name.
            let ok = self
                .peek()
                .is_some_and(|c| then(c) && (spaced || !is_ident(c)));
            if ok {
                return true;
            }
        }
        self.pos = start;
        false
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`, with its start position.
    fn ident(&mut self, expected: &str) -> Result<(usize, &'a str), ParseError> {
        self.skip_spaces();
        let start = self.pos;
        if !self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            return self.unexpected(expected);
        }
        Ok((start, self.take_while(is_ident)))
    }

    /// A number as `print_function` writes it (Rust's `{}` of an f64: `1.0`, `-0.25`, `inf`,
    /// `NaN`), or with an exponent.
    fn number(&mut self) -> Result<f64, ParseError> {
        self.skip_spaces();
        let start = self.pos;
        let text = self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
        if text.is_empty() {
            return self.unexpected("a number");
        }
        text.parse()
            .or_else(|_| self.fail_at(start, format!("`{text}` is not a number")))
    }

    /// Whether a number follows (after spaces), as `number` reads them.
    fn at_number(&mut self) -> bool {
        self.skip_spaces();
        self.peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'i' | 'N'))
    }

    /// `f32[]`, `f32[B,4]`, `f32[16,3]`; only the leading dimension may be `B`.
    fn shape(&mut self) -> Result<Shape, ParseError> {
        let (pos, ty) = self.ident("a type such as `f32[B,4]`")?;
        if ty != "f32" {
            return self.fail_at(
                pos,
                format!("unknown element type `{ty}`: only `f32` exists"),
            );
        }
        self.expect('[', "`[`")?;
        let mut dims = Vec::new();
        if self.eat(']') {
            return Ok(Shape(dims));
        }
        loop {
            self.skip_spaces();
            let start = self.pos;
            if self.peek() == Some('B') {
                self.bump();
                if !dims.is_empty() {
                    return self.fail_at(start, "only the leading dimension may be the batch `B`");
                }
                dims.push(Dim::Batch);
            } else {
                let digits = self.take_while(|c| c.is_ascii_digit());
                if digits.is_empty() {
                    return self.unexpected("a dimension (`B` or a size)");
                }
                match digits.parse() {
                    Ok(n) => dims.push(Dim::Fixed(n)),
                    Err(_) => {
                        return self.fail_at(start, format!("dimension `{digits}` is too large"))
                    }
                }
            }
            if self.eat(']') {
                return Ok(Shape(dims));
            }
            self.expect(',', "`,` or `]`")?;
        }
    }

    /// An op's optional `[key, key=number, ...]`.
    fn params(&mut self) -> Result<Vec<Param<'a>>, ParseError> {
        let mut params = Vec::new();
        if !self.eat('[') {
            return Ok(params);
        }
        loop {
            let (pos, key) = self.ident("a parameter")?;
            let value = if self.eat('=') {
                Some(self.number()?)
            } else {
                None
            };
            params.push(Param { pos, key, value });
            if self.eat(']') {
                return Ok(params);
            }
            self.expect(',', "`,` or `]`")?;
        }
    }

    /// Nothing but spaces may follow.
    fn end(&mut self, expected: &str) -> Result<(), ParseError> {
        self.skip_spaces();
        if self.peek().is_some() {
            return self.unexpected(expected);
        }
        Ok(())
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}
