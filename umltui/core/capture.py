"""Packet capture on a lab's segments: a passive port on a VDE segment, or tcpdump on a tap.

A segment's port is ``vde_plug vde://FOLDER``: it joins the segment as any guest does and
writes every frame the segment gives it to its stdout. A capture port never sends, so a
learning switch never learns a MAC on it: on a hub it gets every frame; on a learning
switch only broadcasts, floods and frames to MACs it has not learned yet, which is why
umltui runs its segments as hubs unless a lab asks for a learning switch (see
:mod:`.network`).

The port is read by a thread of its own that does nothing else; what its consumer has not
taken yet waits in a bounded queue, and when that is full the capture drops the oldest of
its own frames and counts them (:attr:`Capture.dropped`).

Taps are captured with tcpdump on the tap, inside the lab's namespace (``ip netns exec``);
tap labs need root, so the capture does too.

Frames are written as pcap (microsecond timestamps, link type Ethernet), which tcpdump,
Wireshark and tshark read.
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..locations import private_dir, state_dir

SNAPLEN = 65535
LINKTYPE_ETHERNET = 1
PCAP_HEADER = struct.pack("=IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
QUEUE_FRAMES = 20000  # frames a capture holds for a consumer that is behind


class CaptureError(Exception):
    pass


def saved_path(lab: str, segment: str) -> Path:
    """Where the supervisor keeps a segment's rolling capture (and ``.1``, the older half)."""
    return state_dir() / "captures" / f"{lab}-{segment}.pcap"


def find_segment(net: dict[str, Any], ref: str) -> dict[str, Any]:
    """The switch or tap ``LAB/NAME`` (or ``NAME`` when one lab has it), with ``kind`` set.

    Raises:
        CaptureError: no such segment, or a name several labs have (the known ones listed).
    """
    segments = [{**sw, "kind": "hub" if sw["hub"] else "switch"} for sw in net["switches"]]
    segments += [{**tap, "kind": "tap"} for tap in net["taps"]]
    lab, _, name = ref.rpartition("/")
    found = [s for s in segments if s["name"] == name and (not lab or s["lab"] == lab)]
    if len(found) == 1:
        return found[0]
    known = ", ".join(f"{s['lab']}/{s['name']}" for s in segments) or "none (no lab is up)"
    if found:
        raise CaptureError(f"{ref!r} is in several labs: say which ({known})")
    raise CaptureError(f"no segment {ref!r} (segments: {known})")


def pcap_record(ts: float, frame: bytes) -> bytes:
    """One pcap record: the frame with its time and length."""
    sec = int(ts)
    return struct.pack("=IIII", sec, int((ts - sec) * 1_000_000), len(frame), len(frame)) + frame


def pcap_records(frames: Iterable[tuple[float, bytes]]) -> bytes:
    """The records of ``(time, frame)`` pairs, one after the other (no header)."""
    return b"".join(pcap_record(ts, frame) for ts, frame in frames)


class _StreamSource:
    """Frames read from a helper process's stdout, each with a timeout."""

    proc: subprocess.Popen[bytes]

    def _exactly(self, n: int, timeout: float) -> bytes | None:
        assert self.proc.stdout is not None
        out, data = self.proc.stdout, b""
        deadline = time.monotonic() + timeout
        while len(data) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                return data or None  # (a record cut by a timeout is finished by the caller)
            chunk = os.read(out.fileno(), n - len(data))
            if not chunk:
                raise OSError("the capture's helper ended")
            data += chunk
        return data

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


class SwitchPort(_StreamSource):
    """A port on the VDE segment in ``folder``: ``vde_plug vde://FOLDER`` writes every frame it
    gets to its stdout (two bytes of length, big-endian, then the frame); it never sends,
    since nothing is written to its stdin (a pipe kept open, so it does not end)."""

    def __init__(self, folder: Path, timeout: float = 5.0) -> None:
        exe = shutil.which("vde_plug")
        if exe is None:
            raise CaptureError("vde_plug is missing: install Debian's vdeplug (apt-get install vdeplug)")
        if not (folder / "ctl").exists():
            raise CaptureError(f"cannot reach the segment at {folder}: it has no control socket")
        self.proc = subprocess.Popen(
            [exe, f"vde://{folder}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(0.05)
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
            self.close()
            raise CaptureError(f"cannot join the segment at {folder}: {err or 'vde_plug ended'}")

    def receive(self, timeout: float) -> bytes | None:
        """The next frame on the segment, or None when none came within ``timeout``."""
        head = self._exactly(2, timeout)
        if head is None:
            return None
        if len(head) < 2:
            head += self._exactly(1, 10.0) or b""
        (length,) = struct.unpack(">H", head)
        return self._exactly(length, 10.0) or b""


class TapSource(_StreamSource):
    """The frames of a tap: tcpdump on it (in its namespace) writes a pcap stream we read."""

    def __init__(self, tap: str, netns: str | None) -> None:
        self.proc = subprocess.Popen(tap_capture_argv(tap, netns), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.out = self.proc.stdout
        header = self._exactly(len(PCAP_HEADER), 10.0)
        if header is None or header[:4] != PCAP_HEADER[:4]:
            err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
            self.close()
            raise CaptureError(f"tcpdump on {tap} did not start: {err or 'no answer'}")

    def receive(self, timeout: float) -> bytes | None:
        head = self._exactly(16, timeout)
        if head is None:
            return None
        if len(head) < 16:
            head += self._exactly(16 - len(head), 10.0) or b""
        _sec, _usec, incl, _orig = struct.unpack("=IIII", head)
        return self._exactly(incl, 10.0) or b""


def open_source(segment: dict[str, Any]) -> SwitchPort | TapSource:
    """A frame source for a segment of the ``net`` report (see :func:`find_segment`)."""
    if segment["kind"] == "tap":
        return TapSource(segment["name"], segment.get("netns"))
    if not segment.get("alive", True):
        raise CaptureError(f"{segment['lab']}/{segment['name']} is not running (umltui up starts it again)")
    return SwitchPort(Path(segment["ctl"]))


class Capture:
    """Frames of one segment, read by a thread of their own into a bounded queue.

    ``port`` is a :class:`SwitchPort` or a :class:`TapSource`; :meth:`frames` hands out
    ``(time, frame)`` pairs.
    """

    def __init__(self, port: SwitchPort | TapSource, queue_frames: int = QUEUE_FRAMES) -> None:
        self.port = port
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.limit = queue_frames
        self.captured = 0
        self.dropped = 0  # frames this capture let go because its consumer was behind
        self.ready = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, name="umltui-capture", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stopping.is_set():
            try:
                frame = self.port.receive(0.2)
            except OSError:
                break
            if frame is None:
                continue
            with self.ready:
                if len(self.queue) >= self.limit:
                    self.queue.popleft()
                    self.dropped += 1
                self.queue.append((time.time(), frame))
                self.captured += 1
                self.ready.notify()

    def frames(self, timeout: float) -> list[tuple[float, bytes]]:
        """What came since the last call, waiting up to ``timeout`` for the first."""
        with self.ready:
            if not self.queue:
                self.ready.wait(timeout)
            out = list(self.queue)
            self.queue.clear()
        return out

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        self.port.close()


def tcpdump_path() -> str:
    path = shutil.which("tcpdump") or ("/usr/bin/tcpdump" if os.path.exists("/usr/bin/tcpdump") else None)
    if not path:
        raise CaptureError("tcpdump is missing: install Debian's tcpdump (apt-get install tcpdump)")
    return path


def tap_capture_argv(tap: str, netns: str | None) -> list[str]:
    """tcpdump writing a pcap stream of ``tap`` (in its namespace) to its stdout."""
    argv = [tcpdump_path(), "-i", tap, "-U", "-w", "-", "-s", str(SNAPLEN), "--immediate-mode"]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    return argv


def decoder_argv(filter_words: list[str], *, count: int | None = None, write: str | None = None) -> list[str]:
    """tcpdump reading a pcap stream on stdin: decoded lines (``-n -e``), or a pcap file with ``write``."""
    argv = [tcpdump_path(), "-r", "-", "-n", "-e", "-l"]
    if count:
        argv += ["-c", str(count)]
    if write:
        argv += ["-U", "-w", write]
    return [*argv, "--", *filter_words]  # (a word such as -w is filter, never an option)


def check_filter(filter_words: list[str]) -> None:
    """A BPF filter tcpdump accepts, or CaptureError with tcpdump's words."""
    if not filter_words:
        return
    out = subprocess.run(
        [tcpdump_path(), "-d", "-y", "EN10MB", "--", *filter_words], capture_output=True, text=True, timeout=10
    )
    if out.returncode:
        raise CaptureError(f"bad filter {' '.join(filter_words)!r}: {out.stderr.strip().splitlines()[-1]}")


def whole_length(data: bytes) -> int:
    """How many bytes of a pcap stream (header included) are whole records: where to cut it."""
    if len(data) < len(PCAP_HEADER):
        return 0
    pos = len(PCAP_HEADER)
    while pos + 16 <= len(data):
        incl = struct.unpack_from("=IIII", data, pos)[2]
        if incl > SNAPLEN or pos + 16 + incl > len(data):
            break
        pos += 16 + incl
    return pos


class Rolling:
    """A rolling capture on disk: ``path`` and ``path.1``, each at most half of ``size`` bytes.

    When ``path`` is full it becomes ``path.1`` (the older half is dropped) and a new
    ``path`` starts, so the newest ``size`` bytes or so are kept. :meth:`saved` joins both.

    The files only ever hold whole records: a write the disk cut short (ENOSPC) is taken
    back before :meth:`add` raises, and a record an earlier process left half-written (it
    was killed in the middle) is cut off when the file is taken up again. A failed add
    costs its frames, not the capture: the next one tries again.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.older = path.with_name(path.name + ".1")
        self.half = max(size // 2, 64 * 1024)
        private_dir(path.parent)
        self.file = -1
        self.written = 0
        with contextlib.suppress(OSError):  # a full disk: the first add tries again
            self.file = self._open(resume=True)

    def _open(self, *, resume: bool = False) -> int:
        """A new ``path`` with its header; with ``resume``, the one an earlier run left goes on."""
        if resume:
            with contextlib.suppress(OSError):
                whole = whole_length(self.path.read_bytes())
                if whole:
                    fd = os.open(self.path, os.O_WRONLY)
                    os.ftruncate(fd, whole)  # a record cut by a kill goes
                    os.lseek(fd, whole, os.SEEK_SET)
                    self.written = whole
                    return fd
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self._write_all(fd, PCAP_HEADER)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                self.path.unlink()  # no header-less file for a reader
            raise
        self.written = len(PCAP_HEADER)
        return fd

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def add(self, records: bytes) -> None:
        """Append whole records, or raise OSError with the file as it was."""
        if self.file < 0:
            self.file = self._open(resume=True)
        if self.written + len(records) > self.half and self.written > len(PCAP_HEADER):
            os.close(self.file)
            self.file = -1
            os.replace(self.path, self.older)
            self.file = self._open()
        try:
            self._write_all(self.file, records)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.file, self.written)  # take back a part-written record
                os.lseek(self.file, self.written, os.SEEK_SET)
            raise
        self.written += len(records)

    def close(self) -> None:
        if self.file >= 0:
            with contextlib.suppress(OSError):
                os.close(self.file)
            self.file = -1

    @staticmethod
    def saved(path: Path) -> bytes:
        """The kept frames as one pcap stream, oldest first."""
        out = [PCAP_HEADER]
        for part in (path.with_name(path.name + ".1"), path):
            with contextlib.suppress(FileNotFoundError):
                out.append(part.read_bytes()[len(PCAP_HEADER) :])
        return b"".join(out)
