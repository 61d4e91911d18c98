"""The command line's smaller promises, on the real demo: plug and unplug with an address
and a MAC, ``net`` drawn as a tree, a paused or halted guest said so, a destructive sysrq
warned about."""

from __future__ import annotations

import pytest
from conftest import Env, requires_uml

pytestmark = [requires_uml, pytest.mark.uml]


def test_plug_unplug_net_paused_console_and_sysrq_warning(env: Env) -> None:
    env.run("demo", "--detach", check=True)
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
