#!/usr/bin/env bash
# usage: scripts/bench.sh   (knobs are environment variables, see below; e.g.
#        SKIP_CRITERION=1 SKIP_FANOUT=1 ROUNDS=2 scripts/bench.sh)
#
# Measures wsx against other Rust WebSocket libraries with the project's own harness, so it
# works from a fresh clone: the load generator is `wsx bench` (crates/wsx-cli) and the peers'
# echo servers are the benchmark-only workspace bench/ (tokio-tungstenite, fastwebsockets,
# tokio-websockets, raw TCP). Writes docs/PERFORMANCE.md and docs/perf-chart.svg
# (scripts/perf_report.py). Steps:
#   a. the echo matrix (scripts/bench_matrix.sh: idle memory + echo throughput, pipeline 1)
#      with two wsx contestants beside the four peers: `wsx` (echo_server's event API, the
#      default) and `wsx-stream` (echo_server --stream, the low-level WebSocket<S> path), all on
#      one current-thread runtime, server pinned to SERVER_CPU, load to CLIENT_CPU;
#   b. a pipelined run (PIPELINE=16, 64 connections, 16 B and 1 KiB, no idle test), for
#      messages per server-core-second;
#   c. the criterion micro-benchmarks (cargo bench -p wsx --bench core, and --bench deflate);
#   d. the fan-out benchmark (examples/fanout.rs: one broadcast to 10,000 clients, 5 rounds);
#   f. when ../shared/bench (the outside yardstick) is present: instructions per echoed message
#      under callgrind (scripts/bench_instr.sh, the yardstick's instr.sh method with an exact
#      message count) for wsx, wsx-stream (both --no-deflate), fastwebsockets, tokio-websockets
#      and raw TCP, 16 B and 1 KiB x 64 connections (INSTR_SIZES, INSTR_CONNS; SKIP_INSTR=1 skips;
#      needs valgrind);
#   e. only with CROSSCHECK=1 and when ../shared/bench (the outside yardstick) is present:
#      `wsx bench` and the yardstick's wsload take turns on the same wsx echo server, cell by
#      cell, and in the idle-memory test (scripts/bench_crosscheck.sh), to show the two load
#      generators agree; CROSSCHECK_MATRIX=1 also runs the
#      yardstick's own matrix (its run.sh) with the wsx contestants.
# Raw results go to target/bench/{matrix,pipeline,criterion,fanout,crosscheck,instr}-<timestamp>/.
#
# Knobs:
#   SKIP_MATRIX=1 SKIP_PIPELINE=1 SKIP_CRITERION=1 SKIP_FANOUT=1   skip a step; the report then
#       uses the newest earlier result of that step in target/bench (REUSE=0: leave it out)
#   ROUNDS (3), DURATION (5), WARMUP (1), SIZES ("16 1024 65536"), CONNS ("1 64 512"),
#   IDLE_CONNS (10000), IDLE_ROUNDS (3), IDLE_HOLD (2), OPCODE (binary), LOCK (/tmp/cpu.lock),
#   SERVER_CPU (0), CLIENT_CPU (1), BASE_PORT, START_TIMEOUT   the matrix (scripts/bench_matrix.sh)
#   PIPE_DEPTH (16), PIPE_SIZES ("16 1024"), PIPE_CONNS (64)   the pipelined run (same ROUNDS,
#       DURATION, WARMUP)
#   CRITERION_ARGS   extra arguments for criterion, e.g. "--measurement-time 1"
#   FANOUT_CLIENTS (10000), FANOUT_ROUNDS (5), FANOUT_SIZE (64)
#   SKIP_INSTR (0), INSTR_SIZES ("16 1024"), INSTR_CONNS (64)   step f (YARDSTICK, YARD_TARGET as e)
#   CROSSCHECK (0), CROSSCHECK_ROUNDS (3), CROSSCHECK_IDLE_CONNS (2000), CROSSCHECK_IDLE_ROUNDS (2),
#       CROSSCHECK_MATRIX (0), YARDSTICK (../shared/bench),
#       YARD_TARGET (/tmp/wsbench-target)   step e
#   REPORT_DIR (docs)   where PERFORMANCE.md and perf-chart.svg go
#   BENCH_OUT (target/bench)   where raw results go
# Everything runs on loopback; every load is bounded in time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WSX_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
REL=$WSX_TARGET/release
EX=$REL/examples
WSX=$REL/wsx
BENCH_OUT=${BENCH_OUT:-$ROOT/target/bench}
REPORT_DIR=${REPORT_DIR:-$ROOT/docs}
REUSE=${REUSE:-1}
TS=$(date +%Y%m%d-%H%M%S)
LOCK=${LOCK-/tmp/cpu.lock}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
export ROUNDS=${ROUNDS:-3}
export LOCK SERVER_CPU CLIENT_CPU WSX

log() { printf '[%(%H:%M:%S)T] bench.sh: %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
locked() { if [ -n "$LOCK" ]; then flock "$LOCK" "$@"; else "$@"; fi; }
# newest DIR/PREFIX-* (a finished earlier result), or nothing
newest() { find "$BENCH_OUT" -maxdepth 1 -name "$1-*" 2>/dev/null | sort | tail -n 1; }

# 10,000 idle connections need 10,000 descriptors in the server and as many in the load
# generator (each process has its own limit). Raise the hard limit if we may (root with
# CAP_SYS_RESOURCE), else use the hard limit as it is.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open files limit: $(ulimit -n) (hard $(ulimit -Hn))"

mkdir -p "$BENCH_OUT"
META=$BENCH_OUT/meta-$TS.txt
{
    echo "command: $0 $*"
    env | grep -E '^(SKIP_[A-Z]+|ROUNDS|DURATION|WARMUP|SIZES|CONNS|IDLE_[A-Z]+|OPCODE|PIPE_[A-Z]+|CRITERION_ARGS|FANOUT_[A-Z]+|CROSSCHECK[A-Z_]*|SERVER_CPU|CLIENT_CPU|LOCK)=' | sort | sed 's/^/env: /' || true
    echo "date: $(date -Is)"
    echo "host: $(uname -srm), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "rustc: $(rustc -V)"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "open files limit: $(ulimit -n)"
} >"$META"

# ---------------------------------------------------------------- build
log "building wsx examples, the wsx tool and the peers' echo servers (release)"
(cd "$ROOT" && CARGO_TARGET_DIR=$WSX_TARGET cargo build --release -p wsx -p wsx-cli --examples --bins --quiet)
(cd "$ROOT/bench" && CARGO_TARGET_DIR=$WSX_TARGET cargo build --release --quiet)
for bin in "$WSX" "$EX/echo_server" "$REL/echo-tungstenite" "$REL/echo-fastwebsockets" \
    "$REL/echo-tokio-websockets" "$REL/echo-raw"; do
    [ -x "$bin" ] || die "$bin missing after the build"
done

# Until echo_server has --stream, wsx-stream runs the same code as wsx (noted in the report).
STREAM_FLAG=--stream
if ! "$EX/echo_server" --help 2>&1 | grep -q -- --stream; then
    STREAM_FLAG=''
    log "warning: echo_server has no --stream flag yet; wsx-stream runs its default path"
    echo "note: echo_server had no --stream flag: wsx-stream ran the same code as wsx" >>"$META"
fi
WSX_SERVER="$EX/echo_server --addr 127.0.0.1:{PORT} --threads 1"
CONTESTANTS=(
    "wsx=$WSX_SERVER"
    "wsx-stream=$WSX_SERVER${STREAM_FLAG:+ $STREAM_FLAG}"
    "tungstenite=$REL/echo-tungstenite --addr 127.0.0.1:{PORT}"
    "fastwebsockets=$REL/echo-fastwebsockets --addr 127.0.0.1:{PORT}"
    "tokio-websockets=$REL/echo-tokio-websockets --addr 127.0.0.1:{PORT}"
    "raw:raw=$REL/echo-raw --addr 127.0.0.1:{PORT}"
)

MATRIX_DIR='' PIPE_DIR='' CRIT_DIR='' FANOUT_FILE='' CROSS_DIR='' INSTR_DIR=''

# ---------------------------------------------------------------- a. matrix
if [ "${SKIP_MATRIX:-0}" = 1 ]; then
    if [ "$REUSE" = 1 ]; then MATRIX_DIR=$(newest matrix); fi
    if [ -n "$MATRIX_DIR" ]; then echo "note: matrix results reused from $MATRIX_DIR" >>"$META"; fi
else
    MATRIX_DIR=$BENCH_OUT/matrix-$TS
    log "a. matrix -> $MATRIX_DIR"
    OUT=$MATRIX_DIR "$ROOT/scripts/bench_matrix.sh" "${CONTESTANTS[@]}"
fi

# ---------------------------------------------------------------- b. pipelined
if [ "${SKIP_PIPELINE:-0}" = 1 ]; then
    if [ "$REUSE" = 1 ]; then PIPE_DIR=$(newest pipeline); fi
    if [ -n "$PIPE_DIR" ]; then echo "note: pipeline results reused from $PIPE_DIR" >>"$META"; fi
else
    PIPE_DIR=$BENCH_OUT/pipeline-$TS
    log "b. pipelined run -> $PIPE_DIR"
    OUT=$PIPE_DIR PIPELINE=${PIPE_DEPTH:-16} CONNS=${PIPE_CONNS:-64} SIZES=${PIPE_SIZES:-"16 1024"} \
        IDLE_ROUNDS=0 "$ROOT/scripts/bench_matrix.sh" "${CONTESTANTS[@]}"
fi

# ---------------------------------------------------------------- c. criterion
if [ "${SKIP_CRITERION:-0}" = 1 ]; then
    if [ "$REUSE" = 1 ]; then CRIT_DIR=$(newest criterion); fi
    if [ -n "$CRIT_DIR" ]; then echo "note: criterion results reused from $CRIT_DIR" >>"$META"; fi
else
    CRIT_DIR=$BENCH_OUT/criterion-$TS
    mkdir -p "$CRIT_DIR"
    benches=(core)
    if grep -q '^name = "deflate"' "$ROOT/crates/wsx/Cargo.toml"; then benches+=(deflate); fi
    read -r -a crit_args <<<"${CRITERION_ARGS:-}"
    for b in "${benches[@]}"; do
        log "c. criterion bench $b -> $CRIT_DIR/$b.txt"
        (cd "$ROOT" && CARGO_TARGET_DIR=$WSX_TARGET cargo bench -p wsx --bench "$b" --no-run --quiet)
        # Pinned to the server core, under the same lock as the yardstick's runs.
        (cd "$ROOT" && CARGO_TARGET_DIR=$WSX_TARGET locked taskset -c "$SERVER_CPU" \
            cargo bench -p wsx --bench "$b" --quiet -- "${crit_args[@]}") \
            >"$CRIT_DIR/$b.txt" 2>"$CRIT_DIR/$b.err" \
            || die "cargo bench --bench $b failed; see $CRIT_DIR/$b.err"
    done
fi

# ---------------------------------------------------------------- d. fan-out
if [ "${SKIP_FANOUT:-0}" = 1 ]; then
    if [ "$REUSE" = 1 ]; then FANOUT_FILE=$(newest fanout)/fanout.json; fi
    if [ ! -s "$FANOUT_FILE" ]; then FANOUT_FILE=''; fi
    if [ -n "$FANOUT_FILE" ]; then echo "note: fan-out results reused from $FANOUT_FILE" >>"$META"; fi
else
    FDIR=$BENCH_OUT/fanout-$TS
    mkdir -p "$FDIR"
    FANOUT_FILE=$FDIR/fanout.json
    clients=${FANOUT_CLIENTS:-10000}
    log "d. fan-out: $clients clients, ${FANOUT_ROUNDS:-5} rounds -> $FANOUT_FILE"
    # The server and the clients are two processes (each needs ~$clients descriptors), the
    # server pinned to the server core, the clients to the client core.
    taskset -c "$SERVER_CPU" "$EX/fanout" --role server --addr 127.0.0.1:0 --timeout 300 \
        >"$FDIR/server.out" 2>"$FDIR/server.log" &
    FPID=$!
    trap 'kill "$FPID" 2>/dev/null || true' EXIT
    url=''
    for _ in $(seq 200); do
        url=$(sed -n 's/^listening //p' "$FDIR/server.out")
        [ -n "$url" ] && break
        kill -0 "$FPID" 2>/dev/null || die "fanout server exited; see $FDIR/server.log"
        sleep 0.05
    done
    [ -n "$url" ] || die "fanout server did not start; see $FDIR/server.log"
    locked taskset -c "$CLIENT_CPU" "$EX/fanout" --role clients --url "$url" --clients "$clients" \
        --rounds "${FANOUT_ROUNDS:-5}" --size "${FANOUT_SIZE:-64}" --timeout 240 \
        >"$FANOUT_FILE" 2>"$FDIR/clients.log" \
        || log "fanout clients failed; see $FDIR/clients.log"
    # After `quit` the server closes every connection and exits by itself.
    for _ in $(seq 400); do kill -0 "$FPID" 2>/dev/null || break; sleep 0.05; done
    if kill "$FPID" 2>/dev/null; then log "fanout server did not exit after quit; stopped it"; fi
    wait "$FPID" 2>/dev/null || true
    trap - EXIT
    if [ ! -s "$FANOUT_FILE" ]; then FANOUT_FILE=''; fi
fi

# ---------------------------------------------------------------- e. cross-check
YARDSTICK=${YARDSTICK:-$ROOT/../shared/bench}
if [ "${CROSSCHECK:-0}" = 1 ]; then
    if [ ! -x "$YARDSTICK/run.sh" ]; then
        log "e. CROSSCHECK=1 but no yardstick at $YARDSTICK: skipped"
        echo "note: cross-check asked for, but $YARDSTICK is absent" >>"$META"
    else
        YARDSTICK=$(cd "$YARDSTICK" && pwd)
        YARD_TARGET=${YARD_TARGET:-/tmp/wsbench-target}
        need=(wsload)
        if [ "${CROSSCHECK_MATRIX:-0}" = 1 ]; then
            need+=(echo-tungstenite echo-fastwebsockets echo-tokio-websockets echo-raw)
        fi
        missing=0
        for bin in "${need[@]}"; do [ -x "$YARD_TARGET/release/$bin" ] || missing=1; done
        if [ "$missing" = 1 ]; then
            log "e. building the yardstick into $YARD_TARGET"
            (cd "$YARDSTICK" && CARGO_TARGET_DIR=$YARD_TARGET cargo build --release --workspace --quiet)
        fi
        CROSS_DIR=$BENCH_OUT/crosscheck-$TS
        log "e. cross-check: wsx bench vs the yardstick's wsload on one wsx echo server -> $CROSS_DIR"
        OUT=$CROSS_DIR WSLOAD=$YARD_TARGET/release/wsload ROUNDS=${CROSSCHECK_ROUNDS:-3} \
            IDLE_CONNS=${CROSSCHECK_IDLE_CONNS:-2000} IDLE_ROUNDS=${CROSSCHECK_IDLE_ROUNDS:-2} \
            SERVER_CMD="$WSX_SERVER" "$ROOT/scripts/bench_crosscheck.sh"
        if [ "${CROSSCHECK_MATRIX:-0}" = 1 ]; then
            log "e. the yardstick's own matrix with the wsx contestants -> $CROSS_DIR/yardstick"
            OUT=$CROSS_DIR/yardstick BUILD=0 CARGO_TARGET_DIR=$YARD_TARGET \
                "$YARDSTICK/run.sh" default "${CONTESTANTS[0]}" "${CONTESTANTS[1]}" >/dev/null
            echo "note: the yardstick's matrix of the same contestants: $CROSS_DIR/yardstick/summary.md" >>"$META"
        fi
    fi
fi

# ---------------------------------------------------------------- f. instructions per message
if [ "${SKIP_INSTR:-0}" = 1 ]; then
    if [ "$REUSE" = 1 ]; then INSTR_DIR=$(newest instr); fi
    if [ -n "$INSTR_DIR" ]; then echo "note: instruction counts reused from $INSTR_DIR" >>"$META"; fi
elif [ ! -x "$YARDSTICK/instr.sh" ]; then
    log "f. no yardstick at $YARDSTICK: instructions per message skipped"
elif ! command -v valgrind >/dev/null; then
    log "f. valgrind not found: instructions per message skipped"
    echo "note: instructions per message skipped (no valgrind)" >>"$META"
else
    YARDSTICK=$(cd "$YARDSTICK" && pwd)
    YARD_TARGET=${YARD_TARGET:-/tmp/wsbench-target}
    YB=$YARD_TARGET/release
    missing=0
    for bin in wsload echo-fastwebsockets echo-tokio-websockets echo-raw; do
        [ -x "$YB/$bin" ] || missing=1
    done
    if [ "$missing" = 1 ]; then
        log "f. building the yardstick into $YARD_TARGET"
        (cd "$YARDSTICK" && CARGO_TARGET_DIR=$YARD_TARGET cargo build --release --workspace --quiet)
    fi
    INSTR_DIR=$BENCH_OUT/instr-$TS
    mkdir -p "$INSTR_DIR"
    log "f. instructions per message under callgrind -> $INSTR_DIR/instr.tsv"
    WSX_PLAIN="$EX/echo_server --addr 127.0.0.1:{PORT} --threads 1 --no-deflate"
    for size in ${INSTR_SIZES:-16 1024}; do
        # The yardstick's servers, as in its own instr.sh runs; callgrind runs one thread.
        OUT=$INSTR_DIR/instr.tsv WSLOAD=$YB/wsload locked "$ROOT/scripts/bench_instr.sh" \
            "$size" "${INSTR_CONNS:-64}" \
            "fastwebsockets=$YB/echo-fastwebsockets {PORT}" \
            "tokio-websockets=$YB/echo-tokio-websockets {PORT}" \
            "raw:raw=$YB/echo-raw {PORT}" \
            "wsx-stream=$WSX_PLAIN --stream" "wsx=$WSX_PLAIN" >&2
    done
fi

# ---------------------------------------------------------------- report
mkdir -p "$REPORT_DIR"
args=(--meta "$META" --out "$REPORT_DIR/PERFORMANCE.md" --chart "$REPORT_DIR/perf-chart.svg")
if [ -n "$MATRIX_DIR" ]; then args+=(--matrix "$MATRIX_DIR"); fi
if [ -n "$PIPE_DIR" ]; then args+=(--pipeline "$PIPE_DIR"); fi
if [ -n "$CRIT_DIR" ]; then args+=(--criterion "$CRIT_DIR"); fi
if [ -n "$FANOUT_FILE" ]; then args+=(--fanout "$FANOUT_FILE"); fi
if [ -n "$CROSS_DIR" ]; then args+=(--crosscheck "$CROSS_DIR"); fi
if [ -n "$INSTR_DIR" ]; then args+=(--instr "$INSTR_DIR"); fi
python3 "$ROOT/scripts/perf_report.py" "${args[@]}"
log "wrote $REPORT_DIR/PERFORMANCE.md and $REPORT_DIR/perf-chart.svg (raw results in $BENCH_OUT)"
