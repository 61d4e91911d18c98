"""The lab's segments: ``net`` (the topology), and switches made and removed live."""

from __future__ import annotations

import ipaddress
import logging
import re
from pathlib import Path

from .... import locations
from ... import network
from ...agent import AgentError
from ...cmdline import Nic, nic_device
from ...lab import mac_for
from ...mconsole import MconsoleError
from ...network import Switch
from ...protocol import GuestState, NetReport, NicInfo, SwitchInfo
from ..context import ClientConnection, Context
from ..errors import OpError

log = logging.getLogger("umltui.supervisor")
SWITCH_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,30}")
SWITCH_NIC = re.compile(r"eth[0-9]{1,2}")


SWITCH_LOG_MAX = 1 << 20


def switch_log(lab: str, name: str) -> Path:
    return locations.state_dir() / "switches" / f"{lab}-{name}.log"


async def op_net(sup: Context, client: ClientConnection) -> NetReport:
    """Switches and hubs with the NICs on them, taps and their namespaces, and every NIC."""
    return network.topology(
        (g.to_info() for g in sup.guests.values()), (s.to_info() for s in sup.switches.values()), sup.labs.values()
    )


async def start_switch(
    sup: Context, lab: str, name: str, hub: bool, learning: bool = False, capture: int = 0
) -> Switch:
    """Start a switch of a lab and record it (saved with the next save).

    Only a learning switch runs as a VDE switch: the others are VDE hubs, so a capture of
    the segment sees unicast too (guests cannot tell, unless a guest's NIC is promiscuous).
    """
    sw = Switch(lab, name, locations.switch_dir() / lab / name, hub, learning=learning, capture=capture)
    sw.pid = await network.start_switch(sw.ctl, switch_log(lab, name), hub=not learning)
    sup.switches[sw.key] = sw
    if capture:
        sup.captures.start(sw)
    sup.watch_switch(sw)
    sup.save()  # on disk before anything else is started: a crash now must not orphan it
    return sw


async def replug(sup: Context, sw: Switch) -> list[str]:
    """Put the NICs of running guests back on a switch started again; what could not be done.

    A NIC's connection to a segment that died is gone, and a new segment knows nothing
    of it. The kernel unplugs a NIC only while it is down, so the guest's agent takes it
    down, the mconsole unplugs it and plugs it into the new segment, and the agent brings
    it up with its lab address (renaming the kernel's ``vecN`` to it first, where the
    kernel has no ``ethN``). A guest without an agent keeps a dead NIC, and that is said.
    """
    problems = []
    for g in [g for g in sup.guests.values() if g.lab == sw.lab and g.state == GuestState.RUNNING]:
        for nic in [n for n in g.nics if n.get("kind") == "switch" and n.get("target") == sw.name]:
            name, mac = nic["name"], nic.get("mac")
            device = nic.get("device", name)
            try:
                await g.agent.request("nic-down", name)
                await g.mconsole.request(f"remove {device}")
                await g.mconsole.request(f"config {Nic(device, 'switch', str(sw.ctl), mac).word()}")
                await g.agent.request("nic-up", name)
                log.info("%s:%s plugged into the restarted switch %s", g.umid, name, sw.key)
            except (AgentError, MconsoleError) as exc:
                problems.append(f"{g.umid}:{name} is still on the old {sw.key}: {exc}")
    return problems


async def switch_add(sup: Context, client: ClientConnection, lab: str, name: str, hub: bool = False) -> SwitchInfo:
    """A new switch (or hub) in a lab, made live: guests' NICs can be plugged into it."""
    if not SWITCH_NAME.fullmatch(name):
        raise OpError(f"bad switch name {name!r}: lower-case letters, digits, - and _", "usage")
    if not any(g.lab == lab for g in sup.guests.values()) and lab not in sup.labs:
        raise OpError(f"no lab {lab!r} is up", "usage")
    key = f"{lab}/{name}"
    if key in sup.switches and sup.switches[key].alive:
        raise OpError(f"switch {key} exists already", "conflict")
    sw = await start_switch(sup, lab, name, hub)
    sup.save()
    sup.net_changed()
    return sw.to_info()


async def switch_del(sup: Context, client: ClientConnection, lab: str, name: str) -> bool:
    """Stop a switch no running guest's NIC is on."""
    key = f"{lab}/{name}"
    sw = sup.switches.get(key)
    if sw is None:
        raise OpError(f"no switch {key}", "usage")
    users = [
        f"{g.umid}:{n['name']}"
        for g in sup.guests.values()
        if g.lab == lab and g.alive
        for n in g.nics
        if n.get("kind") == "switch" and n.get("target") == name
    ]
    if users:
        raise OpError(f"switch {key} still has NICs on it: {', '.join(users)} (unplug them first)", "conflict")
    sup.captures.stop(sw.key)
    await network.kill_switch(sw.pid, sw.ctl)
    del sup.switches[key]
    sup.save()
    sup.net_changed()
    return True


async def plug(
    sup: Context, client: ClientConnection, guest: str, nic: str, switch: str, ip: str | None = None
) -> NicInfo:
    """Plug a new NIC of a running guest into a switch (or hub) of its lab, live.

    It gets the MAC it would have had in the lab file (stable per guest and NIC), and, when
    ``ip`` is given (``10.0.0.5/24``), that address, set by the guest's agent.
    """
    g = sup.find_guest(guest)
    if g.state != GuestState.RUNNING:
        raise OpError(f"{g.umid} is {g.state}: a NIC is plugged into a running guest", "usage")
    if not SWITCH_NIC.fullmatch(nic):
        raise OpError(f"bad NIC {nic!r}: a NIC on a switch is ethN (eth1, eth2, ...)", "usage")
    if any(n["name"] == nic for n in g.nics):
        raise OpError(f"{g.umid} has {nic} already (unplug it first)", "conflict")
    sw = sup.switches.get(f"{g.lab}/{switch}")
    if sw is None or not sw.alive:
        names = ", ".join(s.name for s in sup.switches.values() if s.lab == g.lab and s.alive) or "none"
        raise OpError(f"no switch {switch!r} in lab {g.lab} (its switches: {names})", "usage")
    address = None
    if ip:
        try:
            iface = ipaddress.ip_interface(ip)
        except ValueError:
            raise OpError(f"{ip!r} is not an IP address with a prefix, such as 10.0.0.5/24", "usage") from None
        if "/" not in ip or iface.version != 4:
            raise OpError(f"{ip!r}: give an IPv4 address with its prefix, such as {ip.split('/')[0]}/24", "usage")
        address = str(iface)
    mac = mac_for(g.umid, nic)
    device = nic_device(nic, g.legacy_nics, (n.get("device", n["name"]) for n in g.nics))
    await g.mconsole.request(f"config {Nic(device, 'switch', str(sw.ctl), mac).word()}")
    info: NicInfo = {"name": nic, "device": device, "kind": "switch", "target": sw.name, "ip": address, "mac": mac}
    g.nics = [*g.nics, info]
    sup.guest_changed(g)
    sup.net_changed()
    try:
        if device != nic:
            await g.agent.request("nic-name", f"{mac.replace(':', '')}-{nic}")
        if address:
            addr, length = address.split("/")
            await g.agent.request("nic-ip", f"{nic}-{addr}-{length}")
        else:
            await g.agent.request("nic-up", nic)
    except AgentError as exc:
        what = f"its address {address}" if address else "its link"
        raise OpError(f"{g.umid}:{nic} is plugged into {switch}, but {what} was not set: {exc}", "guest") from None
    return info


async def unplug(sup: Context, client: ClientConnection, guest: str, nic: str) -> bool:
    """Take a NIC out of a running guest (the agent brings it down first, which the kernel needs)."""
    g = sup.find_guest(guest)
    if not any(n["name"] == nic for n in g.nics):
        have = ", ".join(n["name"] for n in g.nics) or "none"
        raise OpError(f"{g.umid} has no NIC {nic!r} (its NICs: {have})", "usage")
    if g.state != GuestState.RUNNING:
        raise OpError(f"{g.umid} is {g.state}: a NIC is unplugged from a running guest", "usage")
    try:
        await g.agent.request("nic-down", nic)
    except AgentError as exc:
        log.info("%s: %s not brought down first: %s", g.umid, nic, exc)
    await g.mconsole.request(f"remove {next(n.get('device', nic) for n in g.nics if n['name'] == nic)}")
    g.nics = [n for n in g.nics if n["name"] != nic]
    sup.guest_changed(g)
    sup.net_changed()
    return True
