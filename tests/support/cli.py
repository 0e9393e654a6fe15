"""Running `python -m proxy …` as a subprocess, as an operator runs it."""

import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def clean_env() -> dict[str, str]:
    """The environment without any TOOLTOOL_* setting: the embedded default."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TOOLTOOL_") and k != "PORT"}
