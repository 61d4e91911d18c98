"""The keeper's typed wire: each request is checked against its type before it is served, and
every request type has its server. A real keeper (no guest: a pty pair stands in for a
console) answers on a real socket."""

from __future__ import annotations

import os
import pty
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from umltui.core.keeper import wire
from umltui.core.keeper.server import OPERATIONS, Keeper


class Rig:
    """A keeper on a socket, and one client connection to it, served a turn at a time."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.server.bind(str(tmp_path / "keeper.sock"))
        self.server.listen(4)
        self.keeper = Keeper(self.server)
        self.client = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.client.connect(str(tmp_path / "keeper.sock"))
        self.client.setblocking(False)

    def ask(self, request: dict[str, Any], fds: list[int] | None = None) -> tuple[dict[str, Any], list[int]]:
        socket.send_fds(self.client, [wire.encode(request)], fds or [])  # type: ignore[arg-type]
        deadline = time.monotonic() + 5
        while True:
            assert time.monotonic() < deadline, "no answer"
            self.keeper.turn()
            try:
                data, got, _flags, _addr = socket.recv_fds(self.client, wire.MAX_PACKET, 8)
            except BlockingIOError:
                continue
            return wire.decode(data), got

    def close(self) -> None:
        for key in list(self.keeper.held):
            self.keeper.drop(key)
        for conn in list(self.keeper.clients.values()):
            conn.close()
        self.client.close()
        self.server.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def test_every_request_type_has_its_server() -> None:
    assert set(OPERATIONS) == set(wire.REQUESTS)


def test_a_request_is_checked_against_its_type() -> None:
    put = {"op": "put", "umid": "g", "console": "con1", "pts": "/dev/pts/9", "log": "/tmp/x.log"}
    assert wire.check_request(put) == put
    assert wire.check_request({**put, "pid": 7, "later": "a field a newer supervisor sends"})  # ignored
    assert wire.check_request({"op": "drop", "umid": "g", "console": None})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"op": "nope"}, "unknown request 'nope'"),
        ({"umid": "g"}, "unknown request None"),
        ({"op": "take"}, "missing field 'umid'"),
        ({**put, "pid": True}, "pid must be"),
        ({**put, "log_max": "100"}, "log_max must be"),
        ({"op": "drop", "umid": ["g"]}, "umid must be"),
    ]
    for bad, why in cases:
        with pytest.raises(wire.WireError, match=why):
            wire.check_request(bad)


def test_stream_packets_round_trip() -> None:
    packet = wire.pack_header(wire.DATA, "g", "con1") + b"bytes\r\n"
    assert wire.unpack(packet) == (wire.DATA, "g", "con1", b"bytes\r\n")
    assert wire.unpack(wire.pack_header(wire.CLOSED, "guest", "con12")) == (wire.CLOSED, "guest", "con12", b"")


def test_put_take_drop_and_ping_on_a_real_keeper(rig: Rig) -> None:
    guest, console = pty.openpty()
    try:
        put = {"op": "put", "umid": "g", "console": "con1", "pts": os.ttyname(console), "log": str(rig.tmp / "c.log")}
        assert rig.ask(put, [console]) == ({"ok": True}, [])
        reply, fds = rig.ask({"op": "take", "umid": "g"})
        assert reply == {"ok": True, "consoles": [["con1", os.ttyname(console)]]} and len(fds) == 1
        os.close(fds[0])
        ping, _ = rig.ask({"op": "ping"})
        assert ping["held"] == 1 and ping["pid"] == os.getpid() and ping["attached"] is False
        assert rig.ask({"op": "drop", "umid": "g"}) == ({"ok": True}, [])
        assert rig.ask({"op": "take", "umid": "g"}) == ({"ok": True, "consoles": []}, [])
    finally:
        os.close(console)
        os.close(guest)


def test_a_malformed_request_is_answered_as_one_and_its_descriptor_not_kept(rig: Rig) -> None:
    """The keeper's untyped wire took ``"pid": true`` for pid 1 (``int(True)``), and held a
    pidfd of init to signal; a ``take`` without ``umid`` was answered as if for a guest
    named ``""``."""
    guest, console = pty.openpty()
    try:
        put = {"op": "put", "umid": "g", "console": "con1", "pts": "/dev/pts/x", "log": str(rig.tmp / "c.log")}
        reply, _ = rig.ask({**put, "pid": True}, [console])
        assert reply["ok"] is False and "pid must be" in reply["error"]
        assert not rig.keeper.held
        reply, _ = rig.ask({"op": "take"})
        assert reply == {"ok": False, "error": "bad request: take: missing field 'umid'"}
        reply, _ = rig.ask({**put}, [])
        assert reply == {"ok": False, "error": "bad request: put takes one descriptor, not 0"}
        assert rig.ask({"op": "start"})[0]["ok"] is False  # only the attached stream starts
        assert rig.ask({"op": "hello"})[0] == {"ok": False, "error": "unknown request 'hello'"}
    finally:
        os.close(console)
        os.close(guest)
