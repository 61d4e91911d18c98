"""The driver reads the terminal on the app's loop: keys, a lone escape and escape sequences
arrive as Textual's own input thread would give them, and a key the app takes at once is not
queued (one-byte keys offered to its ``type_now`` before any event is made). A real app in a real pty."""

from __future__ import annotations

import codecs
import json
import os
import select
import sys
import time
from pathlib import Path

from ptyprocess import PtyProcess
from textual import events
from textual._xterm_parser import XTermParser

from umltui.fastpath.driver import KEYS, typed_key

APP = """
import json, sys
from textual.app import App
from textual.widgets import Static
from umltui.fastpath.driver import QuickDriver

OUT = sys.argv[1]
class KeyApp(App):
    def __init__(self):
        super().__init__(driver_class=QuickDriver)
        self.keys = []
    def compose(self):
        yield Static("ready")
    def type_now(self, key, character):
        if key == "u":
            self.keys.append(("now", character))
            return True
        return False
    def take_key(self, event):
        if event.key == "t":
            self.keys.append(("taken", event.key))
            return True
        return False
    def on_paste(self, event):
        self.keys.append(("paste", event.text))
    def on_key(self, event):
        self.keys.append(("queued", event.key))
        if event.key == "q":
            self.keys.append(("loop_reads", getattr(self._driver, "loop_reads", 0)))
            with open(OUT, "w") as f:
                json.dump(self.keys, f)
            self.exit()
KeyApp().run()
"""


def wait_for(proc: PtyProcess, needle: bytes, timeout: float = 15.0) -> None:
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end and needle not in buf:
        if proc.fd in select.select([proc.fd], [], [], 0.1)[0]:
            try:
                buf += os.read(proc.fd, 65536)
            except OSError:
                break
    assert needle in buf, buf[-400:]


def drain(proc: PtyProcess, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.fd in select.select([proc.fd], [], [], 0.05)[0]:
            try:
                os.read(proc.fd, 65536)
            except OSError:
                return


def test_keys_escape_and_sequences_read_on_the_loop(tmp_path: Path) -> None:
    script, out = tmp_path / "keyapp.py", tmp_path / "keys.json"
    script.write_text(APP)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]), TERM="xterm-256color")
    proc = PtyProcess.spawn([sys.executable, str(script), str(out)], dimensions=(24, 80), env=env)
    try:
        wait_for(proc, b"ready")
        steps = [(b"u", 0.1), (b"a", 0.1), (b"t", 0.1), (b"\x1b", 0.4), (b"\x1b[A", 0.1), (b"bc", 0.1)]
        # a paste a byte at a time (none of it keys), a character in two reads, then keys
        steps += [(bytes([c]), 0.02) for c in b"\x1b[200~xuy\x1b[201~"] + [(b"\xc3", 0.05), (b"\xa9", 0.1)]
        steps += [(b"d", 0.1), (b"\x7f", 0.1), (b"u", 0.1)]
        for data, pause in [*steps, (b"q", 0)]:
            os.write(proc.fd, data)
            drain(proc, pause)
        end = time.monotonic() + 10
        while proc.isalive() and time.monotonic() < end:
            drain(proc, 0.1)
        keys = json.loads(out.read_text())
    finally:
        if proc.isalive():
            proc.terminate(force=True)
    got = [k for k in keys if k[0] != "loop_reads"]
    assert got == [
        ["now", "u"],  # a one-byte key the app types at once (its ``type_now``): no event made
        ["queued", "a"],
        ["taken", "t"],
        ["queued", "escape"],  # a lone escape, once the parser has waited for more
        ["queued", "up"],
        ["queued", "b"],
        ["queued", "c"],
        ["paste", "xuy"],  # (inside a paste, not a key)
        ["queued", "é"],
        ["queued", "d"],
        ["queued", "backspace"],
        ["now", "u"],
        ["queued", "q"],
    ], keys
    assert keys[-1][0] == "loop_reads" and keys[-1][1] >= 6, keys  # the loop read them all, not Textual's thread


def parsed(parser: XTermParser, text: str) -> list[tuple[str, str | None]]:
    return [(e.key, e.character) for e in parser.feed(text) if isinstance(e, events.Key)]


def test_a_typed_character_is_the_key_the_parser_gives() -> None:
    """The shortcut for one printable character gives what Textual's parser gives, and leaves
    the parser where the parser would; anywhere else it stands aside (None)."""
    codes = [*range(0x01, 0x1B), *range(0x1C, 0x80)]  # printable, backspace, enter, tab, ctrl+letters
    assert sorted(KEYS) == codes
    for code in codes:
        parser, decoder = XTermParser(), codecs.getincrementaldecoder("utf-8")()
        key = typed_key(parser, decoder, bytes([code]))
        assert key is not None and [key] == parsed(XTermParser(), chr(code)), chr(code)
        assert typed_key(parser, decoder, bytes([code])) == key  # the parser is as it was
        assert parsed(parser, "x") == [("x", "x")]
    decoder = codecs.getincrementaldecoder("utf-8")()
    for state, data in [
        ("", b"ab"),  # two at once: the parser's
        ("", b"\x1b"),  # escape: it may begin a sequence
        ("", b"\x00"),
        ("", b"\xc3"),  # part of a character
        ("\x1b", b"a"),  # after an escape: alt+a, or a sequence
        ("\x1b[", b"A"),  # inside a sequence
        ("\x1b[200~", b"a"),  # inside a bracketed paste
        ("\x1b[200~xy", b"a"),
    ]:
        parser = XTermParser()
        if state:  # ("" would end the parse)
            list(parser.feed(state))
        assert typed_key(parser, decoder, data) is None, (state, data)
    parser = XTermParser()
    list(parser.feed("\x1b[200~pasted\x1b[201~"))  # a paste that ended: typing goes on
    assert typed_key(parser, decoder, b"a") == ("a", "a")
    decoder.decode(b"\xc3")  # half of a character
    assert typed_key(XTermParser(), decoder, b"a") is None
