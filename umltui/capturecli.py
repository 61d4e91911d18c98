"""``umltui capture``: a segment's frames, decoded like ``tcpdump -n -e`` or written as pcap.

    umltui capture LAB/SEGMENT [-w FILE.pcap] [-c N] [--saved] [FILTER ...]

A switch or hub is captured on a passive port of its VDE segment (vde_plug); a tap with tcpdump inside
the lab's namespace. The frames go to tcpdump reading a pcap stream on its stdin, which
decodes them, applies the filter, counts (``-c``) and writes the file (``-w``, ``-`` for
stdout), so filters and output are tcpdump's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .core.capture import (
    PCAP_HEADER,
    Capture,
    CaptureError,
    Rolling,
    check_filter,
    decoder_argv,
    find_segment,
    open_source,
    pcap_records,
    saved_path,
    tap_capture_argv,
)
from .core.client import SupervisorError, call


def _sink(args: argparse.Namespace, stdin: Any = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """tcpdump reading the pcap stream: the decoded lines, the filter, ``-c`` and ``-w``."""
    argv = decoder_argv(args.filter, count=args.count, write=args.write)
    return subprocess.Popen(argv, stdin=stdin, stderr=subprocess.PIPE)


def _finish(sink: subprocess.Popen[bytes]) -> int:
    """Wait for tcpdump and pass on its words; 1 if it failed (its own exit status), else 0.

    Ended by a signal (ctrl+c reaches it too, or a closed pipe) is no failure.
    """
    with contextlib.suppress(BrokenPipeError, OSError):
        if sink.stdin:
            sink.stdin.close()
    try:
        sink.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sink.kill()
        sink.wait()
    err = sink.stderr.read().decode(errors="replace") if sink.stderr else ""
    for line in err.splitlines():  # tcpdump's own notes ("reading from file -") are noise here
        if line and not line.startswith("reading from file"):
            print(f"tcpdump: {line}", file=sys.stderr)
    if sink.returncode > 0:
        print(f"umltui: tcpdump failed (exit status {sink.returncode}); the capture was not made", file=sys.stderr)
        return 1
    return 0


def capture_switch(args: argparse.Namespace, segment: dict[str, Any]) -> int:
    if segment.get("learning"):
        print(f"umltui: {segment['lab']}/{segment['name']} is a learning switch: this capture sees its broadcasts "
              "and floods, not unicast between guests", file=sys.stderr)  # fmt: skip
    capture = Capture(open_source(segment))
    sink = _sink(args)
    assert sink.stdin is not None
    where = f"{segment['lab']}/{segment['name']}"
    if sys.stderr.isatty() and not args.write:
        print(f"umltui: capturing on {where} ({segment['kind']}); ctrl+c stops", file=sys.stderr)
    stopped_itself = False  # tcpdump ended on its own: -c frames passed the filter
    try:
        sink.stdin.write(PCAP_HEADER)
        sink.stdin.flush()
        while sink.poll() is None:
            frames = capture.frames(0.2)
            if frames:
                sink.stdin.write(pcap_records(frames))
                sink.stdin.flush()
        stopped_itself = True
    except BrokenPipeError:
        stopped_itself = True
    except KeyboardInterrupt:
        pass
    finally:
        capture.close()
        failed = _finish(sink)
    if failed:
        return failed
    note = f"umltui: {_how_many(args, capture.captured, stopped_itself)} on {where}"
    if args.count and stopped_itself:
        note += f" (-c {args.count})"
    if capture.dropped:
        note += f"; this capture dropped {capture.dropped} of them (its reader was behind); the guests lost none"
    print(note, file=sys.stderr)
    return 0


def _how_many(args: argparse.Namespace, seen: int, stopped_itself: bool) -> str:
    """The frames the user got: ``-c N`` once tcpdump stopped at it (more may have come by then,
    in the same read); with a filter, what was seen before it (tcpdump does not say what passed)."""
    if args.count and stopped_itself:
        return f"{args.count} frames captured"
    if args.filter:
        return f"{seen} frames seen (before the filter)"
    return f"{seen} frames captured"


def capture_tap(args: argparse.Namespace, segment: dict[str, Any]) -> int:
    source = subprocess.Popen(tap_capture_argv(segment["name"], segment.get("netns")), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)  # fmt: skip
    sink = _sink(args, source.stdout)
    if source.stdout:
        source.stdout.close()  # the sink has it now
    try:
        sink.wait()
    except KeyboardInterrupt:
        pass
    finally:
        source.terminate()
        try:
            source.wait(timeout=10)
        except subprocess.TimeoutExpired:
            source.kill()
            source.wait()
        failed = _finish(sink)
        err = source.stderr.read().decode(errors="replace") if source.stderr else ""
        for line in err.splitlines():
            if "listening on" not in line and line.strip():
                print(f"tcpdump: {line}", file=sys.stderr)
    return 1 if failed or source.returncode not in (0, -15) and sink.returncode != 0 else 0


def capture_saved(args: argparse.Namespace, lab: str, name: str) -> int:
    path = saved_path(lab, name)
    if not path.exists():
        raise CaptureError(f"no rolling capture of {lab}/{name} is kept (give the switch capture: true in the lab)")
    sink = _sink(args)
    assert sink.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        sink.stdin.write(Rolling.saved(path))
    return _finish(sink)


def check_output(write: str | None) -> None:
    """A ``-w`` file that can be made, or CaptureError saying why (before anything starts)."""
    if not write or write == "-":
        return
    path = Path(write)
    folder = path.parent
    if not folder.is_dir():
        raise CaptureError(f"cannot write {write}: there is no folder {folder}")
    if path.is_dir():
        raise CaptureError(f"cannot write {write}: it is a folder")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise CaptureError(f"cannot write {write}: permission denied")


def _count(text: str) -> int:
    """``-c N``: a number of frames, 1 or more."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of frames (1 or more)")
    return n


def cmd_capture(args: argparse.Namespace) -> int:
    try:
        check_filter(args.filter)
        check_output(args.write)
        if args.saved:
            lab, _, name = args.segment.rpartition("/")
            if not lab:
                raise CaptureError("--saved needs LAB/SEGMENT")
            return capture_saved(args, lab, name)
        net = asyncio.run(call("net"))
        segment = find_segment(net, args.segment)
        if segment["kind"] == "tap":
            return capture_tap(args, segment)
        return capture_switch(args, segment)
    except CaptureError as exc:
        print(f"umltui: {exc}", file=sys.stderr)
        return 2
    except SupervisorError as exc:
        print(f"umltui: {exc}", file=sys.stderr)
        return 1


def add_parser(sub: Any) -> None:
    s = sub.add_parser(
        "capture",
        help="a segment's frames: decoded like tcpdump -n -e, or a pcap file (-w)",
        description="Capture the frames of a switch, hub or tap of a lab that is up. Without -w, "
        "prints them as tcpdump -n -e does; FILTER is a tcpdump filter, such as icmp or 'host 10.0.0.2'.",
    )
    s.add_argument("segment", metavar="LAB/SEGMENT", help="a switch, hub or tap (see umltui net)")
    s.add_argument("filter", nargs="*", metavar="FILTER", help="a tcpdump filter expression")
    s.add_argument("-w", dest="write", metavar="FILE.pcap", help="write a pcap file (- for stdout) instead")
    s.add_argument("-c", dest="count", type=_count, metavar="N", help="stop after N frames (that pass the filter)")
    s.add_argument("--saved", action="store_true", help="what the lab's rolling capture kept (capture: in the lab)")
    s.set_defaults(func=cmd_capture)
