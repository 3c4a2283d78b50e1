#!/usr/bin/env bash
# Usage: scripts/sio_cluster_setup.sh
#
# Installs what crates/wsx-sio/tests/cluster.rs needs beside the Rust code: Debian's
# `redis-server` (when missing; the system instance the package starts is stopped, the tests
# start their own on free loopback ports) and, with `npm ci` from the committed lockfile, Node
# `socket.io` 4.8 + `@socket.io/redis-adapter` 8.3 + `@socket.io/redis-streams-adapter` 0.3 +
# `redis` under crates/wsx-sio/tests/cluster/node_modules (the Node half of the mixed cluster).
# Idempotent.
# Then `WSX_REQUIRE_REDIS=1 cargo test -p wsx-sio --features redis` fails instead of skipping
# when a peer is missing (plain `--test cluster` does not rebuild examples/sio_demo: run the
# whole package's tests, which build it with the feature).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v redis-server >/dev/null 2>&1; then
    echo "== apt-get install redis-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server >/dev/null
fi
# The package starts a system instance on 6379; nothing here uses it.
if command -v systemctl >/dev/null 2>&1; then
    systemctl stop redis-server 2>/dev/null || true
fi
if [[ -f /run/redis/redis-server.pid ]]; then
    kill "$(cat /run/redis/redis-server.pid)" 2>/dev/null || true
fi
redis-server --version

command -v node >/dev/null 2>&1 || { echo "node not found: install Node.js 18+" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "npm not found" >&2; exit 1; }
echo "== npm ci in crates/wsx-sio/tests/cluster (node $(node --version))"
(cd "$ROOT/crates/wsx-sio/tests/cluster" && npm ci --no-audit --no-fund --loglevel=error)
echo "cluster peers ready"
