"""Debian guests: a real image built with mmdebstrap (once per machine, then cached), booted
copy-on-write, on a real switch, through the real supervisor."""

from __future__ import annotations

import asyncio
import contextlib
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

from umltui.core import images
from umltui.core.kernels import identify
from umltui.core.kernels.errors import KernelError
from umltui.core.kernels.pick import Picked, pick
from umltui.core.process import find_processes, session_processes

pytestmark = [
    requires_uml,
    pytest.mark.uml,
    pytest.mark.skipif(shutil.which("mmdebstrap") is None, reason="needs Debian's mmdebstrap"),
]


@contextlib.contextmanager
def _tests_cache() -> Iterator[None]:
    """umltui's cache is the tests' shared one (``UMLTUI_TEST_CACHE``) meanwhile: what is fetched
    or built there once serves every test of this machine."""
    cache = os.environ.get("UMLTUI_TEST_CACHE", str(Path(tempfile.gettempdir()) / "umltui-test-cache"))
    old = os.environ.get("UMLTUI_CACHE_DIR")
    os.environ["UMLTUI_CACHE_DIR"] = cache
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("UMLTUI_CACHE_DIR", None)
        else:
            os.environ["UMLTUI_CACHE_DIR"] = old


def _debian_kernel() -> Picked | None:
    """The kernel Debian guests boot with here (fetched once per machine into the tests' cache)."""
    with _tests_cache():
        try:
            return pick("debian")
        except KernelError:
            return None


DEBIAN_KERNEL = _debian_kernel()
# Only where no kernel that boots Debian here can be had (no mirror, no cache) are they skipped.
boots_debian = pytest.mark.skipif(DEBIAN_KERNEL is None, reason="no UML kernel that boots Debian here can be had")

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
    """The default image for the kernel Debian guests boot with here, built once per machine into
    the tests' shared cache (a minute the first time)."""
    assert DEBIAN_KERNEL is not None
    modules = Path(DEBIAN_KERNEL.modules) if DEBIAN_KERNEL.modules else None
    with _tests_cache():
        image, _built = images.build(images.Recipe.make(), modules_dir=modules)
        yield image


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


def _abstract_sockets_of(pids: list[int]) -> list[str]:
    """The abstract unix socket names (``@...``) these processes hold open."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes and fields[7].startswith("@"):
            found.append(fields[7])
    return found


@boots_debian
@pytest.mark.timeout(600)
async def test_a_6_1_busybox_guest_and_a_newer_debian_guest_ping_on_one_hub(
    env: Env, debian_image: images.Image
) -> None:
    installed = identify.installed()
    assert DEBIAN_KERNEL is not None
    if installed is None or installed.release == DEBIAN_KERNEL.release:
        pytest.skip("Debian guests boot on the installed kernel here: there is no second kernel to mix")
    lab = f"""\
name: mix
switches: {{hub0: {{hub: true}}}}
guests:
  old:
    kernel: {installed.release}
    consoles: 1
    nics: {{eth0: {{switch: hub0, ip: 10.9.0.1/24}}}}
  new:
    root: debian
    consoles: 1
    nics: {{eth0: {{switch: hub0, ip: 10.9.0.2/24}}}}
"""
    proc = up(env, lab)
    assert proc.returncode == 0, proc.stderr
    guests = {g["umid"]: g for g in env.ls()}
    assert (guests["mix-old"]["kernel"], guests["mix-old"]["legacy_nics"]) == (installed.release, True)
    assert (guests["mix-new"]["kernel"], guests["mix-new"]["legacy_nics"]) == (DEBIAN_KERNEL.release, False)
    async with Console("mix-old") as con:
        await con.ready()
        out = await con.run("ping -c 2 -W 5 10.9.0.2", "PDONE", timeout=40)
        assert "2 packets received" in out, out
    async with Console("mix-new") as con:
        out = await con.run("ip -br link show eth0; ping -c 2 -W 5 10.9.0.1", "PDONE", timeout=40)
        assert "eth0" in out and " 0% packet loss" in out, out  # the kernel's vec0, named as the lab says
    # Every socket of the lab's guests and its hub is a path: none abstract, none another user can reach.
    pids = [p for g in guests.values() for p in session_processes(g["pid"])]
    pids += find_processes("vde_plug", str(Path(env.vars["UMLTUI_RUNTIME_DIR"]) / "switches" / "mix"))
    assert len(pids) > 3 and _abstract_sockets_of(pids) == []
