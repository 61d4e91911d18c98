"""Debian images without building one: recipes and keys, lab roots, COW headers, the mirror,
the kernel command line of a guest on an image of ours, and what a failed build says."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from umltui.core import guestfiles, images
from umltui.core.cmdline import plan_boot
from umltui.core.images import builder, cache, contents
from umltui.core.lab import LabError, parse_lab
from umltui.core.rootfs import boot_files


def test_recipe_key_is_what_went_in() -> None:
    a = images.Recipe.make("bookworm", ["frr", "bind9"])
    assert a == images.Recipe.make("bookworm", ["bind9", "frr", "frr"])  # order and repeats do not matter
    assert a.key("6.1.176") == images.Recipe.make(None, ["bind9", "frr"]).key("6.1.176")
    assert a.key("6.1.176") != a.key("6.1.177")  # another kernel's modules: another image
    assert a.key("6.1.176") != images.Recipe.make("bookworm", ["frr"]).key("6.1.176")
    assert a.key("6.1.176") != images.Recipe.make("bookworm", ["frr", "bind9"], "4G").key("6.1.176")
    # a default package named again is not an extra one
    assert images.Recipe.make("bookworm", ["tcpdump"]) == images.Recipe.make()
    assert a.default_name() == "debian-bookworm+bind9+frr"


@pytest.mark.parametrize(
    ("suite", "packages", "size", "words"),
    [
        ("Bookworm!", [], None, "not a Debian suite"),
        ("bookworm", ["Bad_Name"], None, "not a Debian package name"),
        ("bookworm", ["x; rm -rf /"], None, "not a Debian package name"),
        ("bookworm", [], "100M", "at least 512M"),
        ("bookworm", [], "2T", "at least 512M"),
    ],
)
def test_recipe_refuses_what_is_not_well_formed(suite: str, packages: list[str], size: str | None, words: str) -> None:
    with pytest.raises(images.ImageError, match=words):
        images.Recipe.make(suite, packages, size)


def lab(text: str) -> object:
    return parse_lab(text, Path("/labs/t.yaml"))


def test_lab_roots_debian() -> None:
    parsed = parse_lab(
        "guests:\n  a: {root: debian}\n  b:\n    root: {debian: trixie, packages: [frr, bind9]}\n",
        Path("/labs/t.yaml"),
    )
    a, b = parsed.guests["a"].root, parsed.guests["b"].root
    assert (a.kind, a.suite, a.packages) == ("debian", "bookworm", ())
    assert (b.kind, b.suite, b.packages) == ("debian", "trixie", ("frr", "bind9"))
    assert images.Recipe.for_root(b) == images.Recipe.make("trixie", ["bind9", "frr"])


@pytest.mark.parametrize(
    ("root", "where", "words"),
    [
        ("debain", "t.yaml:3: guests.a.root", "use busybox, debian"),
        ("{debian: bookworm, packages: [Frr]}", "t.yaml:3: guests.a.root.packages.[]", "not a Debian package name"),
        ("{debian: bookworm, packages: frr}", "t.yaml:3: guests.a.root.packages", "must be a list"),
        ("{packages: [frr]}", "t.yaml:3: guests.a.root.packages", "go with debian"),
        ("{debian: bookworm, image: /x.img}", "t.yaml:3: guests.a.root.debian", "not both"),
        ("{debian: Old.Stable}", "t.yaml:3: guests.a.root.debian", "not a Debian suite"),
    ],
)
def test_lab_root_errors_name_the_field(root: str, where: str, words: str) -> None:
    with pytest.raises(LabError) as info:
        lab(f"guests:\n  a:\n    root: {root}\n")
    assert str(info.value).startswith(f"/labs/{where}:") and words in str(info.value)


needs_mkcow = pytest.mark.skipif(shutil.which("uml_mkcow") is None, reason="needs uml-utilities' uml_mkcow")


@needs_mkcow
def test_cow_header_and_check(tmp_path: Path) -> None:
    base = tmp_path / "base.img"
    base.write_bytes(b"\0" * (1 << 20))
    cow = tmp_path / "a.cow"
    subprocess.run(["uml_mkcow", str(cow), str(base)], check=True, capture_output=True)
    header = images.read_cow_header(cow)
    assert header.backing == str(base) and header.size == 1 << 20
    assert header.mtime == int(base.stat().st_mtime)
    images.check_cow(cow, base)  # the one it was made over: fine
    images.check_cow(tmp_path / "none.cow", base)  # no COW yet: fine, the kernel makes it
    other = tmp_path / "other.img"
    other.write_bytes(b"\0" * (1 << 20))
    with pytest.raises(images.ImageError, match="was made over .*base.img, not over .*other.img"):
        images.check_cow(cow, other)
    os.utime(base, (1_000_000, 1_000_000))  # the image changed under the COW
    with pytest.raises(images.ImageError, match="changed since"):
        images.check_cow(cow, base)
    (tmp_path / "junk").write_bytes(b"x" * 5000)
    with pytest.raises(images.ImageError, match="not a UML COW file"):
        images.read_cow_header(tmp_path / "junk")


def test_host_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UMLTUI_DEBIAN_MIRROR", raising=False)
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    assert images.host_mirror(apt) == images.FALLBACK_MIRROR
    (apt / "sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb deb-src\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n"
    )
    assert images.host_mirror(apt) == "http://mirror.example/debian"
    (apt / "sources.list.d/debian.sources").unlink()
    (apt / "sources.list").write_text("# old style\ndeb [arch=amd64] http://old.example/debian bookworm main\n")
    assert images.host_mirror(apt) == "http://old.example/debian"
    monkeypatch.setenv("UMLTUI_DEBIAN_MIRROR", "http://127.0.0.1:3142/debian")
    assert images.host_mirror(apt) == "http://127.0.0.1:3142/debian"


def test_boot_of_an_image_of_ours() -> None:
    parsed = parse_lab(
        "name: l\nswitches: {s: {}}\nguests:\n  a:\n    root: debian\n    consoles: 3\n    login: prompt\n"
        "    nics: {eth0: {switch: s, ip: 10.0.0.1/24}}\n    startup: echo hi\n",
        Path("/labs/l.yaml"),
    )
    spec = parsed.guests["a"]
    plan = plan_boot(
        spec,
        kernel="linux.uml",
        uml_dir=Path("/u"),
        notify_socket=Path("/n.sock"),
        switch_sockets={"s": Path("/s.ctl")},
        root_disk=(Path("/c/root.img"), Path("/g/root.cow")),
        boot_folder=Path("/g/boot"),
    )
    words = plan.argv[1:]
    for word in (
        "ubd0=/g/root.cow,/c/root.img",
        "root=/dev/ubda",
        "umltui.boot=/g/boot",
        "umltui.consoles=3",
        "umltui.login=prompt",
        "net.ifnames=0",
        "systemd.hostname=a",
        "ssl0=pts",
    ):
        assert word in words, (word, words)
    assert not any(w.startswith(("rootfstype", "init=")) for w in words)
    assert plan.disks[0] == {"name": "ubd0", "image": "/c/root.img", "cow": "/g/root.cow"}
    files = boot_files(spec)
    assert files["hostname"][0] == "a\n" and files["startup"][0] == "echo hi"
    assert "ip addr add 10.0.0.1/24 dev eth0" in files["nic/eth0"][0]
    assert ". /etc/umltui/nic/eth0" in files["boot"][0]


def test_a_foreign_image_gets_no_boot_settings() -> None:
    parsed = parse_lab("guests:\n  a:\n    root: {image: /bin/sh}\n", Path("/labs/l.yaml"))
    plan = plan_boot(parsed.guests["a"], kernel="k", uml_dir=Path("/u"), notify_socket=Path("/n"), switch_sockets={})
    assert "ubd0=/bin/sh" in plan.argv and not any("umltui." in w or w == "ssl0=pts" for w in plan.argv)


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (["E: Unable to locate package frrr"], "no such package in the suite: frrr"),
        (["E: Package 'foo' has no installation candidate"], "no such package in the suite: foo"),
        (["cp: error writing 'x': No space left on device"], "the disk is full"),
        (["Err:1 http://127.0.0.1:9/debian bookworm InRelease", "  Could not connect to 127.0.0.1:9"], "cannot reach"),
        (["E: something else went wrong"], "mmdebstrap failed: E: something else went wrong"),
    ],
)
def test_failed_builds_say_why(lines: list[str], words: str) -> None:
    assert words in builder._explain_failure(lines, "http://127.0.0.1:9/debian")


def test_no_modules_says_which_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(images.recipe, "MODULES_ROOT", tmp_path / "none")
    with pytest.raises(images.ImageError, match="apt-get install user-mode-linux"):
        images.modules_version()


@pytest.mark.skipif(not images.MODULES_ROOT.is_dir(), reason="needs Debian's user-mode-linux (its modules)")
def test_the_cache_lists_images_and_marks_stale_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UMLTUI_CACHE_DIR", str(tmp_path))
    recipe = images.Recipe.make()
    current = recipe.key(images.modules_version())
    for key in (current, "0123456789abcdef"):
        meta = images.Image(key, "debian-bookworm", "bookworm", [], "2G", "6.1.176", images.RECIPE_VERSION, 0.0)
        meta.folder.mkdir(parents=True)
        meta.path.write_bytes(b"")
        cache.write_meta(meta.folder, meta)
    listed = {i.key: i.stale for i in images.list_images()}
    assert listed == {current: False, "0123456789abcdef": True}
    assert images.find_image(recipe) is not None and images.find_image(recipe).key == current  # type: ignore[union-attr]
    with pytest.raises(images.ImageError, match="names 2 images"):
        images.lookup("debian-bookworm")
    assert images.lookup("0123").key == "0123456789abcdef"


def test_the_key_changes_with_any_guest_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file umltui puts into an image is part of its key: an image built before a
    change to one of them is never taken for a current one."""
    before = images.Recipe.make().key("7.2.7")
    shipped = guestfiles.text
    used = [name for name, _mode in contents._PLACES.values()] + [contents.HOOK, contents.DEV_NODES]
    assert sorted(set(used)) == [n for n in guestfiles.names() if not n.startswith("busybox/")]
    for name in used:
        monkeypatch.setattr(guestfiles, "text", lambda n, name=name: shipped(n) + ("# changed\n" if n == name else ""))
        assert images.Recipe.make().key("7.2.7") != before, name
    monkeypatch.setattr(guestfiles, "text", shipped)
    assert images.Recipe.make().key("7.2.7") == before


def test_guest_files_fill_only_the_placeholders_named() -> None:
    startup = guestfiles.render("debian/startup.sh", READY_WORD="umltui-ready")
    assert "@" not in startup.replace("$@", "") and 'echo "umltui-ready${status:+' in startup
    with pytest.raises(KeyError, match="READY_WORD"):
        guestfiles.render("debian/startup.sh")
    with pytest.raises(KeyError, match="TYPO"):
        guestfiles.render("debian/startup.sh", READY_WORD="x", TYPO=1)
    unit = dict(contents.overlay_files())["etc/systemd/system/umltui-startup.service"][0]
    assert "TimeoutStopSec=10\n" in unit


def test_the_customize_hook_gets_its_settings_quoted(tmp_path: Path) -> None:
    hook = contents.write_hook(
        tmp_path,
        overlay=tmp_path / "a b",
        modules_dir=tmp_path / "mods/7.2.7",
        version="7.2.7",
        image=tmp_path / "root.img",
        size="2G",
        dormant=("frr", "bad;name"),
    )
    assert hook == f'sh {tmp_path}/customize.sh "$1" {tmp_path}/customize.env'
    settings = subprocess.run(
        ["sh", "-c", '. "$1"; printf "%s|" "$overlay" "$dormant" "$unshare"', "sh", str(tmp_path / "customize.env")],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    assert settings == f"{tmp_path}/a b|frr|no|"
