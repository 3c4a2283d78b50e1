#!/usr/bin/env python3
"""Write docs/PERFORMANCE.md and docs/perf-chart.svg from the results of scripts/bench.sh.

usage: perf_report.py [--matrix DIR] [--pipeline DIR] [--criterion DIR] [--fanout FILE]
                      [--crosscheck DIR] [--instr DIR] [--meta FILE] [--out docs/PERFORMANCE.md]
                      [--chart docs/perf-chart.svg]
       perf_report.py --crosscheck-table DIR     (prints only the agreement table)

--matrix and --pipeline are results folders of scripts/bench_matrix.sh (load.jsonl, idle.jsonl,
servers.tsv, meta.txt; the yardstick's ../shared/bench/run.sh writes the same format, so its
folders work too), --criterion a folder of `cargo bench` outputs (core.txt, deflate.txt),
--fanout the JSON line of examples/fanout.rs, --crosscheck a folder of
scripts/bench_crosscheck.sh (agreement.jsonl: `wsx bench` and the yardstick's wsload on the same
server), --instr a folder of scripts/bench_instr.sh lines (instr.tsv: instructions per echoed
message under callgrind), --meta bench.sh's notes (command, date, machine). Every input is optional; the report
has the sections it has data for. Standard library only.

"Server core busy share" below is cpu_busy_pct[server core] of the load generator's JSON:
everything that ran on the server's pinned core in the measured window, including softirq,
i.e. the kernel's loopback TCP work for the server's sends. server_cpu_pct (per process) leaves
that softirq work out and is shown only for reference.
"""
import argparse
import html
import json
import math
import os
import re
import shlex
import statistics
from collections import defaultdict

# Everything from this line on in PERFORMANCE.md is kept when the report is rewritten.
KEEP_MARKER = "<!-- kept by perf_report.py: sections below come from other scripts -->"

WSX = ["wsx", "wsx-stream"]
FAST = ["fastwebsockets", "tokio-websockets"]
CRATES = ["tungstenite", "fastwebsockets", "tokio-websockets"]
ORDER = WSX + ["fastwebsockets", "tokio-websockets", "tungstenite", "raw"]
CHART = WSX + ["fastwebsockets", "tokio-websockets", "tungstenite"]
COLORS = {
    "wsx": "#d9480f",
    "wsx-stream": "#f59f00",
    "fastwebsockets": "#1971c2",
    "tokio-websockets": "#2f9e44",
    "tungstenite": "#868e96",
}


# ------------------------------------------------------------------------------ helpers

def read_jsonl(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    return rows


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fint(v):
    return "-" if v is None else f"{v:,.0f}"


def f1(v):
    return "-" if v is None else f"{v:,.1f}"


def f2(v):
    return "-" if v is None else f"{v:.2f}"


def table(header, rows, align=None):
    align = align or [":--"] + ["---:"] * (len(header) - 1)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def size_name(size):
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size >> 10} KiB"
    return f"{size} B"


def cell_name(size, conns):
    return f"{size_name(size)} × {conns}"


def ordered(names):
    return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]


# ------------------------------------------------------------------------------ run.sh results

class Runs:
    """One run.sh results folder."""

    def __init__(self, folder):
        self.dir = folder
        self.servers, self.raw, self.cmds = [], None, {}
        tsv = os.path.join(folder, "servers.tsv")
        if os.path.exists(tsv):
            with open(tsv) as f:
                for line in f:
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) >= 3:
                        self.servers.append(parts[0])
                        self.cmds[parts[0]] = parts[2]
                        if parts[1] == "raw=1":
                            self.raw = parts[0]
        self.meta = ""
        self.server_cpu, self.client_cpu = 0, 1
        meta = os.path.join(folder, "meta.txt")
        if os.path.exists(meta):
            with open(meta) as f:
                self.meta = f.read().rstrip()
            m = re.search(r"server cpu: (\d+)\s+client cpu: (\d+)", self.meta)
            if m:
                self.server_cpu, self.client_cpu = int(m.group(1)), int(m.group(2))
        self.runs = defaultdict(list)  # (size, conns, server) -> [wsload result]
        self.cases = []
        self.problems = []
        self.pipeline = None
        for row in read_jsonl(os.path.join(folder, "load.jsonl")):
            if "event" in row:
                self.problems.append(f"round {row['round']}: server {row['server']} {row['event']}")
                continue
            r = row.get("result", {})
            where = f"round {row.get('round')} {cell_name(row['size'], row['conns'])} {row['server']}"
            if "error" in r:
                self.problems.append(f"{where}: {r['error']}")
                continue
            if r.get("errors"):
                self.problems.append(f"{where}: {r['errors']} error(s), first: {r.get('first_error')}")
            if row["server"] not in self.servers:
                self.servers.append(row["server"])
            case = (row["size"], row["conns"])
            if case not in self.cases:
                self.cases.append(case)
            self.pipeline = r.get("pipeline", self.pipeline)
            self.runs[(row["size"], row["conns"], row["server"])].append(r)
        self.cases.sort()
        self.idle = defaultdict(list)
        for row in read_jsonl(os.path.join(folder, "idle.jsonl")):
            r = row.get("result", {})
            if "error" in r:
                self.problems.append(f"idle round {row.get('round')} {row['server']}: {r['error']}")
                continue
            if r.get("errors"):
                self.problems.append(
                    f"idle round {row.get('round')} {row['server']}: {r['errors']} error(s), "
                    f"first: {r.get('first_error')}")
            self.idle[row["server"]].append(r)
        self.rounds = max((len(v) for v in self.runs.values()), default=0)

    def names(self):
        return ordered(self.servers)

    def rate(self, size, conns, server):
        return med(r["msgs_per_sec"] for r in self.runs.get((size, conns, server), []))

    def busy(self, r, core):
        b = r.get("cpu_busy_pct") or []
        return b[core] if len(b) > core else None

    def server_busy(self, size, conns, server):
        return med(self.busy(r, self.server_cpu) for r in self.runs.get((size, conns, server), []))

    def client_busy(self, size, conns, server):
        return med(self.busy(r, self.client_cpu) for r in self.runs.get((size, conns, server), []))

    def per_core_second(self, size, conns, server):
        """Median over rounds of msgs/s ÷ server core busy share."""
        vals = []
        for r in self.runs.get((size, conns, server), []):
            b = self.busy(r, self.server_cpu)
            if b:
                vals.append(r["msgs_per_sec"] / (b / 100))
        return med(vals)

    def us_per_msg(self, size, conns, server):
        """Median over rounds of server core time per message, µs."""
        vals = []
        for r in self.runs.get((size, conns, server), []):
            b = self.busy(r, self.server_cpu)
            if b is not None and r["msgs_per_sec"]:
                vals.append(b / 100 * 1e6 / r["msgs_per_sec"])
        return med(vals)

    def best_fast(self, size, conns):
        cands = [(self.rate(size, conns, n), n) for n in FAST if self.rate(size, conns, n)]
        return max(cands) if cands else (None, None)


# ------------------------------------------------------------------------------ criterion

UNIT_NS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
UNIT_BPS = {"B/s": 1, "KiB/s": 1024, "MiB/s": 1024 ** 2, "GiB/s": 1024 ** 3, "TiB/s": 1024 ** 4}


def parse_criterion(path):
    """Returns (text printed before the first result, [result dicts]) of one `cargo bench` output.

    criterion prints `NAME time: [low mid high]` (a long NAME on its own line, the numbers on the
    next), then `thrpt: [low mid high]`, then, against a saved baseline, a `change:` block whose
    time/thrpt lines hold percentages; those are skipped.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [x.rstrip("\n") for x in f]
    results, preamble = [], []
    name, current, in_change, started = None, None, False, False
    for i, line in enumerate(lines):
        m = re.match(r"^(\S.*?)\s+time:\s+\[(.*)\]", line)
        if m:
            name, in_change, started = m.group(1).strip(), False, True
            current = add_time(results, name, m.group(2))
            continue
        if re.match(r"^\s+change:", line):
            in_change = True
            continue
        m = re.match(r"^\s+time:\s+\[(.*)\]", line)
        if m:
            if not in_change and name and "%" not in m.group(1):
                current = add_time(results, name, m.group(1))
            continue
        m = re.match(r"^\s+thrpt:\s+\[(.*)\]", line)
        if m:
            parts = m.group(1).split()
            if not in_change and current is not None and "%" not in m.group(1) and len(parts) >= 4:
                current["thrpt"] = float(parts[2]) * UNIT_BPS.get(parts[3], 1)
                current["thrpt_str"] = f"{parts[2]} {parts[3]}"
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line and not line[0].isspace() and re.match(r"^\s+time:\s+\[", following):
            # A long benchmark name on its own line; its numbers follow.
            name, in_change, started = line.strip(), False, True
            continue
        if not started and not line.startswith(("Benchmarking", "Gnuplot", "WARNING")):
            preamble.append(line)
    return "\n".join(preamble).strip(), results


def add_time(results, name, bracket):
    parts = bracket.split()
    if len(parts) < 4:
        return None
    value, unit = float(parts[2]), parts[3]
    entry = {"name": name, "time_ns": value * UNIT_NS.get(unit, 1.0), "time_str": f"{parts[2]} {unit}",
             "thrpt": None, "thrpt_str": "-"}
    results.append(entry)
    return entry


def fmt_rate(bps):
    if bps is None:
        return "-"
    for unit, div in (("GiB/s", 1024 ** 3), ("MiB/s", 1024 ** 2), ("KiB/s", 1024)):
        if bps >= div:
            return f"{bps / div:,.2f} {unit}"
    return f"{bps:,.0f} B/s"


# ------------------------------------------------------------------------------ chart

def svg_chart(runs, path):
    """Grouped bars: msgs/s relative to raw TCP per cell, pipeline 1."""
    names = [n for n in CHART if n in runs.servers]
    cells = [(s, c) for s, c in runs.cases if runs.raw and runs.rate(s, c, runs.raw)]
    if not names or not cells:
        return False
    data = {}
    for s, c in cells:
        base = runs.rate(s, c, runs.raw)
        for n in names:
            v = runs.rate(s, c, n)
            data[(s, c, n)] = v / base if v is not None else None
    top = max([1.2] + [v for v in data.values() if v is not None])
    top = math.ceil(top * 5 - 1e-9) / 5  # the 0.2 step at or above the tallest bar
    bar, gap = 13, 22
    left, right, top_pad, bottom = 56, 16, 64, 56
    plot_h = 280
    # Wide enough for the title and legend; groups spread over the plot.
    width = max(left + (bar * len(names) + gap) * len(cells) + right, 720)
    group_w = (width - left - right) / len(cells)
    gap = group_w - bar * len(names)
    height = top_pad + plot_h + bottom
    y = lambda v: top_pad + plot_h - v / top * plot_h  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{left}" y="18" font-size="14" font-weight="bold">Echo throughput relative to raw TCP '
           f'(median msgs/s, pipeline {runs.pipeline or 1}, {runs.rounds} round(s))</text>']
    lx = left
    for n in names:
        out.append(f'<rect x="{lx}" y="30" width="11" height="11" fill="{COLORS.get(n, "#444")}"/>')
        out.append(f'<text x="{lx + 15}" y="40">{html.escape(n)}</text>')
        lx += 15 + 7 * len(n) + 18
    step = 0.2
    v = 0.0
    while v <= top + 1e-9:
        yy = y(v)
        out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{width - right}" y2="{yy:.1f}" stroke="#e9ecef"/>')
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:.1f}</text>')
        v += step
    y1 = y(1.0)
    out.append(f'<line x1="{left}" y1="{y1:.1f}" x2="{width - right}" y2="{y1:.1f}" stroke="#212529" '
               f'stroke-dasharray="5,3"/>')
    out.append(f'<text x="{width - right}" y="{y1 - 4:.1f}" text-anchor="end">raw TCP = 1.0</text>')
    for i, (s, c) in enumerate(cells):
        gx = left + gap / 2 + i * group_w
        for j, n in enumerate(names):
            val = data[(s, c, n)]
            if val is None:
                continue
            x = gx + j * bar
            out.append(f'<rect x="{x:.1f}" y="{y(val):.1f}" width="{bar - 2}" height="{y(0) - y(val):.1f}" '
                       f'fill="{COLORS.get(n, "#444")}"><title>{html.escape(n)}, {cell_name(s, c)}: '
                       f'{val:.2f} of raw TCP</title></rect>')
        cx = gx + bar * len(names) / 2
        out.append(f'<text x="{cx:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle">{size_name(s)}</text>')
        out.append(f'<text x="{cx:.1f}" y="{top_pad + plot_h + 30}" text-anchor="middle">× {c} conn{"s" if c != 1 else ""}</text>')
    out.append(f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="#212529"/>')
    out.append(f'<text x="14" y="{top_pad + plot_h / 2:.0f}" transform="rotate(-90 14 {top_pad + plot_h / 2:.0f})" '
               f'text-anchor="middle">msgs/s ÷ raw TCP</text>')
    out.append("</svg>")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return True


# ------------------------------------------------------------------------------ report sections

def verdict(ok):
    return "meets" if ok else "**misses**"


def section_targets(m, p, idle_src, crit, fanout):
    rows = []
    if m:
        for n in [x for x in WSX if x in m.servers]:
            ratios = []
            for s, c in m.cases:
                best, _ = m.best_fast(s, c)
                v = m.rate(s, c, n)
                if best and v:
                    ratios.append((v / best, s, c))
            if ratios:
                low = min(ratios)
                below = [cell_name(s, c) for r, s, c in ratios if r < 0.97]
                rows.append([f"1. echo, pipeline 1 ({n})", "every cell ≥ 0.97 × best of fastwebsockets/tokio-websockets",
                             f"min {low[0]:.2f} ({cell_name(low[1], low[2])}); below 0.97: {', '.join(below) or 'none'}",
                             verdict(not below)])
            if m.raw:
                big = [(m.rate(s, c, n) / m.rate(s, c, m.raw), s, c) for s, c in m.cases
                       if s >= 65536 and c > 1 and m.rate(s, c, n) and m.rate(s, c, m.raw)]
                if big:
                    low = min(big)
                    rows.append([f"1. echo 64 KiB ({n})", "≥ 0.9 × raw TCP (conns > 1)",
                                 f"min {low[0]:.2f} ({cell_name(low[1], low[2])})", verdict(low[0] >= 0.9)])
    if p:
        for s, c in p.cases:
            others = [(p.per_core_second(s, c, n), n) for n in CRATES if p.per_core_second(s, c, n)]
            if not others:
                continue
            best, who = max(others)
            for n in [x for x in WSX if x in p.servers]:
                v = p.per_core_second(s, c, n)
                if v:
                    rows.append([f"2. pipelined {cell_name(s, c)} ({n})", "≥ 1.2 × best other crate, msgs per server-core-second",
                                 f"{v / best:.2f} × {who}", verdict(v / best >= 1.2)])
    if idle_src:
        for n, limit in (("wsx", 6.9), ("wsx-stream", 5.5)):
            k = med(r.get("kib_per_conn") for r in idle_src.idle.get(n, []))
            if k is not None:
                rows.append([f"3. idle memory ({n})", f"≤ {limit} KiB per connection", f"{k:.1f} KiB", verdict(k <= limit)])
    if crit:
        for size in (65536, 1048576):
            r = mask_ratio(crit, size)
            if r is not None:
                rows.append([f"5. unmask {size_name(size)}", "≥ 0.8 × memcpy", f"{r:.2f}", verdict(r >= 0.8)])
    if fanout:
        rows.append(["6. fan-out", "reported", f"{fanout.get('connected')} clients: last at "
                     f"{f1((fanout.get('last_ms') or {}).get('median'))} ms, "
                     f"{fint((fanout.get('deliveries_per_sec') or {}).get('median'))} deliveries/s", "-"])
    if not rows:
        return []
    return ["## Targets of issue 5, as measured in this run", "",
            table(["target", "wants", "measured", "verdict"], rows, [":--", ":--", ":--", ":--"]),
            "", "Target 4 (no allocation per message on the stream path) is a test "
            "(`crates/wsx/tests/alloc_steady_state.rs`), not a measurement here.", ""]


def mask_ratio(crit, size):
    times = {r["name"]: r["time_ns"] for r in crit}
    a, b = times.get(f"mask/apply_mask/{size}"), times.get(f"mask/memcpy/{size}")
    return b / a if a and b else None


def section_matrix(m):
    names = m.names()
    out = [f"## Echo throughput, pipeline {m.pipeline or 1}", "",
           f"Median msgs/s over {m.rounds} round(s), binary frames (`{m.dir}`).", "",
           table(["size × conns"] + names,
                 [[cell_name(s, c)] + [fint(m.rate(s, c, n)) for n in names] for s, c in m.cases]), ""]
    wsx = [n for n in WSX if n in names]
    if wsx:
        hdr = ["size × conns", "best fast crate"] + [f"{n} ÷ best" for n in wsx]
        if m.raw:
            hdr += [f"{n} ÷ raw" for n in wsx] + ["best fast ÷ raw"]
        rows = []
        for s, c in m.cases:
            best, who = m.best_fast(s, c)
            raw = m.rate(s, c, m.raw) if m.raw else None
            row = [cell_name(s, c), who or "-"]
            row += [f2(m.rate(s, c, n) / best) if best and m.rate(s, c, n) else "-" for n in wsx]
            if m.raw:
                row += [f2(m.rate(s, c, n) / raw) if raw and m.rate(s, c, n) else "-" for n in wsx]
                row.append(f2(best / raw) if best and raw else "-")
            rows.append(row)
        out += ["### Ratios", "",
                "Median msgs/s of wsx divided by the better of fastwebsockets and tokio-websockets in that "
                "cell (`best`), and by the raw TCP echo (the ceiling).", "", table(hdr, rows), ""]
    out += [f"### Busy % of the server core (cpu{m.server_cpu}) / the load generator's core (cpu{m.client_cpu})",
            "", "A core near 100 % is saturated; when the load generator's core is, the cell cannot separate "
            "the fastest servers (the load generator is then a co-bottleneck).", "",
            table(["size × conns"] + names,
                  [[cell_name(s, c)] + [
                      f"{m.server_busy(s, c, n):.0f} / {m.client_busy(s, c, n):.0f}"
                      if m.server_busy(s, c, n) is not None and m.client_busy(s, c, n) is not None else "-"
                      for n in names] for s, c in m.cases]), "",
            "### Server CPU time per message, µs", "",
            "Server core busy share × 1 s ÷ msgs/s (per round, median): the cost of one echo on the server's "
            "core, kernel TCP work included. Lower is better; this separates servers even where msgs/s "
            "is bound by the load generator.", "",
            table(["size × conns"] + names,
                  [[cell_name(s, c)] + [f2(m.us_per_msg(s, c, n)) for n in names] for s, c in m.cases]), ""]
    return out


def section_pipeline(p):
    names = p.names()
    out = [f"## Pipelined echo: {p.pipeline} frames in flight per connection", "",
           f"Median over {p.rounds} round(s) (`{p.dir}`). The load generator's core saturates here, so "
           "msgs/s alone cannot separate the servers; **msgs per server-core-second** = msgs/s ÷ the server "
           f"core's busy share (cpu_busy_pct[{p.server_cpu}] of each run, i.e. the busy-% table of the "
           "matrix section, softirq included), computed per round, median shown. The last column divides by "
           "the best of tungstenite, fastwebsockets and tokio-websockets in that cell.", ""]
    rows = []
    for s, c in p.cases:
        others = [(p.per_core_second(s, c, n), n) for n in CRATES if p.per_core_second(s, c, n)]
        best, who = max(others) if others else (None, None)
        for n in names:
            v = p.per_core_second(s, c, n)
            ratio = f"{v / best:.2f} × {who}" if v and best and n not in CRATES else "-"
            scpu = med(r.get("server_cpu_pct") for r in p.runs.get((s, c, n), []))
            rows.append([cell_name(s, c), n, fint(p.rate(s, c, n)), f1(p.server_busy(s, c, n)), f1(scpu),
                         f1(p.client_busy(s, c, n)), fint(v), ratio])
    out += [table(["size × conns", "server", "msgs/s", "server core busy %", "server process CPU %",
                   "client core busy %", "msgs per server-core-second", "÷ best other crate"], rows,
                  [":--", ":--"] + ["---:"] * 6), ""]
    return out


def section_idle(m):
    if not m.idle:
        return []
    n = next(iter(m.idle.values()))[0].get("conns", "?")
    rows = []
    for s in ordered(list(m.idle)):
        rs = m.idle[s]
        kib = [r["kib_per_conn"] for r in rs if r.get("kib_per_conn") is not None]
        rows.append([s, f1(med(kib)), " ".join(f"{k:.1f}" for k in kib),
                     "/".join(str(r.get("conns_ok")) for r in rs)])
    return [f"## Memory per idle connection ({n} connections)", "",
            "Server VmRSS after the connections are open minus before, divided by the connections; a freshly "
            "started server each round; user-space memory only (kernel socket buffers are not in RSS).", "",
            table(["server", "KiB per connection (median)", "each round", "connected"], rows,
                  [":--", "---:", "---:", "---:"]), ""]


def section_criterion(folder):
    out = ["## Micro-benchmarks (criterion)", "", f"`cargo bench -p wsx` outputs in `{folder}`; middle "
           "estimates shown.", ""]
    core_path = os.path.join(folder, "core.txt")
    core = parse_criterion(core_path)[1] if os.path.exists(core_path) else []
    if core:
        times = {r["name"]: r for r in core}
        rows = []
        for size in (16, 1024, 65536, 1048576):
            a, b = times.get(f"mask/apply_mask/{size}"), times.get(f"mask/memcpy/{size}")
            if a and b:
                rows.append([size_name(size), fmt_rate(a["thrpt"]), fmt_rate(b["thrpt"]),
                             f2(b["time_ns"] / a["time_ns"])])
        if rows:
            out += ["### Unmasking vs memcpy (same run, same buffer size)", "",
                    table(["buffer", "apply_mask", "memcpy", "mask ÷ memcpy speed"], rows), ""]
        rows = []
        for r in core:
            m = re.match(r"header/(encode|decode)/(\d+)$", r["name"])
            if m:
                rows.append([m.group(1), m.group(2), r["time_str"]])
        if rows:
            out += ["### Frame header", "", table(["op", "payload length", "time"], rows,
                                                   [":--", "---:", "---:"]), ""]
        rows = []
        for r in core:
            m = re.match(r"utf8/(\w+)/(\w+)$", r["name"])
            if m:
                rows.append([m.group(1), m.group(2), fmt_rate(r["thrpt"]), r["time_str"]])
        if rows:
            out += ["### UTF-8 validation (64 KiB of text)", "",
                    table(["validator", "text", "throughput", "time"], rows, [":--", ":--", "---:", "---:"]), ""]
        rows = [[r["name"], r["time_str"], fmt_rate(r["thrpt"])] for r in core if r["name"].startswith("decode_stream/")]
        if rows:
            out += ["### Decoding 64 masked frames (server side)", "",
                    table(["benchmark", "time", "throughput"], rows, [":--", "---:", "---:"]), ""]
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".txt") or name == "core.txt":
            continue
        pre, res = parse_criterion(os.path.join(folder, name))
        bench = name[:-4]
        out += [f"### `--bench {bench}`", ""]
        if pre:
            out += ["```", pre, "```", ""]
        if res:
            out += [table(["benchmark", "time", "throughput"],
                          [[r["name"], r["time_str"], fmt_rate(r["thrpt"])] for r in res], [":--", "---:", "---:"]), ""]
    if core:
        out += ["<details><summary>Every core benchmark</summary>", "",
                table(["benchmark", "time", "throughput"],
                      [[r["name"], r["time_str"], fmt_rate(r["thrpt"])] for r in core], [":--", "---:", "---:"]),
                "", "</details>", ""]
    return out


def section_fanout(fo, path):
    g = lambda k, sub: (fo.get(k) or {}).get(sub)  # noqa: E731
    rss = fo.get("server_rss_kib") or {}
    rows = [
        ["clients connected / asked", f"{fo.get('connected')} / {fo.get('clients')}"],
        ["rounds, payload", f"{fo.get('rounds')}, {fo.get('size')} B"],
        ["broadcast call to first client, ms (median / max)", f"{f2(g('first_ms', 'median'))} / {f2(g('first_ms', 'max'))}"],
        ["broadcast call to **last** client, ms (median / max)", f"{f1(g('last_ms', 'median'))} / {f1(g('last_ms', 'max'))}"],
        ["deliveries per second (median / worst round)",
         f"{fint(g('deliveries_per_sec', 'median'))} / {fint(g('deliveries_per_sec', 'min'))}"],
        ["`Server::broadcast` call itself, ms (median / max)",
         f"{f2(g('broadcast_call_ms', 'median'))} / {f2(g('broadcast_call_ms', 'max'))}"],
        ["server CPU per delivery, µs (median)", f2(fo.get("server_cpu_us_per_delivery"))],
        ["client CPU per delivery, µs (median)", f2(fo.get("client_cpu_us_per_delivery"))],
        ["server RSS, MiB: start → all connected → after rounds",
         " → ".join(f1(rss.get(k) / 1024) if rss.get(k) else "-" for k in ("start", "connected", "after"))],
        ["server RSS per connection, KiB (event API, with handlers and timers)", f1(fo.get("server_kib_per_conn"))],
        ["connect time, s / close time, s", f"{f2(fo.get('connect_s'))} / {f2(fo.get('close_s'))}"],
        ["errors", f"{fo.get('errors')}" + (f" (first: {fo.get('first_error')})" if fo.get("first_error") else "")],
    ]
    out = ["## Fan-out: one message to every connected client", "",
           "`examples/fanout.rs`: a `wsx::Server` (event API, current-thread runtime, pinned to the server core) "
           "and, in a second process pinned to the other core, clients on wsx's low-level client "
           "(`wsx::connect`, one task each, current-thread runtime). Each round the server calls "
           "`Server::broadcast`, which encodes the frame once (`PreparedMessage`) and queues the same shared "
           "bytes on every connection; the payload carries the server's clock, each client notes its own on "
           f"receipt (same host). Raw JSON: `{path}`.", "",
           table(["", "value"], rows, [":--", "---:"]), ""]
    per = fo.get("per_round") or []
    if per:
        out += [table(["round", "received", "first ms", "last ms", "deliveries/s", "broadcast call ms",
                       "server CPU ms", "client CPU ms"],
                      [[r.get("round"), r.get("received"), f2(r.get("first_ms")), f1(r.get("last_ms")),
                        fint(r.get("deliveries_per_sec")), f2(r.get("broadcast_call_ms")),
                        f1(r.get("server_cpu_ms")), f1(r.get("client_cpu_ms"))] for r in per]), ""]
    return out


def read_crosscheck(folder):
    """agreement.jsonl -> {(size, conns): {tool: [results]}}, problems."""
    cells, problems = defaultdict(lambda: defaultdict(list)), []
    for row in read_jsonl(os.path.join(folder, "agreement.jsonl")):
        r = row.get("result", {})
        where = f"round {row.get('round')} {cell_name(row['size'], row['conns'])} {row['tool']}"
        if "error" in r:
            problems.append(f"{where}: {r['error']}")
            continue
        if r.get("errors"):
            problems.append(f"{where}: {r['errors']} error(s), first: {r.get('first_error')}")
        cells[(row["size"], row["conns"])][row["tool"]].append(dict(r, _round=row.get("round")))
    return cells, problems


def section_crosscheck(folder):
    cells, problems = read_crosscheck(folder)
    if not cells:
        return []
    meta, server_cpu, client_cpu = "", 0, 1
    if os.path.exists(os.path.join(folder, "meta.txt")):
        with open(os.path.join(folder, "meta.txt")) as f:
            text = f.read()
        meta = "; ".join(x for x in text.splitlines() if x.startswith(("server:", "rounds:")))
        m = re.search(r"server cpu: (\d+)\s+client cpu: (\d+)", text)
        if m:
            server_cpu, client_cpu = int(m.group(1)), int(m.group(2))
    rows = []
    for (s, c), tools in sorted(cells.items()):
        a, b = tools.get("wsx-bench", []), tools.get("wsload", [])
        ma, mb = med(r.get("msgs_per_sec") for r in a), med(r.get("msgs_per_sec") for r in b)
        pa, pb = med(r.get("p50_us") for r in a), med(r.get("p50_us") for r in b)
        qa, qb = med(r.get("p99_us") for r in a), med(r.get("p99_us") for r in b)
        spread = lambda rs: (  # noqa: E731
            (max(x["msgs_per_sec"] for x in rs) - min(x["msgs_per_sec"] for x in rs)) / med(x["msgs_per_sec"] for x in rs)
            if len(rs) > 1 and med(x["msgs_per_sec"] for x in rs) else None)
        sa, sb = spread(a), spread(b)

        def busy(rs, core):
            return med((r.get("cpu_busy_pct") or [None] * (core + 1))[core] for r in rs
                       if len(r.get("cpu_busy_pct") or []) > core)

        def us_per_msg(rs):
            return med(r["cpu_busy_pct"][server_cpu] / 100 * 1e6 / r["msgs_per_sec"] for r in rs
                       if len(r.get("cpu_busy_pct") or []) > server_cpu and r.get("msgs_per_sec"))
        ua, ub = us_per_msg(a), us_per_msg(b)
        # Runs of one round ran back to back: their ratio sees the same machine state.
        by_round = {}
        for tool, rs in (("a", a), ("b", b)):
            for r in rs:
                by_round.setdefault(r.get("_round"), {})[tool] = r.get("msgs_per_sec")
        paired = med(x["a"] / x["b"] for x in by_round.values() if x.get("a") and x.get("b"))
        rows.append([cell_name(s, c), f"{len(a)} / {len(b)}", fint(ma), fint(mb), f2(ma / mb) if ma and mb else "-",
                     f2(paired),
                     f"{f1(pa)} / {f1(pb)}", f"{f1(qa)} / {f1(qb)}",
                     f"{'-' if sa is None else f'{sa:.0%}'} / {'-' if sb is None else f'{sb:.0%}'}",
                     f"{f2(ua)} / {f2(ub)}",
                     f"{fint(busy(a, server_cpu))}/{fint(busy(a, client_cpu))} · {fint(busy(b, server_cpu))}/{fint(busy(b, client_cpu))}"])
    out = ["## Cross-check: `wsx bench` against the yardstick's wsload", "",
           "The two load generators take turns on one wsx echo server (who goes first alternates per round), "
           f"same settings, pinned to the same core (`{folder}`; {meta}). Medians over the rounds; "
           "ratio = wsx bench ÷ wsload of the medians; paired = the median over rounds of the ratio of the "
           "two runs of one round, which ran back to back; spread = (max − min) ÷ median of each tool's rounds. "
           "Server µs/msg = the server core's busy share ÷ msgs/s: what one echo costs the server, which "
           "should agree whichever tool drives it; where the load generator's core is saturated (busy "
           "columns: server/client core %), msgs/s also measures the load generator's own cost per message.", "",
           table(["size × conns", "rounds", "wsx bench msgs/s", "wsload msgs/s", "ratio", "paired", "p50 µs (wsx bench / wsload)",
                  "p99 µs", "spread", "server µs/msg", "busy % srv/cli (wsx bench · wsload)"], rows), ""]
    idle = defaultdict(list)
    for row in read_jsonl(os.path.join(folder, "idle.jsonl")):
        r = row.get("result", {})
        if r.get("kib_per_conn") is not None:
            idle[row["tool"]].append(r)
        else:
            problems.append(f"idle round {row.get('round')} {row['tool']}: {r.get('error') or r.get('first_error')}")
    if idle:
        n = next(iter(idle.values()))[0].get("conns_ok", "?")
        out += [f"Memory per idle connection, {n} connections, a fresh server per run, KiB (median; each run):", "",
                table(["load generator", "KiB per connection", "each run"],
                      [[tool, f1(med(r["kib_per_conn"] for r in rs)), " ".join(f"{r['kib_per_conn']:.2f}" for r in rs)]
                       for tool, rs in sorted(idle.items())], [":--", "---:", "---:"]), ""]
    if problems:
        out += [f"- {x}" for x in problems] + [""]
    return out


def section_instr(folder):
    """Instructions per echoed message (scripts/bench_instr.sh), with the issue-17 targets."""
    path = os.path.join(folder, "instr.tsv")
    if not os.path.exists(path):
        return []
    cells = {}
    conns = "?"
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7 or not cols[3].isdigit():
                continue
            name, size, conns = cols[0], int(cols[1]), cols[2]
            cells[(name, size)] = (int(cols[3]), int(cols[4]), cols[6])
    sizes = sorted({s for _, s in cells})
    if not sizes:
        return []
    best = {}
    for size in sizes:
        refs = [cells[(n, size)][0] for n in FAST if (n, size) in cells]
        best[size] = min(refs) if refs else None
    out = ["## Instructions per message (callgrind)", "",
           "User-space instructions the server executes per echoed message, counted by callgrind "
           "(`scripts/bench_instr.sh`: the yardstick's `instr.sh` method, dividing by callgrind's own "
           f"count of the server's write calls in the window): binary echo, {conns} connections, "
           "deflate off, one thread each. Nearly the same on a busy or a quiet machine (how many "
           "connections are ready per epoll wake-up, which the load sets, moves the runtime's share "
           "by a few percent), so it separates servers where msgs/s cannot. Ratio: to the better of fastwebsockets and tokio-websockets "
           "in the same run; targets (issue 17): stream path at most 0.9, event API at most 1.0.", ""]
    names = [n for n in ORDER if any((n, s) in cells for s in sizes)]
    header = ["server"] + [f"{size_name(s)}" for s in sizes] + [f"ratio {size_name(s)}" for s in sizes]
    rows = []
    for n in names:
        row = [n]
        row += [fint(cells[(n, s)][0]) if (n, s) in cells else "—" for s in sizes]
        for s in sizes:
            if (n, s) in cells and best[s]:
                row.append(f2(cells[(n, s)][0] / best[s]))
            else:
                row.append("—")
        rows.append(row)
    out += [table(header, rows), ""]
    msgs = ", ".join(f"{n} {size_name(s)}: {cells[(n, s)][1]:,}" for n in names for s in sizes if (n, s) in cells)
    out += [f"Messages counted (write calls in the 4 s window): {msgs}.", ""]
    errs = [f"{n} {size_name(s)}: {cells[(n, s)][2]}" for n in names for s in sizes
            if (n, s) in cells and cells[(n, s)][2] not in ("0", "None")]
    if errs:
        out += ["Load errors: " + "; ".join(errs), ""]
    return out


def read_meta(path):
    info = {"env": [], "notes": []}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition(": ")
                if key == "env":
                    info["env"].append(value)
                elif key == "note":
                    info["notes"].append(value)
                else:
                    info[key] = value
    return info


def main():
    ap = argparse.ArgumentParser(description="Write docs/PERFORMANCE.md from scripts/bench.sh results.")
    ap.add_argument("--matrix")
    ap.add_argument("--pipeline")
    ap.add_argument("--criterion")
    ap.add_argument("--fanout")
    ap.add_argument("--crosscheck")
    ap.add_argument("--instr")
    ap.add_argument("--crosscheck-table", help="print only the cross-check table of this folder")
    ap.add_argument("--meta")
    ap.add_argument("--out", default="docs/PERFORMANCE.md")
    ap.add_argument("--chart", default="docs/perf-chart.svg")
    a = ap.parse_args()
    if a.crosscheck_table:
        print("\n".join(section_crosscheck(a.crosscheck_table)) or "no cross-check results")
        return

    m = Runs(a.matrix) if a.matrix and os.path.isdir(a.matrix) else None
    p = Runs(a.pipeline) if a.pipeline and os.path.isdir(a.pipeline) else None
    crit = None
    if a.criterion and os.path.exists(os.path.join(a.criterion, "core.txt")):
        crit = parse_criterion(os.path.join(a.criterion, "core.txt"))[1]
    fanout = None
    if a.fanout and os.path.exists(a.fanout):
        with open(a.fanout) as f:
            lines = [x for x in f.read().splitlines() if x.strip()]
        if lines:
            fanout = json.loads(lines[-1])
    meta = read_meta(a.meta)

    env = []
    for e in meta["env"]:
        k, _, v = e.partition("=")
        env.append(f"{k}={shlex.quote(v)}")
    cmd = " ".join(env + [meta.get("command", "scripts/bench.sh").replace("command: ", "").strip()])
    out = ["# wsx performance", "",
           "Generated by `scripts/bench.sh` (tables and chart by `scripts/perf_report.py`); rerun it rather "
           "than editing this file. Method: the project's own harness: one load generator (`wsx bench`, "
           "hand-encoded frames on plain tokio TCP) for every server, the peers' echo servers from `bench/`, "
           "server pinned to one core and load to the other, every contestant in "
           "the same run, so compare ratios rather than absolute numbers across machines.", "",
           f"- Command: `{cmd}`",
           f"- Date: {meta.get('date', '?')}",
           f"- Machine: {meta.get('host', '?')}, {meta.get('memory', '?')}",
           f"- {meta.get('rustc', 'rustc ?')}; wsx at git {meta.get('git', '?')}"]
    out += [f"- Note: {n}" for n in meta["notes"]]
    for label, runs in (("echo matrix", m), ("pipelined run", p)):
        if runs:
            settings = "; ".join(x for x in runs.meta.splitlines() if x.startswith(("sizes:", "rounds:")))
            out.append(f"- {label}: `{runs.dir}`" + (f" — {settings}" if settings else ""))
    if m:
        out += ["", "Contestants (`wsx` is `echo_server`'s event API: `Server` + `on_message`; `wsx-stream` the "
                "low-level `WebSocket<S>` loop; all on a tokio current-thread runtime):", ""]
        out += [f"- `{n}`: `{m.cmds.get(n, '?')}`" for n in m.names()]
    out.append("")
    out += section_targets(m, p, m, crit, fanout)
    if m and m.runs:
        if svg_chart(m, a.chart):
            rel = os.path.relpath(a.chart, os.path.dirname(os.path.abspath(a.out)) or ".")
            out += [f"![Echo throughput relative to raw TCP, per size × connections]({rel})", ""]
        out += section_matrix(m)
    if p and p.runs:
        out += section_pipeline(p)
    if a.instr and os.path.isdir(a.instr):
        out += section_instr(a.instr)
    if m:
        out += section_idle(m)
    if a.criterion and os.path.isdir(a.criterion):
        out += section_criterion(a.criterion)
    if fanout:
        out += section_fanout(fanout, a.fanout)
    if a.crosscheck and os.path.isdir(a.crosscheck):
        out += section_crosscheck(a.crosscheck)
    problems = (m.problems if m else []) + (p.problems if p else [])
    out += ["## Problems", ""]
    out += [f"- {x}" for x in problems] if problems else ["None: every load run reported 0 errors."]
    if fanout and fanout.get("errors"):
        out.append(f"- fan-out: {fanout['errors']} error(s), first: {fanout.get('first_error')}")
    # Sections that other scripts measure (broadcasts and Socket.IO: scripts/fanout_cpu.sh,
    # scripts/sio_bench.sh) live after KEEP_MARKER in the file and are carried over as they are.
    kept = ""
    if os.path.exists(a.out):
        with open(a.out) as f:
            previous = f.read()
        if KEEP_MARKER in previous:
            kept = previous[previous.index(KEEP_MARKER):]
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(out).rstrip() + "\n")
        if kept:
            f.write("\n" + kept)


if __name__ == "__main__":
    main()
