//! The VS Code extension's TextMate grammar (`editors/vscode/syntaxes/nn.tmLanguage.json`) against
//! the language: each kind of word it highlights lists exactly the words `vocabulary()` gives
//! that kind, and a small TextMate scanner (the grammar's regexes, tried at each position, the
//! earliest match winning and ties going to the first pattern, as editors do) run over every
//! example gives every such word in the examples' code the scope of its kind (but where a def
//! defines a function of that name).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use fancy_regex::Regex;
use serde_json::Value;

fn grammar() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode/syntaxes/nn.tmLanguage.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The words of a `\b(a|b|c)\b` pattern.
fn words(pattern: &str) -> BTreeSet<String> {
    let inner = pattern
        .strip_prefix("\\b(")
        .and_then(|p| p.strip_suffix(")\\b"))
        .unwrap_or_else(|| panic!("a word list: {pattern}"));
    inner.split('|').map(str::to_string).collect()
}

#[test]
fn the_grammar_lists_exactly_the_languages_words() {
    let g = grammar();
    for (kind, vocabulary) in nnc::lower::spec::vocabulary() {
        let entry = &g["repository"][kind];
        let listed = words(
            entry["match"]
                .as_str()
                .unwrap_or_else(|| panic!("no `{kind}`")),
        );
        let known: BTreeSet<String> = vocabulary.iter().map(|w| w.to_string()).collect();
        assert_eq!(listed, known, "the grammar's `{kind}`");
        let included = g["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["include"] == format!("#{kind}"));
        assert!(included, "`{kind}` is used by the grammar's patterns");
    }
}

/// One rule of the grammar: a regex with the scope of its whole match or of its groups, or a
/// begin/end pair (strings) scoped as a whole.
struct Rule {
    regex: Regex,
    end: Option<Regex>,
    name: Option<String>,
    captures: HashMap<usize, String>,
}

fn rules(g: &Value) -> Vec<Rule> {
    g["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let key = p["include"].as_str().unwrap().trim_start_matches('#');
            let r = &g["repository"][key];
            let (begin, end) = match (r["match"].as_str(), r["begin"].as_str()) {
                (Some(m), _) => (m, None),
                (None, Some(b)) => (b, Some(Regex::new(r["end"].as_str().unwrap()).unwrap())),
                _ => panic!("rule `{key}` has neither match nor begin"),
            };
            let captures = r["captures"]
                .as_object()
                .map(|c| {
                    c.iter()
                        .map(|(i, v)| (i.parse().unwrap(), v["name"].as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            Rule {
                regex: Regex::new(begin).unwrap_or_else(|e| panic!("rule `{key}`: {e}")),
                end,
                name: r["name"].as_str().map(str::to_string),
                captures,
            }
        })
        .collect()
}

/// The scope of every byte of `text` that the grammar scopes.
fn scan(rules: &[Rule], text: &str) -> Vec<Option<String>> {
    let mut scopes = vec![None; text.len()];
    let mut at = 0;
    while at < text.len() {
        let best = rules
            .iter()
            .filter_map(|r| r.regex.captures_from_pos(text, at).unwrap().map(|c| (r, c)))
            .min_by_key(|(_, c)| c.get(0).unwrap().start());
        let Some((rule, caps)) = best else { break };
        let whole = caps.get(0).unwrap();
        let mut end = whole.end();
        if let Some(close) = &rule.end {
            end = close
                .find_from_pos(text, end)
                .unwrap()
                .map_or(text.len(), |m| m.end());
        }
        if let Some(name) = &rule.name {
            scopes[whole.start()..end]
                .iter_mut()
                .for_each(|s| *s = Some(name.clone()));
        }
        for (i, name) in &rule.captures {
            if let Some(g) = caps.get(*i) {
                scopes[g.start()..g.end()]
                    .iter_mut()
                    .for_each(|s| *s = Some(name.clone()));
            }
        }
        at = if end > whole.start() {
            end
        } else {
            whole.start() + 1
        };
        while !text.is_char_boundary(at.min(text.len())) {
            at += 1;
        }
    }
    scopes
}

#[test]
fn every_word_of_the_examples_gets_the_scope_of_its_kind() {
    let g = grammar();
    let rules = rules(&g);
    let scope_of: HashMap<&str, String> = nnc::lower::spec::vocabulary()
        .into_iter()
        .flat_map(|(kind, words)| {
            let scope = g["repository"][kind]["name"].as_str().unwrap().to_string();
            words.into_iter().map(move |w| (w, scope.clone()))
        })
        .collect();
    let ident = Regex::new("[A-Za-z_][A-Za-z0-9_]*").unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "nn") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let scopes = scan(&rules, &text);
        for m in ident.find_iter(&text) {
            let m = m.unwrap();
            let scope = scopes[m.start()].as_deref().unwrap_or("");
            // Comments and strings hold words freely; a def may take a known name (its
            // definition is highlighted as one).
            if scope.starts_with("comment")
                || scope.starts_with("string")
                || scope == "entity.name.function.nn"
            {
                continue;
            }
            if let Some(want) = scope_of.get(m.as_str()) {
                assert_eq!(scope, want, "`{}` in {}", m.as_str(), path.display());
                checked += 1;
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} words of the language in the examples"
    );
}
