#!/usr/bin/env bash
# usage: scripts/bench_fanout_instr.sh [callgrind|strace]   (knobs: environment, below)
#
# User-space work (or system calls) per broadcast delivery of wsx's own `Server::broadcast`,
# the method of issue 25: `examples/fanout --role server` runs under callgrind (or `strace -c -f`)
# twice, once for R_LO and once for R_HI broadcast rounds to CLIENTS clients (`--role clients`,
# a separate process, not measured); everything else (start, connects, handshakes, the close
# handshakes at `quit`) is the same in both runs, so
#   (total(R_HI) - total(R_LO)) / ((R_HI - R_LO) * CLIENTS)
# is the cost of one delivery. Prints one line: mode, clients, rounds, the two totals, per
# delivery (for strace: total calls, then the per-delivery count of each call that moved).
#
# Knobs: FANOUT (target/release/examples/fanout), CLIENTS (1000), R_LO (2), R_HI (22),
#   SIZE (64), DEFLATE (off; shared or takeover: compressed clients, see `fanout --deflate`),
#   KEEP (empty: the raw outputs are deleted; a folder: they are kept there), CG_ARGS (more
#   valgrind options, e.g. `--toggle-collect='*Server::send_prepared*'` to count only the
#   broadcast calls: at 10,000 clients the close handshakes at `quit` and the keep-alive pings
#   of a longer run move the totals by more than the deliveries cost).
# Loopback only; needs valgrind (callgrind) or strace, and python3.
set -euo pipefail
MODE=${1:-callgrind}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FANOUT=${FANOUT:-$ROOT/target/release/examples/fanout}
CLIENTS=${CLIENTS:-1000} R_LO=${R_LO:-2} R_HI=${R_HI:-22} SIZE=${SIZE:-64} DEFLATE=${DEFLATE:-off}
[ -x "$FANOUT" ] || { echo "$FANOUT missing (cargo build --release -p wsx --example fanout)" >&2; exit 2; }
case $MODE in callgrind | strace) ;; *) sed -n '2p' "$0" >&2; exit 2 ;; esac
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"

# run ROUNDS -> total (Ir, or a JSON map of syscall counts) on stdout
run() {
    local rounds=$1 port=$((30000 + RANDOM % 2000)) out=$WORK/$MODE-$1 spid
    rm -f "$out"*
    if [ "$MODE" = callgrind ]; then
        # shellcheck disable=SC2086 # CG_ARGS holds several options
        valgrind --tool=callgrind --callgrind-out-file="$out" ${CG_ARGS:-} "$FANOUT" --role server \
            --addr "127.0.0.1:$port" --timeout 600 --deflate "$DEFLATE" >"$out.server" 2>&1 &
    else
        strace -c -f -o "$out" "$FANOUT" --role server --addr "127.0.0.1:$port" --timeout 600 \
            --deflate "$DEFLATE" >"$out.server" 2>&1 &
    fi
    spid=$!
    for _ in $(seq 1 600); do grep -q listening "$out.server" 2>/dev/null && break; sleep 0.1; done
    "$FANOUT" --role clients --url "ws://127.0.0.1:$port" --clients "$CLIENTS" --rounds "$rounds" \
        --size "$SIZE" --deflate "$DEFLATE" >"$out.clients" 2>&1 ||
        { cat "$out.clients" >&2; kill "$spid"; exit 1; }
    wait "$spid"
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
