"""Netkit and Kathará lab folders: both dialects read, every bad line named at once, the YAML
import says the same, and ltest's comparison follows Netkit 2's signatures."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from umltui.core.lab import Lab, LabError, LabErrors, load_lab
from umltui.core.netkit.export import lab_to_yaml
from umltui.core.netkit.labconf import parse_labconf, parse_labdep
from umltui.core.netkit.ltest import clear_results, compare
from umltui.core.netkit.packages import BASE
from umltui.core.rootfs import boot_files

NETKIT = """\
LAB_DESCRIPTION=RIP between two routers
LAB_VERSION=1.2
LAB_AUTHOR=Roma Tre
LAB_EMAIL=contact@netkit.org
LAB_WEB=http://www.netkit.org/

pc1[0]=A
r-1[0]=A
r-1[1]=B
r-1[mem]=64
r2[0]=B
r2[1]=tap,10.0.0.1,10.0.0.2
pc1[exec]=echo exec-ran
"""

KATHARA = """\
LAB_NAME="Kathara FRR"
LAB_DESCRIPTION="An OSPF lab"   # with a comment
r1[0]="A"
r1[1]='B/02:00:00:00:00:aa'  # a MAC
r1[image]="kathara/frr"
r1[mem]=256m
r1[ipv6]="false"
r1[num_terms]=3
r1[sysctl]="net.ipv4.conf.all.send_redirects=0"
r2[0]=B
r2[image]=kathara/bind:latest
r2[port]="8080:80/tcp"
r2[privileged]=true
r2[env]="X=1"
r2[env]="Y=2"
"""


def make_lab(root: Path, conf: str, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "lab.conf").write_text(conf)
    for name, text in files.items():
        path = root / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_netkit_lab_reads_as_netkit_would_boot_it(tmp_path: Path) -> None:
    lab_dir = make_lab(
        tmp_path / "rip",
        NETKIT,
        **{
            "pc1.startup": "ip addr add 10.0.0.1/24 dev eth0\r\n",  # CRLF: written on Windows
            "shared.startup": "echo shared\n",
            "r-1.shutdown": "echo bye\n",
            "pc1__etc__network__interfaces": "auto eth0\n",
            "shared__etc__motd": "hi\n",
            "lab.dep": "r-1: pc1\nr2: r-1\n",
        },
    )
    (lab_dir / "r3").mkdir()  # a folder alone is a machine (Netkit)
    (lab_dir / "_test").mkdir()
    lab = load_lab(lab_dir)
    assert lab.name == "rip" and lab.path == lab_dir / "lab.conf"
    assert lab.description == (
        "RIP between two routers\nversion 1.2 by Roma Tre <contact@netkit.org> http://www.netkit.org/"
    )
    assert list(lab.guests) == ["pc1", "r2", "r3", "r-1"]  # (natural order: r-1 after r3)
    assert {n: s.hub for n, s in lab.switches.items()} == {"A": True, "B": True}
    pc1, r1, r2, r3 = (lab.guests[n] for n in ("pc1", "r-1", "r2", "r3"))
    assert pc1.umid == "rip-pc1" and r1.umid == "rip-r-1"
    assert [(n.name, n.kind, n.target) for n in r1.nics] == [("eth0", "switch", "A"), ("eth1", "switch", "B")]
    assert r1.mem == "64M" and pc1.mem == "128M" and pc1.consoles == 1
    assert pc1.files == [lab_dir / "shared", lab_dir / "pc1"] and r1.files == [lab_dir / "shared"]
    assert pc1.hostfs == {"/hostlab": lab_dir}
    assert r1.after == ["pc1"] and r2.after == ["r-1"] and r3.after == []
    assert pc1.sysctl["net.ipv4.ip_forward"] == "1" and r3.sysctl["net.ipv4.ip_forward"] == "1"
    # shared.startup, then the machine's, each in a bash of its own; then exec; no CR left
    assert pc1.startup.index("echo shared") < pc1.startup.index("ip addr add") < pc1.startup.index("exec-ran")
    assert "\r" not in pc1.startup and pc1.startup.count("bash -c") == 2
    assert "echo bye" in r1.shutdown and r3.startup.count("bash -c") == 1  # shared.startup only
    # one image for the whole lab: the Netkit base set
    assert {g.root for g in lab.guests.values()} == {lab.guests["pc1"].root}
    assert pc1.root.kind == "debian" and set(BASE) <= set(pc1.root.packages)
    # the tap is in a namespace of the lab's own, never the host's, and said so
    assert lab.netns == "nk-rip" and list(lab.taps) == ["nktap0"] and lab.taps["nktap0"].ip == "10.0.0.1/24"
    assert [(n.name, n.kind, n.ip) for n in r2.nics][1] == ("eth1", "tap", "10.0.0.2/24")
    assert any("nk-rip" in w for w in lab.warnings)


def test_a_startup_run_as_netkit_runs_it(tmp_path: Path) -> None:
    """Each .startup runs in a bash of its own: an ``exit`` in shared.startup does not skip the machine's."""
    lab_dir = make_lab(
        tmp_path / "ex",
        "pc1[0]=A\n",
        **{"shared.startup": "echo one\nexit 3\n", "pc1.startup": "echo two $0\necho 'UMLTUI_EOF'\n"},
    )
    startup = load_lab(lab_dir).guests["pc1"].startup
    out = subprocess.run(["sh", "-c", startup], capture_output=True, text=True, timeout=10, check=True)
    assert out.stdout.split("\n")[:3] == ["one", "two pc1.startup", "UMLTUI_EOF"]


def test_a_kathara_lab_reads_with_quotes_comments_macs_and_docker_warnings(tmp_path: Path) -> None:
    lab = load_lab(make_lab(tmp_path / "k", KATHARA) / "lab.conf")  # the lab.conf itself works too
    assert lab.name == "kathara-frr" and lab.description == "An OSPF lab"
    r1, r2 = lab.guests["r1"], lab.guests["r2"]
    assert [(n.name, n.target, n.mac) for n in r1.nics] == [("eth0", "A", None), ("eth1", "B", "02:00:00:00:00:aa")]
    assert r1.mem == "256M" and r1.consoles == 3
    assert r1.sysctl["net.ipv6.conf.all.disable_ipv6"] == "1"
    assert r1.sysctl["net.ipv4.conf.all.send_redirects"] == "0"
    assert {"bind9", "frr"} <= set(r1.root.packages) and r1.root == r2.root
    docker = [w for w in lab.warnings if "Docker" in w]
    assert len(docker) == 3 and any(w.startswith("lab.conf: env (r2 (line 14), r2 (line 15))") for w in docker)


def test_every_bad_line_is_named_at_once_and_junk_is_only_warned_about(tmp_path: Path) -> None:
    conf = """\
pc1[0]=A B
pc1[0]=A
pc1[0]=C
shared[0]=A
pc1[1]=A/zz:00:00:00:00:01
pc1[2]="A
pc1[mem]=lots
pc1[sysctl]=nonsense
pc2[num_terms]=many
pc2[3]=tap,10.0.0.1
pc2[4]=tap,10.0.0.1,10.0.0.300
pc3[x y]=1
this is not a lab.conf line
machines=pc1
"""
    lab_dir = make_lab(tmp_path / "bad", conf, **{"lab.dep": "pc1: nobody\npc1 pc2\n"})
    with pytest.raises(LabErrors) as caught:
        load_lab(lab_dir)
    said = str(caught.value)
    conf_path, dep_path = lab_dir / "lab.conf", lab_dir / "lab.dep"
    for line, field in [
        (1, "pc1[0]"),
        (3, "pc1[0]"),
        (4, "shared[0]"),
        (5, "pc1[1]"),
        (6, "pc1[2]"),
        (7, "pc1[mem]"),
        (8, "pc1[sysctl]"),
        (9, "pc2[num_terms]"),
        (10, "pc2[3]"),
        (11, "pc2[4]"),
        (12, "pc3[x y]"),
    ]:
        assert f"{conf_path}:{line}: {field}: " in said, (line, said)
    assert "given twice (first on line 2)" in said
    assert f"{dep_path}:1: pc1: no machine 'nobody'" in said and f"{dep_path}:2: " in said
    assert "this is not" not in said and "machines=" not in said  # Netkit ignores them: warnings only
    good = parse_labconf("junk here\nmachines=a\npc1[0]=A\n")
    assert not good.errors and [w.line for w in good.warnings] == [1, 2]


def test_lab_dep_circles_and_shape(tmp_path: Path) -> None:
    lab_dir = make_lab(tmp_path / "c", "a[0]=X\nb[0]=X\nc[0]=X\n", **{"lab.dep": "a: b\nb: c\n# note\nc: a\n"})
    with pytest.raises(LabError, match=r"lab.dep:\d: \w: the machines wait for each other in a circle: "):
        load_lab(lab_dir)
    deps, problems = parse_labdep("a:b c\nb : c  # why\n\n")
    assert deps == {"a": (["b", "c"], 1), "b": (["c"], 2)} and problems == []


def test_not_a_lab_folder(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no lab.conf or lab.dep"):
        load_lab(tmp_path)
    spaced = make_lab(tmp_path / "a lab", "a[0]=X\n")
    with pytest.raises(LabError, match="white space"):
        load_lab(spaced)


def test_lab_machines_and_odd_folders(tmp_path: Path) -> None:
    lab_dir = make_lab(tmp_path / "LAB.v2", "LAB_MACHINES=r1,r2\nr1[0]=A\nr9[0]=A\n")
    (lab_dir / ".git").mkdir()
    lab = load_lab(lab_dir)
    assert lab.name == "lab-v2" and list(lab.guests) == ["r1", "r2"]
    assert any("r9 is not in LAB_MACHINES" in w for w in lab.warnings)
    other = make_lab(tmp_path / "o", "r1[0]=A\n")
    (other / "not a machine").mkdir()
    assert list(load_lab(other).guests) == ["r1"] and any("not a machine" in w for w in load_lab(other).warnings)


def _same(a: Lab, b: Lab) -> None:
    """What matters of two labs: everything but where they were read from, and the warnings."""
    assert (a.name, a.description, a.switches, a.taps, a.netns) == (b.name, b.description, b.switches, b.taps, b.netns)
    assert list(a.guests) == list(b.guests)
    for name in a.guests:
        one, two = (dataclasses.replace(g, test_script="") for g in (a.guests[name], b.guests[name]))
        assert one == two, name


@pytest.mark.parametrize("inside", [True, False])
def test_import_writes_yaml_that_says_the_same(tmp_path: Path, inside: bool) -> None:
    lab_dir = make_lab(
        tmp_path / "rip",
        NETKIT + KATHARA.replace("LAB_NAME", "#").replace("r2[", "k2["),
        **{"pc1.startup": "echo 'a: b' # yaml-ish\n\techo tab\n", "lab.dep": "r-1: pc1\n", "shared__f": "x"},
    )
    (lab_dir / "pc1").mkdir()
    out = (lab_dir if inside else tmp_path / "elsewhere") / "lab.yaml"
    out.parent.mkdir(exist_ok=True)
    folder_lab = load_lab(lab_dir)
    text = lab_to_yaml(folder_lab, out)
    out.write_text(text)
    assert ("/hostlab: .\n" in text) == inside, text
    assert ("- shared\n" in text) == inside, text
    assert "# warning: lab.conf:" in text
    _same(load_lab(out), folder_lab)


def test_import_from_the_command_line(tmp_path: Path) -> None:
    lab_dir = make_lab(tmp_path / "cli", NETKIT)
    out = lab_dir / "lab.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "umltui", "import", str(lab_dir), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and out.exists()
    _same(load_lab(out), load_lab(lab_dir))
    bad = make_lab(tmp_path / "bad", "a[0]=A B\nb[mem]=x\n")
    proc = subprocess.run([sys.executable, "-m", "umltui", "import", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("umltui: ") == 2


def test_test_mode_gives_the_guest_its_test(tmp_path: Path) -> None:
    lab = load_lab(make_lab(tmp_path / "t", "a[0]=A\nb[0]=A\nc[0]=A\n", **{"lab.dep": "c: b\n"}))
    a, b = lab.guests["a"], lab.guests["b"]
    assert "test" not in boot_files(a)
    a.test = True
    script = boot_files(a)["test"][0]
    assert "/hostlab/_test/scripts/a.test" in script.replace('"$s/a.test"', "/hostlab/_test/scripts/a.test")
    # every machine's test waits for every other machine's startup (the test runs after ready)
    assert "for m in a c; do" in lab.guests["b"].test_script and "for m in a b; do" in lab.guests["c"].test_script
    assert "for m in b c; do" in a.test_script and 'touch "$r/.a.done"' in a.test_script
    assert subprocess.run(["sh", "-n", "-c", script], timeout=10).returncode == 0
    assert b.test is False


def test_ltest_compares_as_netkit_2_did(tmp_path: Path) -> None:
    lab_dir = make_lab(tmp_path / "lt", "a[0]=A\nb[0]=A\n")
    results = clear_results(lab_dir, ["a", "b"], delay=2)
    assert (results / ".delay").read_text() == "2\n"
    assert compare(lab_dir, ["a", "b"]).status == 2  # nothing ran
    (results / "a.default").write_text("[NETWORK INTERFACES]\n  inet 10.0.0.1/24\n")
    (results / "a.user").write_text("ping ok\n")
    (results / "b.default").write_text("[NETWORK INTERFACES]\n")
    made = compare(lab_dir, ["a", "b"])
    assert (made.status, made.created) == (0, True) and (lab_dir / "_test/signature/a.user").exists()
    # white space amounts and blank lines do not count; a.user is compared, not a.default
    (results / "a.user").write_text("ping\tok\n\n")
    (results / "a.default").write_text("something else\n")
    same = compare(lab_dir, ["a", "b"])
    assert (same.status, same.created) == (0, False) and "a: user same" in same.lines
    # b has no test of its own: its built-in result is compared instead (not passed for nothing)
    assert "b: default same" in same.lines
    (results / "b.default").write_text("[NETWORK INTERFACES]\n  inet 10.0.0.9/24\n")
    assert compare(lab_dir, ["a", "b"]).status == 1
    (results / "b.default").write_text("[NETWORK INTERFACES]\n")
    assert compare(lab_dir, ["a", "b"], "builtin").status == 1 and compare(lab_dir, ["a", "b"], "both").status == 1
    (results / "a.user").write_text("ping FAILED\n")
    differs = compare(lab_dir, ["a", "b"])
    assert differs.status == 1 and "  +ping FAILED" in differs.lines
    clear_results(lab_dir, ["a"])
    assert not (results / "a.user").exists() and (results / "b.default").exists()
    assert not (results / ".delay").exists()
