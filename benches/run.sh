#!/usr/bin/env bash
# Training throughput of the five reference configurations (benches/models/*.nn), by the protocol
# of the peer benchmark (synthetic N(0,1) data, seed 0, whole batches, one warm-up epoch, median
# of 5 timed epochs), printed as one table.
#
# With a peer environment, the JAX figures (whole epoch compiled, `jax_scan`) are measured in the
# same invocation, interleaved with nnc's config by config (nnc, JAX, nnc, JAX, ... ROUNDS times),
# so that the slow drifts of a shared machine fall on both; each column is the best of its rounds:
#
#   PEER_BENCH=path/to/bench_train.py PYTHON=path/to/venv/bin/python benches/run.sh
#
# Without it, nnc's figures alone. ROUNDS (default 2) sets the rounds per config. The step is
# measured without the training statistics (`--no-monitor`), since the peers compute none: the
# same work on both sides; MONITOR=1 measures it with them (nnc's default).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
echo "building nnc (release)..." >&2
cargo build --release --quiet
nnc="$root/target/release/nnc"
rounds=${ROUNDS:-2}
monitor=--no-monitor
[[ "${MONITOR:-0}" == 1 ]] && monitor=--monitor

declare -A samples=([tiny]=15000 [small]=60000 [medium]=60000 [large]=20000 [regression]=50000)
configs=(tiny regression small medium large)

peer=""
if [[ -n "${PEER_BENCH:-}" && -f "${PEER_BENCH}" ]]; then
    peer="$PEER_BENCH"
fi

# One JAX measurement of config $1: its samples/s, or nothing if the peer failed.
jax_once() {
    local out
    out=$(mktemp)
    if (cd "$(dirname "$peer")" && "${PYTHON:-python3}" "$peer" --frameworks jax_scan \
        --configs "$1" --json "$out" >/dev/null 2>&1); then
        python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("config") == sys.argv[2] and "samples_per_s" in r]
print(rows[-1]["samples_per_s"] if rows else "")
' "$out" "$1"
    fi
    rm -f "$out"
}

printf "%-11s %10s %8s %14s %9s %14s %10s" config compile_ms init_ms samples/s GFLOP/s eval_samples/s peak_MiB
[[ -n "$peer" ]] && printf " %14s %9s" "JAX samples/s" "nnc/JAX"
echo
for c in "${configs[@]}"; do
    best="" jax_best=0
    for ((r = 0; r < rounds; r++)); do
        echo "  $c: nnc, round $((r + 1)) of $rounds" >&2
        line=$("$nnc" bench "benches/models/$c.nn" --samples "${samples[$c]}" --json "$monitor")
        best=$(python3 -c '
import json, sys
new = json.loads(sys.argv[1])
old = json.loads(sys.argv[2]) if sys.argv[2] else None
print(json.dumps(new if old is None or new["samples_per_second"] > old["samples_per_second"] else old))
' "$line" "$best")
        if [[ -n "$peer" ]]; then
            echo "  $c: JAX, round $((r + 1)) of $rounds" >&2
            j=$(jax_once "$c")
            [[ -n "$j" ]] && jax_best=$(python3 -c 'import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))' "$jax_best" "$j")
        fi
    done
    python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print("%-11s %10.1f %8.1f %14.0f %9.2f %14.0f %10.0f" % (sys.argv[2], r["compile_ms"], r["init_ms"],
      r["samples_per_second"], r["gflops"], r["eval_samples_per_second"], r["peak_rss_mib"]), end="")
if sys.argv[3] == "1":
    j = float(sys.argv[4])
    print(" %14.0f %9s" % (j, "%.2f" % (r["samples_per_second"] / j) if j else "-"), end="")
print()
' "$best" "$c" "$([[ -n "$peer" ]] && echo 1 || echo 0)" "$jax_best"
done
