"""`tooltool-proxy serve --workers N`: N processes on one port, one upload secret, a dead worker
replaced and logged, and SIGTERM draining every worker without losing the log line of any
request that was answered. Real `python -m proxy serve` processes, read through their stdout."""

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.workers import parse_workers
from tests.support import tooltool_client
from tests.support.cli import run_cli
from tests.support.serve import ServeProcess

WAIT_SECONDS = 30.0


class Served(ServeProcess):
    """`serve` with the embedded default in tmp_path, read through its JSON log lines (stdout)."""

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_lines() if line.startswith("{")]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if record["Type"] == kind]

    def wait_for(self, what: str, found: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + WAIT_SECONDS
        while not (result := found()):
            assert self.process.poll() is None or what == "exit", f"the server exited waiting for {what}"
            assert time.monotonic() < deadline, f"no {what} within {WAIT_SECONDS} s"
            time.sleep(0.05)
        return result

    def workers(self) -> dict[int, int]:
        """slot -> pid of the live worker in it, from the supervisor's log."""
        slots: dict[int, int] = {}
        for record in self.of_type("tooltool.workers"):
            if record["Fields"].get("msg") == "worker started":
                slots[record["Fields"]["worker"]] = record["Fields"]["worker_pid"]
        return slots

    def summaries(self) -> list[dict[str, Any]]:
        return [record for record in self.of_type("request.summary")]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def run(*args: str, env: dict[str, str] | None = None) -> Served:
        served = Served(
            env or {},
            tmp_path / "serve.log",
            args=args,
            cwd=tmp_path,
            public_url=False,
            stderr_path=tmp_path / "serve.err",
        )
        started.append(served)
        return served.start()

    yield run
    for served in started:
        served.stop()
        for pid in served.workers().values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as answered:
        answered.close()
        return answered.code


def test_workers_share_the_port_and_a_sigkilled_worker_is_replaced_and_logged(serve: Callable[..., Served]) -> None:
    served = serve("--workers", "2")
    workers = served.wait_for("two workers", lambda: len(served.workers()) == 2 and served.workers())
    assert all(_parent(pid) == served.process.pid for pid in workers.values())

    # Both answer on the one port: new connections go to whichever worker accepts first.
    def answering_pids() -> set[int] | None:
        assert _get(served.url + "/__lbheartbeat__") == 200
        pids = {record["Pid"] for record in served.summaries()}
        return pids if pids == set(workers.values()) else None

    served.wait_for("answers from both workers", answering_pids)

    slot, victim = next(iter(workers.items()))
    os.kill(victim, signal.SIGKILL)

    def died() -> dict[str, Any] | None:
        for record in served.of_type("tooltool.workers"):
            if record["Fields"].get("worker_pid") == victim and record["Severity"] == 4:
                return dict(record["Fields"])
        return None

    death = served.wait_for("the death logged", died)
    assert death["worker"] == slot
    assert death["exit"] == "signal 9"
    replacement = served.wait_for("a replacement", lambda: served.workers()[slot] != victim and served.workers()[slot])
    assert _alive(replacement)
    assert _parent(replacement) == served.process.pid
    assert all(_get(served.url + "/__lbheartbeat__") == 200 for _ in range(20))

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=WAIT_SECONDS) == 0
    assert not any(_alive(pid) for pid in served.workers().values())


def test_workers_share_one_upload_secret(serve: Callable[..., Served], tmp_path: Path) -> None:
    # TOOLTOOL_UPLOAD_SECRET is unset: the supervisor makes one for all workers, so a put_url
    # made by one worker is accepted by the other (the local store's uploads go through the proxy).
    served = serve("--workers", "2")
    auth = tmp_path / "tooltool-data" / "admin-auth.json"
    served.wait_for("the admin auth file", auth.exists)

    def put_served_by_another_worker() -> bool:
        seen = len(served.summaries())
        path = tmp_path / f"file-{seen}.bin"
        path.write_bytes(os.urandom(1000))
        # Raises unless the PUT answers 200, whichever worker it reaches.
        batch = tooltool_client.upload(served.url + "/", auth, {path: "public"}, "Bug 1: upload")
        put_urls.append(batch["files"][path.name]["put_url"])
        served.wait_for("the upload's log lines", lambda: len(served.summaries()) >= seen + 3)
        new = served.summaries()[seen:]
        post = next(r["Pid"] for r in new if r["Fields"]["method"] == "POST")
        put = next(r["Pid"] for r in new if r["Fields"]["method"] == "PUT")
        return bool(put != post)

    put_urls: list[str] = []
    served.wait_for("a put_url used on the other worker", put_served_by_another_worker)
    # The production log path (serve's own line builder) holds no credential either.
    text = served.log_path.read_text()
    access_token = json.loads(auth.read_text())["accessToken"]
    for secret in (access_token, "Hawk ", "Authorization", *(url.split("?", 1)[1] for url in put_urls)):
        assert secret not in text


def _load_until_refused(url: str, answered: list[int], stop: threading.Event) -> None:
    """Requests with unique paths, one connection each, until the server stops answering."""
    while not stop.is_set():
        number = int.from_bytes(os.urandom(6), "big")
        try:
            status = _get(f"{url}/sha512/drain-{number}")
        except OSError:
            return
        assert status == 400
        answered.append(number)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_and_loses_no_log_line_of_an_answered_request(
    serve: Callable[..., Served], workers: str
) -> None:
    # Lines wait in the buffer for 60 s: only the flush at SIGTERM can write them in time.
    served = serve("--workers", workers, env={"TOOLTOOL_LOG_FLUSH_SECONDS": "60"})
    answered: list[int] = []
    stop = threading.Event()
    clients = [
        threading.Thread(target=_load_until_refused, args=(served.url, answered, stop), daemon=True) for _ in range(8)
    ]
    for client in clients:
        client.start()
    try:
        served.wait_for("requests answered under load", lambda: len(answered) >= 200)
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=WAIT_SECONDS) == 0
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=WAIT_SECONDS)
    logged = {record["Fields"]["path"] for record in served.summaries()}
    missing = [number for number in answered if f"/sha512/drain-{number}" not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} answered requests have no log line"
    assert not any(_alive(pid) for pid in served.workers().values())


def test_log_lines_are_written_while_the_server_runs(serve: Callable[..., Served]) -> None:
    served = serve()
    assert _get(served.url + "/sha512/written-soon") == 400
    served.wait_for(
        "the line in the log", lambda: any(r["Fields"]["path"] == "/sha512/written-soon" for r in served.summaries())
    )
    assert served.process.poll() is None


def test_auto_is_the_cores_this_process_may_use_and_bad_counts_are_refused(tmp_path: Path) -> None:
    assert parse_workers("auto") == len(os.sched_getaffinity(0))
    assert parse_workers("3") == 3
    for bad in ("0", "-1", "many"):
        result = run_cli("serve", "--workers", bad, cwd=tmp_path)
        assert result.returncode == 2
        assert "--workers" in result.stderr.strip().splitlines()[-1]
