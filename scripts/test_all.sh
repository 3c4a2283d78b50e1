#!/usr/bin/env bash
# Usage: scripts/test_all.sh [--setup-only | --no-setup] [extra `cargo test` arguments...]
#
# Every test, none skipped: installs the real peers the way .ci/run does, then runs the same
# test commands as CI with every WSX_REQUIRE_* variable set, so that a missing peer is a
# failure instead of a `SKIPPED` line.
#
# The peers (all idempotent; nothing is reinstalled when present):
#   - Debian packages tinyproxy (crates/wsx/tests/client_proxy.rs), chromium
#     (crates/wsx-cli/tests/browser.rs), redis-server (crates/wsx-sio/tests/cluster.rs) and
#     nginx (the round-robin balancer of crates/wsx-sio/tests/round_robin.rs), with apt-get,
#     as root or through sudo;
#   - `npm ci` in crates/wsx-cli/tests/browser (playwright-core, which drives Debian's
#     Chromium and never downloads a browser; the Socket.IO browser client);
#   - `npm ci` in crates/wsx-sio/tests/admin_ui (the @socket.io/admin-ui dashboard that
#     crates/wsx-sio/tests/admin_ui.rs opens in that Chromium; playwright-core again);
#   - a venv target/pyws-venv with Python's `websockets` (crates/wsx/tests/deflate.rs,
#     crates/wsx-cli/tests/python_peer.rs);
#   - scripts/sio_interop_setup.sh (npm socket.io-client, python-socketio in target/sio-venv,
#     npm socket.io for the client tests) and scripts/sio_cluster_setup.sh (npm socket.io +
#     @socket.io/redis-adapter).
# Needs node/npm (18+) and python3 with venv.
#
# Then: `cargo test --workspace`, and `cargo test -p wsx-sio --features redis`: the Redis
# adapter and cluster tests are not built without that feature, so `cargo test --workspace`
# alone never runs them. Extra arguments go to both (e.g. `-- --test-threads=2`).
# --setup-only installs the peers and stops; --no-setup only runs the tests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

setup=1
run=1
case "${1:-}" in
    --setup-only) run=0; shift ;;
    --no-setup) setup=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

section() {
    printf '\n==== %s ====\n' "$*"
}

# As root, or through sudo when there is one.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

if ((setup)); then
    section "Debian packages: tinyproxy, chromium, redis-server, nginx"
    missing=()
    command -v tinyproxy >/dev/null 2>&1 || [[ -x /usr/sbin/tinyproxy ]] || missing+=(tinyproxy)
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
    if ((${#missing[@]})); then
        echo "installing: ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "already installed"
    fi
    # The packages start system instances (tinyproxy on 8888, redis on 6379, nginx on 80) that
    # no test uses; the tests start their own on free loopback ports. Stopped by their pid
    # files only.
    for pidfile in /run/tinyproxy/tinyproxy.pid /var/run/tinyproxy/tinyproxy.pid /run/nginx.pid; do
        if [[ -f $pidfile ]]; then
            as_root kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done

    command -v node >/dev/null 2>&1 || { echo "node not found: install Node.js 18+" >&2; exit 1; }
    command -v npm >/dev/null 2>&1 || { echo "npm not found" >&2; exit 1; }
    section "npm ci in crates/wsx-cli/tests/browser (playwright-core; never downloads a browser)"
    (cd crates/wsx-cli/tests/browser &&
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

    section "npm ci in crates/wsx-sio/tests/admin_ui (@socket.io/admin-ui's dashboard, playwright-core)"
    (cd crates/wsx-sio/tests/admin_ui &&
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

    target="${CARGO_TARGET_DIR:-$ROOT/target}"
    section "Python websockets in $target/pyws-venv"
    if [[ ! -x "$target/pyws-venv/bin/python" ]]; then
        python3 -m venv "$target/pyws-venv"
    fi
    "$target/pyws-venv/bin/pip" install --quiet --disable-pip-version-check websockets

    section "Socket.IO interop clients (scripts/sio_interop_setup.sh)"
    bash scripts/sio_interop_setup.sh

    section "Redis cluster peers (scripts/sio_cluster_setup.sh)"
    bash scripts/sio_cluster_setup.sh
fi

((run)) || { echo "peers ready"; exit 0; }

# A missing peer now fails its test instead of skipping it.
export WSX_REQUIRE_PROXIES=1 WSX_REQUIRE_BROWSER=1 WSX_REQUIRE_PYTHON=1
export WSX_REQUIRE_INTEROP=1 WSX_REQUIRE_REDIS=1 WSX_REQUIRE_NGINX=1

section "cargo test --workspace $*"
cargo test --workspace "$@"

section "cargo test -p wsx-sio --features redis $* (Redis adapter, clusters)"
# The whole package, so that examples/sio_demo is built with the feature for tests/cluster.rs.
cargo test -p wsx-sio --features redis "$@"

section "all tests passed, none skipped"
