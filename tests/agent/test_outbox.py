"""The durable outbox: order, gap-free seqs across restarts, size policy, disk full, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgesight.agent.outbox import Outbox, OutboxFullError
from edgesight.core.errors import ConfigError, StorageError
from edgesight.core.wire import MAX_PAYLOAD, Kind, open_envelope


def test_put_pending_ack_in_order(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        seqs = [box.put(Kind.EVENTS, f"[{i}]".encode()) for i in range(5)]
        assert seqs == [1, 2, 3, 4, 5]
        assert [i.seq for i in box.pending(3)] == [1, 2, 3]
        assert [i.seq for i in box.pending(10, after_seq=3)] == [4, 5]
        assert box.ack_through(2) == 2
        assert [i.payload for i in box.pending(10)] == [b"[2]", b"[3]", b"[4]"]
        assert box.ack_through(2) == 0  # repeated ack is harmless
        assert box.stored_bytes() == 9 and box.acked_through() == 2


def test_seq_survives_restart_even_when_empty(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        box.put(Kind.HEARTBEAT, b"{}")
        box.put(Kind.HEARTBEAT, b"{}")
        box.ack_through(2)
        assert box.count() == 0
    with Outbox(path) as box:
        assert box.last_seq() == 2
        assert box.put(Kind.EVENTS, b"[]") == 3


def test_envelope_is_deterministic(tmp_path: Path) -> None:
    secret = b"s" * 32
    with Outbox(tmp_path / "o.sqlite") as box:
        box.put(Kind.EVENTS, b"[]", created_at=1.7e9)
        item = box.pending(1)[0]
    raw = item.envelope("cam-1").seal(secret)
    assert raw == item.envelope("cam-1").seal(secret)
    env = open_envelope(raw, lambda _d: secret)
    assert (env.seq, env.kind, env.sent_at) == (1, Kind.EVENTS, 1.7e9)


def test_full_outbox_refuses_and_counts(tmp_path: Path) -> None:
    big = b"x" * (MAX_PAYLOAD // 2)
    with Outbox(tmp_path / "o.sqlite", max_bytes=MAX_PAYLOAD * 2, frames_share=0.5) as box:
        box.put(Kind.FRAMES, big)
        with pytest.raises(OutboxFullError, match="full"):
            box.put(Kind.FRAMES, big + b"y")  # frames may only use half
        for _ in range(3):
            box.put(Kind.EVENTS, big)  # events may use all of max_bytes
        with pytest.raises(OutboxFullError, match=str(tmp_path)):
            box.put(Kind.EVENTS, big)
        assert box.stats.refused_full == 2 and box.stats.refused_frames == 1
        assert box.last_seq() == 4  # refused puts use no seq
        box.ack_through(4)
        assert box.put(Kind.FRAMES, big) == 5


def test_disk_full_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        db = box._conn()
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages + 2}")  # simulates a disk with 2 pages left
        with pytest.raises(StorageError, match=str(path)) as info:
            for _ in range(50):
                box.put(Kind.EVENTS, b"x" * 4000)
        assert "full" in str(info.value)
        last = box.last_seq()
        assert [i.seq for i in box.pending(100)] == list(range(1, last + 1))


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="max_bytes"):
        Outbox("x.sqlite", max_bytes=10)
    with pytest.raises(StorageError, match="not open"):
        Outbox("x.sqlite").put(Kind.EVENTS, b"[]")


_WRITER = """
import sys
from edgesight.agent.outbox import Outbox
from edgesight.core.wire import Kind
with Outbox(sys.argv[1]) as box:
    while True:
        seq = box.put(Kind.EVENTS, b"x" * 200)
        sys.stdout.write(f"{seq}\\n")
        sys.stdout.flush()
"""


def test_sigkill_mid_writes_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:  # a previous life: some messages, some acknowledged
        for _ in range(10):
            box.put(Kind.EVENTS, b"old")
        box.ack_through(4)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert proc.stdout is not None
    returned: list[int] = []
    deadline = time.monotonic() + 30
    while len(returned) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        returned.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    returned += [int(line) for line in proc.stdout.read().split()]  # printed before the kill
    assert len(returned) >= 300, "the writer did not get going"
    with Outbox(path) as box:
        seqs = [i.seq for i in box.pending(100_000)]
        assert seqs == list(range(5, seqs[-1] + 1)), "seqs must be continuous"
        assert set(returned) <= set(seqs), "every put that returned must survive"
        assert returned == list(range(11, returned[-1] + 1))
        assert box.put(Kind.EVENTS, b"after") == seqs[-1] + 1
