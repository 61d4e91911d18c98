"""The command line's smaller promises, on the real demo: plug and unplug with an address
and a MAC, ``net`` drawn as a tree, a paused or halted guest said so, a destructive sysrq
warned about."""

from __future__ import annotations

import pytest
from conftest import Env, requires_uml

pytestmark = [requires_uml, pytest.mark.uml]


def test_plug_unplug_net_paused_console_and_sysrq_warning(env: Env) -> None:
    env.run("demo", "--detach", check=True)
    # the demo's greeting is on con1, the console the user sees first (not only in a log file)
    greeting = env.run("console", "demo-a", "--linger", "0.5", input="")
    assert "guest a is up: try  ping -c 1 10.0.0.2" in greeting.stdout, greeting.stdout
    out = env.run("plug", "demo-a", "eth1", "lan0", "--ip", "10.0.5.1/24", check=True).stdout
    assert "demo-a:eth1 on lan0" in out and "mac 02:" in out and "10.0.5.1/24" in out
    env.run("plug", "demo-b", "eth1", "lan0", "--ip", "10.0.5.2/24", check=True)
    nic = next(n for n in env.guest("demo-a")["nics"] if n["name"] == "eth1")
    assert nic["mac"] and nic["ip"] == "10.0.5.1/24"  # the MAC and address it was given are listed
    # the guest has them: a ping over the new NICs
    ping = env.run("console", "demo-a", "--no-history", "--linger", "4", input="ping -c 1 -W 3 10.0.5.2\n")
    assert "1 packets received" in ping.stdout, ping.stdout
    # bad input: said, nothing plugged
    bad = env.run("plug", "demo-a", "eth2", "lan0", "--ip", "10.0.5.9")
    assert bad.returncode == 2 and "prefix" in bad.stderr
    bad = env.run("plug", "demo-a", "eth2", "nosuch")
    assert bad.returncode == 2 and "no switch 'nosuch'" in bad.stderr and "lan0" in bad.stderr
    # net: every port but the last with ├, the last with └, addresses shown
    lines = env.run("net", check=True).stdout.splitlines()
    ports = [line for line in lines if ":eth" in line]
    assert [p.strip()[0] for p in ports] == ["├", "├", "├", "└"], lines
    assert "10.0.5.1/24" in "\n".join(ports)
    env.run("unplug", "demo-a", "eth1", check=True)
    assert not any(n["name"] == "eth1" for n in env.guest("demo-a")["nics"])
    # a paused guest's console says so
    env.run("mconsole", "demo-b", "stop", check=True)
    paused = env.run("console", "demo-b", "--no-history", "--linger", "0.5", input="")
    assert "demo-b is paused" in paused.stderr, paused.stderr
    env.run("mconsole", "demo-b", "go", check=True)
    # a destructive sysrq from a script: sent, with the panel's warning on stderr
    sent = env.run("mconsole", "demo-b", "sysrq", "e", check=True)
    assert "warning: sysrq e" in sent.stderr
    # a halted guest's NIC is on no segment any more
    env.run("halt", "demo-b", check=True)
    lines = env.run("net", check=True).stdout.splitlines()
    assert not any("demo-b" in line and line.strip()[:1] in "├└" for line in lines), lines
    assert any("demo-b:eth0" in line and "halted" in line for line in lines), lines


def test_a_lab_with_four_mistakes_reports_all_four_in_one_run(env: Env) -> None:
    lab = env.write_lab(
        "four",
        "guests:\n  a:\n    mem: lots\n    consoels: 2\n  b:\n    consoles: 9\n    nics: {eth0: {switch: nosuch}}\n",
    )
    proc = env.run("up", "--detach", str(lab))
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if f"{lab}:" in line]
    assert [line.split(":")[2] for line in lines] == ["3", "4", "6", "7"], proc.stderr
    assert "4 problems; nothing was started" in proc.stderr
    assert env.ls() == []
