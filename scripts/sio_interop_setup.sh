#!/usr/bin/env bash
# Usage: scripts/sio_interop_setup.sh
#
# Installs the official Socket.IO clients that crates/wsx-sio/tests/interop.rs drives against
# the sio_demo server: npm `socket.io-client` (exact versions from the lockfile, `npm ci`)
# under crates/wsx-sio/tests/interop/node_modules, and PyPI `python-socketio` with
# `websocket-client` in a venv at target/sio-venv; and Node's `socket.io` server under
# crates/wsx-sio/tests/client/node_modules, which tests/client*.rs check wsx-sio's own client
# against. Idempotent. Needs node/npm and python3.
# Then `WSX_REQUIRE_INTEROP=1 cargo test -p wsx-sio` fails instead of skipping when one of
# them is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INTEROP="$ROOT/crates/wsx-sio/tests/interop"

command -v node >/dev/null 2>&1 || { echo "node not found: install Node.js 18+" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "npm not found" >&2; exit 1; }
echo "== npm ci in crates/wsx-sio/tests/interop (node $(node --version))"
(cd "$INTEROP" && npm ci --no-audit --no-fund --loglevel=error)
echo "== npm ci in crates/wsx-sio/tests/client (Node's socket.io server)"
(cd "$ROOT/crates/wsx-sio/tests/client" && npm ci --no-audit --no-fund --loglevel=error)

VENV="$ROOT/target/sio-venv"
echo "== python venv at target/sio-venv"
if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$INTEROP/requirements.txt"
"$VENV/bin/python" -c 'import socketio, websocket; print("python-socketio", socketio.__version__ if hasattr(socketio, "__version__") else "installed")'
SERVER_VENV="$ROOT/target/sio-client-venv"
echo "== python venv at target/sio-client-venv (python-socketio's server for tests/client.rs)"
if [[ ! -x "$SERVER_VENV/bin/python" ]]; then
    python3 -m venv "$SERVER_VENV"
fi
"$SERVER_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/crates/wsx-sio/tests/client/requirements.txt"
echo "interop clients ready"
