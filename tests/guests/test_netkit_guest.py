"""Netkit's habits on real Debian guests: a machine folder copied over / before systemd (a unit,
/etc/network/interfaces, a file under the /lib link), a startup that starts a unit with
systemctl once the system is up, a shutdown at halt, sysctl, ``after``; and a lab written for
Quagga that runs on FRR, two routers forming an OSPF adjacency and routing a ping."""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Env
from helpers import Console
from test_debian import DEBIAN_KERNEL, _tests_cache, boots_debian, up

from umltui.core import images


def _image(packages: tuple[str, ...] = ()) -> Iterator[images.Image]:
    assert DEBIAN_KERNEL is not None
    modules = Path(DEBIAN_KERNEL.modules) if DEBIAN_KERNEL.modules else None
    with _tests_cache():
        image, _built = images.build(images.Recipe.make(packages=packages), modules_dir=modules)
        yield image


@pytest.fixture(scope="module")
def plain_image() -> Iterator[images.Image]:
    yield from _image()


@pytest.fixture(scope="module")
def frr_image() -> Iterator[images.Image]:
    yield from _image(("frr",))


def _files(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(textwrap.dedent(text))


def _interfaces(address: str, *, auto: bool = True) -> str:
    up = "auto eth0\n" if auto else ""  # else the startup says ifup eth0
    return f"auto lo\niface lo inet loopback\n\n{up}iface eth0 inet static\n    address {address}\n"


HELLO_UNIT = """\
[Unit]
Description=a unit the lab's folder brings
# Started by the startup: a startup run before this target would wait for it for ever.
After=multi-user.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo hello-from-unit > /run/hello'
"""

NETKIT_LAB = """\
name: nk
switches:
  lan: {hub: true}
guests:
  a:
    root: debian
    consoles: 1
    nics: {eth0: {switch: lan}}
    hostfs: {/hostlab: .}
    files: [shared, a]
    sysctl: {net.ipv4.ip_forward: 1, net.ipv4.conf.eth0.rp_filter: 0}
    startup: |
      systemctl start hello.service
      cat /run/hello > /root/from-unit
      echo "$BASH_VERSION" > /root/shell
      pwd > /root/cwd
      touch /hostlab/a-started
    shutdown: |
      echo "bye from $(hostname)" > /hostlab/bye-a
  b:
    root: debian
    consoles: 1
    after: [a]
    nics: {eth0: {switch: lan}}
    hostfs: {/hostlab: .}
    files: [shared, b]
    startup: |
      if [ -e /hostlab/a-started ]; then echo a-was-ready > /root/order; fi
      ifup eth0
      exit 3
"""


@pytest.mark.timeout(900)
@boots_debian
async def test_a_netkit_style_lab_on_debian(env: Env, plain_image: images.Image) -> None:
    _files(env.root / "shared", {"etc/motd": "a shared file\n"})
    _files(
        env.root / "a",
        {
            "etc/network/interfaces": _interfaces("10.1.0.1/24"),
            "lib/systemd/system/hello.service": HELLO_UNIT,  # /lib is a link to usr/lib in the guest
            "lib/foo": "foo\n",
            "etc/x": "x\n",
        },
    )
    _files(env.root / "b", {"etc/network/interfaces": _interfaces("10.1.0.2/24", auto=False)})
    proc = up(env, NETKIT_LAB)
    assert proc.returncode == 0, proc.stderr
    guests = {g["umid"]: g for g in env.ls()}
    assert guests["nk-b"]["started_at"] > guests["nk-a"]["started_at"]
    async with Console("nk-a") as con:
        await con.ready(60)
        out = await con.run(
            "cat /root/from-unit /root/shell /root/cwd /usr/lib/foo /etc/x /etc/motd /var/log/startup.log; "
            "readlink /lib; sysctl -n net.ipv4.ip_forward; ip -br addr show eth0",
            "ADONE",
            timeout=30,
        )
        assert "hello-from-unit" in out and "/root" in out and "foo" in out, out
        assert "\r\nx\r\n" in out and "a shared file" in out, out
        assert "umltui: startup script exited with status 0" in out, out
        assert "usr/lib" in out and "10.1.0.1/24" in out, out  # the link kept; ifupdown named eth0
        assert "\r\n1\r\n" in out, out
        assert re.search(r"\d+\.\d+\.\d+\(\d+\)-release", out), out  # bash ran it: its BASH_VERSION
        out = await con.run("ping -c 2 -W 5 10.1.0.2", "PDONE", timeout=40)
        assert "2 received" in out, out
        state = await con.run("systemctl is-system-running --wait", "SYSDONE", timeout=90)
        if "running" not in state:
            failed = await con.run("systemctl --failed --no-legend --no-pager", "FAILDONE", timeout=30)
            pytest.fail(f"systemd is {state}; failed units: {failed}")
    async with Console("nk-b") as con:
        await con.ready(60)
        out = await con.run("cat /root/order; tail -1 /var/log/startup.log; ls /usr/lib/foo", "BDONE", timeout=30)
        assert "a-was-ready" in out, out  # b booted after a's startup had run
        assert "umltui: startup script exited with status 3" in out, out
        assert "No such file" in out, out  # a's folder is a's alone
    halted = env.run("halt", "nk-a", timeout=90)
    assert halted.returncode == 0 and "halted" in halted.stdout, halted.stdout + halted.stderr
    assert (env.root / "bye-a").read_text() == "bye from a\n"


QUAGGA_DAEMONS = "zebra=yes\nbgpd=no\nospfd=yes\nospf6d=no\nripd=no\nripngd=no\nisisd=no\n"


def _quagga_router(folder: Path, name: str) -> None:
    _files(
        folder,
        {
            "etc/quagga/daemons": QUAGGA_DAEMONS,
            "etc/quagga/zebra.conf": f"hostname {name}-zebra\npassword zebra\nenable password zebra\n",
            "etc/quagga/ospfd.conf": (
                f"hostname {name}-ospfd\npassword zebra\n!\ninterface eth0\n ip ospf hello-interval 2\n"
                " ip ospf dead-interval 8\n!\nrouter ospf\n network 10.0.0.0/8 area 0.0.0.0\n"
                " redistribute connected\n!\nlog file /var/log/quagga/ospfd.log\n"
            ),
        },
    )


QUAGGA_LAB = """\
name: qg
switches:
  n12: {hub: true}
  lan1: {hub: true}
  lan2: {hub: true}
guests:
  r1:
    root: {debian: bookworm, packages: [frr]}
    consoles: 1
    nics: {eth0: {switch: n12}, eth1: {switch: lan1}}
    files: [r1]
    sysctl: {net.ipv4.ip_forward: 1}
    startup: |
      ip address add 10.0.12.1/24 dev eth0
      ip address add 10.0.1.1/24 dev eth1
      ip link set eth0 up
      ip link set eth1 up
      /etc/init.d/quagga start
  r2:
    root: {debian: bookworm, packages: [frr]}
    consoles: 1
    nics: {eth0: {switch: n12}, eth1: {switch: lan2}}
    files: [r2]
    sysctl: {net.ipv4.ip_forward: 1}
    startup: |
      ip address add 10.0.12.2/24 dev eth0
      ip address add 10.0.2.1/24 dev eth1
      ip link set eth0 up
      ip link set eth1 up
      service quagga start
"""


@pytest.mark.timeout(900)
@boots_debian
async def test_a_lab_written_for_quagga_routes_with_frr(env: Env, frr_image: images.Image) -> None:
    _quagga_router(env.root / "r1", "r1")
    _quagga_router(env.root / "r2", "r2")
    proc = up(env, QUAGGA_LAB)
    assert proc.returncode == 0, proc.stderr
    async with Console("qg-r1") as con:
        await con.ready(60)
        out = await con.run("tail -3 /var/log/startup.log; grep ^ospfd= /etc/frr/daemons", "SDONE", timeout=30)
        assert "status 0" in out and "ospfd=yes" in out, out
        for _ in range(60):  # the adjacency and the route to r2's LAN (OSPF's wait timer: 8 s here)
            out = await con.run("ip route show 10.0.2.0/24", "RDONE", timeout=30)
            if "via 10.0.12.2" in out:
                break
            await asyncio.sleep(1)
        else:
            neighbours = await con.run("vtysh -c 'show ip ospf neighbor'", "NDONE", timeout=30)
            pytest.fail(f"no OSPF route to 10.0.2.0/24 on r1: {out}\n{neighbours}")
        assert "Full" in await con.run("vtysh -c 'show ip ospf neighbor'", "NDONE", timeout=30)
        out = await con.run("ping -c 2 -W 5 10.0.2.1", "PDONE", timeout=40)
        assert "2 received" in out, out


BUSYBOX_LAB = """\
name: bb
guests:
  a:
    consoles: 1
    hostfs: {/hostlab: .}
    files: [m]
    sysctl: {net.ipv4.ip_forward: 1}
    startup: |
      cat /etc/x > /root/seen
      cat /proc/sys/net/ipv4/ip_forward >> /root/seen
    shutdown: |
      echo "bye from $(hostname)" > /hostlab/bye
"""


@pytest.mark.timeout(300)
async def test_a_busybox_guest_gets_files_sysctl_and_shutdown(env: Env) -> None:
    _files(env.root / "m", {"etc/x": "x-from-lab\n", "usr/share/doc/y": "y\n"})
    proc = up(env, BUSYBOX_LAB)
    assert proc.returncode == 0, proc.stderr
    async with Console("bb-a") as con:
        await con.ready(30)
        out = await con.run("cat /root/seen /usr/share/doc/y", "SEENDONE")
        assert "x-from-lab\r\n1\r\ny" in out, out
    assert env.run("halt", "bb-a", timeout=60).returncode == 0
    assert (env.root / "bye").read_text() == "bye from a\n"
