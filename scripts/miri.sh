#!/usr/bin/env bash
# Usage: scripts/miri.sh
#
# Runs under Miri the tests that check wsx's `unsafe` blocks: tests/utf8_bytes.rs (the invariant
# behind `Utf8Bytes::as_str`, through every public way to build a `Utf8Bytes`) and
# tests/event_direct_in_memory.rs (the pointer through which a handler's replies are encoded
# into its connection's write buffer, `event/conn/window.rs`: the event API over an in-memory
# pipe).
# The AVX2 masking copy is not run: Miri does not emulate those intrinsics. Needs a nightly
# toolchain with the miri and rust-src components; skips with a message when there is none (the
# project's machines have one stable toolchain, so this is run by hand, not by .ci/run). It
# took 6 minutes on a loaded 2-core machine (2 min 9 s of CPU), mostly building the crate and
# its dependencies for Miri.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    if ! rustup component add miri rust-src --toolchain nightly >/dev/null 2>&1; then
        echo "miri: skipped (no nightly toolchain with miri here)"
        exit 0
    fi
fi
# Miri's build goes to its own target directory, apart from the normal builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri-build"
# Isolation off: the event API's runtime reads the clock.
MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-disable-isolation" \
    cargo +nightly miri test -p wsx --test utf8_bytes --test event_direct_in_memory
