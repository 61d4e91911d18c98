"""The packets pane: a segment's frames live, decoded by tcpdump, with a filter, pausing and
"save as pcap".

Frames come from a passive port on the segment's switch (or tcpdump on a tap, see
:mod:`umltui.core.capture`), read by a thread of their own, so a busy app drops its own
frames (counted in the title), never the guests'. They are kept (up to :data:`KEEP`) and
fed to a ``tcpdump -r - -n -e`` that applies the filter. A new filter starts a new decoder
over every frame kept, so it applies to the past too, as a display filter does in
Wireshark.

A decoded frame is one line as tcpdump prints it; where the pane is narrower (80 columns:
the time and two MACs take half of it), it wraps at spaces onto lines indented under it,
so every word of every frame is shown and each frame still starts at the left edge. The
frames shown are kept as text, so a resize wraps them again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import textwrap
import time
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Log

from ..core.capture import (
    PCAP_HEADER,
    Capture,
    CaptureError,
    check_filter,
    decoder_argv,
    open_source,
    pcap_records,
)

NARROW = 120  # below this width a decoded line loses its ethertype and length words
ETHERTYPE = re.compile(r"ethertype \S+ \(0x[0-9a-f]{4}\), length \d+: ")
KEEP = 100_000  # frames kept for a new filter and for saving
LINES = 5000  # decoded frames the pane shows at most
INDENT = "    "  # a frame's wrapped words, under its first line


def frame_lines(text: str, width: int) -> list[str]:
    """One decoded frame as the pane shows it ``width`` columns wide: as it is where it fits,
    else wrapped at spaces (a word longer than a line is cut), the rest indented."""
    if width < NARROW:
        text = ETHERTYPE.sub("", text)
    if len(text) <= width or width <= len(INDENT) + 8:
        return [text]
    return textwrap.wrap(text, width, subsequent_indent=INDENT, break_on_hyphens=False) or [text]


def captures_dir() -> Path:
    return Path.home() / "umltui-captures"


class PacketsScreen(Screen[None]):
    DEFAULT_CSS = """
    PacketsScreen #pk-title { width: 1fr; height: 1; background: $panel; padding: 0 1; }
    PacketsScreen #pk-filter { height: 3; }
    PacketsScreen #pk-log { height: 1fr; scrollbar-gutter: stable; }
    """
    BINDINGS = [
        Binding("escape", "close", "back"),
        Binding("space", "pause", "pause / go on"),
        Binding("ctrl+s", "save", "save as pcap"),
        Binding("ctrl+l", "clear", "clear"),
        Binding("ctrl+f", "filter", "filter"),
    ]

    def __init__(self, segment: dict[str, Any]) -> None:
        """``segment``: a switch, hub or tap of the ``net`` report with its ``kind`` (see ``find_segment``)."""
        super().__init__()
        self.segment = segment
        self.where = f"{segment['lab']}/{segment['name']}"
        self.capture: Capture | None = None
        self.kept: collections.deque[tuple[float, bytes]] = collections.deque(maxlen=KEEP)
        self.filter: list[str] = []
        self.decoder: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.paused = False
        self.waiting: collections.deque[str] = collections.deque(maxlen=LINES)  # decoded while paused
        self.shown: collections.deque[str] = collections.deque(maxlen=LINES)  # the frames in the log, as decoded
        self._wrapped_at = 0  # the width the log's lines were wrapped for

    def compose(self) -> ComposeResult:
        yield Label(id="pk-title")
        yield Input(placeholder="tcpdump filter (icmp, arp, host 10.0.0.2) · Enter applies it", id="pk-filter")
        yield Log(id="pk-log", max_lines=LINES * 4, auto_scroll=True)
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(Log).focus()
        try:
            self.capture = Capture(await asyncio.to_thread(open_source, self.segment))
        except (CaptureError, OSError) as exc:
            self.query_one(Log).write_line(f"cannot capture {self.where}: {exc}")
            self._title()
            return
        if self.segment.get("learning"):
            self.query_one(Log).write_line(
                f"{self.where} is a learning switch: only its broadcasts and floods are seen here"
            )
        await self._start_decoder()
        self.set_interval(0.2, self._pump)
        self._title()

    def _title(self, note: str = "") -> None:
        cap = self.capture
        parts = [f"Packets on {self.where} ({self.segment['kind']})"]
        if cap is not None:
            parts.append(f"{cap.captured} frames")
            if cap.dropped:
                parts.append(f"{cap.dropped} dropped here (the pane was behind; the guests lost none)")
        if self.filter:
            parts.append("filter: " + " ".join(self.filter))
        if self.paused:
            parts.append(f"PAUSED, {len(self.waiting)} new")
        if note:
            parts.append(note)
        self.query_one("#pk-title", Label).update(Content(" · ".join(parts)))  # plain: icmp[icmptype] is no markup

    async def _start_decoder(self) -> None:
        await self._stop_decoder()
        self.decoder = await asyncio.create_subprocess_exec(
            *decoder_argv(self.filter),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.decoder.stdin is not None
        self.decoder.stdin.write(PCAP_HEADER + pcap_records(self.kept))
        self.reader = asyncio.create_task(self._read(self.decoder))

    async def _stop_decoder(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            self.reader = None
        if self.decoder is not None:
            with contextlib.suppress(ProcessLookupError):
                self.decoder.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.decoder.wait(), 5)
            self.decoder = None

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            text = line.decode(errors="replace").rstrip("\n")
            if self.paused:
                self.waiting.append(text)
            else:
                self._show([text])

    def _width(self) -> int:
        """The log's text width (its scrollbar's gutter is kept, so this does not change as it fills)."""
        log = self.query_one(Log)
        return max(1, log.size.width - log.styles.scrollbar_size_vertical)

    def _show(self, texts: list[str]) -> None:
        width = self._width()
        if width != self._wrapped_at:
            self._rewrap()
        self.shown.extend(texts)
        self.query_one(Log).write_lines([row for text in texts for row in frame_lines(text, width)])

    def _rewrap(self) -> None:
        """Every frame shown again, wrapped for the log's width now."""
        log = self.query_one(Log)
        self._wrapped_at = width = self._width()
        log.clear()
        log.write_lines([row for text in self.shown for row in frame_lines(text, width)])

    def on_resize(self) -> None:
        if self.shown and self._width() != self._wrapped_at:
            self.call_after_refresh(self._rewrap)  # (once the log has its new size)

    async def _pump(self) -> None:
        if self.capture is None:
            return
        frames = self.capture.frames(0)
        if frames:
            self.kept.extend(frames)
            if self.decoder is not None and self.decoder.stdin is not None:
                self.decoder.stdin.write(pcap_records(frames))
                with contextlib.suppress(ConnectionError):
                    await self.decoder.stdin.drain()
        self._title()

    @on(Input.Submitted, "#pk-filter")
    async def _apply_filter(self, event: Input.Submitted) -> None:
        event.stop()
        words = event.value.split()
        try:
            await asyncio.to_thread(check_filter, words)
        except CaptureError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self.filter = words
        self.query_one(Log).clear()
        self.shown.clear()
        self.waiting.clear()
        await self._start_decoder()
        self.query_one(Log).focus()
        self._title()

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self._show(list(self.waiting))
            self.waiting.clear()
        self._title()

    def action_clear(self) -> None:
        self.query_one(Log).clear()
        self.shown.clear()

    def action_filter(self) -> None:
        self.query_one("#pk-filter", Input).focus()

    def action_save(self) -> None:
        """Every frame kept (not only those the filter shows) into a pcap file."""
        folder = captures_dir()
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = folder / f"{self.segment['lab']}-{self.segment['name']}-{stamp}.pcap"
            path.write_bytes(PCAP_HEADER + pcap_records(self.kept))
        except OSError as exc:
            self.notify(f"cannot save: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"{len(self.kept)} frames saved to {path}", timeout=8)

    async def action_close(self) -> None:
        await self._stop_decoder()
        if self.capture is not None:
            await asyncio.to_thread(self.capture.close)
            self.capture = None
        self.dismiss(None)

    async def on_unmount(self) -> None:
        await self._stop_decoder()
        if self.capture is not None:
            self.capture.close()
