"""What a lab's guest is given of Netkit's habits, on the host: ``files`` copied over a busybox
root (following the root's own links, inside it), the per-boot files, and ``after``'s waves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from umltui.core.lab import GuestSpec, parse_lab
from umltui.core.rootfs import RootfsError, boot_files, copy_over, guest_path, write_boot_files
from umltui.core.supervisor.ops.lab import boot_waves


def _debian_like_root(root: Path) -> None:
    (root / "usr/lib").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "lib").symlink_to("usr/lib")  # as Debian's merged /usr has it
    (root / "sbin").symlink_to("/usr/sbin")  # an absolute link: the guest's /usr, not the host's


def test_a_machine_folder_follows_the_roots_links_and_does_not_replace_them(tmp_path: Path) -> None:
    root, machine = tmp_path / "root", tmp_path / "machine"
    _debian_like_root(root)
    (machine / "lib/systemd/system").mkdir(parents=True)
    (machine / "lib/foo").write_text("foo\n")
    (machine / "lib/systemd/system/hello.service").write_text("[Service]\n")
    (machine / "sbin").mkdir()
    (machine / "sbin/tool").write_text("#!/bin/sh\n")
    os.chmod(machine / "sbin/tool", 0o755)
    (machine / "etc").mkdir()
    (machine / "etc/x").write_text("x\n")
    (machine / "etc/link").symlink_to("/etc/x")
    copy_over(machine, root)
    assert (root / "lib").is_symlink() and os.readlink(root / "lib") == "usr/lib"
    assert (root / "usr/lib/foo").read_text() == "foo\n"
    assert (root / "usr/lib/systemd/system/hello.service").exists()
    assert (root / "sbin").is_symlink() and (root / "usr/sbin/tool").stat().st_mode & 0o111
    assert (root / "etc/x").read_text() == "x\n"
    assert os.readlink(root / "etc/link") == "/etc/x"  # a link is copied as a link
    copy_over(machine, root)  # each boot again: the same result
    assert (root / "usr/lib/foo").read_text() == "foo\n"


def test_links_in_the_root_never_lead_to_the_hosts_files(tmp_path: Path) -> None:
    outside = tmp_path / "host-etc"
    outside.mkdir()
    root, machine = tmp_path / "root", tmp_path / "machine"
    root.mkdir()
    (root / "etc").symlink_to(str(outside))  # what a guest (or a lab) may leave in its root
    (root / "up").symlink_to("../../..")
    assert guest_path(root, "etc/passwd") == root / str(outside).lstrip("/") / "passwd"
    assert guest_path(root, "up/x") == root / "x"
    (machine / "etc").mkdir(parents=True)
    (machine / "etc/passwd").write_text("lab\n")
    copy_over(machine, root)
    assert list(outside.iterdir()) == []
    assert (root / str(outside).lstrip("/") / "passwd").read_text() == "lab\n"


def test_a_file_may_not_replace_a_folder_of_the_root(tmp_path: Path) -> None:
    root, machine = tmp_path / "root", tmp_path / "machine"
    (root / "etc").mkdir(parents=True)
    machine.mkdir()
    (machine / "etc").write_text("not a folder\n")
    with pytest.raises(RootfsError, match="would replace the guest's folder /etc"):
        copy_over(machine, root)


def test_boot_files_carry_names_sysctl_shutdown_and_files_and_drop_old_ones(tmp_path: Path) -> None:
    spec = GuestSpec(name="r1", umid="lab-r1", shutdown="echo bye\n", sysctl={"net.ipv4.ip_forward": "1"})
    spec.files = [tmp_path / "shared", tmp_path / "r1"]
    files = boot_files(spec)
    assert files["sysctl"][0] == "net.ipv4.ip_forward=1\n"
    assert files["files"][0] == f"{tmp_path / 'shared'}\n{tmp_path / 'r1'}\n"
    assert files["shutdown"][0] == "echo bye\n" and files["names"][0] == ""
    folder = write_boot_files(spec, tmp_path / "boot")
    assert (folder / "shutdown").exists()
    write_boot_files(GuestSpec(name="r1", umid="lab-r1"), folder)
    assert not (folder / "shutdown").exists() and not (folder / "sysctl").exists()


def test_after_boots_in_waves(tmp_path: Path) -> None:
    text = """\
name: w
guests:
  a: {}
  b: {after: [a]}
  c: {after: [b, a]}
  d: {}
"""
    lab = parse_lab(text, tmp_path / "w.yaml")
    every = {g.umid for g in lab.guests.values()}
    assert [[g.name for g in wave] for wave in boot_waves(lab, every)] == [["a", "d"], ["b"], ["c"]]
    # a is running already: b does not wait for it
    assert [[g.name for g in wave] for wave in boot_waves(lab, every - {"w-a"})] == [["b", "d"], ["c"]]
