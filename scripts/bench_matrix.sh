#!/usr/bin/env bash
# usage: scripts/bench_matrix.sh NAME=COMMAND... [NAME:raw=COMMAND]   (knobs: environment, below)
#
# The project's own echo matrix, run by scripts/bench.sh (twice: pipeline 1, then pipelined):
# every server NAME=COMMAND (COMMAND holds {PORT} and starts an echo server on
# ws://127.0.0.1:PORT/; a NAME ending in :raw is a raw TCP echo) is measured with the same load
# generator, `wsx bench` (crates/wsx-cli), in the same run:
#   1. idle memory: for each round and server, a freshly started server, IDLE_CONNS idle
#      connections (`wsx bench --idle`); the server's RSS (process and descendants, /proc) is
#      read before and once they are all up: KiB per connection;
#   2. throughput: all servers up at once (idle ones cost no CPU), every SIZES x CONNS cell
#      for every server, round after round, the server order rotated per round and cell.
# The server runs pinned to SERVER_CPU, the load generator to CLIENT_CPU (taskset); every
# measurement runs under `flock $LOCK` so that it never overlaps another job holding that lock.
#
# Knobs: WSX (the wsx binary, required), OUT (results folder, required), SIZES ("16 1024
#   65536"), CONNS ("1 64 512"), PIPELINE (1), DURATION (5), WARMUP (1), ROUNDS (3),
#   OPCODE (binary|text), IDLE_CONNS (10000), IDLE_ROUNDS (3; 0 skips), IDLE_HOLD (2),
#   LOAD (1; 0 skips the throughput part), SERVER_CPU (0), CLIENT_CPU (1), LOCK (/tmp/cpu.lock;
#   empty: none), BASE_PORT (19201), START_TIMEOUT (60)
# Output, in OUT: meta.txt, servers.tsv (name, raw=0|1, command), load.jsonl and idle.jsonl (one
# line per run: {"round","server","size","conns","result": wsx bench's JSON}), server-NAME.log.
# scripts/perf_report.py reads that folder. Everything is on loopback and bounded in time.
set -euo pipefail

WSX=${WSX:?set WSX to the wsx binary}
OUT=${OUT:?set OUT to the results folder}
SIZES=${SIZES:-"16 1024 65536"}
CONNS=${CONNS:-"1 64 512"}
PIPELINE=${PIPELINE:-1}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
OPCODE=${OPCODE:-binary}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_ROUNDS=${IDLE_ROUNDS:-3}
IDLE_HOLD=${IDLE_HOLD:-2}
LOAD=${LOAD:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LOCK=${LOCK-/tmp/cpu.lock}
BASE_PORT=${BASE_PORT:-19201}
START_TIMEOUT=${START_TIMEOUT:-60}

log() { printf '[%(%H:%M:%S)T] bench_matrix: %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
locked() { if [ -n "$LOCK" ]; then flock "$LOCK" "$@"; else "$@"; fi; }

[ $# -gt 0 ] || die "no server given (NAME=COMMAND with {PORT})"
[ -x "$WSX" ] || die "$WSX is not an executable"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v python3 >/dev/null || die "python3 not found"
if [ -n "$LOCK" ]; then command -v flock >/dev/null || die "flock not found (util-linux)"; fi
case $OPCODE in binary | text) ;; *) die "OPCODE must be binary or text" ;; esac

NAMES=() CMDS=() RAWS=()
for spec in "$@"; do
    name=${spec%%=*} cmd=${spec#*=} raw=0
    [ "$name" != "$spec" ] && [ -n "$cmd" ] || die "a server is NAME=COMMAND: $spec"
    if [[ $name == *:raw ]]; then name=${name%:raw}; raw=1; fi
    [[ $name =~ ^[A-Za-z0-9._+-]+$ ]] || die "bad server name: $name"
    [[ $cmd == *"{PORT}"* ]] || die "the command of $name has no {PORT}: $cmd"
    NAMES+=("$name") CMDS+=("$cmd") RAWS+=("$raw")
done
NS=${#NAMES[@]}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$IDLE_ROUNDS" -gt 0 ] && [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((IDLE_CONNS + 100)) ]; then
    die "open files limit $NOFILE is below IDLE_CONNS=$IDLE_CONNS + 100: lower IDLE_CONNS"
fi

mkdir -p "$OUT"
LOADF=$OUT/load.jsonl IDLEF=$OUT/idle.jsonl
: >"$LOADF"; : >"$IDLEF"; : >"$OUT/servers.tsv"
read -r -a SIZE_L <<<"$SIZES"
read -r -a CONN_L <<<"$CONNS"
{
    echo "load generator: $WSX bench ($("$WSX" --version 2>/dev/null || echo '?'))"
    echo "servers: ${NAMES[*]}"
    echo "sizes: $SIZES  conns: $CONNS  pipeline: $PIPELINE  opcode: $OPCODE"
    echo "rounds: $ROUNDS  warmup: ${WARMUP}s  duration: ${DURATION}s  idle: $IDLE_CONNS conns x $IDLE_ROUNDS round(s), hold ${IDLE_HOLD}s"
    echo "server cpu: $SERVER_CPU  client cpu: $CLIENT_CPU  lock: ${LOCK:-none}"
    echo "kernel: $(uname -r)  cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')  nproc: $(nproc)"
    echo "started: $(date -Is)"
} | tee "$OUT/meta.txt" >&2
for i in "${!NAMES[@]}"; do printf '%s\traw=%s\t%s\n' "${NAMES[$i]}" "${RAWS[$i]}" "${CMDS[$i]}" >>"$OUT/servers.tsv"; done

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do [ -n "$p" ] && kill -TERM -- "-$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { # PORT: a listening socket on it (any address)?
    local hex; hex=$(printf ':%04X' "$1")
    awk -v h="$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# start_server IDX PORT: sets SPID, and SPORT[IDX] to the port it listens on: PORT, or the
# next free one when something else holds PORT. In a session of its own (stopped as a group),
# pinned to SERVER_CPU.
SPORT=()
start_server() {
    local i=$1 port=$2 cmd t=0 tries=0
    while listening "$port"; do
        tries=$((tries + 1))
        [ $tries -lt 200 ] || die "no free port from $2 to $port"
        port=$((port + 1000))
    done
    SPORT[i]=$port
    cmd=${CMDS[$i]//\{PORT\}/$port}
    setsid taskset -c "$SERVER_CPU" bash -c "exec $cmd" >>"$OUT/server-${NAMES[$i]}.log" 2>&1 &
    SPID=$!
    PIDS[i]=$SPID
    until listening "$port"; do
        kill -0 "$SPID" 2>/dev/null || die "${NAMES[$i]} exited at start (see $OUT/server-${NAMES[$i]}.log)"
        sleep 0.05; t=$((t + 1))
        [ $t -lt $((START_TIMEOUT * 20)) ] || die "${NAMES[$i]} is not listening on $port after ${START_TIMEOUT}s"
    done
}

stop_server() { # IDX
    local p=${PIDS[$1]:-}
    [ -n "$p" ] || return 0
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    PIDS[$1]=
}

# VmRSS of a process and all its descendants, KiB.
rss_tree_kib() {
    python3 - "$1" <<'EOF'
import os, sys
root = sys.argv[1]
children = {}
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/stat") as f:
            ppid = f.read().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        continue
    children.setdefault(ppid, []).append(pid)
total, todo = 0, [root]
while todo:
    pid = todo.pop()
    todo += children.get(pid, [])
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    except OSError:
        pass
print(total)
EOF
}

field() { # KEY JSON -> a top-level scalar or [array] (for log lines only)
    if [[ $2 =~ \"$1\":(\[[^]]*\]|\"[^\"]*\"|[^,\}]*) ]]; then echo "${BASH_REMATCH[1]}"; else echo "?"; fi
}

# ---------------------------------------------------------------- 1. idle memory
if [ "$IDLE_ROUNDS" -gt 0 ]; then
    log "idle memory: $IDLE_CONNS connections, a fresh server each time"
    for ((r = 1; r <= IDLE_ROUNDS; r++)); do
        for i in "${!NAMES[@]}"; do
            # A port of its own per run: the last run's closed connections linger in TIME_WAIT.
            port=$((BASE_PORT + 100 + (r - 1) * NS + i))
            start_server "$i" "$port"
            port=${SPORT[$i]}
            sleep 0.2
            before=$(rss_tree_kib "$SPID")
            ready=$OUT/.ready-$r-$i
            rm -f "$ready"
            rawflag=(); [ "${RAWS[$i]}" = 1 ] && rawflag=(--raw)
            locked taskset -c "$CLIENT_CPU" "$WSX" bench "ws://127.0.0.1:$port/" "${rawflag[@]}" \
                --idle "$IDLE_CONNS" --hold "$IDLE_HOLD" --ready-file "$ready" --json \
                --label "${NAMES[$i]}" >"$OUT/.idle.out" 2>"$OUT/.idle.err" &
            BPID=$!
            # Read the RSS once every connection is up and the server had a moment to settle.
            after='' t=0
            while kill -0 "$BPID" 2>/dev/null; do
                if [ -s "$ready" ]; then
                    sleep "$(python3 -c "print(min(1.0, $IDLE_HOLD / 2))")"
                    after=$(rss_tree_kib "$SPID")
                    break
                fi
                sleep 0.05; t=$((t + 1))
                [ $t -lt 6000 ] || break
            done
            wait "$BPID" || true
            line=$(cat "$OUT/.idle.out")
            [ -n "$line" ] || line="{\"error\":\"wsx bench failed: $(head -c 200 "$OUT/.idle.err" | tr -d '"\\\n')\"}"
            line=$(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); before, after = sys.argv[2], sys.argv[3]
if after and r.get("conns_ok"):
    r["rss_before_kib"], r["rss_after_kib"] = int(before), int(after)
    r["kib_per_conn"] = round((int(after) - int(before)) / r["conns_ok"], 2)
elif "error" not in r:
    r["error"] = "the connections never all came up (no RSS reading)"
print(json.dumps(r, separators=(",", ":")))' "$line" "$before" "$after")
            echo "{\"round\":$r,\"server\":\"${NAMES[$i]}\",\"result\":$line}" >>"$IDLEF"
            log "idle r$r ${NAMES[$i]}: $(field kib_per_conn "$line") KiB/conn, $(field conns_ok "$line") up in $(field connect_s "$line") s, errors $(field errors "$line")"
            rm -f "$ready" "$OUT/.idle.out" "$OUT/.idle.err"
            stop_server "$i"
        done
    done
fi

# ---------------------------------------------------------------- 2. throughput
if [ "$LOAD" = 1 ]; then
    log "throughput: all servers up, pinned to cpu $SERVER_CPU; load on cpu $CLIENT_CPU"
    for i in "${!NAMES[@]}"; do start_server "$i" $((BASE_PORT + i)); done
    sleep 0.3
    run=0 total=$((ROUNDS * ${#SIZE_L[@]} * ${#CONN_L[@]} * NS))
    for ((r = 1; r <= ROUNDS; r++)); do
        c=0
        for size in "${SIZE_L[@]}"; do
            for conns in "${CONN_L[@]}"; do
                for ((k = 0; k < NS; k++)); do
                    # Rotate the order per round and cell: no server always goes first.
                    i=$(((k + r - 1 + c) % NS))
                    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
                        log "${NAMES[$i]} died; restarting it (see $OUT/server-${NAMES[$i]}.log)"
                        echo "{\"round\":$r,\"server\":\"${NAMES[$i]}\",\"event\":\"restarted\"}" >>"$LOADF"
                        wait "${PIDS[$i]}" 2>/dev/null || true
                        start_server "$i" "${SPORT[$i]}"
                    fi
                    port=${SPORT[$i]}
                    rawflag=(); [ "${RAWS[$i]}" = 1 ] && rawflag=(--raw)
                    line=$(locked taskset -c "$CLIENT_CPU" "$WSX" bench "ws://127.0.0.1:$port/" "${rawflag[@]}" \
                        --conns "$conns" --size "$size" --duration "$DURATION" --warmup "$WARMUP" \
                        --pipeline "$PIPELINE" "--$OPCODE" --json --label "${NAMES[$i]}" \
                        --server-pid "${PIDS[$i]}" 2>"$OUT/.load.err") \
                        || line="{\"error\":\"wsx bench failed: $(head -c 200 "$OUT/.load.err" | tr -d '"\\\n')\"}"
                    run=$((run + 1))
                    echo "{\"round\":$r,\"server\":\"${NAMES[$i]}\",\"size\":$size,\"conns\":$conns,\"result\":$line}" >>"$LOADF"
                    log "[$run/$total] r$r ${size}B x $conns ${NAMES[$i]}: $(field msgs_per_sec "$line") msg/s, p50 $(field p50_us "$line") us, p99 $(field p99_us "$line") us, cores $(field cpu_busy_pct "$line"), errors $(field errors "$line")"
                done
                c=$((c + 1))
            done
        done
    done
    rm -f "$OUT/.load.err"
    for i in "${!NAMES[@]}"; do stop_server "$i"; done
fi
echo "finished: $(date -Is)" >>"$OUT/meta.txt"
log "results in $OUT"
