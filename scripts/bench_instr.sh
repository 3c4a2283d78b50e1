#!/usr/bin/env bash
# usage: WSLOAD=/path/to/wsload scripts/bench_instr.sh SIZE CONNS NAME=COMMAND...
#        (COMMAND contains {PORT}; NAME:raw for a raw TCP echo; OUT=FILE appends the lines there)
#
# User-space instructions per echoed message, counted by callgrind: the method of the yardstick's
# ../shared/bench/instr.sh (each server under `valgrind --tool=callgrind`, wsload drives SIZE-byte
# binary echo over CONNS connections, 4 s warm-up and 8 s measured; counters zeroed 6 s in and
# dumped 4 s later), with an exact message count: instr.sh divides by wsload's msgs/s times the
# window, which is off by up to 20% because the window and wsload's clock do not line up; here the
# divisor is callgrind's own count of the server's calls to send/writev/write in the same window
# (each server writes each echo with one such call at pipeline 1; the line shows the calls by
# name so that can be checked). Prints one tab-separated line per server: name, size, conns,
# instructions per message (exact), messages (write calls), instr.sh's estimate, wsload errors.
# Needs valgrind and python3.
set -u
[ $# -ge 3 ] || { sed -n '2,3p' "$0"; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 2; }
WSLOAD=${WSLOAD:-/tmp/wsbench-target/release/wsload}
[ -x "$WSLOAD" ] || { echo "wsload not found at $WSLOAD (set WSLOAD)" >&2; exit 2; }
size=$1 conns=$2
shift 2
port=$((29000 + RANDOM % 1000))
for spec in "$@"; do
    name=${spec%%=*} cmd=${spec#*=} raw=
    cmd=${cmd//\{PORT\}/$port}
    if [[ $name == *:raw ]]; then name=${name%:raw} raw=--raw; fi
    out=$(mktemp -d)
    # shellcheck disable=SC2086 # COMMAND is a command line
    setsid valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" $cmd >"$out/server.log" 2>&1 &
    vpid=$!
    for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    "$WSLOAD" --url "ws://127.0.0.1:$port/" $raw --conns "$conns" --size "$size" --warmup 4 \
        --duration 8 >"$out/load.json" 2>"$out/load.err" &
    lpid=$!
    sleep 6
    callgrind_control -z "$vpid" >/dev/null 2>&1
    t0=$(date +%s.%N)
    sleep 4
    callgrind_control -d "$vpid" >/dev/null 2>&1
    t1=$(date +%s.%N)
    wait "$lpid"
    kill -TERM -- -"$vpid" 2>/dev/null
    sleep 0.5
    kill -9 -- -"$vpid" 2>/dev/null
    wait "$vpid" 2>/dev/null
    f=$(ls "$out"/cg.*.1 2>/dev/null | head -1)
    line=$(python3 - "${f:-}" "$out/load.json" "$t0" "$t1" "$name" "$size" "$conns" <<'PY'
import json, re, sys
path, load, t0, t1, name, size, conns = sys.argv[1:]
writes = re.compile(r"^(send|__send|__libc_send|writev|__writev|write|__libc_write|__write)$")
names, fn_names, total, calls = {}, {}, 0, {}
def resolve(spec):
    m = re.match(r"\((\d+)\)(?: (.*))?", spec)
    if not m:
        return spec
    if m.group(2) is not None:
        fn_names[m.group(1)] = m.group(2)
    return fn_names.get(m.group(1), "?")
callee = None
try:
    with open(path) as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                n = resolve(line.split("=", 1)[1].strip())
                callee = n if line.startswith("cfn=") else None
            elif line.startswith("calls=") and callee and writes.match(callee):
                calls[callee] = calls.get(callee, 0) + int(line[6:].split()[0])
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
except OSError:
    pass
try:
    j = json.loads(open(load).read().strip().splitlines()[-1])
except Exception:
    j = {"msgs_per_sec": 0, "errors": "no wsload output"}
msgs = sum(calls.values())
estimate = j.get("msgs_per_sec", 0) * (float(t1) - float(t0))
exact = f"{total / msgs:.0f}" if msgs and total else "n/a"
approx = f"{total / estimate:.0f}" if estimate and total else "n/a"
by_name = ",".join(f"{k}:{v}" for k, v in sorted(calls.items()))
print(f"{name}\t{size}\t{conns}\t{exact}\t{msgs}\t{approx}\t{j.get('errors')}\t{by_name}")
PY
)
    echo "$line"
    if [ -n "${OUT:-}" ]; then echo "$line" >>"$OUT"; fi
    rm -rf "$out"
    port=$((port + 1))
done
