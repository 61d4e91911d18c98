"""Faults a real guest cannot produce on demand: a socket that never answers, a malformed
reply, an error reply. Everything else about the mconsole is tested on real guests."""

import asyncio
import socket
import struct
from pathlib import Path

import pytest

from umltui.core.mconsole import MconsoleClient, MconsoleError, MconsoleUnreachable


def _server(path: Path, replies: list[bytes]) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)

    def answer() -> None:
        _, addr = sock.recvfrom(4096)
        for r in replies:
            sock.sendto(r, addr)

    asyncio.get_running_loop().add_reader(sock.fileno(), answer)
    return sock


def reply(text: str, err: int = 0, more: int = 0) -> bytes:
    return struct.pack("<III", err, more, len(text)) + text.encode()


async def test_no_answer_times_out(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "mc"))
    client = MconsoleClient(str(tmp_path / "mc"), timeout=0.2, sock_dir=str(tmp_path))
    with pytest.raises(MconsoleUnreachable, match="no answer"):
        await client.request("version")
    sock.close()


async def test_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(MconsoleUnreachable, match="No such file"):
        await MconsoleClient(str(tmp_path / "none"), sock_dir=str(tmp_path)).request("version")


async def test_multipart_and_error_and_short_reply(tmp_path: Path) -> None:
    s1 = _server(tmp_path / "a", [reply("one ", more=1), reply("two")])
    assert await MconsoleClient(str(tmp_path / "a"), sock_dir=str(tmp_path)).request("sysrq m") == "one two"
    s2 = _server(tmp_path / "b", [reply("No such device", err=1)])
    with pytest.raises(MconsoleError, match="^No such device$"):
        await MconsoleClient(str(tmp_path / "b"), sock_dir=str(tmp_path)).request("remove ubd9")
    s3 = _server(tmp_path / "c", [b"\x01"])
    with pytest.raises(MconsoleError, match="short mconsole reply"):
        await MconsoleClient(str(tmp_path / "c"), sock_dir=str(tmp_path)).request("version")
    for s in (s1, s2, s3):
        asyncio.get_running_loop().remove_reader(s.fileno())
        s.close()


def test_request_encoding() -> None:
    data = MconsoleClient.encode("version")
    assert data[:12] == struct.pack("<III", 0xCAFEBABE, 2, 7) and len(data) == 12 + 512
    with pytest.raises(ValueError):
        MconsoleClient.encode("x" * 600)
