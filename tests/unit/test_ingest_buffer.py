"""Ingest's disk buffer: bounded journal, replayed in order, survives a restart."""

from datetime import datetime, timezone

import pytest

from aiops_core.models import LogEntry, new_tracking_id
from services.ingest.buffer import DiskBuffer


def entries(n: int, start: int = 0) -> list[LogEntry]:
    now = datetime.now(timezone.utc)
    return [
        LogEntry(tracking_id=new_tracking_id(), ship_id="ms-aurora", device_id="fw-01", service="fortigate",
                 level="info", message=f"line {start + i}", timestamp=now, ingestion_timestamp=now, source="syslog")
        for i in range(n)
    ]


class Collector:
    def __init__(self, fail_after: int | None = None) -> None:
        self.got: list[LogEntry] = []
        self.fail_after = fail_after

    async def __call__(self, batch) -> None:
        if self.fail_after is not None and len(self.got) + len(batch) > self.fail_after:
            raise ConnectionError("nats down")
        self.got.extend(batch)


async def test_replay_publishes_in_arrival_order_across_segments_and_empties(tmp_path):
    """Lines appended over several segments come back oldest first, and the journal is then empty."""
    buffer = DiskBuffer(tmp_path, max_bytes=10**7, segment_bytes=2000)
    sent = entries(30) + entries(30, start=30)
    buffer.append(sent[:30])
    buffer.append(sent[30:])
    assert len(list(tmp_path.glob("*.ndjson"))) > 2
    assert buffer.lines == 60
    publish = Collector()
    assert await buffer.replay(publish) == 60
    assert [e.tracking_id for e in publish.got] == [e.tracking_id for e in sent]
    assert buffer.empty and buffer.lines == 0 and not list(tmp_path.glob("*.ndjson"))


async def test_what_exceeds_max_bytes_is_dropped_and_counted(tmp_path):
    """The journal never grows past max_bytes; the overflow is returned and counted as dropped."""
    one = len(entries(1)[0].model_dump_json()) + 1
    buffer = DiskBuffer(tmp_path, max_bytes=one * 10 + one // 2)
    assert buffer.append(entries(25)) == 15
    assert buffer.dropped == 15 and buffer.lines == 10
    assert buffer.bytes <= buffer.max_bytes
    assert sum(p.stat().st_size for p in tmp_path.glob("*.ndjson")) <= buffer.max_bytes


async def test_a_failed_replay_keeps_the_unpublished_segment(tmp_path):
    """A publish error stops the replay and raises; the segment that failed stays for the next try."""
    buffer = DiskBuffer(tmp_path, max_bytes=10**7, segment_bytes=1500)
    sent = entries(40)
    buffer.append(sent)
    failing = Collector(fail_after=12)
    with pytest.raises(ConnectionError):
        await buffer.replay(failing)
    assert not buffer.empty
    rest = Collector()
    await buffer.replay(rest)
    # Nothing is missing; a segment cut short may be sent again (JetStream dedups by tracking_id).
    assert {e.tracking_id for e in failing.got + rest.got} == {e.tracking_id for e in sent}
    assert [e.tracking_id for e in rest.got][-1] == sent[-1].tracking_id


async def test_a_reopened_journal_replays_what_a_crash_left_and_skips_a_torn_line(tmp_path):
    """A new DiskBuffer on the same directory finds the lines, skips a half-written last line and counts it."""
    first = DiskBuffer(tmp_path, max_bytes=10**7)
    sent = entries(5)
    first.append(sent)
    segment = sorted(tmp_path.glob("*.ndjson"))[-1]
    with open(segment, "ab") as handle:
        handle.write(b'{"tracking_id": "cut sho')
    reopened = DiskBuffer(tmp_path, max_bytes=10**7)
    assert reopened.lines == 6
    reopened.append(entries(2, start=5))
    publish = Collector()
    assert await reopened.replay(publish) == 7
    assert [e.message for e in publish.got] == [f"line {i}" for i in range(7)]
    assert reopened.dropped == 1 and reopened.empty and reopened.lines == 0
