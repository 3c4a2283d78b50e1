#!/usr/bin/env bash
# usage: scripts/sio_cluster_bench.sh   (knobs are environment variables, see below; e.g.
#        FANOUT_SIZES="1000" scripts/sio_cluster_bench.sh)
#
# Cross-node fan-out through Redis: two sio_demo processes joined by the Redis adapter
# (`--redis`, a redis-server of our own on a loopback port, no persistence), and the receivers of
# examples/sio_load.rs's `fanout` split evenly between them (the sender on the first node). One
# emit of `broadcast` must reach every socket on both nodes: the time until the last one had it
# and deliveries per second. For comparison, in the same run, the same load on one sio_demo with
# the in-memory adapter (no Redis). The load generator holds all the client sockets (10,000 fds
# at most with the default sizes; the servers hold half each). Both servers pinned to
# SERVER_CPU, load generator and redis-server to CLIENT_CPU (2 cores). Prints a Markdown table;
# raw output goes to target/bench/sio-cluster-<timestamp>/.
#
# Knobs: FANOUT_SIZES ("1000 10000"), FANOUT_ROUNDS (10), SERVER_CPU (0), CLIENT_CPU (1),
#   PORT (20600; servers on PORT+1.., redis on PORT)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
FANOUT_SIZES=${FANOUT_SIZES:-"1000 10000"}
FANOUT_ROUNDS=${FANOUT_ROUNDS:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-20600}
OUT="$CARGO_TARGET_DIR/bench/sio-cluster-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

command -v redis-server >/dev/null 2>&1 || { echo "redis-server is needed (scripts/sio_cluster_setup.sh)" >&2; exit 1; }
command -v taskset >/dev/null 2>&1 || { echo "taskset (util-linux) is needed" >&2; exit 1; }
cargo build --release -p wsx-sio --features redis --example sio_demo --example sio_load
BIN="$CARGO_TARGET_DIR/release/examples"

PIDS=()
stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap stop_all EXIT

wait_listening() { # log
    for _ in $(seq 100); do
        grep -q "^listening" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "a server did not start; see $1" >&2
    exit 1
}

start_demo() { # name port [redis url]
    local log="$OUT/$1.log"
    if [[ $# -ge 3 ]]; then
        taskset -c "$SERVER_CPU" "$BIN/sio_demo" --addr "127.0.0.1:$2" --redis "$3" --name "$1" >"$log" 2>&1 &
    else
        taskset -c "$SERVER_CPU" "$BIN/sio_demo" --addr "127.0.0.1:$2" --name "$1" >"$log" 2>&1 &
    fi
    PIDS+=($!)
    wait_listening "$log"
}

fanout() { # label addrs n
    local line
    line=$(taskset -c "$CLIENT_CPU" "$BIN/sio_load" fanout --addr "$2" --clients "$3" \
        --rounds "$FANOUT_ROUNDS" 2>&1 | tee "$OUT/$1-fanout-$3.txt" | grep "^fanout" || echo "failed")
    echo "$1: $line" >&2
    sed -E 's/.*mean=([0-9.]+ms).*deliveries\/s=([0-9]+).*/\1, \2\/s/' <<<"$line"
}

ROWS=()
# One node, in-memory adapter.
start_demo single $((PORT + 1))
row="| 1 node, in-memory adapter |"
for n in $FANOUT_SIZES; do row+=" $(fanout single "127.0.0.1:$((PORT + 1))" "$n") |"; done
ROWS+=("$row")
stop_all

# Two nodes over Redis.
taskset -c "$CLIENT_CPU" redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$OUT/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
start_demo a $((PORT + 2)) "redis://127.0.0.1:$PORT/"
start_demo b $((PORT + 3)) "redis://127.0.0.1:$PORT/"
row="| 2 nodes over Redis (clients split evenly) |"
for n in $FANOUT_SIZES; do
    row+=" $(fanout cluster "127.0.0.1:$((PORT + 2)),127.0.0.1:$((PORT + 3))" "$n") |"
done
ROWS+=("$row")
stop_all

{
    echo
    printf '| setup |'
    for n in $FANOUT_SIZES; do printf ' fan-out to %s: last delivery (mean), deliveries/s |' "$n"; done
    echo
    echo "| --- |$(for _ in $FANOUT_SIZES; do printf ' --- |'; done)"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/summary.md"
echo "raw results: $OUT"
