#!/usr/bin/env bash
# Parquet loading benchmark: nnc reading the CSV benchmark file and the same rows as Parquet,
# beside polars reading the Parquet file, all in this invocation.
#
# Needs a Python with numpy and polars, for example:
#
#   python3 -m venv ~/.cache/nnc-bench
#   ~/.cache/nnc-bench/bin/pip install numpy pandas polars
#   PYTHON=~/.cache/nnc-bench/bin/python bench/parquet_load.sh
#
# The CSV file is bench/csv_load.py's (20,000 rows x 784 N(0,1) features as %.5g, plus `y`); the
# Parquet file is polars' `write_parquet` of it (zstd, polars' default), made beside it on the
# first run. nnc is run 3 times on each with a one-epoch model; rows/s is rows / load_seconds
# (median), polars' the median of 3 `read_parquet` calls.
set -euo pipefail

PYTHON=${PYTHON:-python3}
export NNC_BENCH_DIR=${NNC_BENCH_DIR:-$HOME/.cache/nnc-bench}
RUNS=3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$PYTHON" -c 'import numpy, polars' 2>/dev/null || {
    echo "error: $PYTHON lacks numpy or polars (see the top of $0)" >&2
    exit 1
}

echo "building nnc (release)..." >&2
cargo build --release --quiet
nnc="$root/target/release/nnc"

csv=$("$PYTHON" bench/csv_load.py --generate-only)
parquet="${csv%.csv}.parquet"
if [ ! -e "$parquet" ]; then
    "$PYTHON" -c 'import polars as pl, sys; pl.read_csv(sys.argv[1]).write_parquet(sys.argv[2])' \
        "$csv" "$parquet.partial"
    mv "$parquet.partial" "$parquet"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/load.nn" <<EOF
# Written by bench/parquet_load.sh: the smallest model over the benchmark file.
data {
  path: "$csv"
  target: "y"
}
model {
  input
  dense(16)
  output(activation: softmax)
}
loss: cross_entropy
train {
  epochs: 1
}
EOF

for i in $(seq 1 "$RUNS"); do
    for kind in csv parquet; do
        echo "nnc run on $kind $i/$RUNS..." >&2
        file=$csv
        [ "$kind" = parquet ] && file=$parquet
        "$nnc" run "$work/load.nn" --data "$file" --quiet --report "$work/${kind}_$i.json" \
            >/dev/null
    done
done

echo "polars read_parquet ($RUNS reads)..." >&2
"$PYTHON" - "$work" "$RUNS" "$csv" "$parquet" <<'EOF'
import datetime, json, os, platform, statistics, sys, time
import polars as pl

work, runs, csv, parquet = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
times = []
for _ in range(runs):
    started = time.perf_counter()
    frame = pl.read_parquet(parquet)
    times.append(time.perf_counter() - started)
rows = frame.height
polars_s = statistics.median(times)

print(f"date: {datetime.date.today()}  machine: {os.cpu_count()} cores, {platform.machine()}")
print(f"rows: {rows} x {frame.width} columns; CSV {os.path.getsize(csv) / 1e6:.1f} MB, "
      f"Parquet {os.path.getsize(parquet) / 1e6:.1f} MB")
print()
print(f"{'reader':<22} {'median s':>9} {'k rows/s':>9}  notes")
for kind in ("csv", "parquet"):
    reports = [json.load(open(os.path.join(work, f"{kind}_{i}.json"))) for i in range(1, runs + 1)]
    load = statistics.median(r["load_seconds"] for r in reports)
    rss = max(r.get("peak_rss_mib") or 0 for r in reports)
    print(f"{'nnc ' + kind:<22} {load:9.3f} {rows / load / 1e3:9.1f}  load_seconds "
          + " ".join(f"{r['load_seconds']:.3f}" for r in reports) + f"; peak RSS {rss:.1f} MiB")
print(f"{'polars read_parquet':<22} {polars_s:9.3f} {rows / polars_s / 1e3:9.1f}  polars {pl.__version__}")
EOF
