"""The supervisor's server: who is connected, what it looks after, and dispatch to :mod:`.ops`.

A request is checked against its operation's signature before the handler runs, so a
malformed request is answered as one (``kind: protocol``) and a bug inside a handler is
answered as what it is (``kind: internal``, logged with its traceback). No request can
take the supervisor or the connection down.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from typing import Any

from ... import locations
from ..guest import Guest
from ..keeper.client import KeeperClient, KeeperStream, keeper_running, start_keeper
from ..kernel import KernelMissing
from ..lab import LabError
from ..mconsole import MconsoleError
from ..network import LabRecord, Switch
from ..process import reap
from ..protocol import ErrorKind, ProtocolError, decode
from . import state
from .captures import Captures
from .context import ClientConnection
from .cpu import CpuPolicy
from .errors import OpError
from .ops import OPERATIONS
from .ops.net import SWITCH_LOG_MAX, switch_log

log = logging.getLogger("umltui.supervisor")

IDLE_EXIT = float(os.environ.get("UMLTUI_SUPERVISOR_IDLE", "30"))
REQUEST_LINE_LIMIT = 16 << 20


def _error_kind(exc: Exception) -> ErrorKind | None:
    """The kind of an error a handler may raise on purpose; None for a bug."""
    if isinstance(exc, OpError):
        return exc.kind
    if isinstance(exc, LabError):
        return "lab"
    if isinstance(exc, MconsoleError):
        return "guest"
    if isinstance(exc, ProtocolError):
        return "protocol"
    if isinstance(exc, KernelMissing):
        return "missing"
    return None


class Supervisor:
    """What the supervisor looks after, and the server that lets clients ask for it."""

    def __init__(self) -> None:
        self.guests: dict[str, Guest] = {}
        self.switches: dict[str, Switch] = {}
        self.captures = Captures(self.tell_all)
        self.labs: dict[str, LabRecord] = {}
        self.clients: set[ClientConnection] = set()
        self.uml_dir = locations.uml_dir()
        self.keeper = KeeperClient()
        self.stream = KeeperStream(self._keeper_data, self._keeper_closed, self._keeper_lost)
        self._keeper_pid: int | None = None
        self.up_lock = asyncio.Lock()
        self.ups: dict[str, asyncio.Task[Any]] = {}  # lab name -> the `up` of it under way
        self.taken_down: set[asyncio.Task[Any]] = set()  # ups a later `down` cancelled
        self._save_handle: asyncio.TimerHandle | None = None
        self.save_problem: str | None = None  # why the last save failed, while it keeps failing
        self._stop = asyncio.Event()
        self._idle_since = time.monotonic()
        self.cpu = CpuPolicy(lambda: list(self.guests.values()))

    # -- what handlers use ---------------------------------------------------------------

    def new_guest(self, **kw: Any) -> Guest:
        return Guest(
            uml_dir=locations.guest_box(kw["umid"]),
            on_change=self.guest_changed,
            keeper=self.keeper,
            **kw,
        )

    def guest_changed(self, guest: Guest) -> None:
        """Tell the watching clients, and save soon."""
        event = {"event": "guest", "guest": guest.to_info()}
        for client in list(self.clients):
            if client.watching:
                client.send(event)
        self.save_soon()

    def net_changed(self) -> None:
        for client in list(self.clients):
            if client.watching:
                client.send({"event": "net"})

    def watch_switch(self, sw: Switch) -> None:
        """Learn at once when a switch ends: reap it, and tell the watching clients it is down."""
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(sw.pid)
        except OSError:
            loop.call_soon(self._switch_ended, sw, None)
            return
        loop.add_reader(fd, self._switch_ended, sw, fd)

    def _switch_ended(self, sw: Switch, fd: int | None) -> None:
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        reap(sw.pid)  # no zombie left, whoever ended it
        self.captures.stop(sw.key)
        if self.switches.get(sw.key) is sw:  # not one we stopped ourselves
            log.warning("switch %s (pid %d) ended; `up` starts it again", sw.key, sw.pid)
            self.net_changed()
            self.save_soon()

    def save_soon(self) -> None:
        if self._save_handle is None:
            self._save_handle = asyncio.get_running_loop().call_later(0.05, self.save)

    def save(self) -> None:
        """Write the state file now; if that fails (a full disk), say so once and retry every second."""
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        path = locations.state_file()
        try:
            state.save(path, self)
        except OSError as exc:
            problem = f"cannot save {path}: {exc.strerror or exc} (retrying every second)"
            if problem != self.save_problem:
                log.error("%s", problem)
                for client in list(self.clients):
                    client.send({"event": "error", "error": f"supervisor: {problem}", "guest": None})
            self.save_problem = problem
            with contextlib.suppress(RuntimeError):  # no loop: the supervisor is on its way out
                self._save_handle = asyncio.get_running_loop().call_later(1.0, self.save)
            return
        if self.save_problem:
            log.info("state saved again")
            self.save_problem = None

    def tell_all(self, words: str) -> None:
        """Say something to every client (an ``error`` event not about one guest)."""
        for client in list(self.clients):
            client.send({"event": "error", "error": f"supervisor: {words}", "guest": None})

    def stop_soon(self) -> None:
        asyncio.get_running_loop().call_later(0.05, self._stop.set)

    def find_guest(self, ref: str) -> Guest:
        """A guest by umid, ``lab/name``, or a name only one lab uses."""
        if ref in self.guests:
            return self.guests[ref]
        if "/" in ref:
            lab, name = ref.split("/", 1)
            for g in self.guests.values():
                if g.lab == lab and g.name == name:
                    return g
        matches = [g for g in self.guests.values() if g.name == ref]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise OpError(f"{ref!r} names several guests: {', '.join(g.umid for g in matches)}", "usage")
        known = ", ".join(sorted(self.guests)) or "none"
        raise OpError(f"no guest {ref!r} (guests: {known})", "usage")

    # -- serving --------------------------------------------------------------------------

    async def serve(self) -> None:
        locations.ensure_private(locations.runtime_dir())
        locations.private_dir(locations.uml_dir())
        sock_path = locations.supervisor_socket()
        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()
        self._keeper_pid = start_keeper(self.keeper)
        positions = self.stream.attach() or {}  # the keeper holds its logs where they are until start()
        await state.adopt(self, positions)
        self.cpu.adopt()  # a supervisor before this one may have ended while keys came
        self.stream.start()
        server = await asyncio.start_unix_server(self._client, path=str(sock_path), limit=REQUEST_LINE_LIMIT)
        os.chmod(sock_path, 0o600)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self._stop.set)
        log.info("supervisor %d serving on %s", os.getpid(), sock_path)
        idle = loop.create_task(self._idle_watch())
        try:
            await self._stop.wait()
        finally:
            idle.cancel()
            self.cpu.release()
            self.captures.stop_all()
            server.close()
            for client in list(self.clients):
                client.writer.close()
            self.save()
            if self._save_handle:
                self._save_handle.cancel()
            for guest in self.guests.values():
                guest.close()
            self.stream.close()
            self.keeper.close()
            with contextlib.suppress(FileNotFoundError):
                sock_path.unlink()

    def _busy(self) -> bool:
        return bool(
            self.clients
            or any(g.alive for g in self.guests.values())
            or any(s.alive for s in self.switches.values())
            or any(r.netns_owned for r in self.labs.values())
        )

    # -- the keeper ----------------------------------------------------------------------

    def _keeper_data(self, umid: str, console: str, data: bytes) -> None:
        guest = self.guests.get(umid)
        if guest is not None:
            guest.keeper_data(console, data)

    def _keeper_closed(self, umid: str, console: str) -> None:
        guest = self.guests.get(umid)
        if guest is not None:
            guest.keeper_closed(console)

    def _keeper_lost(self) -> None:
        log.warning("the keeper went away: starting another")
        self.stream.close()
        asyncio.get_running_loop().call_later(0.1, self._check_keeper)  # (its lock goes as its process ends)

    def _check_keeper(self) -> None:
        """A keeper that died is started again and given every console; else we read them.

        A keeper that lives is never replaced nor read beside, however slowly it answers:
        its lock says it lives (:func:`keeper_running`), not its answer time. While it is
        stopped, the guests' console output waits in their ptys; nothing is lost.
        """
        if self._keeper_pid is not None:
            reap(self._keeper_pid)
        if self.stream.attached:
            for guest in self.guests.values():
                guest.hand_over()  # consoles opened while it did not answer
            return
        if keeper_running():  # alive, but our stream is gone (it did not answer the attach): again soon
            if self.stream.attach() is not None:
                self.stream.start()
                return self._check_keeper()
            asyncio.get_running_loop().call_later(1.0, self._check_keeper)
            return
        self._keeper_pid = start_keeper(self.keeper, timeout=1.0)
        attached = self.stream.attach() is not None
        for guest in self.guests.values():
            for con in guest.consoles.values():
                if con.fd is None or not con.pts or not con.kept:
                    continue
                con.handed = attached and self.keeper.put(guest.umid, con.name, con.pts, con.fd, con.log_path,
                                                          con.log_max, guest.pid)  # fmt: skip
                if not con.handed and not keeper_running():
                    guest.read_yourself(con)
        if attached:
            self.stream.start()

    def _trim_switch_logs(self) -> None:
        """Keep each switch's log small: a segment may log a line for every frame a full port
        missed (a capture that was stopped with ctrl+z, say), which could fill the disk."""
        for sw in self.switches.values():
            path = switch_log(sw.lab, sw.name)
            with contextlib.suppress(OSError):
                if path.stat().st_size > SWITCH_LOG_MAX:
                    os.truncate(path, 0)  # (the switch appends: it goes on at the start)
                    log.warning("switch %s: its log passed %d bytes and was emptied", sw.key, SWITCH_LOG_MAX)

    async def _idle_watch(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            ticks += 1
            self.cpu.tick()
            if ticks % 5 == 0:
                self._check_keeper()
                self._trim_switch_logs()
            now = time.monotonic()
            if self._busy():
                self._idle_since = now
            elif now - self._idle_since > IDLE_EXIT:
                log.info("nothing to look after for %gs: exiting", IDLE_EXIT)
                self._stop.set()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = ClientConnection(writer)
        self.clients.add(client)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while line := await reader.readline():
                try:
                    request = decode(line)
                except ProtocolError as exc:
                    client.send({"ok": False, "error": f"bad request: {exc}", "kind": "protocol"})
                    continue
                op = OPERATIONS.get(str(request.get("op")))
                if op is not None and op.quick:  # keystrokes stay in order: handled at once, no answer
                    self._quick(client, request)
                    continue
                task = asyncio.get_running_loop().create_task(self._dispatch(client, request))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # a line over the limit, or the client went away
        finally:
            self.clients.discard(client)
            client.drop_subscriptions()
            for task in tasks:
                task.cancel()
            writer.close()

    def _quick(self, client: ClientConnection, request: dict[str, Any]) -> None:
        op = OPERATIONS[str(request["op"])]
        try:
            op.call_now(self, client, request)
        except (OpError, MconsoleError, ProtocolError, OSError) as exc:
            client.send({"event": "error", "error": str(exc), "guest": request.get("guest")})

    async def _dispatch(self, client: ClientConnection, request: dict[str, Any]) -> None:
        rid = request.get("id")
        name = str(request.get("op"))
        try:
            op = OPERATIONS.get(name)
            if op is None:
                raise OpError(f"unknown request {name!r} (known: {', '.join(sorted(OPERATIONS))})", "protocol")
            result = await op.call(self, client, request)
            if self._save_handle is not None and self.save_problem is None:
                self.save()  # what the answer says happened is on disk before the answer goes
            client.send({"id": rid, "ok": True, "result": result})
        except Exception as exc:  # one failing request must not take the supervisor down
            kind = _error_kind(exc)
            if kind is None:
                log.exception("request %s failed", name)
                client.send({"id": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "internal"})
            else:
                message = f"bad request: {exc}" if isinstance(exc, ProtocolError) else str(exc)
                client.send({"id": rid, "ok": False, "error": message, "kind": kind})


def run_supervisor() -> int:
    """Entry point of ``umltui supervisor``: one per user, guarded by a lock file."""
    try:
        locations.ensure_private(locations.runtime_dir())
    except locations.UnsafeDirectory as exc:
        print(f"umltui supervisor: {exc}", file=sys.stderr)
        return 1
    locations.private_dir(locations.state_dir())
    lock = os.fdopen(locations.open_private(locations.supervisor_lock(), os.O_RDWR | os.O_CREAT), "r+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another supervisor runs
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")  # the lock file names the supervisor holding it
    lock.flush()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(Supervisor().serve())
    return 0


__all__ = ["ClientConnection", "Supervisor", "run_supervisor"]
