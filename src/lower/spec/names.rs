//! Every name the file's math uses, checked before lowering: in the model's math entries and the
//! values layers are applied to (where the names bound by earlier entries are in scope), and in
//! each of the file's defs (its parameters, then its bindings in order; a parameter's default sees
//! no names). Lowering stops at the first unknown name it meets; this check reports every one,
//! including those of defs no layer uses, with lowering's own diagnostic.

use crate::diag::{Diagnostic, Source};
use crate::lower::math::{is_builtin, unknown_name};
use crate::syntax::ast::{Def, Expr, ExprArg, ExprKind};

use super::{ModelNode, NodeKind};

/// The names of the model's entries, checked entry by entry as `resolve_model` meets them: an
/// entry's math sees the names bound before it, including those of entries that failed to resolve
/// (their errors are their own; a use of their name is not another).
pub(super) struct ModelNames<'a>(Walk<'a>);

impl<'a> ModelNames<'a> {
    pub fn new(source: &'a Source, defs: &'a [Def]) -> Self {
        ModelNames(Walk {
            source,
            defs,
            scope: Vec::new(),
            errors: Vec::new(),
        })
    }

    /// Check the names `node` uses: its math, its def's arguments, the value it is applied to.
    pub fn check(&mut self, node: &ModelNode) {
        for arg in node.input.iter().flatten() {
            self.0.arg(arg);
        }
        match &node.kind {
            NodeKind::Math(expr) => self.0.expr(expr),
            NodeKind::Def { args, .. } => args.iter().for_each(|a| self.0.arg(a)),
            NodeKind::Input | NodeKind::Dense(_) | NodeKind::BatchNorm { .. } => {}
        }
    }

    /// `name` is bound from here on.
    pub fn bind(&mut self, name: &str) {
        self.0.scope.push(name.to_string());
    }

    pub fn into_errors(self) -> Vec<Diagnostic> {
        self.0.errors
    }
}

/// The diagnostics of every unknown name in the file's defs (those before `prelude_start`), in
/// the order of the file.
pub(super) fn unknown_names_in_defs(
    source: &Source,
    defs: &[Def],
    prelude_start: usize,
) -> Vec<Diagnostic> {
    let mut walk = Walk {
        source,
        defs,
        scope: Vec::new(),
        errors: Vec::new(),
    };
    for def in &defs[..prelude_start] {
        walk.scope.clear();
        for default in def.params.iter().filter_map(|p| p.default.as_ref()) {
            walk.expr(default);
        }
        walk.scope = def.params.iter().map(|p| p.name.name.clone()).collect();
        for binding in &def.body {
            walk.expr(&binding.value);
            walk.scope.push(binding.name.name.clone());
        }
        walk.expr(&def.result);
    }
    walk.errors
}

/// Every plain name `expr` uses (`h` in `relu(h + g)`), to `out`; a def or function called with
/// parentheses is not a name of a value.
pub fn referenced_names<'e>(expr: &'e Expr, out: &mut Vec<&'e str>) {
    match &expr.kind {
        ExprKind::Number(_) | ExprKind::String(_) => {}
        ExprKind::List(items) => items.iter().for_each(|e| referenced_names(e, out)),
        ExprKind::Negate(inner) => referenced_names(inner, out),
        ExprKind::Binary(_, a, b) => {
            referenced_names(a, out);
            referenced_names(b, out);
        }
        ExprKind::Call {
            name,
            args,
            parens,
            applied_to,
        } => {
            if !parens {
                out.push(&name.name);
            }
            for arg in args.iter().chain(applied_to.iter().flatten()) {
                match arg {
                    ExprArg::Positional(e) | ExprArg::Named { value: e, .. } => {
                        referenced_names(e, out)
                    }
                }
            }
        }
    }
}

struct Walk<'a> {
    source: &'a Source,
    defs: &'a [Def],
    /// The names bound where the walk is.
    scope: Vec<String>,
    errors: Vec<Diagnostic>,
}

impl Walk<'_> {
    fn arg(&mut self, arg: &ExprArg) {
        match arg {
            ExprArg::Positional(e) | ExprArg::Named { value: e, .. } => self.expr(e),
        }
    }

    /// The names `expr` uses, resolved as `math::call` resolves them.
    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Number(_) | ExprKind::String(_) => {}
            ExprKind::List(items) => items.iter().for_each(|e| self.expr(e)),
            ExprKind::Negate(inner) => self.expr(inner),
            ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            // A layer applied inside math is lowering's error (`math::layer_in_math`), not a name.
            ExprKind::Call {
                applied_to: Some(_),
                ..
            } => {}
            ExprKind::Call {
                name,
                args,
                parens,
                applied_to: None,
            } => {
                if !parens && self.scope.contains(&name.name) {
                    return;
                }
                let is_def = self.defs.iter().any(|d| d.name.name == name.name);
                if !is_def && !is_builtin(&name.name) {
                    let bound = self.scope.iter().map(String::as_str).collect();
                    let error = unknown_name(self.source, name, bound, self.defs);
                    self.errors.push(error);
                    return;
                }
                for arg in args {
                    match arg {
                        // `param(..., init: he_normal)` names an initializer, not a value.
                        ExprArg::Named { name: option, .. }
                            if name.name == "param" && option.name == "init" => {}
                        _ => self.arg(arg),
                    }
                }
            }
        }
    }
}
