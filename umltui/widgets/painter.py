"""An echo painted straight to the terminal: the changed rows of a pane, without the screen's update.

Textual paints a widget's refresh through its screen: the update timer, the compositor's
chops for every row of the screen, the styles cache (borders, padding, tint, opacity,
filters) for the rows asked for, the mouse-over check. For a typed key's echo that was
about 0.8 ms at 160x48 on these 2-core hosts, most of the app's share of an echo's way out.

``echo_update`` builds the same cells for the rows a ``TerminalView`` marked dirty (its
``_flush``), from the pane's own ``render_line`` with the app's line filters, as one
``ChopsUpdate`` that Textual's own ``_display`` writes (with its synchronized output and
cursor). Only where that is the whole story:

- the screen is the app's current one, with no layout, scroll or full repaint pending, and
  the app is not batching updates;
- the pane is on it, and nothing in front of it (a toast, a tooltip, another layer)
  reaches the rows;
- the pane has no CSS effect inside its content: tint, text opacity, opacity or hatch.

Anything else gives None, and the caller lets Textual paint. The rows painted are taken
from the pane's repaint regions, so Textual's later update of the pane finds nothing left;
its styles cache keeps those rows marked dirty, so any later render of them by Textual
renders them afresh. ``tests/unit/test_painter.py`` checks the cells against Textual's
own repaint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual._compositor import ChopsUpdate
from textual.geometry import Region

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.widget import Widget


def _plain(widget: Widget) -> bool:
    """No CSS effect over the widget's content cells that its ``render_line`` does not make."""
    styles = widget.styles
    if styles.tint.a or styles.text_opacity != 1.0 or widget.opacity != 1.0:
        return False
    return not (styles.has_rule("hatch") and styles.hatch != "none")


def _in_front(widget: Widget, visible: dict[Any, tuple[Region, Region]]) -> list[Region]:
    """What is shown in front of ``widget`` and overlaps it (its screen's visible widgets are
    in paint order, front first)."""
    region, clip = visible[widget]
    mine = region.intersection(clip)
    fronts: list[Region] = []
    for other, (other_region, other_clip) in visible.items():
        if other is widget:
            break
        shown = other_region.intersection(other_clip)
        if shown.overlaps(mine):
            fronts.append(shown)
    return fronts


def screen_for(widget: Widget) -> Screen[Any] | None:
    """The widget's screen, if an echo on it may be painted straight away; else None."""
    app = widget.app
    screen = widget.screen
    if app.is_inline or app._batch_count or not app._running:
        return None
    if screen is not app.screen or not screen.is_current:
        return None
    if screen._layout_required or screen._scroll_required or screen._repaint_required:
        return None
    if screen._compositor._full_map_invalidated:
        return None
    return screen


class EchoPainter:
    """Paints one widget's echoes; keeps what is in front of it for as long as the layout holds."""

    def __init__(self, widget: Widget) -> None:
        self.widget = widget
        self._visible: object = None  # the compositor's visible map that ``_fronts`` is for
        self._fronts: list[Region] = []
        self.painted = 0  # echoes painted here (for the tests)

    def fronts(self, visible: dict[Any, tuple[Region, Region]]) -> list[Region]:
        """``_in_front``, once per layout: the compositor makes a new visible map when one changes."""
        if visible is not self._visible:
            self._fronts = _in_front(self.widget, visible)
            self._visible = visible
        return self._fronts

    def update(self, screen: Screen[Any]) -> ChopsUpdate | None:
        """The update that paints the widget's pending repaint regions, or None where Textual must.

        On success the widget's repaint regions are taken (cleared)."""
        widget = self.widget
        regions = widget._repaint_regions
        if not regions:
            return None
        visible = screen._compositor.visible_widgets
        placed = visible.get(widget)
        if placed is None or not _plain(widget):
            return None
        region, clip = placed
        fronts = self.fronts(visible)
        gutter = widget.styles.gutter
        content = widget.content_region.size
        areas: list[Region] = []
        for dirty in regions:
            area = clip.intersection(dirty.translate(region.offset))
            if not area:
                continue
            if any(area.overlaps(front) for front in fronts):
                return None
            # Only content: a border, padding or the scrollbar beside it is Textual's to paint.
            x0, y0 = area.x - region.x - gutter.left, area.y - region.y - gutter.top
            if x0 < 0 or y0 < 0 or x0 + area.width > content.width or y0 + area.height > content.height:
                return None
            areas.append(area)
        filters = widget.get_line_filters()
        background = widget.background_colors[1] if filters else None
        rows: dict[int, tuple[int, int]] = {}  # screen row -> its columns, x1 to x2
        for area in areas:
            for y in area.line_range:
                x1, x2 = rows.get(y, (area.x, area.right))
                rows[y] = (min(x1, area.x), max(x2, area.right))
        render_line = widget.render_line
        chops: dict[int, dict[int, Any]] = {}
        ends: dict[int, list[int]] = {}
        left = region.x + gutter.left  # the content's first column on the screen
        for y, (x1, x2) in rows.items():
            strip = render_line(y - region.y - gutter.top)
            if strip.cell_length < x2 - left:
                return None  # short of what it must cover: leave it to Textual
            for line_filter in filters:
                strip = strip.apply_filter(line_filter, background)  # type: ignore[arg-type]
            chops[y] = {x1: strip.crop(x1 - left, x2 - left)}
            ends[y] = [x2]
        spans = sorted((y, x1, x2) for y, (x1, x2) in rows.items())
        regions.clear()
        return ChopsUpdate(chops, spans, ends)  # type: ignore[arg-type]

    def paint(self) -> bool:
        """Paint the widget's pending repaint regions now, straight to the terminal; False (and
        nothing done) where Textual's own repaint must do it."""
        app = self.widget.app
        screen = screen_for(self.widget)
        if screen is None or app.is_headless or app._driver is None:
            return False  # (headless, Textual's own paint writes nothing either)
        update = self.update(screen)
        if update is None:
            return False
        app._display(screen, update)
        self.painted += 1
        return True
