#!/usr/bin/env bash
# usage: OUT=DIR WSX=path/to/wsx WSLOAD=path/to/wsload SERVER_CMD='echo_server --addr 127.0.0.1:{PORT}' \
#        scripts/bench_crosscheck.sh
#
# Do our load generator (`wsx bench`) and the outside yardstick's (`wsload`, ../shared/bench)
# measure the same thing? One echo server (SERVER_CMD, pinned to SERVER_CPU) is started once;
# for every SIZES x CONNS cell and every round, the two take turns on it (the one going first
# alternates per round), each pinned to CLIENT_CPU, same duration, warm-up, pipeline and
# opcode. Results: OUT/agreement.jsonl ({"round","size","conns","tool","result"} per run) and a
# table on stderr (median msgs/s, p50, p99 of each, and the ratio wsx bench / wsload);
# scripts/perf_report.py --crosscheck OUT draws the same table into the report.
#
# Then the idle-memory test both ways: for IDLE_ROUNDS rounds, a freshly started server per tool
# gets IDLE_CONNS idle connections, from wsload (which reads the server's RSS itself) or from
# `wsx bench --idle` (RSS read here from /proc once its ready file appears): OUT/idle.jsonl.
#
# Knobs: SIZES ("16 1024"), CONNS ("64"), ROUNDS (3), DURATION (5), WARMUP (1), PIPELINE (1),
#   OPCODE (binary), IDLE_CONNS (2000), IDLE_ROUNDS (2; 0 skips), IDLE_HOLD (2),
#   SERVER_CPU (0), CLIENT_CPU (1), LOCK (/tmp/cpu.lock), PORT (19399; idle runs use the ports
#   after it)
set -euo pipefail

OUT=${OUT:?set OUT}
WSX=${WSX:?set WSX to the wsx binary}
WSLOAD=${WSLOAD:?set WSLOAD to the wsload binary of the yardstick}
SERVER_CMD=${SERVER_CMD:?set SERVER_CMD to the echo server command line}
SIZES=${SIZES:-"16 1024"}
CONNS=${CONNS:-"64"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
PIPELINE=${PIPELINE:-1}
OPCODE=${OPCODE:-binary}
IDLE_CONNS=${IDLE_CONNS:-2000}
IDLE_ROUNDS=${IDLE_ROUNDS:-2}
IDLE_HOLD=${IDLE_HOLD:-2}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LOCK=${LOCK-/tmp/cpu.lock}
PORT=${PORT:-19399}

log() { printf '[%(%H:%M:%S)T] bench_crosscheck: %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
locked() { if [ -n "$LOCK" ]; then flock "$LOCK" "$@"; else "$@"; fi; }
[ -x "$WSX" ] || die "$WSX is not an executable"
[ -x "$WSLOAD" ] || die "$WSLOAD is not an executable"
[[ $SERVER_CMD == *"{PORT}"* ]] || die "SERVER_CMD has no {PORT}"

mkdir -p "$OUT"
AGREE=$OUT/agreement.jsonl
: >"$AGREE"
{
    echo "server: $SERVER_CMD"
    echo "sizes: $SIZES  conns: $CONNS  pipeline: $PIPELINE  opcode: $OPCODE"
    echo "rounds: $ROUNDS  warmup: ${WARMUP}s  duration: ${DURATION}s  idle: $IDLE_CONNS conns x $IDLE_ROUNDS round(s)"
    echo "server cpu: $SERVER_CPU  client cpu: $CLIENT_CPU  lock: ${LOCK:-none}"
    echo "started: $(date -Is)"
} >"$OUT/meta.txt"

listening() { # PORT
    local hex; hex=$(printf ':%04X' "$1")
    awk -v h="$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# PORT, or the next free one (something else may hold it).
free_port() {
    local port=$1 tries=0
    while listening "$port"; do
        tries=$((tries + 1))
        [ $tries -lt 200 ] || die "no free port from $1 to $port"
        port=$((port + 1000))
    done
    echo "$port"
}
PORT=$(free_port "$PORT")
cmd=${SERVER_CMD//\{PORT\}/$PORT}
SPID='' IPID=''
stop_all() {
    local p
    for p in "$SPID" "$IPID"; do
        [ -n "$p" ] && { kill -TERM -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; }
    done
}
trap stop_all EXIT
setsid taskset -c "$SERVER_CPU" bash -c "exec $cmd" >"$OUT/server.log" 2>&1 &
SPID=$!
for _ in $(seq 600); do
    if listening "$PORT"; then break; fi
    kill -0 "$SPID" 2>/dev/null || die "the server exited at start (see $OUT/server.log)"
    sleep 0.05
done
sleep 0.3

URL=ws://127.0.0.1:$PORT/
read -r -a SIZE_L <<<"$SIZES"
read -r -a CONN_L <<<"$CONNS"
run_tool() { # TOOL SIZE CONNS -> one JSON line
    local out
    case $1 in
        wsload) out=$(locked taskset -c "$CLIENT_CPU" "$WSLOAD" --url "$URL" --conns "$3" --size "$2" \
            --duration "$DURATION" --warmup "$WARMUP" --pipeline "$PIPELINE" "--$OPCODE" \
            --server-pid "$SPID" 2>/dev/null) || out='{"error":"wsload failed"}' ;;
        wsx-bench) out=$(locked taskset -c "$CLIENT_CPU" "$WSX" bench "$URL" --conns "$3" --size "$2" \
            --duration "$DURATION" --warmup "$WARMUP" --pipeline "$PIPELINE" "--$OPCODE" --json \
            --server-pid "$SPID" 2>/dev/null) || out='{"error":"wsx bench failed"}' ;;
    esac
    echo "$out"
}
for ((r = 1; r <= ROUNDS; r++)); do
    for size in "${SIZE_L[@]}"; do
        for conns in "${CONN_L[@]}"; do
            if ((r % 2)); then order=(wsx-bench wsload); else order=(wsload wsx-bench); fi
            for tool in "${order[@]}"; do
                line=$(run_tool "$tool" "$size" "$conns")
                echo "{\"round\":$r,\"size\":$size,\"conns\":$conns,\"tool\":\"$tool\",\"result\":$line}" >>"$AGREE"
                log "r$r ${size}B x $conns $tool: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r.get("msgs_per_sec"), "msg/s, p50", r.get("p50_us"), "us, p99", r.get("p99_us"), "us, errors", r.get("errors", r.get("error")))' "$line")"
            done
        done
    done
done
kill -TERM -- "-$SPID" 2>/dev/null || kill "$SPID" 2>/dev/null || true
wait "$SPID" 2>/dev/null || true

# ---------------------------------------------------------------- idle memory, both tools
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
IDLEF=$OUT/idle.jsonl
: >"$IDLEF"
port=$PORT
for ((r = 1; r <= IDLE_ROUNDS; r++)); do
    if ((r % 2)); then order=(wsx-bench wsload); else order=(wsload wsx-bench); fi
    for tool in "${order[@]}"; do
        # A fresh server on a port of its own (closed connections linger in TIME_WAIT).
        port=$(free_port $((port + 1)))
        cmd=${SERVER_CMD//\{PORT\}/$port}
        setsid taskset -c "$SERVER_CPU" bash -c "exec $cmd" >>"$OUT/server.log" 2>&1 &
        IPID=$!
        for _ in $(seq 600); do listening "$port" && break; sleep 0.05; done
        sleep 0.2
        if [ "$tool" = wsload ]; then
            line=$(locked taskset -c "$CLIENT_CPU" "$WSLOAD" --url "ws://127.0.0.1:$port/" --idle "$IDLE_CONNS" \
                --duration "$IDLE_HOLD" --server-pid "$IPID" 2>/dev/null) || line='{"error":"wsload failed"}'
        else
            before=$(rss_kib "$IPID")
            ready=$OUT/.ready
            rm -f "$ready"
            locked taskset -c "$CLIENT_CPU" "$WSX" bench "ws://127.0.0.1:$port/" --idle "$IDLE_CONNS" \
                --hold "$IDLE_HOLD" --ready-file "$ready" --json >"$OUT/.idle.out" 2>/dev/null &
            BPID=$!
            after=''
            for _ in $(seq 6000); do
                kill -0 "$BPID" 2>/dev/null || break
                if [ -s "$ready" ]; then
                    # As wsload: read the RSS 1 s into the hold.
                    sleep "$(python3 -c "print(min(1.0, $IDLE_HOLD / 2))")"
                    after=$(rss_kib "$IPID")
                    break
                fi
                sleep 0.05
            done
            wait "$BPID" || true
            line=$(python3 -c '
import json, sys
try:
    r = json.loads(open(sys.argv[1]).read())
except ValueError:
    r = {"error": "wsx bench failed"}
if sys.argv[3] and r.get("conns_ok"):
    r["kib_per_conn"] = round((int(sys.argv[3]) - int(sys.argv[2])) / r["conns_ok"], 2)
print(json.dumps(r, separators=(",", ":")))' "$OUT/.idle.out" "$before" "$after")
            rm -f "$ready" "$OUT/.idle.out"
        fi
        echo "{\"round\":$r,\"tool\":\"$tool\",\"conns\":$IDLE_CONNS,\"result\":$line}" >>"$IDLEF"
        log "idle r$r $tool: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r.get("kib_per_conn"), "KiB/conn,", r.get("conns_ok"), "up, errors", r.get("errors", r.get("error")))' "$line")"
        kill -TERM -- "-$IPID" 2>/dev/null || kill "$IPID" 2>/dev/null || true
        wait "$IPID" 2>/dev/null || true
    done
done

echo "finished: $(date -Is)" >>"$OUT/meta.txt"
python3 "$(dirname "$0")/perf_report.py" --crosscheck-table "$OUT" >&2
log "results in $OUT"
