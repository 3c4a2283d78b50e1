#!/usr/bin/env python3
# Usage: autobahn_summary.py [--md FILE] [--allow-unimplemented SECTIONS]
#                            [--include GLOB]... [--exclude GLOB]... LABEL=REPORT_DIR...
"""Summarise Autobahn (kosoku) reports per section and decide pass/fail.

Reads REPORT_DIR/index.json (Autobahn format, as written by kosoku:
{agent: {case_id: {"behavior", "behaviorClose", "remoteCloseCode",
"duration", "reportfile"}}}) for each LABEL=REPORT_DIR, prints a table per
run (one row per section, i.e. the first number of the case id), optionally
writes the same tables as Markdown, and exits 1 if any case is not acceptable:

* behavior FAILED, ERROR, NON-STRICT, NO_CLOSE or anything unknown;
* behavior UNIMPLEMENTED outside the sections given by --allow-unimplemented;
* behaviorClose other than OK / INFORMATIONAL;
* a case of the selected suite that is missing from the report (only checked
  when the case list of the installed kosoku can be imported);
* a missing or unreadable index.json.

Runs with the Python of the kosoku virtualenv (it imports kosoku only for the
case list and the section names, and works without it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter, defaultdict

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "ERROR"]
GOOD_BEHAVIORS = {"OK", "INFORMATIONAL"}
GOOD_CLOSE = {"OK", "INFORMATIONAL"}

FALLBACK_SECTION_NAMES = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved Bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 Handling",
    "7": "Close Handling",
    "9": "Limits/Performance",
    "10": "Misc",
    "12": "WebSocket Compression (different payloads)",
    "13": "WebSocket Compression (different parameters)",
}

MAX_LISTED_PROBLEMS = 60


def section_names() -> dict[str, str]:
    try:
        from kosoku._report_assets import CaseCategories  # type: ignore

        return {**FALLBACK_SECTION_NAMES, **dict(CaseCategories)}
    except Exception:
        return dict(FALLBACK_SECTION_NAMES)


def case_matches(case_id: str, pattern: str) -> bool:
    """kosoku's -i/-x matching (checked against kosoku 0.1.0): a pattern
    without `*` is an exact case id; with `*`, each `*` matches any text and
    the pattern only has to match a prefix of the id (`*1.1` selects 7.1.1 and
    also 6.21.1...)."""
    if "*" not in pattern:
        return case_id == pattern
    return re.match(re.escape(pattern).replace(r"\*", ".*"), case_id) is not None


def expected_case_ids(include: list[str], exclude: list[str]) -> list[str] | None:
    """The case ids kosoku runs for this selection, or None if unknown."""
    try:
        from kosoku.cases import CASES  # type: ignore
    except Exception:
        return None
    ids = list(CASES)
    if include:
        ids = [c for c in ids if any(case_matches(c, p) for p in include)]
    if exclude:
        ids = [c for c in ids if not any(case_matches(c, p) for p in exclude)]
    return ids


def case_key(case_id: str) -> list[int]:
    try:
        return [int(p) for p in case_id.split(".")]
    except ValueError:
        return [1 << 30]


def section_of(case_id: str) -> str:
    return case_id.split(".", 1)[0]


def load_detail(report_dir: str, entry: dict) -> dict:
    name = entry.get("reportfile")
    if not name:
        return {}
    try:
        with open(os.path.join(report_dir, name), encoding="utf-8") as f:
            return json.load(f)
    except Exception:
        return {}


def one_line(text: object, limit: int = 160) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


class Run:
    def __init__(self, label: str, report_dir: str) -> None:
        self.label = label
        self.report_dir = report_dir
        self.error: str | None = None
        self.agents: list[str] = []
        # section -> Counter(column -> n)
        self.rows: dict[str, Counter] = defaultdict(Counter)
        self.problems: list[str] = []
        self.total = 0
        self.max_duration: tuple[int, str] = (0, "")


def analyse(
    label: str,
    report_dir: str,
    allowed_unimpl: set[str],
    expected: list[str] | None,
) -> Run:
    run = Run(label, report_dir)
    index_path = os.path.join(report_dir, "index.json")
    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
        if not isinstance(index, dict) or not index:
            raise ValueError("empty or not an object")
    except Exception as e:  # noqa: BLE001 - report any problem as a failure
        run.error = f"no usable report at {index_path}: {e}"
        return run

    run.agents = sorted(index)
    seen: set[str] = set()
    for agent in run.agents:
        cases = index[agent]
        prefix = f"[{agent}] " if len(run.agents) > 1 else ""
        for case_id in sorted(cases, key=case_key):
            entry = cases[case_id]
            seen.add(case_id)
            sec = section_of(case_id)
            behavior = str(entry.get("behavior"))
            close = str(entry.get("behaviorClose"))
            row = run.rows[sec]
            row[behavior if behavior in BEHAVIORS else "OTHER"] += 1
            row["TOTAL"] += 1
            run.total += 1
            duration = int(entry.get("duration") or 0)
            if duration > run.max_duration[0]:
                run.max_duration = (duration, case_id)

            reasons = []
            if behavior == "UNIMPLEMENTED":
                if sec not in allowed_unimpl:
                    reasons.append("behavior=UNIMPLEMENTED (not allowed here)")
            elif behavior not in GOOD_BEHAVIORS:
                reasons.append(f"behavior={behavior}")
            if close not in GOOD_CLOSE:
                row["CLOSE!"] += 1
                reasons.append(f"behaviorClose={close}")
            if reasons:
                row["BAD"] += 1
                detail = load_detail(report_dir, entry)
                why = one_line(detail.get("result")) if behavior not in GOOD_BEHAVIORS else ""
                why_close = one_line(detail.get("resultClose")) if close not in GOOD_CLOSE else ""
                text = "; ".join(x for x in (why, why_close) if x)
                run.problems.append(
                    f"{prefix}{case_id}: {', '.join(reasons)}"
                    + (f" -- {text}" if text else "")
                    + f" [{entry.get('reportfile', '?')}]"
                )

    if expected is not None:
        missing = [c for c in expected if c not in seen]
        for case_id in missing:
            row = run.rows[section_of(case_id)]
            row["MISSING"] += 1
            row["BAD"] += 1
            run.problems.append(f"{case_id}: missing from the report (case not run)")
    return run


COLUMNS = [
    ("OK", "OK"),
    ("NON-STRICT", "NON-STRICT"),
    ("INFORMATIONAL", "INFO"),
    ("UNIMPLEMENTED", "UNIMPL"),
    ("FAILED", "FAILED"),
    ("ERROR", "ERROR"),
    ("OTHER", "OTHER"),
    ("CLOSE!", "CLOSE!"),
    ("MISSING", "MISSING"),
    ("TOTAL", "TOTAL"),
]


def table_rows(run: Run, names: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    header = ["Section"] + [title for _, title in COLUMNS]
    body: list[list[str]] = []
    total: Counter = Counter()
    for sec in sorted(run.rows, key=lambda s: case_key(s)):
        row = run.rows[sec]
        total.update(row)
        name = names.get(sec, "")
        body.append([f"{sec} {name}".strip()] + [str(row.get(key, 0)) for key, _ in COLUMNS])
    body.append(["Total"] + [str(total.get(key, 0)) for key, _ in COLUMNS])
    return header, body


def render_text(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        return "  ".join(cells)

    sep = "  ".join("-" * w for w in widths)
    lines = [fmt(header), sep] + [fmt(r) for r in body[:-1]] + [sep, fmt(body[-1])]
    return "\n".join(lines)


def render_md(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |")
    for r in body[:-1]:
        lines.append("| " + " | ".join(r) + " |")
    last = body[-1]
    lines.append("| " + " | ".join(f"**{c}**" for c in last) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="LABEL=REPORT_DIR")
    ap.add_argument("--md", help="also write the tables as Markdown to this file")
    ap.add_argument(
        "--allow-unimplemented",
        default="",
        help="comma-separated sections where UNIMPLEMENTED is accepted (e.g. 12,13)",
    )
    ap.add_argument("--include", action="append", default=[], help="kosoku -i patterns used")
    ap.add_argument("--exclude", action="append", default=[], help="kosoku -x patterns used")
    ap.add_argument("--title", default="Autobahn TestSuite results")
    args = ap.parse_args()

    allowed = {s.strip() for s in args.allow_unimplemented.split(",") if s.strip()}
    expected = expected_case_ids(args.include, args.exclude)
    names = section_names()

    md: list[str] = [f"## {args.title}", ""]
    ok = True
    for spec in args.runs:
        label, sep, report_dir = spec.partition("=")
        if not sep:
            ap.error(f"expected LABEL=REPORT_DIR, got {spec!r}")
        run = analyse(label, report_dir, allowed, expected)
        print()
        print(f"=== Autobahn {label}: {report_dir}")
        md.append(f"### {label}")
        md.append("")
        if run.error:
            ok = False
            print(f"ERROR: {run.error}")
            md.append(f"No report: {run.error}")
            md.append("")
            continue
        agents = ", ".join(run.agents)
        print(f"agent(s): {agents}")
        header, body = table_rows(run, names)
        print(render_text(header, body))
        md.append(f"Agent: `{agents}`")
        md.append("")
        md.append(render_md(header, body))
        md.append("")
        if run.max_duration[1]:
            print(f"slowest case: {run.max_duration[1]} ({run.max_duration[0]} ms)")
        if run.problems:
            ok = False
            print(f"FAIL: {len(run.problems)} unacceptable case(s):")
            for p in run.problems[:MAX_LISTED_PROBLEMS]:
                print(f"  {p}")
            if len(run.problems) > MAX_LISTED_PROBLEMS:
                print(f"  ... and {len(run.problems) - MAX_LISTED_PROBLEMS} more")
            md.append(f"Result: **FAIL** ({len(run.problems)} unacceptable case(s))")
        else:
            print(f"PASS: all {run.total} case(s) acceptable")
            md.append(f"Result: **PASS** ({run.total} cases)")
        md.append("")

    md.append(
        "Columns: INFO = INFORMATIONAL, UNIMPL = UNIMPLEMENTED"
        + (f" (accepted only in sections {', '.join(sorted(allowed, key=case_key))})" if allowed else " (not accepted)")
        + ", CLOSE! = cases whose closing behaviour (behaviorClose) was not OK/INFORMATIONAL,"
        " MISSING = cases of the suite absent from the report. NON-STRICT, FAILED, ERROR,"
        " CLOSE! and MISSING all fail the run."
    )
    if args.md:
        os.makedirs(os.path.dirname(os.path.abspath(args.md)), exist_ok=True)
        with open(args.md, "w", encoding="utf-8") as f:
            f.write("\n".join(md) + "\n")
        print()
        print(f"Markdown summary written to {args.md}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
