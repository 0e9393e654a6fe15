"""requirements/constraints.txt and build.txt (the pins the image installs) agree with setup.py and pyproject.toml.

Refresh both with `python requirements/refresh.py`; the image build runs `pip check` on the result.
"""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
REFRESH = "python requirements/refresh.py"


def pins(name: str) -> dict[str, Version]:
    pinned: dict[str, Version] = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1, f"{name}: {line!r} is not name==version"
        assert specifiers[0].operator == "==", f"{name}: {line!r} is not name==version"
        key = canonicalize_name(requirement.name)
        assert key not in pinned, f"{name}: {requirement.name} pinned twice"
        pinned[key] = Version(specifiers[0].version)
    return pinned


def install_requires() -> list[str]:
    # setup.py as setuptools reads it, in a child process (it reads README.md and may warn).
    script = (
        "import json; from distutils.core import run_setup; "
        "print(json.dumps(run_setup('setup.py', stop_after='init').install_requires))"
    )
    output = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    requires: list[str] = json.loads(output.stdout.splitlines()[-1])
    return requires


def assert_pinned_inside(requirements: list[str], pinned: dict[str, Version], where: str) -> None:
    for line in requirements:
        requirement = Requirement(line)
        key = canonicalize_name(requirement.name)
        assert key in pinned, f"{where} requires {line} but it is not pinned; run {REFRESH}"
        assert requirement.specifier.contains(pinned[key], prereleases=True), (
            f"{requirement.name}=={pinned[key]} is outside {where}'s {line}; run {REFRESH}"
        )


def test_every_install_requires_range_holds_its_pinned_version() -> None:
    assert_pinned_inside(install_requires(), pins("constraints.txt"), "setup.py")


def test_build_pins_satisfy_pyproject_build_system() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert_pinned_inside(requires, pins("build.txt"), "pyproject.toml")


def test_runtime_pins_hold_no_build_tools_or_the_package_itself() -> None:
    assert not {"pip", "setuptools", "wheel", "tooltool-proxy"} & set(pins("constraints.txt"))
