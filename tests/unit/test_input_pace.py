"""The console input window (core/inputpace.py): what may be written, and when, on a clock
the test gives."""

from __future__ import annotations

from umltui.core.inputpace import SILENCE, WINDOW, InputPace


def test_keys_go_at_once_and_a_paste_waits_for_the_window() -> None:
    pace = InputPace()
    assert pace.room(0.0) == WINDOW
    pace.wrote(WINDOW, 0.0)
    assert pace.room(0.1) == 0


def test_keys_by_hand_are_answered_by_their_echo() -> None:
    pace = InputPace()
    pace.wrote(3, 0.0)
    pace.printed(6, 0.01)  # the tty's echo and the line editor's
    assert pace.room(0.02) == WINDOW


def test_a_paste_is_answered_only_by_silence_never_by_what_is_printed() -> None:
    # A new user's 300 lines of `echo x...` into bash: their output answered the window, 20 KB
    # piled up unread in the guest, and the console went deaf for good.
    pace = InputPace()
    pace.wrote(WINDOW, 0.0)
    for i in range(1, 20):  # the shell prints all the while it works through the lines
        pace.printed(4 * WINDOW, i * SILENCE / 2)
        assert pace.room(i * SILENCE / 2) == 0
    last = 19 * SILENCE / 2
    assert pace.room(last + SILENCE) == WINDOW  # silent: it has read them all


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
