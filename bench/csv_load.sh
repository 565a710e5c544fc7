#!/usr/bin/env bash
# CSV loading benchmark: nnc against pandas and polars on one ~128 MB numeric file.
#
# Needs a Python with numpy, pandas and polars, for example:
#
#   python3 -m venv ~/.cache/nnc-bench
#   ~/.cache/nnc-bench/bin/pip install numpy pandas polars
#   PYTHON=~/.cache/nnc-bench/bin/python bench/csv_load.sh
#
# The file (20,000 rows x 784 N(0,1) features as %.5g, plus a label column `y`) is generated on
# the first run into $NNC_BENCH_DIR (default ~/.cache/nnc-bench). nnc is built in release and run
# 3 times on a one-epoch model; its MB/s is file size / load_seconds (median), next to the median
# of 3 reads by pandas (dtype float32) and polars, all measured in this invocation.
set -euo pipefail

PYTHON=${PYTHON:-python3}
export NNC_BENCH_DIR=${NNC_BENCH_DIR:-$HOME/.cache/nnc-bench}
RUNS=3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$PYTHON" -c 'import numpy, pandas, polars' 2>/dev/null || {
    echo "error: $PYTHON lacks numpy, pandas or polars (see the top of $0)" >&2
    exit 1
}

echo "building nnc (release)..." >&2
cargo build --release --quiet
nnc="$root/target/release/nnc"

csv=$("$PYTHON" bench/csv_load.py --generate-only)
csv_dir=$(dirname "$csv")
model="$csv_dir/csv_load.nn"
cat >"$model" <<EOF
# Written by bench/csv_load.sh: the smallest model over the benchmark file.
data {
  path: "$(basename "$csv")"
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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq 1 "$RUNS"); do
    echo "nnc run $i/$RUNS..." >&2
    "$nnc" run "$model" --quiet --report "$work/nnc_$i.json" >/dev/null
done

echo "pandas and polars ($RUNS reads each)..." >&2
"$PYTHON" bench/csv_load.py --csv "$csv" --json >"$work/python.txt"

"$PYTHON" - "$work" "$RUNS" <<'EOF'
import json, platform, statistics, sys, datetime, os

work, runs = sys.argv[1], int(sys.argv[2])
py = json.loads(open(os.path.join(work, "python.txt")).read().strip().splitlines()[-1])
reports = [json.load(open(os.path.join(work, f"nnc_{i}.json"))) for i in range(1, runs + 1)]
size = py["file_bytes"]
load = statistics.median(r["load_seconds"] for r in reports)
rss = [r.get("peak_rss_mib") for r in reports]
data_mib = py["rows"] * py["columns"] * 4 / 2**20
goal = 2 * data_mib + 64

print(f"date: {datetime.date.today()}  machine: {os.cpu_count()} cores, {platform.machine()}")
print(f"file: {size / 1e6:.1f} MB, {py['rows']} rows x {py['columns']} columns")
print(f"f32 data: {data_mib:.1f} MiB; memory goal 2 x data + 64 MiB = {goal:.1f} MiB")
print()
print(f"{'reader':<8} {'median s':>9} {'MB/s':>8}  notes")
print(f"{'nnc':<8} {load:9.3f} {size / 1e6 / load:8.1f}  load_seconds "
      + " ".join(f"{r['load_seconds']:.3f}" for r in reports)
      + "; peak_rss_mib " + " ".join("-" if m is None else f"{m:.1f}" for m in rss))
for name in ("pandas", "polars"):
    p = py[name]
    print(f"{name:<8} {p['seconds']:9.3f} {p['mb_per_s']:8.1f}  {name} {p['version']}")
print()
peak = max((m for m in rss if m is not None), default=None)
if peak is not None:
    verdict = "within" if peak <= goal else "ABOVE"
    print(f"nnc peak RSS {peak:.1f} MiB: {verdict} the goal of {goal:.1f} MiB")
EOF
