"""A partial repaint that renders only what it shows.

Textual's compositor answers a repaint of a region (a console row that an echo changed) by
rendering every widget whose clip overlaps it, and each of those that is fully visible in
its whole height: the tree, the mconsole panel, every container behind the pane. Those
renders are mostly cache hits, but at 160x48 they cost about as much as the rest of a key's
echo together. ``install`` replaces the one method that picks what to render
(``Compositor._get_renders``) for region repaints (a full repaint is left as it was) with
one that renders each widget only in the rows of the region, and not at all where it does
not reach the region or where widgets in front of it cover it already.

The result is the same, cell for cell: the compositor fills each cut of a row from the
first widget (front to back) that renders it, so a widget entirely behind others
contributes nothing. ``tests/unit/test_compositor_crop.py`` compares the two renders on a
layout like the app's, with overlays, for many regions. If Textual's compositor changes
shape, ``install`` leaves it alone.

Private things it touches: ``textual._compositor.Compositor``, whose ``_get_renders`` it
replaces (checked for its signature and for ``visible_widgets`` and ``_render_chops`` first).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip

from . import active

_ORIGINAL: Any = None

Render = tuple[Region, Region, list[Strip]]
Area = tuple[int, int, int, int]  # x, y, width, height


def _covered(x0: int, x1: int, y0: int, y1: int, areas: list[Area]) -> bool:
    """Columns ``x0..x1`` of rows ``y0..y1`` are inside areas already rendered in front."""
    spans = sorted((ax, ax + aw) for ax, ay, aw, ah in areas if ay <= y0 and ay + ah >= y1 and ax < x1 and ax + aw > x0)
    at = x0
    for start, end in spans:
        if start > at:
            return False
        at = max(at, end)
        if at >= x1:
            return True
    return at >= x1


def cropped_renders(compositor: Compositor, crop: Region | None = None) -> Iterator[Render]:
    """``Compositor._get_renders`` for a region: each widget in the region's rows only."""
    if crop is None:
        yield from _ORIGINAL(compositor, crop)
        return
    intersection = Region.intersection
    left, top, right, bottom = crop.x, crop.y, crop.right, crop.bottom
    rendered: list[Area] = []
    for widget, (region, clip) in compositor.visible_widgets.items():  # front to back
        x, y, width, height = intersection(region, clip)
        y0, y1 = max(y, top), min(y + height, bottom)
        if not width or y1 <= y0 or x >= right or x + width <= left:
            continue  # nothing of it in the region
        if _covered(max(x, left), min(x + width, right), y0, y1, rendered):
            continue  # behind what is rendered already
        rendered.append((x, y0, width, y1 - y0))
        # Whole columns (the compositor cuts rows at widget edges), only the region's rows.
        strips = widget.render_lines(Region(x - region.x, y0 - region.y, width, y1 - y0))
        yield region, Region(x, y0, width, y1 - y0), strips


def install() -> bool:
    """Use ``cropped_renders`` in every compositor; False (and nothing changed) if Textual's differs."""
    global _ORIGINAL
    if _ORIGINAL is not None:
        return True
    if not active():
        return False
    original = getattr(Compositor, "_get_renders", None)
    if original is None or list(inspect.signature(original).parameters) != ["self", "crop"]:
        return False
    if not hasattr(Compositor, "visible_widgets") or not hasattr(Compositor, "_render_chops"):
        return False
    _ORIGINAL = original
    Compositor._get_renders = cropped_renders  # type: ignore[method-assign,assignment]
    return True


def uninstall() -> None:
    """Textual's own again (for the tests that compare the two)."""
    global _ORIGINAL
    if _ORIGINAL is not None:
        Compositor._get_renders = _ORIGINAL  # type: ignore[method-assign]
        _ORIGINAL = None
