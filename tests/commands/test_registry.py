"""One command registry: every subcommand is a module of proxy/commands registered in proxy/cli.py, each
with --help, reachable through both entry points (`tooltool-proxy`, `python -m proxy`)."""

import argparse
import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import proxy
from proxy import cli

PROXY_DIR = Path(proxy.__file__).parent
COMMANDS_DIR = PROXY_DIR / "commands"


def _subcommands(parser: argparse.ArgumentParser, path: list[str]) -> Iterator[list[str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield [*path, name]
                yield from _subcommands(subparser, [*path, name])


REGISTERED = list(_subcommands(cli.build_parser(), []))


def _run(args: list[str]) -> int:
    try:
        return cli.main(args)
    except SystemExit as exc:  # argparse: --help and usage errors
        return int(exc.code or 0)


def _defines_register(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == "register" for node in tree.body)


def test_the_registry_has_every_command_of_the_operator_interface() -> None:
    top = {path[0] for path in REGISTERED}
    assert top == {
        "serve",
        "clients",
        "check",
        "catalog",
        "index",
        "import",
        "import-legacy",
        "verify",
        "gc",
        "replicate",
        "upload",
    }
    assert ["clients", "add"] in REGISTERED
    assert ["index", "set-visibility"] in REGISTERED


@pytest.mark.parametrize("command", [[], *REGISTERED], ids=lambda c: " ".join(c) or "top")
def test_every_registered_command_has_help_and_exits_0(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(" ".join(["usage: tooltool-proxy", *command]))


def test_every_command_module_is_in_the_registry_and_only_those_register() -> None:
    groups = {module.__name__ for module in cli.command_groups()}  # type: ignore[attr-defined]
    registering = {
        "proxy." + ".".join(path.relative_to(PROXY_DIR).with_suffix("").parts)
        for path in PROXY_DIR.rglob("*.py")
        if _defines_register(path)
    }
    assert registering == groups
    assert all(name.startswith("proxy.commands.") for name in groups)
    assert len(cli.command_groups()) == len(groups)  # each registered once


@pytest.mark.parametrize("module", list(cli.COMMANDS))
def test_the_registry_names_the_commands_each_module_registers(module: str) -> None:
    """What lets `main` import only the module of the command being run."""
    [group] = [group for group in cli.command_groups() if group.__name__ == f"proxy.commands.{module}"]  # type: ignore[attr-defined]
    subcommands = argparse.ArgumentParser().add_subparsers()
    group.register(subcommands)
    assert tuple(subcommands.choices) == cli.COMMANDS[module]
    for command in cli.COMMANDS[module]:
        assert [command] in REGISTERED


def test_running_the_uploader_imports_neither_aiohttp_nor_taskcluster() -> None:
    """`upload` starts without the other commands' imports (and its own client loads later)."""
    code = (
        "import sys\nfrom proxy import cli\n"
        "try:\n    cli.main(['upload', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiohttp', 'taskcluster', 'aiobotocore'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_command_error_is_defined_once_in_the_commands_package() -> None:
    defined = [
        path.relative_to(PROXY_DIR).as_posix()
        for path in PROXY_DIR.rglob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef) and node.name == "CommandError"
    ]
    assert defined == ["commands/command.py"]


def test_the_serve_command_does_not_import_aiohttp() -> None:
    tree = ast.parse((COMMANDS_DIR / "serve.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] == "aiohttp"}


def test_both_entry_points_answer_help_alike() -> None:
    script = shutil.which("tooltool-proxy", path=str(Path(sys.executable).parent))
    assert script is not None, "the console script of setup.py's entry point is not installed in this venv"
    by_script = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    by_module = subprocess.run([sys.executable, "-m", "proxy", "--help"], capture_output=True, text=True, check=False)
    assert (by_script.returncode, by_module.returncode) == (0, 0)
    assert by_script.stdout == by_module.stdout
    assert by_script.stdout.startswith("usage: tooltool-proxy")


@pytest.mark.parametrize(
    "args", [[], ["no-such-command"], ["index"], ["clients", "add", "x"]], ids=lambda a: " ".join(a) or "none"
)
def test_usage_errors_exit_2_with_argparse_usage(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(args) == 2
    assert "usage: tooltool-proxy" in capsys.readouterr().err
