"""Detached processes, found again by pid, ended only when they are still ours."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ..locations import private_dir


def spawn_detached(argv: list[str], log: Path, *, env: dict[str, str] | None = None, cpu: int | None = None) -> int:
    """Start ``argv`` in a new session, stdin from /dev/null, stdout and stderr to ``log``;
    with ``cpu``, it and every process it starts are kept on that host CPU.

    The process survives its parent: guests and switches outlive the supervisor.
    """
    private_dir(log.parent)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    mine = None
    if cpu is not None:
        mine = os.sched_getaffinity(0)
        # A child starts with its parent thread's CPUs: this thread's, for the spawn only,
        # so that the child is on ``cpu`` from its first instruction (set afterwards, a
        # process it started at once could escape it).
        os.sched_setaffinity(0, {cpu})
    try:
        return os.posix_spawnp(argv[0], argv, env if env is not None else os.environ, file_actions=actions, setsid=True)
    finally:
        if mine is not None:
            os.sched_setaffinity(0, mine)


def set_session_cpus(sid: int, cpus: set[int]) -> None:
    """Every thread of every process in session ``sid`` (a guest: its kernel, its helpers,
    the host process of each of its processes) allowed on ``cpus``; one look through /proc."""
    for pid in session_processes(sid):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(tid), cpus)


def least_used_cpu(taken: Iterable[int | None]) -> int | None:
    """Of the CPUs this process may use, the one with the fewest of ``taken`` (the lowest of
    those); None where it may use only one (nothing to choose)."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None
    counts = Counter(cpu for cpu in taken if cpu is not None)
    return min(allowed, key=lambda cpu: (counts[cpu], cpu))


def end_group(proc: subprocess.Popen[str], grace: float) -> None:
    """End a helper that leads its own session (mmdebstrap, apt-get) and what it started:
    SIGTERM to its group, SIGKILL after ``grace`` seconds, then reap it.

    Raises:
        subprocess.TimeoutExpired: it did not end even then.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def is_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def process_matches(pid: int, program: str | None, *words: str) -> bool:
    """Whether ``pid`` still is the process we started (guards against pid reuse)."""
    argv = cmdline(pid)
    if not argv or (program is not None and os.path.basename(argv[0]) != program):
        return False
    return all(any(w in arg for arg in argv) for w in words)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def descendants(pid: int, depth: int = 3) -> list[int]:
    """The processes below ``pid``, nearest first, down to ``depth`` generations."""
    found, level = [], [pid]
    for _ in range(depth):
        level = [c for p in level for c in children(p)]
        found += level
    return found


def session_leaders_below(pid: int) -> list[int]:
    """The processes below ``pid`` that lead a session of their own (they left its terminal)."""
    leaders = []
    for child in descendants(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(Path(f"/proc/{child}/stat").read_bytes().rsplit(b")", 1)[1].split()[3]) == child:
                leaders.append(child)
    return leaders


def reap(pid: int) -> int | None:
    """Collect a child's exit status if it is our child; None if it is not (or not yet)."""
    with contextlib.suppress(ChildProcessError):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
    return None


def session_processes(sid: int) -> list[int]:
    """Every process in session ``sid`` (a guest's helper processes share its session)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_bytes().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid:  # fields after comm: state ppid pgrp session
            pids.append(int(entry.name))
    return pids


def find_processes(program: str, *words: str) -> list[int]:
    """Every process running ``program`` whose command line has all ``words``."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and process_matches(int(entry.name), program, *words):
            found.append(int(entry.name))
    return found


def end_session(sid: int, *words: str) -> int:
    """SIGKILL what is left of session ``sid`` whose command line has all ``words``; how many.

    A UML guest's helper processes and the host processes of its own processes share its
    session; when its main process dies (``kill -9``), they stay behind, holding memory.
    Only processes that still carry the guest's own words (``umid=NAME``) are ended.
    """
    ended = 0
    for pid in session_processes(sid):
        if pid != os.getpid() and process_matches(pid, None, *words):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                ended += 1
    return ended


def memory_kib(pids: list[int]) -> int:
    """Proportional set size (kB) of these processes, from smaps_rollup."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
    return total


def can_set_foreground() -> bool:
    """Whether this process may take a process back from ``SCHED_IDLE`` to normal.

    Anyone may put their own processes in the background; bringing one back needs root,
    ``CAP_SYS_NICE``, or an ``RLIMIT_NICE`` that allows nice 0. Without that, background
    would be for good, so it is not used at all.
    """
    if os.geteuid() == 0:
        return True
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:") and int(line.split()[1], 16) & (1 << 23):  # CAP_SYS_NICE
                return True
    soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    return soft == resource.RLIM_INFINITY or soft >= 20


BACKGROUND_GROUP_NICE = 19  # an autogroup's weight at nice 19 is 15, against 1024 at 0


def set_background(sessions: dict[int, bool]) -> dict[int, int]:
    """Each session to the background (``True``) or back (``False``); one look through /proc for them all.

    In the background, every thread of the session runs as ``SCHED_IDLE`` (only when a CPU
    has nothing else to do), and the session's autogroup gets nice 19. Both are needed:
    where the kernel groups each session's threads (``kernel.sched_autogroup_enabled``, the
    default), the group competes with the other groups at its own weight, whatever the
    policy of the threads in it, so ``SCHED_IDLE`` alone changed little (sixteen flooding
    guests, ``benchmarks/many_guests.py``: an echo's p99 117 to 256 ms; with the group's
    nice too, 14 to 160 ms in nine runs). Where the session is in a cgroup of its own
    making, autogroups do not apply, and the policy does.

    Returns the sessions whose group's nice the kernel did not take yet (session to nice):
    it lets a process without ``CAP_SYS_ADMIN`` change one every 0.1 s. Give them to
    :func:`set_group_nice` again later (a session's id is its leader's pid).
    """
    later: dict[int, int] = {}
    if not sessions:
        return later
    grouped: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            sid = int(Path(entry.path, "stat").read_bytes().rsplit(b")", 1)[1].split()[3])
            tids = os.listdir(f"{entry.path}/task") if sid in sessions else []
        except (OSError, IndexError, ValueError):
            continue
        if not tids:
            continue
        background = sessions[sid]
        policy = os.SCHED_IDLE if background else os.SCHED_OTHER
        for tid in tids:
            with contextlib.suppress(OSError):
                if os.sched_getscheduler(int(tid)) != policy:
                    os.sched_setscheduler(int(tid), policy, os.sched_param(0))
        if sid not in grouped:  # a session's processes share one autogroup
            grouped.add(sid)
            nice = BACKGROUND_GROUP_NICE if background else 0
            if not set_group_nice(int(entry.name), nice):
                later[sid] = nice
    return later


def set_group_nice(pid: int, nice: int) -> bool:
    """The nice of ``pid``'s autogroup; False if the kernel said "not yet" (try again in 0.1 s).

    True also where there is nothing to set (no autogroups in this kernel, the process gone).
    """
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except BlockingIOError:  # EAGAIN: the kernel's rate limit for callers without CAP_SYS_ADMIN
        return False
    except OSError:
        pass
    return True
