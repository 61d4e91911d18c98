"""The kernel command line is built from typed values and refuses text that would change it."""

from pathlib import Path

import pytest

from umltui.core.cmdline import CmdlineError, Disk, KernelCommandLine, Nic


def test_words_for_a_hostfs_guest_with_disks_and_nics() -> None:
    cmd = KernelCommandLine(
        umid="lab-a",
        mem="96M",
        uml_dir=Path("/tmp/uml"),
        hostfs_root=Path("/srv/root"),
        init="/sbin/init",
        disks=[Disk(2, Path("/d/b.img")), Disk(1, Path("/d/base.img"), cow=Path("/d/a.cow"))],
        nics=[
            Nic("eth0", "switch", "/run/sw.ctl", "02:00:00:00:00:01"),
            Nic("eth1", "tap", "tap0"),
            Nic("vec0", "tap", "tap1"),
            Nic("eth2", "slirp"),
            Nic("vec1", "vector", options=(("transport", "raw"), ("ifname", "veth0"))),
        ],
        notify_socket=Path("/run/n.sock"),
        extra=["quiet"],
    )
    assert cmd.words() == [
        "umid=lab-a",
        "mem=96M",
        "uml_dir=/tmp/uml",
        "rootfstype=hostfs",
        "rootflags=/srv/root",
        "rw",
        "init=/sbin/init",
        "con=pts",
        "con0=null,fd:1",
        "mconsole=notify:/run/n.sock",
        "ubd1=/d/a.cow,/d/base.img",
        "ubd2=/d/b.img",
        "eth0=vde,vde:///run/sw.ctl,02:00:00:00:00:01",
        "eth1=tuntap,tap0",
        "vec0:transport=tap,ifname=tap1",
        "eth2=slirp,,/usr/bin/slirp",
        "vec1:transport=raw,ifname=veth0",
        "quiet",
    ]


@pytest.mark.parametrize("bad", ["a b", "x\0", "tab\there"])
def test_white_space_is_refused_everywhere(bad: str) -> None:
    with pytest.raises(CmdlineError, match="white space|umid"):
        KernelCommandLine(umid="u", extra=[bad]).words()
    with pytest.raises(CmdlineError):
        Disk(1, Path(f"/d/{bad}")).word()


def test_commas_are_refused_where_the_kernel_splits() -> None:
    with pytest.raises(CmdlineError, match="comma"):
        Disk(1, Path("/d/a,b.img")).word()
    with pytest.raises(CmdlineError, match="comma"):
        Nic("eth0", "switch", "/run/a,b.ctl").word()


def test_bad_umid_and_mem() -> None:
    with pytest.raises(CmdlineError, match="umid"):
        KernelCommandLine(umid="a/b").words()
    with pytest.raises(CmdlineError, match="mem"):
        KernelCommandLine(umid="a", mem="lots").words()


def test_disk_config_is_what_mconsole_hotplug_takes() -> None:
    assert Disk(3, Path("/i.img"), Path("/c.cow")).config() == "/c.cow,/i.img"
    assert Nic("eth1", "switch", "/s").config() == "vde,vde:///s"
    assert Nic("vec1", "switch", "/s", "02:00:00:00:00:01").word() == (
        "vec1:transport=vde,vnl=vde:///s,mac=02:00:00:00:00:01"
    )
