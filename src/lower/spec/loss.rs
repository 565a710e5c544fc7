//! The `loss` setting: a loss name with its options (`huber(delta: 2.0)`,
//! `cross_entropy(label_smoothing: 0.1, class_weights: [1, 3])`), each checked against its range.
//! `binary_cross_entropy` is `cross_entropy` with a sigmoid output by name, so it takes the same
//! options.
//! Whether the loss fits the output layer, and whether the class weights fit the classes, is
//! decided later, when the model's output and the data are known (`lower::graph`,
//! `lower::graph::check_class_weights`).

use strum::IntoEnumIterator;

use super::collect::Errors;
use super::options::Options;
use super::vocabulary::{
    ClassWeights, LossKind, CLASS_WEIGHT, CLASS_WEIGHTS, HUBER_DELTA, LABEL_SMOOTHING,
};
use super::{as_call, lookup, Loss};
use crate::diag::{Diagnostic, Source};
use crate::syntax::ast::Value;

/// The options each loss takes; every one is named (`huber(2)` would not say what 2 is).
pub fn option_names(kind: LossKind) -> &'static [&'static str] {
    match kind {
        LossKind::Huber => &[HUBER_DELTA.name],
        LossKind::CrossEntropy | LossKind::BinaryCrossEntropy => {
            &[LABEL_SMOOTHING.name, CLASS_WEIGHTS]
        }
        LossKind::Mse | LossKind::Mae => &[],
    }
}

pub(super) fn resolve_loss(source: &Source, v: &Value) -> Result<Loss, Vec<Diagnostic>> {
    let call = as_call(source, v, "loss")?;
    let kind = lookup(
        source,
        call,
        LossKind::iter(),
        LossKind::name,
        "nnc::lower::unknown_loss",
        ("loss", "losses"),
    )?;
    let opts = Options::from_call_all(source, call, &[], option_names(kind))?;
    // Each option is checked apart, so that every bad one is reported.
    let mut errors = Errors::default();
    let loss = match kind {
        LossKind::Mse => Loss::Mse,
        LossKind::Mae => Loss::Mae,
        LossKind::Huber => Loss::Huber {
            delta: errors.take(opts.number(&HUBER_DELTA), HUBER_DELTA.default),
        },
        LossKind::CrossEntropy | LossKind::BinaryCrossEntropy => {
            let label_smoothing =
                errors.take(opts.number(&LABEL_SMOOTHING), LABEL_SMOOTHING.default);
            let class_weights = errors
                .take(opts.numbers(&CLASS_WEIGHT), None)
                .map(|(weights, span)| ClassWeights { weights, span });
            if kind == LossKind::CrossEntropy {
                Loss::CrossEntropy {
                    label_smoothing,
                    class_weights,
                }
            } else {
                Loss::BinaryCrossEntropy {
                    label_smoothing,
                    class_weights,
                }
            }
        }
    };
    errors.finish(|| loss)
}

#[cfg(test)]
mod tests {
    use super::super::vocabulary::ClassWeights;
    use super::Loss;
    use crate::diag::Source;

    fn loss(text: &str) -> Result<Loss, crate::diag::Diagnostic> {
        let file = format!("model {{ input(4) dense(3, activation: softmax) }}\nloss: {text}\n");
        crate::program::parse_model(&Source::new("m.nn", file)).map(|s| s.loss)
    }

    #[test]
    fn options_are_read_with_their_defaults() {
        assert_eq!(loss("mse").unwrap(), Loss::Mse);
        assert_eq!(loss("cross_entropy").unwrap(), Loss::cross_entropy());
        assert_eq!(loss("huber").unwrap(), Loss::Huber { delta: 1.0 });
        assert_eq!(
            loss("huber(delta: 2.5)").unwrap(),
            Loss::Huber { delta: 2.5 }
        );
        let Loss::CrossEntropy {
            label_smoothing,
            class_weights: Some(ClassWeights { weights, span }),
        } = loss("cross_entropy(label_smoothing: 0.1, class_weights: [1, 3, 0])").unwrap()
        else {
            panic!("cross_entropy with options");
        };
        assert_eq!((label_smoothing, weights), (0.1, vec![1.0, 3.0, 0.0]));
        assert!(
            span.end > span.start,
            "the list's place is kept for diagnostics"
        );
        let Loss::BinaryCrossEntropy {
            label_smoothing,
            class_weights: Some(ClassWeights { weights, .. }),
        } = loss("binary_cross_entropy(label_smoothing: 0.2, class_weights: [1, 4])").unwrap()
        else {
            panic!("binary_cross_entropy with options");
        };
        assert_eq!((label_smoothing, weights), (0.2, vec![1.0, 4.0]));
        assert_eq!(
            loss("binary_cross_entropy").unwrap(),
            Loss::BinaryCrossEntropy {
                label_smoothing: 0.0,
                class_weights: None
            }
        );
    }

    /// A loss without options says so, rather than listing none.
    #[test]
    fn an_option_to_a_loss_without_options_is_refused_with_a_useful_help() {
        for (text, code) in [
            ("mse(delta: 1)", "nnc::lower::unknown_option"),
            ("mae(2)", "nnc::lower::too_many_arguments"),
        ] {
            let d = loss(text).unwrap_err();
            assert_eq!(d.code, code, "{text}");
            let name = &text[..3];
            assert_eq!(
                d.help.as_deref(),
                Some(format!("`{name}` takes no options: write `{name}` alone").as_str()),
                "{text}"
            );
        }
    }

    #[test]
    fn each_mistake_is_a_diagnostic_at_its_place() {
        let cases = [
            ("huber(2)", "nnc::lower::too_many_arguments", "2"),
            ("huber(delta: 0)", "nnc::lower::out_of_range", "0"),
            ("mae(delta: 1)", "nnc::lower::unknown_option", "delta"),
            (
                "cross_entropy(label_smoothing: 1)",
                "nnc::lower::out_of_range",
                "1",
            ),
            (
                "cross_entropy(class_weights: [1, -2])",
                "nnc::lower::out_of_range",
                "-2",
            ),
            (
                "cross_entropy(class_weights: 3)",
                "nnc::lower::wrong_kind",
                "3",
            ),
            (
                "cross_entropy(class_weights: [])",
                "nnc::lower::wrong_kind",
                "[]",
            ),
            (
                "cross_entropy(class_weights: [1, a])",
                "nnc::lower::wrong_kind",
                "a",
            ),
            (
                "binary_crossentropy",
                "nnc::lower::unknown_loss",
                "binary_crossentropy",
            ),
            (
                "binary_cross_entropy(label_smoothing: 1)",
                "nnc::lower::out_of_range",
                "1",
            ),
            (
                "binary_cross_entropy(smoothing: 0.1)",
                "nnc::lower::unknown_option",
                "smoothing",
            ),
        ];
        for (text, code, at) in cases {
            let d = loss(text).unwrap_err();
            assert_eq!(d.code, code, "{text}");
            let source = d.source.as_ref().expect("a diagnostic in the file");
            let span = d.labels[0].span;
            assert_eq!(&source.text[span.start..span.end], at, "{text}");
            assert!(d.help.is_some(), "{text}: a help line");
        }
    }
}
