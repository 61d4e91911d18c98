"""The command line's help: every option says what it does, and internal commands are not listed."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from umltui.cli import make_parser


def _commands(parser: argparse.ArgumentParser, path: str = "umltui") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help() -> None:
    # Issue 40, 8: demo --detach/--timeout and ls/net --json said nothing in --help.
    silent = [
        f"{path} {'/'.join(action.option_strings)}"
        for path, parser in _commands(make_parser())
        for action in parser._actions
        if action.option_strings and not action.help
    ]
    assert silent == []


def test_the_keeper_is_not_listed_but_still_runs() -> None:
    parser = make_parser()
    listing = parser.format_help()
    assert "keeper" not in listing
    assert "supervisor" in listing and "up" in listing  # (the supervisor's --stop is for users)
    assert parser.parse_args(["keeper"]).command == "keeper"
