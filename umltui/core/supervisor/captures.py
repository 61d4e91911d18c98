"""Rolling captures: the supervisor keeps the newest frames of the segments a lab asks for.

A switch with ``capture: SIZE`` in its lab gets a passive port (:class:`~..capture.SwitchPort`)
for as long as it runs; its frames go to ``state/captures/LAB-SWITCH.pcap`` and ``.pcap.1``
(:class:`~..capture.Rolling`), which outlive the lab, so a demo can be examined after the
fact (``umltui capture LAB/SWITCH --saved``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

    def __init__(self) -> None:
        self.running: dict[str, _Running] = {}

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
        while True:
            frames = capture.frames(0)
            if frames:
                try:
                    rolling.add(pcap_records(frames))
                except OSError as exc:
                    log.error("rolling capture of %s stopped: %s", key, exc)
                    return
            if capture.dropped > reported:
                log.warning("rolling capture of %s dropped %d frames it could not write in time", key,
                            capture.dropped - reported)  # fmt: skip
                reported = capture.dropped
            await asyncio.sleep(DRAIN_EVERY)

    def stop(self, key: str) -> None:
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
