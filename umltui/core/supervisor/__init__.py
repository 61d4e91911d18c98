"""The supervisor: one process per user that owns guests, switches, namespaces and consoles.

Like tmux's server, it is started on demand by any client, detached from the terminal, and
serves clients over a unix stream socket (JSON lines, :mod:`umltui.core.protocol`). It reads
every console all the time, so nothing a guest prints is lost while no client is attached.
Guests and switches run in their own sessions and outlive it; a new supervisor adopts them
again from its state file and from the kernel's ``UMID/pid`` and ``UMID/mconsole``.

- :mod:`.server`: the registry of guests, switches and labs, the socket, and dispatch;
- :mod:`.ops`: the table of operations, one module per kind of work (``ops/lab.py`` is up
  and down, ``ops/halt.py`` the halt escalation, ...);
- :mod:`.state`: the state file, and adopting what an earlier supervisor left running.

The pure parts live next to their data: the kernel command line in :mod:`..cmdline`, what
an mconsole command does to a guest's devices in :mod:`..mconsole`, the topology in
:mod:`..network`.
"""

from .errors import OpError
from .server import Supervisor, run_supervisor

__all__ = ["OpError", "Supervisor", "run_supervisor"]
