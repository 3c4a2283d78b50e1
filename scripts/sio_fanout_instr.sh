#!/usr/bin/env bash
# usage: scripts/sio_fanout_instr.sh [callgrind|strace]   (knobs: environment, below)
#
# User-space work (or system calls) per broadcast delivery of wsx-sio, the method of issue 25
# (as scripts/bench_fanout_instr.sh for wsx's own `Server::broadcast`): the demo server
# `sio_demo` runs under callgrind (or `strace -c -f`) twice, once for R_LO and once for R_HI
# rounds of `sio_load fanout` (a separate process, not measured): CLIENTS Socket.IO clients
# over WebSocket, one of which emits `broadcast` each round, which the demo sends to every
# socket of `/` (`io.emit`), sender included. Everything else (start, connects, handshakes,
# the clients' disconnects when `sio_load` exits, the end of the server by SIGTERM once it is
# idle) is the same in both runs, so
#   (total(R_HI) - total(R_LO)) / ((R_HI - R_LO) * CLIENTS)
# is the cost of one delivery (the round's own work, one received event and one encoding, is
# shared by its CLIENTS deliveries). The heartbeat is pushed out of the window (10-minute
# ping interval): a longer run must not count more pings. Prints one line: mode, clients,
# rounds, the two totals, per delivery (for strace: total calls, then the per-delivery count
# of each call that moved).
#
# Knobs: BIN (target/release/examples: sio_demo and sio_load there), CLIENTS (1000), R_LO (2),
#   R_HI (22), DEMO_ARGS (more sio_demo options), KEEP (empty: the raw outputs are deleted; a
#   folder: they are kept there), CG_ARGS (more valgrind options),
#   PAYLOAD (bytes of the broadcast's `pad` string: `sio_load --payload`; empty: 16 bytes),
#   COMPRESS (1: compressed broadcasts, issue 25 target 3: `sio_demo --per-message-deflate
#   THRESHOLD` and `sio_load --deflate on`, the clients offering permessage-deflate as browsers
#   do; compare with the same PAYLOAD plain), THRESHOLD (the server's, 1024 as Node's).
# Loopback only; needs valgrind (callgrind) or strace, and python3.
set -euo pipefail
MODE=${1:-callgrind}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/examples}
CLIENTS=${CLIENTS:-1000} R_LO=${R_LO:-2} R_HI=${R_HI:-22}
for b in sio_demo sio_load; do
    [ -x "$BIN/$b" ] || { echo "$BIN/$b missing (cargo build --release -p wsx-sio --example sio_demo --example sio_load)" >&2; exit 2; }
done
case $MODE in callgrind | strace) ;; *) sed -n '2p' "$0" >&2; exit 2 ;; esac
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LOAD_ARGS=()
[ -z "${PAYLOAD:-}" ] || LOAD_ARGS+=(--payload "$PAYLOAD")
if [ "${COMPRESS:-0}" = 1 ]; then
    DEMO_ARGS="${DEMO_ARGS:-} --per-message-deflate ${THRESHOLD:-1024}"
    LOAD_ARGS+=(--deflate on)
fi
WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"

# The CPU time (user + system, clock ticks) of process $1 so far.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Waits until process $1 used no CPU for a second.
settle() {
    local before after
    after=$(cpu "$1")
    while :; do
        before=$after
        sleep 1
        after=$(cpu "$1")
        [ "$before" = "$after" ] && return
    done
}

# run ROUNDS -> total (Ir, or a JSON map of syscall counts) on stdout
run() {
    local rounds=$1 port=$((32000 + RANDOM % 2000)) out=$WORK/$MODE-$1 spid server
    rm -f "$out"*
    # shellcheck disable=SC2086 # DEMO_ARGS and CG_ARGS hold several options
    if [ "$MODE" = callgrind ]; then
        valgrind --tool=callgrind --callgrind-out-file="$out" ${CG_ARGS:-} "$BIN/sio_demo" \
            --addr "127.0.0.1:$port" --ping-interval 600000 --ping-timeout 600000 \
            ${DEMO_ARGS:-} >"$out.server" 2>&1 &
        spid=$!
        server=$spid
    else
        strace -c -f -o "$out" "$BIN/sio_demo" --addr "127.0.0.1:$port" --ping-interval 600000 \
            --ping-timeout 600000 ${DEMO_ARGS:-} >"$out.server" 2>&1 &
        spid=$!
    fi
    for _ in $(seq 1 600); do grep -q listening "$out.server" 2>/dev/null && break; sleep 0.1; done
    # strace's child is the server (SIGTERM goes to it: strace then prints its summary).
    [ "$MODE" = callgrind ] || server=$(pgrep -P "$spid" | head -1)
    "$BIN/sio_load" fanout --addr "127.0.0.1:$port" --clients "$CLIENTS" --rounds "$rounds" \
        ${LOAD_ARGS[@]+"${LOAD_ARGS[@]}"} >"$out.clients" 2>&1 || { cat "$out.clients" >&2; kill "$server"; exit 1; }
    # The clients' connections closed with `sio_load`: the server handles their ends, then
    # is ended (callgrind and strace write their totals when it exits on the signal).
    settle "$server"
    kill -TERM "$server"
    wait "$spid" || true
    python3 - "$MODE" "$out" <<'PY'
import json, sys
mode, path = sys.argv[1:]
if mode == "callgrind":
    for line in open(path):
        if line.startswith("totals:") or line.startswith("summary:"):
            print(line.split()[1]); break
else:
    counts = {}
    for line in open(path):
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            counts[f[-1]] = int(f[3])
    print(json.dumps(counts))
PY
}

lo=$(run "$R_LO")
hi=$(run "$R_HI")
python3 - "$MODE" "$lo" "$hi" "$CLIENTS" "$R_LO" "$R_HI" <<'PY'
import json, sys
mode, lo, hi, clients, r_lo, r_hi = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
d = (r_hi - r_lo) * clients
if mode == "callgrind":
    lo, hi = int(lo), int(hi)
    print(f"callgrind\tclients {clients}\trounds {r_lo}->{r_hi}\tIr {lo} -> {hi}\t"
          f"instructions/delivery {(hi - lo) / d:.1f}")
else:
    lo, hi = json.loads(lo), json.loads(hi)
    per = {k: (hi.get(k, 0) - lo.get(k, 0)) / d for k in sorted(set(lo) | set(hi))}
    moved = ", ".join(f"{k} {v:.3f}" for k, v in per.items() if abs(v) >= 0.0005)
    total = (sum(hi.values()) - sum(lo.values())) / d
    print(f"strace\tclients {clients}\trounds {r_lo}->{r_hi}\tsyscalls/delivery {total:.3f}\t{moved}")
PY
[ -n "${KEEP:-}" ] || rm -rf "$WORK"
