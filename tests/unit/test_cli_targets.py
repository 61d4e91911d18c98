"""``down`` takes what ``up`` was given: a new user's ``umltui down lab.yaml`` said "no lab or guest"."""

from __future__ import annotations

from pathlib import Path

from umltui.cli import _lab_name_of


def test_a_lab_file_or_folder_stands_for_its_lab(tmp_path: Path) -> None:
    (tmp_path / "frr.yaml").write_text("name: frrlab\nguests:\n  r1: {}\n")
    folder = tmp_path / "kathara-lab"
    (folder / "r1").mkdir(parents=True)
    (folder / "lab.conf").write_text('r1[0]="A"\n')
    assert _lab_name_of(str(tmp_path / "frr.yaml")) == "frrlab"
    assert _lab_name_of(str(folder)) == "kathara-lab"
    assert _lab_name_of("demo/a") == "demo/a" and _lab_name_of("demo") == "demo"
