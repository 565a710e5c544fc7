#!/usr/bin/env bash
# Fuzzing harnesses of nnc (fuzz/README.md).
#
#   fuzz/run.sh replay                  build the harnesses plainly and run each on its seed
#                                       corpus (and on what earlier campaigns kept): seconds; CI
#   fuzz/run.sh campaign SECONDS [T..]  build them instrumented for AFL++ (Debian's afl++: its
#                                       afl-fuzz and afl-compiler-rt.o) and fuzz each target T
#                                       (default: all) for SECONDS, two at a time; prints the
#                                       executions, paths and crashes of each
#
# Seeds come from the repository (examples, test models, data, IR printed by nnc, framed language
# server sessions) into fuzz/corpus/<target>/, which git ignores; findings go to fuzz/findings/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
targets_all=(nn ir csv fmt lsp saved)

seed() {
    local corpus="$here/corpus"
    mkdir -p "$corpus"/{nn,ir,csv,fmt,lsp,saved}
    local nnc="$root/target/release/nnc"
    (cd "$root" && cargo build --release --quiet --bin nnc)
    local f n
    for f in "$root"/examples/*.nn "$root"/tests/models/*.nn "$root"/benches/models/*.nn; do
        n=$(basename "$(dirname "$f")")_$(basename "$f")
        cp "$f" "$corpus/nn/$n"
        cp "$f" "$corpus/fmt/$n"
    done
    for f in "$root"/examples/*.nn; do
        n=$(basename "$f" .nn)
        (cd "$root" && "$nnc" ir "examples/$n.nn" > "$corpus/ir/${n}_forward.ir" 2>/dev/null) || true
        (cd "$root" && "$nnc" ir --grad "examples/$n.nn" > "$corpus/ir/${n}_grad.ir" 2>/dev/null) || true
    done
    for f in "$root"/examples/data/*.csv; do
        head -n 12 "$f" > "$corpus/csv/$(basename "$f")"
    done
    printf 'a,b,label\n1.5,2,x\n-3,4e1,y\n5,.6,x\n7,8,y\n0.5,1,x\n2,3,y\n' > "$corpus/csv/small.csv"
    printf 'a;b;label\r\n1,5;2;x\r\n"3";;y\r\n' > "$corpus/csv/semicolon.csv"
    # Language server sessions: open a document, ask for what an editor asks, shut down.
    local uri="file:///tmp/fuzz/model.nn"
    local text='"data {\n  path: \"data.csv\"\n  target: \"y\"\n}\nmodel {\n  input(4)\n  dense(8, activation: relu)  # hidden\n  output(3, activation: softmax)\n}\nloss: cross_entropy\noptimizer: adam(learning_rate: 0.01)\ntrain {\n  epochs: 3\n}\n"'
    frame() { printf 'Content-Length: %d\r\n\r\n%s' "$(printf '%s' "$1" | wc -c)" "$1"; }
    {
        frame '{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"'$uri'","languageId":"nn","version":1,"text":'"$text"'}}}'
        frame '{"jsonrpc":"2.0","id":1,"method":"textDocument/completion","params":{"textDocument":{"uri":"'$uri'"},"position":{"line":9,"character":3}}}'
        frame '{"jsonrpc":"2.0","id":2,"method":"textDocument/hover","params":{"textDocument":{"uri":"'$uri'"},"position":{"line":8,"character":4}}}'
        frame '{"jsonrpc":"2.0","id":3,"method":"textDocument/documentSymbol","params":{"textDocument":{"uri":"'$uri'"}}}'
        frame '{"jsonrpc":"2.0","id":4,"method":"textDocument/formatting","params":{"textDocument":{"uri":"'$uri'"},"options":{"tabSize":2,"insertSpaces":true}}}'
        frame '{"jsonrpc":"2.0","id":5,"method":"textDocument/definition","params":{"textDocument":{"uri":"'$uri'"},"position":{"line":8,"character":4}}}'
        frame '{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"uri":"'$uri'","version":2},"contentChanges":[{"text":"model {\n  input(4)\n  dense(3\n}\n"}]}}'
        frame '{"jsonrpc":"2.0","id":6,"method":"shutdown"}'
        frame '{"jsonrpc":"2.0","method":"exit"}'
    } > "$corpus/lsp/session.lsp"
    # A saved model: the first byte picks the file the rest replaces.
    local saved
    saved=$(mktemp -d)
    (cd "$root" && "$nnc" run examples/iris.nn --epochs 2 --quiet --out "$saved/model" > /dev/null 2>&1)
    local i=0
    for f in preprocessing.json model.nn model.safetensors nnc-model.json; do
        { printf "\\x0$i"; cat "$saved/model/$f"; } > "$corpus/saved/$f"
        i=$((i + 1))
    done
    rm -rf "$saved"
}

case "${1:-}" in
replay)
    seed
    (cd "$here" && cargo build --release --quiet)
    for t in "${targets_all[@]}"; do
        shopt -s nullglob
        inputs=("$here/corpus/$t"/* "$here/findings/$t"/default/queue/id:* "$here/regressions/$t"/*)
        echo "$t: ${#inputs[@]} inputs"
        "$here/target/release/$t" "${inputs[@]}"
    done
    ;;
campaign)
    seconds=${2:?seconds per target}
    shift 2
    targets=("${@:-${targets_all[@]}}")
    [[ $# -eq 0 ]] && targets=("${targets_all[@]}")
    command -v afl-fuzz > /dev/null || { echo "afl-fuzz not found: apt-get install afl++" >&2; exit 1; }
    runtime=$(ls /usr/lib/afl/afl-compiler-rt.o 2>/dev/null || true)
    [[ -n "$runtime" ]] || { echo "afl-compiler-rt.o not found (Debian's afl++)" >&2; exit 1; }
    seed
    echo "building the instrumented harnesses..." >&2
    (cd "$here" && RUSTFLAGS="-C passes=sancov-module -C llvm-args=-sanitizer-coverage-level=3 \
        -C llvm-args=-sanitizer-coverage-trace-pc-guard -C llvm-args=-sanitizer-coverage-prune-blocks=0 \
        -C link-arg=$runtime" cargo build --release --quiet --features afl --target-dir "$here/target-afl")
    export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_PERSISTENT=1 AFL_DEFER_FORKSRV=1
    run_one() {
        local t=$1 out="$here/findings/$1"
        local resume=()
        [[ -d "$out/default" ]] && resume=(-i -) || resume=(-i "$here/corpus/$t")
        mkdir -p "$out"
        timeout --signal=INT $((seconds + 30)) afl-fuzz "${resume[@]}" -o "$out" -V "$seconds" -m none -t 2000 \
            -- "$here/target-afl/release/$t" > "$out/afl.log" 2>&1 || true
        awk -v t="$t" -F' *: *' '/^execs_done|^corpus_count|^saved_crashes|^saved_hangs|^bitmap_cvg|^run_time/ {printf "%s %s=%s ", t, $1, $2} END {print ""}' "$out/default/fuzzer_stats"
    }
    pids=()
    for t in "${targets[@]}"; do
        run_one "$t" &
        pids+=($!)
        if (( ${#pids[@]} == 2 )); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    done
    wait
    ;;
*)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
