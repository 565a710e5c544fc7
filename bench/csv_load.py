#!/usr/bin/env python3
"""CSV loading baseline for bench/csv_load.sh.

Generates (when missing) a numeric CSV of ROWS x COLS standard-normal features written with
`%.5g` plus an integer label column `y` in 0..9 (numpy seed 0), then times
`pandas.read_csv(path, dtype=np.float32)` and `polars.read_csv(path)`, median of REPEATS runs
each, and prints their throughput in MB/s (10^6 bytes of file per second).

    python3 bench/csv_load.py [--csv PATH] [--generate-only] [--json]

With --json the last line of output is a JSON object with the figures (read by csv_load.sh).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

ROWS = 20_000
COLS = 784
REPEATS = 3
SEED = 0
CHUNK = 1_000


def default_csv() -> str:
    base = os.environ.get("NNC_BENCH_DIR", os.path.expanduser("~/.cache/nnc-bench"))
    return os.path.join(base, f"csv_load_{ROWS}x{COLS}.csv")


def generate(path: str) -> None:
    """Write the file under a temporary name first, so an interrupted run leaves nothing behind."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    rng = np.random.default_rng(SEED)
    row_format = ",".join(["%.5g"] * COLS) + ",%d\n"
    header = ",".join(f"x{i}" for i in range(COLS)) + ",y\n"
    partial = path + ".partial"
    started = time.perf_counter()
    with open(partial, "w", encoding="ascii", newline="") as out:
        out.write(header)
        for first in range(0, ROWS, CHUNK):
            n = min(CHUNK, ROWS - first)
            features = rng.standard_normal((n, COLS))
            labels = rng.integers(0, 10, size=n)
            out.write(
                "".join(row_format % (*f, y) for f, y in zip(features.tolist(), labels.tolist()))
            )
    os.replace(partial, path)
    size = os.path.getsize(path)
    print(
        f"generated {path}: {ROWS} rows x {COLS + 1} columns, {size / 1e6:.1f} MB "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )


def median_seconds(load, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        frame = load()
        times.append(time.perf_counter() - started)
        assert frame.shape == (ROWS, COLS + 1), frame.shape
        del frame
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=default_csv(), help="the benchmark file (made if missing)")
    parser.add_argument("--generate-only", action="store_true", help="only make the file")
    parser.add_argument("--json", action="store_true", help="end with a JSON line of figures")
    args = parser.parse_args()

    if not os.path.exists(args.csv):
        generate(args.csv)
    if args.generate_only:
        print(args.csv)
        return

    import pandas as pd
    import polars as pl

    size = os.path.getsize(args.csv)
    figures = {"file_bytes": size, "rows": ROWS, "columns": COLS + 1}
    for name, version, load in [
        ("pandas", pd.__version__, lambda: pd.read_csv(args.csv, dtype=np.float32)),
        ("polars", pl.__version__, lambda: pl.read_csv(args.csv)),
    ]:
        seconds = median_seconds(load, REPEATS)
        figures[name] = {"version": version, "seconds": seconds, "mb_per_s": size / 1e6 / seconds}
        print(f"{name:<8}{version:<10}{seconds:8.3f} s {size / 1e6 / seconds:9.1f} MB/s")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
