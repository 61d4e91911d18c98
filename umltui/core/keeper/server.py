"""The keeper process: reads every console pty it is given, logs it, streams it, serves requests."""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import logging
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import locations
from ..consolelog import DEFAULT_MAX_BYTES, ConsoleLog
from ..pty import KICK_AFTER, kick
from .wire import (
    CLOSED,
    DATA,
    MAX_PACKET,
    AttachReply,
    AttachRequest,
    DropRequest,
    Key,
    OkReply,
    PingReply,
    PingRequest,
    PutRequest,
    Reply,
    StartRequest,
    TakeReply,
    TakeRequest,
    WireError,
    check_request,
    decode,
    encode,
    error,
    pack_header,
)

log = logging.getLogger("umltui.keeper")

FIRST_CONTACT = 10.0  # seconds a keeper waits for its first supervisor
READ_SIZE = 64 << 10
READS_PER_WAKEUP = 8  # a pty gives at most about 4 KB a read
# A pty that floods is left alone for a moment after each read (the others are read as
# ever), so a flood comes in reads of kilobytes instead of one a line (each costs the
# keeper and the supervisor the same), and the kick (pty.kick) keeps the guest from
# stalling on the fuller pty. A pty floods when a read brings FLOOD_BYTES or more, or when
# it brings anything within STILL_COMING of the read before: the first bytes after a quiet
# spell (a key's echo) go at once, what follows them close behind waits FLOOD_PAUSE at most.
# Measured with benchmarks/console_cost.py: a 5 ms rest cost 0.16 to 0.18 (three runs)
# CPU-s/MB, 10 ms 0.028 to 0.043 (four) with the guest as fast as under screen, and 20 ms let a
# guest stall now and then (0.07 MB/s in one of two runs). Resting only after large reads
# was not enough: a console flooding at half a MB/s (two at once in one guest, or a guest
# among many) came in reads of a line or two: with both consoles of console_cost.py's
# guest flooding at once, 0.57 CPU-s/MB against screen's 0.32 (now 0.08 to 0.10 against
# 0.38 to 0.41), and sixteen flooding guests (many_guests.py) took 12 % of a core in the
# supervisor and 20 % in the keeper (now 5 to 6 % and 8 to 9 %).
FLOOD_BYTES = 1024
FLOOD_PAUSE = 0.010
STILL_COMING = 0.025  # two reads closer than this: the pty floods (a rest and a wake-up are about 10 ms apart)


Answer = tuple[Reply | None, list[int]]  # what to answer (None: nothing), the descriptors sent with it
OK: OkReply = {"ok": True}


@dataclass
class Held:
    fd: int
    pts: str
    log: ConsoleLog
    pidfd: int | None = None  # the guest's kernel, to wake when its pty backed up (see pty.kick)
    last_read: float = -1.0  # when a read last got bytes (monotonic)


@dataclass
class Keeper:
    """The keeper process's state: the ptys it reads, its connections, the attached stream."""

    server: socket.socket
    held: dict[Key, Held] = field(default_factory=dict)
    by_fd: dict[int, Key] = field(default_factory=dict)
    clients: dict[int, socket.socket] = field(default_factory=dict)
    stream: socket.socket | None = None
    backlog: collections.deque[bytes] = field(default_factory=collections.deque)  # packets the stream could not take
    paused: bool = False  # attached, and the supervisor is reading the logs up to where the stream starts
    started: float = field(default_factory=time.monotonic)
    contacted: bool = False
    resting: dict[int, float] = field(default_factory=dict)  # flooding ptys not looked at until then (monotonic)

    def __post_init__(self) -> None:
        self.poll = select.poll()
        self.poll.register(self.server.fileno(), select.POLLIN)

    # -- what is held ----------------------------------------------------------------

    def hold(self, key: Key, fd: int, pts: str, log_path: Path, log_max: int, pid: int = 0) -> None:
        self.drop(key)
        os.set_blocking(fd, False)
        pidfd = None
        if pid > 0:
            with contextlib.suppress(OSError):
                pidfd = os.pidfd_open(pid)
        self.held[key] = Held(fd, pts, ConsoleLog(log_path, log_max), pidfd)
        self.by_fd[fd] = key
        self.poll.register(fd, select.POLLIN if self._reads else 0)

    def drop(self, key: Key) -> None:
        held = self.held.pop(key, None)
        if held is not None:
            self.by_fd.pop(held.fd, None)
            self.resting.pop(held.fd, None)
            with contextlib.suppress(KeyError, ValueError):
                self.poll.unregister(held.fd)
            os.close(held.fd)
            if held.pidfd is not None:
                os.close(held.pidfd)
            held.log.close()

    @property
    def _reads(self) -> bool:
        return not self.backlog and not self.paused

    def _update_reading(self) -> None:
        for fd in self.by_fd:
            self.poll.modify(fd, select.POLLIN if self._reads and fd not in self.resting else 0)

    def _rest(self, fd: int) -> None:
        """A console is flooding: leave its pty alone for a moment, so it gathers and each read carries more."""
        self.resting[fd] = time.monotonic() + FLOOD_PAUSE
        self.poll.modify(fd, 0)

    def _wake_rested(self) -> float:
        """Look at the ptys whose rest is over again; the milliseconds until the next one's is (or 1000)."""
        now, soonest = time.monotonic(), 1.0
        for fd, until in list(self.resting.items()):
            if until <= now:
                del self.resting[fd]
                if fd in self.by_fd:
                    self.poll.modify(fd, select.POLLIN if self._reads else 0)
            else:
                soonest = min(soonest, until - now)
        return soonest * 1000

    # -- the stream to the supervisor -------------------------------------------------------

    def _send(self, packet: bytes) -> None:
        if self.stream is None:
            return  # logged already; a supervisor that attaches later reads it from the log
        if not self.backlog:
            try:
                self.stream.send(packet)
                return
            except BlockingIOError:
                pass
            except OSError:
                self._detach()
                return
        self.backlog.append(packet)
        if len(self.backlog) == 1:  # the supervisor is behind: stop reading until it catches up
            self._update_reading()
            self.poll.modify(self.stream.fileno(), select.POLLIN | select.POLLOUT)

    def _flush(self) -> None:
        assert self.stream is not None
        while self.backlog:
            try:
                self.stream.send(self.backlog[0])
            except BlockingIOError:
                return
            except OSError:
                self._detach()
                return
            self.backlog.popleft()
        self.poll.modify(self.stream.fileno(), select.POLLIN)
        self._update_reading()

    def _detach(self) -> None:
        if self.stream is not None:
            self._close_client(self.stream)
        self.stream = None
        self.backlog.clear()
        self.paused = False
        self._update_reading()

    # -- reading a pty --------------------------------------------------------------------------

    def _read(self, fd: int) -> int:
        """Read what the pty holds (a few reads at most), log it, stream it; the bytes read."""
        key = self.by_fd[fd]
        held = self.held[key]
        chunks: list[bytes] = []
        closed = False
        for _ in range(READS_PER_WAKEUP):
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.EBADF):
                    log.warning("%s %s: %s", *key, exc)
                data = b""
            if not data:
                closed = True
                break
            chunks.append(data)
            kick(held.pidfd, len(data))
            if len(data) < KICK_AFTER:
                break  # the pty is about empty: the rest comes at the next wake-up
        if chunks:
            data = b"".join(chunks)
            held.log.write(data)
            self._send(pack_header(DATA, *key) + data)
        if closed:  # the guest closed its side: halted, or rebooting with new ptys
            log.info("%s %s: the guest closed %s", *key, held.pts)
            self.drop(key)
            self._send(pack_header(CLOSED, *key))
        return sum(map(len, chunks))

    def _read_paced(self, fd: int) -> None:
        """Read a pty that is ready; rest it if it floods (see FLOOD_PAUSE)."""
        held = self.held[self.by_fd[fd]]
        got = self._read(fd)
        if got and fd in self.by_fd:
            now = time.monotonic()
            if got >= FLOOD_BYTES or now - held.last_read < STILL_COMING:
                self._rest(fd)
            held.last_read = now

    # -- requests ---------------------------------------------------------------------------------

    def handle(self, conn: socket.socket, message: dict[str, Any], fds: list[int]) -> Answer:
        """Serve one request (checked against its type first); what to answer, and the
        descriptors to send with it. The descriptors it keeps it takes out of ``fds``.

        Raises:
            WireError: a request that is not of the form its operation takes.
        """
        request = check_request(message)
        return OPERATIONS[request["op"]](self, conn, request, fds)

    def _put(self, conn: socket.socket, request: PutRequest, fds: list[int]) -> Answer:
        if len(fds) != 1:
            raise WireError(f"bad request: put takes one descriptor, not {len(fds)}")
        self.hold((request["umid"], request["console"]), fds.pop(), request["pts"], Path(request["log"]),
                  request.get("log_max", DEFAULT_MAX_BYTES), request.get("pid", 0))  # fmt: skip
        return OK, []

    def _drop(self, conn: socket.socket, request: DropRequest, fds: list[int]) -> Answer:
        console = request.get("console")
        for key in [k for k in self.held if k[0] == request["umid"] and console in (None, k[1])]:
            self.drop(key)
        return OK, []

    def _take(self, conn: socket.socket, request: TakeRequest, fds: list[int]) -> Answer:
        """Our own descriptors of a guest's ptys, for keys and sizes."""
        keys = [k for k in self.held if k[0] == request["umid"]]
        reply: TakeReply = {"ok": True, "consoles": [(k[1], self.held[k].pts) for k in keys]}
        return reply, [self.held[k].fd for k in keys]

    def _attach(self, conn: socket.socket, request: AttachRequest, fds: list[int]) -> Answer:
        """From now on this connection is the stream."""
        if self.stream is not None and self.stream is not conn:
            self._detach()
        self.stream = conn
        conn.setblocking(False)
        self.paused = True  # until "start": the logs stay exactly where the positions say
        self._update_reading()
        reply: AttachReply = {"ok": True, "positions": {f"{k[0]}/{k[1]}": h.log.position for k, h in self.held.items()}}
        return reply, []

    def _start(self, conn: socket.socket, request: StartRequest, fds: list[int]) -> Answer:
        """No answer: data follows."""
        if conn is not self.stream:
            raise WireError("bad request: start: not the attached stream")
        self.paused = False
        self._update_reading()
        return None, []

    def _ping(self, conn: socket.socket, request: PingRequest, fds: list[int]) -> Answer:
        reply: PingReply = {"ok": True, "pid": os.getpid(), "held": len(self.held), "reading": self._reads,
                            "backlog": len(self.backlog), "attached": self.stream is not None}  # fmt: skip
        return reply, []

    def _from_client(self, conn: socket.socket) -> None:
        self.contacted = True
        try:
            data, fds, _flags, _addr = socket.recv_fds(conn, MAX_PACKET, 16)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        if not data:
            for fd in fds:
                os.close(fd)
            if conn is self.stream:
                self._detach()
            else:
                self._close_client(conn)
            return
        try:
            reply, out = self.handle(conn, decode(data), fds)
        except WireError as exc:
            reply, out = error(str(exc)), []
        for fd in fds:  # any not taken
            with contextlib.suppress(OSError):
                os.close(fd)
        if reply is None:
            return
        with contextlib.suppress(OSError):
            if conn is self.stream:
                conn.setblocking(True)  # the answer to attach goes before any data
                socket.send_fds(conn, [encode(reply)], out)
                conn.setblocking(False)
            else:
                socket.send_fds(conn, [encode(reply)], out)

    def _close_client(self, conn: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.poll.unregister(conn.fileno())
        self.clients.pop(conn.fileno(), None)
        conn.close()

    def serve(self) -> None:
        """Until it holds nothing and no supervisor is connected (or none came at all)."""
        while self.held or self.clients or (not self.contacted and time.monotonic() - self.started < FIRST_CONTACT):
            self.turn()

    def turn(self) -> None:
        """Wait for what comes first (a pty, a connection, a rest's end, or a second) and serve it."""
        for fd, events in self.poll.poll(self._wake_rested()):
            if fd == self.server.fileno():
                conn, _ = self.server.accept()
                self.clients[conn.fileno()] = conn
                self.poll.register(conn.fileno(), select.POLLIN)
            elif fd in self.by_fd:
                self._read_paced(fd)
            elif fd in self.clients:
                conn = self.clients[fd]
                if events & select.POLLOUT and conn is self.stream:
                    self._flush()
                if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    self._from_client(conn)


OPERATIONS: dict[str, Callable[[Keeper, socket.socket, Any, list[int]], Answer]] = {
    "put": Keeper._put,
    "drop": Keeper._drop,
    "take": Keeper._take,
    "attach": Keeper._attach,
    "start": Keeper._start,
    "ping": Keeper._ping,
}
"""What serves each request (``wire.REQUESTS`` says what each carries)."""


def run_keeper() -> int:
    """Entry point of ``umltui keeper``: one per user, guarded by a lock file."""
    try:
        locations.ensure_private(locations.runtime_dir())
    except locations.UnsafeDirectory as exc:
        print(f"umltui keeper: {exc}", flush=True)
        return 1
    lock = os.fdopen(locations.open_private(locations.keeper_lock(), os.O_RDWR | os.O_CREAT), "r+")
    deadline = time.monotonic() + 0.5  # a supervisor's keeper_running() holds it for an instant
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                return 0  # another keeper runs
            time.sleep(0.02)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    path = locations.keeper_socket()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(8)
    log.info("keeper %d reading console ptys, on %s", os.getpid(), path)
    try:
        Keeper(sock).serve()
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    log.info("keeper %d: nothing to hold; exiting", os.getpid())
    return 0
