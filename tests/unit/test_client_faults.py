"""The supervisor client's wire against stand-in sockets, for what a real supervisor cannot
be made to do on demand: our own handler of an event raising (the connection must go on),
a backlog of output frames in one write, and a supervisor of before output frames.
The real supervisor's frames are read by every test that boots a guest."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from umltui.core import client as client_module
from umltui.core.client import Client
from umltui.core.protocol import FRAME, encode, frame_head, output_frame


def _serve(runtime: Path, handler: Any) -> Any:
    return asyncio.start_unix_server(handler, path=str(runtime / "supervisor.sock"))


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("UMLTUI_RUNTIME_DIR", str(path))
    return path


async def _stand_in(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b'{"event": "output", "guest": "g", "console": "con1", "data": "YQ=="}\n')
    writer.write(b'{"event": "guest", "guest": {"umid": "g"}}\n')
    line = await reader.readline()
    request = json.loads(line)
    writer.write(json.dumps({"id": request["id"], "ok": True, "result": "pong"}).encode() + b"\n")
    writer.write(b'{"event": "net"}\n')
    await writer.drain()
    await reader.read()  # until the client goes
    writer.close()


def test_a_handler_that_raises_loses_neither_the_connection_nor_later_events(runtime: Path) -> None:
    seen: list[Any] = []
    faults: list[tuple[Exception, dict[str, Any]]] = []

    def on_event(msg: dict[str, Any]) -> None:
        if msg["event"] == "output":
            raise KeyError("a bug of ours")
        seen.append(msg["event"])

    async def main() -> Any:
        server = await _serve(runtime, _stand_in)
        try:
            client = await Client(on_event, lambda exc, msg: faults.append((exc, msg))).connect(start=False)
            answer = await client.request("ping", timeout=5)
            for _ in range(100):
                if "net" in seen:
                    break
                await asyncio.sleep(0.01)
            assert not client.closed.is_set()
            client._wire.transport.close()  # type: ignore[union-attr]
            await asyncio.wait_for(client.closed.wait(), 5)
            return answer
        finally:
            server.close()

    assert asyncio.run(main()) == "pong"
    assert seen == ["guest", "net"]
    assert len(faults) == 1 and isinstance(faults[0][0], KeyError) and faults[0][1]["console"] == "con1"


def test_the_default_report_names_the_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Client(lambda msg: None).on_fault(ValueError("boom"), {"event": "output"})
    err = capsys.readouterr().err
    assert "'output' message failed" in err and "ValueError: boom" in err


def test_output_frames_carry_any_bytes_and_a_backlog_lets_the_loop_in(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames whose bytes hold newlines, the frame mark and bad UTF-8 arrive whole and in
    order; a backlog of them is read in turns with the rest of the loop (a turn of no time
    here, so it must yield between any two)."""
    monkeypatch.setattr(client_module, "READ_SLICE", 0.0)
    chunks = [b"line\n\x1e7 con1 g\n", bytes(range(256)), b"\xff\xfe", b""] + [b"%d\r\n" % i for i in range(200)]

    async def stand_in(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = json.loads(await reader.readline())
        assert request["op"] == "subscribe" and request["raw"] is True
        writer.write(encode({"id": request["id"], "ok": True, "result": {}}))
        writer.write(b"".join(output_frame("g x", "con2", c) for c in chunks))  # one write: a backlog
        await writer.drain()
        await reader.read()
        writer.close()

    got: list[bytes] = []
    ticks: list[int] = []  # how far the backlog was when another task ran

    async def main() -> None:
        server = await _serve(runtime, stand_in)
        try:
            client = await Client(on_output=lambda g, c, d: got.append(d)).connect(start=False)
            await client.subscribe("g x", "con2")
            while len(got) < len(chunks):
                ticks.append(len(got))
                await asyncio.sleep(0)
            await client.close()
        finally:
            server.close()

    asyncio.run(main())
    assert got == chunks
    assert any(0 < t < len(chunks) for t in ticks)  # the loop ran in the middle of the backlog


def test_a_supervisor_of_before_frames_still_gives_the_output(runtime: Path) -> None:
    """It takes no ``raw``: the client asks again without, and its ``output`` events go to
    ``on_output`` all the same."""
    asked: list[dict[str, Any]] = []

    async def old(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            request = json.loads(line)
            asked.append(request)
            if "raw" in request:
                answer = {"id": request["id"], "ok": False, "error": "subscribe: no argument raw", "kind": "protocol"}
                writer.write(encode(answer))
                continue
            writer.write(encode({"id": request["id"], "ok": True, "result": {}}))
            writer.write(encode({"event": "output", "guest": "g", "console": "con1", "data": "aGk="}))
            await writer.drain()
        writer.close()

    got: list[tuple[str, str, bytes]] = []

    async def main() -> None:
        server = await _serve(runtime, old)
        try:
            client = await Client(on_output=lambda g, c, d: got.append((g, c, d))).connect(start=False)
            await client.subscribe("g", "con1")
            for _ in range(200):
                if got:
                    break
                await asyncio.sleep(0.01)
            await client.subscribe("g", "con1")  # not asked with raw again
            await client.close()
        finally:
            server.close()

    asyncio.run(main())
    assert got[0] == ("g", "con1", b"hi")
    assert ["raw" in a for a in asked] == [True, False, False]


def test_frame_heads_read_back() -> None:
    frame = output_frame("lab-a b", "con3", b"\x1e\n")
    head, _, rest = frame.partition(b"\n")
    assert frame[0] == FRAME and frame_head(head + b"\n") == (2, "con3", "lab-a b") and rest == b"\x1e\n"
    with pytest.raises(ValueError):
        frame_head(b"\x1ex con1 g\n")


def test_messages_split_anywhere_arrive_whole_and_garbage_ends_the_connection(runtime: Path) -> None:
    """The client reads the wire as it comes (``_Wire``): a frame's head, its bytes and a JSON
    line, each cut across writes that arrive apart, are handed on whole and in order. A line
    that is not our protocol ends the connection, and the request waiting for an answer is
    told at once, not at its timeout."""
    wire = output_frame("g", "con1", b"one\ntwo") + encode({"event": "net"}) + output_frame("g", "con1", b"three")
    cuts = [3, 9, 12, 20, len(wire) - 2]

    async def stand_in(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = json.loads(await reader.readline())
        writer.write(encode({"id": request["id"], "ok": True, "result": {}}))
        last = 0
        for cut in [*cuts, len(wire)]:
            writer.write(wire[last:cut])
            await writer.drain()
            await asyncio.sleep(0.02)  # apart: each piece its own read
            last = cut
        await reader.readline()  # the next request: answered with garbage
        writer.write(b"not json at all\n")
        await writer.drain()
        await reader.read()
        writer.close()

    got: list[bytes] = []
    events: list[str] = []

    async def main() -> str:
        server = await _serve(runtime, stand_in)
        try:
            client = await Client(lambda m: events.append(m["event"]), on_output=lambda g, c, d: got.append(d)).connect(
                start=False
            )
            await client.subscribe("g", "con1")
            for _ in range(200):
                if len(got) == 2:
                    break
                await asyncio.sleep(0.01)
            started = asyncio.get_running_loop().time()
            try:
                await client.request("ping", timeout=20)
            except client_module.SupervisorError as exc:
                assert asyncio.get_running_loop().time() - started < 5
                await asyncio.wait_for(client.closed.wait(), 5)
                return exc.kind
            return "answered"
        finally:
            server.close()

    assert asyncio.run(main()) == "unreachable"
    assert got == [b"one\ntwo", b"three"]
    assert events == ["net"]
