"""The supervisor: one process per user that owns guests, switches, namespaces and consoles.

Like tmux's server, it is started on demand by any client, detached from the terminal,
and serves clients over a unix stream socket (JSON lines, see :mod:`.protocol`). It
reads every console all the time, so nothing a guest prints is lost while no client is
attached. Guests and switches run in their own sessions and outlive it; a new
supervisor adopts them again from its state file and from the kernel's ``UMID/pid``
and ``UMID/mconsole``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import locations
from . import network
from .cmdline import CmdlineError, Disk, KernelCommandLine, Nic
from .guest import ALIVE_STATES, BOOTING, CRASHED, HALTED, PAUSED, RUNNING, Guest
from .lab import GuestSpec, Lab, LabError, load_lab
from .mconsole import MconsoleClient, MconsoleError, MconsoleUnreachable
from .process import is_alive, memory_kib, process_matches, session_processes, spawn_detached
from .protocol import ProtocolError, encode
from .rootfs import READY_WORD, RootfsError, prepare_guest_root

log = logging.getLogger("umltui.supervisor")

BOOT_TIMEOUT = float(os.environ.get("UMLTUI_BOOT_TIMEOUT", "60"))
CONSOLE_TIMEOUT = 10.0
IDLE_EXIT = float(os.environ.get("UMLTUI_SUPERVISOR_IDLE", "30"))


class OpError(Exception):
    """A request that failed; ``kind`` tells the client how to exit (lab errors exit 2)."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def kernel_path() -> str:
    kernel = os.environ.get("UMLTUI_KERNEL") or shutil.which("linux.uml") or "/usr/bin/linux.uml"
    if not os.access(kernel, os.X_OK):
        raise OpError(
            f"the UML kernel {kernel} is missing: install Debian's user-mode-linux (apt-get install user-mode-linux)",
            "missing",
        )
    return kernel


def mac_for(umid: str, nic: str) -> str:
    """A stable, locally administered MAC per guest NIC, so ARP tables survive reboots."""
    digest = hashlib.sha1(f"{umid}/{nic}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


@dataclass
class Switch:
    lab: str
    name: str
    ctl: Path
    hub: bool = False
    pid: int = 0

    @property
    def key(self) -> str:
        return f"{self.lab}/{self.name}"

    @property
    def alive(self) -> bool:
        return is_alive(self.pid) and process_matches(self.pid, network.UML_SWITCH, str(self.ctl))

    def to_json(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "name": self.name,
            "ctl": str(self.ctl),
            "hub": self.hub,
            "pid": self.pid,
            "alive": self.alive,
        }


@dataclass
class LabRecord:
    name: str
    path: str | None
    netns: str | None = None
    netns_owned: bool = False
    taps: dict[str, str | None] = field(default_factory=dict)  # tap -> address (ours to delete)


class Client:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.subscriptions: list[tuple[Guest, str, Any]] = []
        self.watching = False

    def send(self, obj: dict[str, Any]) -> None:
        if self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > 64 << 20:
            self.writer.close()  # a client that reads nothing must not eat our memory
            return
        self.writer.write(encode(obj))


class Supervisor:
    def __init__(self) -> None:
        self.guests: dict[str, Guest] = {}
        self.switches: dict[str, Switch] = {}
        self.labs: dict[str, LabRecord] = {}
        self.clients: set[Client] = set()
        self.uml_dir = locations.uml_dir()
        self._up_lock = asyncio.Lock()
        self._save_handle: asyncio.TimerHandle | None = None
        self._stop = asyncio.Event()
        self._idle_since = time.monotonic()

    # -- persistence -------------------------------------------------------------

    def _changed(self, guest: Guest) -> None:
        event = {"event": "guest", "guest": guest.to_json()}
        for client in list(self.clients):
            if client.watching:
                client.send(event)
        self.save_soon()

    def save_soon(self) -> None:
        if self._save_handle is None:
            self._save_handle = asyncio.get_running_loop().call_later(0.05, self.save)

    def save(self) -> None:
        self._save_handle = None
        data = {
            "guests": [
                {
                    "umid": g.umid,
                    "name": g.name,
                    "lab": g.lab,
                    "pid": g.pid,
                    "state": g.state,
                    "reason": g.reason,
                    "folder": str(g.folder),
                    "notify": str(g.notify_path),
                    "consoles": g.console_count,
                    "ready_word": g.ready_word,
                    "info": g.info,
                    "started_at": g.started_at,
                }
                for g in self.guests.values()
            ],
            "switches": [
                {"lab": s.lab, "name": s.name, "ctl": str(s.ctl), "hub": s.hub, "pid": s.pid}
                for s in self.switches.values()
            ],
            "labs": [vars(r) for r in self.labs.values()],
        }
        path = locations.state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)

    def _new_guest(self, **kw: Any) -> Guest:
        return Guest(uml_dir=self.uml_dir, sock_dir=locations.runtime_dir(), on_change=self._changed, **kw)

    async def adopt(self) -> None:
        """Take over what an earlier supervisor left running."""
        try:
            data = json.loads(locations.state_file().read_text())
        except (OSError, ValueError):
            data = {}
        for rec in data.get("labs", []):
            self.labs[rec["name"]] = LabRecord(**rec)
        for rec in data.get("switches", []):
            sw = Switch(rec["lab"], rec["name"], Path(rec["ctl"]), rec.get("hub", False), rec.get("pid", 0))
            self.switches[sw.key] = sw
        for rec in data.get("guests", []):
            guest = self._new_guest(
                umid=rec["umid"],
                name=rec["name"],
                lab=rec["lab"],
                folder=Path(rec["folder"]),
                notify_path=Path(rec["notify"]),
                console_count=rec.get("consoles", 6),
                ready_word=rec.get("ready_word"),
                info=rec.get("info", {}),
            )
            guest.started_at = rec.get("started_at", time.time())
            guest.pid = rec.get("pid", 0)
            guest.state, guest.reason = rec.get("state", HALTED), rec.get("reason", "")
            self.guests[guest.umid] = guest
            if guest.state in ALIVE_STATES:
                if is_alive(guest.pid) and process_matches(guest.pid, None, f"umid={guest.umid}"):
                    self._follow(guest, adopted=True)
                else:
                    clean = not (self.uml_dir / guest.umid / "pid").exists()
                    guest.state = HALTED if clean else CRASHED
                    guest.reason = "halted" if clean else "the guest died while no supervisor was running"
        self._adopt_foreign()
        self.save()

    def _adopt_foreign(self) -> None:
        """Guests umltui did not start, found in the UML directory (``~/.uml``)."""
        known = set(self.guests)
        if not self.uml_dir.is_dir():
            return
        for entry in sorted(self.uml_dir.iterdir()):
            if entry.name in known or not (entry / "mconsole").exists():
                continue
            try:
                pid = int((entry / "pid").read_text().strip())
            except (OSError, ValueError):
                continue
            if not is_alive(pid):
                continue
            folder = locations.guest_dir(entry.name)
            guest = self._new_guest(
                umid=entry.name,
                name=entry.name,
                lab="",
                folder=folder,
                notify_path=locations.notify_dir() / f"{entry.name}.sock",
                info={"foreign": True},
            )
            guest.pid = pid
            guest.state = RUNNING
            self.guests[guest.umid] = guest
            self._follow(guest, adopted=True, notify=False)

    def _follow(self, guest: Guest, *, adopted: bool, notify: bool = True) -> None:
        if notify:
            with contextlib.suppress(OSError):
                guest.open_notify()
        if adopted:
            guest.ready.set()
            guest.load_con0_history()
        guest.watch(guest.pid)

    # -- server ------------------------------------------------------------------

    async def serve(self) -> None:
        locations.ensure_private(locations.runtime_dir())
        locations.ensure_private(locations.notify_dir())
        sock_path = locations.supervisor_socket()
        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()
        await self.adopt()
        server = await asyncio.start_unix_server(self._client, path=str(sock_path), limit=16 << 20)
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
            server.close()
            for client in list(self.clients):
                client.writer.close()
            if self._save_handle:
                self._save_handle.cancel()
            self.save()
            for guest in self.guests.values():
                guest.close()
            with contextlib.suppress(FileNotFoundError):
                sock_path.unlink()

    async def _idle_watch(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            busy = (
                self.clients
                or any(g.alive for g in self.guests.values())
                or any(s.alive for s in self.switches.values())
                or any(r.netns_owned for r in self.labs.values())
            )
            now = time.monotonic()
            if busy:
                self._idle_since = now
            elif now - self._idle_since > IDLE_EXIT:
                log.info("nothing to look after for %gs: exiting", IDLE_EXIT)
                self._stop.set()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Client(writer)
        self.clients.add(client)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("not an object")
                except ValueError as exc:
                    client.send({"ok": False, "error": f"bad request: {exc}", "kind": "protocol"})
                    continue
                op = request.get("op")
                if op in ("input", "resize"):  # keystrokes stay in order, handled at once
                    self._quick(client, request)
                    continue
                task = asyncio.get_running_loop().create_task(self._dispatch(client, request))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self.clients.discard(client)
            for guest, console, send in client.subscriptions:
                guest.consoles[console].subscribers.discard(send)
            for task in tasks:
                task.cancel()
            writer.close()

    def _quick(self, client: Client, request: dict[str, Any]) -> None:
        try:
            guest = self.find_guest(request["guest"])
            console = request.get("console", "con1")
            if request["op"] == "input":
                guest.write(console, base64.b64decode(request["data"]))
            else:
                guest.resize(console, int(request["cols"]), int(request["rows"]))
        except (OpError, MconsoleError, KeyError, ValueError, OSError) as exc:
            client.send({"event": "error", "error": str(exc), "guest": request.get("guest")})

    async def _dispatch(self, client: Client, request: dict[str, Any]) -> None:
        rid = request.get("id")
        op = str(request.get("op"))
        handler = getattr(self, f"op_{op.replace('-', '_')}", None)
        try:
            if handler is None:
                raise OpError(f"unknown request {op!r}", "protocol")
            result = await handler(client, **{k: v for k, v in request.items() if k not in ("id", "op")})
            client.send({"id": rid, "ok": True, "result": result})
        except OpError as exc:
            client.send({"id": rid, "ok": False, "error": str(exc), "kind": exc.kind})
        except LabError as exc:
            client.send({"id": rid, "ok": False, "error": str(exc), "kind": "lab"})
        except MconsoleError as exc:
            client.send({"id": rid, "ok": False, "error": str(exc), "kind": "guest"})
        except (TypeError, ProtocolError) as exc:
            client.send({"id": rid, "ok": False, "error": f"bad request: {exc}", "kind": "protocol"})
        except Exception as exc:  # one failing request must not take the supervisor down
            log.exception("request %s failed", op)
            client.send({"id": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "internal"})

    # -- lookups -------------------------------------------------------------------

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

    # -- requests ------------------------------------------------------------------

    async def op_ping(self, client: Client) -> dict[str, Any]:
        return {"pid": os.getpid(), "version": 1}

    async def op_ls(self, client: Client) -> list[dict[str, Any]]:
        return [g.to_json() for g in self.guests.values()]

    async def op_watch(self, client: Client) -> list[dict[str, Any]]:
        client.watching = True
        return [g.to_json() for g in self.guests.values()]

    async def op_shutdown(self, client: Client, halt: bool = False) -> str:
        if halt:
            await self.op_down(client, all=True)
        asyncio.get_running_loop().call_later(0.05, self._stop.set)
        return "supervisor stopping; guests keep running" if not halt else "supervisor stopping"

    async def op_memory(self, client: Client, guest: str) -> dict[str, int]:
        g = self.find_guest(guest)
        pids = session_processes(g.pid) if g.alive else []
        return {"pss_kib": memory_kib(pids), "processes": len(pids)}

    async def op_up(self, client: Client, lab: str, boot_timeout: float = BOOT_TIMEOUT) -> dict[str, Any]:
        spec = load_lab(lab)
        async with self._up_lock:
            return await self._up(spec, boot_timeout)

    async def _up(self, lab: Lab, timeout: float) -> dict[str, Any]:
        kernel = kernel_path()
        for gspec in lab.guests.values():
            other = self.guests.get(gspec.umid)
            if other and other.alive and other.lab != lab.name:
                raise OpError(
                    f"umid {gspec.umid} is already used by running guest {other.lab}/{other.name}", "conflict"
                )
            pid_file = self.uml_dir / gspec.umid / "pid"
            if not other and pid_file.exists():
                with contextlib.suppress(ValueError, OSError):
                    if is_alive(int(pid_file.read_text())):
                        raise OpError(
                            f"a UML guest with umid {gspec.umid} is already running "
                            f"(pid {pid_file.read_text().strip()}), not started by umltui",
                            "conflict",
                        )
        record = self.labs.get(lab.name) or LabRecord(lab.name, str(lab.path), lab.netns)
        self.labs[lab.name] = record
        made_switches: list[Switch] = []
        made_taps: list[str] = []
        made_ns = False
        booted: list[Guest] = []
        try:
            if lab.netns and not await network.netns_exists(lab.netns):
                await network.create_netns(lab.netns)
                record.netns, record.netns_owned, made_ns = lab.netns, True, True
            for tap in lab.taps.values():
                if tap.name not in record.taps:
                    await network.create_tap(tap.name, lab.netns, tap.ip)
                    record.taps[tap.name] = tap.ip
                    made_taps.append(tap.name)
            for sspec in lab.switches.values():
                sw = self.switches.get(f"{lab.name}/{sspec.name}")
                if sw and sw.alive:
                    continue
                sw = Switch(lab.name, sspec.name, locations.switch_dir() / f"{lab.name}-{sspec.name}.ctl", sspec.hub)
                switch_log = locations.state_dir() / "switches" / f"{sw.lab}-{sw.name}.log"
                sw.pid = await network.start_switch(sw.ctl, switch_log, hub=sw.hub)
                self.switches[sw.key] = sw
                made_switches.append(sw)
            for gspec in lab.guests.values():
                existing = self.guests.get(gspec.umid)
                if existing and existing.alive:
                    continue
                booted.append(await self._boot(lab, gspec, kernel))
            await self._wait_booted(booted, timeout)
        except (OpError, LabError, network.NetworkError, RootfsError, CmdlineError, OSError) as exc:
            await self._rollback(booted, made_switches, made_taps, lab.netns if made_ns else None, record)
            kind = exc.kind if isinstance(exc, OpError) else ("lab" if isinstance(exc, LabError) else "boot")
            raise OpError(str(exc), kind) from None
        except BaseException:
            await self._rollback(booted, made_switches, made_taps, lab.netns if made_ns else None, record)
            raise
        self.save()
        return {
            "lab": lab.to_json(),
            "booted": [g.umid for g in booted],
            "guests": [self.guests[g.umid].to_json() for g in lab.guests.values()],
        }

    async def _wait_booted(self, guests: list[Guest], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(g.ready.wait() for g in guests))
        except TimeoutError:
            slow = [g.umid for g in guests if g.state == BOOTING]
            raise OpError(
                f"{', '.join(slow)} did not finish booting within {timeout:g}s; "
                f"last kernel output: {self._last_words(guests[0])}",
                "boot",
            ) from None
        failed = [g for g in guests if g.state not in (RUNNING, PAUSED)]
        if failed:
            g = failed[0]
            raise OpError(
                f"{g.umid} failed to boot: {g.reason or g.state}; last kernel output: {self._last_words(g)}", "boot"
            )
        # Consoles get their ptys when their gettys open them, just after "ready".
        consoles_deadline = min(deadline, loop.time() + CONSOLE_TIMEOUT)
        while loop.time() < consoles_deadline:
            if all(c.pts for g in guests if g.ready_word for n, c in g.consoles.items() if n != "con0"):
                break
            await asyncio.sleep(0.05)

    @staticmethod
    def _last_words(guest: Guest) -> str:
        text = guest._con0_tail(2000).decode(errors="replace").strip().splitlines()
        return " | ".join(text[-6:]) or "(none)"

    async def _rollback(
        self, guests: list[Guest], switches: list[Switch], taps: list[str], netns: str | None, record: LabRecord
    ) -> None:
        await asyncio.gather(*(self._halt(g, clean=False) for g in guests), return_exceptions=True)
        for g in guests:
            if g.state != CRASHED:
                self.guests.pop(g.umid, None)
        for sw in switches:
            await network.kill_switch(sw.pid, sw.ctl)
            self.switches.pop(sw.key, None)
        for tap in taps:
            await network.delete_tap(tap, record.netns)
            record.taps.pop(tap, None)
        if netns:
            with contextlib.suppress(network.NetworkError):
                await network.delete_netns(netns)
            record.netns_owned = False
        if not any(g.lab == record.name for g in self.guests.values()):
            self.labs.pop(record.name, None)
        self.save()

    async def _boot(self, lab: Lab, spec: GuestSpec, kernel: str) -> Guest:
        folder = locations.guest_dir(spec.umid)
        cmd = KernelCommandLine(
            umid=spec.umid,
            mem=spec.mem,
            uml_dir=self.uml_dir,
            notify_socket=locations.notify_dir() / f"{spec.umid}.sock",
            extra=list(spec.kernel_args),
        )
        ready_word: str | None = None
        if spec.root.kind == "busybox":
            root = await asyncio.get_running_loop().run_in_executor(None, prepare_guest_root, spec, folder / "root")
            cmd.hostfs_root, cmd.init, ready_word = root, "/sbin/init", READY_WORD
        else:
            assert spec.root.image is not None
            cmd.disks.append(Disk(0, spec.root.image, spec.root.cow))
            cmd.root_device = "/dev/ubda"
        cmd.disks += [Disk(d.index, d.image, d.cow, d.readonly) for d in spec.disks]
        nics = []
        for n in spec.nics:
            target = n.target
            if n.kind == "switch":
                target = str(self.switches[f"{lab.name}/{n.target}"].ctl)
            mac = n.mac or mac_for(spec.umid, n.name)
            cmd.nics.append(Nic(n.name, n.kind, target, mac, n.options))
            nics.append(
                {
                    "name": n.name,
                    "kind": n.kind,
                    "target": n.target,
                    "ip": n.ip,
                    "mac": mac,
                    "netns": lab.netns if n.kind == "tap" else None,
                }
            )
        argv = cmd.argv(kernel)
        if lab.netns:
            argv = [network.require_tool("ip", "iproute2"), "netns", "exec", lab.netns, *argv]
        info = {
            "nics": nics,
            "disks": [{"name": d.name, "image": str(d.image), "cow": str(d.cow) if d.cow else None} for d in cmd.disks],
            "netns": lab.netns,
            "mem": spec.mem,
            "argv": argv,
            "root": spec.root.kind,
        }
        old = self.guests.get(spec.umid)
        if old:
            old.close()
        guest = self._new_guest(
            umid=spec.umid,
            name=spec.name,
            lab=lab.name,
            folder=folder,
            notify_path=locations.notify_dir() / f"{spec.umid}.sock",
            console_count=spec.consoles,
            ready_word=ready_word,
            info=info,
        )
        self.guests[spec.umid] = guest
        con0 = guest.con0_log
        con0.parent.mkdir(parents=True, exist_ok=True)
        with open(con0, "ab") as f:
            f.write(f"\n=== umltui: booting {spec.umid} at {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            guest._con0_offset = f.tell()
        guest.open_notify()
        guest.pid = spawn_detached(argv, con0)
        guest.watch(guest.pid)
        self._changed(guest)
        return guest

    async def _halt(self, guest: Guest, *, clean: bool = True, timeout: float = 5.0) -> None:
        """Clean first (cad makes init power off), then mconsole halt, then kill, like vhalt/vcrash."""
        if not guest.alive:
            return
        guest.halting = True
        exited = asyncio.get_running_loop().create_task(self._wait_end(guest))
        steps: list[str] = []
        if clean and guest.ready_word and guest.state != BOOTING:
            steps.append("cad")
        steps.append("halt")
        for step in steps:
            with contextlib.suppress(MconsoleError):
                if guest.state == PAUSED:
                    await guest.mconsole.request("go")
                if step == "cad":
                    await guest.mconsole.request("cad")
                else:
                    await guest.mconsole.request_expecting_exit("halt", timeout=1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), timeout)
                return
        if guest.alive and process_matches(guest.pid, None, f"umid={guest.umid}"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(guest.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(exited, timeout)
        if guest.alive:  # it did not go: say so rather than pretend
            guest.set_state(CRASHED, "would not stop, even after SIGKILL")

    @staticmethod
    async def _wait_end(guest: Guest) -> None:
        while guest.alive:
            await asyncio.sleep(0.05)

    async def op_halt(self, client: Client, guests: list[str], force: bool = False) -> list[dict[str, Any]]:
        targets = [self.find_guest(ref) for ref in guests]
        await asyncio.gather(*(self._halt(g, clean=not force) for g in targets))
        return [g.to_json() for g in targets]

    async def op_down(
        self, client: Client, targets: list[str] | None = None, all: bool = False, clean: bool = False
    ) -> dict[str, Any]:
        labs: set[str] = set()
        guests: list[Guest] = []
        if all:
            guests = list(self.guests.values())
            labs = set(self.labs) | {g.lab for g in guests} | {s.lab for s in self.switches.values()}
        elif not targets:
            up = sorted({g.lab for g in self.guests.values()} | set(self.labs))
            if len(up) != 1:
                raise OpError(
                    "say which lab or guests to take down (labs up: " + (", ".join(up) or "none") + ")", "usage"
                )
            labs = set(up)
            guests = [g for g in self.guests.values() if g.lab in labs]
        else:
            for ref in targets:
                if ref in self.labs or any(g.lab == ref for g in self.guests.values()):
                    labs.add(ref)
                    guests += [g for g in self.guests.values() if g.lab == ref]
                else:
                    guests.append(self.find_guest(ref))
        await asyncio.gather(*(self._halt(g) for g in guests))
        for g in guests:
            g.close()
            self.guests.pop(g.umid, None)
            stale = self.uml_dir / g.umid
            if not g.alive and (stale / "pid").exists():  # a crashed guest's leftovers
                shutil.rmtree(stale, ignore_errors=True)
            if clean:
                shutil.rmtree(g.folder, ignore_errors=True)
        stopped_switches = []
        for lab in labs:
            if any(g.lab == lab for g in self.guests.values()):
                continue  # some of its guests are still listed: keep its network
            for key, sw in list(self.switches.items()):
                if sw.lab == lab:
                    await network.kill_switch(sw.pid, sw.ctl)
                    del self.switches[key]
                    stopped_switches.append(key)
            record = self.labs.pop(lab, None)
            if record:
                for tap in record.taps:
                    await network.delete_tap(tap, record.netns)
                if record.netns and record.netns_owned:
                    await network.delete_netns(record.netns)
        self.save()
        return {"guests": [g.umid for g in guests], "switches": stopped_switches, "labs": sorted(labs)}

    async def op_mconsole(self, client: Client, guest: str, command: str, stream: bool = False, id: Any = None) -> str:
        g = self.find_guest(guest)
        verb = command.split(None, 1)[0] if command.strip() else ""
        if not verb:
            raise OpError("an empty mconsole command", "usage")
        ends = verb in ("halt", "reboot") or (verb == "sysrq" and command.split()[-1] in ("b", "c", "o"))
        if ends:
            g.halting = verb == "halt" or command.split()[-1] == "o"
            answer = await g.mconsole.request_expecting_exit(command)
            return answer or f"{command}: sent (the guest does not answer this one)"
        if verb == "log" and not command.endswith("\n"):
            command += "\n"  # the kernel prints it without one, and holds an unfinished line back
        answer = await g.mconsole.request(command)
        if verb == "stop":
            g.set_state(PAUSED, "stopped through the mconsole")
        elif verb == "go" and g.state == PAUSED:
            g.set_state(RUNNING)
        elif verb in ("config", "remove"):
            self._note_device(g, command)
        return answer

    def _note_device(self, g: Guest, command: str) -> None:
        verb, _, arg = command.partition(" ")
        dev, eq, value = arg.strip().partition("=")
        if verb == "config" and not eq:
            return  # a query
        disks = [d for d in g.info.get("disks", []) if d["name"] != dev]
        nics = [n for n in g.info.get("nics", []) if n["name"] != dev]
        if verb == "config" and dev.startswith("ubd"):
            parts = value.split(",")
            disks.append({"name": dev, "image": parts[-1], "cow": parts[0] if len(parts) > 1 else None})
        elif verb == "config" and (dev.startswith("eth") or dev.startswith("vec")):
            nics.append(self._describe_nic(dev, value))
        g.info["disks"], g.info["nics"] = sorted(disks, key=lambda d: d["name"]), nics
        self._changed(g)

    def _describe_nic(self, dev: str, value: str) -> dict[str, Any]:
        parts = value.split(",")
        nic: dict[str, Any] = {"name": dev, "kind": parts[0], "target": value, "ip": None, "mac": None}
        if parts[0] == "daemon" and len(parts) >= 4:
            nic["mac"] = parts[1] or None
            for sw in self.switches.values():
                if str(sw.ctl) == parts[3]:
                    nic["kind"], nic["target"] = "switch", sw.name
        elif parts[0] == "tuntap" and len(parts) >= 2:
            nic["kind"], nic["target"] = "tap", parts[1]
        return nic

    async def op_net(self, client: Client) -> dict[str, Any]:
        switches = []
        for sw in self.switches.values():
            ports = [
                f"{g.umid}:{n['name']}"
                for g in self.guests.values()
                if g.lab == sw.lab
                for n in g.info.get("nics", [])
                if n.get("kind") == "switch" and n.get("target") == sw.name
            ]
            switches.append({**sw.to_json(), "ports": ports})
        taps = [
            {
                "name": tap,
                "ip": ip,
                "netns": rec.netns,
                "lab": rec.name,
                "ports": [
                    f"{g.umid}:{n['name']}"
                    for g in self.guests.values()
                    if g.lab == rec.name
                    for n in g.info.get("nics", [])
                    if n.get("kind") == "tap" and n.get("target") == tap
                ],
            }
            for rec in self.labs.values()
            for tap, ip in rec.taps.items()
        ]
        namespaces = [{"name": r.netns, "lab": r.name, "owned": r.netns_owned} for r in self.labs.values() if r.netns]
        nics = [{"guest": g.umid, "state": g.state, **n} for g in self.guests.values() for n in g.info.get("nics", [])]
        return {"switches": switches, "taps": taps, "namespaces": namespaces, "nics": nics}

    async def op_switch_add(self, client: Client, lab: str, name: str, hub: bool = False) -> dict[str, Any]:
        """A new switch (or hub) in a lab, made live: guests' NICs can be plugged into it."""
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,30}", name or ""):
            raise OpError(f"bad switch name {name!r}: lower-case letters, digits, - and _", "usage")
        if not any(g.lab == lab for g in self.guests.values()) and lab not in self.labs:
            raise OpError(f"no lab {lab!r} is up", "usage")
        key = f"{lab}/{name}"
        if key in self.switches and self.switches[key].alive:
            raise OpError(f"switch {key} exists already", "conflict")
        sw = Switch(lab, name, locations.switch_dir() / f"{lab}-{name}.ctl", hub)
        sw.pid = await network.start_switch(sw.ctl, locations.state_dir() / "switches" / f"{lab}-{name}.log", hub=hub)
        self.switches[key] = sw
        self.save()
        self._net_changed()
        return sw.to_json()

    async def op_switch_del(self, client: Client, lab: str, name: str) -> bool:
        key = f"{lab}/{name}"
        sw = self.switches.get(key)
        if sw is None:
            raise OpError(f"no switch {key}", "usage")
        users = [
            f"{g.umid}:{n['name']}"
            for g in self.guests.values()
            if g.lab == lab and g.alive
            for n in g.info.get("nics", [])
            if n.get("kind") == "switch" and n.get("target") == name
        ]
        if users:
            raise OpError(f"switch {key} still has NICs on it: {', '.join(users)} (unplug them first)", "conflict")
        await network.kill_switch(sw.pid, sw.ctl)
        del self.switches[key]
        self.save()
        self._net_changed()
        return True

    def _net_changed(self) -> None:
        for client in list(self.clients):
            if client.watching:
                client.send({"event": "net"})

    async def op_subscribe(
        self, client: Client, guest: str, console: str = "con1", history: bool = True
    ) -> dict[str, Any]:
        g = self.find_guest(guest)
        con = g.consoles.get(console)
        if con is None:
            raise OpError(f"{g.umid} has no {console} (it has {', '.join(g.consoles)})", "usage")
        umid = g.umid

        def send(name: str, data: bytes) -> None:
            client.send({"event": "output", "guest": umid, "console": name, "data": base64.b64encode(data).decode()})

        if history and con.scrollback:
            send(console, bytes(con.scrollback))
        con.subscribers.add(send)
        client.subscriptions.append((g, console, send))
        return {"guest": umid, "console": console, "pts": con.pts, "state": g.state}

    async def op_unsubscribe(self, client: Client, guest: str, console: str = "con1") -> bool:
        g = self.find_guest(guest)
        for entry in [s for s in client.subscriptions if s[0] is g and s[1] == console]:
            g.consoles[console].subscribers.discard(entry[2])
            client.subscriptions.remove(entry)
        return True


def run_supervisor() -> int:
    """Entry point of ``umltui supervisor``: one per user, guarded by a lock file."""
    locations.ensure_private(locations.runtime_dir())
    locations.state_dir().mkdir(parents=True, exist_ok=True)
    lock = open(locations.supervisor_lock(), "a+")  # noqa: SIM115 - held for the process's life
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


__all__ = ["Supervisor", "run_supervisor", "OpError", "MconsoleClient", "MconsoleUnreachable"]
