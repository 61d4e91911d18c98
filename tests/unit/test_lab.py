"""Lab files: the shape from the issue parses; bad ones name file, line and field."""

from pathlib import Path

import pytest

from umltui.core.lab import LabError, LabErrors, load_lab, parse_lab

GOOD = """\
name: twohosts
switches:
  lan0: {}
  hub0: {hub: true}
guests:
  a:
    mem: 64M
    consoles: 6
    root: busybox
    nics:
      eth0: {switch: lan0, ip: 10.0.0.1/24}
    disks:
      ubd1: data.img
    startup: |
      echo hello > /tmp/hello
  b:
    nics:
      eth0: {switch: lan0, ip: 10.0.0.2/24}
      eth1: {switch: hub0}
"""


def test_the_issue_lab_parses(tmp_path: Path) -> None:
    (tmp_path / "data.img").write_bytes(b"\0" * 1024)
    path = tmp_path / "lab.yaml"
    path.write_text(GOOD)
    lab = load_lab(path)
    assert lab.name == "twohosts"
    assert lab.switches["hub0"].hub and not lab.switches["lan0"].hub
    a, b = lab.guests["a"], lab.guests["b"]
    assert (a.umid, a.mem, a.consoles, a.root.kind) == ("twohosts-a", "64M", 6, "busybox")
    assert a.disks[0].image == tmp_path / "data.img"  # relative to the lab file
    assert a.nics[0].ip == "10.0.0.1/24" and a.startup == "echo hello > /tmp/hello\n"
    assert (b.mem, b.consoles) == ("128M", 6) and [n.target for n in b.nics] == ["lan0", "hub0"]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (
            "name: x\nguests:\n  a:\n    nics:\n      eth0: {switch: nope}\n",
            5,
            "guests.a.nics.eth0.switch",
            "no switch 'nope'",
        ),
        ("name: x\nguests:\n  a:\n    memory: 64M\n", 4, "guests.a.memory", "did you mean 'mem'"),
        ("name: x\nguests:\n  a:\n    mem: lots\n", 4, "guests.a.mem", "not a memory size"),
        (
            "name: x\nswitches: {s: {}}\nguests:\n  a:\n    nics:\n      eth0: {switch: s, ip: 10.0.0.300/24}\n",
            6,
            "guests.a.nics.eth0.ip",
            "not an IP address",
        ),
        ("name: x\nguests:\n  a:\n    disks:\n      ubd1: missing.img\n", 5, "guests.a.disks.ubd1", "no such file"),
        ("name: x\nguests:\n  a:\n    consoles: 9\n", 4, "guests.a.consoles", "from 1 to 6"),
        ("name: x\nguests: {}\n", 2, "guests", "at least one guest"),
        ("name: Bad Name\nguests: {a: {}}\n", 1, "name", "lab name"),
        ("name: x\nguests:\n  a:\n    nics:\n      wlan0: {slirp: true}\n", 5, "guests.a.nics.wlan0", "ethN"),
        ("name: x\nguests:\n  a: {root: {image: nothere.img}}\n", 3, "guests.a.root.image", "no such file"),
        *(
            (
                f"name: x\nswitches: {{s: {{}}}}\nguests:\n  a:\n    nics:\n      eth0: {{switch: s, mac: '{mac}'}}\n",
                6,
                "guests.a.nics.eth0.mac",
                words,
            )
            for mac, words in (
                ("ff:ff:ff:ff:ff:ff", "multicast"),
                ("01:00:5e:00:00:01", "multicast"),
                ("03:00:00:00:00:01", "multicast"),
                ("00:00:00:00:00:00", "not a NIC's address"),
            )
        ),
    ],
)
def test_bad_labs_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(LabError) as info:
        load_lab(path)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), line, field), str(err)
    assert words in str(err)
    assert str(err).startswith(f"{path}:{line}: {field}: ")


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"bad.yaml:2: not valid YAML: mapping values"):
        parse_lab("name: x\nguests: a: b\n", tmp_path / "bad.yaml")


@pytest.mark.parametrize("nest", ["[" * 5000 + "]" * 5000, "".join(f"\n{' ' * i}k:" for i in range(1, 1000)) + " v"])
def test_a_lab_nested_thousands_deep_is_refused_naming_the_file(tmp_path: Path, nest: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(f"name: x\nguests: {{a: {{}}}}\ndescription: {nest}\n")
    with pytest.raises(LabError, match=r"deep.yaml:\d+: nested over 64 levels deep") as info:
        load_lab(path)
    assert info.value.path == str(path)


def test_a_unicast_mac_is_taken(tmp_path: Path) -> None:
    lab = parse_lab("name: x\nswitches: {s: {}}\nguests:\n  a: {nics: {eth0: {switch: s, mac: '02:AB:00:00:00:01'}}}\n",
                    tmp_path / "lab.yaml")  # fmt: skip
    assert lab.guests["a"].nics[0].mac == "02:ab:00:00:00:01"


def test_missing_file() -> None:
    with pytest.raises(LabError, match="No such file"):
        load_lab("/nonexistent/lab.yaml")


def test_demo_lab_is_valid() -> None:
    from umltui.cli import demo_lab_path

    lab = load_lab(demo_lab_path())
    assert lab.name == "demo" and sorted(lab.guests) == ["a", "b"]
    assert [n.ip for g in lab.guests.values() for n in g.nics] == ["10.0.0.1/24", "10.0.0.2/24"]


def test_every_problem_of_a_lab_is_reported_at_once(tmp_path: Path) -> None:
    lab = tmp_path / "bad.yaml"
    lab.write_text(
        "name: bad\n"
        "switches:\n"
        "  lan0: {}\n"
        "guests:\n"
        "  a:\n"
        "    mem: lots\n"
        "    nics:\n"
        "      eth0: {switch: lan9}\n"
        "    consoels: 2\n"
        "  b:\n"
        "    consoles: 9\n"
        "    disks:\n"
        "      ubd1: {image: nosuch.img}\n"
    )
    with pytest.raises(LabErrors) as caught:
        load_lab(lab)
    found = [(e.line, e.field) for e in caught.value.errors]
    assert found == [
        (6, "guests.a.mem"),
        (8, "guests.a.nics.eth0.switch"),
        (9, "guests.a.consoels"),
        (11, "guests.b.consoles"),
        (13, "guests.b.disks.ubd1.image"),
    ]
    lines = str(caught.value).splitlines()
    assert len(lines) == 5 and all(line.startswith(f"{lab}:") for line in lines)
    assert "did you mean 'consoles'" in lines[2]


def test_netkit_habits_files_shutdown_after_and_sysctl(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "r1").mkdir()
    (tmp_path / "lab.yaml").write_text(
        """
name: habits
description: two routers
guests:
  r1:
    files: [shared, r1]
    shutdown: echo bye
    sysctl: {net.ipv4.ip_forward: 1}
  r2:
    after: [r1]
"""
    )
    lab = load_lab(tmp_path / "lab.yaml")
    r1, r2 = lab.guests["r1"], lab.guests["r2"]
    assert r1.files == [tmp_path / "shared", tmp_path / "r1"] and r1.shutdown == "echo bye"
    assert r1.sysctl == {"net.ipv4.ip_forward": "1"} and r2.after == ["r1"]
    assert lab.description == "two routers"


def test_after_names_guests_of_the_lab_and_no_circle(tmp_path: Path) -> None:
    with pytest.raises(LabError) as err:
        (tmp_path / "lab.yaml").write_text(
            """
name: circle
guests:
  a: {after: [b]}
  b: {after: [a]}
  c: {after: [nosuch], files: [missing], sysctl: {"bad key": 1}}
"""
        )
        load_lab(tmp_path / "lab.yaml")
    text = str(err.value)
    assert "circle: a -> b -> a" in text or "circle: b -> a -> b" in text
    assert "no guest 'nosuch'" in text and "missing" in text and "'bad key'" in text


def test_every_field_of_one_nic_disk_switch_and_root_is_reported(tmp_path: Path) -> None:
    # Issue 40, 8: a NIC with a bad switch and a bad IP reported only the IP.
    lab = tmp_path / "bad.yaml"
    lab.write_text(
        "name: bad\n"
        "switches:\n"
        "  lan0: {hub: maybe, capture: lots}\n"
        "guests:\n"
        "  a:\n"
        "    nics:\n"
        "      eth0: {switch: lan9, ip: 10.0.0.300/24, mac: 01:00:00:00:00:01}\n"
        "    disks:\n"
        "      ubd1: {image: nosuch.img, readonly: perhaps}\n"
        "    root: {debian: Bookworm!, packages: [BAD_NAME]}\n"
    )
    with pytest.raises(LabErrors) as caught:
        load_lab(lab)
    found = [e.field for e in caught.value.errors]
    assert found == [
        "switches.lan0.hub",
        "switches.lan0.capture",
        "guests.a.nics.eth0.switch",
        "guests.a.nics.eth0.ip",
        "guests.a.nics.eth0.mac",
        "guests.a.disks.ubd1.image",
        "guests.a.disks.ubd1.readonly",
        "guests.a.root.debian",
        "guests.a.root.packages.[]",
    ], str(caught.value)
