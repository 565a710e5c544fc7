//! The `train` block: the settings `epochs`, `batch_size`, `seed` and `threads`, and at most one
//! `early_stopping(...)` call whose options are checked against their ranges and whose monitored
//! value must be one the loss gives.

use strum::{EnumIter, IntoEnumIterator};

use super::collect::Errors;
use super::options::{unknown_help, Options};
use super::settings::{
    BATCH_SIZE, CHECKPOINT_EVERY, EPOCHS, MIN_DELTA, MONITOR_STATS, PATIENCE, SEED, THREADS,
};
use super::{err, LossKind, TrainSpec};
use crate::diag::{Diagnostic, Source, Span};
use crate::syntax::ast::{Block, Call, Entry, Ident, Value, ValueKind};

/// What early stopping watches: a value measured on the validation split after each epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter)]
pub enum Monitor {
    ValLoss,
    ValAccuracy,
    ValMae,
}

impl Monitor {
    /// The name in a `.nn` file: the one table of monitor names.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
            Monitor::ValMae => "val_mae",
        }
    }

    /// Whether a larger value is better (accuracy) rather than a smaller one (loss, error).
    pub fn higher_is_better(self) -> bool {
        match self {
            Monitor::ValAccuracy => true,
            Monitor::ValLoss | Monitor::ValMae => false,
        }
    }

    /// Whether training with `loss` measures this value: accuracy needs classes, MAE values.
    pub fn fits(self, loss: LossKind) -> bool {
        match self {
            Monitor::ValLoss => true,
            Monitor::ValAccuracy => loss.is_classification(),
            Monitor::ValMae => !loss.is_classification(),
        }
    }
}

/// `early_stopping(...)`: end training once the monitored value has not improved by more than
/// `min_delta` for `patience` epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    pub patience: usize,
    pub min_delta: f64,
    pub monitor: Monitor,
    /// Put back the parameters (and optimizer state) of the best epoch when training ends.
    pub restore_best: bool,
    /// The `early_stopping(...)` call, for diagnostics about it.
    pub span: Span,
}

pub(super) const TRAIN_OPTIONS: &[&str] = &[
    EPOCHS.name,
    BATCH_SIZE.name,
    SEED.name,
    THREADS.name,
    MONITOR_STATS.name,
    CHECKPOINT_EVERY.name,
];
pub(super) const EARLY_STOPPING: &str = "early_stopping";
const TRAIN_CALLS: &[&str] = &[EARLY_STOPPING];
pub(super) const MONITOR: &str = "monitor";
pub(super) const RESTORE_BEST: &str = "restore_best";
pub(super) const EARLY_STOPPING_OPTIONS: &[&str] =
    &[PATIENCE.name, MIN_DELTA.name, MONITOR, RESTORE_BEST];

/// Resolve the `train` block of a file whose loss is `loss` (written at `loss_span`); `None` when
/// the loss did not resolve, and then whether early stopping's monitor fits it is not checked.
pub(super) fn resolve_train(
    source: &Source,
    block: Option<&Block>,
    loss: Option<(LossKind, Span)>,
) -> Result<TrainSpec, Vec<Diagnostic>> {
    let Some(block) = block else {
        return Ok(TrainSpec {
            epochs: EPOCHS.default as usize,
            batch_size: BATCH_SIZE.default as usize,
            full_batch: false,
            seed: SEED.default,
            early_stopping: None,
            threads: None,
            monitor: MONITOR_STATS.default,
            checkpoint_every: None,
        });
    };
    // Every entry and setting is checked apart, so that every bad one is reported.
    let mut errors = Errors::default();
    let mut settings: Vec<(&Ident, &Value)> = Vec::new();
    let mut early_stopping: Option<&Call> = None;
    for entry in &block.entries {
        let checked = match entry {
            Entry::Setting(s) => setting_not_call(source, &s.key, &s.value, s.span).map(|()| {
                settings.push((&s.key, &s.value));
            }),
            Entry::Call(c) if c.name.name == EARLY_STOPPING => match early_stopping.replace(c) {
                Some(first) => Err(err(
                    source,
                    "nnc::lower::duplicate_option",
                    "`early_stopping` is given twice",
                    c.span,
                    "given again here",
                    "keep one of them",
                )
                .with_label(first.span, "first given here")),
                None => Ok(()),
            },
            Entry::Call(c) => Err(unknown_call(source, c)),
            Entry::Block(b) => Err(err(
                source,
                "nnc::lower::expected_setting",
                "the train block holds settings and `early_stopping(...)`, not blocks",
                b.span,
                "a block",
                "write e.g. `epochs: 100` or `early_stopping(patience: 10)`",
            )),
            Entry::Binding(b) => Err(super::binding_outside_model(source, block, b)),
        };
        errors.take(checked, ());
    }
    let o = errors.take(
        Options::from_settings_all(
            source,
            &settings,
            TRAIN_OPTIONS,
            "training settings",
            block.span,
        )
        .map(Some),
        None,
    );
    let Some(o) = o else {
        return errors.finish(|| unreachable!("invariant: the settings' errors were kept"));
    };
    // `batch_size: all` is full-batch descent; any other value is a count in range.
    let full_batch = o.value(BATCH_SIZE.name).is_some_and(
        |v| matches!(&v.kind, ValueKind::Call(c) if c.args.is_empty() && c.name.name == ALL),
    );
    let batch_size = match full_batch {
        true => BATCH_SIZE.default,
        false => errors.take(batch_size_count(source, &o), BATCH_SIZE.default),
    };
    let epochs = errors.take(o.count(&EPOCHS), EPOCHS.default) as usize;
    let seed = errors.take(o.count(&SEED), SEED.default);
    let threads = match o.value(THREADS.name) {
        Some(_) => errors.take(o.count(&THREADS).map(|t| Some(t as usize)), None),
        None => None,
    };
    let monitor = errors.take(o.flag(&MONITOR_STATS), MONITOR_STATS.default);
    let checkpoint_every = match o.value(CHECKPOINT_EVERY.name) {
        Some(_) => errors.take(o.count(&CHECKPOINT_EVERY).map(|n| Some(n as usize)), None),
        None => None,
    };
    let early_stopping = errors.take(
        early_stopping
            .map(|c| resolve_early_stopping(source, c, loss))
            .transpose(),
        None,
    );
    errors.finish(|| TrainSpec {
        epochs,
        batch_size: batch_size as usize,
        full_batch,
        seed,
        early_stopping,
        threads,
        monitor,
        checkpoint_every,
    })
}

/// The value of `batch_size` that means the whole training split.
pub const ALL: &str = "all";

/// A `batch_size` that is not `all`: a count in range; a name other than `all` gets a suggestion.
fn batch_size_count(source: &Source, o: &Options) -> Result<u64, Diagnostic> {
    if let Some(v) = o.value(BATCH_SIZE.name) {
        if let ValueKind::Call(c) = &v.kind {
            let name = c.name.name.as_str();
            return Err(err(
                source,
                "nnc::lower::wrong_kind",
                format!("`batch_size` must be a whole number or `all`, not `{name}`"),
                v.span,
                "not a batch size",
                match unknown_help(name, "names", &[ALL]) {
                    h if h.starts_with("did you mean") => h,
                    _ => format!(
                        "write a number of rows from {} to {}, or `all` for the whole training split",
                        BATCH_SIZE.min, BATCH_SIZE.max
                    ),
                },
            ));
        }
    }
    o.count(&BATCH_SIZE)
}

/// A setting named like the call or like one of its options is a call's option misplaced; but
/// `monitor: true` or `false` is the training statistics' switch (`MONITOR_STATS`).
fn setting_not_call(
    source: &Source,
    key: &Ident,
    value: &Value,
    span: Span,
) -> Result<(), Diagnostic> {
    let name = key.name.as_str();
    let boolean = matches!(&value.kind,
        ValueKind::Call(c) if c.args.is_empty() && matches!(c.name.name.as_str(), "true" | "false"));
    if name == MONITOR_STATS.name && boolean {
        return Ok(());
    }
    if name == EARLY_STOPPING {
        return Err(err(
            source,
            "nnc::lower::expected_call",
            "`early_stopping` is a call, not a setting",
            span,
            "written as a setting",
            "write `early_stopping(patience: 10)`, or `early_stopping` for every default",
        ));
    }
    if EARLY_STOPPING_OPTIONS.contains(&name) {
        return Err(err(
            source,
            "nnc::lower::unknown_option",
            format!("`{name}` is not a training setting but an option of `early_stopping`"),
            key.span,
            "an option of early stopping",
            if name == MONITOR_STATS.name {
                "write it inside the call: `early_stopping(monitor: val_loss)`; in the train block, \
                 `monitor: true` or `false` turns the training statistics on or off"
                    .to_string()
            } else {
                format!("write it inside the call: `early_stopping({name}: ...)`")
            },
        ));
    }
    Ok(())
}

/// A call in the `train` block other than `early_stopping`.
fn unknown_call(source: &Source, call: &Call) -> Diagnostic {
    let name = call.name.name.as_str();
    if TRAIN_OPTIONS.contains(&name) {
        return err(
            source,
            "nnc::lower::expected_setting",
            format!("`{name}` is a setting, not a call"),
            call.span,
            "written as a call",
            format!("write `{name}: <value>`"),
        );
    }
    err(
        source,
        "nnc::lower::unknown_call",
        format!("unknown call `{name}` in the train block"),
        call.name.span,
        "not known in `train`",
        unknown_help(name, "calls in `train`", TRAIN_CALLS),
    )
}

fn resolve_early_stopping(
    source: &Source,
    call: &Call,
    loss: Option<(LossKind, Span)>,
) -> Result<EarlyStopping, Vec<Diagnostic>> {
    let o = Options::from_call_all(source, call, &[], EARLY_STOPPING_OPTIONS)?;
    // Each option is checked apart, so that every bad one is reported.
    let mut errors = Errors::default();
    let patience = errors.take(o.count(&PATIENCE), PATIENCE.default) as usize;
    let min_delta = errors.take(o.number(&MIN_DELTA), MIN_DELTA.default);
    let monitor = match o.value(MONITOR) {
        None => Monitor::ValLoss,
        Some(v) => {
            let monitor = errors.take(monitor_of(source, v), Monitor::ValLoss);
            if let Some((loss, loss_span)) = loss.filter(|(loss, _)| !monitor.fits(*loss)) {
                let fitting: Vec<String> = Monitor::iter()
                    .filter(|m| m.fits(loss))
                    .map(|m| format!("`{}`", m.name()))
                    .collect();
                let needs = match monitor {
                    Monitor::ValAccuracy => "classes (`loss: cross_entropy`)",
                    Monitor::ValMae | Monitor::ValLoss => "values (`loss: mse`)",
                };
                let unfit = err(
                    source,
                    "nnc::lower::monitor_loss",
                    format!(
                        "`{}` is not measured with `loss: {}`",
                        monitor.name(),
                        loss.name()
                    ),
                    v.span,
                    &format!("needs a target of {needs}"),
                    format!(
                        "with `loss: {}`, monitor {}",
                        loss.name(),
                        fitting.join(" or ")
                    ),
                )
                .with_label(loss_span, "the loss");
                errors.take(Err(unfit), ());
            }
            monitor
        }
    };
    let restore_best = match o.value(RESTORE_BEST) {
        None => true,
        Some(v) => errors.take(boolean(source, v, RESTORE_BEST), true),
    };
    errors.finish(|| EarlyStopping {
        patience,
        min_delta,
        monitor,
        restore_best,
        span: call.span,
    })
}

/// A bare name (`val_loss`) or a string (`"val_loss"`), as most settings that take text.
fn name_in(v: &Value) -> Option<&str> {
    match &v.kind {
        ValueKind::Call(c) if c.args.is_empty() => Some(c.name.name.as_str()),
        ValueKind::String(s) => Some(s.as_str()),
        ValueKind::Call(_) | ValueKind::Number(_) | ValueKind::List(_) => None,
    }
}

fn monitor_of(source: &Source, v: &Value) -> Result<Monitor, Diagnostic> {
    let names: Vec<&str> = Monitor::iter().map(Monitor::name).collect();
    let Some(name) = name_in(v) else {
        return Err(err(
            source,
            "nnc::lower::wrong_kind",
            format!("`monitor` must be a name, but it is {}", v.describe()),
            v.span,
            "expected a name",
            format!(
                "write e.g. `monitor: val_loss`; known monitors: {}",
                names.join(", ")
            ),
        ));
    };
    Monitor::iter().find(|m| m.name() == name).ok_or_else(|| {
        err(
            source,
            "nnc::lower::unknown_monitor",
            format!("unknown monitor `{name}`"),
            v.span,
            "not a known monitor",
            unknown_help(name, "monitors", &names),
        )
    })
}

pub(super) fn boolean(source: &Source, v: &Value, option: &str) -> Result<bool, Diagnostic> {
    const NAMES: &[&str] = &["true", "false"];
    match &v.kind {
        ValueKind::Call(c) if c.args.is_empty() => match c.name.name.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(err(
                source,
                "nnc::lower::wrong_kind",
                format!("`{option}` must be `true` or `false`, not `{other}`"),
                v.span,
                "not true or false",
                unknown_help(other, "values", NAMES),
            )),
        },
        _ => Err(err(
            source,
            "nnc::lower::wrong_kind",
            format!(
                "`{option}` must be `true` or `false`, but it is {}",
                v.describe()
            ),
            v.span,
            "expected true or false",
            format!("write `{option}: true` or `{option}: false`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{EarlyStopping, Monitor};
    use crate::diag::{Diagnostic, Source};

    const MODEL: &str =
        "model {\n  input(4)\n  dense(3, activation: softmax)\n}\nloss: cross_entropy\n";

    fn resolve(text: &str) -> Result<super::super::ModelSpec, Diagnostic> {
        crate::program::parse_model(&Source::new("m.nn", text))
    }

    /// The early stopping of a classification model whose train block is `train`.
    fn early(train: &str) -> Option<EarlyStopping> {
        resolve(&format!("{MODEL}train {{\n{train}\n}}\n"))
            .unwrap_or_else(|d| panic!("{}", d.render_plain()))
            .train
            .early_stopping
    }

    /// The diagnostic of a broken train block, as (code, line:column of its primary label).
    fn broken(loss: &str, train: &str) -> (String, String) {
        let model = MODEL.replace("cross_entropy", loss);
        let d = resolve(&format!("{model}train {{\n{train}\n}}\n")).unwrap_err();
        assert!(d.help.is_some(), "{}: a help line", d.code);
        let location = d.location().expect("a place in the file");
        (d.code.to_string(), location)
    }

    #[test]
    fn early_stopping_takes_every_default() {
        assert_eq!(early("epochs: 5"), None);
        for text in ["early_stopping", "early_stopping()"] {
            let e = early(text).unwrap();
            assert_eq!(
                (e.patience, e.min_delta, e.monitor, e.restore_best),
                (10, 0.0001, Monitor::ValLoss, true)
            );
        }
        assert_eq!(resolve(MODEL).unwrap().train.early_stopping, None);
    }

    #[test]
    fn early_stopping_reads_each_option() {
        let e = early(
            "  epochs: 50\n  early_stopping(patience: 3, min_delta: 0, monitor: val_accuracy, restore_best: false)",
        )
        .unwrap();
        assert_eq!(
            (e.patience, e.min_delta, e.monitor, e.restore_best),
            (3, 0.0, Monitor::ValAccuracy, false)
        );
        // The span is the call's: line 7, after two spaces.
        let text = format!("{MODEL}train {{\n  early_stopping(patience: 1000000, min_delta: 1e6, monitor: \"val_loss\")\n}}\n");
        let spec = resolve(&text).unwrap();
        let e = spec.train.early_stopping.unwrap();
        assert_eq!((e.patience, e.min_delta), (1_000_000, 1e6));
        assert_eq!(spec.source.line_col(e.span.start), (7, 3));
        assert!(text[e.span.start..e.span.end].starts_with("early_stopping("));
        assert!(text[e.span.start..e.span.end].ends_with(')'));
        let mse = MODEL.replace("cross_entropy", "mse");
        let spec = resolve(&format!(
            "{mse}train {{ early_stopping(monitor: val_mae) }}\n"
        ))
        .unwrap();
        assert_eq!(spec.train.early_stopping.unwrap().monitor, Monitor::ValMae);
    }

    #[test]
    fn every_mistake_in_early_stopping_is_a_diagnostic_at_its_text() {
        let ce = "cross_entropy";
        let cases = [
            // Line 7 is the train block's first line.
            (
                ce,
                "  early_stopping(patiense: 3)",
                "nnc::lower::unknown_option",
                "7:18",
            ),
            (
                ce,
                "  early_stopping(3)",
                "nnc::lower::too_many_arguments",
                "7:18",
            ),
            (
                ce,
                "  early_stopping(patience: 0)",
                "nnc::lower::out_of_range",
                "7:28",
            ),
            (
                ce,
                "  early_stopping(patience: 1000001)",
                "nnc::lower::out_of_range",
                "7:28",
            ),
            (
                ce,
                "  early_stopping(patience: 2.5)",
                "nnc::lower::wrong_kind",
                "7:28",
            ),
            (
                ce,
                "  early_stopping(patience: \"2\")",
                "nnc::lower::wrong_kind",
                "7:28",
            ),
            (
                ce,
                "  early_stopping(min_delta: -0.1)",
                "nnc::lower::out_of_range",
                "7:29",
            ),
            (
                ce,
                "  early_stopping(min_delta: 2e6)",
                "nnc::lower::out_of_range",
                "7:29",
            ),
            (
                ce,
                "  early_stopping(min_delta: high)",
                "nnc::lower::wrong_kind",
                "7:29",
            ),
            (
                ce,
                "  early_stopping(monitor: val_los)",
                "nnc::lower::unknown_monitor",
                "7:27",
            ),
            (
                ce,
                "  early_stopping(monitor: 1)",
                "nnc::lower::wrong_kind",
                "7:27",
            ),
            (
                ce,
                "  early_stopping(monitor: val_mae)",
                "nnc::lower::monitor_loss",
                "7:27",
            ),
            (
                "mse",
                "  early_stopping(monitor: val_accuracy)",
                "nnc::lower::monitor_loss",
                "7:27",
            ),
            (
                ce,
                "  early_stopping(restore_best: yes)",
                "nnc::lower::wrong_kind",
                "7:32",
            ),
            (
                ce,
                "  early_stopping(restore_best: 1)",
                "nnc::lower::wrong_kind",
                "7:32",
            ),
            (
                ce,
                "  early_stopping(patience: 2, patience: 3)",
                "nnc::lower::duplicate_option",
                "7:31",
            ),
            (
                ce,
                "  early_stopping\n  early_stopping(patience: 2)",
                "nnc::lower::duplicate_option",
                "8:3",
            ),
            (
                ce,
                "  early_stop(patience: 2)",
                "nnc::lower::unknown_call",
                "7:3",
            ),
            (ce, "  epochs(10)", "nnc::lower::expected_setting", "7:3"),
            (
                ce,
                "  early_stopping: true",
                "nnc::lower::expected_call",
                "7:3",
            ),
            (ce, "  patience: 3", "nnc::lower::unknown_option", "7:3"),
        ];
        for (loss, train, code, at) in cases {
            assert_eq!(
                broken(loss, train),
                (code.to_string(), format!("m.nn:{at}")),
                "{train}"
            );
        }
    }

    #[test]
    fn early_stopping_mistakes_suggest_the_nearest_name() {
        let help = |train: &str| {
            resolve(&format!("{MODEL}train {{\n{train}\n}}\n"))
                .unwrap_err()
                .help
                .unwrap()
        };
        assert!(help("early_stopping(patiense: 3)").contains("did you mean `patience`?"));
        assert!(
            help("early_stopping(monitor: val_acuracy)").contains("did you mean `val_accuracy`?")
        );
        assert!(help("early_stopping(restore_best: ture)").contains("did you mean `true`?"));
        assert!(help("early_stoping(patience: 3)").contains("did you mean `early_stopping`?"));
        assert!(help("early_stopping(monitor: val_mae)")
            .contains("monitor `val_loss` or `val_accuracy`"));
        assert!(help("early_stopping(3)").contains("takes only named options"));
    }

    #[test]
    fn checkpoint_every_is_a_count_of_epochs() {
        let every = |train: &str| {
            resolve(&format!("{MODEL}train {{\n{train}\n}}\n"))
                .unwrap_or_else(|d| panic!("{}", d.render_plain()))
                .train
                .checkpoint_every
        };
        assert_eq!(every("epochs: 9"), None);
        assert_eq!(every("checkpoint_every: 5"), Some(5));
        for bad in ["checkpoint_every: 0", "checkpoint_every: 1.5"] {
            let (_, at) = broken("cross_entropy", bad);
            assert_eq!(at, "m.nn:7:19", "{bad}");
        }
    }
}
