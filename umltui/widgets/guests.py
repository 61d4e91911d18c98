"""The left side: guests grouped by lab, each with its state, consoles, NICs and disks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ..core.protocol import GuestInfo, GuestState, guest_order

STATE_STYLE = {
    GuestState.BOOTING: "yellow",
    GuestState.RUNNING: "green",
    GuestState.PAUSED: "cyan",
    GuestState.HUNG: "bold magenta",
    GuestState.HALTED: "dim",
    GuestState.CRASHED: "bold red",
}
STATE_MARK = {
    GuestState.BOOTING: "◌",
    GuestState.RUNNING: "●",
    GuestState.PAUSED: "‖",
    GuestState.HUNG: "⚠",
    GuestState.HALTED: "○",
    GuestState.CRASHED: "✖",
}


class GuestTree(Tree[dict[str, Any]]):
    """Guests by lab; selecting a guest or one of its consoles says so with a message."""

    WIDTH = 30
    DEFAULT_CSS = f"""
    GuestTree {{ width: {WIDTH}; border-right: tall $panel; background: $surface; scrollbar-size-horizontal: 0; }}
    """
    BINDINGS = [Binding("escape", "app.close_side", "back to the console", show=False)]

    @dataclass
    class Chosen(Message):
        umid: str
        console: str | None

    def __init__(self, **kw: Any) -> None:
        super().__init__("guests", **kw)
        self.show_root = False
        self.guide_depth = 2
        self.flags: dict[tuple[str, str], str] = {}  # (umid, console) -> mark (bell, activity, silence)

    def update_guests(self, guests: Mapping[str, GuestInfo], current: str | None) -> None:
        """Rebuild from the supervisor's view, keeping which nodes were open."""
        opened = {n.data.get("key") for n in self._all_nodes() if n.data and n.is_expanded}
        first = not any(self.root.children)
        self.clear()
        labs: dict[str, TreeNode[dict[str, Any]]] = {}
        for umid in sorted(guests, key=lambda u: guest_order(guests[u])):
            g = guests[umid]
            lab = g["lab"] or "(not started by umltui)"
            if lab not in labs:
                labs[lab] = self.root.add(Text(lab, style="bold"), data={"key": f"lab:{lab}"}, expand=True)
            state = g["state"]
            label = Text.assemble(
                (STATE_MARK.get(state, "?") + " ", STATE_STYLE.get(state, "")),
                (g["name"] if g["lab"] else umid, "bold" if umid == current else ""),
                " ",
                (state, STATE_STYLE.get(state, "")),
                (f" ⚠ startup {g['startup_status']}", "bold yellow") if g.get("startup_status") else "",
            )
            key = f"guest:{umid}"
            node = labs[lab].add(
                label,
                data={"key": key, "umid": umid},
                expand=key in opened or umid == current or (first and len(guests) <= 3),
            )
            if g.get("reason") and state in (GuestState.CRASHED, GuestState.HUNG, GuestState.PAUSED):
                node.add_leaf(
                    Text(g["reason"][:60], style=STATE_STYLE.get(state, "")),
                    data={"key": f"reason:{umid}", "umid": umid},
                )
            for con, pts in g.get("consoles", {}).items():
                flag = self.flags.get((umid, con), "")
                node.add_leaf(
                    Text.assemble(
                        f"{con} ",
                        ((pts.rsplit("/dev/", 1)[-1] if pts else "-").ljust(7), "dim"),  # (in its sandbox)
                        (f" {flag}", "bold yellow") if flag else "",
                    ),
                    data={"key": f"con:{umid}:{con}", "umid": umid, "console": con},
                )
            node.add_leaf(
                Text("kernel log (con0)", style="dim"),
                data={"key": f"con:{umid}:con0", "umid": umid, "console": "con0"},
            )
            for nic in g.get("nics", []):
                # Short enough for the list's width: a switch by its name alone (the network
                # view has the rest), other kinds with theirs.
                where = nic.get("target") or "?"
                kind = nic.get("kind")
                node.add_leaf(
                    Text.assemble(
                        ("⇄ ", "cyan"),
                        f"{nic['name']} ",
                        (where if kind == "switch" else f"{kind}:{where}", "dim"),
                        f" {nic['ip']}" if nic.get("ip") else "",
                    ),
                    data={"key": f"nic:{umid}:{nic['name']}", "umid": umid},
                )
            for disk in g.get("disks", []):
                image = str(disk.get("image") or "").rsplit("/", 1)[-1]
                node.add_leaf(
                    Text.assemble(
                        ("▤ ", "blue"), f"{disk['name']} ", (image, "dim"), (" cow" if disk.get("cow") else "", "dim")
                    ),
                    data={"key": f"disk:{umid}:{disk['name']}", "umid": umid},
                )
        if not guests:
            self.root.add_leaf(Text("no guests: umltui up LAB", style="dim"))

    def _all_nodes(self) -> list[TreeNode[dict[str, Any]]]:
        out: list[TreeNode[dict[str, Any]]] = []
        stack = list(self.root.children)
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(node.children)
        return out

    def on_tree_node_selected(self, event: Tree.NodeSelected[dict[str, Any]]) -> None:
        data = event.node.data or {}
        if "umid" in data:
            event.stop()
            self.post_message(self.Chosen(data["umid"], data.get("console")))
