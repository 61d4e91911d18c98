"""A pane's ingest pacing without an app: the inbox, slices within a budget, echoes, hidden panes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from umltui.terminal import ingest
from umltui.terminal.ingest import FRAME, SLICE, Ingest


@pytest.fixture
def parsed() -> list[bytes]:
    return []


@pytest.fixture
def pane(parsed: list[bytes]) -> Iterator[Ingest]:
    typed = Ingest.typed_at
    yield Ingest(parsed.append)
    Ingest.typed_at = typed


def test_a_few_bytes_after_a_quiet_spell_are_an_echo_and_what_follows_close_behind_is_not(pane: Ingest) -> None:
    assert pane.put(b"l", now=10.0)  # quiet before: an echo
    assert not pane.put(b"s", now=10.001)  # close behind, and the first still queued
    pane.run(1.0)
    assert not pane.put(b"x", now=10.002)  # inbox empty, but not quiet
    pane.run(1.0)
    assert pane.put(b"y", now=11.0)  # quiet again
    pane.run(1.0)
    assert not pane.put(b"z" * (ingest.ECHO_MAX + 1), now=12.0)  # too much for an echo


def test_output_is_parsed_in_order_in_slices_within_the_budget(pane: Ingest, parsed: list[bytes]) -> None:
    data = bytes(range(256)) * (SLICE * 5 // 256)
    pane.put(data, now=1.0)
    pane.put(b"tail", now=1.0)
    assert pane.run(0.0) is True  # a budget spent at once: one slice, the rest left
    assert parsed == [data[:SLICE]] and pane.queued == len(data) - SLICE + 4
    assert pane.run(1.0) is False
    assert b"".join(parsed) == data + b"tail" and all(len(p) <= SLICE for p in parsed)
    assert pane.queued == 0 and pane.fed == pane.bytes_in == len(data) + 4


def test_what_was_queued_before_a_connection_is_not_counted_as_its_bytes(pane: Ingest) -> None:
    pane.put(b"old", now=1.0)
    pane.attached()
    pane.put(b"new", now=2.0)
    pane.run(1.0)
    assert pane.fed == 3


def test_a_hidden_pane_too_far_behind_skips_its_backlog_with_a_note(pane: Ingest, parsed: list[bytes]) -> None:
    pane.put(b"y" * 1000, now=1.0)
    assert not pane.too_far_behind
    pane.put(b"y" * ingest.HIDDEN_BACKLOG, now=1.1)
    assert pane.too_far_behind
    pane.skip_backlog()
    assert not pane.too_far_behind and pane.queued < 200
    pane.run(1.0)
    assert b"skipped while hidden" in b"".join(parsed)
    assert pane.fed == 1000 + ingest.HIDDEN_BACKLOG  # the skipped bytes count as read; the note does not


def test_hidden_panes_wait_while_keys_are_typed_but_not_forever(pane: Ingest) -> None:
    assert pane.hidden_may_parse(now=100.0)
    Ingest.typed(100.5)
    assert not pane.hidden_may_parse(now=100.6)  # a key just now: wait
    assert pane.hidden_may_parse(now=100.5 + ingest.HIDDEN_WAIT)  # keys stopped
    Ingest.typed(110.0)
    assert pane.hidden_may_parse(now=100.5 + ingest.HIDDEN_WAIT + ingest.HIDDEN_WAIT_MAX)  # keys go on: still a slice


def test_budgets_by_focus_and_visibility() -> None:
    assert Ingest.budget(hidden=False, focused=True) == ingest.INGEST_BUDGET
    assert Ingest.budget(hidden=False, focused=False) == ingest.INGEST_BUDGET / 3
    assert Ingest.budget(hidden=True, focused=True) == ingest.HIDDEN_BUDGET


def test_a_key_waits_for_a_little_queued_output_never_for_a_flood(pane: Ingest) -> None:
    assert not pane.drain_before_key()
    pane.put(b"\x1b[6n", now=1.0)  # a prompt's cursor-position query, not yet parsed
    assert pane.drain_before_key()
    pane.put(b"x" * ingest.KEY_DRAIN, now=1.0)
    assert not pane.drain_before_key()


def test_an_echo_is_painted_at_once_and_a_stream_once_a_frame(pane: Ingest) -> None:
    pane.put(b"e", now=5.0)
    assert pane.paint_plan(5.0, focused=True) == (True, True, FRAME)  # lone echo: now, on the terminal
    pane.painted(5.0)
    pane.put(b"x" * 4096, now=5.001)
    now, echo, wait = pane.paint_plan(5.002, focused=True)
    assert (now, echo) == (False, False) and wait == pytest.approx(FRAME)  # a stream: by the next frame
    assert pane.paint_plan(5.0 + FRAME, focused=True) == (True, False, FRAME)  # a frame on: now, not as an echo
    pane.painted(5.0 + FRAME)
    now, echo, wait = pane.paint_plan(5.0 + FRAME + 0.01, focused=False)
    assert (now, echo) == (False, False) and wait == pytest.approx(FRAME * 4)  # unfocused: a quarter the rate
