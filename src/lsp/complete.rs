//! Completion: the words that fit where the cursor is, from the language's own lists
//! (`lower::spec::vocabulary` and `describe`) and the document's data file. After `activation:`
//! come activations (and the file's defs), after `loss:` losses, after `optimizer:` optimizers,
//! after `init:` or `bias_init:` initializers, after `schedule:` or `then:` schedules, after
//! `regularization:` regularizers; inside a call's parentheses, its option names with their
//! defaults (a def's, its parameters); at the start of a line inside `model { }`, layers and the
//! file's defs; inside `train`, `data` or `column` blocks, their settings; at the start of a
//! top-level line, the top-level items and `def`. The data file's column names come after
//! `target:`, after `column`, and inside the lists of `categorical:` and `ignore:`. Elsewhere it
//! offers nothing rather than guess.

use std::path::Path;

use lsp_types::{CompletionItem, CompletionItemKind, InsertTextFormat};

use crate::lower::spec::{block_settings, call_options, OptionDoc};

/// The kinds of `vocabulary()` that fit after `key:`.
fn kind_after(key: &str) -> Option<&'static str> {
    Some(match key {
        "activation" => "activations",
        "loss" => "losses",
        "optimizer" => "optimizers",
        "init" | "bias_init" => "initializers",
        "schedule" | "then" => "schedules",
        "regularization" => "regularizers",
        _ => return None,
    })
}

/// The names of the blocks open at the end of `before`, outermost first: a block is named by the
/// first word of the line that opens it (`model {`, `column age {`). Comments and strings are
/// skipped.
pub(super) fn open_blocks(before: &str) -> Vec<String> {
    let mut stack = Vec::new();
    // The first word of the current line, and the word being read.
    let mut first: Option<String> = None;
    let mut word = String::new();
    let end = std::iter::once((before.len(), '\n'));
    for (_, c) in crate::syntax::code_chars(before).chain(end) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            first.get_or_insert(std::mem::take(&mut word));
        }
        match c {
            '\n' => first = None,
            '{' => stack.push(first.take().unwrap_or_default()),
            '}' => {
                stack.pop();
                first = None;
            }
            _ => {}
        }
    }
    stack
}

/// The open brackets (`(` and `[`) at the end of `before`, innermost last, with their offsets.
/// Comments and strings are skipped.
fn open_brackets(before: &str) -> Vec<(char, usize)> {
    let mut stack = Vec::new();
    for (i, c) in crate::syntax::code_chars(before) {
        match c {
            '(' | '[' => stack.push((c, i)),
            ')' | ']' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack
}

/// The name that ends at byte `end` of `text` (`dense` in `dense(`), if any.
fn name_before(text: &str, end: usize) -> &str {
    let head = &text[..end];
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    &head[start..]
}

fn item(label: &str, kind: CompletionItemKind, detail: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        ..Default::default()
    }
}

/// An option or setting, inserted with its colon.
fn option_item(name: &str, detail: &str) -> CompletionItem {
    CompletionItem {
        insert_text: Some(format!("{name}: ")),
        insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
        ..item(name, CompletionItemKind::PROPERTY, detail)
    }
}

/// An option of the language, its default and range shown beside it.
fn documented_option(o: &OptionDoc) -> CompletionItem {
    let detail = match (&o.range, o.default.as_str()) {
        (Some(range), default) => format!("default {default} ({range})"),
        (None, "") => "option".to_string(),
        (None, default) => format!("default {default}"),
    };
    option_item(o.name, &detail)
}

/// The completions at byte `offset` of `text`, the document at `path` (whose data file gives the
/// column names).
pub fn completions(path: &Path, text: &str, offset: usize) -> Vec<CompletionItem> {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    // The word being typed, and what precedes it on the line (an opening quote is not part of it).
    let typed = line
        .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
        .len();
    let lead = line[..typed].trim_end();
    let lead = lead.strip_suffix('"').unwrap_or(lead).trim_end();
    let defs = defined_functions(text);
    let blocks = open_blocks(before);
    let in_data = blocks.iter().any(|b| b == "data");
    let columns = || {
        super::columns::data_file(path, text)
            .map(|d| d.column_names())
            .unwrap_or_default()
            .into_iter()
            .map(|c| item(&c, CompletionItemKind::FIELD, "column of the data file"))
            .collect::<Vec<_>>()
    };
    let vocabulary = crate::lower::spec::vocabulary();
    let words_of = |kind: &str| -> Vec<&'static str> {
        vocabulary
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, w)| w.clone())
            .unwrap_or_default()
    };
    if let Some(key) = lead.strip_suffix(':') {
        let key = name_before(key, key.len());
        if key == "target" && in_data {
            return columns();
        }
        let Some(kind) = kind_after(key) else {
            return Vec::new();
        };
        let mut items: Vec<CompletionItem> = words_of(kind)
            .into_iter()
            .map(|w| item(w, CompletionItemKind::FUNCTION, kind))
            .collect();
        if kind == "activations" {
            items.extend(
                defs.iter()
                    .map(|(d, _)| item(d, CompletionItemKind::FUNCTION, "def")),
            );
        }
        return items;
    }
    // Inside brackets, at the start of an argument or item: a call's options, a list's columns.
    if let Some(&(bracket, at)) = open_brackets(before).last() {
        let starts_item = lead.ends_with([bracket, ',']) || lead.trim().is_empty();
        if !starts_item {
            return Vec::new();
        }
        if bracket == '[' {
            let key = before[..at]
                .trim_end()
                .strip_suffix(':')
                .unwrap_or_default();
            let listed = matches!(name_before(key, key.len()), "categorical" | "ignore");
            return if listed && in_data {
                columns()
            } else {
                Vec::new()
            };
        }
        let call = name_before(before, at);
        // Options already given in this call are not offered again.
        let given: Vec<&str> = before[at..]
            .split([',', '('])
            .filter_map(|arg| arg.trim().split_once(':').map(|(n, _)| n.trim()))
            .collect();
        if let Some((_, params)) = defs.iter().find(|(d, _)| d == call) {
            return params
                .iter()
                .filter(|p| !given.contains(&p.as_str()))
                .map(|p| option_item(p, &format!("parameter of `{call}`")))
                .collect();
        }
        return call_options(call)
            .unwrap_or_default()
            .iter()
            .filter(|o| !given.contains(&o.name))
            .map(documented_option)
            .collect();
    }
    if lead.trim_start() == "column" && in_data {
        return columns();
    }
    if !lead.is_empty() {
        return Vec::new();
    }
    match blocks.last().map(String::as_str) {
        None => {
            let mut items: Vec<CompletionItem> = words_of("items")
                .into_iter()
                .map(|w| item(w, CompletionItemKind::KEYWORD, "item"))
                .collect();
            items.push(item(
                "def",
                CompletionItemKind::KEYWORD,
                "a function or layer",
            ));
            items
        }
        Some("model") => words_of("layers")
            .into_iter()
            .map(|w| item(w, CompletionItemKind::CLASS, "layer"))
            .chain(
                defs.iter()
                    .map(|(d, _)| item(d, CompletionItemKind::FUNCTION, "def")),
            )
            .collect(),
        Some(block) => {
            let mut items: Vec<CompletionItem> = block_settings(block)
                .unwrap_or_default()
                .iter()
                .map(documented_option)
                .collect();
            let calls: &[(&str, &str)] = match block {
                "train" => &[("early_stopping", "stop when validation stops improving")],
                "data" => &[("column", "settings of one column: `column NAME { ... }`")],
                _ => &[],
            };
            items.extend(
                calls
                    .iter()
                    .map(|(w, d)| item(w, CompletionItemKind::KEYWORD, d)),
            );
            items
        }
    }
}

/// The file's defs with their parameters, found by their keyword (the file may not parse while
/// it is typed): `def gate(x, beta: 1.0)` gives `gate` with `x` and `beta`.
fn defined_functions(text: &str) -> Vec<(String, Vec<String>)> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("def "))
        .filter_map(|rest| {
            let rest = rest.trim_start();
            let name: String = rest.chars().take_while(|&c| is_name(c)).collect();
            if name.is_empty() {
                return None;
            }
            let inside = rest[name.len()..].trim_start().strip_prefix('(')?;
            let inside = &inside[..inside.find(')').unwrap_or(inside.len())];
            let params = inside
                .split(',')
                .map(|p| p.split(':').next().unwrap_or_default().trim().to_string())
                .filter(|p| p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
                .filter(|p| p.chars().all(is_name))
                .collect();
            Some((name, params))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<String> {
        let at = text.find('|').unwrap();
        let text = text.replacen('|', "", 1);
        completions(Path::new("m.nn"), &text, at)
            .into_iter()
            .map(|c| c.label)
            .collect()
    }

    #[test]
    fn each_place_offers_the_words_that_fit_it() {
        let acts = labels("def swish(x) = x\nmodel {\n  dense(8, activation: re|)\n}\n");
        assert!(acts.contains(&"relu".to_string()) && acts.contains(&"swish".to_string()));
        assert!(!acts.contains(&"adam".to_string()));
        assert!(labels("loss: |\n").contains(&"cross_entropy".to_string()));
        assert!(labels("optimizer: ad|").contains(&"adamw".to_string()));
        assert!(labels("model {\n  dense(8, init: |)\n}").contains(&"he_normal".to_string()));
        let layers = labels("model {\n  input(4)\n  |\n}\n");
        assert!(layers.contains(&"dense".to_string()) && layers.contains(&"layernorm".to_string()));
        let top = labels("model {\n  input(4)\n}\n|");
        assert!(top.contains(&"optimizer".to_string()) && top.contains(&"def".to_string()));
        // A comment's brace opens nothing; other places offer nothing.
        assert!(labels("# {\n|").contains(&"model".to_string()));
        assert!(labels("train {\n  epochs: |\n}").is_empty());
        assert!(labels("model {\n  dense(8, activation: relu) |\n}").is_empty());
    }

    #[test]
    fn calls_offer_their_options_and_blocks_their_settings() {
        let dense = labels("model {\n  dense(16, |\n}");
        assert!(
            dense.contains(&"dropout".to_string()) && dense.contains(&"activation".to_string())
        );
        // Options already given are not offered again, across lines too.
        let adam = labels("optimizer: adam(learning_rate: 0.01,\n  |)");
        assert!(adam.contains(&"beta1".to_string()) && adam.contains(&"clip_norm".to_string()));
        assert!(!adam.contains(&"learning_rate".to_string()), "{adam:?}");
        let def = labels("def gate(x, beta: 1.0) = x\nmodel {\n  gate(|)\n}");
        assert_eq!(def, ["x", "beta"]);
        assert_eq!(
            labels("model {\n  dense(8, activation: leaky_relu(|))\n}"),
            ["alpha"]
        );
        let train = labels("train {\n  |\n}");
        assert_eq!(
            train,
            [
                "epochs",
                "batch_size",
                "seed",
                "threads",
                "monitor",
                "checkpoint_every",
                "early_stopping"
            ]
        );
        let data = labels("data {\n  |\n}");
        assert!(data.contains(&"target".to_string()) && data.contains(&"column".to_string()));
        assert!(labels("data {\n  column a {\n    |\n  }\n}").contains(&"scaling".to_string()));
        // The inserted text carries the colon; the detail, the default and range.
        let at = "model {\n  dense(16, ".len();
        let text = "model {\n  dense(16, \n}";
        let item = completions(Path::new("m.nn"), text, at)
            .into_iter()
            .find(|c| c.label == "dropout")
            .unwrap();
        assert_eq!(item.insert_text.as_deref(), Some("dropout: "));
        assert_eq!(item.detail.as_deref(), Some("default 0 (0 to 1)"));
    }

    #[test]
    fn column_names_come_from_the_data_file() {
        let dir = std::env::temp_dir().join(format!("nnc-complete-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("d.csv"), "age,zip code,label\n1,a,x\n").unwrap();
        let doc = dir.join("m.nn");
        let at = |text: &str| {
            let i = text.find('|').unwrap();
            let labels: Vec<String> = completions(&doc, &text.replacen('|', "", 1), i)
                .into_iter()
                .map(|c| c.label)
                .collect();
            labels
        };
        let columns = ["age", "zip code", "label"];
        assert_eq!(at("data {\n  path: \"d.csv\"\n  target: |\n}"), columns);
        assert_eq!(at("data {\n  path: \"d.csv\"\n  target: \"|\n}"), columns);
        assert_eq!(
            at("data {\n  path: \"d.csv\"\n  ignore: [age, |]\n}"),
            columns
        );
        assert_eq!(at("data {\n  path: \"d.csv\"\n  column |\n}"), columns);
        // Without the file, or outside the data block, no columns.
        assert!(at("data {\n  path: \"none.csv\"\n  target: |\n}").is_empty());
        assert!(at("data {\n  path: \"d.csv\"\n}\ntrain {\n  target: |\n}").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A Parquet data file's columns are offered as a CSV file's are, from its footer.
    #[test]
    fn column_names_come_from_a_parquet_file() {
        use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
        let dir = std::env::temp_dir().join(format!("nnc-complete-pq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("age", std::sync::Arc::new(Int64Array::from(vec![1, 2]))),
            (
                "zip code",
                std::sync::Arc::new(StringArray::from(vec!["a", "b"])),
            ),
            (
                "label",
                std::sync::Arc::new(StringArray::from(vec!["x", "y"])),
            ),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let file = std::fs::File::create(dir.join("d.parquet")).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let text = "data {\n  path: \"d.parquet\"\n  target: \n}";
        let at = text.find("target: ").unwrap() + "target: ".len();
        let labels: Vec<String> = completions(&dir.join("m.nn"), text, at)
            .into_iter()
            .map(|c| c.label)
            .collect();
        assert_eq!(labels, ["age", "zip code", "label"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
