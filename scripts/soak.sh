#!/usr/bin/env bash
# Usage: scripts/soak.sh [CONNS] [SECONDS] [extra soak flags...]   (default: 2000 20, CI's run)
#
# Soak through the event API: CONNS concurrent connections for SECONDS with mixed message sizes,
# a quarter of them compressed, pings, injected faults (TCP resets, protocol errors), then all
# closed; checks the server's open fds and tokio tasks are back to a fresh process's, its live
# heap within 256 bytes per connection and its RSS (after malloc_trim) within 5% (or 0.5% of the
# peak's growth) of where a warm-up cycle left them, and no error but the injected. Client and
# server are separate processes (each under 20,000 fds at 10,000 connections). Prints one JSON
# report line. By hand: scripts/soak.sh 10000 60
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONNS=${1:-2000}
SECS=${2:-20}
shift 2 || shift $# || true

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if ((CONNS + 100 > $(ulimit -n))); then
    echo "soak: $CONNS connections need more than the $(ulimit -n) file descriptors allowed" >&2
    exit 2
fi
cargo build --release -q -p wsx --example soak
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# Bounded: the run, the warm-up cycles and the teardown, with room to spare.
timeout $((SECS * 2 + CONNS / 50 + 300)) "$target_dir/release/examples/soak" --conns "$CONNS" --secs "$SECS" "$@"
