"""Packing several log lines into one logs.raw message, and reading them back."""

from aiops_core import bus
from aiops_core.bus import LOGS_RAW, decode_message, encode, pack_lines
from aiops_core.models import LogEntry, new_tracking_id, utc_now


def entry(message: str) -> LogEntry:
    now = utc_now()
    return LogEntry(tracking_id=new_tracking_id(), ship_id="ms-aurora", device_id="fw-01", message=message,
                    timestamp=now, ingestion_timestamp=now)


def test_lines_are_packed_in_order_within_the_byte_bound():
    entries = [entry("x" * 20_000) for _ in range(30)]
    packed = pack_lines(LOGS_RAW, entries, lambda e: e.tracking_id)
    assert all(len(p.payload()) <= bus.BYTES_PER_MESSAGE for p in packed) and len(packed) > 1
    assert sum(p.count for p in packed) == 30
    decoded = [m.tracking_id for p in packed for _, m in decode_message(LOGS_RAW, p.payload())[0]]
    assert decoded == [e.tracking_id for e in entries]


def test_a_line_bigger_than_the_bound_travels_alone():
    big, small = entry("y" * 60_000), entry("small")
    saved = bus.BYTES_PER_MESSAGE
    bus.BYTES_PER_MESSAGE = 10_000
    try:
        packed = pack_lines(LOGS_RAW, [small, big, small], lambda e: e.tracking_id)
    finally:
        bus.BYTES_PER_MESSAGE = saved
    assert [p.count for p in packed] == [1, 1, 1]


def test_the_message_id_follows_the_lines_it_packs():
    entries = [entry(f"line {i}") for i in range(5)]
    first = pack_lines(LOGS_RAW, entries, lambda e: e.tracking_id)
    again = pack_lines(LOGS_RAW, list(entries), lambda e: e.tracking_id)
    other = pack_lines(LOGS_RAW, entries[:4], lambda e: e.tracking_id)
    assert first[0].msg_id == again[0].msg_id != other[0].msg_id


def test_decoding_keeps_good_lines_and_names_bad_ones():
    good = entry("fine")
    data = b"\n".join([encode(good), b"{not json", b"", b'{"tracking_id": "x"}'])
    messages, problems = decode_message(LOGS_RAW, data)
    assert [(n, m.tracking_id) for n, m in messages] == [(0, good.tracking_id)]
    assert [n for n, _, _ in problems] == [1, 3]
    assert "tracking_id" in problems[1][2]
    assert decode_message(LOGS_RAW, b"")[1][0][2] == "empty message"


def test_a_message_is_kept_decoded_only_until_every_consumer_in_the_process_took_it(monkeypatch):
    """One decoding serves every consumer of a subject in the process and is then dropped; a
    subject only one consumer in the process decodes is not kept."""
    from types import SimpleNamespace

    monkeypatch.setattr(bus, "_consumers_of", bus.Counter())
    monkeypatch.setattr(bus, "_decoded_messages", bus.OrderedDict())
    monkeypatch.setattr(bus, "_decoded_bytes", 0)
    raw = SimpleNamespace(subject=LOGS_RAW, data=encode(entry("kept?")))

    bus._consumers_of.update([LOGS_RAW])
    first, second = bus._decoded(raw), bus._decoded(raw)
    assert first[0][0][1] is not second[0][0][1] and not bus._decoded_messages

    bus._consumers_of.update([LOGS_RAW, LOGS_RAW])  # three consumers
    taken = [bus._decoded(raw) for _ in range(3)]
    assert all(t[0][0][1] is taken[0][0][0][1] for t in taken)
    assert not bus._decoded_messages and bus._decoded_bytes == 0
    assert bus._decoded(raw)[0][0][1] is not taken[0][0][0][1]  # a redelivery decodes again


def test_the_decoded_messages_kept_are_bounded_by_their_bytes(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(bus, "_consumers_of", bus.Counter([LOGS_RAW, LOGS_RAW]))
    monkeypatch.setattr(bus, "_decoded_messages", bus.OrderedDict())
    monkeypatch.setattr(bus, "_decoded_bytes", 0)
    monkeypatch.setattr(bus, "_DECODED_CAPACITY_BYTES", 10_000)
    raws = [SimpleNamespace(subject=LOGS_RAW, data=encode(entry("x" * 3000))) for _ in range(10)]
    for raw in raws:
        bus._decoded(raw)  # each taken by one of its two consumers only
    assert bus._decoded_bytes <= 10_000 and len(bus._decoded_messages) == 10_000 // len(raws[0].data)
    assert (LOGS_RAW, raws[-1].data) in bus._decoded_messages  # the oldest went first
