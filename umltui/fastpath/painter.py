"""An echo painted straight to the terminal: the changed rows of a pane, without the screen's update.

Textual paints a widget's refresh through its screen: the update timer, the compositor's
chops for every row of the screen, the styles cache (borders, padding, tint, opacity,
filters) for the rows asked for, the mouse-over check. For a typed key's echo that was
about 0.8 ms at 160x48 on these 2-core hosts, most of the app's share of an echo's way out.

``EchoPainter.update`` builds the same cells for the rows a ``TerminalView`` marked dirty
(its ``_flush``), from the pane's own ``render_line`` with the app's line filters, as one
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
renders them afresh. What it needs to know of the pane's place and looks (its region,
content, line width, what is in front, the filters' background) is worked out once per
layout and style (a :class:`Plan`), and the pane's echo marks its rows from that plan
instead of through ``refresh`` (``TerminalView._paint_rows``).
``tests/unit/test_painter.py`` checks the cells against Textual's own repaint.

Private things it touches: ``textual._compositor.ChopsUpdate`` and ``App._display`` (to write
the rows), the screen's ``_compositor`` (its visible map, ``_full_map_invalidated``), its
``_layout_required``, ``_scroll_required``, ``_repaint_required``, ``_dirty_widgets`` and
``_on_timer_update``, the app's ``_batch_count``, ``_running`` and ``_driver``, and the widget's
``_repaint_regions`` and ``_styles_cache``: to know that nothing else is pending on the
screen, and to leave Textual's own bookkeeping as its repaint would have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from textual._compositor import ChopsUpdate
from textual.color import Color
from textual.geometry import Offset, Region

from . import active

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen
    from textual.widget import Widget


def _plain(widget: Widget, ancestors_opaque: bool) -> bool:
    """No CSS effect over the widget's content cells that its ``render_line`` does not make.

    ``ancestors_opaque``: the widget's ancestors have no opacity (from the plan); where they
    may, ``widget.opacity`` walks them all (a good part of an echo's paint, cold after a wait)."""
    styles = widget.styles
    if styles.tint.a or styles.text_opacity != 1.0:
        return False
    if ancestors_opaque:
        if styles.opacity != 1.0:
            return False
    elif widget.opacity != 1.0:
        return False
    return not (styles.has_rule("hatch") and styles.hatch != "none")


def _ancestors_opaque(widget: Widget) -> bool:
    """None of the widget's ancestors has an opacity below 1."""
    return all(node.styles.opacity == 1.0 for node in widget.ancestors)


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
    return _ready(widget.app, widget.screen)


def _ready(app: App[Any], screen: Screen[Any]) -> Screen[Any] | None:
    """``screen``, if an echo on it may be painted straight away; else None."""
    if app.is_inline or app._batch_count or not app._running:
        return None
    if screen is not app.screen:  # (so it is current)
        return None
    if screen._layout_required or screen._scroll_required or screen._repaint_required:
        return None
    if screen._compositor._full_map_invalidated:
        return None
    return screen


class Plan(NamedTuple):
    """Where a widget's content is on its screen and how its rows are painted there, for one
    layout (the compositor's visible map) and one state of its styles."""

    visible: dict[Any, tuple[Region, Region]]  # the map it is for
    version: int  # the widget's ``styles_version`` it is for
    filters: tuple[Any, ...]  # the app's line filters it is for
    region: Region  # the widget on the screen
    clip: Region
    fronts: list[Region]  # what is shown in front of it
    content: Region  # its content (less border and padding) on the screen
    line_width: int  # a rendered line: the content less the scrollbars
    background: Color | None  # for the line filters
    ancestors_opaque: bool  # no ancestor has an opacity below 1


class EchoPainter:
    """Paints one widget's echoes, from a :class:`Plan` made once per layout and style.

    Each of Textual's own looks at a widget's place (``region``, ``size``, its screen, the
    background through its ancestors) goes through the screen's compositor and the styles,
    each time it is asked, and cold after a wait. The plan keeps the answers
    while the compositor's visible map (new on every layout, scroll or resize) and the
    widget's styles (``styles_version``, bumped in ``notify_style_update``) stay the same.
    Textual tells a widget of its stylesheet's changes, not of inline ones (``styles.tint =``):
    ``_plain`` is looked at for every echo, and an inline background set with no layout after
    it (none in this app) is not seen by the line filters until the next layout. Nor is an
    ancestor's opacity (none in this app) that changes with no layout after it: the plan
    says whether any ancestor has one, the widget's own is looked at for every echo.
    """

    def __init__(self, widget: Widget) -> None:
        self.widget = widget
        self._plan: Plan | None = None
        self._screen: Screen[Any] | None = None
        self.active = active()  # else Textual paints every echo (see ``umltui.fastpath``)
        self.painted = 0  # echoes painted here (for the tests)
        self.plans = 0  # plans made (for the tests)

    def plan(self, screen: Screen[Any]) -> Plan | None:
        """The widget's plan on ``screen``; None where it is not shown there."""
        widget = self.widget
        visible = screen._compositor.visible_widgets
        version = getattr(widget, "styles_version", 0)
        filters = tuple(widget.get_line_filters())
        plan = self._plan
        if plan is not None and plan.visible is visible and plan.version == version and plan.filters == filters:
            return plan
        self._plan = None
        placed = visible.get(widget)
        if placed is None:
            return None
        region, clip = placed
        content = region.shrink(widget.styles.gutter)
        self._plan = plan = Plan(
            visible=visible,
            version=version,
            filters=filters,
            region=region,
            clip=clip,
            fronts=_in_front(widget, visible),
            content=content,
            line_width=content.shrink(widget.scrollbar_gutter).width,
            background=widget.background_colors[1] if filters else None,
            ancestors_opaque=_ancestors_opaque(widget),
        )
        self._screen = screen
        self.plans += 1
        return plan

    def geometry(self) -> tuple[int, int, Offset] | None:
        """The widget's line width, content height and content offset from its plan, while the
        plan still holds (the same layout and styles); else None."""
        plan, screen = self._plan, self._screen
        if not self.active or plan is None or screen is None or screen._compositor._visible_widgets is not plan.visible:
            return None
        if getattr(self.widget, "styles_version", 0) != plan.version:
            return None
        content, region = plan.content, plan.region
        return plan.line_width, content.height, Offset(content.x - region.x, content.y - region.y)

    def update(self, screen: Screen[Any]) -> ChopsUpdate | None:
        """The update that paints the widget's pending repaint regions, or None where Textual must.

        On success the widget's repaint regions are taken (cleared)."""
        widget = self.widget
        regions = widget._repaint_regions
        if not regions:
            return None
        plan = self.plan(screen)
        if plan is None or not _plain(widget, plan.ancestors_opaque):  # (inline styles: looked at each time)
            return None
        region, clip, fronts, content = plan.region, plan.clip, plan.fronts, plan.content
        areas: list[Region] = []
        for dirty in regions:
            area = clip.intersection(dirty.translate(region.offset))
            if not area:
                continue
            if any(area.overlaps(front) for front in fronts):
                return None
            # Only content: a border, padding or the scrollbar beside it is Textual's to paint.
            x0, y0 = area.x - content.x, area.y - content.y
            if x0 < 0 or y0 < 0 or x0 + area.width > content.width or y0 + area.height > content.height:
                return None
            areas.append(area)
        filters, background = plan.filters, plan.background
        rows: dict[int, tuple[int, int]] = {}  # screen row -> its columns, x1 to x2
        for area in areas:
            for y in area.line_range:
                x1, x2 = rows.get(y, (area.x, area.right))
                rows[y] = (min(x1, area.x), max(x2, area.right))
        sized = getattr(widget, "render_line_sized", None)
        chops: dict[int, dict[int, Any]] = {}
        ends: dict[int, list[int]] = {}
        left = content.x  # the content's first column on the screen
        for y, (x1, x2) in rows.items():
            if sized is not None:
                strip = sized(y - content.y, plan.line_width, content.height)
            else:
                strip = widget.render_line(y - content.y)
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
        if not self.active:
            return False
        app = self.widget.app
        screen = self._screen_for()
        if screen is None or app.is_headless or app._driver is None:
            return False  # (headless, Textual's own paint writes nothing either)
        update = self.update(screen)
        if update is None:
            return False
        app._display(screen, update)
        self.painted += 1
        return True

    def paint_rows(self, regions: list[Region]) -> bool:
        """Rows of the widget (``regions``, in its own coordinates) marked and painted now;
        False (and nothing left marked) where Textual's own repaint must do it.

        What ``refresh`` does that an echo needs: the rows marked for repainting, and in
        Textual's styles cache, whose copy of them is stale now. Not the rest (its caches of
        layout, size and style, and a prompt to the widget's queue that brings an update of
        the screen with nothing left in it), which a temporary probe in the echo benchmark
        showed to be one of the larger steps of an echo.
        """
        if not self.active:
            return False
        widget = self.widget
        widget._repaint_regions.update(regions)
        widget._styles_cache.set_dirty(*regions)
        if self.paint():
            return True
        widget._repaint_regions.difference_update(regions)  # to ``refresh``, as if never marked
        return False

    def update_screen_now(self) -> None:
        """Put what the widget's ``refresh`` marked on the terminal now, as the screen's next frame would.

        Textual paints a refresh after three turns of its loop (the widget's idle turn posts an
        update to its screen, the screen's idle turn wakes its update timer, the timer's task
        paints): about half a millisecond an echo waits for nothing. Here the widget is put on
        its screen's list of dirty widgets and the screen's own update runs at once; the
        update Textual still posts later finds nothing left to paint.
        """
        if not self.active:
            return
        widget = self.widget
        screen = widget.screen
        dirty = getattr(screen, "_dirty_widgets", None)
        update = getattr(screen, "_on_timer_update", None)
        if dirty is None or update is None or screen is not widget.app.screen or widget not in screen._compositor:
            return
        dirty.add(widget)
        update()

    def _screen_for(self) -> Screen[Any] | None:
        """``screen_for``, with the widget's screen kept from the last plan (a widget does not
        change screens)."""
        screen = self._screen
        if screen is None or self.widget.parent is None:
            return screen_for(self.widget)
        return _ready(self.widget.app, screen)
