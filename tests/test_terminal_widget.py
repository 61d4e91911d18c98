"""The console widget: canned sequences rendered, and a real guest driven through it."""

from __future__ import annotations

import pytest
from conftest import Env, requires_uml
from helpers import until
from textual.app import App, ComposeResult

from umltui.terminal.connection import ConsoleHub, PtyConnection
from umltui.widgets.terminal import TerminalView


class One(App[None]):
    def __init__(self, view: TerminalView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield self.view

    def on_mount(self) -> None:
        self.view.focus()


async def test_canned_sequences_render_with_styles() -> None:
    view = TerminalView()
    async with One(view).run_test(size=(41, 6)) as pilot:
        await pilot.pause()
        view.feed(b"\x1b[31mred\x1b[0m \x1b[7mrev\x1b[0m \x1b[1;38;5;208mo\x1b[0m \xe4\xb8\xad!\r\n")
        await pilot.pause(0.1)
        strip = view.render_line(0)
        segments = [(s.text, s.style) for s in strip if s.text.strip()]
        assert segments[0][0] == "red" and segments[0][1].color.name == "red"
        assert segments[1][0] == "rev" and segments[1][1].reverse
        assert segments[2][1].bold and segments[2][1].color.triplet.hex == "#ff8700"
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


@requires_uml
@pytest.mark.uml
async def test_real_guest_prompt_command_vi_and_resize(env: Env) -> None:
    env.run("demo", "--detach", check=True, timeout=120)
    hub = await ConsoleHub().connect()
    try:
        view = TerminalView()
        app = One(view)
        async with app.run_test(size=(100, 30)) as pilot:
            view.attach(await hub.console("demo-a", "con1"))
            view.send(b"\r")

            def text() -> str:
                return "\n".join(view.screen_text())

            await until(lambda: "a:/root#" in text(), what="a prompt", extra=text)
            for key in "echo $((6*7))":
                await pilot.press(key if key != " " else "space")
            await pilot.press("enter")
            await until(lambda: "\n42\n" in text(), what="the command's output")
            before = view.screen_text()
            view.send(b"vi /tmp/x\r")
            await until(lambda: view.terminal.screen.alternate or "~" in text(), what="vi")
            await pilot.pause(0.3)
            await pilot.press("escape")
            await pilot.pause(0.5)  # vi takes ESC followed at once by a key as one escape sequence
            await pilot.press(":", "q", "!", "enter")
            await until(
                lambda: not view.terminal.screen.alternate and "vi /tmp/x" in text(), what="vi to quit", extra=text
            )
            await pilot.pause(0.3)
            after = view.screen_text()
            # The shell screen is as it was, plus the vi line and a fresh prompt.
            assert after[: len([r for r in before if r])] == [r for r in before if r][
                : len(after)
            ] or "vi /tmp/x" in "\n".join(after)
            assert not any(r.strip() == "~" for r in after), after
            # Debian's 6.1 UML does not pass a con=pts pty's size on to the guest's tty (its
            # programs keep 24x80); the pane can tell the guest's shell its size instead.
            cols, rows = view.terminal.screen.columns, view.terminal.screen.lines
            view.send(b"stty size\r")
            await until(lambda: text().rstrip().endswith("#") and "stty size\n" in text(), what="stty")
            view.tell_size()
            view.send(b"stty size\r")
            await until(lambda: f"{rows} {cols}" in text(), timeout=5, what=f"stty size {rows} {cols}", extra=text)
    finally:
        await hub.close()


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
