"""The one error an operation raises on purpose: what went wrong, in words for the user, and a kind."""

from __future__ import annotations

from ..protocol import ErrorKind


class OpError(Exception):
    """A request that failed; ``kind`` tells the client how to exit (usage and lab errors exit 2)."""

    def __init__(self, message: str, kind: ErrorKind = "error") -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
