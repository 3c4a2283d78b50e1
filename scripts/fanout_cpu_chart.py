#!/usr/bin/env python3
"""Table and chart of server CPU per broadcast delivery against clients (scripts/fanout_cpu.sh).

usage: fanout_cpu_chart.py RESULTS.tsv [--svg OUT.svg] [--note TEXT]

RESULTS.tsv has the columns clients, server, run, cpu_us_per_delivery (`failed` for a run that
lost deliveries: left out). Prints a Markdown table of the medians (with the runs' spread and
each server's ratio to the raw floor) and writes an SVG line chart, one line per server.
Standard library only.
"""
import argparse
import csv
import html
import statistics
from collections import defaultdict

LABELS = {
    "raw": "raw send() of the frame (bench/ fanout-raw)",
    "wsx": "wsx Server::broadcast (examples/fanout)",
    "wsx-sio": "wsx-sio broadcast (examples/sio_demo)",
}
COLORS = {"raw": "#868e96", "wsx": "#d9480f", "wsx-sio": "#1971c2"}
ORDER = ["raw", "wsx", "wsx-sio"]


def load(path):
    runs = defaultdict(list)
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            try:
                value = float(row["cpu_us_per_delivery"])
            except ValueError:
                value = None
            runs[(row["server"], int(row["clients"]))].append(value)
    return runs


def table(runs, servers, sizes):
    med = {}
    head = "| clients | " + " | ".join(f"{s} (µs)" for s in servers)
    ratio_cols = [s for s in servers if s != "raw"] if "raw" in servers else []
    head += "".join(f" | {s} / raw" for s in ratio_cols) + " |"
    lines = [head, "|" + "--:|" * (1 + len(servers) + len(ratio_cols))]
    for n in sizes:
        cells = []
        for s in servers:
            values = [v for v in runs.get((s, n), []) if v is not None]
            failed = sum(v is None for v in runs.get((s, n), []))
            if values:
                med[(s, n)] = statistics.median(values)
                spread = f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
                cell = f"{med[(s, n)]:.2f}{spread}"
            else:
                cell = "—"
            if failed:
                cell += f", {failed} run(s) failed"
            cells.append(cell)
        for s in ratio_cols:
            if (s, n) in med and ("raw", n) in med and med[("raw", n)] > 0:
                cells.append(f"{med[(s, n)] / med[('raw', n)]:.2f}x")
            else:
                cells.append("—")
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines), med


def svg(med, servers, sizes, path, note=""):
    w, h, left, right, top, bottom = 840, 420, 70, 300, 50, 60
    pw, ph = w - left - right, h - top - bottom
    ymax = max(med.values(), default=1.0) * 1.15
    step = 1 if ymax <= 8 else 2 if ymax <= 16 else 5
    xmin, xmax = 0, max(sizes) * 1.05

    def x(n):
        return left + (n - xmin) / (xmax - xmin) * pw

    def y(v):
        return top + ph - v / ymax * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14" font-weight="bold">'
        "Server CPU per broadcast delivery (µs, median of runs; lower is better)</text>",
        f'<text x="{left}" y="38" font-size="11" fill="#495057">{html.escape(note)}</text>',
    ]
    v = 0
    while v <= ymax:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e9ecef"/>')
        out.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
        v += step
    for n in sizes:
        out.append(f'<line x1="{x(n):.1f}" x2="{x(n):.1f}" y1="{top}" y2="{top + ph}" stroke="#f1f3f5"/>')
        out.append(f'<text x="{x(n):.1f}" y="{top + ph + 18}" text-anchor="middle">{n:,}</text>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#495057"/>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#495057"/>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 18}" text-anchor="middle">connected clients</text>')
    out.append(
        f'<text transform="translate(18 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
        "µs of server CPU per delivery</text>"
    )
    for i, s in enumerate(servers):
        points = [(x(n), y(med[(s, n)])) for n in sizes if (s, n) in med]
        color = COLORS.get(s, "#000")
        if points:
            d = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2.5"/>')
            for px, py in points:
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{color}"/>')
        ly = top + 10 + i * 22
        out.append(f'<line x1="{left + pw + 15}" x2="{left + pw + 35}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2.5"/>')
        label = html.escape(LABELS.get(s, s))
        out.append(f'<text x="{left + pw + 40}" y="{ly + 4}" font-size="11">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--svg")
    ap.add_argument("--note", default="", help="a line under the chart's title (date, command)")
    args = ap.parse_args()
    runs = load(args.results)
    present = {s for s, _ in runs}
    servers = [s for s in ORDER if s in present] + sorted(present - set(ORDER))
    sizes = sorted({n for _, n in runs})
    text, med = table(runs, servers, sizes)
    print(text)
    if args.svg:
        svg(med, servers, sizes, args.svg, args.note)


if __name__ == "__main__":
    main()
