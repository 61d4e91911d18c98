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


def test_ls_fits_its_table_to_the_terminal_wrapping_inside_columns_not_words() -> None:
    # Issue 40, 8: at 80 columns the terminal wrapped "con2=pts/4" in two.
    from umltui.imagecli import table

    cons = " ".join(f"con{i}=pts/{i + 3}" for i in range(1, 7))
    rows = [[f"demo-{g}", "demo", "running", "2743", "7.2.7", "eth0:lan0(10.0.0.1/24)", "-", cons] for g in "ab"]
    header = ["GUEST", "LAB", "STATE", "PID", "KERNEL", "NICS", "DISKS", "CONSOLES"]
    wide = table(rows, header)
    assert len(wide.splitlines()) == 3  # (a pipe: a guest a line)
    fitted = table(rows, header, 80).splitlines()
    assert all(len(line) <= 80 for line in fitted), fitted
    start = fitted[0].index("CONSOLES")
    words = [w for line in fitted[1:] for w in line[start:].split()]
    assert words == cons.split() * 2  # every console whole, in its column
    assert fitted[1].startswith("demo-a") and sum(line.startswith("demo-") for line in fitted) == 2


def test_consoles_in_short_for_a_narrow_terminal() -> None:
    from umltui.cli import consoles_text

    cons = {f"con{i}": f"/dev/pts/{i + 3}" for i in range(1, 7)}
    assert consoles_text(cons) == " ".join(f"con{i}=pts/{i + 3}" for i in range(1, 7))
    assert consoles_text(cons, short=1) == "con1-6=pts/4-9"
    assert consoles_text(cons, short=2) == "con1-6"
    cons["con4"] = "/dev/pts/20"
    assert consoles_text(cons, short=1) == "con1-3=pts/4-6 con4=pts/20 con5-6=pts/8-9"
    assert consoles_text(cons, short=2) == "con1-6"
