//! Resolving a `--set` path against the syntax tree, generically: a segment names a top-level item,
//! a block's setting, call or labelled block (`column.age`), a call's option by name (positional
//! arguments by the names `lower::spec::positional_names` gives them), or, as a number, the Nth
//! layer of a block (numbered as diagnostics number layers: `input` is not a layer). The result is
//! the edit that puts the flag's value there: a replacement of the old value, or an insertion of
//! the absent option, setting or block.

use crate::diag::{did_you_mean, Diagnostic, Span};
use crate::lower::spec::positional_names;
use crate::syntax::ast::{Arg, Block, Call, Entry, File, Item, Setting, Value, ValueKind};

use super::splice::Edit;
use super::SetFlag;

/// Builds an inserted text, remembering which parts came from the flag.
#[derive(Default)]
struct Builder {
    text: String,
    pieces: Vec<(std::ops::Range<usize>, usize)>,
}

impl Builder {
    fn lit(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    fn flagged(&mut self, s: &str, flag_start: usize) -> &mut Self {
        let start = self.text.len();
        self.text.push_str(s);
        self.pieces.push((start..self.text.len(), flag_start));
        self
    }

    fn at(&mut self, range: std::ops::Range<usize>) -> Edit {
        Edit {
            range,
            text: std::mem::take(&mut self.text),
            pieces: std::mem::take(&mut self.pieces),
        }
    }
}

/// One entry of a block or of the file, whatever its kind.
#[derive(Clone, Copy)]
enum EntryRef<'a> {
    Setting(&'a Setting),
    Call(&'a Call),
    Block(&'a Block),
}

/// What a path segment found.
enum Found<'a> {
    Value(&'a Value),
    Call(&'a Call),
    Block(&'a Block),
}

/// Where the walk is.
enum Node<'a> {
    File(&'a File),
    Block(&'a Block),
    Call(&'a Call),
}

/// Calls that diagnostics do not number as layers: `input` declares the width, it is not layer 1.
fn is_numbered(call: &Call) -> bool {
    call.name.name != "input"
}

fn entries_of<'a>(node: &Node<'a>) -> Vec<EntryRef<'a>> {
    match node {
        Node::File(f) => (f.items.iter())
            .filter_map(|i| match i {
                Item::Block(b) => Some(EntryRef::Block(b)),
                Item::Setting(s) => Some(EntryRef::Setting(s)),
                Item::Def(_) => None,
            })
            .collect(),
        Node::Block(b) => (b.entries.iter())
            .filter_map(|e| match e {
                Entry::Setting(s) => Some(EntryRef::Setting(s)),
                Entry::Call(c) => Some(EntryRef::Call(c)),
                Entry::Block(b) => Some(EntryRef::Block(b)),
                // `paths_view` has turned the bindings a path can reach into calls.
                Entry::Binding(_) => None,
            })
            .collect(),
        Node::Call(_) => Vec::new(),
    }
}

/// The names a path can take at this level, for "did you mean" and the list in the help line.
fn names_at(node: &Node, text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut layer = 0;
    match node {
        Node::Call(c) => {
            let positional = positional_names(&c.name.name);
            let mut next = 0;
            for a in &c.args {
                match a {
                    Arg::Named { name, .. } => names.push(name.name.clone()),
                    Arg::Positional(_) => {
                        if let Some(n) = positional.get(next) {
                            names.push(n.to_string());
                        }
                        next += 1;
                    }
                }
            }
        }
        _ => {
            for e in entries_of(node) {
                match e {
                    EntryRef::Setting(s) => names.push(s.key.name.clone()),
                    EntryRef::Block(b) => names.push(match &b.label {
                        Some(l) => format!("{}.{}", b.name.name, l.name),
                        None => b.name.name.clone(),
                    }),
                    EntryRef::Call(c) if is_numbered(c) => {
                        layer += 1;
                        let shown = &text[c.span.start..c.span.end];
                        names.push(format!("{layer} (`{shown}`)"));
                    }
                    EntryRef::Call(c) => names.push(c.name.name.clone()),
                }
            }
        }
    }
    names
}

fn describe(node: &Node) -> String {
    match node {
        Node::File(_) => "the file".to_string(),
        Node::Block(b) => match &b.label {
            Some(l) => format!("`{} {}`", b.name.name, l.name),
            None => format!("`{}`", b.name.name),
        },
        Node::Call(c) => format!("`{}(...)`", c.name.name),
    }
}

/// A path that leads nowhere: the segment, what exists at its level and the nearest name.
fn not_found(flag: &SetFlag, i: usize, node: &Node, text: &str, why: &str) -> Diagnostic {
    let (seg, span) = &flag.segments[i];
    let names = names_at(node, text);
    let bare: Vec<&str> = names
        .iter()
        .map(|n| n.split([' ', '.']).next().unwrap_or(n))
        .collect();
    let listed = if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    };
    // Layer numbers are listed, not guessed at: `3` is no misspelling of `2`.
    let guess = match seg.parse::<usize>() {
        Ok(_) => None,
        Err(_) => did_you_mean(seg, bare.iter().copied()),
    };
    let help = match guess {
        Some(s) => format!("did you mean `{s}`? {} holds: {listed}", describe(node)),
        None => format!("{} holds: {listed}", describe(node)),
    };
    Diagnostic::new(
        "nnc::cli::set_path",
        format!("`--set {}`: {why}", flag.key()),
    )
    .with_source(&flag.source)
    .with_label(*span, format!("not in {}", describe(node)))
    .with_help(help)
}

/// Find segment `i` (and, for a labelled block, the label after it) among the entries of a block
/// or the file. Returns what was found and how many segments it took.
fn find_entry<'a>(
    entries: &[EntryRef<'a>],
    flag: &SetFlag,
    i: usize,
) -> Result<Option<(Found<'a>, usize)>, String> {
    let seg = flag.segments[i].0.as_str();
    if let Ok(n) = seg.parse::<usize>() {
        let layers: Vec<&Call> = (entries.iter())
            .filter_map(|e| match e {
                EntryRef::Call(c) if is_numbered(c) => Some(*c),
                _ => None,
            })
            .collect();
        return Ok(n
            .checked_sub(1)
            .and_then(|k| layers.get(k))
            .map(|c| (Found::Call(c), 1)));
    }
    let next = flag.segments.get(i + 1).map(|(s, _)| s.as_str());
    let mut calls = Vec::new();
    for e in entries {
        match e {
            EntryRef::Setting(s) if s.key.name == seg => {
                return Ok(Some((Found::Value(&s.value), 1)))
            }
            EntryRef::Block(b) if b.name.name == seg => match &b.label {
                None => return Ok(Some((Found::Block(b), 1))),
                Some(l) if Some(l.name.as_str()) == next => return Ok(Some((Found::Block(b), 2))),
                Some(_) => {}
            },
            EntryRef::Call(c) if c.name.name == seg => calls.push(*c),
            _ => {}
        }
    }
    match calls.as_slice() {
        [] => Ok(None),
        [c] => Ok(Some((Found::Call(c), 1))),
        _ => Err(format!(
            "there are {} `{seg}` calls here; name one by its number",
            calls.len()
        )),
    }
}

/// Find option `seg` of a call: a named argument, or a positional one by its name.
fn find_option<'a>(call: &'a Call, seg: &str) -> Option<&'a Value> {
    let positional = positional_names(&call.name.name);
    let mut next = 0;
    for a in &call.args {
        match a {
            Arg::Named { name, value } if name.name == seg => return Some(value),
            Arg::Named { .. } => {}
            Arg::Positional(v) => {
                if positional.get(next) == Some(&seg) {
                    return Some(v);
                }
                next += 1;
            }
        }
    }
    None
}

/// Insert `key: value` as the last entry of a block, on its own line when the block's `}` is.
fn insert_setting(block: &Block, text: &str, flag: &SetFlag, i: usize) -> Edit {
    let close = block.span.end - 1;
    let line_start = text[..close].rfind('\n').map_or(0, |p| p + 1);
    let before = &text[line_start..close];
    let mut b = Builder::default();
    let (seg, span) = &flag.segments[i];
    if before.trim().is_empty() {
        b.lit(before).lit("  ").flagged(seg, span.start).lit(": ");
        b.flagged(&flag.value, flag.value_start).lit("\n");
        b.lit(before).at(line_start..close)
    } else {
        b.lit(" ").flagged(seg, span.start).lit(": ");
        b.flagged(&flag.value, flag.value_start).lit(" ");
        b.at(close..close)
    }
}

/// Insert `name(option: value)` as the last entry of a block (`train.early_stopping.patience`).
fn insert_call(block: &Block, text: &str, flag: &SetFlag, i: usize) -> Edit {
    let close = block.span.end - 1;
    let line_start = text[..close].rfind('\n').map_or(0, |p| p + 1);
    let before = &text[line_start..close];
    let ((name, name_span), (option, option_span)) = (&flag.segments[i], &flag.segments[i + 1]);
    let mut b = Builder::default();
    let own_line = before.trim().is_empty();
    b.lit(if own_line { "  " } else { " " });
    b.flagged(name, name_span.start).lit("(");
    b.flagged(option, option_span.start).lit(": ");
    b.flagged(&flag.value, flag.value_start).lit(")");
    if own_line {
        let edit_text = format!("{before}{}\n{before}", b.text);
        let shift = before.len();
        let pieces = b
            .pieces
            .iter()
            .map(|(r, f)| (r.start + shift..r.end + shift, *f))
            .collect();
        Edit {
            range: line_start..close,
            text: edit_text,
            pieces,
        }
    } else {
        b.lit(" ").at(close..close)
    }
}

/// Append `key: value`, or `key { option: value }`, to the end of the file.
fn append_item(text: &str, flag: &SetFlag, i: usize) -> Edit {
    let mut b = Builder::default();
    if !text.is_empty() && !text.ends_with('\n') {
        b.lit("\n");
    }
    let (seg, span) = &flag.segments[i];
    b.flagged(seg, span.start);
    if let Some((option, option_span)) = flag.segments.get(i + 1) {
        b.lit(" {\n  ").flagged(option, option_span.start).lit(": ");
        b.flagged(&flag.value, flag.value_start).lit("\n}\n");
    } else {
        b.lit(": ").flagged(&flag.value, flag.value_start).lit("\n");
    }
    b.at(text.len()..text.len())
}

/// Insert the named option `seg: value` into a call, adding parentheses to a bare name.
fn insert_option(call: &Call, text: &str, flag: &SetFlag, i: usize) -> Edit {
    let (seg, span) = &flag.segments[i];
    let mut b = Builder::default();
    let end = call.span.end;
    let has_parens = text[..end].ends_with(')');
    if !has_parens {
        b.lit("(").flagged(seg, span.start).lit(": ");
        b.flagged(&flag.value, flag.value_start).lit(")");
        return b.at(end..end);
    }
    let inside = text[..end - 1].trim_end();
    if !(inside.ends_with('(') || inside.ends_with(',')) {
        b.lit(", ");
    } else if inside.ends_with(',') {
        b.lit(" ");
    }
    b.flagged(seg, span.start).lit(": ");
    b.flagged(&flag.value, flag.value_start);
    b.at(end - 1..end - 1)
}

fn replace(span: Span, flag: &SetFlag) -> Edit {
    let mut b = Builder::default();
    b.flagged(&flag.value, flag.value_start);
    b.at(span.start..span.end)
}

/// The file as `--set` paths see it: a binding whose right side is a plain call
/// (`h = dense(64)`) is that call, numbered like any layer; math bindings and `def`s are not
/// reachable. Spans are the file's, so edits made through the view apply to its text.
fn paths_view(file: &File) -> File {
    let entry = |e: &Entry| match e {
        Entry::Binding(b) => match b.value.to_value() {
            Some(Value {
                kind: ValueKind::Call(c),
                ..
            }) => Some(Entry::Call(c)),
            _ => None,
        },
        other => Some(other.clone()),
    };
    File {
        items: (file.items.iter())
            .filter_map(|i| match i {
                Item::Block(b) => Some(Item::Block(Block {
                    entries: b.entries.iter().filter_map(entry).collect(),
                    ..b.clone()
                })),
                Item::Setting(s) => Some(Item::Setting(s.clone())),
                Item::Def(_) => None,
            })
            .collect(),
    }
}

/// The edit that `flag` makes to the file `file` (whose text is `text`).
pub fn locate(file: &File, text: &str, flag: &SetFlag) -> Result<Edit, Diagnostic> {
    let file = &paths_view(file);
    let segments = flag.segments.len();
    let mut node = Node::File(file);
    let mut i = 0;
    loop {
        let last = |taken: usize| i + taken == segments;
        let found = match &node {
            Node::Call(call) => {
                let seg = flag.segments[i].0.as_str();
                match find_option(call, seg) {
                    Some(v) => (Found::Value(v), 1),
                    None if last(1) => return Ok(insert_option(call, text, flag, i)),
                    None => return Err(not_found(flag, i, &node, text, "no such option")),
                }
            }
            Node::File(_) | Node::Block(_) => {
                let entries = entries_of(&node);
                match find_entry(&entries, flag, i) {
                    Err(why) => return Err(not_found(flag, i, &node, text, &why)),
                    Ok(Some(found)) => found,
                    Ok(None) => {
                        let numbered = flag.segments[i].0.parse::<usize>().is_ok();
                        let why = if numbered {
                            "no layer of that number"
                        } else {
                            "no such item"
                        };
                        if numbered || !(last(1) || last(2)) {
                            return Err(not_found(flag, i, &node, text, why));
                        }
                        // Absent: written in, then read like the rest of the file (a name the
                        // file may not hold is reported there, in the flag's text).
                        return Ok(match &node {
                            Node::File(_) => append_item(text, flag, i),
                            Node::Block(b) if last(1) => insert_setting(b, text, flag, i),
                            Node::Block(b) => insert_call(b, text, flag, i),
                            Node::Call(_) => unreachable!("invariant: calls are handled above"),
                        });
                    }
                }
            }
        };
        let (found, taken) = found;
        let is_last = last(taken);
        node = match found {
            Found::Value(v) if is_last => return Ok(replace(v.span, flag)),
            Found::Call(c) if is_last => return Ok(replace(c.span, flag)),
            Found::Block(_) if is_last => {
                let d = not_found(
                    flag,
                    i + taken - 1,
                    &node,
                    text,
                    "a block cannot be set whole; set one of its settings",
                );
                return Err(d);
            }
            Found::Value(v) => match &v.kind {
                ValueKind::Call(c) => Node::Call(c),
                _ => {
                    return Err(Diagnostic::new(
                        "nnc::cli::set_path",
                        format!(
                            "`--set {}`: `{}` is {}, which has no options",
                            flag.key(),
                            flag.segments[i + taken - 1].0,
                            v.describe()
                        ),
                    )
                    .with_source(&flag.source)
                    .with_label(flag.segments[i + taken].1, "no option here")
                    .with_help("set the value whole: end the path before this segment"))
                }
            },
            Found::Call(c) => Node::Call(c),
            Found::Block(b) => Node::Block(b),
        };
        i += taken;
    }
}
