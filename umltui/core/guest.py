"""One running guest as the supervisor sees it: process, consoles, notify socket, state.

Console ptys (``con=pts``) are opened here on their slave side (raw mode) when the kernel
names them, then handed to the keeper (:mod:`.keeper`), which reads and logs them whatever
happens to the supervisor, and to the guest's pty holder (:mod:`.holder`), which only holds
them open so that no supervisor's end hangs them up. What the keeper reads comes back here
(:meth:`Console.feed`): into a bounded scrollback, then to the subscribed clients. Keys and
window sizes go straight to the pty from here. Without a keeper, this reads the pty
itself. The kernel's own console (con0) is written by the kernel to a log file, which is
tailed. Nothing here blocks the event loop; nothing imports Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import locations
from ..locations import open_private
from . import holder
from .agent import LINE as AGENT_LINE
from .agent import Agent, AgentError, ready_report
from .consolelog import DEFAULT_MAX_BYTES, ConsoleLog, max_bytes_setting
from .inputpace import InputPace
from .keeper.client import KeeperClient, keeper_running
from .mconsole import MconsoleClient, MconsoleError
from .process import end_session, is_alive, reap
from .protocol import ALIVE_STATES, DiskInfo, GuestInfo, GuestState, NicInfo
from .pty import kick, open_raw, set_winsize
from .sandbox import Grants, host_path

log = logging.getLogger("umltui.guest")

BOOTING, RUNNING, PAUSED, HUNG, HALTED, CRASHED = (
    GuestState.BOOTING,
    GuestState.RUNNING,
    GuestState.PAUSED,
    GuestState.HUNG,
    GuestState.HALTED,
    GuestState.CRASHED,
)

NOTIFY_SOCKET, NOTIFY_PANIC, NOTIFY_HANG, NOTIFY_USER = 0, 1, 2, 3
_NOTIFY = struct.Struct("<IIII")
SCROLLBACK_BYTES = 1 << 20
HOLDER_CHECK = 10.0  # seconds between looks at whether a guest's pty holder still holds its ptys
PANIC_RE = re.compile(rb"Kernel panic - not syncing: ([^\n]*)")
# The guest's own power-off: Debian's 6.1 UML may fault on its way out after this line,
# which is still a clean halt.
RESTART_RE = re.compile(rb"^Linux version ", re.M)  # the kernel's banner: it is booting (again)
INIT_RE = re.compile(rb"Run \S+ as init process")
SHUTDOWN_RE = re.compile(rb"reboot: (System halted|Power down)")


@dataclass
class Console:
    """One console of one guest (con1..con6 on a pty, con0 from the kernel's log file)."""

    name: str
    log_path: Path
    pts: str | None = None
    fd: int | None = None
    scrollback: bytearray = field(default_factory=bytearray)
    subscribers: set[Callable[[str, bytes], None]] = field(default_factory=set)
    size: tuple[int, int] = (80, 24)  # cols, rows
    sized: bool = False  # a client gave its size (else the guest keeps its own default)
    pace: InputPace = field(default_factory=InputPace)  # keystrokes not written yet (see inputpace)
    pace_timer: asyncio.TimerHandle | None = None  # the write due when the window opens by silence
    log_max: int = DEFAULT_MAX_BYTES
    kept: bool = False  # the keeper reads this pty (and logs it); we only write keys and set sizes
    handed: bool = True  # (when kept) the keeper has it; else it is to be handed over (the keeper did not answer)
    held: bool = False  # the guest's pty holder has a descriptor of it (core/holder.py)
    _log: ConsoleLog | None = None

    def feed(self, data: bytes, *, log: bool = True) -> None:
        """Keep ``data`` (log file, scrollback) and pass it to the subscribers.

        A log that cannot be written (a full disk) costs the log, never the console.
        ``log=False`` for con0, whose log file the kernel writes itself.
        """
        if self.pace.unanswered:
            self.pace.printed(len(data), time.monotonic())
        if log:
            if self._log is None:
                self._log = ConsoleLog(self.log_path, self.log_max)
            self._log.write(data)
        self.scrollback += data
        if len(self.scrollback) > 2 * SCROLLBACK_BYTES:
            # Cut down to the newest SCROLLBACK_BYTES only once it holds twice that: cutting
            # at every read moved the whole megabyte each time (most of a flood's cost).
            del self.scrollback[: len(self.scrollback) - SCROLLBACK_BYTES]
        for send in list(self.subscribers):
            send(self.name, data)

    def close(self) -> None:
        if self.pace_timer is not None:
            self.pace_timer.cancel()
            self.pace_timer = None
        if self.fd is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self.fd)
                asyncio.get_running_loop().remove_writer(self.fd)
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        self.held = False
        if self._log is not None:
            self._log.close()
            self._log = None


class Guest:
    """The supervisor's record of one guest. ``on_change`` is called after every state change."""

    def __init__(
        self,
        *,
        umid: str,
        name: str,
        lab: str,
        uml_dir: Path,
        folder: Path,
        notify_path: Path,
        console_count: int = 6,
        ready_word: str | None = None,
        on_change: Callable[[Guest], None] = lambda g: None,
        keeper: KeeperClient | None = None,
    ) -> None:
        self.umid, self.name, self.lab = umid, name, lab
        self.uml_dir, self.folder, self.notify_path = uml_dir, folder, notify_path
        self.console_count = console_count
        self.ready_word = ready_word  # what our busybox init reports when it is done; None for other roots
        self.on_change = on_change
        self.keeper = keeper  # reads and logs the console ptys, whatever happens to the supervisor
        self.pid = 0  # the kernel's process (its session's leader)
        self.outer = 0  # the sandbox's outer process, our child, whose exit status is the kernel's
        self.state = BOOTING
        self.reason = ""
        # What it was booted with, and what was hot-plugged since (for ls and net).
        self.nics: list[NicInfo] = []
        self.disks: list[DiskInfo] = []
        self.netns: str | None = None
        self.mem: str | None = None
        self.argv: list[str] = []
        self.root = ""  # busybox | image; "" for a guest umltui did not start
        self.kernel = ""  # its kernel's release (7.2.7)
        self.legacy_nics = True  # its kernel has the ethN= transports (else its NICs are vecN: devices)
        self.grants: Grants | None = None  # what its sandbox holds; None: a guest from before sandboxes
        self.notes: list[str] = []  # the last things the guest wrote to /proc/mconsole
        self.startup_status: int | None = None  # the lab's startup script's exit status, as its boot reported it
        self.cpu: int | None = None  # the host CPU it is kept on (supervisor/cpu.py); None: any
        self.started_at = time.time()
        self.halting = False
        # Its replies come to a socket of ours in its UML folder: the one its sandbox holds.
        self.mconsole = MconsoleClient(str(uml_dir / umid / "mconsole"), sock_dir=str(uml_dir))
        logs = folder / "logs"
        self.consoles: dict[str, Console] = {"con0": Console("con0", logs / "con0.log")}
        log_max = max_bytes_setting()
        for n in range(1, console_count + 1):
            self.consoles[f"con{n}"] = Console(f"con{n}", logs / f"con{n}.log", log_max=log_max)
        if ready_word:  # a root of ours: its agent listens on the first serial line
            self.consoles[AGENT_LINE] = Console(AGENT_LINE, logs / f"{AGENT_LINE}.log", log_max=1 << 20)
        self.agent = Agent(lambda: self.consoles[AGENT_LINE].fd if AGENT_LINE in self.consoles else None)
        self.ready = asyncio.Event()  # set at running, or at an end state
        self._look_again = asyncio.Event()  # the consoles' ptys may be there now: ask at once
        self._sizes_due: set[str] = set()  # consoles whose size the agent is to set in the guest
        self._sizes_task: asyncio.Task[None] | None = None
        self._no_winsize = False  # its agent does not know the request (a root from before it)
        self._notify_sock: socket.socket | None = None
        self._pidfd: int | None = None
        self._holder_pid: int | None = None  # its pty holder, when we started it (our child)
        self._holder_checked = time.monotonic()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._con0_offset = 0
        self._banner_seen = False  # this boot's kernel banner has been read from con0

    # -- saved state -----------------------------------------------------------

    _SAVED = (
        "umid",
        "name",
        "lab",
        "pid",
        "state",
        "reason",
        "ready_word",
        "started_at",
        "nics",
        "disks",
        "netns",
        "mem",
        "argv",
        "root",
        "notes",
        "startup_status",
        "cpu",
        "kernel",
        "legacy_nics",
    )

    def to_state(self) -> dict[str, Any]:
        """What the state file keeps of this guest (the one place its fields are listed)."""
        state = {key: getattr(self, key) for key in self._SAVED}
        state.update(
            folder=str(self.folder),
            notify=str(self.notify_path),
            consoles=self.console_count,
            uml_dir=str(self.uml_dir),
            grants=self.grants.to_state() if self.grants else None,
        )
        return state

    @classmethod
    def from_state(
        cls,
        rec: dict[str, Any],
        *,
        uml_dir: Path,
        on_change: Callable[[Guest], None],
        keeper: KeeperClient | None = None,
    ) -> Guest:
        """A guest as :meth:`to_state` saved it (older files kept the devices under ``info``).

        Raises:
            KeyError, ValueError, TypeError: the record is not one :meth:`to_state` wrote.
        """
        rec = {**rec.get("info", {}), **rec}
        guest = cls(
            umid=str(rec["umid"]),
            name=str(rec["name"]),
            lab=str(rec["lab"]),
            uml_dir=Path(rec["uml_dir"]) if rec.get("uml_dir") else uml_dir,
            folder=Path(rec["folder"]),
            notify_path=Path(rec["notify"]),
            console_count=int(rec.get("consoles", 6)),
            ready_word=rec.get("ready_word"),
            on_change=on_change,
            keeper=keeper,
        )
        guest.pid = int(rec.get("pid", 0))
        guest.state = GuestState(rec.get("state", HALTED))
        guest.reason = str(rec.get("reason", ""))
        guest.started_at = float(rec.get("started_at", time.time()))
        guest.nics, guest.disks = list(rec.get("nics", [])), list(rec.get("disks", []))
        guest.netns, guest.mem = rec.get("netns"), rec.get("mem")
        guest.argv, guest.root = list(rec.get("argv", [])), str(rec.get("root", ""))
        guest.notes = list(rec.get("notes", []))
        status = rec.get("startup_status")
        guest.startup_status = int(status) if isinstance(status, int) else None
        guest.legacy_nics = bool(rec.get("legacy_nics", True))
        guest.kernel = str(rec.get("kernel", ""))
        guest.grants = Grants.from_state(rec.get("grants"))
        cpu = rec.get("cpu")
        guest.cpu = cpu if isinstance(cpu, int) else None
        return guest

    # -- lifecycle -------------------------------------------------------------

    @property
    def con0_log(self) -> Path:
        return self.consoles["con0"].log_path

    @property
    def alive(self) -> bool:
        return self.state in ALIVE_STATES

    def set_state(self, state: GuestState, reason: str = "") -> None:
        if self.state in (HALTED, CRASHED) and state not in (BOOTING,):
            return  # an end state is final until the next boot
        if state == self.state and reason == self.reason:
            return
        self.state, self.reason = state, reason
        if state in (RUNNING, PAUSED, HALTED, CRASHED):
            self.ready.set()
        if state == RUNNING:
            self._look_again.set()  # the gettys open their consoles right after a root of ours is ready
            for name, con in self.consoles.items():  # sizes given while it booted (or before a reboot)
                if con.sized:
                    self._tell_size(name)
        self.on_change(self)

    def open_notify(self) -> None:
        """Bind the notify socket the kernel sends socket-ready, panic, hang and user events to."""
        self.notify_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.notify_path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.notify_path))
        os.chmod(self.notify_path, 0o600)
        sock.setblocking(False)
        self._notify_sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_notify)

    def watch(self, pid: int) -> None:
        """Follow process ``pid`` (our child or an adopted one) until it ends."""
        self.pid = pid
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._spawn(self._on_exit())
            return
        asyncio.get_running_loop().add_reader(self._pidfd, self._pidfd_ready)
        self._start_holder()
        self._spawn(self._tail_con0())
        self._spawn(self._attach_consoles())
        if self.ready_word and self.state == BOOTING:
            self._spawn(self._poll_ready())

    async def _poll_ready(self) -> None:
        """Ask the guest whether its boot script has finished, in case the notification was lost."""
        while self.state == BOOTING:
            await asyncio.sleep(0.3)
            with contextlib.suppress(MconsoleError):
                if self.ready_word is None:
                    return
                ready, status = ready_report(await self.mconsole.request("proc sys/kernel/domainname"), self.ready_word)
                if ready and self.state == BOOTING:
                    log.info("%s: ready (seen through the mconsole)", self.umid)
                    self.startup_status = status
                    self.set_state(RUNNING)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pidfd_ready(self) -> None:
        loop = asyncio.get_running_loop()
        if self._pidfd is not None:
            loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._spawn(self._on_exit())

    async def _on_exit(self) -> None:
        status = await self._reap()
        left = end_session(self.pid, f"umid={self.umid}")  # its helpers, after a kill -9
        if left:
            log.info("%s: ended %d processes its main process left behind", self.umid, left)
        await asyncio.sleep(0.1)
        self._read_con0()  # the kernel's last words
        for con in self.consoles.values():
            if con.fd is not None and not con.kept:
                self._drain(con)
        clean = self.halting or not (self.uml_dir / self.umid / "pid").exists()
        if self.state == CRASHED:
            pass  # a panic already said why
        elif self.halting or (clean and (status is None or os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)):
            self.set_state(HALTED, "halted")
        else:
            self.set_state(CRASHED, self._exit_reason(status))
        if self.keeper is not None:
            self.keeper.drop(self.umid)
        self.close()
        for _ in range(40):  # its holder ends with the kernel
            if self._holder_pid is None or reap(self._holder_pid) is not None or not is_alive(self._holder_pid):
                break
            await asyncio.sleep(0.05)

    async def _reap(self) -> int | None:
        """The kernel's exit status: the sandbox's (our child, gone a moment after its kernel),
        or the kernel's own when it is our child; None for an adopted guest."""
        child = self.outer or self.pid
        for _ in range(20):
            if (status := reap(child)) is not None or not is_alive(child):
                return status
            await asyncio.sleep(0.05)
        return None

    def _exit_reason(self, status: int | None) -> str:
        text = self.con0_tail(65536)
        if m := PANIC_RE.search(text):
            return "kernel panic: " + m.group(1).decode(errors="replace").strip()
        if status is None:
            return "the guest's process died"
        if os.WIFSIGNALED(status):
            return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        with contextlib.suppress(ValueError):  # the sandbox passes its kernel's end by a signal on as 128+N
            if os.WEXITSTATUS(status) > 128:
                return f"killed by {signal.Signals(os.WEXITSTATUS(status) - 128).name}"
        return f"exited with status {os.WEXITSTATUS(status)}"

    def last_words(self, lines: int = 6) -> str:
        """The kernel's last lines, on one line, for an error message."""
        text = self.con0_tail(2000).decode(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(none)"

    def begin_boot_log(self) -> Path:
        """Mark a new boot in con0's log and follow the log from there; the log's path is returned."""
        con0 = self.con0_log
        with os.fdopen(open_private(con0), "ab") as f:
            f.write(f"\n=== umltui: booting {self.umid} at {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            self._con0_offset = f.tell()
        return con0

    def con0_tail(self, n: int) -> bytes:
        """The last ``n`` bytes of the kernel's log."""
        try:
            with open(self.con0_log, "rb") as f:
                f.seek(max(0, f.seek(0, 2) - n))
                return f.read()
        except OSError:
            return b""

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if self._notify_sock is not None:
            with contextlib.suppress(ValueError):
                loop.remove_reader(self._notify_sock.fileno())
            self._notify_sock.close()
            self._notify_sock = None
            with contextlib.suppress(FileNotFoundError):
                self.notify_path.unlink()
        if self._pidfd is not None:
            loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        for con in self.consoles.values():
            con.close()
        self.ready.set()

    # -- notify ----------------------------------------------------------------

    def _on_notify(self) -> None:
        assert self._notify_sock is not None
        while True:
            try:
                datagram = self._notify_sock.recv(4096)
            except (BlockingIOError, OSError):
                return
            if len(datagram) < _NOTIFY.size:
                continue
            _magic, _version, kind, length = _NOTIFY.unpack_from(datagram)
            text = datagram[_NOTIFY.size : _NOTIFY.size + length].rstrip(b"\0").decode(errors="replace").strip()
            log.info("%s: notify type %d: %s", self.umid, kind, text)
            self.handle_notify(kind, text)

    def handle_notify(self, kind: int, text: str) -> None:
        if kind == NOTIFY_SOCKET:
            self._spawn(self._attach_consoles())
        elif kind == NOTIFY_PANIC:
            if not self.halting:  # (a panic after a clean power-off is no crash: logged above only)
                self.set_state(CRASHED, f"kernel panic: {text}")
        elif kind == NOTIFY_HANG:
            self.set_state(HUNG, "the guest stopped answering (hang notification)")
        elif kind == NOTIFY_USER:
            ready, status = ready_report(text, self.ready_word) if self.ready_word else (False, None)
            if ready:
                if self.state == BOOTING:
                    self.startup_status = status
                if self.state in (BOOTING, HUNG):
                    self.set_state(RUNNING)
            else:
                self.notes = [*self.notes, text][-20:]
                self.on_change(self)

    # -- consoles --------------------------------------------------------------

    def _start_holder(self) -> None:
        """Start the guest's pty holder unless it runs (an adopted guest's goes on)."""
        path = locations.holder_socket(self.umid)
        try:
            locations.private_dir(path.parent)
            self._holder_pid = holder.start(str(path), self.pid, str(self.folder / "logs" / "holder.log"))
        except OSError as exc:
            log.warning("%s: no pty holder (%s): its consoles hang up if the supervisor and keeper die together",
                        self.umid, exc)  # fmt: skip

    def _hold(self) -> None:
        """Give the pty holder the consoles it does not have yet (it may not be listening yet).

        Every :data:`HOLDER_CHECK` seconds it is asked what it holds: a holder that was killed
        is started again and given every console again.
        """
        path = str(locations.holder_socket(self.umid))
        now = time.monotonic()
        if now - self._holder_checked > HOLDER_CHECK and self.pid > 0:
            self._holder_checked = now
            answer = holder.call(path, "held", timeout=0.2)
            names = set(answer.split()[1:]) if answer and answer.startswith("ok") else set()
            for con in self.consoles.values():
                con.held = con.held and con.name in names
            if answer is None and not holder.listening(path):
                log.warning("%s: its pty holder is gone; starting another", self.umid)
                self._start_holder()
        for con in self.consoles.values():
            if con.fd is not None and not con.held and con.name != "con0":
                con.held = holder.call(path, f"hold {con.name}", (con.fd,)) == "ok"

    async def _attach_consoles(self, *, period: float = 0.2) -> None:
        """Ask the mconsole for each console's pty until all are open, for as long as needed.

        Ptys are made when the guest opens a console (its getty starts), so some appear
        after the guest says it is ready. After a reboot they change, and we look again.
        """
        while self.alive:
            self._hold()
            missing = [c for n, c in self.consoles.items() if n != "con0" and c.fd is None]
            if not missing:
                await self._pause(1.0)
                continue
            if self.state != PAUSED:
                for con in missing:
                    try:
                        answer = await self.mconsole.request(f"config {con.name}")
                    except MconsoleError:
                        break
                    if answer.startswith("pts:/dev/"):
                        self._open_console(con, self._reachable(answer[4:]))
            if await self._pause(period):
                period = 0.05  # just ready: its consoles open in the next moments
            period = min(period * 1.2, 1.0)

    def _reachable(self, pts: str) -> str:
        """A console's pty as we open it: a sandboxed kernel's are in its own ``/dev/pts``,
        reached through its ``/proc/PID/root``."""
        return pts if self.grants is None else host_path(self.pid, pts)

    async def _pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if woken early because the guest became ready."""
        try:
            await asyncio.wait_for(self._look_again.wait(), seconds)
        except TimeoutError:
            return False
        self._look_again.clear()
        return True

    def _open_console(self, con: Console, pts: str) -> None:
        try:
            fd = open_raw(pts)
        except OSError:
            return
        with contextlib.suppress(OSError):
            set_winsize(fd, *con.size)
        con.pts, con.fd = pts, fd
        # The keeper reads and logs it from now on, whatever happens to us; without one, we do.
        con.kept = con.handed = self.keeper is not None and self.keeper.put(
            self.umid, con.name, pts, fd, con.log_path, con.log_max, self.pid
        )
        if not con.kept and self.keeper is not None and keeper_running():
            con.kept = (
                True  # a keeper lives but did not answer (stopped a while): it gets it later, nobody else reads it
            )
        if not con.kept:
            asyncio.get_running_loop().add_reader(fd, self._drain, con)
        self._hold()
        self.on_change(self)

    def hand_over(self) -> None:
        """Hand the keeper the consoles it did not take when it did not answer."""
        for con in self.consoles.values():
            if con.kept and not con.handed and con.fd is not None and con.pts and self.keeper is not None:
                con.handed = self.keeper.put(self.umid, con.name, con.pts, con.fd, con.log_path, con.log_max, self.pid)

    def take_kept_consoles(self) -> None:
        """For an adopted guest: our own descriptors of the ptys the keeper reads for it."""
        if self.keeper is None:
            return
        for name, pts, fd in self.keeper.take(self.umid):
            con = self.consoles.get(name)
            if con is None or con.fd is not None:
                os.close(fd)
                continue
            con.pts, con.fd, con.kept = pts, fd, True
        self._hold()

    def read_yourself(self, con: Console) -> None:
        """The keeper is gone: read this console ourselves from now on."""
        if con.fd is not None and con.kept:
            log.warning("%s %s: no keeper; the supervisor reads the console itself", self.umid, con.name)
            con.kept, con.handed = False, True
            asyncio.get_running_loop().add_reader(con.fd, self._drain, con)

    def keeper_data(self, console: str, data: bytes) -> None:
        """Bytes the keeper read from a console (and logged already)."""
        con = self.consoles.get(console)
        if con is not None:
            con.feed(data, log=False)
            self._answered(con)
            if console == AGENT_LINE:
                self.agent.feed(data)

    def keeper_closed(self, console: str) -> None:
        """The guest closed a console the keeper read (halt, reboot): look for its new pty."""
        con = self.consoles.get(console)
        if con is not None and con.kept:
            con.close()
            con.pts, con.kept = None, False
            self.on_change(self)

    def _drain(self, con: Console) -> None:
        assert con.fd is not None
        while True:
            try:
                data = os.read(con.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the guest closed the pty (halt, reboot): look again later
                fd, con.fd = con.fd, None
                with contextlib.suppress(ValueError):
                    asyncio.get_running_loop().remove_reader(fd)
                os.close(fd)
                con.pts = None
                self.on_change(self)
                return
            kick(self._pidfd, len(data))
            con.feed(data)
            self._answered(con)
            if con.name == AGENT_LINE:
                self.agent.feed(data)

    async def _tail_con0(self) -> None:
        while True:
            self._read_con0()
            await asyncio.sleep(0.25)

    def _read_con0(self) -> None:
        """Follow the kernel's log file (con0): scrollback, subscribers, panic and shutdown lines."""
        con = self.consoles["con0"]
        try:
            with open(self.con0_log, "rb") as f:
                f.seek(self._con0_offset)
                data = f.read()
        except OSError:
            return
        if not data:
            return
        self._con0_offset += len(data)
        con.feed(data, log=False)
        banners = len(RESTART_RE.findall(data))
        if banners:
            # The first banner is this boot's own, even when it is read only after the guest
            # said it was ready (a busy supervisor reads the log late); any later one is a reboot.
            again = banners if self._banner_seen else banners - 1
            self._banner_seen = True
            if again and self.state in (RUNNING, HUNG):
                self.set_state(BOOTING, "rebooting")  # the same process boots again; ptys change
                if self.ready_word:
                    self._spawn(self._poll_ready())
        if self.ready_word is None and self.state == BOOTING and INIT_RE.search(data):
            self.set_state(RUNNING)  # a root we did not make: running once the kernel starts its init
        if SHUTDOWN_RE.search(data):
            self.halting = True
        if self.state != CRASHED and not self.halting and (m := PANIC_RE.search(data)):
            self.set_state(CRASHED, "kernel panic: " + m.group(1).decode(errors="replace").strip())

    def load_history(self, positions: Mapping[str, int] | None = None) -> None:
        """For an adopted guest: each console's recent log becomes its scrollback, not news.

        ``positions`` (console name to bytes) say where the keeper's stream takes over:
        the log is read up to there exactly, so nothing is missed or shown twice.
        """
        positions = positions or {}
        for con in self.consoles.values():
            try:
                with open(con.log_path, "rb") as f:
                    end = positions.get(con.name, f.seek(0, 2))
                    f.seek(max(0, end - SCROLLBACK_BYTES))
                    con.scrollback[:] = f.read(end - f.tell())
            except OSError:
                continue
            if con.name == "con0":
                self._con0_offset = end
        self._banner_seen = True  # an adopted guest has booted: a banner from now on is a reboot

    def write(self, console: str, data: bytes) -> None:
        con = self.consoles.get(console)
        if con is None or con.fd is None:
            raise MconsoleError(f"{self.umid} {console} is not attached")
        if len(con.pace.pending) + len(data) > SCROLLBACK_BYTES:
            raise MconsoleError(f"{self.umid} {console} takes no input (is the guest stopped?)")
        con.pace.pending += data
        self._flush(con)

    def _flush(self, con: Console) -> None:
        """Write pending keystrokes, as fast as the guest is seen to take them (see inputpace).

        What the window holds back goes when the console answers (:meth:`Console.feed`
        calls back here) or falls silent; what the pty cannot take waits for it to drain.
        """
        loop = asyncio.get_running_loop()
        if con.pace_timer is not None:
            con.pace_timer.cancel()
            con.pace_timer = None
        if con.fd is None:
            return
        pace, now = con.pace, time.monotonic()
        room = pace.room(now)
        if pace.pending and room:
            try:
                written = os.write(con.fd, pace.pending[:room])
                del pace.pending[:written]
                pace.wrote(written, now)
            except BlockingIOError:
                pass
            except OSError:
                pace.clear()
        with contextlib.suppress(ValueError):
            loop.remove_writer(con.fd)
        if not pace.pending:
            return
        if pace.room(now):
            loop.add_writer(con.fd, self._flush, con)  # the pty is full: when it drains
        else:
            con.pace_timer = loop.call_later(pace.wait(now) + 0.001, self._flush, con)

    def _answered(self, con: Console) -> None:
        """The console printed: more of its waiting input may go."""
        if con.pace.pending and con.fd is not None and con.pace.room(time.monotonic()):
            self._flush(con)

    def resize(self, console: str, cols: int, rows: int) -> None:
        """The pane's size: on the console's pty, and, through the agent, on the guest's tty.

        Debian's 6.1 UML does not pass a ``con=pts`` pty's size on to the guest, so a root
        of ours is told by its agent (which sets the tty's size, and so sends SIGWINCH).
        """
        con = self.consoles.get(console)
        if con is None:
            raise MconsoleError(f"{self.umid} has no {console}")
        con.size, con.sized = (cols, rows), True
        if con.fd is not None:
            set_winsize(con.fd, cols, rows)
        self._tell_size(console)

    def _tell_size(self, console: str) -> None:
        """Have the agent set a console's size in the guest; only the latest size is sent."""
        if not self.ready_word or self._no_winsize or console == "con0" or not console.startswith("con"):
            return
        self._sizes_due.add(console)
        if self.state == RUNNING and (self._sizes_task is None or self._sizes_task.done()):
            self._sizes_task = asyncio.get_running_loop().create_task(self._send_sizes())
            self._tasks.add(self._sizes_task)
            self._sizes_task.add_done_callback(self._tasks.discard)

    async def _send_sizes(self) -> None:
        """Send the sizes due, one console at a time, the latest size of each.

        Just after boot the agent's line may not be open yet, or the agent not listening: a
        failure is tried again a second later, for as long as the guest runs. A root from
        before the agent knew sizes says so, and is not asked again.
        """
        while self._sizes_due and self.state == RUNNING:
            console = min(self._sizes_due)
            self._sizes_due.discard(console)
            cols, rows = self.consoles[console].size
            try:
                await self.agent.request("winsize", f"tty{console[3:]}-{cols}x{rows}", timeout=2.0)
            except AgentError as exc:
                if "unknown request" in str(exc):
                    log.info("%s: its agent cannot set sizes (an older root): %s", self.umid, exc)
                    self._no_winsize = True
                    self._sizes_due.clear()
                    return
                self._sizes_due.add(console)
                await asyncio.sleep(1.0)

    # -- reporting -------------------------------------------------------------

    def to_info(self) -> GuestInfo:
        """The guest as ``ls`` and guest events carry it."""
        return {
            "name": self.name,
            "lab": self.lab,
            "umid": self.umid,
            "pid": self.pid,
            "state": self.state,
            "reason": self.reason,
            "consoles": {n: c.pts for n, c in self.consoles.items() if n not in ("con0", AGENT_LINE)},
            "con0_log": str(self.con0_log),
            "logs": {n: str(c.log_path) for n, c in self.consoles.items()},
            "nics": self.nics,
            "disks": self.disks,
            "netns": self.netns,
            "mem": self.mem,
            "started_at": self.started_at,
            "notes": self.notes,
            "startup_status": self.startup_status,
            "cpu": self.cpu if self.alive else None,
            "kernel": self.kernel,
            "legacy_nics": self.legacy_nics,
        }
