#!/usr/bin/env bash
# Training throughput of the five reference configurations (benches/models/*.nn), by the protocol
# of the peer benchmark (synthetic N(0,1) data, seed 0, whole batches, one warm-up epoch, median
# of 5 timed epochs), printed as one table.
#
# With a peer environment, the JAX figures (whole epoch compiled, `jax_scan`) are measured in the
# same invocation and printed beside nnc's:
#
#   PEER_BENCH=path/to/bench_train.py PYTHON=path/to/venv/bin/python benches/run.sh
#
# Without it, nnc's figures alone.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
echo "building nnc (release)..." >&2
cargo build --release --quiet
nnc="$root/target/release/nnc"

declare -A samples=([tiny]=15000 [small]=60000 [medium]=60000 [large]=20000 [regression]=50000)
configs=(tiny regression small medium large)

jax=""
if [[ -n "${PEER_BENCH:-}" && -f "${PEER_BENCH}" ]]; then
    jax=$(mktemp)
    echo "measuring JAX (jax_scan)..." >&2
    (cd "$(dirname "$PEER_BENCH")" && "${PYTHON:-python3}" "$PEER_BENCH" --frameworks jax_scan \
        --configs "$(IFS=,; echo "${configs[*]}")" --json "$jax" >/dev/null 2>&1) || {
        echo "warning: the peer benchmark failed; printing nnc alone" >&2
        jax=""
    }
fi

printf "%-11s %10s %14s %9s %14s %10s" config compile_ms samples/s GFLOP/s eval_samples/s peak_MiB
[[ -n "$jax" ]] && printf " %14s %9s" "JAX samples/s" "nnc/JAX"
echo
for c in "${configs[@]}"; do
    line=$("$nnc" bench "benches/models/$c.nn" --samples "${samples[$c]}" --json)
    read -r compile sps gflops eval rss < <(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print(r["compile_ms"], r["samples_per_second"], r["gflops"], r["eval_samples_per_second"], r["peak_rss_mib"])
' "$line")
    printf "%-11s %10.1f %14.0f %9.2f %14.0f %10.0f" "$c" "$compile" "$sps" "$gflops" "$eval" "$rss"
    if [[ -n "$jax" ]]; then
        j=$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("config") == sys.argv[2] and "samples_per_s" in r]
print(rows[-1]["samples_per_s"] if rows else 0)
' "$jax" "$c")
        python3 -c 'import sys; j=float(sys.argv[2]); print(" %14.0f %9s" % (j, "%.2f" % (float(sys.argv[1]) / j) if j else "-"), end="")' "$sps" "$j"
    fi
    echo
done
