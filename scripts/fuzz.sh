#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 30 s, every target)
#
# Runs the cargo-fuzz (libFuzzer) targets in fuzz/ for a bounded time each. Installs
# cargo-fuzz if it is missing. The sanitizer flags cargo-fuzz needs are nightly-only; on the
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them. Crashes are saved under
# fuzz/artifacts/TARGET/ and make the script fail.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"

SECONDS_PER_TARGET=${1:-30}
shift || true
TARGETS=("$@")
if ((${#TARGETS[@]} == 0)); then
    TARGETS=(protocol handshake_request handshake_response sio_packet)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
for target in "${TARGETS[@]}"; do
    echo "== fuzzing $target for ${SECONDS_PER_TARGET}s"
    mkdir -p "corpus/$target"
    # -rss_limit_mb bounds memory: an input that makes the core allocate without bound fails.
    cargo fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=1024 -max_len=4096 -print_final_stats=1 \
        2>&1 | grep -E "^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb)|panicked|ERROR|SUMMARY" || true
    if [[ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]]; then
        echo "fuzz target $target found crashes: fuzz/artifacts/$target" >&2
        exit 1
    fi
done
echo "fuzzing passed: ${TARGETS[*]}"
