"""Textual's internals stay behind one door (``umltui/fastpath``), for the Textual releases it names.

The import contract in ``pyproject.toml`` keeps ``textual._*`` imports in the package; these
tests keep the rest there too (private attributes of Textual's objects, overrides of its
private methods), check that the contract lists every private module of the installed
Textual, and fail loudly when that Textual is not one the fast paths were checked against.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import grimp
import textual

import umltui
from umltui import fastpath

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "umltui"
FASTPATH = PACKAGE / "fastpath"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

WHAT_TO_DO = """
What to do: run the tests that compare the fast paths with Textual's own paths against this
Textual (tests/unit/test_painter.py, test_compositor_crop.py, test_quick_driver_input.py,
test_quick_writer.py; tests/guests/test_app.py, test_app_tmux.py,
test_snapshots.py) with UMLTUI_FASTPATH=on. If they pass, widen TEXTUAL_CHECKED in
umltui/fastpath/__init__.py and the textual pin in pyproject.toml to match; if not, fix the
module of umltui/fastpath that failed (each says what private thing it touches), or install a
Textual in the range. Meanwhile the app runs on Textual's public paths (slower echoes)."""


PYTHONS = frozenset({"_exit", "_replace", "_asdict", "_fields", "_make"})
"""Python's own public names with an underscore (``os._exit``, a named tuple's ``_replace``)."""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _sources(*, fastpath_too: bool) -> list[Path]:
    return [f for f in sorted(PACKAGE.rglob("*.py")) if fastpath_too or FASTPATH not in f.parents]


@cache
def _textual_private_names() -> frozenset[str]:
    """Every private name Textual's own code uses as an attribute or defines (methods, class attributes)."""
    names: set[str] = set()
    for file in Path(textual.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(node.name):
                names.add(node.name)
    return frozenset(names)


def _defined_by(files: list[Path]) -> set[str]:
    """The private names these files define: assigned to ``self``, methods, class and module names."""
    names: set[str] = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id == "self":
                    names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if _private(n)}


def _reaches_into_textual(files: list[Path], own: set[str]) -> list[str]:
    """Where these files import a private module of Textual, or read or write a private name
    of Textual's that umltui does not define itself (``app._message_queue``,
    ``getattr(screen, "_dirty_widgets")``)."""
    textuals = _textual_private_names()
    found: list[str] = []
    for file in files:
        where = file.relative_to(ROOT)
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names if _private(a.name)]
            for module in modules:
                if module.split(".")[0] == "textual" and any(_private(p) for p in module.split(".")[1:]):
                    found.append(f"{where}:{getattr(node, 'lineno', 0)}: imports {module}")
            name = None
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                name = node.args[1].value
            if name is not None and _private(name) and name in textuals and name not in own | PYTHONS:
                found.append(f"{where}:{getattr(node, 'lineno', 0)}: .{name}")
    return found


def _own_names() -> set[str]:
    """Private names umltui defines itself: outside the fast paths, and in them where Textual
    has no name like it (the key path's ``_keys``, not the driver's ``_writer_thread``)."""
    outside = _defined_by(_sources(fastpath_too=False))
    inside = _defined_by([f for f in _sources(fastpath_too=True) if FASTPATH in f.parents])
    return outside | (inside - _textual_private_names())


def test_the_installed_textual_is_one_the_fast_paths_were_checked_against() -> None:
    assert fastpath.checked(), (
        f"Textual {fastpath.textual_version()} is installed, but umltui/fastpath was checked against "
        f"textual{fastpath.checked_range()} only; it reads Textual's private internals, which change "
        f"without notice.{WHAT_TO_DO}"
    )


def test_pyproject_pins_the_textual_releases_the_fast_paths_were_checked_against() -> None:
    pins = [d for d in PYPROJECT["project"]["dependencies"] if re.match(r"textual\s*[<>=!~]", d)]
    assert pins == [f"textual{fastpath.checked_range()}"], (
        f"pyproject.toml pins {pins}, umltui/fastpath/__init__.py's TEXTUAL_CHECKED says "
        f"textual{fastpath.checked_range()}: make them the same."
    )


def test_releases_inside_and_outside_the_range() -> None:
    assert fastpath.checked_range() == ">=8.2.8,<8.3"
    for inside in ("8.2.8", "8.2.9", "8.2.10.dev0", "8.2.8.post1"):
        assert fastpath.checked(inside), inside
    for outside in ("8.2.7", "8.3.0", "8.3.0rc1", "8.3", "9.0.0", "7.9.9", "unknown", ""):
        assert not fastpath.checked(outside), outside


def test_the_contract_lists_every_private_module_of_the_installed_textual() -> None:
    """import-linter sees Textual's modules (a root package) but cannot match ``textual._*``
    (a wildcard replaces whole names only), so the contract lists them: all of them."""
    contract = next(
        c for c in PYPROJECT["tool"]["importlinter"]["contracts"] if c["name"].startswith("Only umltui.fastpath")
    )
    listed = set(contract["forbidden_modules"])
    graph = grimp.build_graph("textual")
    private = {m for m in graph.modules if any(_private(p) for p in m.split(".")[1:])}
    assert listed == private, (
        f"pyproject.toml's contract {contract['name']!r}: add {sorted(private - listed)}, "
        f"remove {sorted(listed - private)} (Textual {fastpath.textual_version()})"
    )


def test_nothing_outside_the_fast_paths_reaches_into_textual() -> None:
    """The import contract sees imports; this sees attributes too (``app._message_queue``)."""
    found = _reaches_into_textual(_sources(fastpath_too=False), _own_names())
    assert not found, "Textual's private internals used outside umltui/fastpath:\n" + "\n".join(found)


def test_the_scan_finds_what_the_fast_paths_touch() -> None:
    """The same scan over the fast paths finds what they are there for (so it can see)."""
    found = "\n".join(_reaches_into_textual([f for f in _sources(fastpath_too=True) if FASTPATH in f.parents], set()))
    for used in ("imports textual._compositor", "._message_queue", "._repaint_regions", "._dirty_widgets", "._parser"):
        assert used in found, used


def test_no_class_outside_the_fast_paths_overrides_a_private_method_of_textual() -> None:
    """``_dispatch_message`` overridden in the app was a reach into Textual too."""
    overrides = []
    for info in pkgutil.walk_packages(umltui.__path__, "umltui."):
        if info.name.startswith("umltui.fastpath") or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            textuals = [base for base in cls.__mro__[1:] if base.__module__.split(".")[0] == "textual"]
            for name, value in vars(cls).items():
                if _private(name) and inspect.isfunction(value) and any(name in vars(b) for b in textuals):
                    overrides.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    assert not overrides, f"private methods of Textual overridden outside umltui/fastpath: {overrides}"


def test_with_the_fast_paths_off_the_app_takes_textuals_own_paths() -> None:
    """``UMLTUI_FASTPATH=off`` (and a Textual outside the range): Textual's driver, its compositor
    untouched, no echo painted past it, no key past the queue."""
    script = """
from textual._compositor import Compositor
from textual.drivers.linux_driver import LinuxDriver
from umltui import fastpath
from umltui.app import UmlApp
from umltui.config import Config
from umltui.fastpath.painter import EchoPainter
original = Compositor._get_renders
app = UmlApp(Config())
assert not fastpath.active() and fastpath.warning() is None
assert app.driver_class is LinuxDriver, app.driver_class
assert Compositor._get_renders is original
assert not EchoPainter(app).active and not app.type_now("x", "x")
print("ok")
"""
    env = {**os.environ, fastpath.SWITCH: "off", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
