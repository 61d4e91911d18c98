"""A console's bytes to text, as tmux reads them: a broken UTF-8 sequence is dropped, not drawn.

Python's own decoder draws U+FFFD where the bytes are not UTF-8 (``errors="replace"``); tmux
(``input.c``, ``utf8.c``) draws nothing there. A program that cuts a string by bytes, halfway
through a wide character, then leaves a replacement character on a pane where tmux leaves a
blank. tmux's rules, kept here:

- a byte that cannot start a sequence (``80``-``C1``, ``F5``-``FF``) is dropped;
- a lead byte (``C2``-``F4``) opens a sequence of the length it says. The next bytes of ``80``
  and above fill it, whatever they are; once full, it is drawn if it was valid UTF-8 and a
  character with a width (C1 controls are not), else all of it is dropped;
- an ASCII byte while a sequence is open drops the sequence, and counts as itself.

(tmux goes on with an open sequence after an escape sequence that came between its bytes; here
the escape sequence's own ASCII bytes drop it, as any ASCII does.)

Valid text, by far the common case, takes Python's decoder at C speed; only a chunk with a
broken or unfinished sequence is read byte by byte.
"""

from __future__ import annotations

import contextlib


def _length(lead: int) -> int:
    """The bytes of the sequence ``lead`` opens (0: it opens none)."""
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


_NO_C1 = dict.fromkeys(range(0x80, 0xA0))


class Utf8Decoder:
    """An incremental decoder with tmux's handling of bytes that are not UTF-8."""

    def __init__(self) -> None:
        self.pending = b""  # an unfinished sequence at the end of the last chunk

    def reset(self) -> None:
        self.pending = b""

    def decode(self, data: bytes) -> str:
        if self.pending:
            data, self.pending = self.pending + data, b""
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            text = data[: exc.start].decode() + self._slow(data, exc.start)
        if b"\xc2" in data:  # (C2 80 to C2 9F, the C1 controls, have no width: tmux drops them)
            text = text.translate(_NO_C1)
        return text

    def _slow(self, data: bytes, i: int) -> str:
        """``data`` from ``i``, where a broken or unfinished sequence starts."""
        out: list[str] = []
        n = len(data)
        while i < n:
            size = _length(data[i])
            if not size:
                i += 1  # no sequence starts here
            else:
                j = i + 1
                while j < n and j - i < size and data[j] >= 0x80:
                    j += 1
                if j - i < size:
                    if j == n:
                        self.pending = data[i:]  # the rest comes in the next chunk
                        break
                    i = j  # ASCII came first: the sequence is dropped, the ASCII byte kept
                else:
                    # (dropped if a byte does not continue it, or it is an overlong form or a surrogate)
                    with contextlib.suppress(UnicodeDecodeError):
                        out.append(data[i:j].decode())
                    i = j
            # Valid text, up to the next problem, at C speed again.
            try:
                out.append(data[i:].decode())
                break
            except UnicodeDecodeError as exc:
                out.append(data[i : i + exc.start].decode())
                i += exc.start
        return "".join(out)
