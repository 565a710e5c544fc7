//! The document's outline and its definitions, read from the syntax tree: `document_symbols`
//! gives the blocks, settings and defs of a file with the layers and named values inside them
//! (the editor's outline), and `definition` finds where the name under the cursor is defined —
//! a named value of the model (`h = dense(64)`), a binding of a def's body, a def's parameter, or
//! a user-defined function or layer (`def swish(...)`). They answer nothing for a file that does
//! not parse: the diagnostics say why.

use lsp_types::{DocumentSymbol, Location, Position, SymbolKind, Uri};

use super::convert::range;
use crate::diag::{Source, Span};
use crate::syntax::ast::{Block, Def, Entry, Item, Setting};

/// The outline of `text`, or `None` when it does not parse.
pub fn document_symbols(text: &str) -> Option<Vec<DocumentSymbol>> {
    let file = crate::syntax::parse(&Source::new("document.nn", text)).ok()?;
    Some(
        file.items
            .iter()
            .map(|item| match item {
                Item::Block(b) => block_symbol(text, b),
                Item::Setting(s) => setting_symbol(text, s),
                Item::Def(d) => def_symbol(text, d),
            })
            .collect(),
    )
}

fn setting_symbol(text: &str, s: &Setting) -> DocumentSymbol {
    symbol(
        text,
        &s.key.name,
        SymbolKind::PROPERTY,
        s.span,
        s.key.span,
        None,
    )
}

fn block_symbol(text: &str, b: &Block) -> DocumentSymbol {
    let name = match &b.label {
        Some(label) => format!("{} {}", b.name.name, label.name),
        None => b.name.name.clone(),
    };
    let children = b
        .entries
        .iter()
        .map(|e| match e {
            Entry::Setting(s) => setting_symbol(text, s),
            Entry::Call(c) => symbol(
                text,
                &c.name.name,
                SymbolKind::FUNCTION,
                c.span,
                c.name.span,
                None,
            ),
            Entry::Block(inner) => block_symbol(text, inner),
            Entry::Binding(binding) => symbol(
                text,
                &binding.name.name,
                SymbolKind::VARIABLE,
                binding.span,
                binding.name.span,
                None,
            ),
        })
        .collect();
    symbol(
        text,
        &name,
        SymbolKind::NAMESPACE,
        b.span,
        b.name.span,
        Some(children),
    )
}

fn def_symbol(text: &str, d: &Def) -> DocumentSymbol {
    let children = d
        .body
        .iter()
        .map(|b| {
            symbol(
                text,
                &b.name.name,
                SymbolKind::VARIABLE,
                b.span,
                b.name.span,
                None,
            )
        })
        .collect();
    symbol(
        text,
        &d.name.name,
        SymbolKind::FUNCTION,
        d.span,
        d.name.span,
        Some(children),
    )
}

fn symbol(
    text: &str,
    name: &str,
    kind: SymbolKind,
    whole: Span,
    name_span: Span,
    children: Option<Vec<DocumentSymbol>>,
) -> DocumentSymbol {
    #[allow(deprecated)] // `deprecated` is a field the protocol keeps; it must be given.
    DocumentSymbol {
        name: name.to_string(),
        detail: None,
        kind,
        tags: None,
        deprecated: None,
        range: range(text, whole),
        selection_range: range(text, name_span),
        children,
    }
}

/// The byte offset of a protocol position (UTF-16 units) in `text`, clamped to its lines.
pub fn offset(text: &str, at: Position) -> usize {
    let mut start = 0;
    for _ in 0..at.line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let mut units = 0;
    for (i, c) in text[start..line_end].char_indices() {
        if units >= at.character as usize {
            return start + i;
        }
        units += c.len_utf16();
    }
    line_end
}

/// The run of name characters (letters, digits, `_`) around byte `cursor` of `text`, touching it
/// on either side; empty when there is none.
pub fn name_around(text: &str, cursor: usize) -> Span {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let start = text[..cursor]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_name(c))
        .last()
        .map_or(cursor, |(i, _)| i);
    let end = text[cursor..]
        .char_indices()
        .find(|&(_, c)| !is_name(c))
        .map_or(text.len(), |(i, _)| cursor + i);
    Span::new(start, end)
}

/// Where the name at `at` is defined, if it is a name the file defines.
pub fn definition(text: &str, uri: &Uri, at: Position) -> Option<Location> {
    let file = crate::syntax::parse(&Source::new("document.nn", text)).ok()?;
    let cursor = offset(text, at);
    let name = name_around(text, cursor);
    let word = &text[name.start..name.end];
    if word.is_empty() {
        return None;
    }
    let inside = |s: Span| s.start <= cursor && cursor <= s.end;
    let mut found: Option<Span> = None;
    for item in &file.items {
        match item {
            Item::Def(d) => {
                if d.name.name == word {
                    found = found.or(Some(d.name.span));
                }
                // A def's parameters and bindings are defined only inside it.
                if inside(d.span) {
                    let local = d
                        .params
                        .iter()
                        .map(|p| &p.name)
                        .chain(d.body.iter().map(|b| &b.name))
                        .find(|n| n.name == word);
                    if let Some(n) = local {
                        return Some(Location::new(uri.clone(), range(text, n.span)));
                    }
                }
            }
            Item::Block(b) => {
                if let Some(span) = binding_in(b, word) {
                    found = found.or(Some(span));
                }
            }
            Item::Setting(_) => {}
        }
    }
    found.map(|span| Location::new(uri.clone(), range(text, span)))
}

/// The name span of a binding called `word` in a block or the blocks inside it.
fn binding_in(b: &Block, word: &str) -> Option<Span> {
    b.entries.iter().find_map(|e| match e {
        Entry::Binding(binding) if binding.name.name == word => Some(binding.name.span),
        Entry::Block(inner) => binding_in(inner, word),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const TEXT: &str = "def swish(x, beta: 1.0) = x * sigmoid(beta * x)\n\
                        model {\n  input(4)\n  h = dense(8, activation: swish)\n  \
                        g = dense(8)(h)\n  output(activation: softmax)\n}\nloss: cross_entropy\n";

    #[test]
    fn the_outline_has_the_blocks_layers_and_defs() {
        let symbols = document_symbols(TEXT).unwrap();
        let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["swish", "model", "loss"]);
        let model: Vec<&str> = symbols[1]
            .children
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(model, ["input", "h", "g", "output"]);
        assert_eq!(
            symbols[1].children.as_ref().unwrap()[1].kind,
            SymbolKind::VARIABLE
        );
        assert!(document_symbols("model {").is_none());
    }

    #[test]
    fn names_lead_to_their_definitions() {
        let uri = Uri::from_str("file:///m.nn").unwrap();
        let at = |needle: &str, nth: usize| {
            let i = TEXT.match_indices(needle).nth(nth).unwrap().0;
            super::super::convert::position(TEXT, i + 1)
        };
        // `h` used in `dense(8)(h)` leads to `h = ...`.
        let h_use = at("(h)", 0);
        let h_use = Position::new(h_use.line, h_use.character);
        let got = definition(TEXT, &uri, h_use).unwrap();
        let h_def = TEXT.find("h = ").unwrap();
        assert_eq!(
            got.range.start,
            super::super::convert::position(TEXT, h_def)
        );
        // `swish` as an activation leads to the def; `beta` inside the def to its parameter.
        let got = definition(TEXT, &uri, at("swish)", 0)).unwrap();
        assert_eq!(got.range.start, super::super::convert::position(TEXT, 4));
        let got = definition(TEXT, &uri, at("beta * x", 0)).unwrap();
        let beta = TEXT.find("beta").unwrap();
        assert_eq!(got.range.start, super::super::convert::position(TEXT, beta));
        // A word the file does not define has no definition.
        assert!(definition(TEXT, &uri, at("softmax", 0)).is_none());
    }

    #[test]
    fn offsets_and_positions_agree() {
        let text = "é😀x\nab";
        for (i, _) in text.char_indices() {
            assert_eq!(offset(text, super::super::convert::position(text, i)), i);
        }
        assert_eq!(offset(text, Position::new(7, 0)), text.len());
    }
}
