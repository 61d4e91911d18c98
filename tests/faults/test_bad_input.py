"""Bad input, fed for real to a real supervisor: labs that are not files or that explode,
malformed requests, a `down` racing an `up`, mconsole words the kernel would misread, and
command-line uses that ended in tracebacks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Env, requires_uml

from umltui import locations
from umltui.core.kernels import identify

pytestmark = requires_uml


def test_lab_that_is_a_fifo_or_dev_zero_is_refused_and_blocks_no_client(env: Env, tmp_path: Path) -> None:
    fifo = tmp_path / "lab.yaml"
    os.mkfifo(fifo)
    env.run("ls", check=True)  # a supervisor is up
    for lab in (fifo, Path("/dev/zero")):
        t0 = time.monotonic()
        proc = env.run("up", "--detach", str(lab), timeout=30)
        assert proc.returncode == 2 and "not a regular file" in proc.stderr, proc.stderr
        assert time.monotonic() - t0 < 20  # answered, not hung (a generous bound: this is no speed test)
    assert env.run("ls", timeout=10).returncode == 0


def test_lab_of_nested_aliases_is_refused(env: Env) -> None:
    lines = ["description:", "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lab = env.write_lab("bomb", "\n".join([*lines, "guests: {g: {}}"]) + "\n")
    proc = env.run("up", "--detach", str(lab), timeout=60)
    assert proc.returncode == 2 and "aliases make it stand for over" in proc.stderr, proc.stderr


def test_lab_nested_thousands_deep_is_refused_naming_the_file(env: Env) -> None:
    lab = env.write_lab("deep", "name: deep\nguests: {g: {}}\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")
    proc = env.run("up", "--detach", str(lab), timeout=60)
    assert proc.returncode == 2 and f"{lab}:3: nested over" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and env.ls() == []


def test_lab_path_leaving_its_folder_is_refused_before_anything_starts(env: Env) -> None:
    lab = env.write_lab("reach", "guests:\n  a:\n    disks: {ubd1: ../../../../etc/hostname}\n")
    proc = env.run("up", "--detach", str(lab))
    assert proc.returncode == 2 and "leaves the lab's folder" in proc.stderr, proc.stderr
    assert env.ls() == []


async def _raw(lines: list[bytes]) -> list[dict[str, Any]]:
    """Send raw lines on one connection to the real supervisor; every answer or event that came."""
    reader, writer = await asyncio.open_unix_connection(str(locations.supervisor_socket()), limit=1 << 20)
    for line in lines:
        writer.write(line + b"\n")
    writer.write(b'{"id": 99, "op": "ping"}\n')
    await writer.drain()
    out = []
    while True:
        msg = json.loads(await asyncio.wait_for(reader.readline(), 10))
        out.append(msg)
        if msg.get("id") == 99:
            break
    writer.close()
    return out


def test_malformed_requests_are_answered_and_the_connection_stays(env: Env) -> None:
    env.run("demo", "--detach", check=True, timeout=120)
    bad = [
        b'{"op": "resize", "guest": "demo-a", "cols": -1, "rows": 24}',
        b'{"op": "resize", "guest": "demo-a", "cols": 100000, "rows": 24}',
        b'{"op": "resize", "guest": "demo-a", "cols": 1e999, "rows": 24}',
        b'{"op": "input", "guest": "demo-a", "data": 5}',
        b'{"id": 1, "op": "halt", "guests": "demo-a"}',
        b'{"id": 2, "op": "ls", "extra": true}',
        b"[" * 50000 + b"]" * 50000,
        b"not json at all",
    ]
    answers = asyncio.run(_raw(bad))
    assert answers[-1]["ok"] is True  # the connection is still there, and still served
    errors = [a for a in answers[:-1] if a.get("event") == "error" or a.get("ok") is False]
    assert len(errors) == len(bad), answers
    assert all(e.get("kind", "protocol") == "protocol" for e in errors if "kind" in e)
    # Nothing bad was stored: after a reboot the console comes back and takes a good size.
    env.run("mconsole", "demo-a", "reboot", check=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        g = env.guest("demo-a")
        if g["state"] == "running" and all(g["consoles"].values()):
            break
        time.sleep(0.2)
    assert asyncio.run(_raw([b'{"op": "resize", "guest": "demo-a", "cols": 100, "rows": 30}']))[-1]["ok"]
    assert env.guest("demo-a")["state"] == "running"


def test_down_while_up_is_booting_wins_and_leaves_nothing(env: Env) -> None:
    lab = env.write_lab("slow", 'name: slow\nguests:\n  a: {startup: "sleep 3"}\n  b: {startup: "sleep 3"}\n')
    env.run("ls", check=True)
    for delay in (0.2, 1.5):  # before the guests exist, and while they boot
        argv = [sys.executable, "-m", "umltui", "up", "--detach", str(lab)]
        up = subprocess.Popen(argv, env={**os.environ, **env.vars}, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        assert env.run("down", "slow").returncode == 0
        _, err = up.communicate(timeout=60)
        assert up.returncode == 1 and "taken down by a later `down`" in err, err
        assert env.ls() == []


def test_mconsole_word_the_kernel_would_take_as_another_is_refused(env: Env) -> None:
    env.run("demo", "--detach", check=True, timeout=120)
    proc = env.run("mconsole", "demo-a", "stopnow")
    assert proc.returncode == 2 and "would run it as 'stop'" in proc.stderr, proc.stderr
    assert env.guest("demo-a")["state"] == "running"
    assert "Linux" in env.run("mconsole", "demo-a", "version", check=True).stdout


def test_mconsole_command_over_the_request_size_is_refused_saying_the_limit(env: Env) -> None:
    env.run("demo", "--detach", check=True, timeout=120)
    for words in (["log", "x" * 600], ["halt", "x" * 600]):
        proc = env.run("mconsole", "demo-a", *words)
        assert proc.returncode == 2 and "up to 511" in proc.stderr and "512 bytes" in proc.stderr, proc.stderr
    assert env.guest("demo-a")["state"] == "running"
    assert env.run("mconsole", "demo-a", "log", "y" * 400).returncode == 0  # a long one that fits is sent
    log = (Path(env.vars["UMLTUI_STATE_DIR"]) / "supervisor.log").read_text()
    assert "Traceback" not in log and "internal" not in log, log[-2000:]


def test_capture_that_tcpdump_cannot_make_fails_with_a_clear_error(env: Env) -> None:
    env.run("demo", "--detach", check=True, timeout=120)
    cases = [
        (["-w", "/nonexistent/x.pcap"], 2, "there is no folder /nonexistent"),  # refused before anything starts
        (["-c", "-5"], 2, "not a number of frames"),
        (["-c", "0"], 2, "not a number of frames"),
    ]
    if os.geteuid() == 0:  # a folder root may write to, as far as access() knows: tcpdump's own failure
        cases.append((["-w", "/proc/x.pcap"], 1, "tcpdump failed"))
    for args, code, words in cases:
        proc = env.run("capture", "demo/lan0", *args, timeout=30)
        assert proc.returncode == code and words in proc.stderr, (args, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr


def _nic_lab(env: Env, kernel: str | None = None) -> None:
    pin = f"    kernel: {kernel}\n" if kernel else ""
    lab = f"name: nic\nswitches: {{lan0: {{}}}}\nguests:\n  a:\n{pin}    consoles: 1\n"
    lab += "    nics: {eth0: {switch: lan0}}\n"
    env.run("up", "--detach", str(env.write_lab("nic", lab)), check=True, timeout=120)


def _nics(env: Env) -> list[str]:
    listed = [n.get("device", n["name"]) for n in env.guest("nic-a")["nics"]]
    assert sorted(listed) == sorted(n.get("device", n["name"]) for n in env.run_json("net")["nics"])  # ls and net agree
    return listed


def test_nic_hot_plug_the_guest_did_not_make_is_refused_and_not_recorded(env: Env) -> None:
    installed = identify.installed()
    if installed is None:
        pytest.skip("no installed kernel to pin")
    _nic_lab(env, installed.release)
    if not env.guest("nic-a")["legacy_nics"]:
        pytest.skip(f"the installed kernel {installed.release} has no ethN NICs")
    # The kernel answers OK, but a daemon NIC whose socket is missing is never made.
    proc = env.run("mconsole", "nic-a", f"config eth6=daemon,,unix,{env.root}/nosuch")
    assert proc.returncode == 1 and "has no eth6" in proc.stderr, proc.stderr
    assert "control connect failed" in proc.stderr, proc.stderr  # the guest's own words
    assert _nics(env) == ["eth0"]
    # One it does make is recorded (a VDE NIC is made, and finds its segment missing when brought up).
    env.run("mconsole", "nic-a", f"config eth5=vde,vde://{env.root}/nosuch", check=True)
    assert _nics(env) == ["eth0", "eth5"]
    env.run("mconsole", "nic-a", "remove eth5", check=True)
    assert _nics(env) == ["eth0"]


@pytest.mark.parametrize("kernel", ["chosen", "installed"])
def test_remove_of_a_nic_the_guest_lacks_drops_the_stale_entry(env: Env, kernel: str) -> None:
    installed = identify.installed()
    if kernel == "installed" and installed is None:
        pytest.skip("no installed kernel to pin")
    _nic_lab(env, installed.release if kernel == "installed" and installed else None)
    legacy = env.guest("nic-a")["legacy_nics"]
    ctl = env.run_json("net")["switches"][0]["ctl"]
    dev = "eth5" if legacy else "vec5"
    plug = f"config eth5=vde,vde://{ctl}" if legacy else f"config vec5:transport=vde,vnl=vde://{ctl}"
    bad = plug.replace(dev, dev[:3] + "05")  # the kernel would make eth5/vec5 of it, and we would list another
    proc = env.run("mconsole", "nic-a", bad)
    assert proc.returncode == 2 and "not a NIC's name" in proc.stderr, proc.stderr
    env.run("mconsole", "nic-a", plug, check=True)
    first = _nics(env)[0]
    assert _nics(env) == [first, dev]
    # A reboot starts the kernel again with the NICs of its command line only: the entry is stale.
    env.run("mconsole", "nic-a", "reboot", check=True)
    deadline = time.time() + 90
    while env.guest("nic-a")["state"] == "running" and time.time() < deadline:  # till the new boot is seen
        time.sleep(0.1)
    while time.time() < deadline:  # and done, its mconsole answering
        if env.guest("nic-a")["state"] == "running" and env.run("mconsole", "nic-a", "version").returncode == 0:
            break
        time.sleep(0.3)
    proc = env.run("mconsole", "nic-a", f"remove {dev}")
    assert proc.returncode == 0 and "stale entry was dropped" in proc.stdout, (proc.stdout, proc.stderr)
    assert _nics(env) == [first]
    proc = env.run("mconsole", "nic-a", f"remove {dev}")  # nothing listed now: the guest's refusal, as it is
    assert proc.returncode == 1 and "Device doesn't exist" in proc.stderr, proc.stderr


@pytest.mark.parametrize("stdin", ["/dev/null", "file"])
def test_console_with_stdin_from_a_file_or_dev_null_ends_cleanly(env: Env, tmp_path: Path, stdin: str) -> None:
    env.run("demo", "--detach", check=True, timeout=120)
    path = Path("/dev/null") if stdin == "/dev/null" else tmp_path / "keys"
    if stdin == "file":
        path.write_text("echo from-a-file\n")
    with open(path) as f:
        proc = subprocess.run([sys.executable, "-m", "umltui", "console", "demo-a", "--linger", "1"], stdin=f,
                              capture_output=True, text=True, timeout=60, env={**os.environ, **env.vars})  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    if stdin == "file":
        assert "from-a-file" in proc.stdout
    # The prompt's cursor-position query (CSI 6 n) is for a terminal to answer: a pipe gets none.
    assert "\x1b[6n" not in proc.stdout and "root@a" in proc.stdout, repr(proc.stdout[-300:])


def test_output_into_a_closed_pipe_ends_without_a_traceback(env: Env) -> None:
    env.run("demo", "--detach", check=True, timeout=120)
    for args in (["ls"], ["demo", "--detach"]):
        r, w = os.pipe()
        os.close(r)  # the reader went away, as `| head -1` does
        proc = subprocess.run([sys.executable, "-m", "umltui", *args], stdout=w, stderr=subprocess.PIPE,
                              text=True, timeout=60, env={**os.environ, **env.vars})  # fmt: skip
        os.close(w)
        assert proc.returncode == 141 and "Traceback" not in proc.stderr, proc.stderr
