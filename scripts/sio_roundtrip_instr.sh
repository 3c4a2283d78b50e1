#!/usr/bin/env bash
# usage: scripts/sio_roundtrip_instr.sh   (knobs: environment, below)
#
# User-space instructions per Socket.IO round trip (`echo-ack`: an event with an ack, answered by
# the server's handler) under callgrind, issue 25's target 5: a server runs under callgrind
# twice while `sio_load roundtrip` (not measured) drives CLIENTS clients for T_LO and for T_HI
# seconds; everything else (start, connects, handshakes, the end) is the same in both runs, so
#   (Ir(T_HI) - Ir(T_LO)) / (round trips(T_HI) - round trips(T_LO))
# is the cost of one round trip. sio_load prints the exact count (`total round-trips=N`).
# Heartbeats are lengthened to PING_INTERVAL ms so that pings do not grow with the run's length.
# Prints one line per server: clients, seconds, the two totals, instructions per round trip.
#
# Knobs: SERVERS ("wsx-sio"; also "socketioxide": bench/'s sio-socketioxide), CLIENTS (50),
#   T_LO (2), T_HI (8), PING_INTERVAL (60000), BUILD (1), KEEP (empty: raw outputs deleted; a
#   folder: kept there), CG_ARGS (more valgrind options).
# Loopback only; needs valgrind.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SERVERS=${SERVERS:-wsx-sio} CLIENTS=${CLIENTS:-50} T_LO=${T_LO:-2} T_HI=${T_HI:-8}
PING_INTERVAL=${PING_INTERVAL:-60000}
REL="$CARGO_TARGET_DIR/release"
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 2; }
if [[ "${BUILD:-1}" == 1 ]]; then
    cargo build --release -p wsx-sio --example sio_demo --example sio_load
    [[ " $SERVERS " != *" socketioxide "* ]] ||
        cargo build --release --manifest-path bench/Cargo.toml --bin sio-socketioxide
fi
WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"

# run SERVER SECONDS -> "Ir round-trips" on stdout
run() {
    local server=$1 secs=$2 port=$((30000 + RANDOM % 2000)) out=$WORK/$1-$2 spid bin
    rm -f "$out"*
    case "$server" in
        wsx-sio) bin=("$REL/examples/sio_demo") ;;
        socketioxide) bin=("$REL/sio-socketioxide") ;;
        *) echo "unknown server $server" >&2; exit 2 ;;
    esac
    # shellcheck disable=SC2086 # CG_ARGS holds several options
    valgrind --tool=callgrind --callgrind-out-file="$out.cg" ${CG_ARGS:-} "${bin[@]}" \
        --addr "127.0.0.1:$port" --ping-interval "$PING_INTERVAL" --ping-timeout "$PING_INTERVAL" \
        >"$out.server" 2>&1 &
    spid=$!
    for _ in $(seq 1 600); do grep -q "^listening" "$out.server" 2>/dev/null && break; sleep 0.1; done
    "$REL/examples/sio_load" roundtrip --addr "127.0.0.1:$port" --clients "$CLIENTS" --seconds "$secs" \
        >"$out.load" 2>&1 || { cat "$out.load" >&2; kill "$spid"; exit 1; }
    # Let the server see the clients go, then end it: callgrind writes its totals on SIGTERM.
    sleep 2
    kill -TERM "$spid"
    wait "$spid" 2>/dev/null || true
    local ir rt
    ir=$(awk '/^(totals|summary):/ {print $2; exit}' "$out.cg")
    rt=$(sed -nE 's/^total round-trips=([0-9]+)/\1/p' "$out.load")
    echo "$ir $rt"
}

for server in $SERVERS; do
    read -r ir_lo rt_lo < <(run "$server" "$T_LO")
    read -r ir_hi rt_hi < <(run "$server" "$T_HI")
    python3 - "$server" "$CLIENTS" "$T_LO" "$T_HI" "$ir_lo" "$ir_hi" "$rt_lo" "$rt_hi" <<'PY'
import sys
server, clients, t_lo, t_hi = sys.argv[1:5]
ir_lo, ir_hi, rt_lo, rt_hi = map(int, sys.argv[5:])
per = (ir_hi - ir_lo) / max(rt_hi - rt_lo, 1)
print(f"callgrind\t{server}\tclients {clients}\tseconds {t_lo}->{t_hi}\tIr {ir_lo} -> {ir_hi}\t"
      f"round trips {rt_lo} -> {rt_hi}\tinstructions/round-trip {per:.0f}")
PY
done
[ -n "${KEEP:-}" ] || rm -rf "$WORK"
