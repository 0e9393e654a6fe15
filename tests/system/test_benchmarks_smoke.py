"""`python -m benchmarks --quick` (about 15 s) runs end to end and writes the table of issue 4.

The benchmark itself stays out of the test suite; this only proves the command still works.
"""

import subprocess
import sys
from pathlib import Path

from benchmarks.report import BEGIN, END

REPO = Path(__file__).resolve().parents[2]
CASES = (
    "| anonymous download of a hot public file (302), request logging on |",
    "| Hawk-authenticated download of an internal file (static clients) |",
    "| server CPU per anonymous 302 with serve --workers 2 |",
    "| streaming a 32 MiB file through the proxy |",
    "| upload verification of a 32 MiB staged object |",
    "| object-store requests during 1,000 downloads of one hot digest |",
    "| cold download (cache empty) latency p50 |",
)


def test_quick_benchmark_writes_every_case_and_keeps_text_around_its_table(tmp_path: Path) -> None:
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(f"# Benchmarks\n\nanalysis before\n\n{BEGIN}\nold table\n{END}\n\nanalysis after\n")
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    text = output.read_text()
    assert all(case in text for case in CASES), text
    assert "old table" not in text
    assert text.startswith("# Benchmarks\n\nanalysis before\n\n")
    assert text.endswith("\n\nanalysis after\n")
    assert "with `python -m benchmarks --quick --output" in text
