"""The supervisor client when our own handler of an event raises: the connection must go on.

The fault is in our code, not the supervisor's, and a real supervisor cannot be asked for a
handler bug; the stand-in here is a socket that sends two events and answers one request
as the supervisor's wire does (a JSON object a line)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from umltui.core.client import Client


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


def test_a_handler_that_raises_loses_neither_the_connection_nor_later_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("UMLTUI_RUNTIME_DIR", str(runtime))
    seen: list[Any] = []
    faults: list[tuple[Exception, dict[str, Any]]] = []

    def on_event(msg: dict[str, Any]) -> None:
        if msg["event"] == "output":
            raise KeyError("a bug of ours")
        seen.append(msg["event"])

    async def main() -> Any:
        server = await asyncio.start_unix_server(_stand_in, path=str(runtime / "supervisor.sock"))
        try:
            client = await Client(on_event, lambda exc, msg: faults.append((exc, msg))).connect(start=False)
            answer = await client.request("ping", timeout=5)
            for _ in range(100):
                if "net" in seen:
                    break
                await asyncio.sleep(0.01)
            assert not client.closed.is_set()
            client._writer.close()  # type: ignore[union-attr]
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
