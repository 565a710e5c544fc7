//! Functions and layers written as math: `def` items, the file's and the prelude's (layers nnc
//! itself writes as math, such as `layernorm`). Resolution only collects them, refuses a
//! name given twice or one that a built-in already has, and finds where a def is used by name in
//! place of a built-in (an activation, a loss). Their bodies are resolved as they are lowered
//! (`lower::math`), where the shapes of their inputs are known.

use std::collections::HashMap;

use crate::diag::{Diagnostic, Source};
use crate::syntax::ast::{Def, File, Item, Value, ValueKind};

use super::{err, DefUse};

/// Names a def may not take: the built-in layers and the math functions of `lower::math`. An
/// activation or loss of the same name is refused where it is used, not here.
pub const RESERVED: &[&str] = &["input", "dense", "output", "batchnorm"];

/// The defs nnc ships, written in its own math language (`prelude.nn`).
const PRELUDE: &str = include_str!("prelude.nn");

/// The names of the prelude's defs, for editors (`vocabulary`); a test keeps it equal to them.
pub(super) const PRELUDE_DEFS: &[&str] = &["layernorm"];

/// The prelude's defs. Their spans are in the prelude's text, so lowering points diagnostics
/// and origins inside them at their use instead (`lower::math`).
fn prelude() -> Vec<Def> {
    let file = crate::syntax::parse(&Source::new("prelude.nn", PRELUDE))
        .unwrap_or_else(|d| panic!("invariant: the prelude parses: {}", d.render_plain()));
    file.items
        .into_iter()
        .filter_map(|i| match i {
            Item::Def(d) => Some(d),
            Item::Block(_) | Item::Setting(_) => None,
        })
        .collect()
}

/// The file's defs, then the prelude's, and the index where the prelude's start.
pub(super) fn resolve_defs(source: &Source, file: &File) -> Result<(Vec<Def>, usize), Diagnostic> {
    let prelude = prelude();
    let mut defs: Vec<Def> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for item in &file.items {
        let Item::Def(d) = item else { continue };
        let name = d.name.name.as_str();
        if RESERVED.contains(&name)
            || crate::lower::math::is_builtin(name)
            || prelude.iter().any(|p| p.name.name == name)
        {
            return Err(err(
                source,
                "nnc::lower::reserved_name",
                format!("`{name}` is a built-in name"),
                d.name.span,
                "already means something",
                format!("give the def a name of its own, e.g. `my_{name}`"),
            ));
        }
        if let Some(&first) = seen.get(name) {
            return Err(err(
                source,
                "nnc::lower::duplicate_def",
                format!("`{name}` is defined twice"),
                d.name.span,
                "defined again here",
                "rename one of them",
            )
            .with_label(defs[first].name.span, "first defined here"));
        }
        let mut params: HashMap<&str, ()> = HashMap::new();
        for p in &d.params {
            if params.insert(p.name.name.as_str(), ()).is_some() {
                return Err(err(
                    source,
                    "nnc::lower::duplicate_option",
                    format!("the parameter `{}` is given twice", p.name.name),
                    p.name.span,
                    "given again here",
                    "give each parameter its own name",
                ));
            }
        }
        seen.insert(name, defs.len());
        defs.push(d.clone());
    }
    let start = defs.len();
    defs.extend(prelude);
    Ok((defs, start))
}

/// The def that `value` names (`activation: swish`, `loss: log_cosh`), if it names one.
pub(super) fn def_use(
    _source: &Source,
    value: &Value,
    defs: &[Def],
) -> Result<Option<DefUse>, Diagnostic> {
    let ValueKind::Call(call) = &value.kind else {
        return Ok(None);
    };
    Ok(defs
        .iter()
        .position(|d| d.name.name == call.name.name)
        .map(|def| DefUse {
            def,
            call: call.clone(),
        }))
}

/// The index of the def called `name`.
pub(super) fn find(defs: &[Def], name: &str) -> Option<usize> {
    defs.iter().position(|d| d.name.name == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn prelude_defs_lists_every_def_of_the_prelude() {
        let names: Vec<String> = super::prelude()
            .iter()
            .map(|d| d.name.name.clone())
            .collect();
        assert_eq!(names, super::PRELUDE_DEFS);
    }

    #[test]
    fn the_prelude_parses_and_its_names_are_taken() {
        assert!(super::prelude().iter().any(|d| d.name.name == "layernorm"));
        let text = "def layernorm(x) = x\nmodel { input(2) output(1) }\nloss: mse\n";
        let e = crate::program::parse_model(&crate::diag::Source::new("m.nn", text)).unwrap_err();
        assert_eq!(e.code, "nnc::lower::reserved_name");
    }
}
