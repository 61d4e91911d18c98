"""Rolling captures: the supervisor keeps the newest frames of the segments a lab asks for.

A switch with ``capture: SIZE`` in its lab gets a passive port (:class:`~..capture.SwitchPort`)
for as long as it runs; its frames go to ``state/captures/LAB-SWITCH.pcap`` and ``.pcap.1``
(:class:`~..capture.Rolling`), which outlive the lab, so a demo can be examined after the
fact (``umltui capture LAB/SWITCH --saved``).

A write that fails (a full disk) costs the frames it carried, never the capture: it goes
on with the next frames once there is room, the clients are told when it stops keeping
frames and when it keeps them again (with how many were not kept), and ``ping`` lists it
among the supervisor's problems meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..capture import Capture, CaptureError, Rolling, SwitchPort, pcap_records, saved_path
from ..network import Switch

log = logging.getLogger("umltui.supervisor")
DRAIN_EVERY = 0.2  # seconds between writes to disk


@dataclass
class _Running:
    capture: Capture
    rolling: Rolling
    task: asyncio.Task[None]


class Captures:
    """The rolling captures running, by switch key (``LAB/NAME``)."""

    def __init__(self, tell: Callable[[str], None] = lambda words: None) -> None:
        self.running: dict[str, _Running] = {}
        self.tell = tell  # says something to every client
        self.problems: dict[str, str] = {}  # by switch key: why its frames are not kept now

    def start(self, sw: Switch) -> None:
        if sw.key in self.running or not sw.capture:
            return
        try:
            port = SwitchPort(sw.ctl)
        except (CaptureError, OSError) as exc:
            log.warning("no rolling capture on %s: %s", sw.key, exc)
            return
        path = saved_path(sw.lab, sw.name)
        rolling = Rolling(path, sw.capture)  # (what an earlier supervisor kept goes on)
        capture = Capture(port)
        task = asyncio.create_task(self._drain(sw.key, capture, rolling), name=f"capture {sw.key}")
        self.running[sw.key] = _Running(capture, rolling, task)
        log.info("rolling capture of %s into %s (%d bytes kept)", sw.key, path, sw.capture)

    async def _drain(self, key: str, capture: Capture, rolling: Rolling) -> None:
        reported = 0
        lost = 0  # frames not kept since the writes began to fail
        while True:
            frames = capture.frames(0)
            if frames:
                try:
                    rolling.add(pcap_records(frames))
                except OSError as exc:
                    lost += len(frames)
                    if key not in self.problems:
                        self.problems[key] = f"rolling capture of {key} keeps no frames: {exc.strerror or exc}"
                        log.error("%s (it goes on when it can write again)", self.problems[key])
                        self.tell(self.problems[key])
                else:
                    if self.problems.pop(key, None) is not None:
                        words = f"rolling capture of {key} keeps frames again; {lost} frames were not kept"
                        log.warning("%s", words)
                        self.tell(words)
                    lost = 0
            if capture.dropped > reported:
                log.warning("rolling capture of %s dropped %d frames it could not write in time", key,
                            capture.dropped - reported)  # fmt: skip
                reported = capture.dropped
            await asyncio.sleep(DRAIN_EVERY)

    def stop(self, key: str) -> None:
        self.problems.pop(key, None)
        run = self.running.pop(key, None)
        if run is None:
            return
        run.task.cancel()
        with contextlib.suppress(OSError):  # what came since the last drain
            run.rolling.add(pcap_records(run.capture.frames(0)))
        run.capture.close()
        run.rolling.close()

    def stop_all(self) -> None:
        for key in list(self.running):
            self.stop(key)
