//! The settings of the `train` and `data` blocks, the options of early stopping and the widths of
//! layers: name, default and range of each, defined once for the file's reader and the command
//! line's flags.

use super::options::{Count, Flag, Number};

pub const EPOCHS: Count = Count {
    name: "epochs",
    default: 100,
    min: 1,
    max: 1_000_000,
};
pub const BATCH_SIZE: Count = Count {
    name: "batch_size",
    default: 32,
    min: 1,
    max: 1 << 20,
};
/// Threads that run the training step together; without the setting, the cores available
/// (`default` is not used: a step too small to share runs on one thread then).
pub const THREADS: Count = Count {
    name: "threads",
    default: 1,
    min: 1,
    max: 256,
};
/// Epochs between two checkpoints of a run saved with `--out` (`train::checkpoint`); without
/// the setting (or `--checkpoint-every`), none but when the run is stopped.
pub const CHECKPOINT_EVERY: Count = Count {
    name: "checkpoint_every",
    default: 1,
    min: 1,
    max: 1 << 20,
};
/// Whether the training step also computes the per-layer statistics (`monitor`). On by default:
/// they cost about a tenth of a step or less (docs/insight.md has the measurements).
pub const MONITOR_STATS: Flag = Flag {
    name: "monitor",
    default: true,
};
/// Seeds are 32-bit, as in most tools; every one is exact as a number in the file.
pub const SEED: Count = Count {
    name: "seed",
    default: 42,
    min: 0,
    max: u32::MAX as u64,
};
/// Epochs without improvement before early stopping ends training.
pub const PATIENCE: Count = Count {
    name: "patience",
    default: 10,
    min: 1,
    max: 1_000_000,
};
/// The least change of the monitored value that counts as an improvement.
pub const MIN_DELTA: Number = Number {
    name: "min_delta",
    default: 0.0001,
    min: 0.0,
    max: 1e6,
};
pub const TEST_FRACTION: Number = Number {
    name: "test_fraction",
    default: 0.2,
    min: 0.0,
    max: 0.9,
};
pub const VALIDATION_FRACTION: Number = Number {
    name: "validation_fraction",
    default: 0.1,
    min: 0.0,
    max: 0.9,
};
/// The width of a layer, and of the input.
pub(super) const UNITS: Count = Count {
    name: "units",
    default: 1,
    min: 1,
    max: 1 << 24,
};
pub(super) const INPUT_WIDTH: Count = Count {
    name: "width",
    ..UNITS
};
