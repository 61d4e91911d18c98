"""The console widget: canned sequences rendered, scrollback, a program on a pty of its own."""

from __future__ import annotations

from helpers import OneView as One
from helpers import until
from rich.style import Style
from textual.strip import Strip

from umltui.terminal.connection import PtyConnection
from umltui.widgets.terminal import TerminalView


async def test_canned_sequences_render_with_styles() -> None:
    view = TerminalView()
    async with One(view).run_test(size=(41, 6)) as pilot:
        await pilot.pause()
        view.feed(b"\x1b[31mred\x1b[0m \x1b[7mrev\x1b[0m \x1b[1;38;5;208mo\x1b[0m \xe4\xb8\xad!\r\n")
        await pilot.pause(0.1)
        strip = view.render_line(0)
        segments = [(s.text, s.style) for s in strip if s.text.strip()]
        red, rev, orange = (style for _text, style in segments[:3])
        assert red is not None and red.color is not None and rev is not None and orange is not None
        assert orange.color is not None and orange.color.triplet is not None
        assert segments[0][0] == "red" and red.color.name == "red"
        assert segments[1][0] == "rev" and rev.reverse
        assert orange.bold and orange.color.triplet.hex == "#ff8700"
        assert "中!" in segments[3][0]
        assert strip.cell_length == view.scrollable_content_region.width
        assert view.screen_text()[0] == "red rev o 中!"


async def test_scrollback_follow_search_and_selection() -> None:
    view = TerminalView(history=1000)
    async with One(view).run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        view.feed(b"".join(b"line %d\r\n" % i for i in range(100)))
        await pilot.pause(0.1)
        assert view.following and view.scroll_offset.y == view.max_scroll_y
        view.page(-1)
        assert not view.following
        top = view.scroll_offset.y
        view.feed(b"more\r\n")
        await pilot.pause(0.1)
        assert view.scroll_offset.y == top and view.new_output_below  # not yanked down
        assert "new output" in "".join(s.text for s in view.render_line(view.size.height - 1))
        assert view.search("line 42")
        assert view.current_match is not None and view.line_text(view.current_match[0]).startswith("line 42")
        assert view.search_next() is False or view.current_match[0] <= 42
        view.select_lines(view.current_match[0], view.current_match[0] + 1)
        assert view.selected_text().splitlines() == ["line 42", "line 43"]
        view.follow()
        assert view.following and view.scroll_offset.y == view.max_scroll_y


async def test_program_on_its_own_pty_output_resize_and_end() -> None:
    """The widget on a pty it opened itself (PtyConnection): output in, size out, the end told."""
    closed: list[str] = []

    class Watch(One):
        def on_terminal_view_closed(self, event: TerminalView.Closed) -> None:
            closed.append(event.reason)

    view = TerminalView()
    async with Watch(view).run_test(size=(50, 12)) as pilot:
        await pilot.pause()
        view.attach(PtyConnection(["sh", "-c", "sleep 0.3; stty size; read line; echo got-$line"], cols=80, rows=24))
        size = f"{view.terminal.screen.lines} {view.terminal.screen.columns}"  # the pane's, not 24x80
        assert size == "12 49"  # a column for the scroll bar
        await until(lambda: size in "\n".join(view.screen_text()), what="the pane's size", extra=view.screen_text)
        await pilot.press("o", "k", "enter")
        await until(lambda: "got-ok" in "\n".join(view.screen_text()), what="the echo", extra=view.screen_text)
        await until(lambda: bool(closed), what="the Closed message")
        assert closed == ["the program ended"]


async def test_scrollback_mode_starts_at_the_bottom_and_holds_still_and_search_sees_the_screen() -> None:
    from umltui.screens.scrollback import ScrollbackScreen

    view = TerminalView(history=1000)
    app = One(view)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        view.feed(b"".join(b"line %d\r\n" % i for i in range(50)) + b"on screen now\r\n")
        await pilot.pause(0.1)
        bottom = view.scroll_offset.y
        app.push_screen(ScrollbackScreen(view))
        await pilot.pause(0.1)
        assert view.scroll_offset.y == bottom and not view.following  # not a page up: where the user was
        view.feed(b"more\r\n" * 5)
        await pilot.pause(0.1)
        assert view.scroll_offset.y == bottom  # holds still while the guest prints
        assert view.search("on screen now") and view.current_match is not None
        assert view.current_match[0] >= len(view.terminal.screen.history) - 5  # found near the bottom
        await pilot.press("q")
        await pilot.pause(0.1)
        assert view.following


async def test_a_row_painted_in_one_pass_is_the_row_the_general_way_paints() -> None:
    """``_plain_strip`` (rows with at most the cursor over them) against ``_row_strip`` +
    ``_overlay`` + the base style, cell by cell and style by style, for rows with colours,
    attributes, blanks and the cursor anywhere, and panes wider and narrower than the guest's."""
    view = TerminalView()
    async with One(view).run_test(size=(50, 8)) as pilot:
        await pilot.pause()
        view.feed(
            b"plain \x1b[31mred\x1b[1mbold\x1b[0m \x1b[7;4mrev-ul\x1b[0m\x1b[42m  \x1b[0mend\r\n"
            b"\x1b[38;5;208;48;2;1;2;3mx\x1b[0m\r\n\r\n" + b"w" * 49 + b"\r\n\xe4\xb8\xad wide\r\n"
        )
        await pilot.pause(0.1)
        screen = view.terminal.screen
        compared = 0
        for width in (view.scrollable_content_region.width, 30, 60):
            for index in range(screen.lines):
                row = view._row(index + len(screen.history))
                for cursor_x in (None, 0, 3, 9, 10, 25, 48, 49, 70):
                    fast = view._plain_strip(row, screen.columns, width, cursor_x)
                    if fast is None:
                        assert not "".join(text for text, _ in row.segments(screen.columns)).isascii()
                        continue
                    base = view._base_style()
                    slow = view._overlay(view._row_strip(row, screen.columns), index, cursor_x)
                    slow = slow.apply_style(base).adjust_cell_length(width, base)
                    assert fast.cell_length == slow.cell_length == width

                    def cells(strip: Strip) -> list[tuple[str, Style | None]]:
                        return [(ch, seg.style) for seg in strip for ch in seg.text]

                    assert cells(fast) == cells(slow), (index, width, cursor_x)
                    compared += 1
        assert compared > 100


async def test_a_hidden_pane_parses_in_slow_slices_catches_up_when_shown_and_skips_a_flood() -> None:
    """A flooding console nobody looks at must not take the app's time: it is parsed a slice
    every 0.1 s while hidden, all at once when shown, and what it falls too far behind is
    skipped with a note (its log has it)."""
    from umltui.terminal import ingest as terminal

    view = TerminalView(history=100)
    async with One(view).run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        view.display = False
        await pilot.pause()
        budget, terminal.HIDDEN_BUDGET = terminal.HIDDEN_BUDGET, 0.0  # one slice a turn, to see it lag
        try:
            view.feed(b"x" * (terminal.SLICE * 20) + b"\r\nlast line\r\n")
            await pilot.pause(0.05)
            assert view.ingest.queued > terminal.SLICE * 15  # not parsed at once
            await pilot.pause(0.3)
            assert 0 < view.ingest.queued < terminal.SLICE * 20  # a slice or so every 0.1 s
            view.display = True
            await until(lambda: view.ingest.queued == 0, timeout=5)  # shown: all of it, now
            assert any("last line" in line for line in view.screen_text())
            view.display = False
            await pilot.pause()
            view.feed(b"y" * (terminal.HIDDEN_BACKLOG + 1))
            assert view.ingest.queued < 200  # the backlog is gone: just the note is left
        finally:
            terminal.HIDDEN_BUDGET = budget
        view.display = True
        await until(lambda: any("skipped while hidden" in line for line in view.screen_text()), timeout=5)


async def test_a_hidden_pane_waits_while_keys_are_typed_then_catches_up() -> None:
    """A hidden pane's slice would hold up the echo of a key typed meanwhile: while keys come
    (into any pane), hidden panes wait, then parse once the keys stop, or after at most
    ``HIDDEN_WAIT_MAX``."""
    import time

    from umltui.terminal import ingest as terminal
    from umltui.terminal.ingest import Ingest

    view, typist = TerminalView(history=100), TerminalView()
    async with One(view).run_test(size=(60, 10)) as pilot:
        await pilot.pause()
        view.display = False
        await pilot.pause()
        view.feed(b"first\r\n")
        await until(lambda: view.ingest.queued == 0, timeout=2)  # no keys yet: parsed in a slice
        view.feed(b"while typing\r\n")
        for _ in range(8):  # a key every 0.1 s for 0.8 s
            typist.send(b"k")
            await pilot.pause(0.1)
        assert view.ingest.queued > 0  # waited while the keys came
        await until(lambda: view.ingest.queued == 0, timeout=3)  # and parsed once they stopped
        assert time.monotonic() - Ingest.typed_at >= terminal.HIDDEN_WAIT * 0.9
        longest, terminal.HIDDEN_WAIT_MAX = terminal.HIDDEN_WAIT_MAX, 0.3
        try:
            view.feed(b"during a long burst\r\n")
            start = time.monotonic()
            while view.ingest.queued and time.monotonic() - start < 3:
                typist.send(b"k")
                await pilot.pause(0.05)
            assert view.ingest.queued == 0  # keys never stopped, but it had its slice
        finally:
            terminal.HIDDEN_WAIT_MAX = longest
    view.display = True
    assert any("during a long burst" in line for line in view.screen_text())


async def test_a_hidden_pane_growing_its_scrollback_lays_nothing_out_until_shown() -> None:
    """A new virtual size lays out the whole screen (Textual's ``virtual_size`` is a layout
    reactive); a hidden pane's scrollback grows with every slice of a flood behind another
    tab, and nobody sees it. So a hidden pane leaves its size alone, and is at the end of
    its output, following, once shown."""
    from textual.screen import Screen

    view = TerminalView(history=1000)
    layouts = 0

    def rows() -> int:  # the model's: scrollback and screen
        return len(view.terminal.screen.history) + view.terminal.screen.lines

    async with One(view).run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        view.feed(b"".join(b"before %d\r\n" % i for i in range(30)))
        await until(lambda: view.virtual_size.height == rows() == 31, "the first lines in view", timeout=3)
        view.display = False
        await pilot.pause(0.1)
        real = Screen._refresh_layout

        def counted(screen: Screen, *args: object, **kwargs: object) -> None:  # type: ignore[type-arg]
            nonlocal layouts
            layouts += 1
            real(screen, *args, **kwargs)  # type: ignore[arg-type]

        Screen._refresh_layout = counted  # type: ignore[method-assign,assignment]
        try:
            for n in range(5):  # five slices (0.1 s apart), each with more scrollback
                view.feed(b"".join(b"hidden %d.%d\r\n" % (n, i) for i in range(20)))
                await pilot.pause(0.15)
            await until(lambda: view.ingest.queued == 0, "the hidden pane's slices", timeout=3)
            assert layouts == 0
        finally:
            Screen._refresh_layout = real  # type: ignore[method-assign]
        assert view.virtual_size.height == 31 and rows() == 131  # as it was, while the model grew
        view.display = True
        await until(lambda: view.virtual_size.height == 131, "the size once shown", timeout=3)
        await pilot.pause(0.1)
        assert view.following and view.scroll_offset.y == view.max_scroll_y
        assert "hidden 4.19" in view.screen_text()[-2]
