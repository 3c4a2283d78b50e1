#!/usr/bin/env bash
# Usage: scripts/autobahn.sh [server|client|all] [-- EXTRA_EXAMPLE_ARGS...]   (default: all)
#
# Runs the Autobahn TestSuite cases (via `kosoku`, a native re-implementation of
# the Autobahn fuzzingclient/fuzzingserver, installed from PyPI into a
# virtualenv under target/) against wsx:
#   server: kosoku (fuzzingclient) drives `examples/echo_server`
#   client: `examples/autobahn_client` drives kosoku (fuzzingserver)
# then prints a per-section summary, writes reports to target/autobahn/{server,client}/
# (index.html, index.json, one .json/.html per case) and the summary tables as
# Markdown to target/autobahn/summary.md. Exits non-zero if any case is FAILED,
# ERROR, NON-STRICT, has a closing behaviour other than OK/INFORMATIONAL, is
# missing from a report, or is UNIMPLEMENTED outside the allowed sections.
#
# Arguments after `--` are passed to both examples (e.g. `-- --no-deflate`).
#
# Environment (all optional):
#   AUTOBAHN_ALLOW_UNIMPLEMENTED_COMPRESSION  0 (default): strict everywhere; 1: UNIMPLEMENTED accepted in 12.x/13.x
#                                             (permessage-deflate); 0: strict
#   AUTOBAHN_SERVER_PORT / AUTOBAHN_CLIENT_PORT  ports on 127.0.0.1 (default 9001 / 9002)
#   AUTOBAHN_SERVER_ARGS / AUTOBAHN_CLIENT_ARGS  extra args for echo_server / autobahn_client
#   AUTOBAHN_CASES / AUTOBAHN_EXCLUDE_CASES   space-separated case ids or globs (kosoku -i / -x),
#                                             e.g. AUTOBAHN_CASES='1.* 2.*'
#   AUTOBAHN_PARALLELISM       kosoku -p for the server run: cases run in parallel (default 2)
#   AUTOBAHN_AGENT             agent name the client reports (default wsx)
#   AUTOBAHN_RUN_TIMEOUT       seconds allowed for one kosoku run (default 1200)
#   AUTOBAHN_TOTAL_TIMEOUT     seconds allowed for the whole script, build included (default 3000)
#   AUTOBAHN_PORT_WAIT         seconds to wait for a server to listen (default 30)
#   AUTOBAHN_REPORT_WAIT       seconds to wait for the fuzzingserver to exit after the client (default 120)
#   AUTOBAHN_OUT               report directory (default target/autobahn)
#   AUTOBAHN_VENV              kosoku virtualenv (default target/autobahn-venv; reused if present)
#   AUTOBAHN_KOSOKU_SPEC       pip requirement for kosoku (default kosoku==0.1.0)
#   AUTOBAHN_PYTHON            Python >= 3.10 used to create the virtualenv
#   WSX_ECHO_SERVER_CMD        command replacing target/release/examples/echo_server
#                              (gets `--addr 127.0.0.1:PORT` appended)
#   WSX_AUTOBAHN_CLIENT_CMD    command replacing target/release/examples/autobahn_client
#                              (gets `--url ws://127.0.0.1:PORT --agent AGENT` appended)
set -euo pipefail

START_TIME=$SECONDS
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,3p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

MODE=all
EXTRA_ARGS=()
while (($#)); do
    case "$1" in
        server | client | all) MODE=$1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; EXTRA_ARGS=("$@"); break ;;
        *) echo "autobahn.sh: unknown argument: $1" >&2; usage; exit 2 ;;
    esac
    shift
done

SERVER_PORT=${AUTOBAHN_SERVER_PORT:-9001}
CLIENT_PORT=${AUTOBAHN_CLIENT_PORT:-9002}
PARALLELISM=${AUTOBAHN_PARALLELISM:-2}
AGENT=${AUTOBAHN_AGENT:-wsx}
RUN_TIMEOUT=${AUTOBAHN_RUN_TIMEOUT:-1200}
TOTAL_TIMEOUT=${AUTOBAHN_TOTAL_TIMEOUT:-3000}
OUT=${AUTOBAHN_OUT:-$ROOT/target/autobahn}
VENV=${AUTOBAHN_VENV:-$ROOT/target/autobahn-venv}
KOSOKU_SPEC=${AUTOBAHN_KOSOKU_SPEC:-kosoku==0.1.0}
ALLOW_UNIMPL=${AUTOBAHN_ALLOW_UNIMPLEMENTED_COMPRESSION:-0}
HOST=127.0.0.1
PORT_WAIT=${AUTOBAHN_PORT_WAIT:-30}      # seconds to wait for a listener to come up
REPORT_WAIT=${AUTOBAHN_REPORT_WAIT:-120} # seconds for the fuzzingserver to write its report and exit

read -r -a SERVER_ARGS <<<"${AUTOBAHN_SERVER_ARGS:-}"
read -r -a CLIENT_ARGS <<<"${AUTOBAHN_CLIENT_ARGS:-}"
read -r -a INCLUDE <<<"${AUTOBAHN_CASES:-}"
read -r -a EXCLUDE <<<"${AUTOBAHN_EXCLUDE_CASES:-}"
SERVER_ARGS+=("${EXTRA_ARGS[@]}")
CLIENT_ARGS+=("${EXTRA_ARGS[@]}")
CASE_ARGS=()
SUMMARY_CASE_ARGS=()
for c in "${INCLUDE[@]}"; do CASE_ARGS+=(-i "$c"); SUMMARY_CASE_ARGS+=(--include "$c"); done
for c in "${EXCLUDE[@]}"; do CASE_ARGS+=(-x "$c"); SUMMARY_CASE_ARGS+=(--exclude "$c"); done

for v in SERVER_PORT CLIENT_PORT PARALLELISM RUN_TIMEOUT TOTAL_TIMEOUT PORT_WAIT REPORT_WAIT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "autobahn.sh: $v must be a number, got '${!v}'" >&2; exit 2; }
done

log() { printf '[autobahn %4ds] %s\n' $((SECONDS - START_TIME)) "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# budget N: set BUDGET to N seconds, capped at what is left of the total budget.
budget() {
    local left=$((TOTAL_TIMEOUT - (SECONDS - START_TIME)))
    ((left > 0)) || die "total time budget of ${TOTAL_TIMEOUT}s (AUTOBAHN_TOTAL_TIMEOUT) used up"
    BUDGET=$(($1 < left ? $1 : left))
}

# ---------------------------------------------------------------------------
# Background processes: always stopped on exit.
BG_PIDS=()
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do stop_pid "$pid"; done
    BG_PIDS=()
}
# untrack PID: forget a process that has been waited for (its pid may be reused).
untrack() {
    local pid keep=()
    for pid in "${BG_PIDS[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
    BG_PIDS=("${keep[@]}")
}
# run_fg CMD...: run CMD as if in the foreground, but in the background and
# waited for, so that a signal to this script stops it (and CMD) at once.
run_fg() {
    local pid rc=0
    "$@" &
    pid=$!
    BG_PIDS+=("$pid")
    wait "$pid" || rc=$?
    untrack "$pid"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() { (: <"/dev/tcp/$HOST/$1") 2>/dev/null; }

# wait_port PORT PID NAME LOGFILE: wait (bounded) until PORT accepts connections.
wait_port() {
    local port=$1 pid=$2 name=$3 logfile=$4 i
    for ((i = 0; i < PORT_WAIT * 5; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before listening on $HOST:$port; last lines of $logfile:"
            tail -n 30 "$logfile" || true
            return 1
        fi
        port_open "$port" && return 0
        sleep 0.2
    done
    log "$name did not listen on $HOST:$port within ${PORT_WAIT}s; last lines of $logfile:"
    tail -n 30 "$logfile" || true
    return 1
}

ensure_port_free() {
    if port_open "$1"; then
        log "ERROR: port $HOST:$1 is already in use (set AUTOBAHN_SERVER_PORT / AUTOBAHN_CLIENT_PORT)"
        return 1
    fi
}

# wait_exit PID SECONDS: wait (bounded) for a background process to exit.
wait_exit() {
    local pid=$1 i
    for ((i = 0; i < $2 * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    return 1
}

# ---------------------------------------------------------------------------
# kosoku in a virtualenv under target/.
find_python() {
    local cand
    for cand in ${AUTOBAHN_PYTHON:-} python3 python3.13 python3.12 python3.11 python3.10; do
        command -v "$cand" >/dev/null 2>&1 || continue
        if "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
            command -v "$cand"
            return 0
        fi
    done
    return 1
}

venv_ok() {
    [[ -x "$VENV/bin/python" && -x "$VENV/bin/kosoku" && -f "$VENV/.kosoku-spec" ]] &&
        [[ "$(cat "$VENV/.kosoku-spec")" == "$KOSOKU_SPEC" ]] &&
        "$VENV/bin/python" -c 'import kosoku, kosoku.cases' >/dev/null 2>&1
}

setup_kosoku() {
    if venv_ok; then
        log "reusing kosoku virtualenv $VENV ($KOSOKU_SPEC)"
        return 0
    fi
    local py
    py=$(find_python) || die "need Python >= 3.10 to install kosoku (set AUTOBAHN_PYTHON)"
    log "installing $KOSOKU_SPEC into $VENV (with $py)"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    local pip_opts=(--disable-pip-version-check --no-input --quiet --timeout 60 --retries 3)
    if "$py" -m venv "$VENV"; then
        budget 900
        run_fg timeout "$BUDGET" "$VENV/bin/python" -m pip install "${pip_opts[@]}" "$KOSOKU_SPEC" ||
            die "pip install $KOSOKU_SPEC failed"
    else
        # Python without ensurepip (e.g. Debian without python3-venv): a bare
        # venv, filled by the interpreter's own pip.
        log "python -m venv failed; retrying with --without-pip and the system pip"
        rm -rf "$VENV"
        "$py" -m venv --without-pip "$VENV" || die "cannot create a virtualenv with $py"
        budget 900
        run_fg timeout "$BUDGET" "$py" -m pip --python "$VENV/bin/python" install "${pip_opts[@]}" "$KOSOKU_SPEC" ||
            die "pip install $KOSOKU_SPEC failed (is pip >= 22.3 available for $py?)"
    fi
    printf '%s\n' "$KOSOKU_SPEC" >"$VENV/.kosoku-spec"
    venv_ok || die "kosoku is not usable in $VENV after installation"
    log "installed $("$VENV/bin/python" -c 'import importlib.metadata as m; print("kosoku", m.version("kosoku"))')"
}

# ---------------------------------------------------------------------------
# Commands under test.
EXAMPLES_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples"
if [[ -n "${WSX_ECHO_SERVER_CMD:-}" ]]; then
    read -r -a ECHO_SERVER_CMD <<<"$WSX_ECHO_SERVER_CMD"
else
    ECHO_SERVER_CMD=("$EXAMPLES_DIR/echo_server")
fi
if [[ -n "${WSX_AUTOBAHN_CLIENT_CMD:-}" ]]; then
    read -r -a AUTOBAHN_CLIENT_CMD <<<"$WSX_AUTOBAHN_CLIENT_CMD"
else
    AUTOBAHN_CLIENT_CMD=("$EXAMPLES_DIR/autobahn_client")
fi

build_examples() {
    local need=0
    [[ $MODE != client && -z "${WSX_ECHO_SERVER_CMD:-}" ]] && need=1
    [[ $MODE != server && -z "${WSX_AUTOBAHN_CLIENT_CMD:-}" ]] && need=1
    ((need)) || return 0
    log "building examples: cargo build --release -p wsx --examples"
    budget 1800
    run_fg timeout "$BUDGET" cargo build --release -p wsx --examples || die "cargo build of the examples failed"
    if [[ $MODE != client && -z "${WSX_ECHO_SERVER_CMD:-}" && ! -x "${ECHO_SERVER_CMD[0]}" ]]; then
        die "${ECHO_SERVER_CMD[0]} was not built (is there an echo_server example in crates/wsx?)"
    fi
    if [[ $MODE != server && -z "${WSX_AUTOBAHN_CLIENT_CMD:-}" && ! -x "${AUTOBAHN_CLIENT_CMD[0]}" ]]; then
        die "${AUTOBAHN_CLIENT_CMD[0]} was not built (is there an autobahn_client example in crates/wsx?)"
    fi
}

# ---------------------------------------------------------------------------
# Server side: kosoku (fuzzingclient) -> echo_server.
run_server_side() {
    local dir="$OUT/server" slog="$OUT/echo_server.log" klog="$OUT/server-kosoku.log"
    local t0=$SECONDS rc=0 pid
    rm -rf "$dir"
    ensure_port_free "$SERVER_PORT" || return 1
    local cmd=("${ECHO_SERVER_CMD[@]}" --addr "$HOST:$SERVER_PORT" "${SERVER_ARGS[@]}")
    log "server side: starting ${cmd[*]}"
    "${cmd[@]}" >"$slog" 2>&1 </dev/null &
    pid=$!
    BG_PIDS+=("$pid")
    wait_port "$SERVER_PORT" "$pid" echo_server "$slog" || return 1

    local kargs=(-p "$PARALLELISM" "${CASE_ARGS[@]}" -o "$dir" "$HOST:$SERVER_PORT")
    log "server side: kosoku ${kargs[*]} (timeout ${RUN_TIMEOUT}s)"
    budget "$RUN_TIMEOUT"
    run_fg timeout -k 10 "$BUDGET" "$VENV/bin/kosoku" "${kargs[@]}" >"$klog" 2>&1 </dev/null || rc=$?
    tail -n 3 "$klog" | sed 's/^/    kosoku: /'

    local alive=1
    kill -0 "$pid" 2>/dev/null || alive=0
    stop_pid "$pid"
    untrack "$pid"
    log "server side: finished in $((SECONDS - t0))s (kosoku exit $rc)"
    if ((alive == 0)); then
        log "echo_server died during the run; last lines of $slog:"
        tail -n 30 "$slog" || true
        return 1
    fi
    # kosoku exits 1 when some case did not pass; the summary judges those.
    if ((rc != 0 && rc != 1)); then
        ((rc == 124)) && log "kosoku timed out after ${RUN_TIMEOUT}s (AUTOBAHN_RUN_TIMEOUT)"
        log "kosoku failed (exit $rc); last lines of $klog:"
        tail -n 30 "$klog" || true
        return 1
    fi
    return 0
}

# Ask a fuzzingserver to write its report for the cases run so far.
request_update_reports() {
    "$VENV/bin/python" - "$HOST" "$1" "$AGENT" <<'PY' || true
import base64, os, socket, sys
host, port, agent = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    s = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /updateReports?agent={agent} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    s.recv(4096)
    s.close()
except OSError as e:
    print(f"updateReports request failed: {e}", file=sys.stderr)
PY
}

# Client side: autobahn_client -> kosoku (fuzzingserver).
run_client_side() {
    local dir="$OUT/client" clog="$OUT/autobahn_client.log" klog="$OUT/client-kosoku.log"
    local t0=$SECONDS rc=0 pid status=0
    rm -rf "$dir"
    ensure_port_free "$CLIENT_PORT" || return 1
    local kargs=(-m fuzzingserver "${CASE_ARGS[@]}" -o "$dir" "$HOST:$CLIENT_PORT")
    log "client side: starting kosoku ${kargs[*]}"
    # The fuzzingserver exits by itself after the client's /updateReports; the
    # timeout is only a safety net in case this script is killed hard.
    budget $((RUN_TIMEOUT + REPORT_WAIT + 120))
    timeout -k 10 "$BUDGET" "$VENV/bin/kosoku" "${kargs[@]}" >"$klog" 2>&1 </dev/null &
    pid=$!
    BG_PIDS+=("$pid")
    wait_port "$CLIENT_PORT" "$pid" "kosoku fuzzingserver" "$klog" || return 1

    local cmd=("${AUTOBAHN_CLIENT_CMD[@]}" --url "ws://$HOST:$CLIENT_PORT" --agent "$AGENT" "${CLIENT_ARGS[@]}")
    log "client side: running ${cmd[*]} (timeout ${RUN_TIMEOUT}s)"
    budget "$RUN_TIMEOUT"
    run_fg timeout -k 10 "$BUDGET" "${cmd[@]}" >"$clog" 2>&1 </dev/null || rc=$?
    if ((rc != 0)); then
        status=1
        ((rc == 124)) && log "autobahn_client timed out after ${RUN_TIMEOUT}s (AUTOBAHN_RUN_TIMEOUT)"
        log "autobahn_client failed (exit $rc); last lines of $clog:"
        tail -n 30 "$clog" || true
    fi

    if ! wait_exit "$pid" "$REPORT_WAIT"; then
        status=1
        log "kosoku fuzzingserver still running ${REPORT_WAIT}s after the client finished" \
            "(did the client request /updateReports?agent=$AGENT?); requesting the report for the cases run so far"
        request_update_reports "$CLIENT_PORT"
        wait_exit "$pid" 60 || log "kosoku fuzzingserver did not exit; stopping it"
    fi
    stop_pid "$pid"
    untrack "$pid"
    tail -n 3 "$klog" | sed 's/^/    kosoku: /'
    log "client side: finished in $((SECONDS - t0))s (client exit $rc)"
    return "$status"
}

# ---------------------------------------------------------------------------
mkdir -p "$OUT"
log "mode=$MODE, reports in $OUT"
setup_kosoku
build_examples

FAILED_SIDES=()
RUNS=()
if [[ $MODE == server || $MODE == all ]]; then
    run_server_side || FAILED_SIDES+=(server)
    RUNS+=("server (kosoku fuzzingclient -> wsx echo_server)=$OUT/server")
fi
if [[ $MODE == client || $MODE == all ]]; then
    run_client_side || FAILED_SIDES+=(client)
    RUNS+=("client (wsx autobahn_client -> kosoku fuzzingserver)=$OUT/client")
fi
cleanup

SUMMARY_ARGS=(--md "$OUT/summary.md" --title "Autobahn TestSuite results ($("$VENV/bin/python" -c 'import importlib.metadata as m; print("kosoku", m.version("kosoku"))'))")
if [[ $ALLOW_UNIMPL == 1 ]]; then
    SUMMARY_ARGS+=(--allow-unimplemented "12,13")
fi
summary_rc=0
"$VENV/bin/python" "$ROOT/scripts/autobahn_summary.py" "${SUMMARY_ARGS[@]}" "${SUMMARY_CASE_ARGS[@]}" "${RUNS[@]}" ||
    summary_rc=$?

echo
if ((${#FAILED_SIDES[@]})); then
    log "FAIL: problems running the ${FAILED_SIDES[*]} side (see the messages above and the logs in $OUT)"
    exit 1
fi
if ((summary_rc != 0)); then
    log "FAIL: unacceptable Autobahn results (details in $OUT/{server,client}/index.html)"
    exit 1
fi
log "PASS (total $((SECONDS - START_TIME))s)"
