"""``python -m umltui.terminal.dump --cols C --rows R [--history N]``: bytes on stdin, the
final screen out as plain text rows (and the scrollback before it with ``--history``), for
debugging and for comparing with other terminals."""

from __future__ import annotations

import argparse
import io
import sys

from .model import DEFAULT_HISTORY, Terminal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m umltui.terminal.dump", description=__doc__.splitlines()[0])
    parser.add_argument("--cols", type=int, default=80)
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument(
        "--history", type=int, default=0, metavar="N", help="also print up to N lines of scrollback before the screen"
    )
    args = parser.parse_args(argv)
    if args.cols < 1 or args.rows < 1:
        parser.error("--cols and --rows must be at least 1")
    term = Terminal(args.cols, args.rows, history=max(args.history, 1) if args.history else DEFAULT_HISTORY)
    stdin = sys.stdin.buffer
    read = stdin.read1 if isinstance(stdin, io.BufferedReader) else stdin.read
    while chunk := read(65536):
        term.feed(chunk)
    out = sys.stdout
    if args.history:
        for row in term.screen.history_text()[-args.history :]:
            out.write(row + "\n")
    for row in term.screen.rows_text():
        out.write(row + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
