"""The enrichment role's in-memory context cache: windowed anomaly counts and each device's last
incident, so that enriching an anomaly never waits for the store.

The hot path increments sliding-window counters as anomalies pass. A background task warms and
reconciles them from grouped store queries: per bucket the larger of the local and the stored
count wins. The local count covers anomalies the store has not received yet (the incident-api
writes them after correlation); the stored count covers what this process did not see (a previous
run, another replica). Once the store has caught up the two agree on every bucket.

Every count includes the anomaly being enriched. The cache knows how fresh its store view is:
`level(now)` is "full" only while the last reconcile succeeded and is younger than the staleness
bound; otherwise the role publishes "basic" enrichment without counts.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, Literal

from aiops_core.models import AnomalyDetected

HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY

# About a hundred buckets per window: a key stays small and an event leaves its window at most
# 1-2 % of the window early. The correlation windows use the one-hour bucket width.
BUCKET_SECONDS: dict[int, int] = {HOUR: 60, DAY: 900, WEEK: 3600}
TYPE_WINDOW_BUCKET_SECONDS = BUCKET_SECONDS[HOUR]

Level = Literal["full", "basic"]
# What an anomaly is counted by, in this order: (ship_id, device_id, incident_type, signature).
Dims = tuple[str, str, str, str]
DIM_COLUMNS = ("ship_id", "device_id", "incident_type", "signature")
# Each key shape as positions in Dims; the store queries return the same columns in the same order.
KeyShape = Literal["device", "signature", "type_device", "type_device_signature", "type"]
KEY_POSITIONS: dict[KeyShape, tuple[int, ...]] = {
    "device": (0, 1),
    "signature": (0, 3),
    "type_device": (0, 2, 1),
    "type_device_signature": (0, 2, 1, 3),
    "type": (0, 2),
}
KEY_COLUMNS: dict[KeyShape, tuple[str, ...]] = {
    shape: tuple(DIM_COLUMNS[i] for i in positions) for shape, positions in KEY_POSITIONS.items()
}


def signature_of(anomaly: AnomalyDetected) -> str:
    """What "the same template" means: the template id of a log anomaly, the metric name of a
    metric anomaly (per ship, like a template), "" when the detector gave neither."""
    if anomaly.template_id:
        return "t:" + anomaly.template_id
    if anomaly.metric:
        return "m:" + anomaly.metric
    return ""


def dims_of(anomaly: AnomalyDetected) -> Dims:
    # Enum members hash by name, not value: keys use the plain string so store rows match.
    return (anomaly.ship_id, anomaly.device_id, anomaly.incident_type.value, signature_of(anomaly))


_KEY_GETTERS = {shape: itemgetter(*positions) for shape, positions in KEY_POSITIONS.items()}
_NEEDS_SIGNATURE = {shape: 3 in positions for shape, positions in KEY_POSITIONS.items()}


def key_of(shape: KeyShape, dims: Dims) -> tuple[str, ...] | None:
    """The counter key of an anomaly; None for a signature shape when it has no signature."""
    if not dims[3] and _NEEDS_SIGNATURE[shape]:
        return None
    return _KEY_GETTERS[shape](dims)


class _Buckets:
    __slots__ = ("starts", "counts", "total")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.counts: dict[int, int] = {}
        self.total = 0


class SlidingCounter:
    """Events per key over the last `window_seconds`, kept in buckets of `bucket_seconds`.
    Times are epoch seconds.

    An event is dated to the start of its bucket, so it leaves the window at most one bucket
    early and never late: a bucket-aligned event counts for exactly `window_seconds`."""

    def __init__(self, window_seconds: int, bucket_seconds: int) -> None:
        if window_seconds <= 0 or bucket_seconds <= 0:
            raise ValueError("window and bucket must be positive")
        self.window_seconds = window_seconds
        self.bucket_seconds = bucket_seconds
        self._keys: dict[Hashable, _Buckets] = {}

    def bucket_of(self, at: float) -> int:
        seconds = int(at)
        return seconds - seconds % self.bucket_seconds

    def add(self, key: Hashable, at: float, now: float) -> None:
        self._put(key, self.bucket_of(at), 1, now - self.window_seconds, keep_larger=False)

    def merge(self, key: Hashable, bucket: int, count: int, now: float) -> None:
        """Takes the store's count for one bucket where it is larger than the local one."""
        self._put(key, bucket, count, now - self.window_seconds, keep_larger=True)

    def _put(self, key: Hashable, bucket: int, count: int, cutoff: float, *, keep_larger: bool) -> None:
        if bucket <= cutoff or count <= 0:
            return
        buckets = self._keys.get(key)
        if buckets is None:
            buckets = self._keys[key] = _Buckets()
        current = buckets.counts.get(bucket)
        if current is None:
            # Buckets mostly arrive in time order; a late anomaly or a store row may be older.
            if not buckets.starts or bucket > buckets.starts[-1]:
                buckets.starts.append(bucket)
            else:
                insort(buckets.starts, bucket)
            current = 0
        updated = max(current, count) if keep_larger else current + count
        buckets.counts[bucket] = updated
        buckets.total += updated - current

    def count(self, key: Hashable, now: float) -> int:
        buckets = self._keys.get(key)
        if buckets is None:
            return 0
        self._evict(key, buckets, now - self.window_seconds)
        return buckets.total

    def _evict(self, key: Hashable, buckets: _Buckets, cutoff: float) -> None:
        starts = buckets.starts
        if not starts or starts[0] > cutoff:
            return
        expired = bisect_right(starts, cutoff)
        for bucket in starts[:expired]:
            buckets.total -= buckets.counts.pop(bucket)
        del starts[:expired]
        if not starts:
            del self._keys[key]

    def sweep(self, now: float) -> None:
        """Drops expired buckets of every key, so keys that went quiet do not hold memory."""
        cutoff = now - self.window_seconds
        for key, buckets in list(self._keys.items()):
            self._evict(key, buckets, cutoff)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True)
class Counted:
    """One counter and the key shape it counts by."""

    shape: KeyShape
    counter: SlidingCounter


@dataclass(frozen=True)
class StoreRead:
    """One grouped store query that reconciles `counters`: rows of `shape` in buckets of
    `bucket_seconds`, reaching back `window_seconds` (the longest window among them)."""

    shape: KeyShape
    bucket_seconds: int
    window_seconds: int
    counters: tuple[SlidingCounter, ...]


@dataclass(frozen=True)
class HistoryCounts:
    same_template_1h: int
    same_template_24h: int
    same_device_1h: int
    same_device_24h: int
    similar_anomalies_7d: int
    # Anomalies of the same ship and incident type inside that type's correlation window: the
    # anomalies correlation would group into one incident with this one.
    same_type_in_window: int
    last_incident_id: str | None
    last_incident_at: datetime | None


@dataclass(frozen=True)
class LastIncident:
    incident_id: str
    at: datetime


class ContextCache:
    """Windowed counts, last incidents and the freshness of the store view, for one process.

    `type_windows` is the correlation window in seconds of every incident type (policy
    `correlate.windows`); `stale_after_seconds` is how old the last successful reconcile may be
    before enrichment falls back to "basic"; `seen_ttl_seconds` is how long an anomaly_id is
    remembered so that a redelivery is not counted twice."""

    def __init__(
        self,
        *,
        type_windows: Mapping[str, int],
        stale_after_seconds: float,
        seen_ttl_seconds: float,
    ) -> None:
        if stale_after_seconds <= 0:
            raise ValueError("stale_after_seconds must be positive")
        self.stale_after_seconds = stale_after_seconds
        self.seen_ttl_seconds = seen_ttl_seconds
        self.template_1h = SlidingCounter(HOUR, BUCKET_SECONDS[HOUR])
        self.template_24h = SlidingCounter(DAY, BUCKET_SECONDS[DAY])
        self.device_1h = SlidingCounter(HOUR, BUCKET_SECONDS[HOUR])
        self.device_24h = SlidingCounter(DAY, BUCKET_SECONDS[DAY])
        self.type_device_7d = SlidingCounter(WEEK, BUCKET_SECONDS[WEEK])
        self.template_7d = SlidingCounter(WEEK, BUCKET_SECONDS[WEEK])
        self.type_device_template_7d = SlidingCounter(WEEK, BUCKET_SECONDS[WEEK])
        by_window = {s: SlidingCounter(s, TYPE_WINDOW_BUCKET_SECONDS) for s in set(type_windows.values())}
        # Types that share a window length share a counter; the key keeps the type apart.
        self._type_window = {incident_type: by_window[s] for incident_type, s in type_windows.items()}
        self._counted: tuple[Counted, ...] = (
            Counted("signature", self.template_1h),
            Counted("signature", self.template_24h),
            Counted("device", self.device_1h),
            Counted("device", self.device_24h),
            Counted("type_device", self.type_device_7d),
            Counted("signature", self.template_7d),
            Counted("type_device_signature", self.type_device_template_7d),
        )
        self._type_counted = tuple(Counted("type", counter) for counter in by_window.values())
        self._seen: set[str] = set()
        self._seen_order: deque[tuple[float, str]] = deque()
        self.last_incidents: dict[tuple[str, str], LastIncident] = {}
        self.last_success: datetime | None = None
        self.last_attempt_failed = False

    # --- the hot path ---------------------------------------------------------------------------

    def observe(self, anomaly: AnomalyDetected, now: datetime) -> bool:
        """Counts an anomaly once; a redelivery (same anomaly_id) returns False and counts nothing."""
        now_ts = now.timestamp()
        self._forget_seen(now_ts)
        if anomaly.anomaly_id in self._seen:
            return False
        self._seen.add(anomaly.anomaly_id)
        self._seen_order.append((now_ts + self.seen_ttl_seconds, anomaly.anomaly_id))
        dims = dims_of(anomaly)
        at_ts = anomaly.detected_at.timestamp()
        for counted in self._counted:
            key = key_of(counted.shape, dims)
            if key is not None:
                counted.counter.add(key, at_ts, now_ts)
        self._type_window[dims[2]].add(key_of("type", dims), at_ts, now_ts)
        return True

    def _forget_seen(self, now_ts: float) -> None:
        order = self._seen_order
        while order and order[0][0] <= now_ts:
            self._seen.discard(order.popleft()[1])

    def counts(self, anomaly: AnomalyDetected, now: datetime) -> HistoryCounts:
        now_ts = now.timestamp()
        dims = dims_of(anomaly)
        ship, device, incident_type, signature = dims
        by_device = (ship, device)
        by_type_device = self.type_device_7d.count(key_of("type_device", dims), now_ts)
        if signature:
            by_signature = (ship, signature)
            template_1h = self.template_1h.count(by_signature, now_ts)
            template_24h = self.template_24h.count(by_signature, now_ts)
            # Similar = same type and device, or same template: counted once if both.
            similar = (
                by_type_device
                + self.template_7d.count(by_signature, now_ts)
                - self.type_device_template_7d.count(key_of("type_device_signature", dims), now_ts)
            )
        else:
            template_1h = template_24h = 0
            similar = by_type_device
        last = self.last_incidents.get(by_device)
        return HistoryCounts(
            same_template_1h=template_1h,
            same_template_24h=template_24h,
            same_device_1h=self.device_1h.count(by_device, now_ts),
            same_device_24h=self.device_24h.count(by_device, now_ts),
            similar_anomalies_7d=similar,
            same_type_in_window=self._type_window[incident_type].count((ship, incident_type), now_ts),
            last_incident_id=last.incident_id if last else None,
            last_incident_at=last.at if last else None,
        )

    def level(self, now: datetime) -> Level:
        """"full" while the last reconcile succeeded less than `stale_after_seconds` ago."""
        if self.last_attempt_failed or self.last_success is None:
            return "basic"
        age = (now - self.last_success).total_seconds()
        return "full" if age < self.stale_after_seconds else "basic"

    # --- reconciling with the store -------------------------------------------------------------

    def store_reads(self) -> list[StoreRead]:
        """The grouped store queries that reconcile every counter: one per key shape and bucket width."""
        groups: dict[tuple[KeyShape, int], list[SlidingCounter]] = {}
        for counted in (*self._counted, *self._type_counted):
            groups.setdefault((counted.shape, counted.counter.bucket_seconds), []).append(counted.counter)
        return [
            StoreRead(shape, bucket_seconds, max(c.window_seconds for c in counters), tuple(counters))
            for (shape, bucket_seconds), counters in groups.items()
        ]

    def merge(self, read: StoreRead, rows: Iterable[Mapping[str, Any]], now: datetime) -> None:
        """Merges the rows of one store read (key columns, bucket, anomalies) into its counters.
        Rows are independent, so a long result may be merged in slices."""
        columns = KEY_COLUMNS[read.shape]
        now_ts = now.timestamp()
        for row in rows:
            key = tuple(row[c] for c in columns)
            bucket, count = int(row["bucket"]), int(row["anomalies"])
            if read.shape == "type":
                # Only the counter of the row's own type: the other type windows never ask for it.
                counter = self._type_window.get(row["incident_type"])
                if counter is not None:
                    counter.merge(key, bucket, count, now_ts)
                continue
            for counter in read.counters:
                counter.merge(key, bucket, count, now_ts)

    def replace_last_incidents(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """The store is the only source of incidents here: its view replaces the cached one."""
        self.last_incidents = {
            (row["ship_id"], row["device_id"]): LastIncident(row["incident_id"], row["last_incident_at"])
            for row in rows
        }

    def sweep(self, now: datetime) -> None:
        now_ts = now.timestamp()
        for counted in (*self._counted, *self._type_counted):
            counted.counter.sweep(now_ts)
        self._forget_seen(now_ts)

    def mark_reconciled(self, as_of: datetime) -> None:
        self.last_success = as_of
        self.last_attempt_failed = False

    def mark_failed(self) -> None:
        self.last_attempt_failed = True
