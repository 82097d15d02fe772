"""The incidents the API serves from memory until their rows are written: the newest change of
each is held, a write lets go of the versions it covers, and the list's pages merge held and
stored incidents exactly as one sorted list would page (checked against that list)."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from aiops_core.models import Incident, IncidentStatus
from services.incident_api.recent import IncidentFilter, RecentIncidents, merge_page, store_order, stored_window

BASE = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def incident(*, last_seen_s: float = 0.0, incident_id: str | None = None, updated_s: float = 0.0,
             status: str = "open", severity: str = "high", ship_id: str = "ms-aurora") -> Incident:
    last_seen = BASE + timedelta(seconds=last_seen_s)
    return Incident(
        incident_id=incident_id or str(uuid.uuid4()), ship_id=ship_id, fingerprint=f"fp-{uuid.uuid4().hex}",
        incident_type="link_degradation", severity=severity, status=status, title="VSAT SNR low",
        root_cause_device="vsat-01", anomaly_count=1, first_seen=BASE - timedelta(hours=1), last_seen=last_seen,
        created_at=BASE - timedelta(hours=1), updated_at=BASE + timedelta(seconds=updated_s), version=1,
    )


def test_the_newest_change_of_an_incident_is_held_whatever_order_changes_come_in():
    recent = RecentIncidents()
    first = incident(updated_s=1)
    newer = first.model_copy(update={"updated_at": BASE + timedelta(seconds=2), "anomaly_count": 2})
    recent.put(newer)
    recent.put(first)  # a redelivered older change
    assert recent.get(first.incident_id).anomaly_count == 2
    assert len(recent) == 1


def test_a_write_lets_go_of_the_changes_it_covers_and_keeps_newer_ones():
    recent = RecentIncidents()
    held = incident(updated_s=5)
    recent.put(held)
    older = held.model_copy(update={"updated_at": held.updated_at - timedelta(microseconds=1)})
    recent.written([older])  # an older row came back
    assert recent.get(held.incident_id) is held
    recent.written([held])
    assert recent.get(held.incident_id) is None
    recent.written([incident()])  # nothing held: nothing to do


def test_the_filter_matches_as_the_sql_does_and_counts_group_as_the_stats_query():
    recent = RecentIncidents()
    hit = incident(last_seen_s=10, severity="critical")
    recent.put(hit)
    recent.put(incident(last_seen_s=-600, severity="critical"))
    recent.put(incident(last_seen_s=10, severity="low", status="acknowledged"))
    recent.put(incident(last_seen_s=10, severity="critical", ship_id="ms-borealis"))
    where = IncidentFilter(ship_id="ms-aurora", severity="critical", since=BASE)
    assert [i.incident_id for i in recent.matching(where)] == [hit.incident_id]
    assert IncidentFilter(until=BASE - timedelta(hours=2)).matches(hit) is False
    # The column holds milliseconds: .123999 is stored as .123, which is before .1235.
    boundary = incident(last_seen_s=0.123999)
    assert IncidentFilter(since=BASE + timedelta(microseconds=123500)).matches(boundary) is False
    assert IncidentFilter(since=BASE + timedelta(microseconds=123000)).matches(boundary) is True
    counts = {(r["ship_id"], r["severity"], r["status"]): r["n"] for r in recent.counts(BASE)}
    assert counts == {("ms-aurora", "critical", "open"): 1, ("ms-aurora", "low", "acknowledged"): 1,
                      ("ms-borealis", "critical", "open"): 1}


def test_the_order_is_last_seen_descending_then_the_uuid_as_the_engine_compares_it():
    a = incident(last_seen_s=5, incident_id="00000000-0000-0000-ffff-000000000000")
    b = incident(last_seen_s=5, incident_id="ffffffff-0000-0000-0000-000000000000")
    later = incident(last_seen_s=6)
    # Equal last_seen: the low 64 bits decide first, so b (low half zero) comes before a.
    assert sorted([a, b, later], key=store_order) == [later, b, a]


def page_through_merge(everything: list[Incident], held_ids: set[str], offset: int, limit: int) -> list[Incident]:
    """What the API does: the store's window (held ids left out) merged with the held ones."""
    ordered = sorted(everything, key=store_order)
    stored = [i for i in ordered if i.incident_id not in held_ids]
    held = [i for i in ordered if i.incident_id in held_ids]
    window = stored_window(offset, limit, len(held))
    stored_page = stored[window[0]:window[0] + window[1]]
    return merge_page(held, stored_page, window=window, offset=offset, limit=limit)


@pytest.mark.parametrize("seed", range(40))
def test_every_page_of_the_merge_is_the_page_of_one_sorted_list(seed):
    rng = random.Random(seed)
    count = rng.randint(0, 60)
    # Few distinct last_seen values, so ties (decided by the UUID) are common.
    everything = [incident(last_seen_s=rng.randint(0, 12)) for _ in range(count)]
    held_ids = {i.incident_id for i in everything if rng.random() < rng.choice((0.0, 0.1, 0.5, 1.0))}
    expected = sorted(everything, key=store_order)
    for limit in (1, 3, 7, 50):
        for offset in range(0, count + 3):
            got = page_through_merge(everything, held_ids, offset, limit)
            assert [i.incident_id for i in got] == [i.incident_id for i in expected[offset:offset + limit]], (
                seed, offset, limit)


def test_a_held_change_replaces_its_stored_row_in_the_page():
    stored_version = incident(last_seen_s=1, status="open")
    newer = stored_version.model_copy(update={"status": IncidentStatus.ACKNOWLEDGED, "last_seen": BASE + timedelta(seconds=9)})
    other = incident(last_seen_s=5)
    # The store was asked with the held id left out, so its page has only `other`.
    page = merge_page([newer], [other], window=stored_window(0, 10, 1), offset=0, limit=10)
    assert [(i.incident_id, i.status) for i in page] == [(newer.incident_id, "acknowledged"), (other.incident_id, "open")]
