"""How the keeper paces its reads of a console's pty, on a real pty pair: a console that
prints small pieces close together is read in batches, and the first bytes after a quiet
spell (a key's echo) go on at once."""

from __future__ import annotations

import os
import pty
import socket
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from umltui.core.keeper.server import Keeper
from umltui.core.keeper.wire import unpack

PIECE = b"seq 12345 flood line\r\n"  # about what a shell loop prints per write


class Rig:
    """A keeper holding the slave side of a pty (as it holds a guest's console), streaming
    to a socket this test reads as the supervisor would; the test writes the guest's side."""

    def __init__(self, tmp_path: Path) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.server.bind(str(tmp_path / "keeper.sock"))
        self.server.listen(1)
        self.keeper = Keeper(self.server)
        self.guest, slave = pty.openpty()
        tty.setraw(slave)
        self.keeper.hold(("g", "con1"), slave, os.ttyname(slave), tmp_path / "con1.log", 1 << 20)
        self.supervisor, stream = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        stream.setblocking(False)
        self.keeper.stream = stream
        self.keeper.clients[stream.fileno()] = stream
        self.supervisor.setblocking(False)

    def packets(self) -> list[bytes]:
        """The console's bytes in each data packet streamed so far."""
        got: list[bytes] = []
        while True:
            try:
                packet = self.supervisor.recv(1 << 20)
            except BlockingIOError:
                return got
            kind, _umid, _console, data = unpack(packet)
            if kind == b"D":
                got.append(data)

    def serve_until(self, done: threading.Event | None, want: int, timeout: float = 10.0) -> list[bytes]:
        """Keeper turns until the writer is done and ``want`` bytes were streamed."""
        got: list[bytes] = []
        deadline = time.monotonic() + timeout
        while (done is not None and not done.is_set()) or sum(map(len, got)) < want:
            assert time.monotonic() < deadline, f"streamed {sum(map(len, got))} of {want} bytes"
            self.keeper.turn()
            got += self.packets()
        return got

    def close(self) -> None:
        self.keeper.drop(("g", "con1"))
        for s in (self.supervisor, self.keeper.stream, self.server):
            if s is not None:
                s.close()
        os.close(self.guest)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def test_a_console_printing_small_pieces_close_together_is_read_in_batches(rig: Rig) -> None:
    pieces = 300
    done = threading.Event()

    def guest_prints() -> None:
        for _ in range(pieces):
            os.write(rig.guest, PIECE)
            time.sleep(0.001)
        done.set()

    writer = threading.Thread(target=guest_prints)
    writer.start()
    try:
        got = rig.serve_until(done, pieces * len(PIECE))
    finally:
        writer.join()
    assert b"".join(got) == PIECE * pieces  # nothing lost, in order
    # Read as they came, the pieces made a packet each (about 300, checked on the keeper
    # that rested only after a read of 1 KB); in batches, a packet per rest of 10 ms.
    assert len(got) < pieces / 4, f"{len(got)} packets for {pieces} pieces"


def test_the_first_bytes_after_a_quiet_spell_go_on_at_once(rig: Rig) -> None:
    os.write(rig.guest, PIECE * 10)
    rig.serve_until(None, len(PIECE) * 10)
    time.sleep(0.1)  # quiet: whatever rest that started is long over
    rig.keeper.turn()  # the rest's end noticed
    os.write(rig.guest, b"Q")  # an echo
    got = rig.serve_until(None, 1)
    assert got == [b"Q"]
    assert not rig.keeper.resting  # and the echo after it would not wait either
