"""The supervisor's pure parts and its dispatch, without booting anything: request checking,
what an mconsole command does to a guest's devices, the topology, the kernel command line,
and the state a guest is saved as."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from umltui.core import hostfpu
from umltui.core.cmdline import plan_boot
from umltui.core.guest import Guest
from umltui.core.lab import mac_for, parse_lab
from umltui.core.mconsole import (
    DeviceChange,
    apply_device_change,
    describe_nic,
    device_change,
    ends_guest,
    powers_off,
)
from umltui.core.network import LabRecord, Switch, topology
from umltui.core.protocol import ALIVE_STATES, GuestState, ProtocolError, decode
from umltui.core.supervisor import OpError, Supervisor
from umltui.core.supervisor.ops import OPERATIONS, Operation


class Sent:
    """A client connection that keeps what the supervisor sends it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.subscriptions: list[Any] = []
        self.watching = False

    def send(self, obj: dict[str, Any]) -> None:
        self.messages.append(obj)


# -- requests ------------------------------------------------------------------------------


def test_every_operation_is_in_the_table_with_wire_types() -> None:
    assert set(OPERATIONS) == {
        "ping", "ls", "watch", "memory", "shutdown", "up", "down", "halt", "mconsole", "net",
        "switch_add", "switch_del", "plug", "unplug", "subscribe", "unsubscribe", "input", "resize",
    }  # fmt: skip
    assert {name for name, op in OPERATIONS.items() if op.quick} == {"input", "resize"}
    assert OPERATIONS["resize"].params["cols"] == (int, True)
    assert OPERATIONS["down"].params["targets"][1] is False


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        ({"op": "resize", "guest": "g", "cols": "80", "rows": 24}, "cols must be int, not str"),
        ({"op": "resize", "guest": "g", "cols": 1e999, "rows": 24}, "cols must be int, not float"),
        ({"op": "resize", "guest": "g", "cols": True, "rows": 24}, "cols must be int, not bool"),
        ({"op": "resize", "guest": "g", "rows": 24}, "missing field 'cols'"),
        ({"op": "halt", "guests": ["a", 1]}, "guests must be list[str]"),
        ({"op": "ls", "colour": True}, "unknown field 'colour'"),
        ({"op": "down", "all": "yes"}, "all must be bool, not str"),
    ],
)
def test_malformed_arguments_are_refused_before_the_handler(request_: dict[str, Any], words: str) -> None:
    op = OPERATIONS[request_["op"]]
    with pytest.raises(ProtocolError, match=words.replace("[", r"\[").replace("]", r"\]")):
        op.arguments(request_)


def test_well_formed_arguments_pass_with_their_defaults_left_to_the_handler() -> None:
    assert OPERATIONS["down"].arguments({"op": "down", "id": 3, "targets": None}) == {"targets": None}
    assert OPERATIONS["up"].arguments({"op": "up", "lab": "x.yaml", "boot_timeout": 5}) == {
        "lab": "x.yaml",
        "boot_timeout": 5,
    }


def test_deep_or_broken_json_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ProtocolError):
        decode(b'"just a string"')
    with pytest.raises(ProtocolError):
        decode(b"{not json")


async def test_a_bug_in_a_handler_is_internal_and_a_user_error_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    async def buggy(sup: Supervisor, client: Any, n: int) -> int:
        return len(n)  # type: ignore[arg-type]  # the bug: a TypeError inside the handler

    async def refuses(sup: Supervisor, client: Any) -> None:
        raise OpError("no such thing", "usage")

    monkeypatch.setitem(OPERATIONS, "buggy", Operation(buggy))
    monkeypatch.setitem(OPERATIONS, "refuses", Operation(refuses))
    sup, client = Supervisor(), Sent()
    await sup._dispatch(client, {"id": 1, "op": "buggy", "n": 3})  # type: ignore[arg-type]
    await sup._dispatch(client, {"id": 2, "op": "buggy", "n": "3"})  # type: ignore[arg-type]
    await sup._dispatch(client, {"id": 3, "op": "refuses"})  # type: ignore[arg-type]
    await sup._dispatch(client, {"id": 4, "op": "nosuch"})  # type: ignore[arg-type]
    by_id = {m["id"]: m for m in client.messages}
    assert by_id[1]["kind"] == "internal" and "TypeError" in by_id[1]["error"]
    assert by_id[2]["kind"] == "protocol" and by_id[2]["error"].startswith("bad request:")
    assert (by_id[3]["kind"], by_id[3]["error"]) == ("usage", "no such thing")
    assert by_id[4]["kind"] == "protocol" and "unknown request 'nosuch'" in by_id[4]["error"]


async def test_quick_operations_answer_a_bad_size_with_an_error_event() -> None:
    sup, client = Supervisor(), Sent()
    for cols in (-1, 0, 100_000):
        sup._quick(client, {"op": "resize", "guest": "g", "cols": cols, "rows": 24})  # type: ignore[arg-type]
    sup._quick(client, {"op": "input", "guest": "g", "data": "not base64!"})  # type: ignore[arg-type]
    assert [m["event"] for m in client.messages] == ["error"] * 4
    assert "is not a size" in client.messages[0]["error"]
    assert "not base64" in client.messages[3]["error"]


# -- what an mconsole command does -------------------------------------------------------------


def test_device_changes_are_read_from_the_command() -> None:
    assert device_change("config ubd1=/d.img") == DeviceChange("config", "ubd1", "/d.img")
    assert device_change("remove eth1") == DeviceChange("remove", "eth1")
    assert device_change("config con1") is None  # a query
    assert device_change("version") is None
    assert ends_guest("halt") and ends_guest("reboot") and ends_guest("sysrq b") and not ends_guest("sysrq m")
    assert powers_off("halt") and powers_off("sysrq o") and not powers_off("reboot") and not powers_off("sysrq c")


def test_plug_and_unplug_update_the_guest_s_devices() -> None:
    switches = {"/run/sw/lab/lan0": "lan0"}
    disks, nics = apply_device_change(device_change("config ubd2=/a.cow,/base.img"), [], [], switches)  # type: ignore[arg-type]
    disks, nics = apply_device_change(device_change("config ubd1=/d.img"), disks, nics, switches)  # type: ignore[arg-type]
    assert disks == [
        {"name": "ubd1", "image": "/d.img", "cow": None},
        {"name": "ubd2", "image": "/base.img", "cow": "/a.cow"},
    ]
    change = device_change("config eth1=vde,vde:///run/sw/lab/lan0,02:00:00:00:00:09")
    disks, nics = apply_device_change(change, disks, nics, switches)  # type: ignore[arg-type]
    assert nics == [{"name": "eth1", "kind": "switch", "target": "lan0", "ip": None, "mac": "02:00:00:00:00:09"}]
    disks, nics = apply_device_change(DeviceChange("remove", "eth1"), disks, nics, switches)
    assert nics == [] and len(disks) == 2
    lab_nic = {"name": "eth0", "device": "vec0", "kind": "switch", "target": "lan0", "ip": None, "mac": None}
    _, nics = apply_device_change(DeviceChange("remove", "vec0"), [], [lab_nic], switches)  # type: ignore[list-item]
    assert nics == []  # the lab's eth0 is the kernel's vec0
    assert describe_nic("eth2", "tuntap,tap3", {})["target"] == "tap3"
    assert describe_nic("eth3", "daemon,,unix,/elsewhere.ctl", switches)["kind"] == "daemon"


# -- topology --------------------------------------------------------------------------------


def _info(umid: str, lab: str, nics: list[dict[str, Any]], state: str = "running") -> dict[str, Any]:
    return {"umid": umid, "lab": lab, "state": state, "nics": nics}


def test_topology_puts_each_nic_on_its_segment() -> None:
    guests = [
        _info("l-a", "l", [{"name": "eth0", "kind": "switch", "target": "lan0", "ip": "10.0.0.1/24", "mac": None}]),
        _info("l-b", "l", [{"name": "eth0", "kind": "tap", "target": "tap0", "ip": None, "mac": None}], "paused"),
        _info("m-a", "m", [{"name": "eth0", "kind": "switch", "target": "lan0", "ip": None, "mac": None}]),
    ]
    switches = [{"lab": "l", "name": "lan0", "ctl": "/s.ctl", "hub": False, "pid": 1, "alive": True}]
    labs = [LabRecord("l", None, "l-ns", True, {"tap0": "10.9.0.254/24"})]
    net = topology(guests, switches, labs)  # type: ignore[arg-type]
    assert net["switches"][0]["ports"] == ["l-a:eth0"]  # m-a's lan0 is another lab's
    assert net["taps"] == [{"name": "tap0", "ip": "10.9.0.254/24", "netns": "l-ns", "lab": "l", "ports": ["l-b:eth0"]}]
    assert net["namespaces"] == [{"name": "l-ns", "lab": "l", "owned": True}]
    assert [(n["guest"], n["state"]) for n in net["nics"]] == [
        ("l-a", "running"),
        ("l-b", "paused"),
        ("m-a", "running"),
    ]


def test_topology_halted_guests_are_on_no_segment_and_hub_nics_say_hub() -> None:
    nic = {"name": "eth0", "kind": "switch", "target": "hub0", "ip": None, "mac": None}
    guests = [_info("l-a", "l", [nic]), _info("l-b", "l", [nic], "halted"), _info("l-c", "l", [nic], "crashed")]
    switches = [{"lab": "l", "name": "hub0", "ctl": "/h.ctl", "hub": True, "pid": 1, "alive": True}]
    net = topology(guests, switches, [])  # type: ignore[arg-type]
    assert net["switches"][0]["ports"] == ["l-a:eth0"]
    assert [(n["guest"], n["kind"]) for n in net["nics"]] == [("l-a", "hub"), ("l-b", "hub"), ("l-c", "hub")]


# -- the kernel command line ------------------------------------------------------------------------


LAB = """
name: t
netns: t-ns
switches: {lan0: {}}
guests:
  a:
    mem: 96M
    nics:
      eth0: {switch: lan0, ip: 10.0.0.1/24}
      eth1: {tap: tap0}
"""


def test_plan_boot_for_a_hostfs_guest_in_a_namespace(tmp_path: Path) -> None:
    lab = parse_lab(LAB, tmp_path / "t.yaml")
    plan = plan_boot(
        lab.guests["a"],
        kernel="/usr/bin/linux.uml",
        uml_dir=tmp_path / "uml",
        notify_socket=tmp_path / "n.sock",
        switch_sockets={"lan0": tmp_path / "lan0"},
        hostfs_root=tmp_path / "root",
        init="/sbin/init",
        netns="t-ns",
    )
    mac = mac_for("t-a", "eth0")
    assert plan.argv[:4] == ["ip", "netns", "exec", "t-ns"]
    assert plan.argv[4:] == hostfpu.launch(plan.argv[plan.argv.index("/usr/bin/linux.uml") :])
    assert f"eth0=vde,vde://{tmp_path / 'lan0'},{mac}" in plan.argv
    assert f"eth1=tuntap,tap0,{mac_for('t-a', 'eth1')}" in plan.argv
    assert {"mem=96M", f"rootflags={tmp_path / 'root'}", "init=/sbin/init", "con=pts"} <= set(plan.argv)
    assert plan.nics[0] == {"name": "eth0", "device": "eth0", "kind": "switch", "target": "lan0",
                            "ip": "10.0.0.1/24", "mac": mac, "netns": None}  # fmt: skip
    assert plan.nics[1]["netns"] == "t-ns" and plan.disks == []


def test_plan_boot_on_a_kernel_without_legacy_nics_makes_every_nic_a_vector_one(tmp_path: Path) -> None:
    lab = parse_lab(LAB, tmp_path / "t.yaml")
    plan = plan_boot(lab.guests["a"], kernel="/k/linux.uml", uml_dir=tmp_path, notify_socket=tmp_path / "n",
                     switch_sockets={"lan0": tmp_path / "lan0"}, hostfs_root=tmp_path / "root", legacy_nics=False,
                     fpu_workaround=False)  # fmt: skip
    mac = mac_for("t-a", "eth0")
    assert plan.argv[0] == "/k/linux.uml"  # no work-round for a kernel that does not need it
    assert f"vec0:transport=vde,vnl=vde://{tmp_path / 'lan0'},mac={mac}" in plan.argv
    assert f"vec1:transport=tap,ifname=tap0,mac={mac_for('t-a', 'eth1')}" in plan.argv
    assert not any(w.startswith("eth") for w in plan.argv)
    assert [(n["name"], n["device"]) for n in plan.nics] == [("eth0", "vec0"), ("eth1", "vec1")]


def test_plan_boot_for_an_image_root(tmp_path: Path) -> None:
    (tmp_path / "root.img").touch()
    lab = parse_lab("guests: {a: {root: {image: root.img, cow: a.cow}}}\n", tmp_path / "img.yaml")
    plan = plan_boot(lab.guests["a"], kernel="linux", uml_dir=tmp_path, notify_socket=tmp_path / "n", switch_sockets={})
    assert f"ubd0={tmp_path / 'a.cow'},{tmp_path / 'root.img'}" in plan.argv and "root=/dev/ubda" in plan.argv
    assert plan.disks == [{"name": "ubd0", "image": str(tmp_path / "root.img"), "cow": str(tmp_path / "a.cow")}]


# -- saved state ----------------------------------------------------------------------------------------


def _guest(tmp_path: Path, **kw: Any) -> Guest:
    return Guest(umid="s-a", name="a", lab="s", uml_dir=tmp_path, folder=tmp_path / "g", notify_path=tmp_path / "n",
                 console_count=2, ready_word="ready", **kw)  # fmt: skip


async def test_a_guest_saved_and_read_back_is_the_same(tmp_path: Path) -> None:
    g = _guest(tmp_path)
    g.pid, g.state, g.reason = 123, GuestState.PAUSED, "stopped through the mconsole"
    g.nics = [{"name": "eth0", "kind": "switch", "target": "lan0", "ip": None, "mac": "02:00:00:00:00:01"}]
    g.disks = [{"name": "ubd1", "image": "/d.img", "cow": None}]
    g.netns, g.mem, g.argv, g.root, g.notes = "ns", "64M", ["linux", "umid=s-a"], "busybox", ["hello"]
    back = Guest.from_state(g.to_state(), uml_dir=tmp_path, on_change=lambda g: None)
    assert back.to_state() == g.to_state()
    assert back.to_info() == g.to_info() and back.state is GuestState.PAUSED and back.state in ALIVE_STATES


async def test_a_state_file_of_the_older_shape_is_read(tmp_path: Path) -> None:
    old = {"umid": "s-a", "name": "a", "lab": "s", "pid": 7, "state": "running", "reason": "", "folder": "/f",
           "notify": "/n", "consoles": 3, "ready_word": "ready", "started_at": 1.5,
           "info": {"nics": [{"name": "eth0"}], "disks": [], "netns": None, "mem": "64M", "argv": ["linux"],
                    "root": "busybox", "notes": ["x"]}}  # fmt: skip
    g = Guest.from_state(old, uml_dir=tmp_path, on_change=lambda g: None)
    assert (g.state, g.nics, g.mem, g.argv, g.notes, sorted(g.consoles)) == (
        GuestState.RUNNING, [{"name": "eth0"}], "64M", ["linux"], ["x"], ["con0", "con1", "con2", "con3", "ssl0"],
    )  # fmt: skip
    assert list(g.to_info()["consoles"]) == ["con1", "con2", "con3"]  # the agent's line is not one to show


def test_switch_and_lab_records_round_trip() -> None:
    sw = Switch("l", "lan0", Path("/s.ctl"), True, 42)
    assert Switch.from_state(sw.to_state()) == sw
    rec = LabRecord("l", "/l.yaml", "ns", True, {"tap0": None})
    assert LabRecord.from_state(rec.to_state()) == rec


async def test_a_boot_banner_read_late_is_not_a_reboot(tmp_path: Path) -> None:
    """A busy supervisor may read con0's log only after the guest said it was ready: the
    boot's own banner must not count as a reboot (a real guest cannot be made this late on
    demand, so the log is written here)."""
    guest = _guest(tmp_path)
    log = guest.con0_log
    log.parent.mkdir(parents=True)
    guest.state = GuestState.RUNNING
    log.write_bytes(b"Linux version 6.1.0 (debian)\nRun /sbin/init as init process\n")
    guest._read_con0()
    assert guest.state == GuestState.RUNNING
    with open(log, "ab") as f:
        f.write(b"reboot: Restarting system\nLinux version 6.1.0 (debian)\n")
    guest._read_con0()
    assert (guest.state, guest.reason) == (GuestState.BOOTING, "rebooting")
    guest.close()
    await asyncio.sleep(0)


def test_guests_sort_naturally_by_lab_then_name() -> None:
    from umltui.core.protocol import guest_order, natural_key

    names = ["g10", "g2", "g1", "g11", "g0", "g15", "g3"]
    assert sorted(names, key=natural_key) == ["g0", "g1", "g2", "g3", "g10", "g11", "g15"]
    infos = [{"umid": u, "lab": lab} for u, lab in [("b-g10", "b"), ("a-x", "a"), ("b-g9", "b"), ("solo", None)]]
    assert [i["umid"] for i in sorted(infos, key=guest_order)] == ["a-x", "b-g9", "b-g10", "solo"]  # type: ignore[arg-type]


def test_the_least_used_cpu_of_those_allowed() -> None:
    from umltui.core.process import least_used_cpu

    allowed = os.sched_getaffinity(0)
    first, *rest = sorted(allowed)
    if rest:
        assert least_used_cpu([]) == first
        assert least_used_cpu([first, None]) == rest[0]  # (None: a guest left free)
        assert least_used_cpu([first, *rest]) == first  # all alike: the lowest
    os.sched_setaffinity(0, {first})  # this process on one CPU: nothing to choose
    try:
        assert least_used_cpu([]) is None
    finally:
        os.sched_setaffinity(0, allowed)


async def test_down_of_an_unknown_name_says_it_is_no_lab_and_no_guest() -> None:
    # Issue 40, 8: "down nosuch" said "no guest", though down takes labs too.
    sup, client = Supervisor(), Sent()
    sup.labs["demo"] = LabRecord("demo", None)
    await sup._dispatch(client, {"id": 1, "op": "down", "targets": ["nosuch"]})  # type: ignore[arg-type]
    (answer,) = client.messages
    assert answer["kind"] == "usage"
    assert answer["error"] == "no lab or guest 'nosuch' (labs: demo; guests: none)"
