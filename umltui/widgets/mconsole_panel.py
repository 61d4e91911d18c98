"""The right side: the chosen guest's management console, with its answers kept in a log.

Every request goes through the supervisor's ``mconsole`` op in a worker, with a timeout;
an error is shown in the guest's own words. Values of the hot-plug forms are checked
before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Collapsible, Input, Label, RichLog, Select

from ..core.client import Client, SupervisorError
from ..core.mconsole import SYSRQ, SYSRQ_DESTRUCTIVE
from ..core.protocol import GuestInfo, SwitchInfo

DISK_RE = re.compile(r"ubd([0-9]|[a-h])")
NIC_RE = re.compile(r"(eth|vec)[0-9]{1,2}")


@dataclass
class Confirm(Message):
    """Ask the app to confirm before sending ``command`` to ``umid``."""

    umid: str
    command: str
    question: str


SIMPLE = {"mc-stop": "stop", "mc-go": "go", "mc-cad": "cad", "mc-version": "version"}
CONFIRM = {
    "reboot": "Reboot the guest now (like pressing reset)?",
    "halt": "Halt the guest now (no clean shutdown)?",
}
BUTTONS = [
    ("mc-stop", "stop: pause the guest (only the mconsole answers)"),
    ("mc-go", "go: run the stopped guest again"),
    ("mc-cad", "cad: ctrl-alt-del (init decides)"),
    ("mc-reboot", "reboot now (asks first)"),
    ("mc-halt", "halt now (asks first)"),
    ("mc-version", "version: the guest kernel's"),
]
"""The panel's buttons, as the command palette lists them."""
FIELDS = [
    ("mc-proc", "proc FILE: read a file of the guest's /proc…"),
    ("mc-log", "log TEXT: write a line into the guest's kernel log…"),
    ("mc-stack", "stack PID: a process's kernel stack…"),
    ("disk-image", "add a disk (hot-plug)…"),
    ("disk-dev", "remove a disk…"),
    ("nic-target", "add a NIC (hot-plug)…"),
    ("nic-dev", "remove a NIC…"),
]
"""The panel's forms, as the command palette lists them: choosing one opens the form."""


@dataclass
class PanelCommand:
    """One thing the panel does, for the command palette: ``run`` does it (a button, a sysrq
    letter) or opens its form (``field``, then the app shows the panel and focuses it)."""

    title: str
    help: str
    run: Callable[[], None] | None = None
    field: str | None = None


class MconsolePanel(VerticalScroll):
    WIDTH = 46
    BINDINGS = [Binding("escape", "app.close_side", "back to the console", show=False)]
    DEFAULT_CSS = """
    MconsolePanel { width: 46; border-left: tall $panel; background: $surface; padding: 0 1; }
    MconsolePanel Label.title { text-style: bold; color: $primary; margin: 1 0 0 0; }
    MconsolePanel Horizontal { height: auto; }
    MconsolePanel Button { min-width: 6; margin: 0 1 0 0; }
    MconsolePanel Input { width: 1fr; }
    MconsolePanel Label { width: 100%; }
    MconsolePanel #result { height: 16; min-height: 8; border: round $panel; }
    MconsolePanel Select { width: 1fr; }
    """

    def __init__(self, client: Client, **kw: Any) -> None:
        super().__init__(**kw)
        self.client = client
        self.umid: str | None = None
        self.guest: GuestInfo | None = None
        self.switches: list[SwitchInfo] = []
        self._filled: dict[str, str] = {}  # field -> the device name it was given (not typed)

    def compose(self) -> ComposeResult:
        yield Label("no guest chosen", id="mc-title", classes="title")
        with Horizontal():
            yield Button("stop", id="mc-stop")
            yield Button("go", id="mc-go")
            yield Button("cad", id="mc-cad", tooltip="ctrl-alt-del: init decides (busybox powers off)")
            yield Button("reboot", id="mc-reboot", variant="warning")
            yield Button("halt", id="mc-halt", variant="error")
        with Horizontal():
            yield Select([(f"{k}  {name}", k) for k, name in SYSRQ], prompt="sysrq…", id="mc-sysrq", allow_blank=True)
            yield Button("send", id="mc-sysrq-send")
        with Horizontal():
            yield Button("version", id="mc-version")
            yield Input(placeholder="proc FILE (meminfo)", id="mc-proc")
        with Horizontal():
            yield Input(placeholder="log TEXT", id="mc-log")
            yield Input(placeholder="stack PID", id="mc-stack")
        with Collapsible(title="disks (hot-plug)", collapsed=True, id="mc-disks"):
            yield Label("", id="mc-disk-list")
            with Horizontal():
                yield Input(placeholder="device (ubdN)", id="disk-dev")
                yield Button("remove", id="disk-remove")
            yield Input(placeholder="image path (on the host)", id="disk-image")
            yield Input(placeholder="COW file (optional)", id="disk-cow")
            yield Button("add disk", id="disk-add", variant="primary")
        with Collapsible(title="NICs (hot-plug)", collapsed=True, id="mc-nics"):
            yield Label("", id="mc-nic-list")
            with Horizontal():
                yield Input(placeholder="NIC (ethN, vecN)", id="nic-dev")
                yield Button("remove", id="nic-remove")
            yield Select(
                [("switch", "switch"), ("tap", "tap"), ("vector", "vector")],
                value="switch",
                id="nic-kind",
                allow_blank=False,
            )
            yield Input(placeholder="switch name / tap name / vector options", id="nic-target")
            yield Button("add NIC", id="nic-add", variant="primary")
        yield Label("answers", classes="title")
        # min_width: RichLog renders a line at 78 columns at least, which the panel cuts at 40.
        yield RichLog(id="result", wrap=True, markup=False, highlight=False, max_lines=5000, min_width=20)

    # -- what the app tells us -------------------------------------------------------------

    def set_guest(self, guest: GuestInfo | None, switches: list[SwitchInfo]) -> None:
        self.guest = guest
        self.umid = guest["umid"] if guest else None
        self.switches = switches
        title = self.query_one("#mc-title", Label)
        if not guest:
            title.update("no guest chosen")
            return
        title.update(Content(f"mconsole · {guest['umid']} ({guest['state']})"))  # (names and paths as plain text)
        disks = (
            ", ".join(
                f"{d['name']}={Path(str(d['image'])).name}" + (" (cow)" if d.get("cow") else "")
                for d in guest.get("disks", [])
            )
            or "none"
        )
        nics = ", ".join(f"{n['name']} on {n.get('kind')}:{n.get('target')}" for n in guest.get("nics", [])) or "none"
        self.query_one("#mc-disk-list", Label).update(Content(f"now: {disks}"))
        self.query_one("#mc-nic-list", Label).update(Content(f"now: {nics}"))
        # The device fields hold the first free name, as a value (not a placeholder that looks like one).
        self._fill("#disk-dev", "ubd", {d["name"] for d in guest.get("disks", [])}, 1)
        self._fill_nic()

    def _fill_nic(self) -> None:
        if self.guest is not None:
            kind = self.query_one("#nic-kind", Select).value
            used = {n.get("device", n["name"]) for n in self.guest.get("nics", [])}
            # The mconsole speaks the kernel's words: a kernel without ethN= has only vecN devices.
            vector = kind == "vector" or not self.guest.get("legacy_nics", True)
            self._fill("#nic-dev", "vec" if vector else "eth", used, 0)

    def _fill(self, selector: str, stem: str, used: set[str], first: int) -> None:
        field = self.query_one(selector, Input)
        if (field.value and field.value != self._filled.get(selector)) or field.has_focus:
            return  # the user's own
        free = next((f"{stem}{n}" for n in range(first, 10) if f"{stem}{n}" not in used), "")
        field.value = free
        self._filled[selector] = free

    @on(Select.Changed, "#nic-kind")
    def _kind_changed(self) -> None:
        self._fill_nic()

    def show_answer(self, command: str, answer: str, ok: bool = True) -> None:
        log = self.query_one("#result", RichLog)
        from rich.text import Text

        log.write(Text(f"{self.umid} $ {command}", style="bold " + ("green" if ok else "red")))
        # The guest says nothing when config, remove or log worked: that is a success.
        log.write(Text(answer.rstrip("\n") or ("ok" if ok else "(no answer)"), style="" if ok else "red"))
        log.scroll_end(animate=False)
        self.scroll_to_widget(log, animate=False)  # the newest answer in sight, forms open or not

    # -- sending ------------------------------------------------------------------------------

    def request(self, command: str, *, confirm: str | None = None) -> None:
        if self.umid is None:
            self.notify("choose a guest first", severity="warning")
            return
        if confirm:
            self.post_message(Confirm(self.umid, command, confirm))
            return
        self.send(self.umid, command)

    @work(exclusive=False, group="mconsole", exit_on_error=False, description="mconsole request")
    async def send(self, umid: str, command: str) -> None:
        try:
            answer = await self.client.request("mconsole", guest=umid, command=command, timeout=60)
        except SupervisorError as exc:
            self.show_answer(command, str(exc), ok=False)
            self.notify(f"{umid}: {exc}", severity="error", timeout=6)
            return
        self.show_answer(command, str(answer))

    def commands(self) -> list[PanelCommand]:
        """Every action of the panel, for the command palette (for the chosen guest)."""
        who = self.umid or "no guest chosen"
        found = [PanelCommand(f"mconsole {title}", who, run=partial(self.press, bid)) for bid, title in BUTTONS]
        found += [PanelCommand(f"mconsole sysrq {k}: {name}", who, run=partial(self.sysrq, k)) for k, name in SYSRQ]
        found += [PanelCommand(f"mconsole {title}", who, field=fid) for fid, title in FIELDS]
        return found

    def open_field(self, field_id: str) -> Input:
        """The field ``field_id`` in sight (its collapsible opened): the app focuses it."""
        field = self.query_one(f"#{field_id}", Input)
        for collapsible in field.ancestors:
            if isinstance(collapsible, Collapsible):
                collapsible.collapsed = False
        self.call_after_refresh(self.scroll_to_widget, field, animate=False)
        return field

    def press(self, button_id: str) -> None:
        """What the button ``button_id`` does (the palette's way in)."""
        if button_id in SIMPLE:
            self.request(SIMPLE[button_id])
        elif (command := button_id.removeprefix("mc-")) in CONFIRM:
            self.request(command, confirm=CONFIRM[command])

    def sysrq(self, letter: str) -> None:
        name = dict(SYSRQ)[letter]
        self.request(
            f"sysrq {letter}", confirm=f"sysrq {letter}: {name}. Send it?" if letter in SYSRQ_DESTRUCTIVE else None
        )

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        bid = event.button.id or ""
        if bid in SIMPLE or bid in ("mc-reboot", "mc-halt"):
            self.press(bid)
        elif bid == "mc-sysrq-send":
            value = self.query_one("#mc-sysrq", Select).value
            if not isinstance(value, str):
                self.notify("choose a sysrq letter", severity="warning")
                return
            self.sysrq(value)
        elif bid == "disk-add":
            self._disk_add()
        elif bid == "disk-remove":
            self._remove("#disk-dev", DISK_RE, "a disk like ubd1")
        elif bid == "nic-add":
            self._nic_add()
        elif bid == "nic-remove":
            self._remove("#nic-dev", NIC_RE, "a NIC like eth1 or vec1")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if event.input.id == "mc-proc" and value:
            self.request(f"proc {value}")
        elif event.input.id == "mc-log" and value:
            self.request(f"log {value}")
        elif event.input.id == "mc-stack":
            if not value.isdigit():
                self.notify("stack needs a process id (a number)", severity="warning")
                return
            self.request(f"stack {value}")
        else:
            return
        event.input.value = ""

    # -- hot-plug forms -----------------------------------------------------------------------

    def _field(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def _bad(self, message: str) -> None:
        self.notify(message, severity="error", timeout=6)
        self.show_answer("(not sent)", message, ok=False)

    def _remove(self, selector: str, pattern: re.Pattern[str], what: str) -> None:
        dev = self._field(selector)
        if not pattern.fullmatch(dev):
            self._bad(f"{dev or '(empty)'}: give {what}")
            return
        self.request(f"remove {dev}")

    def _disk_add(self) -> None:
        dev, image, cow = self._field("#disk-dev"), self._field("#disk-image"), self._field("#disk-cow")
        if not DISK_RE.fullmatch(dev):
            self._bad(f"{dev or '(empty)'}: a disk is ubd0..ubd9")
            return
        if self.guest and any(d["name"] == dev for d in self.guest["disks"]):
            self._bad(f"{dev} is in use already: remove it first")
            return
        if not image:
            self._bad("the image path is missing")
            return
        path = Path(image).expanduser().resolve()
        if not path.is_file():
            self._bad(f"{path}: no such file on the host")
            return
        if cow:
            cow_path = Path(cow).expanduser().resolve()
            if not cow_path.parent.is_dir():
                self._bad(f"{cow_path.parent}: no such folder for the COW file")
                return
            setting = f"{cow_path},{path}"
        else:
            setting = str(path)
        if "," in str(path) or " " in setting:
            self._bad("paths with commas or spaces cannot be passed to the kernel")
            return
        self.request(f"config {dev}={setting}")

    def _nic_add(self) -> None:
        dev, target = self._field("#nic-dev"), self._field("#nic-target")
        kind = self.query_one("#nic-kind", Select).value
        if not NIC_RE.fullmatch(dev):
            self._bad(f"{dev or '(empty)'}: a NIC is ethN (switch, tap) or vecN (vector)")
            return
        if self.guest and any(n["name"] == dev for n in self.guest["nics"]):
            self._bad(f"{dev} is in use already: remove it first")
            return
        if kind == "switch":
            lab = self.guest["lab"] if self.guest else None
            match = [s for s in self.switches if s["name"] == target and s["lab"] == lab]
            if not match:
                names = ", ".join(s["name"] for s in self.switches if s["lab"] == lab) or "none"
                self._bad(f"no switch {target!r} in lab {lab} (switches: {names})")
                return
            url = f"vde://{match[0]['ctl']}"
            legacy = self.guest.get("legacy_nics", True) if self.guest else True
            if legacy and dev.startswith("eth"):
                self.request(f"config {dev}=vde,{url}")
            else:  # a kernel without ethN=: its NICs are vecN (the lab's ethN is renamed in the guest)
                self.request(f"config vec{dev[3:]}:transport=vde,vnl={url}")
        elif kind == "tap":
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", target):
                self._bad(f"{target or '(empty)'}: a tap name, at most 15 characters")
                return
            legacy = self.guest.get("legacy_nics", True) if self.guest else True
            self.request(
                f"config {dev}=tuntap,{target}"
                if legacy and dev.startswith("eth")
                else f"config vec{dev[3:]}:transport=tap,ifname={target}"
            )
        else:
            if not dev.startswith("vec") or not target or any(c.isspace() for c in target):
                self._bad("vector NICs are vecN with options like transport=tap,ifname=tap1")
                return
            self.request(f"config {dev}:{target}")
