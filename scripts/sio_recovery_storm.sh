#!/usr/bin/env bash
# Usage: scripts/sio_recovery_storm.sh [CLIENTS]
#
# The recovery-storm figure of issue 27 §3: CLIENTS (1,000) clients lost on one wsx-sio node
# recover together on another through the Redis Streams adapter; prints the Redis commands
# the storm cost (`redis-cli INFO commandstats` deltas on the test's own redis-server) for a
# node whose ring holds their offsets, for a node started after them, and for a Node server
# with @socket.io/redis-streams-adapter 0.3.1 measured with the same storm. The bounds are
# asserted by the test itself (tests/streams_recovery.rs). Needs redis-server, and for the
# Node figure scripts/sio_cluster_setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WSX_STORM_CLIENTS="${1:-1000}" WSX_REQUIRE_REDIS=1 cargo test -p wsx-sio --features redis \
    --test streams_recovery a_recovery_storm -- --nocapture 2>&1 | grep -E "storm of|test result"
