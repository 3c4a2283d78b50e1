#!/usr/bin/env bash
# Usage: scripts/sio_protocol_suites.sh [WORKDIR]
#
# Runs the official Socket.IO protocol test suites, unchanged, against our servers, outside CI
# (they are not published as packages, and they need port 3000):
# - socketio/engine.io-protocol `test-suite/` against `examples/eio_echo.rs`;
# - socketio/socket.io-protocol `test-suite/` against `examples/sio_demo.rs --protocol-test`.
# The repositories are cloned into WORKDIR (default /tmp/sio-protocol-suites) unless a
# `<repo>/test-suite` is already there; their npm dependencies are installed there from their
# lockfiles, never in this repository. Needs git, node/npm, and port 3000 free on 127.0.0.1.
# Our own Rust tests of every case run in CI: crates/wsx-sio/tests/{engine,socketio}_suite.rs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${1:-/tmp/sio-protocol-suites}"
mkdir -p "$WORK"

for repo in engine.io-protocol socket.io-protocol; do
    if [[ ! -d "$WORK/$repo/test-suite" ]]; then
        git clone --quiet --depth 1 "https://github.com/socketio/$repo.git" "$WORK/$repo"
    fi
    (cd "$WORK/$repo/test-suite" && npm ci --no-audit --no-fund --loglevel=error)
done

cargo build --release -p wsx-sio --example eio_echo --example sio_demo
target="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples"

server=""
stop() { [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; server=""; }
trap stop EXIT

run() { # name, suite dir, server command...
    local name=$1 dir=$2
    shift 2
    "$@" --addr 127.0.0.1:3000 >/dev/null &
    server=$!
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null && break
        sleep 0.1
    done
    echo "== $name"
    (cd "$dir" && npx mocha test-suite.js) || status=1
    stop
}

status=0
run "engine.io-protocol suite vs eio_echo" "$WORK/engine.io-protocol/test-suite" "$target/eio_echo"
run "socket.io-protocol suite vs sio_demo --protocol-test" "$WORK/socket.io-protocol/test-suite" \
    "$target/sio_demo" --protocol-test
exit $status
