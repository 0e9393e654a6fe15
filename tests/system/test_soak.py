"""The soak script's short variant (benchmarks/soak.py): a mixed load with no error and no lost upload."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.soak import Stats, build_report, parse_args

ROOT = Path(__file__).resolve().parents[2]
# Every kind of request the workload makes (store_get only on S3, where downloads redirect).
REQUESTS = (
    "download_public",
    "download_internal",
    "file_info",
    "batch_info",
    "search_files",
    "search_batches",
    "upload_post",
    "upload_put",
    "upload_complete",
)


def run_soak(*args: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "benchmarks.soak", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, timeout=120, check=False)


def test_short_soak_has_no_errors_and_every_upload_downloads_intact(store_kind: str) -> None:
    result = run_soak("--duration", "8", "--clients", "16", "--store", store_kind, "--grace", "30", "--json")
    assert result.returncode == 0, result.stdout.decode()[-4000:] + result.stderr.decode()[-4000:]
    report = json.loads(result.stdout)

    assert report["passed"] is True
    assert (report["errors"], report["server_errors"], report["integrity_failures"]) == (0, 0, 0)
    assert report["unfinished_clients"] == 0
    assert report["skipped"] == []
    for name in REQUESTS:
        assert report["operations"][name]["requests"] > 0, name
        assert report["operations"][name]["errors"] == 0, name
    if store_kind == "s3":
        assert report["operations"]["download_public"]["statuses"].keys() == {"302"}
        assert report["operations"]["store_get"]["errors"] == 0
    committed = report["uploads"]["committed"]
    check = report["final_check"]
    assert committed > 0
    assert check["files"] >= committed
    assert (check["intact"], check["lost"], check["corrupt"]) == (check["files"], 0, 0)
    assert "requests" in result.stderr.decode()  # the progress lines


def _report(stats: Stats, check: dict[str, int]) -> dict[str, object]:
    args = argparse.Namespace(store="local", clients=1, duration=1.0, seed=1)
    return build_report(args, stats, 1.0, 0, check, [])


def test_a_server_error_or_a_lost_upload_fails_the_run() -> None:
    clean = {"files": 1, "intact": 1, "lost": 0, "corrupt": 0}
    assert _report(Stats(), clean)["passed"] is True

    with_5xx = Stats()
    with_5xx.record("file_info", 0.01, "503", False, "GET /file/sha512/x")
    report = _report(with_5xx, clean)
    assert (report["passed"], report["server_errors"], report["errors"]) == (False, 1, 1)

    lost = {"files": 1, "intact": 0, "lost": 1, "corrupt": 0}
    assert _report(Stats(), lost)["passed"] is False


def test_the_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args(["--duration", "5", "--clients", "3", "--store", "s3", "--json"])
    assert (args.duration, args.clients, args.store, args.json) == (5.0, 3, "s3", True)
    with pytest.raises(SystemExit) as exited:
        parse_args(["--duration", "0"])
    assert exited.value.code == 2
    assert "must be positive" in capsys.readouterr().err
