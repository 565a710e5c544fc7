//! Completion: the words that fit where the cursor is, from the language's own lists
//! (`lower::spec::vocabulary`). After `activation:` come activations (and the file's defs), after
//! `loss:` losses, after `optimizer:` optimizers, after `init:` or `bias_init:` initializers,
//! after `schedule:` or `then:` schedules, after `regularization:` regularizers; at the start of
//! a line inside `model { }`, layers and the file's defs; at the start of a top-level line, the
//! top-level items and `def`. Elsewhere it offers nothing rather than guess.

use lsp_types::{CompletionItem, CompletionItemKind};

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
fn open_blocks(before: &str) -> Vec<String> {
    let mut stack = Vec::new();
    for line in before.lines() {
        let mut first: Option<String> = None;
        let mut word = String::new();
        let mut in_string = false;
        for c in line.chars().chain(std::iter::once(' ')) {
            if in_string {
                in_string = c != '"';
                continue;
            }
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                first.get_or_insert(std::mem::take(&mut word));
                word.clear();
            }
            match c {
                '#' => break,
                '"' => in_string = true,
                '{' => stack.push(first.take().unwrap_or_default()),
                '}' => {
                    stack.pop();
                    first = None;
                }
                _ => {}
            }
        }
    }
    stack
}

/// The completions at byte `offset` of `text`.
pub fn completions(text: &str, offset: usize) -> Vec<CompletionItem> {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    // The word being typed, and what precedes it on the line.
    let typed = line
        .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
        .len();
    let lead = line[..typed].trim_end();
    let defs = defined_functions(text);
    let vocabulary = crate::lower::spec::vocabulary();
    let words_of = |kind: &str| -> Vec<&'static str> {
        vocabulary
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, w)| w.clone())
            .unwrap_or_default()
    };
    let item = |label: &str, kind: CompletionItemKind, detail: &str| CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        ..Default::default()
    };
    if let Some(key) = lead.strip_suffix(':') {
        let key = key
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next();
        let Some(kind) = key.and_then(kind_after) else {
            return Vec::new();
        };
        let mut items: Vec<CompletionItem> = words_of(kind)
            .into_iter()
            .map(|w| item(w, CompletionItemKind::FUNCTION, kind))
            .collect();
        if kind == "activations" {
            items.extend(
                defs.iter()
                    .map(|d| item(d, CompletionItemKind::FUNCTION, "def")),
            );
        }
        return items;
    }
    if !lead.is_empty() {
        return Vec::new();
    }
    let blocks = open_blocks(before);
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
                    .map(|d| item(d, CompletionItemKind::FUNCTION, "def")),
            )
            .collect(),
        Some(_) => Vec::new(),
    }
}

/// The names of the file's defs, found by their keyword (the file may not parse while typed).
fn defined_functions(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("def "))
        .filter_map(|rest| {
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<String> {
        let at = text.find('|').unwrap();
        let text = text.replacen('|', "", 1);
        completions(&text, at)
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
        assert!(labels("model {\n  dense(|\n}").is_empty());
    }
}
