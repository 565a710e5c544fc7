//! Fitting the preprocessing on training rows that arrive a chunk at a time, none of them kept:
//! what `preprocess::fit` computes from the whole table, computed from running statistics.
//! Counts, means, deviations, minima, maxima and categories are exact (means and deviations by
//! Welford's updates, equal to the two-pass figures to rounding); medians, quartiles and
//! quantile cut points come from a [`Sketch`] per column that needs them (exact up to
//! `SKETCH_K` values); the most frequent number from counts of at most `MODE_COUNTERS` distinct
//! values (the Misra–Gries summary: exact while a column has no more distinct values).
//!
//! The order of `fit` is kept: the fill is computed from the values present, the clipping
//! bounds from the filled values, the scaling from the filled and clipped ones. Clipped values'
//! means and deviations cannot be had from unclipped sums, so a column with both `outliers:
//! clip(...)` and `scaling: standard` needs one more pass over the rows
//! ([`StreamedFit::needs_clipped_pass`], [`StreamedFit::add_clipped`]).

use std::collections::{BTreeSet, HashMap};

use super::super::preprocess::{
    sort_names, text_constant, text_constant_error, ColumnSettings, Constant, Feature,
    FittedTarget, Missing, Outliers, PrepareConfig, Preprocessing, Scaling, TargetEncoding,
};
use super::super::read::MISSING_CODE;
use super::super::table::{ColumnKind, Table, Target};
use super::sketch::Sketch;
use crate::diag::Diagnostic;

/// Distinct numbers counted exactly for `missing: most_frequent`.
pub const MODE_COUNTERS: usize = 4096;

/// Count, mean and sum of squared deviations, updated one value at a time (Welford) and merged
/// (Chan et al.).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments {
    pub fn add(&mut self, v: f64) {
        self.n += 1;
        let d = v - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (v - self.mean);
    }

    /// The moments of `values`, by two passes over them (their mean, then the squared
    /// deviations from it): no division per value, and vector code.
    pub fn of(values: &[f64]) -> Moments {
        if values.is_empty() {
            return Moments::default();
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let m2 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        Moments {
            n: n as u64,
            mean,
            m2,
        }
    }

    /// The moments of these values and `other`'s together (Chan, Golub and LeVeque's update).
    pub fn merge(self, other: Moments) -> Moments {
        if other.n == 0 {
            return self;
        }
        if self.n == 0 {
            return other;
        }
        let n = self.n + other.n;
        let d = other.mean - self.mean;
        Moments {
            n,
            mean: self.mean + d * other.n as f64 / n as f64,
            m2: self.m2 + other.m2 + d * d * (self.n as f64 * other.n as f64 / n as f64),
        }
    }

    /// These moments with `count` more values equal to `v`.
    pub fn with_repeated(self, v: f64, count: u64) -> Moments {
        if count == 0 {
            return self;
        }
        let n = self.n + count;
        let d = v - self.mean;
        Moments {
            n,
            mean: self.mean + d * count as f64 / n as f64,
            m2: self.m2 + d * d * self.n as f64 * count as f64 / n as f64,
        }
    }

    /// Population mean and deviation as `preprocess::mean_std` gives them: (0, 1) for no
    /// values, a deviation of 1 for a constant column.
    pub fn mean_std(&self) -> (f64, f64) {
        if self.n == 0 {
            return (0.0, 1.0);
        }
        let std = (self.m2.max(0.0) / self.n as f64).sqrt();
        if std > 1e-12 * (1.0 + self.mean.abs()) {
            (self.mean, std)
        } else {
            (self.mean, 1.0)
        }
    }
}

/// The most frequent value of a stream (Misra–Gries with `MODE_COUNTERS` counters).
#[derive(Clone, Debug, Default)]
struct Modes {
    counts: HashMap<u64, u64>,
}

impl Modes {
    fn add(&mut self, v: f64) {
        let key = v.to_bits();
        if let Some(c) = self.counts.get_mut(&key) {
            *c += 1;
        } else if self.counts.len() < MODE_COUNTERS {
            self.counts.insert(key, 1);
        } else {
            self.counts.retain(|_, c| {
                *c -= 1;
                *c > 0
            });
        }
    }

    /// The value counted most, the smallest on a tie (as `preprocess::most_frequent`).
    fn most_frequent(&self) -> f64 {
        let mut best: Option<(u64, f64)> = None;
        for (&bits, &count) in &self.counts {
            let v = f64::from_bits(bits);
            best = match best {
                Some((c, b)) if c > count || (c == count && b <= v) => Some((c, b)),
                _ => Some((count, v)),
            };
        }
        best.map_or(0.0, |b| b.1)
    }
}

/// One feature column's running statistics over the training rows.
#[derive(Clone, Debug)]
enum ColumnFit {
    Numeric {
        /// The first chunk's reference: every value is taken relative to it.
        reference: Option<f64>,
        present: Moments,
        missing: u64,
        min: f64,
        max: f64,
        sketch: Option<Sketch>,
        modes: Option<Modes>,
        /// Settled after the first pass: fill and clipping bounds.
        fill: Option<f64>,
        clip: Option<(f64, f64)>,
        clipped: Moments,
    },
    Categorical {
        counts: HashMap<String, u64>,
    },
}

#[derive(Clone, Debug)]
struct FitColumn {
    name: String,
    index: usize,
    settings: ColumnSettings,
    stats: ColumnFit,
}

/// The preprocessing being fitted, chunk by chunk.
#[derive(Clone, Debug)]
pub struct StreamedFit {
    columns: Vec<FitColumn>,
    /// Class names met in any row of the file (the split's parts share them).
    classes: BTreeSet<String>,
    /// The training rows' target values (regression).
    target: Moments,
    train_rows: u64,
    /// A chunk's values of one column, reused from column to column.
    scratch: Vec<f64>,
}

impl StreamedFit {
    /// Statistics for the feature columns of `first`, the first chunk of the file. A text
    /// constant for a numeric column's missing values is refused here, at the column's name, as
    /// `fit` refuses it.
    pub fn new(first: &Table, config: &PrepareConfig) -> Result<Self, Diagnostic> {
        for c in (first.columns.iter()).filter(|c| c.kind == ColumnKind::Numeric) {
            if let Missing::Constant(Constant::Text(t)) = &config.settings(&c.name).missing {
                let d = text_constant_error(&c.name, t);
                return Err(text_constant(first, c.index, d));
            }
        }
        let columns = (first.columns.iter())
            .map(|c| {
                let settings = config.settings(&c.name).clone();
                let needs_order = matches!(settings.missing, Missing::Median)
                    || matches!(settings.outliers, Outliers::ClipQuantiles(_))
                    || matches!(settings.scaling, Scaling::Robust);
                let stats = match c.kind {
                    ColumnKind::Numeric => ColumnFit::Numeric {
                        reference: None,
                        present: Moments::default(),
                        missing: 0,
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                        sketch: needs_order.then(Sketch::default),
                        modes: matches!(settings.missing, Missing::MostFrequent)
                            .then(Modes::default),
                        fill: None,
                        clip: None,
                        clipped: Moments::default(),
                    },
                    ColumnKind::Categorical => ColumnFit::Categorical {
                        counts: HashMap::new(),
                    },
                };
                FitColumn {
                    name: c.name.clone(),
                    index: c.index,
                    settings,
                    stats,
                }
            })
            .collect();
        Ok(StreamedFit {
            columns,
            classes: BTreeSet::new(),
            target: Moments::default(),
            train_rows: 0,
            scratch: Vec::new(),
        })
    }

    /// Training rows seen.
    pub fn train_rows(&self) -> u64 {
        self.train_rows
    }

    /// Add a chunk: its class names (every row) and the statistics of its rows `train`. A
    /// column typed otherwise than in the first chunk is a diagnostic (`kind_changed`).
    pub fn add(&mut self, chunk: &Table, train: &[usize]) -> Result<(), Diagnostic> {
        if let Some(t) = &chunk.target {
            match &t.data {
                Target::Classes { names, .. } => {
                    for name in names {
                        if !self.classes.contains(name) {
                            self.classes.insert(name.clone());
                        }
                    }
                }
                Target::Values(v) => train.iter().for_each(|&r| self.target.add(v[r])),
            }
        }
        self.train_rows += train.len() as u64;
        for column in &mut self.columns {
            let kind = chunk
                .columns
                .iter()
                .find(|c| c.index == column.index)
                .map(|c| c.kind);
            match (&mut column.stats, kind) {
                (
                    ColumnFit::Numeric {
                        reference,
                        present,
                        missing,
                        min,
                        max,
                        sketch,
                        modes,
                        ..
                    },
                    Some(ColumnKind::Numeric),
                ) => {
                    let own = chunk.reference(column.index);
                    let first = *reference.get_or_insert(own);
                    let shift = if own == first { 0.0 } else { own - first };
                    let values = &mut self.scratch;
                    values.clear();
                    for &r in train {
                        let s = chunk.shifted(r, column.index);
                        match s.is_nan() {
                            true => *missing += 1,
                            false => values.push(s + shift),
                        }
                    }
                    // The chunk's moments, merged: the same figures as one value at a time, to
                    // rounding, at a fraction of the cost.
                    *present = present.merge(Moments::of(values));
                    *min = values.iter().copied().fold(*min, f64::min);
                    *max = values.iter().copied().fold(*max, f64::max);
                    if let Some(s) = sketch {
                        values.iter().for_each(|&v| s.insert(v));
                    }
                    if let Some(m) = modes {
                        values.iter().for_each(|&v| m.add(v));
                    }
                }
                (ColumnFit::Categorical { counts }, Some(ColumnKind::Categorical)) => {
                    // Counted by the chunk's codes first: one name looked up per category,
                    // not per row.
                    let (names, codes) = chunk.text_column(column.index);
                    let mut by_code = vec![0u64; names.len()];
                    for &r in train {
                        let code = codes[r];
                        if code != MISSING_CODE {
                            by_code[code as usize] += 1;
                        }
                    }
                    for (name, &n) in names.iter().zip(&by_code).filter(|(_, &n)| n > 0) {
                        match counts.get_mut(name) {
                            Some(c) => *c += n,
                            None => {
                                counts.insert(name.clone(), n);
                            }
                        }
                    }
                    if counts.len() > super::super::MAX_CATEGORIES {
                        return Err(super::super::load::too_many_categories(
                            chunk,
                            column.index,
                            counts.len(),
                        ));
                    }
                }
                (_, Some(kind)) => {
                    return Err(super::super::load::kind_changed(chunk, column.index, kind))
                }
                (_, None) => {}
            }
        }
        Ok(())
    }

    /// Settle each numeric column's fill and clipping bounds from the first pass.
    pub fn settle(&mut self) {
        for column in &mut self.columns {
            let s = &column.settings;
            let ColumnFit::Numeric {
                reference,
                present,
                missing,
                min,
                max,
                sketch,
                modes,
                fill,
                clip,
                ..
            } = &mut column.stats
            else {
                continue;
            };
            let reference = reference.unwrap_or(0.0);
            *fill = match &s.missing {
                Missing::Error | Missing::Drop => None,
                Missing::Mean => Some(present.mean_std().0),
                Missing::Median => Some(sketch.as_ref().map_or(0.0, |k| k.quantile(0.5))),
                Missing::MostFrequent => Some(modes.as_ref().map_or(0.0, Modes::most_frequent)),
                Missing::Constant(Constant::Number(v)) => Some(v - reference),
                Missing::Constant(Constant::Text(_)) => {
                    unreachable!("invariant: `new` refuses a text constant for a numeric column")
                }
            };
            // The scaler and the clipping see the filled values, as after an imputer.
            if let (Some(f), true) = (*fill, *missing > 0) {
                *min = min.min(f);
                *max = max.max(f);
                if let Some(k) = sketch {
                    (0..*missing).for_each(|_| k.insert(f));
                }
            }
            let filled = present.with_repeated(fill.unwrap_or(0.0), fill.map_or(0, |_| *missing));
            *clip = match s.outliers {
                Outliers::None => None,
                Outliers::ClipZ(z) => {
                    let (m, sd) = filled.mean_std();
                    Some((m - z * sd, m + z * sd))
                }
                Outliers::ClipQuantiles(q) => sketch
                    .as_ref()
                    .map(|k| (k.quantile(q), k.quantile(1.0 - q))),
            };
        }
    }

    /// Whether a column's scaling needs the clipped values' moments: a second pass.
    pub fn needs_clipped_pass(&self) -> bool {
        self.columns.iter().any(|c| {
            c.settings.scaling == Scaling::Standard
                && matches!(c.stats, ColumnFit::Numeric { clip: Some(_), .. })
        })
    }

    /// The second pass: the filled and clipped values of a chunk's training rows.
    pub fn add_clipped(&mut self, chunk: &Table, train: &[usize]) {
        for column in &mut self.columns {
            let ColumnFit::Numeric {
                reference,
                fill,
                clip: Some((lo, hi)),
                clipped,
                ..
            } = &mut column.stats
            else {
                continue;
            };
            let own = chunk.reference(column.index);
            let first = reference.unwrap_or(own);
            let shift = if own == first { 0.0 } else { own - first };
            for &r in train {
                let s = chunk.shifted(r, column.index);
                let v = if s.is_nan() { *fill } else { Some(s + shift) };
                if let Some(v) = v {
                    clipped.add(v.clamp(*lo, *hi));
                }
            }
        }
    }

    /// The fitted preprocessing. `target_name` and `encoding` are the training table's.
    pub fn finish(
        self,
        target_name: &str,
        encoding: TargetEncoding,
        missing_markers: &[String],
        classes: bool,
    ) -> Preprocessing {
        let nonzero = |s: f64| if s > 0.0 && s.is_finite() { s } else { 1.0 };
        let features = (self.columns.into_iter())
            .map(|column| match column.stats {
                ColumnFit::Numeric {
                    reference,
                    present,
                    missing,
                    min,
                    max,
                    sketch,
                    fill,
                    clip,
                    clipped,
                    ..
                } => {
                    let reference = reference.unwrap_or(0.0);
                    let clamp = |v: f64| clip.map_or(v, |(lo, hi)| v.clamp(lo, hi));
                    let filled =
                        present.with_repeated(fill.unwrap_or(0.0), fill.map_or(0, |_| missing));
                    let (center, scale) = match column.settings.scaling {
                        Scaling::Standard if clip.is_some() => clipped.mean_std(),
                        Scaling::Standard => filled.mean_std(),
                        Scaling::Minmax if filled.n == 0 => (0.0, 1.0),
                        Scaling::Minmax => (clamp(min), nonzero(clamp(max) - clamp(min))),
                        Scaling::Robust => {
                            let q = |p: f64| clamp(sketch.as_ref().map_or(0.0, |k| k.quantile(p)));
                            (q(0.5), nonzero(q(0.75) - q(0.25)))
                        }
                        Scaling::None => (-reference, 1.0),
                    };
                    Feature::Numeric {
                        name: column.name,
                        reference,
                        missing: column.settings.missing,
                        fill,
                        clip,
                        center,
                        scale,
                    }
                }
                ColumnFit::Categorical { counts } => {
                    let mut names: Vec<&str> = counts.keys().map(String::as_str).collect();
                    sort_names(&mut names);
                    // The most frequent, the first in order on a tie.
                    let most_frequent = names
                        .iter()
                        .copied()
                        .fold(None::<(&str, u64)>, |best, n| match best {
                            Some((_, c)) if c >= counts[n] => best,
                            _ => Some((n, counts[n])),
                        })
                        .map(|(n, _)| n.to_string());
                    let fill = match &column.settings.missing {
                        Missing::Error | Missing::Drop => None,
                        Missing::Mean | Missing::Median | Missing::MostFrequent => most_frequent,
                        Missing::Constant(c) => Some(c.to_string()),
                    };
                    Feature::Categorical {
                        name: column.name,
                        categories: names.into_iter().map(String::from).collect(),
                        missing: column.settings.missing,
                        fill,
                        unseen: column.settings.unseen,
                    }
                }
            })
            .collect();
        let target = if classes {
            let mut names: Vec<&str> = self.classes.iter().map(String::as_str).collect();
            sort_names(&mut names);
            FittedTarget::Classes {
                name: target_name.to_string(),
                names: names.into_iter().map(String::from).collect(),
                encoding,
            }
        } else {
            let (mean, std) = self.target.mean_std();
            FittedTarget::Values {
                name: target_name.to_string(),
                mean,
                std,
            }
        };
        Preprocessing {
            features,
            target,
            missing_markers: missing_markers.to_vec(),
        }
    }

    /// The class names met so far, in the order `finish` gives them.
    pub fn class_names(&self) -> Vec<String> {
        let mut names: Vec<&str> = self.classes.iter().map(String::as_str).collect();
        sort_names(&mut names);
        names.into_iter().map(String::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::preprocess::fit;
    use crate::data::preprocess::tests::config;
    use crate::data::{
        load_table_chunks, parse_table, DataOrigin, ReadOptions, TargetKind, TargetSpec,
    };
    use crate::diag::Source;

    fn target() -> TargetSpec {
        TargetSpec::required("y", TargetKind::Classes)
    }

    /// A column with missing values and ties (`a`), one with missing values, a clear mode, an
    /// outlier and a large offset (`b`, stored relative to its first value), a categorical column
    /// with missing values, a numeric column with none (`d`: a constant fill outside its range
    /// must not widen it), a constant one (`e`: no spread to scale by), and classes.
    fn csv(rows: usize) -> String {
        let mut text = String::from("a,b,c,d,e,y\n");
        for r in 0..rows {
            let a = if r % 7 == 3 {
                String::new()
            } else {
                format!("{}", (r * 37) % 101)
            };
            // Missing now and then; most often 1e9 + 7 (not the first row's value, which the
            // column is stored relative to), once an outlier.
            let b = match r {
                5 => "1000000".to_string(),
                _ if r % 11 == 4 => String::new(),
                _ if r % 3 == 1 => "1000000007".to_string(),
                _ => format!("{}", 1e9 + ((r * 13) % 17) as f64),
            };
            // Green most often, so that the most frequent is neither first nor last in order.
            let c = ["green", "red", "", "blue", "green"][r % 5];
            let d = (r * 7) % 13;
            let y = ["p", "q", "r"][(r * 5) % 3];
            text.push_str(&format!("{a},{b},{c},{d},5,{y}\n"));
        }
        text
    }

    /// `csv(rows)` read as a whole-file read would.
    fn table(rows: usize) -> Table {
        let source = Source::new("t.csv", csv(rows));
        let opts = ReadOptions::default();
        parse_table(&source, Some(&target()), &opts, &DataOrigin::default()).unwrap()
    }

    fn streamed(table: &Table, rows: &[usize], config: &PrepareConfig) -> Preprocessing {
        let mut f = StreamedFit::new(table, config).unwrap();
        f.add(table, rows).unwrap();
        f.settle();
        if f.needs_clipped_pass() {
            f.add_clipped(table, rows);
        }
        f.finish("y", TargetEncoding::OneHot, &[], true)
    }

    /// Two fitted preprocessings agree: every figure to a relative `tolerance`, every name
    /// exactly.
    fn assert_close(a: &Preprocessing, b: &Preprocessing, what: &str, tolerance: f64) {
        let close = |x: f64, y: f64| x == y || (x - y).abs() <= tolerance * x.abs().max(y.abs());
        let close_opt = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => close(x, y),
            (None, None) => true,
            _ => false,
        };
        assert_eq!(a.features.len(), b.features.len());
        for (fa, fb) in a.features.iter().zip(&b.features) {
            match (fa, fb) {
                (
                    Feature::Numeric {
                        name,
                        reference: ra,
                        fill: fa,
                        clip: ca,
                        center: xa,
                        scale: sa,
                        ..
                    },
                    Feature::Numeric {
                        reference: rb,
                        fill: fb,
                        clip: cb,
                        center: xb,
                        scale: sb,
                        ..
                    },
                ) => {
                    assert_eq!(ra, rb, "{what}: reference of {name}");
                    assert!(close_opt(*fa, *fb), "{what}: fill of {name}: {fa:?} {fb:?}");
                    assert!(
                        close_opt(ca.map(|c| c.0), cb.map(|c| c.0))
                            && close_opt(ca.map(|c| c.1), cb.map(|c| c.1)),
                        "{what}: clip of {name}: {ca:?} {cb:?}"
                    );
                    assert!(close(*xa, *xb), "{what}: center of {name}: {xa} {xb}");
                    assert!(close(*sa, *sb), "{what}: scale of {name}: {sa} {sb}");
                }
                (a, b) => assert_eq!(a, b, "{what}"),
            }
        }
        assert_eq!(a.target, b.target, "{what}");
    }

    #[test]
    fn every_setting_fits_as_in_memory_up_to_the_sketch_size() {
        let table = table(600);
        // Every other row trains.
        let rows: Vec<usize> = (0..table.rows).filter(|r| r % 2 == 0).collect();
        for missing in [
            Missing::Mean,
            Missing::Median,
            Missing::MostFrequent,
            Missing::Constant(Constant::Number(-4.0)),
        ] {
            for outliers in [
                Outliers::None,
                Outliers::ClipZ(1.5),
                Outliers::ClipQuantiles(0.1),
            ] {
                for scaling in [
                    Scaling::Standard,
                    Scaling::Minmax,
                    Scaling::Robust,
                    Scaling::None,
                ] {
                    let c = config(missing.clone(), outliers, scaling);
                    let what = format!("{missing:?} {outliers:?} {scaling:?}");
                    let want = fit(&table, &rows, &c, TargetEncoding::OneHot, &[]).unwrap();
                    assert_close(&streamed(&table, &rows, &c), &want, &what, 1e-12);
                }
            }
        }
    }

    /// The second pass over the file costs as much as the first: only standard scaling of a
    /// clipped column needs it (the clipped values' mean and deviation).
    #[test]
    fn only_clipping_with_standard_scaling_reads_the_file_twice() {
        let table = table(100);
        for outliers in [
            Outliers::None,
            Outliers::ClipZ(2.0),
            Outliers::ClipQuantiles(0.1),
        ] {
            for scaling in [
                Scaling::Standard,
                Scaling::Minmax,
                Scaling::Robust,
                Scaling::None,
            ] {
                let c = config(Missing::Mean, outliers, scaling);
                let mut f = StreamedFit::new(&table, &c).unwrap();
                f.add(&table, &(0..table.rows).collect::<Vec<_>>()).unwrap();
                f.settle();
                let want = scaling == Scaling::Standard && outliers != Outliers::None;
                assert_eq!(f.needs_clipped_pass(), want, "{outliers:?} {scaling:?}");
            }
        }
    }

    #[test]
    fn chunks_of_a_file_fit_as_the_whole_file() {
        // Chunks of at least 262,144 rows of four columns (`load::chunk_rows`) and of an 8 MiB
        // block of the file: two or three.
        let n = 600_000;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, csv(n)).unwrap();
        let opts = ReadOptions::default();
        let origin = DataOrigin::default();
        let whole = crate::data::load_table(&path, Some(&target()), &opts, &origin).unwrap();
        let all: Vec<usize> = (0..whole.rows).collect();
        let c = config(Missing::Mean, Outliers::ClipZ(2.0), Scaling::Standard);
        let want = fit(&whole, &all, &c, TargetEncoding::OneHot, &[]).unwrap();
        let read = |f: &mut dyn FnMut(Table) -> Result<(), Diagnostic>| {
            load_table_chunks(&path, Some(&target()), &opts, &origin, f).unwrap()
        };
        let mut fitting: Option<StreamedFit> = None;
        let mut chunks = 0;
        read(&mut |chunk| {
            chunks += 1;
            let rows: Vec<usize> = (0..chunk.rows).collect();
            let f = match &mut fitting {
                Some(f) => f,
                None => fitting.insert(StreamedFit::new(&chunk, &c)?),
            };
            f.add(&chunk, &rows)
        });
        assert!(chunks >= 2, "{chunks} chunk");
        let mut f = fitting.unwrap();
        f.settle();
        assert!(f.needs_clipped_pass());
        read(&mut |chunk| {
            let rows: Vec<usize> = (0..chunk.rows).collect();
            f.add_clipped(&chunk, &rows);
            Ok(())
        });
        assert_eq!(f.train_rows(), n as u64);
        // Running sums over 600,000 values against two-pass sums: equal to rounding.
        let got = f.finish("y", TargetEncoding::OneHot, &[], true);
        assert_close(&got, &want, "chunks", 1e-9);
    }

    #[test]
    fn chunks_stored_relative_to_their_own_first_values_fit_as_one_table() {
        // Two tables parsed apart: each stores its cells relative to its own first row.
        let text = csv(600);
        let (header, rows) = text.split_once('\n').unwrap();
        let lines: Vec<&str> = rows.lines().collect();
        let part = |from: usize, to: usize| {
            let body: String = lines[from..to].iter().map(|l| format!("{l}\n")).collect();
            let source = Source::new("t.csv", format!("{header}\n{body}"));
            let origin = DataOrigin::default();
            parse_table(&source, Some(&target()), &ReadOptions::default(), &origin).unwrap()
        };
        // Row 302's `b` is present: a table whose first row lacks a value stores that column
        // relative to 0, where an f32 cannot hold 1e9 + 7.
        let (first, second, whole) = (part(0, 302), part(302, 600), part(0, 600));
        assert_ne!(
            first.reference(1),
            second.reference(1),
            "the test needs other references"
        );
        // The second setting takes the clipped pass, which reads both tables again.
        for (outliers, scaling) in [
            (Outliers::None, Scaling::Minmax),
            (Outliers::ClipZ(1.5), Scaling::Standard),
        ] {
            let c = config(Missing::Mean, outliers, scaling);
            let all_of = |t: &Table| (0..t.rows).collect::<Vec<_>>();
            let mut f = StreamedFit::new(&first, &c).unwrap();
            f.add(&first, &all_of(&first)).unwrap();
            f.add(&second, &all_of(&second)).unwrap();
            f.settle();
            if f.needs_clipped_pass() {
                f.add_clipped(&first, &all_of(&first));
                f.add_clipped(&second, &all_of(&second));
            }
            let got = f.finish("y", TargetEncoding::OneHot, &[], true);
            let want = fit(&whole, &all_of(&whole), &c, TargetEncoding::OneHot, &[]).unwrap();
            assert_close(&got, &want, &format!("two tables, {outliers:?}"), 1e-9);
        }
    }

    #[test]
    fn categories_of_all_chunks_count_toward_the_limit() {
        // Two chunks of 600 distinct names each: within the limit apart, over it together.
        let table = |from: usize| {
            let body: String = (from..from + 600).map(|i| format!("n{i},p\n")).collect();
            let source = Source::new("t.csv", format!("name,y\n{body}n0,q\n"));
            let origin = DataOrigin::default();
            parse_table(&source, Some(&target()), &ReadOptions::default(), &origin).unwrap()
        };
        let (first, second) = (table(0), table(600));
        let c = config(Missing::Mean, Outliers::None, Scaling::Standard);
        let mut f = StreamedFit::new(&first, &c).unwrap();
        f.add(&first, &(0..first.rows).collect::<Vec<_>>()).unwrap();
        let err = f
            .add(&second, &(0..second.rows).collect::<Vec<_>>())
            .unwrap_err();
        assert_eq!(err.code, "nnc::data::too_many_categories");
        assert!(
            err.message.contains("1200 distinct values"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_median_past_the_sketch_size_is_within_its_error() {
        let table = table(20_000);
        let rows: Vec<usize> = (0..table.rows).collect();
        let c = config(Missing::Median, Outliers::None, Scaling::Robust);
        let want = fit(&table, &rows, &c, TargetEncoding::OneHot, &[]).unwrap();
        let got = streamed(&table, &rows, &c);
        let (
            Feature::Numeric {
                fill: Some(fw),
                center: cw,
                scale: sw,
                ..
            },
            Feature::Numeric {
                fill: Some(fg),
                center: cg,
                scale: sg,
                ..
            },
        ) = (&want.features[0], &got.features[0])
        else {
            panic!("column a is numeric with a fill")
        };
        // Values 0..100: half a percent of the rank is half a unit.
        assert!((fw - fg).abs() <= 1.0, "median {fg} against {fw}");
        assert!((cw - cg).abs() <= 1.0, "center {cg} against {cw}");
        assert!((sw - sg).abs() <= 2.0, "quartile range {sg} against {sw}");
    }

    #[test]
    fn moments_of_chunks_merge_as_if_added_one_by_one() {
        let values: Vec<f64> = (0..1000)
            .map(|i| ((i * 7919) % 1013) as f64 * 0.37 - 50.0)
            .collect();
        let mut one_by_one = Moments::default();
        values.iter().for_each(|&v| one_by_one.add(v));
        let merged = (values.chunks(333))
            .map(Moments::of)
            .fold(Moments::default(), Moments::merge);
        assert_eq!(merged.n, one_by_one.n);
        assert!((merged.mean - one_by_one.mean).abs() < 1e-12);
        assert!((merged.m2 - one_by_one.m2).abs() < 1e-9 * one_by_one.m2);
        assert_eq!(Moments::of(&[]), Moments::default());
    }

    #[test]
    fn a_nearly_constant_column_gets_the_deviation_the_whole_table_would() {
        use crate::data::preprocess::mean_std;
        for values in [
            vec![1e6, 1e6 + 2e-7, 1e6 - 2e-7, 1e6],
            vec![0.0, 1e-13, 0.0, -1e-13],
            vec![5.0, 5.0, 5.0],
            vec![1.0, 2.0, 4.0],
        ] {
            let whole = mean_std(values.iter().copied());
            let mut running = Moments::default();
            values.iter().for_each(|&v| running.add(v));
            let chunked = Moments::of(&values).mean_std();
            for (got, what) in [(running.mean_std(), "running"), (chunked, "chunked")] {
                let mean_close = (got.0 - whole.0).abs() <= 1e-12 * whole.0.abs().max(1.0);
                assert!(mean_close, "{what} {values:?}");
                let same = (got.1 == 1.0) == (whole.1 == 1.0);
                assert!(same, "{what} {values:?}: {got:?} against {whole:?}");
            }
        }
    }

    #[test]
    fn the_most_frequent_number_survives_more_distinct_values_than_counters() {
        // 7 twice, then more distinct values than there are counters, then 9 three times: the
        // summary forgets the singles (and 7's lead) as it must, and keeps 9.
        let mut m = Modes::default();
        [7.0, 7.0].iter().for_each(|&v| m.add(v));
        (0..MODE_COUNTERS + 1000).for_each(|i| m.add(1000.0 + i as f64));
        [9.0, 9.0, 9.0].iter().for_each(|&v| m.add(v));
        assert_eq!(m.most_frequent(), 9.0);
        assert!(m.counts.len() <= MODE_COUNTERS);
        // 7 ten times instead: it outlasts the singles' eviction and stays the most frequent.
        let mut m = Modes::default();
        (0..10).for_each(|_| m.add(7.0));
        (0..MODE_COUNTERS + 1000).for_each(|i| m.add(1000.0 + i as f64));
        [9.0, 9.0, 9.0].iter().for_each(|&v| m.add(v));
        assert_eq!(m.most_frequent(), 7.0);
        // Below the counters' number every count is exact: a tie goes to the smaller value.
        let mut exact = Modes::default();
        [3.0, 1.0, 3.0, 1.0, 2.0].iter().for_each(|&v| exact.add(v));
        assert_eq!(exact.most_frequent(), 1.0);
        assert_eq!(Modes::default().most_frequent(), 0.0);
        // It never holds more than its counters.
        let mut full = Modes::default();
        (0..=MODE_COUNTERS).for_each(|i| full.add(i as f64));
        assert!(full.counts.len() <= MODE_COUNTERS, "{}", full.counts.len());
    }

    #[test]
    fn moments_merge_as_if_added_one_by_one() {
        let mut m = Moments::default();
        [1.0, 2.0, 4.0].iter().for_each(|&v| m.add(v));
        let merged = m.with_repeated(7.0, 3);
        let mut direct = m;
        (0..3).for_each(|_| direct.add(7.0));
        assert_eq!(merged.n, direct.n);
        assert!((merged.mean - direct.mean).abs() < 1e-12);
        assert!((merged.m2 - direct.m2).abs() < 1e-9);
        assert_eq!(Moments::default().mean_std(), (0.0, 1.0));
        let mut constant = Moments::default();
        (0..5).for_each(|_| constant.add(3.0));
        assert_eq!(
            constant.mean_std(),
            (3.0, 1.0),
            "a constant column keeps its values"
        );
    }

    #[test]
    fn text_where_the_first_chunk_had_numbers_is_refused_at_its_cell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        // The first chunk (one 8 MiB block of the reader, about 360,000 rows of 23 bytes) holds
        // numbers in column `a`; the second, mostly text, from row 500,000 on.
        let mut text = csv(500_000);
        (0..300_000).for_each(|_| text.push_str("low,1,red,3,5,p\n"));
        std::fs::write(&path, text).unwrap();
        let (opts, origin) = (ReadOptions::default(), DataOrigin::default());
        let c = config(Missing::Mean, Outliers::None, Scaling::Standard);
        let mut fitting: Option<StreamedFit> = None;
        let err = load_table_chunks(&path, Some(&target()), &opts, &origin, &mut |chunk| {
            let rows: Vec<usize> = (0..chunk.rows).collect();
            let f = match &mut fitting {
                Some(f) => f,
                None => fitting.insert(StreamedFit::new(&chunk, &c)?),
            };
            f.add(&chunk, &rows)
        })
        .unwrap_err();
        assert_eq!(err.code, "nnc::data::kind_changed");
        let at = err.location().unwrap();
        assert!(at.ends_with(":500002:1"), "{at}");
    }
}
