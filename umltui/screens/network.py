"""The network view: switches, hubs, taps and their namespaces, and which guest NIC is on
which segment, as a table and as a drawing; switches made and removed, NICs plugged and
unplugged, live. Taps exist only in namespaces umltui manages (the lab's ``netns``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, DataTable, Footer, Input, Label, Static

from ..core.capture import CaptureError, find_segment
from ..core.client import Client, SupervisorError
from ..core.protocol import GuestInfo, GuestState, NetReport
from .packets import PacketsScreen


def draw_topology(net: NetReport | dict[str, Any]) -> Text:
    """The segments as a text drawing: one box per switch, hub or tap, its NICs hanging off it."""
    out = Text()
    guests_state = {n["guest"]: n.get("state", "") for n in net.get("nics", [])}
    nic_ip = {f"{n['guest']}:{n['name']}": n.get("ip") or "" for n in net.get("nics", [])}
    segments = [
        (
            "hub" if s["hub"] else "learning switch" if s.get("learning") else "switch",
            f"{s['lab']}/{s['name']}" + (" ●rec" if s.get("capture") else ""),
            s["ports"],
            s["alive"],
        )
        for s in net.get("switches", [])
    ]
    segments += [
        ("tap", f"{t['name']} in {t['netns'] or 'host'}" + (f" {t['ip']}" if t.get("ip") else ""), t["ports"], True)
        for t in net.get("taps", [])
    ]
    if not segments:
        return Text("no switches or taps", style="dim")
    for kind, name, ports, alive in segments:
        head = f" {kind} {name} " + ("" if alive else "(not running) ")
        out.append("╭" + "─" * len(head) + "╮\n", style="cyan")
        out.append("│", style="cyan")
        out.append(head, style="bold" if alive else "bold red")
        out.append("│\n", style="cyan")
        out.append("╰" + "─" * (len(head) // 2) + "┬" + "─" * (len(head) - len(head) // 2 - 1) + "╯\n", style="cyan")
        pad = " " * (len(head) // 2 + 1)
        if not ports:
            out.append(pad + "└ (nothing plugged in)\n", style="dim")
        for i, port in enumerate(ports):
            guest = port.split(":")[0]
            branch = "└─" if i == len(ports) - 1 else "├─"
            out.append(pad + branch + " ", style="cyan")
            out.append(port, style="bold")
            if nic_ip.get(port):
                out.append(f"  {nic_ip[port]}")
            state = guests_state.get(guest, "")
            if state and state != GuestState.RUNNING:
                out.append(f"  ({state})", style="yellow")
            out.append("\n")
        out.append("\n")
    others = [n for n in net.get("nics", []) if n.get("kind") not in ("switch", "hub", "tap")]
    for n in others:
        out.append(f"{n['kind']}: {n['guest']}:{n['name']} {n.get('target')}\n", style="dim")
    return out


class NetworkScreen(Screen[None]):
    DEFAULT_CSS = """
    NetworkScreen #net-top { height: 1fr; }
    NetworkScreen #net-table { width: 1fr; height: 1fr; }
    NetworkScreen #net-draw { width: 60; border-left: tall $panel; padding: 0 1; }
    NetworkScreen.-narrow #net-draw { width: 1fr; border-left: none; display: none; }
    NetworkScreen.-narrow.-drawing #net-draw { display: block; }
    NetworkScreen.-narrow.-drawing #net-table { display: none; }
    NetworkScreen #net-forms { height: auto; border-top: tall $panel; padding: 0 1; }
    NetworkScreen #net-forms Horizontal { height: auto; }
    NetworkScreen #net-forms Input { width: 1fr; }
    NetworkScreen #net-forms Button { margin-left: 1; min-width: 8; width: auto; }
    NetworkScreen #net-forms Label { padding: 1 1 0 0; width: 7; }
    NetworkScreen.-narrow #net-forms Label { width: auto; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "back to consoles"),
        Binding("r", "refresh", "refresh"),
        Binding("t", "drawing", "table / drawing"),
        Binding("c", "capture", "packets"),
    ]
    NARROW = 120
    """Below this width the drawing takes the table's place (``t``) instead of standing beside it."""

    def __init__(
        self, client: Client, guests: Callable[[], Mapping[str, GuestInfo]], current: Callable[[], str | None]
    ) -> None:
        """``guests`` and ``current`` tell what the app knows now: every guest, and the one shown."""
        super().__init__()
        self.client = client
        self.guests = guests
        self.current = current
        self.net: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Label(
            " Guest NICs and their segments · c: packets · Enter in a field runs its form",
            classes="title",
        )
        with Horizontal(id="net-top"):
            yield DataTable(id="net-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="net-draw"):
                yield Static(id="net-drawing")
        with Vertical(id="net-forms"):
            with Horizontal():
                yield Label("switch")
                yield Input(placeholder="name (lan1)", id="sw-name")
                yield Checkbox("hub", id="sw-hub")
                yield Button("create", id="sw-add", variant="primary")
                yield Button("delete", id="sw-del", variant="error")
            with Horizontal():
                yield Label("plug")
                yield Input(placeholder="guest", id="plug-guest")
                yield Input(placeholder="NIC ethN", id="plug-nic")
                yield Input(placeholder="switch", id="plug-switch")
                yield Input(placeholder="IP/len", id="plug-ip")
                yield Button("plug", id="plug-add", variant="primary")
                yield Button("unplug", id="plug-del", variant="warning")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < self.NARROW, "-narrow")

    def action_drawing(self) -> None:
        self.toggle_class("-drawing")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("guest", "NIC", "kind", "segment", "address", "MAC", "state")
        self.action_refresh()
        self.set_interval(2.0, self.action_refresh)

    @work(exclusive=True, group="net-refresh", exit_on_error=False)
    async def action_refresh(self) -> None:
        try:
            self.net = await self.client.request("net", timeout=10)
        except SupervisorError as exc:
            self.notify(str(exc), severity="error")
            return
        table = self.query_one(DataTable)
        table.clear()
        for n in self.net["nics"]:
            cells = [
                n["guest"],
                n["name"],
                n.get("kind") or "",
                (n.get("target") or "") + (f" in {n['netns']}" if n.get("netns") else ""),
                n.get("ip") or "",
                n.get("mac") or "",
                n.get("state", ""),
            ]
            table.add_row(*(Text(str(c)) for c in cells))  # as text: a MAC's ":ab:" is no emoji code
        self.query_one("#net-drawing", Static).update(draw_topology(self.net))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = event.data_table.get_row(event.row_key)
        self.query_one("#plug-guest", Input).value = str(row[0])
        self.query_one("#plug-nic", Input).value = str(row[1])
        if str(row[2]) in ("switch", "hub"):
            self.query_one("#plug-switch", Input).value = str(row[3])
        self.query_one("#plug-ip", Input).value = str(row[4])

    def _segment_shown(self) -> str | None:
        """``LAB/NAME`` of the segment of the table's highlighted row, or else the switch field's."""
        table = self.query_one(DataTable)
        guests = self.guests()
        if table.row_count and table.cursor_row >= 0:
            row = table.get_row_at(table.cursor_row)
            guest = guests.get(str(row[0]))
            if str(row[2]) in ("switch", "hub", "tap") and guest:
                return f"{guest['lab']}/{str(row[3]).split(' in ')[0]}"
        lab, name = self._current_lab(), self._value("#sw-name")
        return f"{lab}/{name}" if lab and name else None

    def action_capture(self) -> None:
        """The packets pane for the highlighted row's segment (or the one named in the switch field)."""
        ref = self._segment_shown()
        if ref is None:
            self.notify("highlight a NIC on a switch, hub or tap (or name a switch in the field)", severity="error")
            return
        try:
            segment = find_segment(self.net, ref)
        except CaptureError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self.app.push_screen(PacketsScreen(segment))

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def _current_lab(self) -> str | None:
        guests = self.guests()
        current = guests.get(self.current() or "")
        if current:
            return str(current["lab"])
        labs = sorted({g["lab"] for g in guests.values() if g["lab"]})
        return labs[0] if labs else None

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        """Enter in a field does what its form's first button does."""
        event.stop()
        self._do("sw-add" if event.input.id == "sw-name" else "plug-add")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._do(event.button.id or "")

    def _do(self, bid: str) -> None:
        if bid == "sw-add":
            self.switch_add(self._value("#sw-name"), self.query_one("#sw-hub", Checkbox).value)
        elif bid == "sw-del":
            self.switch_del(self._value("#sw-name"))
        elif bid == "plug-add":
            self.plug(
                self._value("#plug-guest"),
                self._value("#plug-nic"),
                self._value("#plug-switch"),
                self._value("#plug-ip"),
            )
        elif bid == "plug-del":
            self.unplug(self._value("#plug-guest"), self._value("#plug-nic"))

    async def _call(self, op: str, **args: Any) -> Any:
        try:
            result = await self.client.request(op, timeout=30, **args)
        except SupervisorError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return None
        self.action_refresh()
        return result if result is not None else True

    @work(group="net-change", exit_on_error=False)
    async def switch_add(self, name: str, hub: bool) -> None:
        lab = self._current_lab()
        if lab is None:
            self.notify("no lab is up", severity="error")
            return
        if await self._call("switch_add", lab=lab, name=name, hub=hub):
            self.notify(f"{'hub' if hub else 'switch'} {lab}/{name} created")

    @work(group="net-change", exit_on_error=False)
    async def switch_del(self, name: str) -> None:
        lab = self._current_lab()
        if lab and await self._call("switch_del", lab=lab, name=name):
            self.notify(f"switch {lab}/{name} deleted")

    @work(group="net-change", exit_on_error=False)
    async def plug(self, guest: str, nic: str, switch: str, ip: str) -> None:
        if not guest or not nic or not switch:
            self.notify("plug needs a guest, a NIC (eth1) and a switch", severity="error")
            return
        result = await self._call("plug", guest=guest, nic=nic, switch=switch, ip=ip or None)
        if result:
            self.notify(f"{guest}:{nic} plugged into {switch}" + (f" with {result['ip']}" if result.get("ip") else ""))

    @work(group="net-change", exit_on_error=False)
    async def unplug(self, guest: str, nic: str) -> None:
        if await self._call("unplug", guest=guest, nic=nic):
            self.notify(f"{guest}:{nic} unplugged")

    def action_close(self) -> None:
        self.dismiss(None)
