"""Debian guests: a real image built with mmdebstrap (once per machine, then cached), booted
copy-on-write, on a real switch, through the real supervisor."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Env, requires_uml
from helpers import Console

from umltui.core import hostfpu, images

pytestmark = [
    requires_uml,
    pytest.mark.uml,
    pytest.mark.skipif(shutil.which("mmdebstrap") is None, reason="needs Debian's mmdebstrap"),
]

# Where the host's FPU state is too large for the 6.1 kernel, Debian guests cannot boot
# (core/hostfpu.py) and `up` refuses them at once: the tests that boot one, or go through
# `up`, are skipped there, and the refusal is tested instead.
boots_debian = pytest.mark.skipif(hostfpu.debian_unsupported() is not None, reason="Debian guests cannot boot here")

DEBIAN_TWO = """\
name: deb
switches:
  lan0: {}
guests:
  a:
    root: debian
    mem: 128M
    consoles: 2
    nics:
      eth0: {switch: lan0, ip: 10.0.0.1/24}
    startup: |
      echo started-by-lab > /tmp/hello
  b:
    root: debian
    mem: 128M
    consoles: 1
    login: prompt
    nics:
      eth0: {switch: lan0, ip: 10.0.0.2/24}
"""


@pytest.fixture(scope="session")
def debian_image() -> Iterator[images.Image]:
    """The default image, built once per machine into the tests' shared cache (a minute the first time)."""
    cache = os.environ.get("UMLTUI_TEST_CACHE", str(Path(tempfile.gettempdir()) / "umltui-test-cache"))
    old = os.environ.get("UMLTUI_CACHE_DIR")
    os.environ["UMLTUI_CACHE_DIR"] = cache
    try:
        image, _built = images.build(images.Recipe.make())
        yield image
    finally:
        if old is None:
            os.environ.pop("UMLTUI_CACHE_DIR", None)
        else:
            os.environ["UMLTUI_CACHE_DIR"] = old


def up(env: Env, text: str, name: str = "lab") -> subprocess.CompletedProcess[str]:
    return env.run("up", str(env.write_lab(name, text)), "--detach", timeout=240)


def debugfs(image: Path, request: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["debugfs", "-R", request, str(image)], capture_output=True, text=True, timeout=30)


@pytest.mark.timeout(600)
@boots_debian
async def test_two_debian_guests_systemd_ping_and_tools(env: Env, debian_image: images.Image) -> None:
    proc = up(env, DEBIAN_TWO)
    assert proc.returncode == 0, proc.stderr
    guests = {g["umid"]: g for g in env.ls()}
    assert guests["deb-a"]["state"] == "running" and set(guests["deb-a"]["consoles"]) == {"con1", "con2"}
    assert guests["deb-a"]["disks"][0]["image"] == str(debian_image.path)
    async with Console("deb-a") as con:
        await con.ready(60)
        state = await con.run("systemctl is-system-running --wait", "SYSDONE", timeout=90)
        if "degraded" in state:  # name the reason: the units that failed
            failed = await con.run("systemctl --failed --no-legend --no-pager", "FAILDONE", timeout=30)
            pytest.fail(f"systemd is degraded; failed units: {failed}")
        assert "running" in state, state
        out = await con.run("ping -c 1 -W 5 10.0.0.2", "PINGDONE", timeout=30)
        assert "1 received" in out, out
        assert "/usr/bin/tcpdump" in await con.run("command -v tcpdump", "TCPDONE")
        assert "started-by-lab" in await con.run("cat /tmp/hello", "CATDONE")
        assert re.search(r"(^|[\r\n])a\r\n", await con.run("hostname", "HOSTDONE"))
        assert "eth0" in await con.run("ip -br link", "LINKDONE")  # the lab's names, not predictable ones
        # the pane's size reaches the guest's tty through the agent, with no key typed for it
        con.client.send_resize("deb-a", "con1", 111, 37)
        for _ in range(50):
            if "37 111" in await con.run("stty size", "SIZEDONE"):
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the size 111x37 did not reach deb-a's tty1")
        # a module of Debian's UML kernel loads from the image
        assert "8021q" in await con.run("modprobe 8021q && lsmod | grep 8021q", "MODDONE", timeout=30)
    net = json.loads(env.run("net", "--json", check=True).stdout)
    assert net["switches"][0]["ports"] == ["deb-a:eth0", "deb-b:eth0"]
    async with Console("deb-b") as con:  # login: prompt: root, no password
        await con.expect(r"login: $", 60)
        con.type("root\n")
        await con.ready(30)
        assert "root" in await con.run("whoami", "WHODONE")
    halted = env.run("halt", "deb-b", timeout=60)
    assert halted.returncode == 0 and "halted" in halted.stdout, halted.stdout + halted.stderr


@pytest.mark.timeout(600)
@boots_debian
async def test_cow_keeps_the_base_clean_and_merge_boots(env: Env, debian_image: images.Image) -> None:
    base_stat = debian_image.path.stat()
    one = "name: one\nguests:\n  a:\n    root: debian\n    consoles: 1\n"
    assert up(env, one).returncode == 0
    async with Console("one-a") as con:
        await con.ready(60)
        await con.run("echo written-in-guest > /root/marker && sync", "SYNCDONE")
    cow = Path(env.vars["UMLTUI_STATE_DIR"]) / "guests/one-a/root.cow"
    assert images.read_cow_header(cow).backing == str(debian_image.path)
    used = [json.loads(env.run("image", "ls", "--json", check=True).stdout)]
    assert any("one-a" in row["guests"] for row in used[0] if row["key"] == debian_image.key)
    # The base is never written: same mtime and size, and it has no such file.
    assert (debian_image.path.stat().st_mtime_ns, debian_image.path.stat().st_size) == (
        base_stat.st_mtime_ns,
        base_stat.st_size,
    )
    assert "File not found" in debugfs(debian_image.path, "stat /root/marker").stderr
    merged = env.root / "merged.img"
    refused = env.run("image", "merge", "one-a", "-o", str(merged))
    assert refused.returncode == 1 and "halt it first" in refused.stderr
    assert env.run("halt", "one-a", timeout=60).returncode == 0
    env.run("image", "merge", "one-a", "-o", str(merged), check=True, timeout=300)
    assert "written-in-guest" in debugfs(merged, "cat /root/marker").stdout
    # The merged image boots on its own, as an image of ours, with the file in it.
    two = f"name: two\nguests:\n  m:\n    root: {{image: {merged}}}\n    consoles: 1\n"
    proc = up(env, two, "two")
    assert proc.returncode == 0, proc.stderr
    async with Console("two-m") as con:
        await con.ready(60)
        assert "written-in-guest" in await con.run("cat /root/marker", "MARKDONE")
    # down keeps a guest's COW, so the next up has its files; down --clean removes it
    env.run("down", "one", "two", check=True)
    assert cow.exists()
    assert up(env, one).returncode == 0
    async with Console("one-a") as con:
        await con.ready(60)
        assert "written-in-guest" in await con.run("cat /root/marker", "AGAINDONE")
    env.run("down", "one", "--clean", check=True)
    assert not cow.exists()


@pytest.mark.timeout(600)
@boots_debian
async def test_hot_plugged_disk_mounts(env: Env, debian_image: images.Image) -> None:
    disk = env.root / "data.img"
    content = env.root / "content"
    content.mkdir()
    (content / "hello.txt").write_text("from-the-host-disk\n")
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", str(content), str(disk), "16M"], check=True)
    assert up(env, "name: hp\nguests:\n  a:\n    root: debian\n    consoles: 1\n").returncode == 0
    env.run("mconsole", "hp-a", f"config ubd1={disk}", check=True)
    async with Console("hp-a") as con:
        await con.ready(60)
        out = await con.run("mount /dev/ubdb /mnt && cat /mnt/hello.txt", "MNTDONE", timeout=30)
        assert "from-the-host-disk" in out, out
        await con.run("umount /mnt", "UMNTDONE")
    env.run("mconsole", "hp-a", "remove ubd1", check=True)


@boots_debian
async def test_a_cow_over_another_image_is_refused_before_boot(env: Env, debian_image: images.Image) -> None:
    other = env.root / "other.img"
    subprocess.run(["truncate", "-s", "64M", str(other)], check=True)
    guest_dir = Path(env.vars["UMLTUI_STATE_DIR"]) / "guests/cw-a"
    guest_dir.mkdir(parents=True)
    subprocess.run(["uml_mkcow", str(guest_dir / "root.cow"), str(other)], check=True, capture_output=True)
    proc = up(env, "name: cw\nguests:\n  a:\n    root: debian\n")
    assert proc.returncode == 1
    assert f"was made over {other}" in proc.stderr and "--clean" in proc.stderr, proc.stderr
    assert env.ls() == []


@pytest.mark.timeout(300)
@boots_debian
def test_a_package_debian_lacks_fails_before_any_guest_starts(env: Env) -> None:
    lab = "name: np\nguests:\n  a:\n    root: {debian: bookworm, packages: [umltui-no-such-package]}\n"
    proc = up(env, lab)
    assert proc.returncode == 1
    assert "no such package in the suite: umltui-no-such-package" in proc.stderr, proc.stderr
    assert "no guest was started" in proc.stderr
    assert env.ls() == []
    leftovers = [p.name for p in (Path(env.vars["UMLTUI_CACHE_DIR"]) / "images").glob(".build-*")]
    assert leftovers == []


@pytest.mark.skipif(hostfpu.debian_unsupported() is None, reason="Debian guests boot here")
def test_a_debian_lab_is_refused_at_once_where_it_cannot_boot(env: Env) -> None:
    proc = up(env, DEBIAN_TWO)
    assert proc.returncode == 2
    assert "deb-a: Debian guests cannot boot on this host" in proc.stderr, proc.stderr
    assert "no guest was started" in proc.stderr
    assert env.run_json("ls", "--json") == []
