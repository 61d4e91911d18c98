"""Netkit and Kathará lab folders (lab.conf, lab.dep, machine folders) read into umltui's lab model."""

from __future__ import annotations

from .folder import read_lab_folder

__all__ = ["read_lab_folder"]
