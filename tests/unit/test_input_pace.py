"""The console input window (core/inputpace.py): what may be written, and when, on a clock
the test gives."""

from __future__ import annotations

from umltui.core.inputpace import SILENCE, WINDOW, InputPace


def test_keys_go_at_once_and_a_paste_waits_for_the_window() -> None:
    pace = InputPace()
    assert pace.room(0.0) == WINDOW
    pace.wrote(WINDOW, 0.0)
    assert pace.room(0.1) == 0


def test_echo_counts_half_so_echo_on_receipt_cannot_open_the_window_by_itself() -> None:
    pace = InputPace()
    pace.wrote(WINDOW, 0.0)
    pace.printed(WINDOW, 0.01)  # the guest's tty echoed what it received, nobody read it yet
    assert pace.room(0.02) == WINDOW // 2
    pace.printed(WINDOW, 0.03)  # the shell read it and echoed it again
    assert pace.room(0.04) == WINDOW


def test_a_silent_console_takes_its_window_after_a_pause() -> None:
    pace = InputPace()
    pace.wrote(WINDOW, 1.0)
    assert pace.room(1.0 + SILENCE / 2) == 0
    assert 0 < pace.wait(1.0 + SILENCE / 2) <= SILENCE / 2
    assert pace.room(1.0 + SILENCE) == WINDOW


def test_output_with_nothing_unanswered_gives_no_credit() -> None:
    pace = InputPace()
    pace.printed(10_000, 0.0)  # a flood before any input
    pace.wrote(WINDOW, 0.1)
    assert pace.room(0.1) == 0
