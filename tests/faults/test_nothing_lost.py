"""Faults that must lose nothing, made for real: a full disk, a flooding console, the
supervisor SIGKILLed at the worst moments, a guest and a switch killed with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import Env, requires_uml
from helpers import Console, until

from umltui.core.mconsole import MconsoleClient, MconsoleError
from umltui.core.process import is_alive, session_processes
from umltui.locations import guest_box

pytestmark = requires_uml

ONE = """
name: one
guests:
  a: {}
"""


def up(env: Env, text: str = ONE, name: str = "one") -> None:
    env.run("up", "--detach", str(env.write_lab(name, text)), check=True, timeout=120)


def kill_supervisor(env: Env) -> None:
    pid = env.supervisor_pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 5
    while is_alive(pid) and time.time() < deadline:
        time.sleep(0.02)


def numbers(data: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"^n(\d+)\r?$", data, re.M)]


FLOOD = (
    "trap 'echo HUP >> /root/hup' HUP; i=0; while [ $i -lt {n} ]; do echo n$i; i=$((i+1)); done; echo FLOOD''-DONE\n"
)


def start_flood(guest: str, n: int) -> None:
    """Type the numbered flood into con2's shell, once the shell is there (a getty drops typed-ahead keys)."""

    async def typed() -> None:
        async with Console(guest, "con2") as con:
            await con.ready()
            con.type(FLOOD.format(n=n))
            await con.expect(rb"n1\r\n", timeout=15)

    asyncio.run(typed())


def test_supervisor_sigkilled_three_times_mid_flood_loses_no_byte_and_hangs_up_nothing(env: Env) -> None:
    up(env)
    n = 20000
    start_flood("one-a", n)
    for _ in range(3):
        time.sleep(0.6)
        kill_supervisor(env)
        env.run("ls", check=True)  # a new supervisor adopts the guest and takes the stream back
    log = Path(env.guest("one-a")["logs"]["con2"])
    deadline = time.time() + 60
    while b"FLOOD-DONE" not in log.read_bytes() and time.time() < deadline:
        time.sleep(0.2)
    got = numbers(log.read_bytes())
    assert got == list(range(n)), f"{len(got)} lines; missing {sorted(set(range(n)) - set(got))[:5]}"
    root = Path(env.vars["UMLTUI_STATE_DIR"], "guests", "one-a", "root")
    assert not (root / "root" / "hup").exists()  # the flooding shell never saw SIGHUP
    history = env.run("console", "one-a", "con2", "--linger", "0.5", input="").stdout.encode()
    seen = numbers(history)
    assert seen and seen == list(range(seen[0], n))  # the scrollback: no gap, nothing twice


def test_full_disk_keeps_consoles_live_saves_state_later_and_says_where_the_log_has_a_gap(
    env: Env, tmpfs: object
) -> None:
    state = Path(env.vars["UMLTUI_STATE_DIR"])
    tmpfs(state, "24m")  # type: ignore[operator]
    up(env)
    filler = state / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=64"], capture_output=True)
    assert os.statvfs(state).f_bavail == 0

    async def typed_while_full() -> str:
        async with Console("one-a") as con:
            # More than the log file's last page can still take: a write must fail.
            return await (await con.ready()).run("seq 1 5000; echo disk-is-full", "FULL-SEEN", timeout=30)

    seen = asyncio.run(typed_while_full())
    assert "disk-is-full" in seen and "\n5000\r" in seen  # the client still gets every byte
    env.run("mconsole", "one-a", "stop", check=True)  # a change whose save fails
    kill_supervisor(env)
    assert env.run("ls").returncode == 0  # a new supervisor starts and adopts on a full disk
    assert env.guest("one-a")["state"] == "paused"  # recognised from the guest itself
    env.run("mconsole", "one-a", "go", check=True)
    filler.unlink()

    async def typed_after() -> None:
        async with Console("one-a") as con:  # (its shell is up; the prompt was not logged: the disk was full)
            await con.run("echo room-again", "ROOM-SEEN")

    asyncio.run(typed_after())
    log = Path(env.guest("one-a")["logs"]["con1"]).read_bytes()
    assert re.search(rb"\[umltui: \d+ bytes not logged here: No space left on device\]", log)
    assert b"room-again" in log
    assert env.run("down", "--all").returncode == 0


def test_flooding_console_log_is_capped_and_rotated_keeping_the_newest(env: Env) -> None:
    env.vars["UMLTUI_LOG_MAX"] = "64K"
    up(env)

    async def bursts() -> None:  # ~11 KB at a time, each waited for: 110 KB in all
        async with Console("one-a", "con2") as con:
            await con.ready()
            for b in range(10):
                await con.run(f"seq {b * 2000} {b * 2000 + 1999} | sed s/^/n/", f"BURST{b}-DONE", timeout=30)

    asyncio.run(bursts())
    log = Path(env.guest("one-a")["logs"]["con2"])
    rotated = log.with_name(log.name + ".1")
    files = sorted(p.name + f"={p.stat().st_size}" for p in log.parent.iterdir())
    assert rotated.exists() and log.stat().st_size <= 64 << 10 and rotated.stat().st_size <= 64 << 10, files
    both = numbers(rotated.read_bytes() + log.read_bytes())
    assert both[-1] == 19999 and both == list(range(both[0], 20000)), files  # the newest, contiguous
    assert both[0] > 0  # and the oldest are gone: capped


def test_stop_and_go_acknowledged_survive_a_sigkill_right_after(env: Env) -> None:
    up(env)
    env.run("mconsole", "one-a", "stop", check=True)
    kill_supervisor(env)
    assert env.guest("one-a")["state"] == "paused"
    env.run("mconsole", "one-a", "go", check=True)
    kill_supervisor(env)
    assert env.guest("one-a")["state"] == "running"
    assert "up" in env.run("console", "one-a", "--no-history", "--linger", "1", input="uptime\n").stdout


def test_a_guest_paused_while_no_supervisor_ran_is_shown_paused(env: Env) -> None:
    up(env)
    mconsole = env.guest("one-a")  # where its socket is
    kill_supervisor(env)

    async def pause() -> None:
        box = guest_box(mconsole["umid"])
        client = MconsoleClient(str(box / mconsole["umid"] / "mconsole"), sock_dir=str(box))
        await client.request("stop")
        with pytest.raises(MconsoleError, match="Already stopped"):
            await client.request("stop")

    asyncio.run(pause())  # the state file still says running
    assert env.guest("one-a")["state"] == "paused"
    env.run("mconsole", "one-a", "go", check=True)


def test_a_switch_orphaned_by_a_dead_supervisor_is_stopped_at_adoption(env: Env) -> None:
    up(env, "name: sw\nswitches: {lan0: {}}\nguests: {a: {nics: {eth0: {switch: lan0}}}}\n", "sw")
    kill_supervisor(env)
    stray_ctl = Path(env.vars["UMLTUI_RUNTIME_DIR"], "switches", "sw", "stray")
    stray = subprocess.Popen(["vde_plug", "null://", f"hub://{stray_ctl}"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        time.sleep(0.3)
        env.run("ls", check=True)
        assert stray.wait(timeout=5) is not None  # no lab names it: stopped
        assert [s["name"] for s in env.run_json("net")["switches"]] == ["lan0"]
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


def test_guest_killed_with_sigkill_leaves_no_process_behind(env: Env) -> None:
    up(env)
    g = env.guest("one-a")
    helpers = session_processes(g["pid"])  # its helpers and its processes' host processes
    assert len(helpers) > 1
    os.kill(g["pid"], signal.SIGKILL)

    async def crashed() -> None:
        await until(lambda: env.guest("one-a")["state"] == "crashed", "the crash noticed", timeout=20)
        await until(lambda: not [p for p in helpers if is_alive(p)], "no leftovers", timeout=10)

    asyncio.run(crashed())
    assert "SIGKILL" in env.guest("one-a")["reason"]


TWO = """
name: sw
switches: {lan0: {}}
guests:
  a: {nics: {eth0: {switch: lan0, ip: 10.0.0.1/24}}}
  b: {nics: {eth0: {switch: lan0, ip: 10.0.0.2/24}}}
"""


def test_switch_killed_with_sigkill_is_shown_dead_reaped_and_started_again_by_up_with_its_nics(env: Env) -> None:
    lab = env.write_lab("sw", TWO)
    env.run("up", "--detach", str(lab), check=True, timeout=120)
    sw = env.run_json("net")["switches"][0]
    os.kill(sw["pid"], signal.SIGKILL)

    async def dead() -> None:
        await until(lambda: not env.run_json("net")["switches"][0]["alive"], "the switch shown dead", timeout=10)
        await until(lambda: not Path(f"/proc/{sw['pid']}").exists(), "the switch reaped (no zombie)", timeout=10)

    asyncio.run(dead())
    proc = env.run("up", "--detach", str(lab), check=True, timeout=120)
    assert "warning" not in proc.stderr, proc.stderr
    again = env.run_json("net")["switches"][0]
    assert again["alive"] and again["pid"] != sw["pid"]

    async def ping() -> str:
        async with Console("sw-a") as con:
            return await (await con.ready()).run("ping -c 2 -W 3 10.0.0.2", "PING-DONE", timeout=20)

    assert "2 packets received" in asyncio.run(ping())  # the guests' NICs were plugged into the new one


def test_keeper_killed_is_replaced_and_the_consoles_go_on(env: Env) -> None:
    up(env)
    from umltui.core.keeper.client import KeeperClient

    answer = KeeperClient()._call({"op": "ping"})
    assert answer is not None
    os.kill(cast(dict[str, Any], answer[0])["pid"], signal.SIGKILL)

    async def typed() -> str:
        async with Console("one-a") as con:
            return await (await con.ready()).run("echo after-the-keeper", "KEEPER-GONE", timeout=30)

    assert "after-the-keeper" in asyncio.run(typed())  # no hangup: the supervisor held its own fd
    log = Path(env.guest("one-a")["logs"]["con1"])
    assert b"after-the-keeper" in log.read_bytes()  # and it is logged again (by the new keeper)
    assert KeeperClient().alive()


def paste_text(lines: int, tag: str) -> tuple[str, str]:
    """A paste of shell lines that append numbered lines to a file; and that file's md5."""
    import hashlib

    body = "".join(f"echo {tag}{i:05d} {'z' * 40} >>/tmp/{tag}\r" for i in range(lines))
    want = "".join(f"{tag}{i:05d} {'z' * 40}\n" for i in range(lines))
    return body, hashlib.md5(want.encode()).hexdigest()


def test_a_64k_paste_through_the_cli_arrives_whole_and_the_console_still_hears(env: Env) -> None:
    """A 6 KB paste deafened a console for good: the guest's tty throttled its line, and UML's
    line_throttle takes the pty out of its epoll set and never puts it back."""
    up(env)
    body, md5 = paste_text(1200, "p")  # 79 KB
    assert len(body) > 64 << 10

    async def prompt() -> None:
        async with Console("one-a", "con3") as con:
            await con.ready()

    asyncio.run(prompt())
    env.run("console", "one-a", "con3", "--no-history", "--linger", "1", input=body, check=True)

    async def check() -> str:
        async with Console("one-a", "con3") as con:
            log = Path(env.guest("one-a")["logs"]["con3"])
            await until(lambda: b"p01199 zzz" in log.read_bytes(), "the paste's last line run", timeout=120)
            return await con.run("md5sum /tmp/p; wc -l < /tmp/p", "PASTE-CHECKED", timeout=20)

    seen = asyncio.run(check())  # old code: the console heard nothing any more
    assert md5 in seen and "1200" in seen


def test_a_paste_of_commands_that_print_leaves_the_console_hearing(env: Env) -> None:
    """A new user's 1000 lines of ``echo x...`` (66 KB) deafened a console: each command's
    output was taken for the guest having read what was pasted, and input piled up unread."""
    up(env)
    body = "".join(f"echo {i:04d}{'x' * 60}\r" for i in range(1000))
    assert len(body) > 64 << 10

    async def prompt() -> None:
        async with Console("one-a", "con3") as con:
            await con.ready()

    asyncio.run(prompt())
    env.run("console", "one-a", "con3", "--no-history", "--linger", "1", input=body, check=True)

    async def check() -> str:
        async with Console("one-a", "con3") as con:
            log = Path(env.guest("one-a")["logs"]["con3"])
            await until(lambda: b"\n0999" + b"x" * 60 in log.read_bytes(), "the paste's last line run", timeout=180)
            return await con.run("echo ALIVE-$((6*7))", "PASTE-CHECKED", timeout=20)

    assert "ALIVE-42" in asyncio.run(check())  # old code: the console heard nothing any more


def test_a_keeper_paused_mid_flood_is_waited_for_never_replaced_and_nothing_is_scrambled(env: Env) -> None:
    """A keeper stopped for longer than the supervisor's call timeout was taken for dead: the
    supervisor read every pty beside it, for good, and con2.log came out of order."""
    from umltui.core.keeper.client import KeeperClient

    up(env)
    keeper = KeeperClient()._call({"op": "ping"})
    assert keeper is not None
    pid = cast(dict[str, Any], keeper[0])["pid"]
    n = 30000
    start_flood("one-a", n)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(7)  # past a keeper check (every 5 s) and the call timeout (1 s)
        env.run("ls", check=True)
    finally:
        os.kill(pid, signal.SIGCONT)
    log = Path(env.guest("one-a")["logs"]["con2"])
    deadline = time.time() + 90
    while b"FLOOD-DONE" not in log.read_bytes() and time.time() < deadline:
        time.sleep(0.2)
    got = numbers(log.read_bytes())
    assert got == list(range(n)), f"{len(got)} lines; first wrong at {next(i for i, v in enumerate(got) if v != i)}"
    answer = KeeperClient()._call({"op": "ping"})
    assert answer is not None and cast(dict[str, Any], answer[0])["pid"] == pid  # the same keeper, never replaced
    assert cast(dict[str, Any], answer[0])["held"] >= 6
    supervisor_log = Path(env.vars["UMLTUI_STATE_DIR"], "supervisor.log").read_text()
    assert "reads the console itself" not in supervisor_log
    history = env.run("console", "one-a", "con2", "--linger", "0.5", input="").stdout.encode()
    seen = numbers(history)
    assert seen and seen == list(range(seen[0], n))  # the scrollback: in order, no gap


CAPTURED = """
name: cap
switches: {lan0: {capture: 1M}}
guests:
  a: {nics: {eth0: {switch: lan0, ip: 10.0.0.1/24}}}
  b: {nics: {eth0: {switch: lan0, ip: 10.0.0.2/24}}}
"""


def test_a_rolling_capture_goes_on_after_a_full_disk_says_so_and_keeps_its_file_whole(env: Env, tmpfs: object) -> None:
    """After a brief ENOSPC the capture kept nothing more, for good, and left half a record."""
    from umltui.core.client import Client

    state = Path(env.vars["UMLTUI_STATE_DIR"])
    tmpfs(state, "16m")  # type: ignore[operator]
    up(env, CAPTURED, "cap")
    saved = state / "captures" / "cap-lan0.pcap"

    async def run() -> None:
        told: list[str] = []
        client = Client(lambda msg: told.append(str(msg.get("error"))) if msg.get("event") == "error" else None)
        await client.connect()
        try:
            async with Console("cap-a") as con:
                await (await con.ready()).run("(ping -i 0.1 10.0.0.2 >/dev/null 2>&1 &)", "PING-STARTED")
            await until(lambda: saved.exists() and saved.stat().st_size > 4096, "frames kept", timeout=20)
            filler = state / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=64"], capture_output=True)
            await until(lambda: any("keeps no frames" in t for t in told), "clients told", timeout=20)
            await asyncio.sleep(1.0)
            filler.unlink()
            size = saved.stat().st_size
            await until(lambda: any("keeps frames again" in t for t in told), "told it goes on", timeout=20)
            await until(lambda: saved.stat().st_size > size + 1000, "frames kept again", timeout=20)
        finally:
            await client.close()

    asyncio.run(run())
    kill_supervisor(env)
    with open(saved, "ab") as f:  # as if the kill had come in the middle of a record
        f.write(b"\x01" * 40)
    env.run("ls", check=True)  # a new supervisor takes the capture up again

    async def grows() -> None:
        size = saved.stat().st_size
        await until(lambda: saved.stat().st_size > size + 1000, "frames kept by the new supervisor", timeout=20)

    asyncio.run(grows())
    out = subprocess.run(["tcpdump", "-r", str(saved), "-n"], capture_output=True, text=True, timeout=30)
    assert "truncated" not in out.stderr and "invalid" not in out.stderr, out.stderr[-500:]
    assert "ICMP echo request" in out.stdout


def test_a_guest_whose_start_fails_after_it_was_registered_is_rolled_back(env: Env) -> None:
    """A failure after the supervisor knew the guest (its socket, its process: EAGAIN under a
    pids limit) left a ghost ``booting`` with pid 0, which kept the supervisor busy for good."""
    in_the_way = guest_box("one-a") / "notify.sock" / "x"  # where the guest's notify socket goes
    in_the_way.mkdir(parents=True)
    proc = env.run("up", "--detach", str(env.write_lab("one", ONE)))
    assert proc.returncode != 0, proc.stdout
    assert env.ls() == []  # no ghost
    subprocess.run(["rm", "-rf", str(in_the_way.parent)], check=True)
    up(env)  # and the guest boots once the way is clear
    assert env.guest("one-a")["state"] == "running"


MANY = "name: many\nguests:\n" + "".join(f"  g{i}: {{}}\n" for i in range(1, 5))


@pytest.fixture
def pids_cgroup(env: Env) -> Iterator[Path]:
    """A pids cgroup (v1) of the test's own; emptied into the root one and removed afterwards."""
    root = Path("/sys/fs/cgroup/pids")
    if os.geteuid() != 0 or not (root / "cgroup.procs").exists():
        pytest.skip("needs root and the cgroup v1 pids controller")
    group = root / f"umt-{env.root.name}"
    group.mkdir()
    try:
        yield group
    finally:
        (group / "pids.max").write_text("max")
        env.cleanup()
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                (root / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            group.rmdir()


def test_an_up_that_fails_under_a_pids_limit_leaves_no_guest_and_the_supervisor_idle(
    env: Env, pids_cgroup: Path
) -> None:
    """Under a pids limit the guests panicked or could not clone; the failed up left them
    all listed (crashed), and a ghost kept the supervisor from ever idling."""
    enter = f'echo $$ > {pids_cgroup}/cgroup.procs; exec "$@"'
    argv = ["sh", "-c", enter, "sh", sys.executable, "-m", "umltui"]
    subprocess.run([*argv, "ls"], env={**os.environ, **env.vars}, check=True, capture_output=True, timeout=60)
    now = int((pids_cgroup / "pids.current").read_text())
    (pids_cgroup / "pids.max").write_text(str(now + 5))  # the supervisor and keeper, and a few more
    proc = subprocess.run([*argv, "up", "--detach", str(env.write_lab("many", MANY))], env={**os.environ, **env.vars},
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    (pids_cgroup / "pids.max").write_text("max")
    assert proc.returncode != 0, proc.stdout
    assert env.ls() == [], env.ls()  # every guest it registered rolled back
    down = env.run("down", "--all")
    assert down.returncode == 0 and "would not stop" not in down.stdout + down.stderr


async def test_the_app_reconnects_to_a_new_supervisor_by_itself_says_so_and_misses_nothing(env: Env) -> None:
    """The app said "not connected to the supervisor" until it was detached and attached again."""
    from umltui.app import make_app
    from umltui.config import Config

    up(env)
    app = make_app(Config(), focus_guest="one-a")
    said: list[str] = []
    notify = app.notify

    def record(message: str, **kw: object) -> None:
        said.append(str(message))
        notify(message, **kw)  # type: ignore[arg-type]

    app.notify = record  # type: ignore[method-assign]
    async with app.run_test(size=(160, 48)) as pilot:

        def shown() -> str:
            pane = app.area.current
            return "\n".join(pane.screen_text()) if pane else ""

        await until(lambda: app.area.current is not None, "the first console pane")
        pane = app.area.current
        assert pane is not None
        pane.send(b"\r")
        await until(lambda: "a:/root#" in shown(), "a prompt", extra=shown)
        pane.send(b"sleep 2; echo GAP''-LINE\r")  # printed while no supervisor runs
        await pilot.pause(0.3)
        old = env.supervisor_pid()
        kill_supervisor(env)
        await until(lambda: any("reconnected" in s for s in said), "the app reconnected", timeout=30,
                    extra=lambda: "\n".join(said))  # fmt: skip
        assert env.supervisor_pid() not in (None, old)
        await until(lambda: "GAP-LINE" in shown(), "what was printed meanwhile", timeout=15, extra=shown)
        pane.send(b"echo AFTER''-RECONNECT\r")
        await until(lambda: "AFTER-RECONNECT" in shown(), "keys and output again", timeout=15, extra=shown)
        assert any("went away" in s for s in said)


def test_supervisor_and_keeper_killed_together_mid_flood_hang_up_nothing_and_lose_nothing(env: Env) -> None:
    """Both killed at once (kill -9 of the two, the OOM killer): every console hung up (sleep
    7777 died, gettys respawned) and part of a flood was lost from the log and the client."""
    from umltui.core.keeper.client import KeeperClient

    up(env)

    async def sleeper() -> None:
        async with Console("one-a", "con3") as con:
            await con.ready()
            con.type("sleep 7777\n")
            await asyncio.sleep(0.3)

    asyncio.run(sleeper())
    n = 20000
    start_flood("one-a", n)
    for _ in range(2):
        time.sleep(0.5)
        answer = KeeperClient()._call({"op": "ping"})
        assert answer is not None
        keeper, supervisor = cast(dict[str, Any], answer[0])["pid"], env.supervisor_pid()
        assert supervisor
        os.kill(keeper, signal.SIGKILL)
        os.kill(supervisor, signal.SIGKILL)
        deadline = time.time() + 5
        while (is_alive(keeper) or is_alive(supervisor)) and time.time() < deadline:
            time.sleep(0.02)
        env.run("ls", check=True)  # a new supervisor, a new keeper: the ptys are read again
    log = Path(env.guest("one-a")["logs"]["con2"])
    deadline = time.time() + 60
    while b"FLOOD-DONE" not in log.read_bytes() and time.time() < deadline:
        time.sleep(0.2)
    got = numbers(log.read_bytes())
    assert got == list(range(n)), f"{len(got)} lines; missing {sorted(set(range(n)) - set(got))[:5]}"
    root = Path(env.vars["UMLTUI_STATE_DIR"], "guests", "one-a", "root")
    assert not (root / "root" / "hup").exists()  # the flooding shell never saw SIGHUP

    async def still_sleeping() -> str:
        async with Console("one-a") as con:
            return await (await con.ready()).run("ps | grep -c '[s]leep 7777'", "PS-DONE")

    assert "\n1\r" in asyncio.run(still_sleeping())  # the sleep on con3 survived: no hangup
    history = env.run("console", "one-a", "con2", "--linger", "0.5", input="").stdout.encode()
    seen = numbers(history)
    assert seen and seen == list(range(seen[0], n))  # the scrollback: no gap, nothing twice


async def test_a_64k_paste_into_the_app_arrives_whole_and_the_console_still_hears(env: Env) -> None:
    """A 7 KB tmux paste into the app deafened the console for good, as the CLI's did."""
    from textual import events

    from umltui.app import make_app
    from umltui.config import Config

    up(env)
    body, md5 = paste_text(1000, "q")  # 66 KB
    app = make_app(Config(), focus_guest="one-a")
    async with app.run_test(size=(160, 48)) as pilot:

        def shown() -> str:
            pane = app.area.current
            return "\n".join(pane.screen_text()) if pane else ""

        await until(lambda: app.area.current is not None, "the first console pane")
        pane = app.area.current
        assert pane is not None
        pane.send(b"\r")
        await until(lambda: "a:/root#" in shown(), "a prompt", extra=shown)
        pane.post_message(events.Paste(body.replace("\r", "\n")))  # as a terminal hands a paste over
        await pilot.pause(0.2)
        log = Path(env.guest("one-a")["logs"]["con1"])
        await until(lambda: b"q00999 zzz" in log.read_bytes(), "the paste's last line run", timeout=180)
        pane.send(b"md5sum /tmp/q; wc -l < /tmp/q; echo PASTE''-CHECKED\r")
        await until(lambda: "PASTE-CHECKED" in shown(), "the console still hears", timeout=30, extra=shown)
        assert md5 in shown() and "1000" in shown()


def test_a_pty_holder_that_is_killed_is_started_again_and_given_every_console(env: Env) -> None:
    from umltui.core import holder
    from umltui.locations import holder_socket

    up(env)
    path = str(holder_socket("one-a"))
    answer = holder.call(path, "held")
    assert answer is not None and "con1" in answer and "con6" in answer
    pids = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and path.encode() in
            Path(e.path, "cmdline").read_bytes()]  # fmt: skip
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)

    async def back() -> None:
        await until(lambda: (holder.call(path, "held") or "").split()[1:] == answer.split()[1:],
                    "a new holder holding every console", timeout=30)  # fmt: skip

    asyncio.run(back())
