//! `nnc explain`: the model's mathematics as the compiler built it. Each layer's forward formulas
//! and the backward formulas autodiff derived for it are read off the gradient function's IR (not
//! written per layer), grouped by the place in the file each equation came from (its `Origin`),
//! and rendered in Unicode for the terminal (`unicode`) or MathML for a page (`mathml`).

pub mod expr;
pub mod html;
pub mod mathml;
pub mod unicode;

use std::collections::HashMap;

use crate::ir::{Function, ValueId};
use crate::lower::spec::NodeKind;
use crate::program::Program;
use expr::{Expr, Func, Name};

/// One formula: `lhs = rhs`, with the value's shape.
#[derive(Clone, Debug)]
pub struct Formula {
    pub lhs: Name,
    pub rhs: Expr,
    /// The shape as the IR prints it (`[B,16]`).
    pub shape: String,
}

/// The formulas of one place in the file: a layer, the loss, a penalty.
#[derive(Clone, Debug)]
pub struct Section {
    /// What the place is (``layer 1 `dense(16, activation: relu)` ``, ``the loss `cross_entropy` ``).
    pub title: String,
    /// Its line in the model file (1-based), when it has one.
    pub line: Option<usize>,
    pub forward: Vec<Formula>,
    pub backward: Vec<Formula>,
}

#[derive(Clone, Debug)]
pub struct Explanation {
    pub sections: Vec<Section>,
    /// The meaning of each function the formulas use that is not common knowledge.
    pub glossary: Vec<&'static str>,
}

/// The formulas of `program`'s gradient function (forward pass, loss and backward pass, after
/// the optimizing pass: what the step computes), one section per model entry in the file's order,
/// then the loss and any penalty.
pub fn explain(program: &Program) -> Explanation {
    let f: &Function = &program.grad;
    let place = places(program, f);
    // Each model entry's result keeps its line, even when the compiler did not name it.
    let mut entry_results: HashMap<usize, ValueId> = HashMap::new();
    for (i, eq) in f.body[..place.backward_from].iter().enumerate() {
        if place.of_equation[i] < program.spec.nodes.len() {
            entry_results.insert(place.of_equation[i], eq.out);
        }
    }
    let formulas = expr::formulas(f, &entry_results.into_values().collect());
    let mut sections: Vec<Section> = place
        .titles
        .iter()
        .map(|(title, line)| Section {
            title: title.clone(),
            line: *line,
            forward: Vec::new(),
            backward: Vec::new(),
        })
        .collect();
    let position: HashMap<ValueId, usize> = f
        .body
        .iter()
        .enumerate()
        .map(|(i, eq)| (eq.out, i))
        .collect();
    for &v in &formulas.shown {
        let i = position[&v];
        let formula = Formula {
            lhs: formulas.names[&v].clone(),
            rhs: formulas.exprs[&v].clone(),
            shape: f.values[v.index()].shape.to_string(),
        };
        // ∂L/∂v is shown beside v.
        let section = match &formula.lhs {
            Name::Adjoint(primal) if i >= place.backward_from => {
                place.of_value.get(primal).copied()
            }
            _ => None,
        };
        let section = &mut sections[section.unwrap_or(place.of_equation[i])];
        if i < place.backward_from {
            section.forward.push(formula);
        } else {
            section.backward.push(formula);
        }
    }
    sections.retain(|s| !s.forward.is_empty() || !s.backward.is_empty());
    let mut used = Vec::new();
    for s in &sections {
        for formula in s.forward.iter().chain(&s.backward) {
            functions(&formula.rhs, &mut used);
        }
    }
    let glossary = used.into_iter().filter_map(Func::meaning).collect();
    Explanation { sections, glossary }
}

/// The section each equation of `f` belongs to.
struct Places {
    /// Each section's title and line: the model's entries in order, then places outside the model
    /// (the loss, penalties) in order of first use.
    titles: Vec<(String, Option<usize>)>,
    of_equation: Vec<usize>,
    /// The section of each forward value and argument, by name.
    of_value: HashMap<String, usize>,
    /// Where the backward pass starts: autodiff appends it after the forward one, beginning with
    /// the first adjoint.
    backward_from: usize,
}

/// Assigns equations to places (and `explain` shows a value's adjoint beside it). The forward pass computes the model's entries in order, so an
/// equation belongs to the first entry whose value it does not come after. Outside the entries, and
/// in the backward pass, an equation has the origin of the forward equation it came from (autodiff
/// keeps it); an origin used by several entries (a `def` used twice) is resolved by order, since the
/// backward pass visits the entries last to first.
fn places(program: &Program, f: &Function) -> Places {
    let spec = &program.spec;
    let source = &spec.source;
    let line = |span: crate::diag::Span| Some(source.line_col(span.start).0);
    let mut titles: Vec<(String, Option<usize>)> = spec
        .nodes
        .iter()
        .map(|node| {
            let text = source
                .text
                .get(node.span.start..node.span.end)
                .unwrap_or("");
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let title = match node.kind {
                NodeKind::Dense(i) => format!("layer {} `{text}`", i + 1),
                _ => format!("`{text}`"),
            };
            (title, line(node.span))
        })
        .collect();
    let backward_from = f
        .body
        .iter()
        .position(|eq| f.values[eq.out.index()].name.starts_with("d_"))
        .unwrap_or(f.body.len());
    let node_of_value: HashMap<&str, usize> = program
        .node_values
        .iter()
        .enumerate()
        .map(|(k, name)| (name.as_str(), k))
        .collect();
    let key = |v: ValueId| {
        f.values[v.index()]
            .origin
            .as_ref()
            .map(|o| (o.span.start, o.span.end))
    };
    let mut extra: HashMap<Option<(usize, usize)>, usize> = HashMap::new();
    let mut extra_section = |v: ValueId, titles: &mut Vec<(String, Option<usize>)>| {
        let origin = f.values[v.index()].origin.as_ref();
        *extra.entry(key(v)).or_insert_with(|| {
            titles.push(match origin {
                Some(o) => (o.what.clone(), line(o.span)),
                None => ("the total loss".to_string(), None),
            });
            titles.len() - 1
        })
    };
    // An equation whose origin lies in a model entry's text is that entry's, wherever the
    // lowering put it (a layer's dropout and penalties come after the next layer's product).
    let node_spans: Vec<(usize, usize)> = spec
        .nodes
        .iter()
        .map(|n| (n.span.start, n.span.end))
        .collect();
    let containing = |v: ValueId| {
        let (start, end) = key(v)?;
        node_spans.iter().position(|&(s, e)| s <= start && end <= e)
    };
    let mut of_equation = Vec::with_capacity(f.body.len());
    let mut of_value = HashMap::new();
    let mut nodes_of_origin: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    let mut node = 0;
    let last_value = program.node_values.len();
    for (i, eq) in f.body.iter().enumerate() {
        let name = f.values[eq.out.index()].name.as_str();
        let section = if i < backward_from {
            let here = match containing(eq.out) {
                Some(k) => {
                    node = node.max(k);
                    Some(k)
                }
                None => (node < last_value).then_some(node),
            };
            // Only a value the reader named marks the end of an entry: the forward function's
            // temporaries are numbered differently in this one.
            if let Some(&k) = node_of_value
                .get(name)
                .filter(|_| !expr::is_temporary(name))
            {
                node = node.max(k + 1);
            }
            match here {
                Some(k) => {
                    if let Some(o) = key(eq.out) {
                        let nodes = nodes_of_origin.entry(o).or_default();
                        if !nodes.contains(&k) {
                            nodes.push(k);
                        }
                    }
                    of_value.insert(name.to_string(), k);
                    k
                }
                None => extra_section(eq.out, &mut titles),
            }
        } else if let Some(k) = containing(eq.out) {
            node = k;
            k
        } else {
            match key(eq.out).and_then(|o| nodes_of_origin.get(&o)) {
                Some(nodes) => {
                    node = (nodes.iter().copied().filter(|&k| k <= node).max()).unwrap_or(nodes[0]);
                    node
                }
                None => extra_section(eq.out, &mut titles),
            }
        };
        of_equation.push(section);
    }
    for arg in &f.args {
        let place = containing(arg.value)
            .or_else(|| key(arg.value).and_then(|o| nodes_of_origin.get(&o)?.first().copied()));
        if let Some(k) = place {
            of_value.insert(f.values[arg.value.index()].name.clone(), k);
        }
    }
    Places {
        titles,
        of_equation,
        of_value,
        backward_from,
    }
}

/// Every function `e` applies, in order of first use, each once.
fn functions(e: &Expr, out: &mut Vec<Func>) {
    for child in e.children() {
        functions(child, out);
    }
    if let Expr::Call(func, _, _) = e {
        if !out.contains(func) {
            out.push(*func);
        }
    }
}

/// How to read the formulas, printed under them.
pub const NOTATION: &str = "L is the loss of a batch; ∂L/∂v its derivative with respect to v. B \
    is the batch size, i runs over its examples and j over a layer's units. · is a matrix product \
    (or a product with a number), ⊙ an element-wise product, ᵀ a transpose; a vector added to a \
    matrix is added to each of its rows. tₙ is the value tn of the IR (`nnc ir --grad`), shown \
    on its own line where it is used more than once.";

/// The explanation as terminal text: one block per section, formulas with their shapes.
pub fn render_text(e: &Explanation) -> String {
    let mut out = String::new();
    for s in &e.sections {
        match s.line {
            Some(line) => out.push_str(&format!("{}, line {line}\n", s.title)),
            None => out.push_str(&format!("{}\n", s.title)),
        }
        for (label, formulas) in [("forward", &s.forward), ("backward", &s.backward)] {
            if formulas.is_empty() {
                continue;
            }
            out.push_str(&format!("  {label}\n"));
            for f in formulas {
                let text = format!("{} = {}", unicode::name(&f.lhs), unicode::expr(&f.rhs));
                let width = text.chars().count();
                let pad = if width < 56 { 56 - width } else { 2 };
                out.push_str(&format!("    {text}{}{}\n", " ".repeat(pad), f.shape));
            }
        }
        out.push('\n');
    }
    out.push_str(NOTATION);
    out.push('\n');
    for line in &e.glossary {
        out.push_str(&format!("{line}\n"));
    }
    out
}
