"""The supervisor client's wire: messages cut anywhere by the socket, several in one read, an
event whose handler fails, a line that is not JSON, the supervisor going away.

Against a stand-in server that writes the bytes exactly as the test says (where a real
supervisor's writes are cut is up to the kernel, so it cannot be asked for a given cut)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from umltui import locations
from umltui.core.client import Client, SupervisorError


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("UMLTUI_RUNTIME_DIR", str(run))
    return run


def line(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg).encode() + b"\n"


async def test_messages_cut_anywhere_and_handlers_that_fail(runtime: Path) -> None:
    requests: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while raw := await reader.readline():
            await requests.put(json.loads(raw))

    server = await asyncio.start_unix_server(serve, path=str(locations.supervisor_socket()))
    events: list[dict[str, Any]] = []

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("event") == "boom":
            raise RuntimeError("a handler that fails")
        events.append(msg)

    loop = asyncio.get_running_loop()
    failures: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: failures.append(context))
    client = await Client(on_event).connect(start=False)
    try:
        answer = asyncio.ensure_future(client.request("ls", timeout=5))
        asked = await asyncio.wait_for(requests.get(), 5)
        assert asked["op"] == "ls"
        writer = writers[0]
        big = {"event": "output", "data": "x" * 200_000}
        whole = (
            line({"event": "a"})
            + line({"event": "boom"})
            + line(big)
            + line({"id": asked["id"], "ok": True, "result": [1]})
        )
        cuts = [0, 3, 20, 100_000, len(whole) - 5, len(whole)]  # a message in pieces, several in one write
        for start, end in zip(cuts, cuts[1:], strict=False):
            writer.write(whole[start:end])
            await writer.drain()
            await asyncio.sleep(0.05)
        assert await asyncio.wait_for(answer, 5) == [1]
        assert [e["event"] for e in events] == ["a", "output"] and events[1] == big
        assert len(failures) == 1 and isinstance(failures[0]["exception"], RuntimeError)  # said, and the wire goes on

        client.send_input('g"1', "con2", b"\x00\xffq")  # keys: one message, as the supervisor reads them
        typed = await asyncio.wait_for(requests.get(), 5)
        assert typed == {"op": "input", "guest": 'g"1', "console": "con2", "data": "AP9x"}

        pending = asyncio.ensure_future(client.request("ls", timeout=5))
        await asyncio.wait_for(requests.get(), 5)
        writer.write(b"not json\n")  # not the supervisor's: the connection is dropped, the request fails
        await writer.drain()
        with pytest.raises(SupervisorError, match="went away"):
            await asyncio.wait_for(pending, 5)
        await asyncio.wait_for(client.closed.wait(), 5)
        with pytest.raises(SupervisorError, match="not connected"):
            await client.request("ls", timeout=1)
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
