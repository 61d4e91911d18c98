"""The driver's writer: small writes go out at once when the thread is idle, and order is kept."""

from __future__ import annotations

import io
import threading
import time

from textual.drivers.linux_driver import LinuxDriver

from umltui.fastpath.driver import DIRECT_MAX, QuickDriver, QuickWriter, quick_driver_for


class SlowTerminal(io.StringIO):
    """A terminal that takes its time over each write (what a real one does when it lags)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.threads: set[str] = set()

    def write(self, text: str) -> int:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay if len(text) > DIRECT_MAX else 0)
        return super().write(text)


def test_small_writes_are_direct_when_idle_and_never_overtake_queued_ones() -> None:
    term = SlowTerminal(0.02)
    writer = QuickWriter(term)
    writer.start()
    try:
        writer.write("a")  # idle: written by this thread, at once
        assert term.getvalue() == "a" and writer.direct == 1
        expected = ["a"]
        for n in range(20):
            big = str(n % 10) * (DIRECT_MAX + 1)  # queued, slow to write
            writer.write(big)
            writer.write(f"<{n}>")  # must wait its turn behind the big one
            expected += [big, f"<{n}>"]
    finally:
        writer.stop()
    assert term.getvalue() == "".join(expected)
    assert term.threads == {"MainThread", "textual-output"}


def test_the_driver_is_ours_only_in_place_of_textuals_plain_one() -> None:
    assert quick_driver_for(LinuxDriver) is QuickDriver

    class Other(LinuxDriver):
        pass

    assert quick_driver_for(Other) is Other
