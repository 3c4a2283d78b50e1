#!/usr/bin/env bash
# usage: scripts/sio_bench.sh   (knobs are environment variables, see below; e.g.
#        IDLE_CLIENTS=500 FANOUT_SIZES="1000" scripts/sio_bench.sh)
#
# Socket.IO benchmarks: wsx-sio's sio_demo against Node's socket.io server running the same
# contract (crates/wsx-sio/bench/node/sio_demo.js, installed from its lockfile), in one run,
# with the same load generator (examples/sio_load.rs, on wsx_sio::client, WebSocket only):
#   - memory per idle client: server RSS with IDLE_CLIENTS clients connected to `/` (after their
#     server-ask acks and a heartbeat), minus its RSS before, divided by the count;
#   - broadcast fan-out: one emit to N sockets, time until the last has it, deliveries/s;
#   - event round trips: `echo-ack` on RT_CLIENTS clients for RT_SECONDS.
# Server pinned to CPU SERVER_CPU, load to CLIENT_CPU. Prints a Markdown table; raw output goes
# to target/bench/sio-<timestamp>/.
#
# Knobs: IDLE_CLIENTS (2000), FANOUT_SIZES ("1000 10000"), FANOUT_ROUNDS (10), RT_CLIENTS (50),
#   RT_SECONDS (5), SERVERS ("wsx node"), SERVER_CPU (0), CLIENT_CPU (1), PORT (20500; below the ephemeral range)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
IDLE_CLIENTS=${IDLE_CLIENTS:-2000}
FANOUT_SIZES=${FANOUT_SIZES:-"1000 10000"}
FANOUT_ROUNDS=${FANOUT_ROUNDS:-10}
RT_CLIENTS=${RT_CLIENTS:-50}
RT_SECONDS=${RT_SECONDS:-5}
SERVERS=${SERVERS:-"wsx node"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-20500}
OUT="$CARGO_TARGET_DIR/bench/sio-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

cargo build --release -p wsx-sio --example sio_demo --example sio_load
BIN="$CARGO_TARGET_DIR/release/examples"
NODE_DIR="$ROOT/crates/wsx-sio/bench/node"
if [[ " $SERVERS " == *" node "* ]]; then
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

command -v taskset >/dev/null 2>&1 || { echo "taskset (util-linux) is needed" >&2; exit 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT

start_server() { # name port
    local log="$OUT/$1-server.log"
    case "$1" in
        # taskset execs the server: $! is the server's own pid (for its RSS and its kill).
        wsx) taskset -c "$SERVER_CPU" "$BIN/sio_demo" --addr "127.0.0.1:$2" >"$log" 2>&1 & ;;
        node) taskset -c "$SERVER_CPU" node "$NODE_DIR/sio_demo.js" "$2" >"$log" 2>&1 & ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q "^listening" "$log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 server did not start; see $log" >&2
    exit 1
}

ROWS=()
for server in $SERVERS; do
    PORT=$((PORT + 1))
    start_server "$server" "$PORT"
    sleep 1
    base=$(rss_kib "$SERVER_PID")
    taskset -c "$CLIENT_CPU" "$BIN/sio_load" idle --addr "127.0.0.1:$PORT" --clients "$IDLE_CLIENTS" --hold 20 \
        >"$OUT/$server-idle.txt" 2>&1 &
    load=$!
    for _ in $(seq 600); do grep -q "^ready" "$OUT/$server-idle.txt" 2>/dev/null && break; sleep 0.1; done
    sleep 8 # server-ask acks answered, two heartbeats
    loaded=$(rss_kib "$SERVER_PID")
    wait "$load" || true
    per=$(awk -v a="$base" -v b="$loaded" -v n="$IDLE_CLIENTS" 'BEGIN { printf "%.1f", (b - a) / n }')
    echo "$server: RSS $base KiB -> $loaded KiB with $IDLE_CLIENTS idle clients: $per KiB per client" \
        | tee "$OUT/$server-memory.txt"
    fan=()
    for n in $FANOUT_SIZES; do
        line=$(taskset -c "$CLIENT_CPU" "$BIN/sio_load" fanout --addr "127.0.0.1:$PORT" --clients "$n" \
            --rounds "$FANOUT_ROUNDS" 2>&1 | tee "$OUT/$server-fanout-$n.txt" | grep "^fanout" || echo "failed")
        echo "$server: $line"
        fan+=("$(sed -E 's/.*mean=([0-9.]+ms).*deliveries\/s=([0-9]+).*/\1, \2\/s/' <<<"$line")")
    done
    rt=$(taskset -c "$CLIENT_CPU" "$BIN/sio_load" roundtrip --addr "127.0.0.1:$PORT" --clients "$RT_CLIENTS" \
        --seconds "$RT_SECONDS" 2>&1 | tee "$OUT/$server-roundtrip.txt" | grep "^roundtrip" || echo "failed")
    echo "$server: $rt"
    stop_server
    ROWS+=("| $server | $per | ${fan[*]} | $(sed -E 's/.*round-trips\/s=([0-9]+).*/\1/' <<<"$rt") |")
done

{
    echo
    echo "| server | KiB per idle client ($IDLE_CLIENTS) | fan-out ($FANOUT_SIZES clients): last delivery mean, deliveries/s | echo-ack round trips/s ($RT_CLIENTS clients) |"
    echo "| --- | --- | --- | --- |"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/summary.md"
echo "raw results: $OUT"
