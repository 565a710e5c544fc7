"""The streamed-training benchmark's file, and polars' streaming scan of it as the reference.

`--generate-only` writes the file (once) and prints its path: 4,000,000 rows of 20 N(0,1)
features printed with 5 decimals, a `city` column of four categories and a class `y` that
follows the first five features and the city (numpy seed 0), about 715 MB, into
$NNC_BENCH_DIR (default ~/.cache/nnc-bench). Without it, it times polars' `scan_csv` of the file
computing what nnc's first pass computes (each numeric column's count, mean, deviation, minimum
and maximum, the city's category counts and the classes' counts) with the streaming engine, 3
times, and prints one JSON line: the median seconds, MB/s and the process's peak RSS in MiB.
"""

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROWS = 4_000_000
FEATURES = 20


def path() -> Path:
    folder = Path(os.environ.get("NNC_BENCH_DIR", Path.home() / ".cache" / "nnc-bench"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"stream_train_{ROWS}x{FEATURES}.csv"


def generate(target: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    partial = target.with_suffix(".partial")
    cities = np.array(["north", "south", "east", "west"])
    with open(partial, "w") as f:
        f.write(",".join([f"x{i}" for i in range(FEATURES)] + ["city", "y"]) + "\n")
        block = 200_000
        for start in range(0, ROWS, block):
            x = rng.standard_normal((block, FEATURES))
            city = rng.integers(0, 4, block)
            score = x[:, :5].sum(axis=1) + 0.5 * (city == 0)
            y = np.where(score > 0, "yes", "no")
            lines = [
                ",".join(f"{v:.5f}" for v in row) + f",{cities[c]},{label}\n"
                for row, c, label in zip(x, city, y)
            ]
            f.write("".join(lines))
    partial.rename(target)


def scan(target: Path) -> None:
    import polars as pl

    numeric = [f"x{i}" for i in range(FEATURES)]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        lazy = pl.scan_csv(target)
        stats = lazy.select(
            [pl.col(c).count().alias(f"{c}_n") for c in numeric]
            + [pl.col(c).mean().alias(f"{c}_mean") for c in numeric]
            + [pl.col(c).std(ddof=0).alias(f"{c}_std") for c in numeric]
            + [pl.col(c).min().alias(f"{c}_min") for c in numeric]
            + [pl.col(c).max().alias(f"{c}_max") for c in numeric]
        ).collect(engine="streaming")
        cities = lazy.group_by("city").len().collect(engine="streaming")
        classes = lazy.group_by("y").len().collect(engine="streaming")
        assert stats.height == 1 and cities.height == 4 and classes.height == 2
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    size = target.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "mb_per_s": size / seconds / 1e6, "peak_rss_mib": peak}))


if __name__ == "__main__":
    target = path()
    if not target.exists():
        generate(target)
    if "--generate-only" in sys.argv:
        print(target)
    else:
        scan(target)
