"""The supervisor's keeper client against a stand-in that accepts and never answers (a fault
the real keeper cannot be made to show on demand): it must not hold the event loop again
and again."""

from __future__ import annotations

import socket
from pathlib import Path

from umltui.core.keeper.client import KeeperClient


def test_a_keeper_that_never_answers_is_not_waited_on_twice(tmp_path: Path) -> None:
    path = tmp_path / "keeper.sock"
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    mute.bind(str(path))
    mute.listen(8)
    try:
        client = KeeperClient(path)
        assert client.alive() is False  # one call's timeout
        assert client.put("g", "con1", "/dev/pts/0", 0, tmp_path / "con1.log", 1 << 20) is False
        assert client.take("g") == []
        mute.settimeout(0.1)
        accepted = []
        try:
            while True:
                accepted.append(mute.accept()[0])
        except TimeoutError:
            pass
        assert len(accepted) == 1  # the later calls failed at once, without connecting again
    finally:
        mute.close()


def test_no_keeper_at_all_fails_quietly(tmp_path: Path) -> None:
    client = KeeperClient(tmp_path / "none.sock")
    assert client.alive() is False and client.take("g") == []
