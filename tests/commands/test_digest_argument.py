"""One digest argument type for every command argument that is a sha512 digest: a bad one is the
one-line error of every command, exit status 2, before any configuration is read or store opened."""

import argparse
from collections.abc import Iterator

import pytest

from proxy import cli
from proxy.commands.command import CommandError, digest_argument

DIGEST = "0123456789abcdef" * 8

# Every command with a digest argument, with a bad digest where one goes and good values elsewhere.
BAD_DIGEST_COMMANDS = {
    ("check",): ["check", "http://127.0.0.1:1", "--public", "ABC", "--internal", DIGEST],
    ("index", "show"): ["index", "show", "ABC"],
    ("index", "set-visibility"): ["index", "set-visibility", "ABC", "public", "--dry-run"],
    ("index", "delete"): ["index", "delete", "ABC", "--dry-run"],
}


def _digest_arguments(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(command, argument) for every argument whose name or help says its value is a digest."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from _digest_arguments(subparser, (*path, name))
        elif action.dest == "digest" or any(words in (action.help or "") for words in ("digest of", "sha512 digest")):
            yield path, action.dest


def _digest_typed(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                yield from _digest_typed(subparser)
        elif action.type is digest_argument:
            yield action


def test_a_digest_is_accepted_as_it_is() -> None:
    assert digest_argument(DIGEST) == DIGEST


@pytest.mark.parametrize(
    "value",
    ["", "ABC", DIGEST.upper(), DIGEST[:-1], DIGEST + "0", DIGEST[:-1] + "g", " " + DIGEST[1:]],
    ids=["empty", "short", "upper-case", "127", "129", "not-hex", "space"],
)
def test_anything_else_is_refused_with_what_to_give(value: str) -> None:
    with pytest.raises(CommandError) as refused:
        digest_argument(value)
    assert str(refused.value) == f"{value!r} is not a sha512 digest; give its 128 lower-case hex characters"


def test_a_long_value_is_quoted_only_in_part() -> None:
    with pytest.raises(CommandError) as refused:
        digest_argument("x" * 10_000)
    assert str(refused.value).startswith(repr("x" * 140) + " is not a sha512 digest")


def test_every_digest_argument_has_the_digest_type() -> None:
    parser = cli.build_parser()
    named = list(_digest_arguments(parser, ()))
    assert {command for command, _ in named} == set(BAD_DIGEST_COMMANDS)
    assert len(list(_digest_typed(parser))) == len(named)


@pytest.mark.parametrize("command", list(BAD_DIGEST_COMMANDS), ids=" ".join)
def test_a_bad_digest_is_one_line_and_exit_2(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Refused while parsing: a store that cannot be opened is never reached.
    monkeypatch.setenv("TOOLTOOL_STORE", "ftp://nowhere/")
    assert cli.main(BAD_DIGEST_COMMANDS[command]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "tooltool-proxy: error: 'ABC' is not a sha512 digest; give its 128 lower-case hex characters\n"
    )
