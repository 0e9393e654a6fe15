"""BENCHMARKS.md: the table of one run, between markers, so hand-written analysis around it stays."""

import re
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cases import TIMES, Row

BEGIN = "<!-- results of `python -m benchmarks`: begin (generated; edit outside these markers) -->"
END = "<!-- results of `python -m benchmarks`: end -->"
CHART_WIDTH = 40
CHART_SCALE = 2.0  # the chart runs from 0 to this ratio


@dataclass(frozen=True)
class RunInfo:
    date: str
    command: str
    machine: str
    load_tool: str
    pinning: str
    quiet: str
    duration: str


def results_markdown(rows: list[Row], info: RunInfo) -> str:
    lines = [
        BEGIN,
        "",
        f"Run of {info.date} with `{info.command}` ({info.duration}).",
        "",
        f"- machine: {info.machine}",
        f"- load generator: {info.load_tool}",
        f"- cores: {info.pinning}",
        f"- machine load before the run: {info.quiet}",
        "",
        "| case | measured | reference in the same run | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "n/a"}[row.met]
        lines.append(f"| {row.case} | {row.measured} | {row.reference} | {row.ratio} | {row.target} | {met} |")
    lines += ["", "Ratios against their targets (`|` marks the target; lower is better only for latency):", "", "```"]
    lines += [_bar(row) for row in rows if row.chart is not None]
    lines += ["```", "", "Details:", ""]
    for row in rows:
        lines.append(f"- **{row.case}**")
        lines += [f"  - {note}" for note in row.notes]
    lines += ["", END]
    return "\n".join(lines)


def _bar(row: Row) -> str:
    assert row.chart is not None
    ratio, target = row.chart
    filled = min(CHART_WIDTH, round(ratio / CHART_SCALE * CHART_WIDTH))
    mark = min(CHART_WIDTH - 1, round(target / CHART_SCALE * CHART_WIDTH))
    cells = ["█" if i < filled else "·" for i in range(CHART_WIDTH)]
    cells[mark] = "|"
    label = re.sub(r"\s*\(.*\)$", "", row.case)[:44]
    return f"{label:<44} {''.join(cells)} {ratio:.2f}{TIMES} (target {target:g}{TIMES})"


def write_report(path: Path, rows: list[Row], info: RunInfo) -> None:
    """Replace the generated part of `path` (or write a new file with just that part)."""
    results = results_markdown(rows, info)
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        tail = rest.partition(END)[2]
        path.write_text(head + results + tail)
    else:
        path.write_text(f"# Benchmarks\n\n{results}\n")
