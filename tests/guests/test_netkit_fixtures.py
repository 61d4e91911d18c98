"""Three real public labs (``tests/fixtures/labs/``, see its ``SOURCES.md``), booted unchanged
by ``umltui up DIR``: their startup files run, and the pings each lab is built for succeed.

Each test copies its lab to a temporary folder first: the labs write into their folder
(``abr`` through ``/hostlab``, ``ltest`` its ``_test/``). The lab's Debian image (FRR
included) is built once into the tests' shared cache: the first run takes minutes.

Routes come from RIP here: a router learns them within seconds (triggered updates) but
the protocol allows up to its 30 s period, so every wait polls, inside the guest, with a
bound, and never sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import Env, _pids_with, requires_uml
from helpers import Console
from test_debian import boots_debian

pytestmark = [requires_uml, pytest.mark.uml]

LABS = Path(__file__).resolve().parent.parent / "fixtures" / "labs"
POLL_SECONDS = 120  # RIP: 30 s period, 180 s timeout; triggered updates make it seconds


def copy_lab(env: Env, name: str) -> Path:
    """The fixture ``name`` copied, with its modes, into the test's folder (its guests' sandbox)."""
    lab = env.root / name
    shutil.copytree(LABS / name, lab, symlinks=True)
    return lab


def up(env: Env, lab: Path) -> None:
    proc = env.run("up", str(lab), "--detach", "--timeout", "300", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def down_leaves_nothing(env: Env, lab: Path, name: str) -> None:
    """``down`` stops every guest and hub of the lab, and no process holding its folder stays."""
    env.run("down", name, check=True, timeout=180)
    assert env.ls() == []
    net = json.loads(env.run("net", "--json", check=True).stdout)
    assert net["switches"] == [], net
    deadline = time.monotonic() + 10
    while _pids_with(str(lab)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _pids_with(str(lab)) == []


async def reaches(con: Console, *addresses: str) -> str:
    """Ping each address until it answers (up to :data:`POLL_SECONDS` in all), from the guest's shell."""
    probes = " && ".join(f"ping -c1 -W1 {a} >/dev/null" for a in addresses)
    out = await con.run(
        f"n=0; until {probes}; do n=$((n+1)); [ $n -ge {POLL_SECONDS} ] && break; sleep 1; done; "
        f"for a in {' '.join(addresses)}; do ping -c1 -W2 $a >/dev/null && echo reached-$a || echo missed-$a; done",
        "REACHDONE",
        timeout=POLL_SECONDS + 30 + 5 * len(addresses),
    )
    return out


async def startup_ran(con: Console) -> str:
    out = await con.run("tail -n 1 /var/log/startup.log", "STDONE", timeout=30)
    assert "umltui: startup script exited with status 0" in out, out
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("fixture", ["kathara-lab_frr", "kathara-lab_quagga"])
@boots_debian
async def test_a_kathara_rip_lab_routes_across_three_routers(env: Env, fixture: str) -> None:
    lab = copy_lab(env, fixture)
    up(env, lab)
    guests = {g["umid"]: g for g in env.ls()}
    assert sorted(guests) == [f"{fixture}-r1", f"{fixture}-r2", f"{fixture}-r3"]
    assert {g["lab"] for g in guests.values()} == {fixture}
    daemon = "frr" if fixture.endswith("frr") else "quagga"
    for r in ("r1", "r2", "r3"):
        async with Console(f"{fixture}-{r}") as con:
            await con.ready(60)
            await startup_ran(con)
            out = await con.run(f"systemctl is-active {daemon}; pgrep -x ripd >/dev/null && echo ripd-runs", "DDONE")
            assert re.search(r"[\r\n]active\r\n", out) and "ripd-runs" in out, out
    async with Console(f"{fixture}-r1") as con:
        out = await reaches(con, "220.0.0.1", "200.0.0.2")
        assert "reached-220.0.0.1" in out and "reached-200.0.0.2" in out, out
        route = await con.run("ip route show 220.0.0.0/24", "RTDONE")
        assert "via 150.0.0.2 dev eth1 proto rip" in route, route
    async with Console(f"{fixture}-r3") as con:
        out = await reaches(con, "100.0.0.1", "150.0.0.1")
        assert "reached-100.0.0.1" in out and "reached-150.0.0.1" in out, out
        route = await con.run("ip route show 100.0.0.0/24", "RTDONE")
        assert "via 200.0.0.1 dev eth0 proto rip" in route, route
    down_leaves_nothing(env, lab, fixture)


@pytest.mark.timeout(900)
@boots_debian
async def test_netkit_abr_lab_pings_through_its_router(env: Env) -> None:
    lab = copy_lab(env, "abr")
    up(env, lab)
    assert sorted(g["umid"] for g in env.ls()) == ["abr-a", "abr-b", "abr-r"]
    for m in ("a", "b", "r"):
        async with Console(f"abr-{m}") as con:
            await con.ready(60)
            await startup_ran(con)
    # a and b each ping the other through r from the unit their folder brings (under /lib,
    # a link to /usr/lib in the guest), then write a file into the lab's folder.
    wanted = [lab / "ping_successful_a", lab / "ping_successful_b"]
    deadline = time.monotonic() + POLL_SECONDS
    while not all(f.exists() for f in wanted) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert [f.name for f in wanted if not f.exists()] == []
    async with Console("abr-a") as con:
        out = await con.run("readlink /lib; ip route show default; sysctl -n net.ipv4.ip_forward", "ADONE")
        assert "usr/lib" in out and "via 100.0.0.2" in out, out
    down_leaves_nothing(env, lab, "abr")


@pytest.mark.timeout(1200)
@boots_debian
def test_ltest_makes_a_signature_of_a_real_lab_then_passes(env: Env) -> None:
    lab = copy_lab(env, "kathara-lab_frr")
    # The built-in test records routes: RIP has settled well within the delay.
    first = env.run("ltest", str(lab), "--delay", "20", timeout=900)
    assert first.returncode == 0 and "signature created" in first.stdout, first.stdout + first.stderr
    assert sorted(p.name for p in (lab / "_test" / "signature").iterdir()) == [
        "r1.default",
        "r2.default",
        "r3.default",
    ]
    assert "220.0.0.0" in (lab / "_test/signature/r1.default").read_text()
    assert env.ls() == []
    second = env.run("ltest", str(lab), "--delay", "20", "--verify", "both", timeout=900)
    assert second.returncode == 0 and "test succeeded" in second.stdout, second.stdout + second.stderr
    for r in ("r1", "r2", "r3"):
        assert f"{r}: default same" in second.stdout, second.stdout
    assert env.ls() == []
