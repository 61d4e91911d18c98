"""The supervisor's wire format: one JSON object per line over a unix stream socket.

Requests carry ``op`` and, when they want an answer, ``id``; answers are
``{"id", "ok", "result"}`` or ``{"id", "ok": false, "error", "kind"}``. Unrequested
messages carry ``event`` (``output`` with base64 ``data``, ``guest`` state changes,
``error``). ``input`` and ``resize`` take no ``id``: keystrokes are fire-and-forget and
stay in order.
"""

from __future__ import annotations

import json
from typing import Any


class ProtocolError(Exception):
    pass


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"
