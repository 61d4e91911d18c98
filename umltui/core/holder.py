"""The pty holder: one tiny process per guest that keeps its console ptys open, nothing else.

Why: a guest's console hangs up (its programs get SIGHUP, its gettys respawn) when the last
host descriptor of its pty closes. The supervisor and the keeper each hold one, so killing
either alone costs nothing, but killing both at once (``kill -9`` of the two, or the OOM
killer) hung up every console. Container runtimes keep a small process per container for
this reason (a "shim"). This is ours: it holds a descriptor of each console pty of one
guest and never reads it (the keeper is the one reader; output that nobody reads waits in
the pty, the guest's writes wait, nothing is lost). A new supervisor opens the ptys again by
their paths and hands them to a new keeper.

Small on purpose: it runs as ``python -I -S holder.py SOCKET KERNEL_PID``, importing only
a few standard modules (no umltui, no site packages), and ends when the guest's kernel
ends (its pidfd), so it never outlives its guest. One per guest, so an OOM kill of one
costs one guest's consoles a hangup, not every guest's.

Wire: a ``SOCK_SEQPACKET`` socket (0600) in the private runtime directory, one text request
a packet: ``hold NAME`` with one descriptor (replaces what it held under NAME), ``drop
NAME``, ``held`` (answers the names); each answered ``ok ...`` or ``err ...``.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sys

CALL_TIMEOUT = 1.0


def serve(path: str, kernel: int) -> int:
    try:
        pidfd = os.pidfd_open(kernel)
    except ProcessLookupError:
        return 0  # its guest is gone already
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(path)
    os.chmod(path, 0o600)
    mine = os.stat(path).st_ino
    server.listen(4)
    held: dict[str, int] = {}
    conns: dict[int, socket.socket] = {}
    poll = select.poll()
    poll.register(pidfd, select.POLLIN)
    poll.register(server.fileno(), select.POLLIN)
    try:
        while True:
            for fd, _events in poll.poll():
                if fd == pidfd:
                    return 0  # the kernel ended: its ptys with it
                if fd == server.fileno():
                    conn, _ = server.accept()
                    conns[conn.fileno()] = conn
                    poll.register(conn.fileno(), select.POLLIN)
                    continue
                conn = conns[fd]
                try:
                    data, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
                except OSError:
                    data, fds = b"", []
                if not data:
                    poll.unregister(fd)
                    del conns[fd]
                    conn.close()
                else:
                    with contextlib.suppress(OSError):
                        conn.send(_answer(held, data.decode(errors="replace").split(), fds))
                for extra in fds:  # any not taken
                    os.close(extra)
    finally:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == mine:  # (not the socket of a holder of its next boot)
                os.unlink(path)


def _answer(held: dict[str, int], words: list[str], fds: list[int]) -> bytes:
    op, name = (words + ["", ""])[:2]
    if op == "hold" and name and len(fds) == 1:
        old = held.pop(name, None)
        if old is not None:
            os.close(old)
        held[name] = fds.pop()
        return b"ok"
    if op == "drop" and name:
        old = held.pop(name, None)
        if old is not None:
            os.close(old)
        return b"ok"
    if op == "held":
        return ("ok " + " ".join(sorted(held))).encode()
    return b"err unknown request"


# -- the supervisor's side --------------------------------------------------------------------


def call(path: str, request: str, fds: tuple[int, ...] = (), timeout: float = CALL_TIMEOUT) -> str | None:
    """One request to a guest's holder; its answer, or None when no holder answers."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        socket.send_fds(sock, [request.encode()], list(fds))
        return sock.recv(4096).decode(errors="replace") or None
    except OSError:
        return None
    finally:
        sock.close()


def listening(path: str) -> bool:
    """Whether a holder listens at ``path`` (one that is stopped still does: its socket takes
    connections; one that was killed left a socket that refuses them)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(0.2)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        return False
    except OSError:
        return True
    finally:
        sock.close()
    return True


def start(path: str, kernel: int, log: str) -> int | None:
    """Start the holder of the guest whose kernel is ``kernel`` unless one answers at ``path``;
    its pid when started (it is the caller's child, to reap). It does not wait for it: a
    ``hold`` that comes before its socket is there fails, and is asked again."""
    if listening(path):
        return None
    argv = [sys.executable, "-I", "-S", os.path.abspath(__file__), path, str(kernel)]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(argv[0], argv, {}, file_actions=actions, setsid=True)


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2])))
