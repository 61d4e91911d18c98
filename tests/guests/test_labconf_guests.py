"""A Netkit/Kathará lab folder, booted unchanged by ``umltui up DIR``: real Debian guests on real hubs.

The lab's image (Debian with the Netkit base set, FRR included) is built once into the
tests' shared cache: the first run takes minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Env, requires_uml
from helpers import Console
from test_debian import boots_debian

pytestmark = [requires_uml, pytest.mark.uml]

LAB_CONF = """\
LAB_DESCRIPTION="two hosts on one collision domain"
pc1[0]=Lan-A
pc2[0]="Lan-A"   # Kathará's quoting
pc2[port]=8080:80
pc1[mem]=160
"""


def make_lab(root: Path) -> Path:
    lab = root / "twohosts"
    (lab / "pc1").mkdir(parents=True)
    (lab / "pc2").mkdir()
    (lab / "lab.conf").write_text(LAB_CONF)
    (lab / "lab.dep").write_text("pc2: pc1\n")
    (lab / "pc1.startup").write_text("ip address add 10.1.0.1/24 dev eth0\nip link set eth0 up\n")
    (lab / "pc2.startup").write_text("ip address add 10.1.0.2/24 dev eth0\nip link set eth0 up\n")
    (lab / "shared.startup").write_text("echo ran-by-shared > /root/shared-ran\n")
    return lab


@pytest.mark.timeout(900)
@boots_debian
async def test_up_a_lab_folder_boots_its_machines_on_hubs_named_after_its_domains(env: Env) -> None:
    lab = make_lab(env.root)
    proc = env.run("up", str(lab), "--detach", "--timeout", "180", timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "warning: lab.conf: port (pc2 (line 4))" in proc.stderr, proc.stderr
    guests = {g["umid"]: g for g in env.ls()}
    assert {u: (g["lab"], g["state"]) for u, g in guests.items()} == {
        "twohosts-pc1": ("twohosts", "running"),
        "twohosts-pc2": ("twohosts", "running"),
    }
    assert (guests["twohosts-pc1"]["mem"], guests["twohosts-pc2"]["mem"]) == ("160M", "128M")  # Netkit's MB
    image = Path(guests["twohosts-pc1"]["disks"][0]["image"])
    assert json.loads((image.parent / "image.json").read_text())["packages"] == [
        "frr",
        "iptables",
        "net-tools",
        "netcat-openbsd",
        "traceroute",
    ]
    net = json.loads(env.run("net", "--json", check=True).stdout)
    assert [(s["name"], s["hub"], s["ports"]) for s in net["switches"]] == [
        ("Lan-A", True, ["twohosts-pc1:eth0", "twohosts-pc2:eth0"])
    ]
    async with Console("twohosts-pc1") as con:
        await con.ready(60)
        out = await con.run("ping -c 1 -W 5 10.1.0.2", "PINGDONE", timeout=30)
        assert "1 received" in out, out
        assert "ran-by-shared" in await con.run("cat /root/shared-ran", "SHDONE")
        assert "pc1[0]=Lan-A" in await con.run("cat /hostlab/lab.conf", "HLDONE")
    env.run("down", "twohosts", check=True, timeout=120)
    assert env.ls() == []


@pytest.mark.timeout(900)
@boots_debian
def test_ltest_makes_a_signature_then_passes_then_fails(env: Env) -> None:
    lab = make_lab(env.root)
    scripts = lab / "_test" / "scripts"
    scripts.mkdir(parents=True)
    (scripts / "pc1.test").write_text("ping -c 1 -W 5 10.1.0.2 > /dev/null && echo reach-pc2\n")
    first = env.run("ltest", str(lab), timeout=900)
    assert first.returncode == 0 and "signature created" in first.stdout, first.stdout + first.stderr
    assert (lab / "_test/signature/pc1.user").read_text() == "reach-pc2\n"
    assert env.ls() == []  # the lab is taken down
    second = env.run("ltest", str(lab), timeout=900)
    assert second.returncode == 0 and "pc1: user same" in second.stdout, second.stdout + second.stderr
    (lab / "_test/signature/pc1.user").write_text("something else\n")
    third = env.run("ltest", str(lab), timeout=900)
    assert third.returncode == 1 and "+reach-pc2" in third.stdout, third.stdout + third.stderr
