"""The keeper: reads and logs every console pty, whatever happens to the supervisor.

A supervisor that dies must cost no console byte and no hangup. Two facts decide the shape:

- When the last process that has a ``con=pts`` console's pty open closes it, the guest's
  tty sees a hangup (its programs get SIGHUP). So something that outlives supervisors
  must hold every console pty open.
- Whoever *reads* a pty can be killed between the read and writing what it read to the
  log: those bytes are gone. (Handing the descriptors over lost one line in a
  numbered flood this way.) So the reader must be that same long-lived process.

So one small process per user, ``umltui keeper``, is given each console's pty (its
descriptor, with ``SCM_RIGHTS``), reads it, appends what it reads to the console's log
(:class:`~.consolelog.ConsoleLog`: capped, rotated, honest about a full disk) and streams
it to the supervisor attached to it. The supervisor keeps its own descriptor of each pty
for keystrokes and window sizes, and builds its scrollback and its clients' output from
the stream. A new supervisor attaches, is told how far each log is, reads the logs up to
there into its scrollback and takes the stream from exactly that point: no byte missed,
none twice. While no supervisor is attached, the keeper goes on reading and logging.
When the supervisor reads too slowly, the keeper stops reading the ptys (so the guests'
writes wait), it does not drop anything.

The keeper forgets a pty when the guest closes it (a halt or a reboot; the supervisor is
told) and exits once it holds nothing and no supervisor is connected.

Wire (a ``SOCK_SEQPACKET`` unix socket in the private runtime directory, one message a
packet): requests and answers are JSON; on the attached stream, ``D`` packets carry
console bytes and ``C`` packets say a console closed, each headed by :func:`pack_header`.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import json
import logging
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import locations
from .consolelog import DEFAULT_MAX_BYTES, ConsoleLog
from .process import spawn_detached
from .pty import KICK_AFTER, kick

log = logging.getLogger("umltui.keeper")

FIRST_CONTACT = 10.0  # seconds a keeper waits for its first supervisor
MAX_PACKET = 256 << 10
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
CALL_TIMEOUT = 1.0
QUIET_AFTER_TIMEOUT = 5.0  # seconds a keeper that timed out is not asked again (the event loop must not wait on it)
_HEADER = struct.Struct("<cBB")  # kind, len(umid), len(console)

Key = tuple[str, str]  # (umid, console)


def pack_header(kind: bytes, umid: str, console: str) -> bytes:
    u, c = umid.encode(), console.encode()
    return _HEADER.pack(kind, len(u), len(c)) + u + c


def unpack(packet: bytes) -> tuple[bytes, str, str, bytes]:
    """``(kind, umid, console, data)`` of a stream packet."""
    kind, lu, lc = _HEADER.unpack_from(packet)
    start = _HEADER.size
    umid = packet[start : start + lu].decode()
    console = packet[start + lu : start + lu + lc].decode()
    return kind, umid, console, packet[start + lu + lc :]


# -- the keeper process ----------------------------------------------------------------------


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
            self._send(pack_header(b"D", *key) + data)
        if closed:  # the guest closed its side: halted, or rebooting with new ptys
            log.info("%s %s: the guest closed %s", *key, held.pts)
            self.drop(key)
            self._send(pack_header(b"C", *key))
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

    def handle(
        self, conn: socket.socket, msg: dict[str, Any], fds: list[int]
    ) -> tuple[dict[str, Any] | None, list[int]]:
        op, umid = msg.get("op"), str(msg.get("umid", ""))
        if op == "put" and len(fds) == 1:
            key = (umid, str(msg["console"]))
            self.hold(key, fds.pop(), str(msg["pts"]), Path(msg["log"]), int(msg.get("log_max", DEFAULT_MAX_BYTES)),
                      int(msg.get("pid", 0)))  # fmt: skip
            return {"ok": True}, []
        if op == "drop":
            for key in [k for k in self.held if k[0] == umid and msg.get("console") in (None, k[1])]:
                self.drop(key)
            return {"ok": True}, []
        if op == "take":  # our own descriptors of a guest's ptys, for keys and sizes
            keys = [k for k in self.held if k[0] == umid]
            return {"ok": True, "consoles": [[k[1], self.held[k].pts] for k in keys]}, [self.held[k].fd for k in keys]
        if op == "attach":  # from now on this connection is the stream
            if self.stream is not None and self.stream is not conn:
                self._detach()
            self.stream = conn
            conn.setblocking(False)
            self.paused = True  # until "start": the logs stay exactly where the positions say
            self._update_reading()
            positions = {f"{k[0]}/{k[1]}": h.log.position for k, h in self.held.items()}
            return {"ok": True, "positions": positions}, []
        if op == "start" and conn is self.stream:  # no answer: data follows
            self.paused = False
            self._update_reading()
            return None, []
        if op == "ping":
            reading = self._reads
            return {"ok": True, "pid": os.getpid(), "held": len(self.held), "reading": reading,
                    "backlog": len(self.backlog), "attached": self.stream is not None}, []  # fmt: skip
        return {"ok": False, "error": f"unknown request {op!r}"}, []

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
            reply, out = self.handle(conn, json.loads(data), fds)
        except (ValueError, KeyError, TypeError) as exc:
            reply, out = {"ok": False, "error": f"bad request: {exc}"}, []
        for fd in fds:  # any not taken
            with contextlib.suppress(OSError):
                os.close(fd)
        if reply is None:
            return
        with contextlib.suppress(OSError):
            if conn is self.stream:
                conn.setblocking(True)  # the answer to attach goes before any data
                socket.send_fds(conn, [json.dumps(reply).encode()], out)
                conn.setblocking(False)
            else:
                socket.send_fds(conn, [json.dumps(reply).encode()], out)

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


# -- the supervisor's side -----------------------------------------------------------------------


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(CALL_TIMEOUT)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


def _call(sock: socket.socket, msg: dict[str, Any], fds: tuple[int, ...] = ()) -> tuple[dict[str, Any], list[int]]:
    socket.send_fds(sock, [json.dumps(msg).encode()], list(fds))
    data, got, _flags, _addr = socket.recv_fds(sock, MAX_PACKET, 64)
    for fd in got:
        os.set_inheritable(fd, False)  # never into a guest we start later
    if not data:
        raise ConnectionResetError("the keeper closed the connection")
    return json.loads(data), got


class KeeperClient:
    """The supervisor's requests: hand a pty over, forget one, take a guest's back.

    Calls are short and local (the keeper answers at once; each waits at most
    :data:`CALL_TIMEOUT`). When no keeper answers they return failure, and the supervisor
    then reads that console itself, as it would without a keeper.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or locations.keeper_socket()
        self._sock: socket.socket | None = None
        self._warned = False
        self._skip_until = 0.0

    def _call(
        self, msg: dict[str, Any], fds: tuple[int, ...] = (), *, quiet: bool = False
    ) -> tuple[dict[str, Any], list[int]] | None:
        if time.monotonic() < self._skip_until:
            return None  # it did not answer a moment ago: fail at once rather than hold up the loop again
        for attempt in (1, 2):  # once more on a fresh connection: the keeper may have been restarted
            try:
                if self._sock is None:
                    self._sock = _connect(self.path)
                reply = _call(self._sock, msg, fds)
                self._warned = False
                return reply
            except TimeoutError as exc:  # there, but not answering: do not wait on it again for a while
                self.close()
                self._skip_until = time.monotonic() + QUIET_AFTER_TIMEOUT
                self._warn(exc, quiet)
                return None
            except (OSError, ValueError) as exc:
                self.close()
                if attempt == 2:
                    self._warn(exc, quiet)
        return None

    def _warn(self, exc: Exception, quiet: bool) -> None:
        if not self._warned and not quiet:
            log.warning("the keeper does not answer (%s)", exc)
            self._warned = True

    def alive(self) -> bool:
        return self._call({"op": "ping"}, quiet=True) is not None

    def ping(self) -> dict[str, Any] | None:
        """The keeper's answer to ``ping`` (its pid, how many ptys it holds), or None."""
        answer = self._call({"op": "ping"}, quiet=True)
        return answer[0] if answer is not None else None

    def put(self, umid: str, console: str, pts: str, fd: int, log_path: Path, log_max: int, pid: int = 0) -> bool:
        """Hand console ``pts`` of guest ``umid`` (kernel process ``pid``) over; True if the keeper took it."""
        msg = {"op": "put", "umid": umid, "console": console, "pts": pts, "log": str(log_path), "log_max": log_max,
               "pid": pid}  # fmt: skip
        answer = self._call(msg, (fd,))
        return answer is not None and bool(answer[0].get("ok"))

    def drop(self, umid: str, console: str | None = None) -> None:
        self._call({"op": "drop", "umid": umid, "console": console})

    def take(self, umid: str) -> list[tuple[str, str, int]]:
        """Our own descriptors of the ptys the keeper reads for ``umid``: ``(console, pts, fd)``."""
        answer = self._call({"op": "take", "umid": umid})
        if answer is None:
            return []
        reply, fds = answer
        consoles = reply.get("consoles", [])
        if len(consoles) != len(fds):
            for fd in fds:
                os.close(fd)
            return []
        return [(str(c), str(p), fd) for (c, p), fd in zip(consoles, fds, strict=True)]

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class KeeperStream:
    """The attached stream: console bytes and closings from the keeper, on the event loop.

    :meth:`attach` answers how far each console's log is; bytes after that come through
    ``on_data(umid, console, data)``, closings through ``on_closed(umid, console)``, and
    the keeper going away through ``on_lost()``.
    """

    def __init__(
        self,
        on_data: Callable[[str, str, bytes], None],
        on_closed: Callable[[str, str], None],
        on_lost: Callable[[], None],
        path: Path | None = None,
    ) -> None:
        self.path = path or locations.keeper_socket()
        self.on_data, self.on_closed, self.on_lost = on_data, on_closed, on_lost
        self._sock: socket.socket | None = None

    def attach(self) -> dict[str, int] | None:
        """Attach; the log position of every console the keeper reads (``UMID/conN``), or None."""
        try:
            sock = _connect(self.path)
            reply, _ = _call(sock, {"op": "attach"})
        except (OSError, ValueError) as exc:
            log.warning("cannot attach to the keeper: %s", exc)
            return None
        sock.setblocking(False)
        self._sock = sock
        return {str(k): int(v) for k, v in reply.get("positions", {}).items()}

    def start(self) -> None:
        """Take the stream from now on (once the logs are read up to the positions :meth:`attach` gave)."""
        import asyncio

        if self._sock is not None:
            try:
                self._sock.send(json.dumps({"op": "start"}).encode())
            except OSError:
                self.close()
                self.on_lost()
                return
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._ready)

    def _ready(self) -> None:
        assert self._sock is not None
        for _ in range(64):  # a turn of the loop takes at most this many packets
            try:
                packet = self._sock.recv(MAX_PACKET)
            except BlockingIOError:
                return
            except OSError:
                packet = b""
            if not packet:
                self.close()
                self.on_lost()
                return
            kind, umid, console, data = unpack(packet)
            if kind == b"D":
                self.on_data(umid, console, data)
            elif kind == b"C":
                self.on_closed(umid, console)

    @property
    def attached(self) -> bool:
        return self._sock is not None

    def close(self) -> None:
        if self._sock is not None:
            import asyncio

            with contextlib.suppress(RuntimeError, ValueError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None


def keeper_running() -> bool:
    """Whether the user's keeper process lives, running or stopped: it holds its lock all its life.

    How fast it answers says nothing: a keeper stopped for a while (``kill -STOP``, a slow
    disk, a loaded machine) still holds and reads every pty once it goes on, so it must never
    be replaced nor read beside (two readers scramble a console).
    """
    try:
        fd = locations.open_private(locations.keeper_lock(), os.O_RDWR | os.O_CREAT)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def start_keeper(client: KeeperClient, timeout: float = 3.0) -> int | None:
    """Start the user's keeper (detached) unless one lives; its pid when we started it."""
    if keeper_running():
        return None
    pid = spawn_detached([sys.executable, "-m", "umltui", "keeper"], locations.state_dir() / "keeper.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.path.exists() and client.alive():
            break
        time.sleep(0.02)
    return pid
