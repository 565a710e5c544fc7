//! Data larger than the memory a run may use (`memory_limit`): the file is read a chunk at a
//! time, twice (three times with clipping under standard scaling) and never held whole. The
//! first pass fits the preprocessing on the training rows ([`fit::StreamedFit`]); the second
//! applies it and writes each part's prepared rows to a compact binary file
//! ([`cache::RowCache`]); training reads the training rows back in a bounded shuffle buffer
//! ([`shuffle::ShuffledBatches`]), and validation and test rows chunk by chunk.
//!
//! Without the whole table two things differ from a run in memory, both documented in
//! docs/data.md: a row's part (train, validation or test) comes from a hash of the seed and its
//! row number, not from a stratified shuffle, and the rows of an epoch are shuffled within the
//! buffer, not across the whole file. This module decides neither when to stream (the caller
//! compares [`estimated_memory`] with the limit) nor anything about a model.

pub mod cache;
pub mod fit;
pub mod shuffle;
pub mod sketch;

use std::collections::HashMap;
use std::path::Path;

use super::split::SplitConfig;
use super::table::{ColumnKind, Named, ReadOptions, Table};

/// Which part of the split a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Train,
    Validation,
    Test,
}

/// The part of row `row` of a file: a hash of the seed and the row number, uniform in [0, 1),
/// against the fractions. The same shares as [`super::split`] in expectation (the test fraction
/// of all rows, the validation fraction of the rest), decided row by row without the others.
pub fn part_of(row: usize, cfg: &SplitConfig) -> Part {
    let h = splitmix64(splitmix64(cfg.seed) ^ splitmix64(row as u64 ^ 0xA076_1D64_78BD_642F));
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    if u < cfg.test_fraction {
        Part::Test
    } else if u < cfg.test_fraction + (1.0 - cfg.test_fraction) * cfg.validation_fraction {
        Part::Validation
    } else {
        Part::Train
    }
}

/// How the rest of a file is read once its first chunk (`first`, read with `opts`) has settled
/// each column's kind: every chunk is stored relative to the first chunk's references (the
/// target's too) and reads its categorical columns as categories, as a file read for a fitted
/// model is. A numeric column's text is then not kept (text in one is refused from its counts,
/// `kind_changed` at its first cell), which is most of what typing a chunk costs; a categorical
/// column's numbers are categories, as they are in a file read whole.
pub fn settled_options(opts: &ReadOptions, first: &Table) -> ReadOptions {
    let mut references = HashMap::new();
    let mut categorical = opts.categorical.clone();
    for c in &first.columns {
        match c.kind {
            ColumnKind::Numeric => {
                references.insert(c.name.clone(), first.reference(c.index));
            }
            ColumnKind::Categorical if !categorical.iter().any(|n| n.name == c.name) => {
                categorical.push(Named::new(c.name.clone()));
            }
            ColumnKind::Categorical => {}
        }
    }
    if let Some(t) = &first.target {
        references.insert(t.name.clone(), first.reference(t.index));
    }
    ReadOptions {
        references: Some(references),
        categorical,
        partial: true,
        ..opts.clone()
    }
}

/// SplitMix64's finalizer: a bijection of 64-bit words that mixes every input bit into every
/// output bit.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The memory a run may use for its data when neither `memory_limit` nor `--memory-limit` says:
/// half of the machine's memory (8 GiB where it cannot be read).
pub fn default_memory_limit() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    total.map_or(8 << 30, |t| t / 2)
}

/// Bytes of a size written as a number and a unit (`512MB`, `2 GiB`, `1e9`): the units are B,
/// KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024), in any case; a bare
/// number is bytes. `None` for anything else or for less than 1 KiB.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.trim().parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = number * factor;
    (1024.0..1e19).contains(&bytes).then_some(bytes as u64)
}

/// A size in words: `512 MiB`, `2.5 GiB`.
pub fn show_size(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else if mib >= 1.0 {
        format!("{mib:.0} MiB")
    } else if bytes >= 1024 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// What reading `path` whole would take, roughly: twice a CSV file's size (its cells as 4-byte
/// numbers, then the prepared rows as 4-byte inputs, against at least two bytes of text a
/// cell), eight times a Parquet file's or folder's (compressed columns); `None` for what is not
/// a regular file or folder (a pipe is read as it comes).
pub fn estimated_memory(path: &Path) -> Option<u64> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_dir() {
        let parts = super::parquet::part_files(path)?;
        let bytes: u64 = (parts.iter())
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        return Some(bytes.saturating_mul(8));
    }
    if !meta.is_file() {
        return None;
    }
    let parquet = super::parquet::is_parquet(path);
    Some(meta.len().saturating_mul(if parquet { 8 } else { 2 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_take_their_shares_and_depend_on_the_seed() {
        let cfg = SplitConfig {
            test_fraction: 0.2,
            validation_fraction: 0.25,
            seed: 7,
        };
        let n = 200_000;
        let parts: Vec<Part> = (0..n).map(|r| part_of(r, &cfg)).collect();
        let share = |p: Part| parts.iter().filter(|&&q| q == p).count() as f64 / n as f64;
        assert!((share(Part::Test) - 0.2).abs() < 0.005);
        assert!(
            (share(Part::Validation) - 0.2).abs() < 0.005,
            "a quarter of the rest"
        );
        assert!((share(Part::Train) - 0.6).abs() < 0.005);
        let other = SplitConfig { seed: 8, ..cfg };
        let moved = (0..n).filter(|&r| part_of(r, &other) != parts[r]).count();
        assert!(
            moved > n / 4,
            "another seed, another split ({moved} rows moved)"
        );
        let none = SplitConfig {
            test_fraction: 0.0,
            validation_fraction: 0.0,
            seed: 1,
        };
        assert!((0..1000).all(|r| part_of(r, &none) == Part::Train));
    }

    #[test]
    fn sizes_in_words() {
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("2 GB"), Some(2_000_000_000));
        assert_eq!(parse_size("1.5gib"), Some(3 << 29));
        assert_eq!(parse_size("4000000"), Some(4_000_000));
        assert_eq!(parse_size("1000 B"), None, "below 1 KiB");
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size("MB"), None);
        assert_eq!(show_size(512 << 20), "512 MiB");
        assert_eq!(show_size(3 << 29), "1.5 GiB");
        assert_eq!(show_size(20 << 10), "20 KiB");
        assert_eq!(show_size(256), "256 B");
    }
}
