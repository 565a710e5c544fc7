#!/usr/bin/env bash
# Whether training slows down as it goes: `nnc run benches/drift.nn` (400 epochs on the shipped
# diabetes data) with a report, then the median epoch time of the first and of the last 40 epochs
# and their ratio. A ratio near 1 is flat; subnormal numbers, unflushed, made it about 9 on a Xeon.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
echo "building nnc (release)..." >&2
cargo build --release --quiet
report=$(mktemp)
trap 'rm -f "$report"' EXIT
target/release/nnc run benches/drift.nn --quiet --report "$report" >/dev/null
python3 - "$report" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
s = [e["seconds"] for e in r["history"]]
k = max(1, len(s) // 10)
first, last = statistics.median(s[:k]), statistics.median(s[-k:])
print(f"{len(s)} epochs; median epoch of the first {k}: {first * 1e3:.2f} ms, "
      f"of the last {k}: {last * 1e3:.2f} ms; last / first = {last / first:.2f}")
PY
