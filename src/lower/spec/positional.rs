//! The names of each call's positional arguments, in order: the one table that both the resolver
//! (binding `dense(64)` to `units`) and `--set` (reaching that 64 as `model.1.units`) read, so the
//! two cannot disagree about what a positional argument means.

use strum::IntoEnumIterator;

use super::settings::{INPUT_WIDTH, UNITS};
use super::vocabulary::ActivationKind;

/// `input(width)`.
pub(super) const INPUT_POSITIONAL: &[&str] = &[INPUT_WIDTH.name];
/// `dense(units, ...)` and `output(units, ...)`.
pub(super) const DENSE_POSITIONAL: &[&str] = &[UNITS.name];
/// `missing: constant(value)`.
pub(super) const CONSTANT_POSITIONAL: &[&str] = &["value"];

/// The names of the positional arguments of a call named `call`, in order; empty for calls that
/// take only named options (optimizers, losses, `early_stopping`, `clip`) and for unknown names.
pub fn positional_names(call: &str) -> Vec<&'static str> {
    match call {
        "input" => INPUT_POSITIONAL.to_vec(),
        "dense" | "output" => DENSE_POSITIONAL.to_vec(),
        "constant" => CONSTANT_POSITIONAL.to_vec(),
        // An activation's options are positional in its table's order (`leaky_relu(0.2)`).
        other => ActivationKind::iter()
            .find(|k| k.name() == other)
            .map(|k| k.options().iter().map(|o| o.name).collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_names_come_from_the_resolvers_tables() {
        assert_eq!(positional_names("dense"), ["units"]);
        assert_eq!(positional_names("output"), ["units"]);
        assert_eq!(positional_names("input"), ["width"]);
        assert_eq!(positional_names("leaky_relu"), ["alpha"]);
        assert_eq!(positional_names("constant"), ["value"]);
        assert!(positional_names("adam").is_empty());
        assert!(positional_names("no_such_call").is_empty());
    }
}
