//! Hover: what the word under the cursor is. A column name inside the `data` block shows what nnc
//! infers of that column of the data file (`columns`); a def of the file, its signature; a named
//! value of the model or a layer, its output shape and parameter count (from the built program,
//! `summary::layer_rows`, as `nnc summary` prints them); an activation, a loss or an optimizer,
//! its formula and its options with their defaults and ranges (`lower::spec::describe`).
//! Anything else, or a document that does not build when the answer needs it, shows nothing.

use std::path::Path;

use lsp_types::Position;

use super::columns::data_file;
use super::complete::open_blocks;
use super::symbols::{name_around, offset};
use crate::diag::Source;
use crate::lower::spec::{describe, WordDoc};
use crate::syntax::ast::{Entry, Item};

/// The markdown shown for the word at `at` of the document at `path` with `text`.
pub fn hover(path: &Path, text: &str, at: Position) -> Option<String> {
    let cursor = offset(text, at);
    let (word, quoted) = word_at(text, cursor)?;
    if open_blocks(&text[..cursor]).iter().any(|b| b == "data") {
        if let Some(shown) = data_file(path, text).and_then(|d| d.describe(&word)) {
            return Some(shown);
        }
    }
    if quoted {
        return None;
    }
    let file = crate::syntax::parse(&Source::new("document.nn", text)).ok();
    let items = file.as_ref().map_or(&[][..], |f| &f.items[..]);
    if let Some(def) = items.iter().find_map(|i| match i {
        Item::Def(d) if d.name.name == word => Some(d),
        _ => None,
    }) {
        let head = text[def.span.start..def.span.end]
            .split(['=', '{'])
            .next()
            .unwrap_or_default()
            .trim();
        return Some(format!(
            "```nn\n{head}\n```\n\na function or layer of this file"
        ));
    }
    let bound_in_model = items.iter().any(|i| match i {
        Item::Block(b) if b.name.name == "model" => b
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Binding(binding) if binding.name.name == word)),
        _ => false,
    });
    if !bound_in_model {
        if let Some(doc) = describe(&word) {
            return Some(word_doc(&doc));
        }
    }
    let program = crate::train::session::build_text(path, text.into()).ok()?;
    let rows = crate::summary::layer_rows(&program);
    let row = match bound_in_model {
        true => rows
            .into_iter()
            .find(|r| r.label.starts_with(&format!("{word} = ")))?,
        false => rows
            .into_iter()
            .filter(|r| !r.span.is_empty() && r.span.start <= cursor && cursor <= r.span.end)
            // The innermost span: a layer applied inside a named value.
            .min_by_key(|r| r.span.len())?,
    };
    let params = if row.params == 1 {
        "parameter"
    } else {
        "parameters"
    };
    Some(format!(
        "**{}**\n\noutput `{}`, {} {params}",
        row.label, row.shape, row.params
    ))
}

/// The name at byte `cursor` (touching it on either side), or the text of the string it is in;
/// and whether it was a string.
fn word_at(text: &str, cursor: usize) -> Option<(String, bool)> {
    let line_start = text[..cursor].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[cursor..].find('\n').map_or(text.len(), |i| cursor + i);
    let line = &text[line_start..line_end];
    let at = cursor - line_start;
    // Inside a string: an odd number of quotes before the cursor on its line (strings do not span
    // lines).
    let quotes: Vec<usize> = line.match_indices('"').map(|(i, _)| i).collect();
    let opened = quotes.iter().filter(|&&q| q < at).count();
    if opened % 2 == 1 {
        let (open, close) = (quotes[opened - 1], *quotes.get(opened)?);
        return Some((line[open + 1..close].to_string(), true));
    }
    let name = name_around(line, at);
    let (start, word) = (name.start, &line[name.start..name.end]);
    let starts_as_name = word.chars().next().is_some_and(|c| !c.is_ascii_digit());
    (starts_as_name && !line[..start].contains('#')).then(|| (word.to_string(), false))
}

/// An activation, loss or optimizer: its formula and a table of its options.
fn word_doc(doc: &WordDoc) -> String {
    let mut out = format!("**{}** ({})\n\n{}", doc.name, doc.kind, doc.formula);
    if !doc.options.is_empty() {
        out.push_str("\n\n| option | default | range |\n|---|---|---|");
        for o in &doc.options {
            let range = o.range.as_deref().unwrap_or("");
            out.push_str(&format!("\n| `{}` | {} | {range} |", o.name, o.default));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsp::convert::position;

    const TEXT: &str = "def swish(x, beta: 1.0) = x * sigmoid(beta * x)\n\
                        model {\n  input(4)\n  h = dense(16, activation: relu)\n  \
                        g = dense(8, activation: swish)(h)\n  output(3)\n}\nloss: mse\n\
                        optimizer: adam(learning_rate: 0.01)\n";

    fn hover_on(needle: &str, nth: usize) -> Option<String> {
        let at = TEXT.match_indices(needle).nth(nth).unwrap().0 + 1;
        hover(Path::new("m.nn"), TEXT, position(TEXT, at))
    }

    #[test]
    fn layers_and_named_values_show_their_shape_and_parameters() {
        let shown = hover_on("dense(16", 0).unwrap();
        assert!(shown.contains("h = dense_1 (relu)"), "{shown}");
        assert!(
            shown.contains("`(B, 16)`") && shown.contains("80 parameters"),
            "{shown}"
        );
        // `h` where it is used, in `(h)`: the value it names, not the layer around it.
        let used = hover_on("(h)", 0).unwrap();
        assert!(
            used.contains("h = dense_1") && used.contains("80 parameters"),
            "{used}"
        );
        assert!(hover_on("output", 0).unwrap().contains("27 parameters"));
    }

    #[test]
    fn language_words_show_their_formula_and_options() {
        let relu = hover_on("relu", 0).unwrap();
        assert!(
            relu.starts_with("**relu** (activation)") && relu.contains("max(x, 0)"),
            "{relu}"
        );
        let adam = hover_on("adam", 0).unwrap();
        assert!(
            adam.contains("| `learning_rate` | 0.001 | 0 to 10 |"),
            "{adam}"
        );
        assert!(adam.contains("| `epsilon` | 1e-8 |"), "{adam}");
        let mse = hover_on("mse", 0).unwrap();
        assert!(mse.contains("(prediction − target)²"), "{mse}");
        // A def of the file is shown as the file defines it, not as the language's word.
        let swish = hover_on("swish", 1).unwrap();
        assert!(swish.contains("def swish(x, beta: 1.0)"), "{swish}");
    }

    #[test]
    fn column_names_show_what_is_inferred_of_them() {
        let dir = std::env::temp_dir().join(format!("nnc-hover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = "age,city,label\n31,Oslo,yes\n45,Lima,no\n27,Oslo,yes\n";
        std::fs::write(dir.join("d.csv"), csv).unwrap();
        let doc = dir.join("m.nn");
        let text = "model {\n  output(activation: softmax)\n}\nloss: cross_entropy\n\
                    data {\n  path: \"d.csv\"\n  target: label\n  ignore: [age]\n  \
                    column city {\n    scaling: none\n  }\n}\n";
        let on = |needle: &str| {
            let at = text.find(needle).unwrap() + 1;
            hover(&doc, text, position(text, at))
        };
        let city = on("city {").unwrap();
        assert!(
            city.starts_with("**column `city`** of `d.csv` (3 rows)"),
            "{city}"
        );
        assert!(
            city.contains("categorical: 2 categories (`Oslo`, `Lima`)"),
            "{city}"
        );
        let label = on("label\n").unwrap();
        assert!(label.contains("the target of the model"), "{label}");
        assert!(on("age]").unwrap().contains("ignored"));
        // The same word outside the data block is not a column.
        assert!(on("softmax")
            .unwrap()
            .starts_with("**softmax** (activation)"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_word_under_the_cursor() {
        assert_eq!(
            word_at("  a = relu(x)", 7),
            Some(("relu".to_string(), false))
        );
        assert_eq!(
            word_at("  a = relu(x)", 10),
            Some(("relu".to_string(), false))
        );
        assert_eq!(
            word_at("target: \"a b\"", 10),
            Some(("a b".to_string(), true))
        );
        assert_eq!(word_at("epochs: 10", 9), None);
        assert_eq!(word_at("# relu", 3), None);
    }
}
