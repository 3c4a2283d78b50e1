#!/usr/bin/env bash
# usage: scripts/fanout_cpu.sh   (knobs are environment variables, below; e.g.
#        SIZES="300 600" RUNS=1 scripts/fanout_cpu.sh)
#
# Server CPU per broadcast delivery against the number of clients, for three servers that
# write the same kind of frame to every client (issue 25, target 1):
#   raw     bench/'s fanout-raw: the WebSocket handshake, then the same frame bytes written to
#           every socket, nothing else (the floor);
#   wsx     examples/fanout --role server: wsx::Server::broadcast;
#   wsx-sio examples/sio_demo: the Socket.IO `broadcast` event, emitted to every socket of `/`.
# CPU per delivery is the server process's user + system time (/proc/PID/stat) after ROUNDS
# rounds minus after WARMUP rounds, divided by (ROUNDS - WARMUP) x clients: the connection
# set-up is left out. raw and wsx are driven by bench/'s fanout-load (hand-written clients),
# wsx-sio by examples/sio_load fanout (wsx_sio::client); both wait for every client to have a
# round before the next, and fail the run if any client misses one. Past 10,000 clients the
# clients are split over two processes (at most 20,000 descriptors each, as `ulimit -n`
# allows). Each (size, server) point is the median of RUNS runs; the servers take turns within a
# run, so that a busy spell of the machine does not fall on one server only.
# Server pinned to CPU SERVER_CPU, clients to CLIENT_CPU. Writes results.tsv, summary.md (the
# table) and fanout-cpu.svg (the chart, scripts/fanout_cpu_chart.py) to
# target/bench/fanout-cpu-<timestamp>/; with DOCS=1 the chart also goes to docs/fanout-cpu.svg.
#
# Knobs: SIZES ("1000 5000 10000 15000"), RUNS (3), ROUNDS (45), WARMUP (5), SERVERS
#   ("raw wsx wsx-sio"), SIZE (53: the payload of wsx-sio's broadcast packet
#   `42["broadcast",{"round":N,"pad":"0123456789abcdef"}]`, so every server writes frames of the
#   same size), SPLIT_ABOVE (10000: more clients than this use two client processes),
#   PING_INTERVAL (25000 ms, Socket.IO's default: sio_demo's 2 s demo heartbeat would add a
#   ping per client every 2 s to the measured window), SERVER_CPU (0), CLIENT_CPU (1),
#   PORT (20700), BUILD (1; 0 uses the binaries as they are), DOCS (0).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SIZES=${SIZES:-"1000 5000 10000 15000"}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-45}
WARMUP=${WARMUP:-5}
SERVERS=${SERVERS:-"raw wsx wsx-sio"}
SIZE=${SIZE:-53}
SPLIT_ABOVE=${SPLIT_ABOVE:-10000}
PING_INTERVAL=${PING_INTERVAL:-25000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-20700}
OUT="$CARGO_TARGET_DIR/bench/fanout-cpu-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
command -v taskset >/dev/null 2>&1 || { echo "taskset (util-linux) is needed" >&2; exit 1; }

if [[ "${BUILD:-1}" == 1 ]]; then
    cargo build --release -p wsx --example fanout
    cargo build --release -p wsx-sio --example sio_demo --example sio_load
    cargo build --release --manifest-path bench/Cargo.toml --bin fanout-raw --bin fanout-load
fi
REL="$CARGO_TARGET_DIR/release"

SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT

start_server() { # name port log
    case "$1" in
        # taskset execs the server: $! is the server's own pid (for /proc/PID/stat).
        raw) taskset -c "$SERVER_CPU" "$REL/fanout-raw" --addr "127.0.0.1:$2" --timeout 900 >"$3" 2>&1 & ;;
        wsx) taskset -c "$SERVER_CPU" "$REL/examples/fanout" --role server --addr "127.0.0.1:$2" \
            --timeout 900 >"$3" 2>&1 & ;;
        wsx-sio) taskset -c "$SERVER_CPU" "$REL/examples/sio_demo" --addr "127.0.0.1:$2" \
            --ping-interval "$PING_INTERVAL" --ping-timeout 20000 >"$3" 2>&1 & ;;
        *) echo "unknown server $1" >&2; exit 2 ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q "^listening" "$3" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 server did not start; see $3" >&2
    exit 1
}

# measure server clients -> CPU us per delivery on stdout (empty when the run failed)
measure() {
    local server=$1 n=$2 procs=1 log
    PORT=$((PORT + 1))
    log="$OUT/$server-$n-run$run"
    ((n > SPLIT_ABOVE)) && procs=2
    start_server "$server" "$PORT" "$log.server"
    local status=0
    if [[ "$server" == wsx-sio ]]; then
        taskset -c "$CLIENT_CPU" "$REL/examples/sio_load" fanout --addr "127.0.0.1:$PORT" \
            --clients "$n" --rounds "$ROUNDS" --warmup "$WARMUP" --procs "$procs" \
            --round-timeout 10 --server-pid "$SERVER_PID" >"$log.load" 2>&1 || status=$?
        stop_server
        ((status == 0)) && sed -nE 's/^server-cpu .*us-per-delivery=([0-9.]+).*/\1/p' "$log.load"
    else
        taskset -c "$CLIENT_CPU" "$REL/fanout-load" --url "ws://127.0.0.1:$PORT" --clients "$n" \
            --procs "$procs" --rounds "$ROUNDS" --warmup "$WARMUP" --size "$SIZE" \
            --server-pid "$SERVER_PID" >"$log.load" 2>&1 || status=$?
        # The server exits after `quit`; stop it if it did not.
        stop_server
        ((status == 0)) && sed -nE 's/.*server-cpu-us-per-delivery=([0-9.]+).*/\1/p' "$log.load"
    fi
    if ((status != 0)); then
        echo "$server at $n clients, run $run FAILED (see $log.load):" >&2
        tail -3 "$log.load" >&2
    fi
}

printf 'clients\tserver\trun\tcpu_us_per_delivery\n' >"$OUT/results.tsv"
FAILED=0
for run in $(seq "$RUNS"); do
    for n in $SIZES; do
        for server in $SERVERS; do
            cpu=$(measure "$server" "$n")
            if [[ -z "$cpu" ]]; then
                FAILED=1
                cpu=failed
            fi
            echo "run $run: $server, $n clients: $cpu us per delivery" >&2
            printf '%s\t%s\t%s\t%s\n' "$n" "$server" "$run" "$cpu" >>"$OUT/results.tsv"
        done
    done
done

{
    echo "- Command: \`SIZES=\"$SIZES\" RUNS=$RUNS ROUNDS=$ROUNDS WARMUP=$WARMUP SIZE=$SIZE PING_INTERVAL=$PING_INTERVAL scripts/fanout_cpu.sh\`"
    echo "- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ); git $(git rev-parse --short HEAD); $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/meta.md"
python3 "$ROOT/scripts/fanout_cpu_chart.py" "$OUT/results.tsv" --svg "$OUT/fanout-cpu.svg" \
    --note "scripts/fanout_cpu.sh, $(date -u +%Y-%m-%d), $RUNS runs, server on one core of a shared 2-core machine" \
    | tee "$OUT/summary.md"
if [[ "${DOCS:-0}" == 1 ]]; then
    cp "$OUT/fanout-cpu.svg" "$ROOT/docs/fanout-cpu.svg"
fi
cat "$OUT/meta.md"
echo "raw results: $OUT"
if ((FAILED)); then
    echo "FAILED: a run lost deliveries or did not finish (its point is left out of the medians)" >&2
    exit 1
fi
