"""What every admin command shares (proxy/commands/command.py): --help with its exit statuses, and a store that
is missing or does not answer stopping the command with exit 2 and one line."""

from pathlib import Path

import pytest

from tests.support.admin import run_main, set_env

COMMANDS = [
    ["index", "show"],
    ["index", "set-visibility"],
    ["index", "delete"],
    ["index", "lint"],
    ["import"],
    ["import-legacy"],
    ["verify"],
    ["gc"],
    ["replicate"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_admin_command_has_help_with_its_exit_status(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: tooltool-proxy {' '.join(command)}")
    assert "exit status:" in out
    assert "2  usage or configuration error" in out
    if command[-1] in ("set-visibility", "delete", "import-legacy", "gc", "replicate"):
        assert "--dry-run" in out


def test_a_missing_local_store_directory_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(monkeypatch, {"TOOLTOOL_STORE": f"file://{tmp_path / 'typo'}"})
    assert run_main(["index", "lint"]) == 2
    assert capsys.readouterr().err.startswith("tooltool-proxy: error: TOOLTOOL_STORE: the directory")
    assert not (tmp_path / "typo").exists()


def test_a_missing_bucket_exits_2(
    moto_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(monkeypatch, {"TOOLTOOL_STORE": "s3://no-such-bucket/", "TOOLTOOL_S3_ENDPOINT_URL": moto_endpoint})
    assert run_main(["verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tooltool-proxy: error: the home store does not answer")
    assert "TOOLTOOL_STORE" in err
