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

from typing import TYPE_CHECKING, Any, NamedTuple

from textual._compositor import ChopsUpdate
from textual.color import Color
from textual.geometry import Region, Size

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


class _Placed(NamedTuple):
    region: Region  # the widget's, on the screen
    clip: Region
    fronts: list[Region]  # what is in front of it
    gutter_left: int
    gutter_top: int
    content: Size
    background: Color  # for the line filters (each ancestor's styles, looked at once)


class EchoPainter:
    """Paints one widget's echoes; keeps what is in front of it for as long as the layout holds."""

    def __init__(self, widget: Widget) -> None:
        self.widget = widget
        self._visible: object = None  # the compositor's visible map that ``_placed`` is for...
        self._styles_key = -1  # ...and the widget's styles' cache key
        self._placed: _Placed | None = None
        self.painted = 0  # echoes painted here (for the tests)

    def placed(self, visible: dict[Any, tuple[Region, Region]]) -> _Placed | None:
        """Where the widget is and what is in front of it; None if it is not shown or not plain.

        Worked out once per layout and style: the compositor makes a new visible map when the
        layout changes, and the styles' cache key changes with any of the widget's styles.
        (These looks go through the styles and each ancestor's: Python run cold after a wait,
        as an echo's is.) An ancestor's background changes with the theme, which changes the
        widget's own styles too."""
        widget = self.widget
        styles_key = widget.styles._cache_key
        if visible is not self._visible or styles_key != self._styles_key:
            self._visible, self._styles_key = visible, styles_key
            where = visible.get(widget)
            if where is None or not _plain(widget):
                self._placed = None
            else:
                region, clip = where
                gutter = widget.styles.gutter
                self._placed = _Placed(region, clip, _in_front(widget, visible), gutter.left, gutter.top,
                                       widget.content_region.size, widget.background_colors[1])  # fmt: skip
        return self._placed

    def update(self, screen: Screen[Any]) -> ChopsUpdate | None:
        """The update that paints the widget's pending repaint regions, or None where Textual must.

        On success the widget's repaint regions are taken (cleared)."""
        widget = self.widget
        regions = widget._repaint_regions
        if not regions:
            return None
        placed = self.placed(screen._compositor.visible_widgets)
        if placed is None:
            return None
        region, clip, fronts, gutter_left, gutter_top, content, background = placed
        areas: list[Region] = []
        for dirty in regions:
            area = clip.intersection(dirty.translate(region.offset))
            if not area:
                continue
            if any(area.overlaps(front) for front in fronts):
                return None
            # Only content: a border, padding or the scrollbar beside it is Textual's to paint.
            x0, y0 = area.x - region.x - gutter_left, area.y - region.y - gutter_top
            if x0 < 0 or y0 < 0 or x0 + area.width > content.width or y0 + area.height > content.height:
                return None
            areas.append(area)
        filters = widget.get_line_filters()
        rows: dict[int, tuple[int, int]] = {}  # screen row -> its columns, x1 to x2
        for area in areas:
            for y in area.line_range:
                x1, x2 = rows.get(y, (area.x, area.right))
                rows[y] = (min(x1, area.x), max(x2, area.right))
        render_line = widget.render_line
        chops: dict[int, dict[int, Any]] = {}
        ends: dict[int, list[int]] = {}
        left = region.x + gutter_left  # the content's first column on the screen
        for y, (x1, x2) in rows.items():
            strip = render_line(y - region.y - gutter_top)
            if strip.cell_length < x2 - left:
                return None  # short of what it must cover: leave it to Textual
            for line_filter in filters:
                strip = strip.apply_filter(line_filter, background)
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
