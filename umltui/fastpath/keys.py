"""The app's key path: a key for the focused console typed in at once, and a burst of keys
handed on one at a time, each once the one before it has landed.

Private things it touches, and why:

- ``App._message_queue``, ``App._screen_stack`` and an override of
  ``MessagePump._dispatch_message``: a key may skip the app's queue only when nothing is
  queued or being handled before it (``type_now``).
- ``App._check_bindings``, ``App._keymap``, ``Screen._binding_chain``, ``DOMNode._bindings``:
  the priority bindings (the prefix) still come first for a key that skips the queue.
- ``Screen._clear_tooltip``: what Textual does on a key, done for one that skips it.
- ``DOMNode._bindings``: the app's prefix bound at run time, with priority, and Textual's
  quit and palette keys unbound (``unbind``, ``bind_key``).
- ``MessagePump._message_queue``, ``._next_callbacks``, ``._parent``: whether a key handed to
  a widget has run its course (``_settled``), so the next key of a burst goes where the
  bindings of the first sent the focus.

With the fast paths off (:func:`umltui.fastpath.active`), no key skips the queue; the burst
is still handed on one key at a time (that is what keeps its order), and ``_settled`` reads
the queues it can find.

:class:`ConsoleKeysApp` is a base for the app: the app says what a console is
(``console_type``) and answers a few questions (the ``…`` hooks below); this module imports
nothing of umltui's above ``umltui.terminal``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any, ClassVar, Protocol, TypeVar

from textual import events
from textual.app import App
from textual.dom import DOMNode
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen

from ..terminal.keys import encode_key
from . import active

ReturnType = TypeVar("ReturnType")


class Console(Protocol):
    """What the key path needs of a console widget (``TerminalView``)."""

    home: Screen[Any] | None  # its screen, while mounted
    chain: tuple[DOMNode, ...]  # itself and its ancestors, while mounted
    passthrough: frozenset[str]  # keys it does not take (the prefix)

    @property
    def screen(self) -> Screen[Any]: ...

    @property
    def ancestors_with_self(self) -> list[DOMNode]: ...

    @property
    def terminal(self) -> Any: ...

    def type_key(self, key: str, character: str | None) -> bool: ...

    def send(self, data: bytes) -> None: ...


def _queued(node: MessagePump) -> bool:
    """``node`` has messages or callbacks waiting (as far as can be seen)."""
    queue = getattr(node, "_message_queue", None)
    return bool((queue is not None and queue.qsize()) or getattr(node, "_next_callbacks", None))


class ConsoleKeysApp(App[ReturnType]):
    """An app whose keys go to the focused console (``console_type``) the short way."""

    console_type: ClassVar[type[Any]]
    """The console widget's class: a focused one of these takes every key but its ``passthrough``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keys: collections.deque[events.Key] = collections.deque()  # keys waiting for the one before
        self._key_pump: asyncio.Task[None] | None = None
        self._dispatching = 0  # messages the app is handling now (one may await while a key comes)
        self._keys_taken = 0  # keys ``take_key`` typed in (for the tests)
        self._fast = active()

    def unbind(self, *keys: str) -> None:
        """Drop Textual's own bindings of ``keys`` (its quit and palette keys belong to the guest)."""
        for key in keys:
            self._bindings.key_to_bindings.pop(key, None)

    def bind_key(self, key: str, action: str, *, priority: bool = False, key_display: str | None = None) -> None:
        """Bind ``key`` at run time (the prefix comes from the config); ``App.bind`` has no ``priority``."""
        self._bindings.bind(key, action, action, priority=priority, show=True, key_display=key_display)

    # -- what the app says -----------------------------------------------------------------

    @property
    def prefix_key(self) -> str:
        """The key that starts an app command."""
        raise NotImplementedError

    def choosing_prefix(self) -> bool:
        """An app command is being chosen (keys wait for it)."""
        raise NotImplementedError

    def prefix_takes(self, key: events.Key) -> bool:
        """The prefix (from its key until its command has run) takes ``key``."""
        raise NotImplementedError

    def key_typed(self) -> None:
        """A key came from the user (the garbage collector waits for a pause)."""

    def front_console(self) -> Console | None:
        """The console an app command left in front, if any."""
        raise NotImplementedError

    # -- the key path --------------------------------------------------------------------------

    def take_key(self, key: events.Key) -> bool:
        """A key from the terminal, typed into the focused console on the turn of the loop that
        brought it (the driver's ``send_message``); False to let it go the usual way, through
        the app's message queue (see ``type_now``)."""
        return not key.is_forwarded and self.type_now(key.key, key.character)

    def type_now(self, key: str, character: str | None) -> bool:
        """A key (Textual's name, its character) typed into the focused console now, on the
        turn of the loop that read it from the terminal; False to let it go the usual way,
        as a key event through the app's message queue.

        Only where the usual way would do the same at once: nothing queued before it (no
        message, no key waiting, no message being handled), the focused console on the current
        screen, and no priority binding for it (the prefix). The trip through the queue was
        about half a millisecond of an echo on these hosts; the driver calls this for a
        one-byte key before it makes the key's event, which is then not needed.
        """
        if not self._fast or self._dispatching or self._message_queue.qsize() or not self._screen_stack:
            return False
        view = self._console_for_keys()
        if view is None or not self._console_takes(view, key) or self._may_be_priority(view, key):
            return False
        self.key_typed()
        self._keys_taken += 1
        self._into_console(view, key, character)
        return True

    async def _dispatch_message(self, message: Message) -> None:
        self._dispatching += 1  # (for ``take_key``: a key must not overtake this one)
        try:
            await super()._dispatch_message(message)
        finally:
            self._dispatching -= 1

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if not self.screen_stack:
                return  # the app is ending (its screens are gone): nowhere to type it
            self.key_typed()
            view = self._console_for_keys()
            if view is not None and await self._typed_into(view, event):
                return  # a key for the focused console, nothing before it: no pump needed
            self._keys.append(event)
            if self._key_pump is None or self._key_pump.done():
                self._key_pump = asyncio.create_task(self._pump_keys())
            return
        await super().on_event(event)

    async def _pump_keys(self) -> None:
        """Hand keys on one at a time, each once the one before it has landed.

        Textual posts a key to the focused widget's queue and checks the bindings (Tab's
        focus_next among them) only when the key has bubbled back to the app: keys of a
        burst (a paste, SSH, tmux send-keys, a fast typist) would all be posted to the
        widget that had the focus at the first, and ``name<Tab>eth1`` would land in one
        field. So each key is followed up its way (the widget, its ancestors, the app,
        where its binding runs); only then the next goes.
        """
        while self._keys:
            key = self._keys.popleft()
            if self.prefix_takes(key):  # from the prefix until its command has run, keys wait for it
                continue
            target = self.focused or self.screen
            if isinstance(target, self.console_type) and await self._typed_into(target, key):
                continue
            await super().on_event(key)
            if not key.is_forwarded:
                continue  # a priority binding (the prefix) took it
            chain: list[MessagePump] = []
            node: MessagePump | None = target
            while node is not None and node is not self:
                chain.append(node)
                node = node._parent
            await self._settled(chain)

    async def _typed_into(self, view: Console, key: events.Key) -> bool:
        """A key for the focused console, sent to its guest here and now; False if it is not one.

        What Textual does with a key, less its trip through the pane's message queue: the
        priority bindings first (the prefix), then the pane takes every other key (its own
        ``on_key`` stops them all, so no other binding could have them). That trip, and the
        wait for it to land, was a good part of an echo's time.
        """
        if not self._fast or not self._console_takes(view, key.key):
            return False
        if not await self._check_bindings(key.key, priority=True):
            self._into_console(view, key.key, key.character)
        return True

    def _console_for_keys(self) -> Console | None:
        """The focused console, if a key may go straight to it: no key waiting for the one
        before it, and no prefix command being chosen."""
        if self._keys or (self._key_pump is not None and not self._key_pump.done()):
            return None
        focused = self.focused
        return focused if isinstance(focused, self.console_type) and not self.choosing_prefix() else None

    def _may_be_priority(self, view: Console, key: str) -> bool:
        """A priority binding may take ``key`` (the prefix does). Without a keymap, the nodes'
        own bindings are a superset of the screen's binding chain (which drops the keys that
        a widget consumes), and much quicker to look at than that chain, built afresh each time."""
        if self._keymap:
            chain = self.screen._binding_chain
            return any(b.priority for _, bindings in chain for b in bindings.key_to_bindings.get(key, ()))
        nodes = view.chain or view.ancestors_with_self
        return any(b.priority for node in nodes for b in node._bindings.key_to_bindings.get(key, ()))

    def _console_takes(self, view: Console, key: str) -> bool:
        """The focused console is the one to type ``key`` into, bindings aside."""
        screen = self.screen
        home = view.home or view.screen
        return home is screen and screen.maximized is None and key not in view.passthrough

    def _into_console(self, view: Console, key: str, character: str | None) -> None:
        if not self.app_focus:
            self.app_focus = True  # as Textual does on a key
        with contextlib.suppress(Exception):
            self.screen._clear_tooltip()
        view.type_key(key, character)

    async def _settled(self, chain: list[MessagePump]) -> None:
        """Until a key handed to ``chain`` (the widget, its ancestors) has run its course: each
        hop, the messages it posted, a screen it closed, the callback given that screen's
        answer, a screen that callback opened. At most eight rounds; none starts after a
        second.

        Every hop is waited for, whether the key went on or not (Textual's stop flag does not
        say: it is set on the way to the app too), and the app after them, where the bindings
        are checked. Enter in a search field posts Submitted to the field only when its
        binding has run there; the field's screen closes on it and the callback opens
        scrollback mode. A key behind Enter in the same burst must find scrollback mode open,
        not the search field about to close, nor the console between the two screens (CI
        lost ``q`` so once).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        state = (list(self.screen_stack), self.focused)
        for _ in range(8):
            for node in dict.fromkeys([*chain, self, *self.screen_stack]):
                await self._landed(node)
            if getattr(self, "_next_callbacks", None):  # a closed screen's callback, and its pop, run on the app
                await self._landed(self)
            # Whether to go round again: not for the first screen, nor the widgets under it
            # but the key's own, nor the app's queue. A console printing keeps them busy
            # (typing into a field in a flood would wait a second for each key).
            nodes = [chain[0], *self.screen_stack[1:]] if chain else self.screen_stack[1:]
            busy = getattr(self, "_next_callbacks", None) or any(_queued(n) for n in nodes)
            now = (list(self.screen_stack), self.focused)
            if (not busy and now == state) or loop.time() > deadline:
                return
            state = now

    async def _landed(self, node: MessagePump) -> None:
        """Until ``node`` has handled what was posted to it before now (at most half a second)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def land() -> None:
            if not done.done():
                done.set_result(None)

        if node.call_later(land):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done, 0.5)

    def _deliver(self, keys: list[tuple[str, str | None]], *, literal: bool = False) -> None:
        """Keys for whatever the command left in front: the focused console, or a screen it opened.

        From a prefix on (a second command in the same burst), they go round again as keys
        (the prefix's own literal is sent with ``literal``). They go ahead of any key still
        waiting: those came after them. (They were posted to the app's queue once, behind
        the burst's keys not yet read from it: a busy machine then typed ``m echo ...`` into
        the console before the ``ctrl+b`` that came first, and that prefix took a later key.)
        """
        if not keys:
            return
        pane = self.front_console()
        focused: object = self.focused
        in_front = self.screen is self.screen_stack[0] and pane is not None and focused is pane
        if literal or (in_front and not self._keys and all(k != self.prefix_key for k, _ in keys)):
            if in_front and pane is not None:
                app_cursor = pane.terminal.screen.app_cursor_keys
                pane.send(b"".join(encode_key(k, c, app_cursor=app_cursor) or b"" for k, c in keys))
            return
        self._keys.extendleft(reversed([events.Key(k, c) for k, c in keys]))
        if self._key_pump is None or self._key_pump.done():
            self._key_pump = asyncio.create_task(self._pump_keys())
