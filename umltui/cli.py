"""``umltui`` command line: every scriptable action, as a client of the supervisor.

Exit status: 0 done; 1 the guest or the system said no (its words are printed);
2 bad input (a malformed lab, an unknown guest, wrong arguments).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import termios
import threading
import tty
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from . import capturecli, imagecli, kernelcli, labcli, web
from .core.client import Client, SupervisorError, call
from .core.lab import LabError, load_lab
from .core.mconsole import SYSRQ, SYSRQ_DESTRUCTIVE
from .core.protocol import ALIVE_STATES, USER_ERROR_KINDS, GuestInfo, GuestState

DETACH_KEY = b"\x1d"  # ctrl+]
QUERIES = re.compile(rb"\x1b\[(?:[56]n|\??6n|>?0?c|18t)")  # DSR, DA, DA2, the text area size


def labs_dir() -> Path:
    """The bundled labs (the demos)."""
    return Path(str(resources.files("umltui") / "labs"))


def demo_lab_path(debian: bool = False) -> Path:
    return labs_dir() / ("demo-debian.yaml" if debian else "demo.yaml")


def _fail(exc: SupervisorError) -> int:
    lines = str(exc).splitlines() or [""]  # (a lab with several problems: one line each)
    print("\n".join(f"umltui: {line}" for line in lines), file=sys.stderr)
    if len(lines) > 1 and exc.kind == "lab":
        print(f"umltui: {len(lines)} problems; nothing was started", file=sys.stderr)
    return 2 if exc.kind in USER_ERROR_KINDS else 1


def consoles_text(consoles: Mapping[str, str | None], short: int = 0) -> str:
    """``con1=pts/4 con2=pts/5``; shorter for a narrow terminal: ``short=1``, runs of consoles on
    neighbouring ptys as one (``con1-6=pts/4-9``); ``short=2``, the consoles only (``con1-6``)."""
    pairs = [(k, v.rsplit("/dev/", 1)[-1]) for k, v in consoles.items() if v]  # (--json: paths)
    if not short:
        return " ".join(f"{k}={v}" for k, v in pairs)
    items: list[str | list[tuple[int, int]]] = []  # a word as it is, or a run of (con, pts) numbers
    for k, v in pairs:
        con, pts = k.removeprefix("con"), v.removeprefix("pts/")
        if not (k.startswith("con") and con.isdigit() and v.startswith("pts/") and pts.isdigit()):
            items.append(f"{k}={v}")
            continue
        here = (int(con), int(pts) if short == 1 else int(con))  # (consoles only: their ptys do not matter)
        last = items[-1] if items else None
        if isinstance(last, list) and last[-1] == (here[0] - 1, here[1] - 1):
            last.append(here)
        else:
            items.append([here])
    words = []
    for item in items:
        if isinstance(item, str):
            words.append(item)
        else:
            (c0, p0), (c1, p1) = item[0], item[-1]
            if short > 1:
                words.append(f"con{c0}" if len(item) == 1 else f"con{c0}-{c1}")
            else:
                words.append(f"con{c0}=pts/{p0}" if len(item) == 1 else f"con{c0}-{c1}=pts/{p0}-{p1}")
    return " ".join(words)


def _print_guests(guests: list[GuestInfo]) -> None:
    if not guests:
        print("no guests")
        return
    header = ["GUEST", "LAB", "STATE", "PID", "KERNEL", "NICS", "DISKS", "CONSOLES"]
    width = imagecli.terminal_width()
    for short in (0, 1, 2):  # the consoles shorter until a guest is a line that fits (or as short as they go)
        text = imagecli.table(_guest_rows(guests, short), header, width)
        lines = text.splitlines()
        if width is None or (len(lines) == len(guests) + 1 and max(map(len, lines)) <= width):
            break
    print(text)


def _guest_rows(guests: list[GuestInfo], short: int = 0) -> list[list[str]]:
    rows = []
    for g in guests:
        cons = consoles_text(g["consoles"], short)
        nics = " ".join(f"{n['name']}:{n.get('target')}" + (f"({n['ip']})" if n.get("ip") else "") for n in g["nics"])
        state = g["state"] + (f" ({g['reason']})" if g["state"] == GuestState.CRASHED and g.get("reason") else "")
        if g.get("startup_status"):
            state += f" (startup exited {g['startup_status']})"
        pid = str(g["pid"]) if g["pid"] and g["state"] in ALIVE_STATES else "-"  # a halted guest's pid is gone
        disks = " ".join(f"{d['name']}:{Path(d['image']).name}" for d in g.get("disks", []))
        kernel = g.get("kernel") or "-"
        rows.append([g["umid"], g["lab"] or "-", state, pid, kernel, nics or "-", disks or "-", cons or "-"])
    return rows


async def _up(lab: str, detach: bool, timeout: float) -> int:
    try:
        result = await call("up", lab=str(Path(lab).resolve()), boot_timeout=timeout, timeout=timeout + 30)
    except SupervisorError as exc:
        return _fail(exc)
    booted = set(result["booted"])
    for warning in result.get("warnings", []):
        print(f"umltui: warning: {warning}", file=sys.stderr)
    print(
        f"lab {result['lab']['name']}: "
        + ", ".join(f"{g['umid']} {'booted' if g['umid'] in booted else 'already running'}" for g in result["guests"])
    )
    for g in result["guests"]:
        if g["umid"] in booted and g.get("startup_status"):  # a warning: the guest is up, its startup failed
            print(
                f"umltui: warning: {g['umid']}: the lab's startup script exited with status {g['startup_status']}"
                " (its output: /var/log/startup.log in the guest)",
                file=sys.stderr,
            )
    if detach:
        _print_guests(result["guests"])
    return 0


def run_app(focus_guest: str | None = None) -> int:
    """Open the TUI on every guest the supervisor knows; guests outlive it."""
    in_browser = os.environ.get("TEXTUAL_DRIVER") == web.WEB_DRIVER  # a tab of `umltui web`
    if not in_browser and (not sys.stdin.isatty() or not sys.stdout.isatty()):
        print("umltui: the app needs a terminal; use --detach (or ls, console, mconsole) from scripts", file=sys.stderr)
        return 2
    from .app import make_app

    result = make_app(focus_guest=focus_guest).run()
    if in_browser:  # (stdout is the web driver's channel)
        return 0
    if result in (None, "detach"):
        print("detached: the guests keep running. Back with  umltui attach ; stop with  umltui down --all")
    elif result == "halted":
        print("every guest was halted")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    code = imagecli.ensure_lab_images(args.lab) or asyncio.run(_up(args.lab, args.detach, args.timeout))
    return code if code or args.detach else run_app()


def cmd_demo(args: argparse.Namespace) -> int:
    lab = str(demo_lab_path(debian=args.debian))
    code = imagecli.ensure_lab_images(lab) or asyncio.run(_up(lab, args.detach, args.timeout))
    return code if code or args.detach else run_app("demo-debian-a" if args.debian else "demo-a")


def cmd_attach(args: argparse.Namespace) -> int:
    return run_app(args.guest)


def _lab_name_of(target: str) -> str:
    """A target as ``up`` was given it (a lab file or folder) stands for its lab's name."""
    path = Path(target)
    if not path.exists():
        return target
    try:
        return load_lab(path).name
    except LabError:
        return target


def cmd_down(args: argparse.Namespace) -> int:
    if args.all and args.targets:
        print("umltui: give targets or --all, not both", file=sys.stderr)
        return 2
    targets = [_lab_name_of(t) for t in args.targets or []] or args.targets
    try:
        result = asyncio.run(call("down", targets=targets, all=args.all, clean=args.clean, timeout=120))
    except SupervisorError as exc:
        return _fail(exc)
    print(
        f"stopped: {', '.join(result['guests']) or 'no guests'}"
        + (f"; switches: {', '.join(result['switches'])}" if result["switches"] else "")
    )
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    try:
        guests = asyncio.run(call("ls"))
    except SupervisorError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(guests, indent=2))
    else:
        _print_guests(guests)
    return 0


def cmd_mconsole(args: argparse.Namespace) -> int:
    command = " ".join(args.words)
    words = command.split()
    if words[:1] == ["sysrq"] and len(words) == 2 and words[1] in SYSRQ_DESTRUCTIVE and not args.yes:
        # The panel asks first; so does the command line, at a terminal (a script is told, on stderr).
        warning = f"sysrq {words[1]}: {dict(SYSRQ)[words[1]]}"
        if sys.stdin.isatty():
            if input(f"{warning}. Send it to {args.guest}? [y/N] ").strip().lower() not in ("y", "yes"):
                print("not sent", file=sys.stderr)
                return 1
        else:
            print(f"umltui: warning: {warning} (sent; --yes says you meant it)", file=sys.stderr)
    try:
        answer = asyncio.run(call("mconsole", guest=args.guest, command=command, timeout=60))
    except SupervisorError as exc:
        if exc.kind == "guest":
            print(f"{args.guest}: {exc}", file=sys.stderr)
            return 1
        return _fail(exc)
    if answer.strip():  # (go answers nothing: no blank line for it)
        print(answer.rstrip("\n"))
    return 0


def cmd_halt(args: argparse.Namespace) -> int:
    try:
        result = asyncio.run(call("halt", guests=args.guests, force=args.force, timeout=60))
    except SupervisorError as exc:
        return _fail(exc)
    for g in result:
        print(f"{g['umid']}: {g['state']}")
    return 0 if all(g["state"] == GuestState.HALTED for g in result) else 1


def cmd_net(args: argparse.Namespace) -> int:
    try:
        net = asyncio.run(call("net"))
    except SupervisorError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(net, indent=2))
        return 0
    ips = {f"{n['guest']}:{n['name']}": n.get("ip") or "" for n in net["nics"]}

    def branches(ports: list[str]) -> None:
        for i, port in enumerate(ports or ["(no NICs)"]):
            print(
                f"  {'└' if i == len(ports) - 1 or not ports else '├'} {port}"
                + (f"  {ips[port]}" if ips.get(port) else "")
            )

    for sw in net["switches"]:
        kind = "hub" if sw["hub"] else "learning switch" if sw.get("learning") else "switch"
        status = "" if sw["alive"] else "  (not running)"
        if sw.get("capture"):
            status += f"  (rolling capture: {sw.get('capture', 0) >> 10} KiB kept)"
        print(f"{kind} {sw['lab']}/{sw['name']}  {sw['ctl']}{status}")
        branches(sw["ports"])
    for tap in net["taps"]:
        where = f"netns {tap['netns']}" if tap["netns"] else "host namespace"
        print(f"tap {tap['name']} in {where}" + (f"  {tap['ip']}" if tap["ip"] else ""))
        branches(tap["ports"])
    if not net["switches"] and not net["taps"]:
        print("no switches or taps")
    for nic in net["nics"]:
        if nic["state"] in (GuestState.HALTED, GuestState.CRASHED):
            print(f"{nic['guest']}:{nic['name']}  on no segment ({nic['guest']} is {nic['state']})")
        elif nic["kind"] not in ("switch", "hub", "tap"):
            print(f"{nic['kind']} {nic['guest']}:{nic['name']}  {nic['target']}")
    return 0


def cmd_plug(args: argparse.Namespace) -> int:
    try:
        nic = asyncio.run(call("plug", guest=args.guest, nic=args.nic, switch=args.switch, ip=args.ip, timeout=30))
    except SupervisorError as exc:
        if exc.kind == "guest":
            print(f"umltui: {exc}", file=sys.stderr)
            return 1
        return _fail(exc)
    print(f"{args.guest}:{nic['name']} on {args.switch}  mac {nic['mac']}" + (f"  {nic['ip']}" if nic["ip"] else ""))
    return 0


def cmd_unplug(args: argparse.Namespace) -> int:
    try:
        asyncio.run(call("unplug", guest=args.guest, nic=args.nic, timeout=30))
    except SupervisorError as exc:
        return _fail(exc)
    print(f"{args.guest}:{args.nic} unplugged")
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    return asyncio.run(_console(args.guest, args.console, history=not args.no_history, linger=args.linger))


async def _console(guest: str, console: str, *, history: bool, linger: float) -> int:
    out = sys.stdout.buffer
    done = asyncio.Event()
    replay: list[bytes] | None = []  # the scrollback, held until the banner is out
    to_terminal = sys.stdout.isatty()

    def write(data: bytes, *, replayed: bool) -> None:
        # The guest's queries (cursor position, attributes, size) are for a terminal to
        # answer: a terminal would answer a replayed one into the guest as if typed, and a
        # pipe or file only gets escape codes nobody reads. So those are left out.
        if replayed or not to_terminal:
            data = QUERIES.sub(b"", data)
        out.write(data)
        out.flush()

    def on_output(_guest: str, _con: str, data: bytes) -> None:  # (the one console subscribed to)
        if replay is not None:
            replay.append(data)
        else:
            write(data, replayed=False)

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("event") == "error":
            print(f"\r\numltui: {msg['error']}\r", file=sys.stderr)

    try:
        client = await Client(on_event, on_output=on_output).connect()
        info = await client.subscribe(guest, console, history=history, timeout=30)
    except SupervisorError as exc:
        return _fail(exc)
    umid = info["guest"]
    if info["state"] != GuestState.RUNNING:
        said = {
            GuestState.PAUSED: f"{umid} is paused: it prints and reads nothing until `umltui mconsole {umid} go`",
            GuestState.HALTED: f"{umid} is halted: this is its last output; `umltui up` boots it again",
            GuestState.CRASHED: f"{umid} crashed: this is its last output",
        }.get(info["state"], f"{umid} is {info['state']}")
        print(f"[umltui: {said}]", file=sys.stderr, flush=True)
    interactive = sys.stdin.isatty()
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if interactive else None
    if interactive:
        print(f"[umltui: {umid} {console} — detach with ctrl+]]", file=sys.stderr, flush=True)
        tty.setraw(fd)
    held, replay = replay or [], None
    write(b"".join(held), replayed=True)
    if interactive:

        def send_size() -> None:  # at once, and on every resize of this terminal, as tmux does
            with contextlib.suppress(OSError):
                size = os.get_terminal_size(fd)
                client.send_resize(umid, console, size.columns, size.lines)

        send_size()
        loop.add_signal_handler(signal.SIGWINCH, send_size)

    def take(data: bytes) -> None:
        if not data:
            loop.call_later(linger, done.set)
            return
        if interactive and DETACH_KEY in data:
            data = data.split(DETACH_KEY, 1)[0]
            if data:
                client.send_input(umid, console, data)
            done.set()
            return
        client.send_input(umid, console, data)

    def on_stdin() -> None:
        data = os.read(fd, 4096)
        if not data:
            loop.remove_reader(fd)
        take(data)

    def read_in_thread() -> None:  # a file, /dev/null: not something the event loop can wait on
        while data := os.read(fd, 65536):
            loop.call_soon_threadsafe(take, data)
        loop.call_soon_threadsafe(take, b"")

    try:
        loop.add_reader(fd, on_stdin)
    except PermissionError:
        threading.Thread(target=read_in_thread, name="stdin", daemon=True).start()
    closed = loop.create_task(client.closed.wait())
    try:
        await asyncio.wait([loop.create_task(done.wait()), closed], return_when=asyncio.FIRST_COMPLETED)
    finally:
        with contextlib.suppress(ValueError):
            loop.remove_reader(fd)
        if saved is not None:
            loop.remove_signal_handler(signal.SIGWINCH)
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            print(f"\r\n[umltui: detached from {umid} {console}]", file=sys.stderr)
        await client.close()
    return 0 if not closed.done() or done.is_set() else 1


def cmd_supervisor(args: argparse.Namespace) -> int:
    if args.stop:
        try:
            print(asyncio.run(call("shutdown", halt=args.halt_all)))
        except SupervisorError as exc:
            return _fail(exc)
        return 0
    from .core.supervisor import run_supervisor

    return run_supervisor()


def cmd_keeper(args: argparse.Namespace) -> int:
    from .core.keeper.server import run_keeper

    return run_keeper()


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="umltui", description="User Mode Linux guests, consoles and networks.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("up", help="boot a lab's guests, switches and taps")
    s.add_argument("lab", help="the lab file (YAML), or a Netkit or Kathará lab folder (with lab.conf)")
    s.add_argument("--detach", "-d", action="store_true", help="boot and return; guests keep running")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every guest to boot")
    s.set_defaults(func=cmd_up)

    s = sub.add_parser("demo", help="boot the bundled two-guest demo lab")
    s.add_argument("--detach", "-d", action="store_true", help="boot and return; guests keep running")
    s.add_argument("--debian", action="store_true", help="Debian guests (systemd) instead of busybox")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every guest to boot")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("attach", help="open the app on every running guest (like screen -r)")
    s.add_argument("guest", nargs="?", help="the guest to show first")
    s.set_defaults(func=cmd_attach)

    s = sub.add_parser("down", help="halt guests and remove their lab's switches, taps and namespace")
    s.add_argument("targets", nargs="*", metavar="LAB|GUEST")
    s.add_argument("--all", action="store_true", help="every guest, switch and namespace")
    s.add_argument("--clean", action="store_true", help="also delete the guests' root folders and logs")
    s.set_defaults(func=cmd_down)

    s = sub.add_parser("ls", help="list guests")
    s.add_argument("--json", action="store_true", help="every field, as JSON (console paths in full)")
    s.set_defaults(func=cmd_ls)

    s = sub.add_parser("mconsole", help="send a management console command and print the answer")
    s.add_argument("--yes", "-y", action="store_true", help="send a destructive sysrq without asking")
    s.add_argument("guest")
    s.add_argument(
        "words", nargs=argparse.REMAINDER, metavar="COMMAND", help="e.g. sysrq m, config ubd1=disk.img, proc meminfo"
    )
    s.set_defaults(func=cmd_mconsole)

    s = sub.add_parser("halt", help="halt guests (clean first, then mconsole halt, then kill)")
    s.add_argument("guests", nargs="+")
    s.add_argument("--force", action="store_true", help="skip the clean power-off")
    s.set_defaults(func=cmd_halt)

    s = sub.add_parser("net", help="switches, taps and which NIC is where")
    s.add_argument("--json", action="store_true", help="every field, as JSON")
    s.set_defaults(func=cmd_net)

    s = sub.add_parser("plug", help="plug a new NIC of a running guest into a switch, live")
    s.add_argument("guest")
    s.add_argument("nic", help="ethN")
    s.add_argument("switch", help="a switch or hub of the guest's lab")
    s.add_argument("--ip", help="the address the guest gives it, e.g. 10.0.0.5/24")
    s.set_defaults(func=cmd_plug)

    s = sub.add_parser("unplug", help="take a NIC out of a running guest")
    s.add_argument("guest")
    s.add_argument("nic")
    s.set_defaults(func=cmd_unplug)

    s = sub.add_parser("console", help="attach this terminal to one console (detach: ctrl+])")
    s.add_argument("guest")
    s.add_argument("console", nargs="?", default="con1")
    s.add_argument("--no-history", action="store_true", help="do not replay the scrollback first")
    s.add_argument(
        "--linger", type=float, default=1.0, help="when stdin is not a terminal: seconds to keep printing after it ends"
    )
    s.set_defaults(func=cmd_console)

    s = sub.add_parser("supervisor", help="the per-user daemon, started on demand: --stop stops it")
    s.add_argument("--stop", action="store_true", help="stop the running supervisor; guests keep running")
    s.add_argument("--halt-all", action="store_true", help="with --stop: halt every guest first")
    s.set_defaults(func=cmd_supervisor)

    imagecli.add_parser(sub)
    kernelcli.add_parser(sub)
    capturecli.add_parser(sub)
    labcli.add_parser(sub)
    web.add_parser(sub)

    # Internal: the supervisor starts it. No help= keeps it out of the command list; it still runs.
    s = sub.add_parser("keeper", description="Hold the console ptys across supervisor restarts (started on demand).")
    s.set_defaults(func=cmd_keeper)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # a capture's filter words may come after its options (capture lab/sw0 -c 5 icmp)
        if args.command != "capture" or any(word.startswith("-") for word in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.filter += extra
    if args.command == "mconsole" and not args.words:
        parser.error("mconsole needs a command, e.g. umltui mconsole GUEST version")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `umltui ls | head -1`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 128 + signal.SIGPIPE
