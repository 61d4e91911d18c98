"""Every operation a client can ask for, in one explicit table.

A handler is ``handler(supervisor, client, **arguments)``; its keyword parameters, with
their annotations, are what the request may carry. :class:`Operation` checks a request
against them before the handler runs (unknown or missing fields, wrong JSON types), so a
handler only ever sees well-formed arguments, and a ``TypeError`` inside one is a bug.

Where each lives:

========================  ===============================================================
``ping ls watch memory``  :mod:`.session`: who is there, what runs
``shutdown``
``up down``               :mod:`.lab`: a lab's namespace, taps, switches, guests; rollback
``halt``                  :mod:`.halt`: clean power-off, then mconsole halt, then SIGKILL
``mconsole``              :mod:`.mconsole`: a command to a guest, and what it changed
``net switch_add``        :mod:`.net`: the topology; switches made and removed live
``switch_del``
``subscribe unsubscribe`` :mod:`.consoles`: console bytes out, keys and sizes in
``input resize``
========================  ===============================================================
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ...protocol import ProtocolError, accepts
from ..context import ClientConnection, Context
from . import consoles, halt, lab, mconsole, net, session

_ENVELOPE = ("op", "id")


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) is None and hasattr(annotation, "__name__"):
        return str(annotation.__name__)
    return str(annotation).replace("typing.", "")


@dataclass(frozen=True)
class Operation:
    """One operation: its handler and the arguments it takes.

    ``quick`` ones (keystrokes, sizes) are handled at once in arrival order, answer nothing,
    and report a failure as an ``error`` event.
    """

    handler: Callable[..., Any]
    quick: bool = False
    params: dict[str, tuple[Any, bool]] = field(init=False)  # name -> (annotation, required)

    def __post_init__(self) -> None:
        params = {}
        for name, p in list(inspect.signature(self.handler).parameters.items())[2:]:  # after (sup, client)
            annotation = p.annotation
            if isinstance(annotation, str):  # postponed (from __future__ import annotations)
                annotation = eval(annotation, self.handler.__globals__)  # noqa: S307 - our own source
            params[name] = (annotation, p.default is inspect.Parameter.empty)
        object.__setattr__(self, "params", params)

    def arguments(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request's arguments, checked.

        Raises:
            ProtocolError: a field the operation does not take, one it needs and did not get,
                or a value of the wrong type.
        """
        args = {k: v for k, v in request.items() if k not in _ENVELOPE}
        for name in args:
            if name not in self.params:
                known = ", ".join(self.params) or "none"
                raise ProtocolError(f"{request.get('op')}: unknown field {name!r} (it takes: {known})")
        for name, (annotation, required) in self.params.items():
            if name not in args:
                if required:
                    raise ProtocolError(f"{request.get('op')}: missing field {name!r}")
            elif not accepts(annotation, args[name]):
                raise ProtocolError(
                    f"{request.get('op')}: {name} must be {_describe(annotation)}, not {type(args[name]).__name__}"
                )
        return args

    async def call(self, sup: Context, client: ClientConnection, request: dict[str, Any]) -> Any:
        result = self.handler(sup, client, **self.arguments(request))
        return await result if isinstance(result, Awaitable) else result

    def call_now(self, sup: Context, client: ClientConnection, request: dict[str, Any]) -> None:
        self.handler(sup, client, **self.arguments(request))


OPERATIONS: dict[str, Operation] = {
    "ping": Operation(session.ping),
    "ls": Operation(session.ls),
    "watch": Operation(session.watch),
    "memory": Operation(session.memory),
    "shutdown": Operation(session.shutdown),
    "up": Operation(lab.up),
    "down": Operation(lab.down),
    "halt": Operation(halt.op_halt),
    "mconsole": Operation(mconsole.op_mconsole),
    "net": Operation(net.op_net),
    "switch_add": Operation(net.switch_add),
    "switch_del": Operation(net.switch_del),
    "plug": Operation(net.plug),
    "unplug": Operation(net.unplug),
    "subscribe": Operation(consoles.subscribe),
    "unsubscribe": Operation(consoles.unsubscribe),
    "input": Operation(consoles.input, quick=True),
    "resize": Operation(consoles.resize, quick=True),
}
"""The supervisor's operations by name (the ``op`` of a request)."""
