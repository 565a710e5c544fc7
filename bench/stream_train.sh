#!/usr/bin/env bash
# Training on a file larger than the memory the run may use: nnc streaming a 715 MB CSV under
# `memory_limit: "128 MiB"`, beside the same model trained with the file in memory, and polars'
# streaming scan of the file computing the same statistics as nnc's first pass, all in this
# invocation.
#
# Needs a Python with numpy and polars, for example:
#
#   python3 -m venv ~/.cache/nnc-bench
#   ~/.cache/nnc-bench/bin/pip install numpy pandas polars
#   PYTHON=~/.cache/nnc-bench/bin/python bench/stream_train.sh
#
# nnc is run RUNS times (default 3) each way with `--report`; the table gives the median of its
# `load_seconds` (the passes over the file: statistics, then the prepared rows written out) as
# MB/s, its training samples/s and its peak RSS.
set -euo pipefail

PYTHON=${PYTHON:-python3}
export NNC_BENCH_DIR=${NNC_BENCH_DIR:-$HOME/.cache/nnc-bench}
RUNS=${RUNS:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$PYTHON" -c 'import numpy, polars' 2>/dev/null || {
    echo "error: $PYTHON lacks numpy or polars (see the top of $0)" >&2
    exit 1
}

echo "building nnc (release)..." >&2
cargo build --release --quiet
nnc="$root/target/release/nnc"
csv=$("$PYTHON" bench/stream_train.py --generate-only)
size=$(stat -c %s "$csv")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/train.nn" <<EOF2
# Written by bench/stream_train.sh.
data {
  path: "$csv"
  target: "y"
}
model {
  input
  dense(32, activation: relu)
  output(activation: softmax)
}
loss: cross_entropy
optimizer: adam(learning_rate: 0.001)
train {
  epochs: 2
  batch_size: 128
}
EOF2

# One line per way: MB/s of loading, training samples/s, peak MiB (medians).
measure() {
    local limit=$1
    for ((r = 0; r < RUNS; r++)); do
        "$nnc" run "$work/train.nn" --quiet --memory-limit "$limit" --report "$work/r.json" >/dev/null
        python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["load_seconds"], r["samples_per_second"], r["peak_rss_mib"], "streamed" in r)
' "$work/r.json"
    done | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin]
med = lambda i: statistics.median(float(r[i]) for r in rows)
print(f"{float(sys.argv[1]) / med(0) / 1e6:.1f} {med(1):.0f} {med(2):.1f} {rows[0][3]}")
' "$size"
}

echo "  nnc streamed (128 MiB)..." >&2
streamed=$(measure 128MiB)
echo "  nnc in memory..." >&2
memory=$(measure 64GiB)
echo "  polars scan..." >&2
polars=$("$PYTHON" bench/stream_train.py)

printf "%-22s %10s %16s %10s\n" way load_MB/s train_samples/s peak_MiB
read -r mbs sps peak streamed <<<"$streamed"
[[ "$streamed" == True ]] || echo "warning: the 128 MiB run did not stream" >&2
printf "%-22s %10s %16s %10s\n" "nnc streamed, 128 MiB" "$mbs" "$sps" "$peak"
read -r mbs sps peak streamed <<<"$memory"
printf "%-22s %10s %16s %10s\n" "nnc in memory" "$mbs" "$sps" "$peak"
python3 -c '
import json, sys
p = json.loads(sys.argv[1])
print("%-22s %10.1f %16s %10.1f" % ("polars scan_csv", p["mb_per_s"], "-", p["peak_rss_mib"]))
' "$polars"
