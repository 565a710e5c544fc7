//! Splitting a table's rows into train, validation and test sets: stratified by class for
//! classification, so small classes are represented in every part, and a plain shuffle for
//! regression. Splits are a pure function of the table and the seed. This module deals in row
//! indices only: it must not scale, copy or batch data.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::random::{self, Stream};

use super::table::Target;
use crate::diag::Diagnostic;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitConfig {
    /// Share of all rows held out for the final test.
    pub test_fraction: f64,
    /// Share of the rows remaining after the test split, held out for validation (early
    /// stopping, model selection). Zero gives an empty validation set.
    pub validation_fraction: f64,
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            test_fraction: 0.2,
            validation_fraction: 0.1,
            seed: 0,
        }
    }
}

/// Row indices into the table, each list in ascending order (shuffling for training is the
/// batcher's job).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

/// Split `rows` (the usable rows of a table, ascending) by the table's target.
/// Each fraction within its range, and rows left for training.
pub fn check_fractions(cfg: &SplitConfig) -> Result<(), Diagnostic> {
    check_fraction("test", cfg.test_fraction)?;
    check_fraction("validation", cfg.validation_fraction)?;
    if cfg.test_fraction + cfg.validation_fraction >= 1.0 {
        return Err(Diagnostic::new(
            "nnc::data::bad_split",
            format!(
                "test fraction {} and validation fraction {} add up to 1 or more",
                cfg.test_fraction, cfg.validation_fraction
            ),
        )
        .with_help("leave rows for training: for example test 0.2 and validation 0.1"));
    }
    Ok(())
}

pub fn split(target: &Target, rows: &[usize], cfg: &SplitConfig) -> Result<Split, Diagnostic> {
    check_fractions(cfg)?;
    let mut rng = random::stream(cfg.seed, Stream::Split);
    let mut out = Split {
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
    };
    for (group, keep) in groups(target, rows) {
        // Each class keeps at least one training row, so the model sees every class.
        deal(group, cfg, &mut rng, keep, &mut out);
    }
    if out.train.is_empty() {
        return Err(empty_train(rows.len(), cfg));
    }
    out.train.sort_unstable();
    out.validation.sort_unstable();
    out.test.sort_unstable();
    Ok(out)
}

/// Splitting `rows` rows as `cfg` says left none for training.
pub fn empty_train(rows: usize, cfg: &SplitConfig) -> Diagnostic {
    Diagnostic::new(
        "nnc::data::empty_train",
        format!(
            "splitting {rows} rows with test fraction {} and validation fraction {} leaves no training rows",
            cfg.test_fraction, cfg.validation_fraction
        ),
    )
    .with_help("lower the test and validation fractions, or use a larger data file")
}

fn check_fraction(which: &str, f: f64) -> Result<(), Diagnostic> {
    if (0.0..1.0).contains(&f) {
        return Ok(());
    }
    Err(Diagnostic::new(
        "nnc::data::bad_split",
        format!("the {which} fraction must be at least 0 and below 1, not {f}"),
    )
    .with_help(format!(
        "use a {which} fraction such as 0.2 (20% of the rows)"
    )))
}

/// The rows of each class (to keep at least one of each for training), or all rows for values.
fn groups(target: &Target, rows: &[usize]) -> Vec<(Vec<usize>, usize)> {
    match target {
        Target::Classes { names, labels } => (0..names.len())
            .map(|class| {
                let group = rows
                    .iter()
                    .copied()
                    .filter(|&r| labels[r] == class)
                    .collect();
                (group, 1)
            })
            .collect(),
        Target::Values(_) => vec![(rows.to_vec(), 0)],
    }
}

/// `k` folds of `rows` for cross-validation, stratified by class: each class's rows are shuffled
/// and dealt round-robin, so every fold holds about 1/k of each class. Each fold is ascending.
pub fn folds(target: &Target, rows: &[usize], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = random::stream(seed, Stream::Split);
    let k = k.max(1);
    let mut out = vec![Vec::new(); k];
    let mut next = 0;
    for (mut group, _) in groups(target, rows) {
        group.shuffle(&mut rng);
        for r in group {
            out[next % k].push(r);
            next += 1;
        }
    }
    for f in &mut out {
        f.sort_unstable();
    }
    out
}

/// Shuffle one group of rows and deal it into test, validation and train, keeping at least
/// `keep` rows for training when the group has them.
///
/// The file's first data row ([`REFERENCE_ROW`]) is always dealt to training: its values are the
/// references every cell is stored relative to (see `read`), so if it could be held out, a
/// held-out value would reach the fitted statistics through rounding.
fn deal(
    mut rows: Vec<usize>,
    cfg: &SplitConfig,
    rng: &mut ChaCha8Rng,
    keep: usize,
    out: &mut Split,
) {
    let n = rows.len();
    let pinned = rows.iter().position(|&r| r == REFERENCE_ROW);
    if let Some(i) = pinned {
        out.train.push(rows.remove(i));
    }
    rows.shuffle(rng);
    // The pinned row counts toward the rows kept for training.
    let keep = keep.saturating_sub(usize::from(pinned.is_some()));
    let cap = rows.len().saturating_sub(keep);
    let n_test = share(cfg.test_fraction, n).min(cap);
    let n_val = share(cfg.validation_fraction, n - n_test).min(cap - n_test);
    out.test.extend_from_slice(&rows[..n_test]);
    out.validation
        .extend_from_slice(&rows[n_test..n_test + n_val]);
    out.train.extend_from_slice(&rows[n_test + n_val..]);
}

/// The table row whose values are the storage references: the file's first data row.
pub const REFERENCE_ROW: usize = 0;

fn share(fraction: f64, n: usize) -> usize {
    ((fraction * n as f64).round() as usize).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(per_class: &[usize]) -> Target {
        let labels: Vec<usize> = (per_class.iter().enumerate())
            .flat_map(|(c, &n)| std::iter::repeat_n(c, n))
            .collect();
        Target::Classes {
            names: (0..per_class.len()).map(|c| c.to_string()).collect(),
            labels,
        }
    }

    fn values(rows: usize) -> Target {
        Target::Values((0..rows).map(|r| r as f64).collect())
    }

    fn all(t: &Target) -> Vec<usize> {
        match t {
            Target::Classes { labels, .. } => (0..labels.len()).collect(),
            Target::Values(v) => (0..v.len()).collect(),
        }
    }

    fn cfg(test: f64, validation: f64, seed: u64) -> SplitConfig {
        SplitConfig {
            test_fraction: test,
            validation_fraction: validation,
            seed,
        }
    }

    fn covers_once(s: &Split, rows: usize) {
        let mut all: Vec<usize> = [&s.train, &s.validation, &s.test]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..rows).collect::<Vec<_>>(),
            "every row in exactly one part"
        );
    }

    #[test]
    fn stratified_parts_keep_class_proportions() {
        let t = classes(&[50, 50, 50]);
        let s = split(&t, &all(&t), &cfg(0.2, 0.1, 7)).unwrap();
        covers_once(&s, 150);
        let Target::Classes { labels, .. } = &t else {
            unreachable!()
        };
        let count = |part: &[usize], c: usize| part.iter().filter(|&&r| labels[r] == c).count();
        for c in 0..3 {
            assert_eq!(count(&s.test, c), 10);
            assert_eq!(count(&s.validation, c), 4);
            assert_eq!(count(&s.train, c), 36);
        }
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let t = classes(&[30, 20]);
        let a = split(&t, &all(&t), &cfg(0.2, 0.1, 1)).unwrap();
        assert_eq!(a, split(&t, &all(&t), &cfg(0.2, 0.1, 1)).unwrap());
        assert_ne!(a.test, split(&t, &all(&t), &cfg(0.2, 0.1, 2)).unwrap().test);
        let r = values(100);
        let b = split(&r, &all(&r), &cfg(0.25, 0.0, 3)).unwrap();
        covers_once(&b, 100);
        assert_eq!(
            (b.test.len(), b.validation.len(), b.train.len()),
            (25, 0, 75)
        );
        assert_eq!(b, split(&r, &all(&r), &cfg(0.25, 0.0, 3)).unwrap());
        assert_ne!(
            b.test,
            (0..25).collect::<Vec<_>>(),
            "regression rows are shuffled"
        );
    }

    #[test]
    fn tiny_classes_stay_in_training() {
        let s = split(
            &classes(&[1, 2, 10]),
            &(0..13).collect::<Vec<_>>(),
            &cfg(0.5, 0.5 - 1e-9, 0),
        )
        .unwrap();
        let Target::Classes { labels, .. } = &classes(&[1, 2, 10]) else {
            unreachable!()
        };
        for c in 0..3 {
            assert!(
                s.train.iter().any(|&r| labels[r] == c),
                "class {c} has a training row"
            );
        }
    }

    #[test]
    fn bad_fractions_and_empty_train_are_diagnostics() {
        let t = values(10);
        for (test, val) in [
            (1.0, 0.0),
            (-0.1, 0.0),
            (0.2, 1.0),
            (f64::NAN, 0.1),
            (0.6, 0.4),
        ] {
            assert_eq!(
                split(&t, &all(&t), &cfg(test, val, 0)).unwrap_err().code,
                "nnc::data::bad_split"
            );
        }
        // One usable row (not the reference row, which always trains) and a test share of it.
        let err = split(&values(2), &[1], &cfg(0.6, 0.0, 0)).unwrap_err();
        assert_eq!(err.code, "nnc::data::empty_train");
        assert!(err.help.is_some());
    }

    #[test]
    fn the_reference_row_is_always_trained_on() {
        for seed in 0..50 {
            let t = classes(&[3, 3]);
            let s = split(&t, &all(&t), &cfg(0.5, 0.3, seed)).unwrap();
            assert!(s.train.contains(&REFERENCE_ROW), "seed {seed}: {s:?}");
            // Per class of 3: round(1.5) = 2 test rows, none left for validation, 1 trains.
            assert_eq!((s.test.len(), s.validation.len(), s.train.len()), (4, 0, 2));
        }
    }

    #[test]
    fn folds_are_stratified_and_cover_every_row_once() {
        let t = classes(&[10, 20, 5]);
        let rows = all(&t);
        let f = folds(&t, &rows, 5, 3);
        assert_eq!(f.len(), 5);
        let mut every: Vec<usize> = f.iter().flatten().copied().collect();
        every.sort_unstable();
        assert_eq!(every, rows);
        let Target::Classes { labels, .. } = &t else {
            unreachable!()
        };
        for fold in &f {
            let per = |c| fold.iter().filter(|&&r| labels[r] == c).count();
            assert_eq!((per(0), per(1), per(2)), (2, 4, 1), "{fold:?}");
        }
        assert_eq!(f, folds(&t, &rows, 5, 3));
        assert_ne!(f, folds(&t, &rows, 5, 4));
    }
}
