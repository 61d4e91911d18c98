"""Real guests, real switches, real mconsole, real consoles, through the real supervisor."""

from __future__ import annotations

import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, requires_uml
from helpers import Console

pytestmark = [requires_uml, pytest.mark.uml]

TWO = """\
name: two
switches:
  lan0: {}
guests:
  a:
    consoles: 3
    nics:
      eth0: {switch: lan0, ip: 10.0.0.1/24}
    startup: |
      echo hello > /tmp/hello
      (i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done) > /dev/tty3 2>&1 &
  b:
    consoles: 2
    nics:
      eth0: {switch: lan0, ip: 10.0.0.2/24}
"""


def up(env: Env, lab: str, name: str = "lab") -> dict[str, Any]:
    path = env.write_lab(name, lab)
    proc = env.run("up", str(path), "--detach", timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {g["umid"]: g for g in env.ls()}


async def test_boot_ping_startup_and_listing(env: Env) -> None:
    guests = up(env, TWO)
    a, b = guests["two-a"], guests["two-b"]
    assert (a["state"], b["state"]) == ("running", "running")
    assert a["name"] == "a" and a["lab"] == "two" and a["pid"] > 0
    assert set(a["consoles"]) == {"con1", "con2", "con3"} and all(  # in the kernel's own /dev/pts
        v.startswith(f"/proc/{int(v.split('/')[2])}/root/dev/pts/") for v in a["consoles"].values()
    )
    assert a["nics"][0]["target"] == "lan0" and a["nics"][0]["ip"] == "10.0.0.1/24"
    async with Console("two-a") as con:
        await con.expect(r"a:/root# ")
        out = await con.run("ping -c 1 -W 5 10.0.0.2", "PINGDONE")
        assert "1 packets received" in out, out
        assert "hello" in await con.run("cat /tmp/hello", "CATDONE")
    net = json.loads(env.run("net", "--json", check=True).stdout)
    assert net["switches"][0]["ports"] == ["two-a:eth0", "two-b:eth0"]


def test_a_failed_startup_is_a_warning_in_up_ls_and_json(env: Env) -> None:
    """The startup's exit status reaches the supervisor with the ready report: ``up`` warns
    (exit 0: the guest is up), ``ls`` shows it. It said "booted", and only the guest's
    /var/log/startup.log knew."""
    path = env.write_lab(
        "st",
        "name: st\nguests:\n  bad:\n    startup: |\n      no_such_command; exit 3\n"
        "  good:\n    startup: |\n      true\n  none: {}\n",
    )
    proc = env.run("up", str(path), "--detach", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "st-bad booted" in proc.stdout
    assert "st-bad: the lab's startup script exited with status 3" in proc.stderr, proc.stderr
    assert "st-good" not in proc.stderr
    guests = {g["umid"]: g for g in env.ls()}
    assert guests["st-bad"]["state"] == "running" and guests["st-bad"]["startup_status"] == 3
    assert guests["st-good"]["startup_status"] == 0 and guests["st-none"]["startup_status"] is None
    listing = env.run("ls", check=True).stdout
    assert "running (startup exited 3)" in listing and listing.count("startup exited") == 1, listing


async def test_mconsole_commands_stop_go_and_sysrq(env: Env) -> None:
    up(env, TWO)
    version = env.run("mconsole", "two-a", "version", check=True).stdout
    assert f" {env.guest('two-a')['kernel']} " in version  # the kernel umltui chose for it
    report = env.run("mconsole", "two-a", "sysrq", "m", check=True).stdout
    assert "Show Memory" in report and "pages RAM" in report and report.count("\n") > 15
    # The kernel starts a proc answer with a newline, and says nothing to go: neither is printed (issue 40, 8).
    assert env.run("mconsole", "two-a", "proc", "meminfo", check=True).stdout.startswith("MemTotal:")
    assert "Commands:" in env.run("mconsole", "two-a", "help", check=True).stdout
    bad = env.run("mconsole", "two-a", "config", "eth7")
    assert bad.returncode == 1 and bad.stderr.startswith("two-a: ")  # the guest's own words:
    assert "No get_config routine defined" in bad.stderr or "Bad configuration option" in bad.stderr  # (6.1, 7.2)
    assert env.run("mconsole", "two-a", "stop", check=True).returncode == 0
    assert env.guest("two-a")["state"] == "paused"
    assert env.run("mconsole", "two-a", "go", check=True).stdout == ""
    assert env.guest("two-a")["state"] == "running"
    env.run("mconsole", "two-a", "log", "hello-from-mconsole", check=True)
    async with Console("two-a") as con:
        assert "hello-from-mconsole" in await con.run("dmesg | tail -3", "DMESG")


async def test_hotplug_disk_and_nic(env: Env) -> None:
    up(env, TWO)
    disk = env.root / "extra.img"
    disk.write_bytes(b"\0" * (4 << 20))
    async with Console("two-b") as con:
        await con.expect(r"b:/root# ")
        env.run("mconsole", "two-b", "config", f"ubd1={disk}", check=True)
        assert "ubdb" in await con.run("cat /proc/partitions", "PARTS")
        assert env.guest("two-b")["disks"][-1]["name"] == "ubd1"
        env.run("mconsole", "two-b", "remove", "ubd1", check=True)
        assert "ubdb" not in await con.run("cat /proc/partitions", "PARTS2")
        # A file outside what its sandbox holds is linked into the guest's folder: the same file.
        elsewhere = env.world / "elsewhere.img"
        elsewhere.write_bytes(b"\0" * (4 << 20))
        env.run("mconsole", "two-b", "config", f"ubd2={elsewhere}", check=True)
        assert "ubdc" in await con.run("cat /proc/partitions", "PARTS3")
        assert env.guest("two-b")["disks"][-1]["image"] == str(elsewhere)
        await con.run("echo plugged > /dev/ubdc; sync", "WROTE")
        assert elsewhere.read_bytes().startswith(b"plugged")
        env.run("mconsole", "two-b", "remove", "ubd2", check=True)
        # A COW file still to be made outside it cannot be: refused, saying why.
        refused = env.run("mconsole", "two-b", "config", f"ubd2=/nonexistent/x.cow,{elsewhere}")
        assert refused.returncode == 2 and "cannot reach /nonexistent/x.cow" in refused.stderr, refused.stderr
        # A NIC on the lab's segment, in the words of the guest's kernel (vecN where it has no ethN=).
        ctl = json.loads(env.run("net", "--json", check=True).stdout)["switches"][0]["ctl"]
        legacy = env.guest("two-b")["legacy_nics"]
        dev = "eth1" if legacy else "vec1"
        mac = "02:00:00:00:0b:01"
        word = f"eth1=vde,vde://{ctl},{mac}" if legacy else f"vec1:transport=vde,vnl=vde://{ctl},mac={mac}"
        env.run("mconsole", "two-b", "config", word, check=True)
        out = await con.run(f"ip addr add 10.0.0.22/24 dev {dev}; ip link set {dev} up; ip link show {dev}", "LINK")
        assert mac in out
        assert "0% packet loss" in await con.run("ping -c 1 -W 5 -I 10.0.0.22 10.0.0.1", "PING1")
        nics = [n["name"] for n in env.guest("two-b")["nics"]]
        assert nics == ["eth0", dev]
        assert f"two-b:{dev}" in json.loads(env.run("net", "--json").stdout)["switches"][0]["ports"]
        out = await con.run(f"ip link set {dev} down", "DOWN")
        env.run("mconsole", "two-b", "remove", dev, check=True)
        assert dev not in await con.run("ip link", "LINKS")


async def test_halt_and_panic(env: Env) -> None:
    guests = up(env, TWO)
    proc = env.run("halt", "two-b")
    assert proc.returncode == 0 and "two-b: halted" in proc.stdout
    assert env.guest("two-b")["state"] == "halted"
    pid = guests["two-a"]["pid"]
    env.run("mconsole", "two-a", "sysrq", "c")
    deadline = time.time() + 10
    while env.guest("two-a")["state"] != "crashed" and time.time() < deadline:
        time.sleep(0.1)
    a = env.guest("two-a")
    assert a["state"] == "crashed" and "panic" in a["reason"] and "sysrq" in a["reason"], a
    assert b"Kernel panic" in Path(a["con0_log"]).read_bytes()  # its last output is kept
    deadline = time.time() + 10
    while Path(f"/proc/{pid}").exists() and time.time() < deadline:
        time.sleep(0.1)


async def test_client_killed_guests_keep_running_and_logging(env: Env) -> None:
    up(env, TWO)
    client = subprocess.Popen(
        [sys.executable, "-m", "umltui", "console", "two-a", "con2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env.vars},
    )
    try:
        time.sleep(1.0)
        client.kill()
    finally:
        client.wait(10)
    log = Path(env.guest("two-a")["logs"]["con3"])
    size = log.stat().st_size
    time.sleep(1.5)  # nobody is attached; the ticker on tty3 keeps printing
    assert log.stat().st_size > size
    assert env.guest("two-a")["state"] == "running"
    assert re.search(rb"tick \d+", log.read_bytes())


async def test_supervisor_killed_restarted_adopts_guests(env: Env) -> None:
    before = up(env, TWO)
    sup = env.supervisor_pid()
    assert sup
    os.kill(sup, signal.SIGKILL)
    deadline = time.time() + 5
    while Path(f"/proc/{sup}").exists() and time.time() < deadline:
        time.sleep(0.05)
    for g in before.values():
        os.kill(g["pid"], 0)  # the guests live on without the supervisor
    log = Path(before["two-a"]["logs"]["con3"])
    guests = {g["umid"]: g for g in env.ls()}  # starts a new supervisor, which adopts them
    assert env.supervisor_pid() != sup
    assert guests["two-a"]["state"] == "running" and guests["two-a"]["pid"] == before["two-a"]["pid"]
    deadline = time.time() + 10
    while not all(guests["two-a"]["consoles"].values()) and time.time() < deadline:
        time.sleep(0.2)
        guests = {g["umid"]: g for g in env.ls()}
    assert all(guests["two-a"]["consoles"].values())
    async with Console("two-a", "con3") as con:
        # The consoles saw a hangup when the supervisor died; wait for the respawned shell.
        for _ in range(20):
            start = len(con.buffer)
            con.type("echo RE''ADY\n")
            try:
                await con.expect(rb"\nREADY", 1.0, since=start)
                break
            except AssertionError:
                continue
        out = await con.run("ping -c 1 -W 5 10.0.0.2", "AFTER")
        assert "1 packets received" in out
    assert b"AFTER" in log.read_bytes()  # the adopted console is read and logged again
    assert "two" in env.run("mconsole", "two-b", "proc", "sys/kernel/hostname", check=True).stdout + "two"


async def test_cow_overlay_over_ext4_image(env: Env) -> None:
    src = env.root / "src"
    src.mkdir()
    (src / "greeting.txt").write_text("from the backing image\n")
    image = env.root / "base.ext4"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(src), str(image), "8M"], check=True, capture_output=True)
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    up(
        env,
        """\
name: cow
guests:
  c:
    consoles: 1
    disks:
      ubd1: {image: base.ext4, cow: c.cow}
""",
    )
    async with Console("cow-c") as con:
        await con.expect(r"c:/root# ")
        out = await con.run(
            "mkdir -p /mnt/d && mount /dev/ubdb /mnt/d && cat /mnt/d/greeting.txt "
            "&& echo changed > /mnt/d/new.txt && sync && umount /mnt/d",
            "MOUNTED",
            timeout=20,
        )
        assert "from the backing image" in out, out
    assert (env.root / "c.cow").exists()
    assert hashlib.sha256(image.read_bytes()).hexdigest() == digest  # writes went to the overlay


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
async def test_taps_in_a_namespace(env: Env) -> None:
    ns = f"umt-{uuid.uuid4().hex[:8]}"
    env.namespaces.append(ns)
    up(
        env,
        f"""\
name: taps
netns: {ns}
taps:
  tap0: {{ip: 10.77.0.254/24}}
  tap1: {{ip: 10.78.0.254/24}}
guests:
  t:
    consoles: 1
    nics:
      eth0: {{tap: tap0, ip: 10.77.0.1/24}}
      vec0: {{tap: tap1, ip: 10.78.0.1/24}}
""",
    )
    assert ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    async with Console("taps-t") as con:
        await con.expect(r"t:/root# ")
        assert "1 packets received" in await con.run("ping -c 1 -W 5 10.77.0.254", "P1", timeout=20)
        assert "1 packets received" in await con.run("ping -c 1 -W 5 10.78.0.254", "P2", timeout=20)
    net = json.loads(env.run("net", "--json", check=True).stdout)
    assert {t["name"]: t["ports"] for t in net["taps"]} == {"tap0": ["taps-t:eth0"], "tap1": ["taps-t:vec0"]}
    env.run("down", "taps", check=True)
    assert ns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


async def test_bad_lab_exits_2_and_starts_nothing(env: Env) -> None:
    path = env.write_lab("bad", "name: bad\nguests:\n  a:\n    nics:\n      eth0: {switch: nowhere}\n")
    proc = env.run("up", str(path), "--detach")
    assert proc.returncode == 2
    assert f"{path}:5: guests.a.nics.eth0.switch: no switch 'nowhere'" in proc.stderr
    assert env.ls() == []


async def test_one_guest_failing_stops_the_others(env: Env) -> None:
    broken = env.root / "broken.img"
    broken.write_bytes(b"\0" * (1 << 20))  # no file system: the kernel cannot mount its root
    path = env.write_lab(
        "half",
        """\
name: half
switches:
  s: {}
guests:
  good:
    consoles: 1
    nics: {eth0: {switch: s}}
  bad:
    consoles: 1
    root: {image: broken.img}
""",
    )
    proc = env.run("up", str(path), "--detach", "--timeout", "30")
    assert proc.returncode == 1
    assert "half-bad failed to boot" in proc.stderr and "panic" in proc.stderr, proc.stderr
    assert all(g["state"] != "running" for g in env.ls())
    assert not Path(env.vars["UMLTUI_UML_DIR"], "half-good", "pid").exists()
    assert json.loads(env.run("net", "--json").stdout)["switches"] == []


async def test_demo_and_down_all_leave_nothing(env: Env) -> None:
    proc = env.run("demo", "--detach")
    assert proc.returncode == 0, proc.stderr
    guests = env.ls()
    assert sorted(g["umid"] for g in guests) == ["demo-a", "demo-b"]
    assert all(g["state"] == "running" and all(g["consoles"].values()) for g in guests), guests
    assert "pages RAM" in env.run("mconsole", "demo-a", "sysrq", "m", check=True).stdout
    pids = [g["pid"] for g in guests]
    ctl = json.loads(env.run("net", "--json").stdout)["switches"][0]
    assert env.run("down", "--all").returncode == 0
    assert env.ls() == []
    assert not any(Path(f"/proc/{p}").exists() and Path(f"/proc/{p}/cmdline").read_bytes() for p in pids)
    assert not Path(ctl["ctl"]).exists()


async def test_reboot_comes_back_with_its_consoles(env: Env) -> None:
    up(env, TWO)
    out = env.run("mconsole", "two-b", "reboot", check=True).stdout
    assert "reboot" in out
    deadline = time.time() + 30
    seen = set()
    while time.time() < deadline:
        g = env.guest("two-b")
        seen.add(g["state"])
        if (
            g["state"] == "running"
            and all(g["consoles"].values())
            and ("booting" in seen or Path(g["con0_log"]).read_bytes().count(b"Linux version") >= 2)
        ):
            break
        time.sleep(0.1)
    # The booting phase can be shorter than one poll (each is a whole `umltui ls`): the
    # kernel's second banner in con0's log says it rebooted all the same.
    rebooted = "booting" in seen or Path(g["con0_log"]).read_bytes().count(b"Linux version") >= 2
    assert rebooted and g["state"] == "running", (seen, g)
    async with Console("two-b") as con:
        assert "up 0 min" in await con.run("uptime", "UPTIME")


# A shell at its prompt runs a WINCH trap only after the next command line; a program in the
# foreground hears the signal at once. This one prints the size it was told, each time.
WINCH_LOOP = "sh -c 'trap \"echo WINCH-\\$(stty size)\" WINCH; echo LOO''PING; while sleep 0.2; do :; done'"


async def test_the_guest_learns_a_console_size_without_a_key(env: Env) -> None:
    """The pane's size reaches the guest's tty through the agent (the kernel does not pass it on),
    and what runs there gets SIGWINCH: nothing is typed into the console to do it."""
    up(env, TWO)
    async with Console("two-a") as con:
        await con.ready()
        con.type(WINCH_LOOP + "\n")  # a program in the foreground that says when it hears SIGWINCH
        await con.expect(r"LOOPING")
        start = len(con.buffer)
        con.client.send_resize("two-a", "con1", 101, 33)
        await con.expect(r"WINCH-33 101", 15, since=start)
        con.type("\x03")
        await con.ready()
        assert "33 101" in await con.run("stty size", "SIZEDONE")


async def test_umltui_console_passes_its_terminal_size_on(env: Env) -> None:
    """`umltui console` in a terminal: its size at start and after every resize (SIGWINCH)."""
    from ptyprocess import PtyProcess

    up(env, TWO)
    async with Console("two-a", "con2") as con:
        await con.ready()
        con.type(WINCH_LOOP + "\n")
        await con.expect(r"LOOPING")
    proc = PtyProcess.spawn(
        [sys.executable, "-m", "umltui", "console", "two-a", "con2", "--no-history"],
        env={**os.environ, **env.vars},
        dimensions=(25, 90),
    )
    seen = b""
    try:

        def read_until(word: bytes, timeout: float = 15) -> None:
            nonlocal seen
            deadline = time.monotonic() + timeout
            while word not in seen:
                assert time.monotonic() < deadline, f"{word!r} not seen; got {seen[-500:]!r}"
                if proc.isalive() and select.select([proc.fd], [], [], 0.2)[0]:
                    seen += proc.read(4096)

        read_until(b"WINCH-25 90")  # its size at start
        proc.setwinsize(40, 120)
        read_until(b"WINCH-40 120")
    finally:
        proc.write(b"\x1d")  # ctrl+] detaches
        time.sleep(0.5)
        if proc.isalive():
            proc.terminate(force=True)
