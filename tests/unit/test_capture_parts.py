"""The capture's parts that need no guest: pcap records, the rolling files, segment names, lab fields."""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import read_pcap

from umltui.core.capture import PCAP_HEADER, CaptureError, Rolling, find_segment, pcap_record
from umltui.core.lab import CAPTURE_DEFAULT, LabErrors, parse_lab


def test_pcap_records_read_back() -> None:
    frames = [(1000.25, b"\x01" * 60), (1001.5, b"\x02" * 1514)]
    data = PCAP_HEADER + b"".join(pcap_record(ts, f) for ts, f in frames)
    assert list(read_pcap(data)) == frames
    assert list(read_pcap(data[:-1])) == frames[:1]  # a cut record is not returned


def test_rolling_capture_keeps_the_newest_half_and_a_half(tmp_path: Path) -> None:
    path = tmp_path / "sw.pcap"
    rolling = Rolling(path, 128 * 1024)  # two files of 64 KiB
    for i in range(300):  # 300 frames of about 1 KiB: the oldest are dropped
        rolling.add(pcap_record(float(i), i.to_bytes(2, "big") * 500))
    rolling.close()
    kept = [int.from_bytes(f[:2], "big") for _, f in read_pcap(Rolling.saved(path))]
    assert kept == list(range(kept[0], 300)) and 60 <= len(kept) <= 130


NET = {
    "switches": [
        {"lab": "a", "name": "sw0", "hub": False, "ctl": "/x", "alive": True},
        {"lab": "b", "name": "sw0", "hub": True, "ctl": "/y", "alive": True},
    ],
    "taps": [{"lab": "a", "name": "tap0", "netns": "ns", "ip": None, "ports": []}],
}


def test_segments_by_lab_and_name() -> None:
    assert find_segment(NET, "b/sw0")["kind"] == "hub"
    assert find_segment(NET, "tap0")["kind"] == "tap"
    with pytest.raises(CaptureError, match="several labs"):
        find_segment(NET, "sw0")
    with pytest.raises(CaptureError, match=r"segments: a/sw0, b/sw0, a/tap0"):
        find_segment(NET, "a/nope")


def test_lab_capture_and_learning_fields(tmp_path: Path) -> None:
    text = "name: l\nswitches:\n  s1: {capture: true}\n  s2: {capture: 16M, learning: true}\n  s3: {}\n"
    lab = parse_lab(text + "guests:\n  g: {}\n", tmp_path / "l.yaml")
    assert (lab.switches["s1"].capture, lab.switches["s2"].capture, lab.switches["s3"].capture) == (
        CAPTURE_DEFAULT,
        16 << 20,
        0,
    )
    assert lab.switches["s2"].learning and not lab.switches["s1"].learning
    bad = "name: l\nswitches:\n  s1: {capture: 2T}\n  s2: {hub: true, learning: true}\nguests:\n  g: {}\n"
    with pytest.raises(LabErrors) as err:
        parse_lab(bad, tmp_path / "l.yaml")
    words = str(err.value)
    assert "l.yaml:3: switches.s1.capture" in words and "64K to 1G" in words
    assert "l.yaml:4: switches.s2.learning" in words and "not both" in words


def test_a_rolling_capture_goes_on_where_an_earlier_one_stopped(tmp_path: Path) -> None:
    path = tmp_path / "sw.pcap"
    first = Rolling(path, 1 << 20)
    first.add(pcap_record(1.0, b"a" * 60))
    first.close()
    again = Rolling(path, 1 << 20)  # a new supervisor
    again.add(pcap_record(2.0, b"b" * 60))
    again.close()
    assert [ts for ts, _ in read_pcap(Rolling.saved(path))] == [1.0, 2.0]


def test_filter_words_are_never_tcpdump_options() -> None:
    from umltui.core.capture import check_filter, decoder_argv

    argv = decoder_argv(["-w", "/tmp/x", "icmp"])
    assert argv[argv.index("--") + 1 :] == ["-w", "/tmp/x", "icmp"]
    with pytest.raises(CaptureError, match="bad filter"):
        check_filter(["-w", "/tmp/x"])


def test_a_pcap_file_that_cannot_be_made_and_a_count_below_one_are_refused(tmp_path: Path) -> None:
    from umltui.capturecli import check_output
    from umltui.cli import make_parser

    for write, words in (("/nonexistent/x.pcap", "there is no folder /nonexistent"), (str(tmp_path), "a folder")):
        with pytest.raises(CaptureError, match=words):
            check_output(write)
    check_output(str(tmp_path / "x.pcap"))
    check_output("-")
    for count in ("-5", "0", "many"):
        with pytest.raises(SystemExit) as info:
            make_parser().parse_args(["capture", "demo/lan0", "-c", count])
        assert info.value.code == 2
    assert make_parser().parse_args(["capture", "demo/lan0", "-c", "3"]).count == 3


def _hub_with_frames(folder: Path, frames: int) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """A real VDE hub, and a port on it ready to send ``frames`` broadcast frames when its stdin is written."""
    hub = subprocess.Popen(["vde_plug", "null://", f"hub://{folder}"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not (folder / "ctl").exists():
        assert time.monotonic() < deadline and hub.poll() is None, "the hub did not start"
        time.sleep(0.02)
    sender = subprocess.Popen(["vde_plug", f"vde://{folder}"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    return hub, sender


@pytest.mark.skipif(not (shutil.which("vde_plug") and shutil.which("tcpdump")), reason="needs vde_plug and tcpdump")
def test_capture_with_a_count_says_how_many_it_printed(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # Issue 40, 8: "capture LAB/SEG -c 5" printed 5 frames, then "7 frames captured".
    from umltui.capturecli import capture_switch

    hub, sender = _hub_with_frames(tmp_path / "hub", 12)
    frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x09" + b"\x88\xb5" + b"\x00" * 46  # broadcast, a local ethertype
    segment = {"lab": "t", "name": "hub0", "kind": "hub", "ctl": str(tmp_path / "hub")}

    def send() -> None:
        time.sleep(0.5)  # the capture's port is on the hub
        assert sender.stdin is not None
        sender.stdin.write((struct.pack(">H", len(frame)) + frame) * 12)  # one burst: read together
        sender.stdin.flush()

    thread = threading.Thread(target=send)
    try:
        thread.start()
        args = argparse.Namespace(filter=[], count=5, write=None)
        assert capture_switch(args, segment) == 0
    finally:
        thread.join(timeout=10)
        for proc in (sender, hub):
            proc.terminate()
            proc.wait(timeout=10)
    out, err = capfd.readouterr()
    assert sum(not line.startswith("\t") for line in out.splitlines()) == 5, out
    assert "umltui: 5 frames captured on t/hub0 (-c 5)" in err, err


def test_a_record_left_half_written_by_a_killed_supervisor_is_cut_off(tmp_path: Path) -> None:
    from umltui.core.capture import whole_length

    path = tmp_path / "sw.pcap"
    first = Rolling(path, 1 << 20)
    first.add(pcap_record(1.0, b"a" * 60))
    first.close()
    with open(path, "ab") as f:  # the supervisor was SIGKILLed in the middle of a write
        f.write(pcap_record(2.0, b"b" * 600)[:300])
    again = Rolling(path, 1 << 20)
    again.add(pcap_record(3.0, b"c" * 60))
    again.close()
    data = path.read_bytes()
    assert whole_length(data) == len(data)
    assert [ts for ts, _ in read_pcap(Rolling.saved(path))] == [1.0, 3.0]


def test_a_full_disk_costs_frames_never_the_capture_nor_its_file(tmp_path: Path, tmpfs: object) -> None:
    import errno
    import subprocess

    import pytest

    from umltui.core.capture import whole_length

    disk = tmpfs(tmp_path / "small", "1m")  # type: ignore[operator]
    path = disk / "captures" / "sw.pcap"
    rolling = Rolling(path, 4 << 20)  # halves of 2 MB: larger than the disk
    rolling.add(pcap_record(1.0, b"a" * 1000))
    filler = disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k", "count=64"], capture_output=True)
    with pytest.raises(OSError) as err:
        for i in range(100):  # what the last page still takes, then the disk is full
            rolling.add(pcap_record(2.0 + i, b"b" * 1500))
    assert err.value.errno == errno.ENOSPC
    data = path.read_bytes()
    assert whole_length(data) == len(data)  # no half record, though the disk cut a write short
    filler.unlink()
    rolling.add(pcap_record(500.0, b"c" * 1000))  # room again: it goes on
    rolling.close()
    stamps = [ts for ts, _ in read_pcap(Rolling.saved(path))]
    assert stamps[0] == 1.0 and stamps[-1] == 500.0 and stamps == sorted(stamps)
