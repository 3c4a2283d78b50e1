#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 30 s, every target)
#
# Runs the cargo-fuzz (libFuzzer) targets in fuzz/ for a bounded time each, one after the other,
# and prints per target the executions, the coverage reached (libFuzzer's `cov:` edges and `ft:`
# features) and the peak RSS. Installs cargo-fuzz if it is missing. The sanitizer flags
# cargo-fuzz needs are nightly-only; on the stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET, read only) plus the working
# corpus it grew before (fuzz/corpus/TARGET, git-ignored), and uses its dictionary
# (fuzz/dicts/). Crashes are saved under fuzz/artifacts/TARGET/ and make the script fail.
# Set FUZZ_NICE=1 to run at the lowest CPU priority (long runs beside other work).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"

SECONDS_PER_TARGET=${1:-30}
shift || true
TARGETS=("$@")
if ((${#TARGETS[@]} == 0)); then
    TARGETS=(protocol handshake_request handshake_response sio_packet deflate connection)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

dict_for() {
    case "$1" in
        protocol) echo dicts/frames.dict ;;
        handshake_request | handshake_response) echo dicts/http.dict ;;
        sio_packet) echo dicts/sio.dict ;;
        deflate) echo dicts/deflate.dict ;;
        connection) echo dicts/connection.dict ;;
    esac
}

NICE=()
[[ "${FUZZ_NICE:-0}" == 1 ]] && NICE=(nice -n 19)

export RUSTC_BOOTSTRAP=1
# Build every target once, up front, so the time per target is spent fuzzing.
"${NICE[@]}" cargo fuzz build -O
summary=()
for target in "${TARGETS[@]}"; do
    echo "== fuzzing $target for ${SECONDS_PER_TARGET}s"
    mkdir -p "corpus/$target" "seeds/$target"
    args=(-max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=1024 -max_len=4096 -print_final_stats=1)
    dict=$(dict_for "$target")
    [[ -n "$dict" ]] && args+=(-dict="$dict")
    log=$(mktemp)
    # -rss_limit_mb bounds memory: an input that makes the core allocate without bound fails.
    "${NICE[@]}" cargo fuzz run -O "$target" "corpus/$target" "seeds/$target" -- "${args[@]}" \
        >"$log" 2>&1 || true
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" || true
    execs=$(grep -oP '^stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1)
    rss=$(grep -oP '^stat::peak_rss_mb:\s*\K[0-9]+' "$log" | tail -1)
    cov=$(grep -oP '\bcov: \K[0-9]+' "$log" | tail -1)
    ft=$(grep -oP '\bft: \K[0-9]+' "$log" | tail -1)
    rm -f "$log"
    line=$(printf '%-20s execs %-10s cov %-6s ft %-7s peak_rss_mb %s' \
        "$target" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${rss:-?}")
    echo "$line"
    summary+=("$line")
    if [[ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]]; then
        echo "fuzz target $target found crashes: fuzz/artifacts/$target" >&2
        exit 1
    fi
done
echo "== summary (${SECONDS_PER_TARGET}s per target)"
printf '%s\n' "${summary[@]}"
echo "fuzzing passed: ${TARGETS[*]}"
