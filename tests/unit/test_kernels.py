"""Kernels as a managed thing (core/kernels/): the choice on stand-in hosts and kernels, the
record and the cache, the parsing of apt's answers, and the CLI's errors. No kernel is
booted and nothing leaves the machine here (tests/guests/test_kernel_get.py fetches one)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from umltui import cli, kernelcli
from umltui.core.kernels import apt, fetch, identify, store
from umltui.core.kernels.choose import choose, ensure
from umltui.core.kernels.errors import KernelError, KernelFetchError
from umltui.core.kernels.features import boots, features
from umltui.core.kernels.host import Host, parse_libc
from umltui.core.kernels.record import KernelRecord, release_tuple

AVX512 = Host(restore_fails=True, libc=(2, 36))  # this project's machines: 6.1 cannot restore FPU state
PLAIN = Host(restore_fails=False, libc=(2, 36))  # a CPU without AVX-512 or AMX

K61 = KernelRecord(version="6.1um4+b13", release="6.1.176", source="installed", kernel="/usr/bin/linux.uml")
K612 = KernelRecord(version="6.12um1", release="6.12.38", source="fetched", kernel="/c/6.12um1/linux.uml")
K72 = KernelRecord(version="7.2um1", release="7.2.7", source="fetched", kernel="/c/7.2um1/linux.uml", suite="testing")
K73 = KernelRecord(version="7.3um1", release="7.3.1", source="fetched", kernel="/c/7.3um1/linux.uml", suite="unstable")


# -- what a kernel can do -----------------------------------------------------------


def test_features_of_the_old_kernel_on_an_avx512_host() -> None:
    f = features("6.1.176", AVX512)
    assert (f.legacy_nics, f.vector_nics, f.needs_fpu_workaround, f.boots_glibc) == (True, True, True, False)
    assert "FXSAVE" in f.why["needs_fpu_workaround"] and "systemd" in f.why["boots_glibc"]
    assert "legacy_nics" not in f.why


def test_features_of_the_new_kernel() -> None:
    f = features("7.2.7", AVX512)
    assert (f.legacy_nics, f.vector_nics, f.needs_fpu_workaround, f.boots_glibc) == (False, True, False, True)
    assert "vecN" in f.why["legacy_nics"] and set(f.why) == {"legacy_nics"}
    assert features("6.15.2", AVX512).legacy_nics and not features("6.16.0", AVX512).legacy_nics
    assert not features("6.13.1", AVX512).needs_fpu_workaround and features("6.12.38", AVX512).needs_fpu_workaround


def test_the_workround_is_never_for_a_kernel_or_host_that_does_not_need_it() -> None:
    assert not features("6.1.176", PLAIN).needs_fpu_workaround and features("6.1.176", PLAIN).boots_glibc
    for release in ("6.13.0", "7.2.7"):
        assert not boots(release, "busybox", AVX512).workaround
    assert boots("6.1.176", "busybox", AVX512) == boots("6.1.176", "busybox", AVX512)  # pure
    assert boots("6.1.176", "busybox", AVX512).workaround and not boots("6.1.176", "busybox", PLAIN).workaround
    assert not boots("6.1.176", "debian", AVX512).ok and not boots("6.1.176", "image", AVX512).ok


def test_release_and_libc_parsing() -> None:
    assert release_tuple("7.2.7") == (7, 2, 7) and release_tuple("6.12um1+b2") == (6, 12) and release_tuple("x") == ()
    assert parse_libc("glibc 2.36") == (2, 36) and parse_libc("musl") is None and parse_libc(None) is None


# -- the choice ---------------------------------------------------------------------


def test_avx512_host_with_only_the_installed_61_has_no_kernel_without_the_workround() -> None:
    for kind in ("busybox", "debian", "image"):
        c = choose(kind, host=AVX512, kernels=[K61])
        assert c.kernel is None and c.reason and "without a work-round" in c.reason and "6.1.176" in c.reason
    fallback = choose("busybox", workaround_ok=True, host=AVX512, kernels=[K61])
    assert fallback.kernel == K61 and fallback.workaround and fallback.warning and "FXSAVE" in fallback.warning
    assert choose("debian", workaround_ok=True, host=AVX512, kernels=[K61]).kernel is None


def test_avx512_host_takes_the_cached_72_for_every_root() -> None:
    for kind in ("busybox", "debian", "image"):
        c = choose(kind, host=AVX512, kernels=[K61, K72])
        assert c.kernel == K72 and not c.workaround and c.warning is None


def test_the_installed_kernel_comes_first_where_it_boots_the_root() -> None:
    for kind in ("busybox", "debian"):
        c = choose(kind, host=PLAIN, kernels=[K72, K61])
        assert c.kernel == K61 and not c.workaround


def test_the_newest_cached_kernel_that_fits() -> None:
    assert choose("debian", host=AVX512, kernels=[K61, K72, K612, K73]).kernel == K73
    assert choose("debian", host=AVX512, kernels=[K612]).kernel is None  # 6.12 still cannot restore FPU state here


def test_pins() -> None:
    kernels = [K61, K72]
    assert choose("debian", "7.2um1", host=AVX512, kernels=kernels).kernel == K72
    assert choose("debian", "7.2.7", host=AVX512, kernels=kernels).kernel == K72  # by release too
    assert choose("busybox", K72.kernel, host=AVX512, kernels=kernels).kernel == K72  # by path
    old = choose("busybox", "6.1um4+b13", host=AVX512, kernels=kernels)
    assert old.kernel == K61 and old.workaround and old.warning  # a pin is honoured, with the work-round it needs
    plain = choose("busybox", "6.1.176", host=PLAIN, kernels=kernels)
    assert plain.kernel == K61 and not plain.workaround and plain.warning is None
    refused = choose("debian", "6.1um4+b13", host=AVX512, kernels=kernels)
    assert refused.kernel is None and refused.reason and "cannot boot a debian root" in refused.reason
    missing = choose("debian", "9.9um1", host=AVX512, kernels=kernels)
    assert missing.kernel is None and missing.reason and "kernel get" in missing.reason
    nowhere = choose("debian", "/nonexistent/linux.uml", host=AVX512, kernels=kernels)
    assert nowhere.kernel is None and nowhere.reason and "no kernel at /nonexistent/linux.uml" in nowhere.reason
    with pytest.raises(ValueError, match="root kind"):
        choose("windows", host=AVX512, kernels=kernels)


def test_ensure_fetches_on_first_need_and_falls_back_when_it_cannot() -> None:
    here = [K61]
    calls: list[str] = []

    def fetch_ok() -> None:
        calls.append("get")
        here.append(K72)

    c = ensure("debian", host=AVX512, kernels=lambda: list(here), fetch=fetch_ok)
    assert c.kernel == K72 and calls == ["get"]
    assert ensure("debian", host=AVX512, kernels=lambda: list(here), fetch=fetch_ok).kernel == K72
    assert calls == ["get"]  # cached now: not fetched again

    def offline() -> None:
        raise KernelFetchError("cannot reach the Debian mirror")

    busybox = ensure("busybox", host=AVX512, kernels=lambda: [K61], fetch=offline)
    assert busybox.kernel == K61 and busybox.workaround and busybox.warning and "cannot reach" in busybox.warning
    debian = ensure("debian", host=AVX512, kernels=lambda: [K61], fetch=offline)
    assert debian.kernel is None and debian.reason and "cannot reach" in debian.reason
    pinned = ensure("debian", "9.9um1", host=AVX512, kernels=lambda: [K61], fetch=fetch_ok)
    assert pinned.kernel is None and calls == ["get"]  # a pin is never fetched nor replaced


# -- the record and the cache -------------------------------------------------------


def test_record_round_trip(tmp_path: Path) -> None:
    record = KernelRecord(
        version="7.2um1",
        release="7.2.7",
        source="fetched",
        kernel="/c/7.2um1/root/usr/bin/linux.uml",
        modules="/c/7.2um1/root/usr/lib/uml/modules/7.2.7",
        suite="testing",
        patched=True,
        size_bytes=123,
        fetched_at=1.5,
        downloaded_bytes=45,
        fetch_seconds=6.5,
    )
    record.write(tmp_path / "kernel.json")
    assert KernelRecord.read(tmp_path / "kernel.json") == record
    assert KernelRecord.from_json({**record.to_json(), "from_a_newer_umltui": 1}) == record
    with pytest.raises(ValueError, match="source"):
        KernelRecord.from_json({**record.to_json(), "source": "elsewhere"})
    with pytest.raises(ValueError, match="not a kernel record"):
        KernelRecord.from_json({"version": "7.2um1"})


def _stand_in_kernel(path: Path, release: str) -> None:
    """A script that answers --version as a UML kernel does (nothing here boots it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {release}\n")
    path.chmod(0o755)


def _cache_one(version: str, release: str) -> KernelRecord:
    work = store.work_dir(version)
    _stand_in_kernel(work / "root/usr/bin/linux.uml", release)
    final = store.folder(version) / "root/usr/bin/linux.uml"
    try:
        return store.commit(work, KernelRecord(version=version, release=release, source="fetched", kernel=str(final)))
    except BaseException:
        store.discard(work)  # as fetch does
        raise


def test_the_cache_is_read_only_listed_newest_first_and_removable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UMLTUI_CACHE_DIR", str(tmp_path))
    old = _cache_one("6.12um1", "6.12.38")
    new = _cache_one("7.2um1", "7.2.7")
    assert new.size_bytes > 0 and KernelRecord.read(store.folder("7.2um1") / "kernel.json") == new
    assert [r.version for r in store.cached()] == ["7.2um1", "6.12um1"]
    assert store.find("7.2um1") == new and store.find("7.3um1") is None
    for p in [store.folder("7.2um1"), *store.folder("7.2um1").rglob("*")]:
        assert not stat.S_IMODE(p.lstat().st_mode) & 0o222, p
    assert not list(store.kernels_dir().glob(".get-*"))  # nothing half-made is left
    with pytest.raises(KernelError, match="cached already"):
        _cache_one("7.2um1", "7.2.7")
    assert store.remove("6.12um1") == old and [r.version for r in store.cached()] == ["7.2um1"]
    assert not [p for p in store.kernels_dir().iterdir() if p.name.startswith((".rm-", ".get-"))]
    with pytest.raises(KernelError, match="cached: 7.2um1"):
        store.remove("6.12um1")
    with pytest.raises(KernelError, match="not a kernel version"):
        store.folder("../../etc")


def test_kernel_release_asks_the_kernel(tmp_path: Path) -> None:
    _stand_in_kernel(tmp_path / "k", "7.2.7")
    assert identify.kernel_release(tmp_path / "k") == "7.2.7"
    assert identify.describe(tmp_path / "k").source == "path"
    (tmp_path / "bad").write_text("#!/bin/sh\necho 'Failed to allocate memory' >&2\nexit 1\n")
    (tmp_path / "bad").chmod(0o755)
    with pytest.raises(KernelError, match="Failed to allocate"):
        identify.kernel_release(tmp_path / "bad")
    (tmp_path / "hang").write_text("#!/bin/sh\nexec sleep 30\n")
    (tmp_path / "hang").chmod(0o755)
    with pytest.raises(KernelError, match="did not answer"):
        identify.kernel_release(tmp_path / "hang", timeout=0.5)


# -- apt's answers ------------------------------------------------------------------

SHOW = """\
Package: user-mode-linux
Version: 7.2um1
Installed-Size: 180000
Depends: libc6 (>= 2.38), libpcap0.8t64 (>= 1.0)
Size: 46912000

Package: user-mode-linux-doc
Version: 7.2um1
Size: 10
"""


def test_parsing_apt() -> None:
    packages = apt.parse_show(SHOW)
    assert packages[0] == apt.Package("user-mode-linux", "7.2um1", "libc6 (>= 2.38), libpcap0.8t64 (>= 1.0)", 46912000)
    assert apt.min_libc(packages[0].depends) == (2, 38) and apt.min_libc("libfoo") is None
    out = "Get:1 ...\nFetched 9,876 kB in 2s (4,938 kB/s)\nReading package lists...\nFetched 46.9 MB in 3s (15 MB/s)\n"
    assert apt.fetched_bytes(out) == 9_876_000 + 46_900_000


def test_missing_tools_say_which_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UMLTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(KernelFetchError, match=r"apt-get is missing: install Debian's apt \(apt-get install apt\)"):
        fetch.get(host=AVX512, mirror="file:///nonexistent/debian")


@pytest.fixture
def apt_gives_up_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """apt tries a refused connection 3 more times, 7 s in all; once is enough to test what we say then."""
    conf = tmp_path / "apt.conf"
    conf.write_text('Acquire::Retries "0";\n')
    monkeypatch.setenv("APT_CONFIG", str(conf))


@pytest.mark.usefixtures("apt_gives_up_at_once")
def test_a_mirror_that_cannot_be_reached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UMLTUI_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(KernelFetchError, match=r"cannot reach the Debian mirror http://127\.0\.0\.1:9/debian"):
        fetch.get(host=AVX512, mirror="http://127.0.0.1:9/debian")  # the discard port: refused at once
    assert not store.cached()


def test_no_suite_offers_a_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UMLTUI_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "empty/debian").mkdir(parents=True)
    mirror = f"file://{tmp_path}/empty/debian"
    with pytest.raises(KernelFetchError, match="no suite offers .* no suite testing; .* no suite unstable"):
        fetch.get(host=AVX512, mirror=mirror)
    with pytest.raises(KernelFetchError, match="has no suite forky"):
        fetch.get("forky", host=AVX512, mirror=mirror)


# -- the CLI ------------------------------------------------------------------------


@pytest.mark.usefixtures("apt_gives_up_at_once")
def test_cli_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UMLTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(kernelcli, "available", lambda: [K61])
    assert cli.main(["kernel", "get", "Not/A/Suite"]) == 2
    assert "not a Debian suite" in capsys.readouterr().err
    assert cli.main(["kernel", "rm", "7.2um1"]) == 2
    assert "no cached kernel '7.2um1' (cached: none)" in capsys.readouterr().err
    assert cli.main(["kernel", "rm", "6.1um4+b13"]) == 2
    assert "apt-get remove user-mode-linux" in capsys.readouterr().err
    assert cli.main(["kernel", "get", "--mirror", "http://127.0.0.1:9/debian"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("umltui: cannot reach the Debian mirror") and "--mirror" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["kernel", "frobnicate"])
    assert exc.value.code == 2


def test_cli_ls_and_rm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UMLTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(kernelcli, "this_host", lambda: AVX512)
    cached = _cache_one("7.2um1", "7.2.7")
    monkeypatch.setattr(kernelcli, "available", lambda: [K61, *store.cached()])
    assert cli.main(["kernel", "ls", "--json"]) == 0
    rows = {r["version"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["6.1um4+b13"]["boots"]["busybox"] == {
        "ok": True,
        "workaround": True,
        "why": features("6.1.176", AVX512).why["needs_fpu_workaround"],
    }
    assert not rows["6.1um4+b13"]["boots"]["debian"]["ok"] and rows["6.1um4+b13"]["chosen_for"] == []
    assert rows["7.2um1"]["chosen_for"] == ["busybox", "debian", "image"] and rows["7.2um1"]["path"] == cached.kernel
    assert cli.main(["kernel", "ls"]) == 0
    assert "work-round" in capsys.readouterr().out
    assert cli.main(["kernel", "rm", "7.2um1"]) == 0
    assert "removed 7.2um1" in capsys.readouterr().out and not os.path.exists(cached.kernel)
