"""Unit tests for the enrichment role: context building, windowed counting with an injected
clock, escalation rules, basic mode when the store is down or stale, and idempotency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from aiops_core.bus import Incoming
from aiops_core.devices import LOAD_DEVICES_SQL, Device, DeviceRegistry
from aiops_core.models import AnomalyDetected, IncidentType, Severity
from aiops_core.policy import DEFAULT_POLICIES_DIR, EscalationCondition, EscalationRule, load_policy
from aiops_core.settings import Settings
from aiops_core.store import StoreUnavailable
from services.enrichment.app import EnrichmentConfig, EnrichmentRole
from services.enrichment.handlers import EscalationFacts, correlation_windows, enrich, escalate
from services.enrichment.history import ContextCache, SlidingCounter, signature_of

UTC = timezone.utc
# Aligned to every bucket width (60 s, 900 s, 3600 s), so window edges are exact.
T0 = datetime(2025, 1, 6, 0, 0, 0, tzinfo=UTC)
SHIP = "ms-test"
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)

VSAT = Device(
    ship_id=SHIP, device_id="vsat-modem-01", kind="vsat_modem", vendor="iDirect", model="X7",
    location="Deck 12", criticality="critical", upstream=("acu-01",), services=("vsat-ku-band",),
)
FIREWALL = Device(ship_id=SHIP, device_id="fw-01", kind="firewall", criticality="high")
REGISTRY = DeviceRegistry.of([VSAT, FIREWALL])
WINDOWS = {t.value: 900 for t in IncidentType} | {"auth_failure": 600}


def anomaly(**overrides) -> AnomalyDetected:
    fields = {
        "tracking_id": str(uuid.uuid4()),
        "anomaly_id": str(uuid.uuid4()),
        "ship_id": SHIP,
        "device_id": VSAT.device_id,
        "detector": "log_pattern",
        "incident_type": IncidentType.LINK_DEGRADATION,
        "severity": Severity.MEDIUM,
        "score": 0.8,
        "template_id": "t-snr-low",
        "template": "SNR dropped to <NUM> dB",
        "detected_at": T0,
        "ingestion_timestamp": T0,
        "event_timestamp": T0,
    }
    fields.update(overrides)
    return AnomalyDetected(**fields)


def fresh_cache(reconciled_at: datetime = T0, stale_after_seconds: float = 90.0) -> ContextCache:
    cache = ContextCache(type_windows=WINDOWS, stale_after_seconds=stale_after_seconds, seen_ttl_seconds=600)
    cache.mark_reconciled(reconciled_at)
    return cache


def run(item: AnomalyDetected, cache: ContextCache, now: datetime, rules=(), registry=REGISTRY):
    return enrich(item, registry=registry, cache=cache, rules=rules, now=now)


RULES = load_policy(DEFAULT_POLICIES_DIR).correlate.severity_map


# --- context ----------------------------------------------------------------------------------


def test_full_context_carries_device_counts_and_last_incident() -> None:
    """A full enrichment carries the registry entry, counts that include the anomaly itself and the device's last incident."""
    cache = fresh_cache()
    for minutes in (10, 20):
        cache.observe(anomaly(detected_at=T0 - timedelta(minutes=minutes)), T0)
    incident_at = T0 - timedelta(hours=2)
    cache.replace_last_incidents(
        [{"ship_id": SHIP, "device_id": VSAT.device_id, "incident_id": "inc-1", "last_incident_at": incident_at}]
    )
    item = anomaly()

    out = run(item, cache, T0)

    assert out.enrichment_level == "full"
    assert out.anomaly_id == item.anomaly_id and out.tracking_id == item.tracking_id
    assert out.context.device is not None
    assert out.context.device.kind == "vsat_modem"
    assert out.context.device.criticality == Severity.CRITICAL
    assert out.context.device.upstream == ["acu-01"]
    assert (out.context.same_template_1h, out.context.same_template_24h) == (3, 3)
    assert (out.context.same_device_1h, out.context.same_device_24h) == (3, 3)
    assert out.context.similar_anomalies_7d == 3
    assert out.context.last_incident_id == "inc-1"
    assert out.context.last_incident_at == incident_at


def test_unknown_device_has_no_device_context() -> None:
    """A device missing from the registry gets no device context but still gets its counts."""
    out = run(anomaly(device_id="mystery-box"), fresh_cache(), T0)

    assert out.context.device is None
    assert out.context.same_device_1h == 1
    assert out.enrichment_level == "full"


def test_same_template_counts_across_devices_and_same_device_across_templates() -> None:
    """Template counts follow the template over the ship's devices; device counts follow the device over templates."""
    cache = fresh_cache()
    cache.observe(anomaly(device_id="fw-01"), T0)
    cache.observe(anomaly(template_id="t-other"), T0)

    out = run(anomaly(), cache, T0)

    assert out.context.same_template_1h == 2
    assert out.context.same_device_1h == 2


def test_other_ship_is_not_counted() -> None:
    """Counts are per ship: the same device and template on another ship do not count."""
    cache = fresh_cache()
    cache.observe(anomaly(ship_id="ms-other"), T0)

    out = run(anomaly(), cache, T0)

    assert (out.context.same_template_1h, out.context.same_device_1h, out.context.similar_anomalies_7d) == (1, 1, 1)


def test_similar_counts_same_type_and_device_or_same_template_once() -> None:
    """Similar over 7 days is the union of (same type and device) and (same template), each anomaly once."""
    cache = fresh_cache()
    cache.observe(anomaly(template_id="t-other"), T0)  # same type + device only
    cache.observe(anomaly(device_id="fw-01", incident_type=IncidentType.NETWORK_ISSUE), T0)  # same template only
    cache.observe(anomaly(), T0)  # both
    cache.observe(anomaly(device_id="fw-01", incident_type=IncidentType.NETWORK_ISSUE, template_id="t-x"), T0)  # neither

    out = run(anomaly(), cache, T0)

    assert out.context.similar_anomalies_7d == 4


def test_metric_anomalies_count_the_metric_as_their_template() -> None:
    """A metric anomaly's "same template" is the same metric on the ship; with neither template nor metric it is zero."""
    cache = fresh_cache()
    cache.observe(anomaly(template_id=None, template=None, metric="snr_db", device_id="fw-01"), T0)

    metric = run(anomaly(template_id=None, template=None, metric="snr_db"), cache, T0)
    bare = run(anomaly(template_id=None, template=None), cache, T0)

    assert signature_of(anomaly(template_id=None, metric="snr_db")) == "m:snr_db"
    assert metric.context.same_template_1h == 2
    assert bare.context.same_template_1h == 0
    assert bare.context.similar_anomalies_7d == 2  # the metric anomaly and itself: same type + device


# --- windows ----------------------------------------------------------------------------------


def test_one_hour_counts_expire_exactly_at_one_hour() -> None:
    """An anomaly counts in the 1 h windows until one hour after it, and in the 24 h windows after that."""
    cache = fresh_cache(reconciled_at=T0 + HOUR)
    item = anomaly()
    cache.observe(item, T0)

    before = cache.counts(item, T0 + HOUR - SECOND)
    after = cache.counts(item, T0 + HOUR)

    assert (before.same_template_1h, before.same_device_1h) == (1, 1)
    assert (after.same_template_1h, after.same_device_1h) == (0, 0)
    assert (after.same_template_24h, after.same_device_24h) == (1, 1)


def test_twenty_four_hour_counts_expire_exactly_at_one_day() -> None:
    """An anomaly leaves the 24 h windows one day after it but still counts as similar for the week."""
    cache = fresh_cache()
    item = anomaly()
    cache.observe(item, T0)

    before = cache.counts(item, T0 + DAY - SECOND)
    after = cache.counts(item, T0 + DAY)

    assert (before.same_template_24h, before.same_device_24h) == (1, 1)
    assert (after.same_template_24h, after.same_device_24h) == (0, 0)
    assert after.similar_anomalies_7d == 1


def test_similar_counts_expire_exactly_at_seven_days() -> None:
    """An anomaly stops counting as similar seven days after it."""
    cache = fresh_cache()
    item = anomaly()
    cache.observe(item, T0)

    assert cache.counts(item, T0 + WEEK - SECOND).similar_anomalies_7d == 1
    assert cache.counts(item, T0 + WEEK).similar_anomalies_7d == 0


def test_unaligned_event_leaves_at_most_one_bucket_early() -> None:
    """An event inside a bucket is dated to the bucket start: it expires up to one bucket early, never late."""
    counter = SlidingCounter(window_seconds=3600, bucket_seconds=60)
    t0 = T0.timestamp()
    counter.add("k", t0 + 45, t0 + 45)

    assert counter.count("k", t0 + 3599) == 1
    assert counter.count("k", t0 + 3600) == 0


def test_events_older_than_the_window_are_not_counted() -> None:
    """A late anomaly already outside a window is counted only in the windows it still falls in."""
    cache = fresh_cache(reconciled_at=T0 + 2 * HOUR)
    old = anomaly(detected_at=T0)

    cache.observe(old, T0 + 2 * HOUR)
    counts = cache.counts(old, T0 + 2 * HOUR)

    assert (counts.same_template_1h, counts.same_template_24h) == (0, 1)


def test_sweep_drops_keys_that_went_quiet() -> None:
    """A key whose buckets all expired is removed by the sweep, so memory follows live keys only."""
    counter = SlidingCounter(window_seconds=3600, bucket_seconds=60)
    t0 = T0.timestamp()
    counter.add("quiet", t0, t0)
    counter.add("busy", t0 + 3600, t0 + 3600)

    counter.sweep(t0 + 3600)

    assert len(counter) == 1
    assert counter.count("busy", t0 + 3600) == 1


# --- idempotency --------------------------------------------------------------------------------


def test_redelivered_anomaly_is_counted_once() -> None:
    """Enriching the same anomaly_id twice (a redelivery) counts it once and yields the same counts."""
    cache = fresh_cache()
    item = anomaly()

    first = run(item, cache, T0)
    second = run(item, cache, T0 + SECOND)
    nxt = run(anomaly(), cache, T0 + 2 * SECOND)

    assert first.context == second.context
    assert first.context.same_template_1h == 1
    assert nxt.context.same_template_1h == 2


def test_seen_ids_are_forgotten_after_their_ttl() -> None:
    """Anomaly ids are remembered for the duplicate window only, which bounds the memory they take."""
    cache = fresh_cache()
    item = anomaly()
    assert cache.observe(item, T0) is True
    assert cache.observe(item, T0 + timedelta(seconds=599)) is False
    assert cache.observe(item, T0 + timedelta(seconds=600)) is True


# --- reconciling with the store -----------------------------------------------------------------


def _read(cache: ContextCache, shape: str, bucket_seconds: int):
    [read] = [r for r in cache.store_reads() if (r.shape, r.bucket_seconds) == (shape, bucket_seconds)]
    return read


def _bucket(at: datetime) -> int:
    return int(at.timestamp())


def test_store_rows_fill_in_what_this_process_did_not_see() -> None:
    """Grouped store rows raise a bucket to the stored count, in every counter of that shape and width."""
    cache = fresh_cache()
    at = T0 - timedelta(minutes=5)
    cache.merge(_read(cache, "device", 60), [{"ship_id": SHIP, "device_id": VSAT.device_id, "bucket": _bucket(at), "anomalies": 5}], T0)
    cache.merge(_read(cache, "signature", 60), [{"ship_id": SHIP, "signature": "t:t-snr-low", "bucket": _bucket(at), "anomalies": 2}], T0)

    counts = cache.counts(anomaly(), T0)

    assert (counts.same_device_1h, counts.same_template_1h) == (5, 2)
    assert (counts.same_device_24h, counts.same_template_24h) == (0, 0)  # those come from the 900 s reads


def test_store_rows_never_lower_local_counts() -> None:
    """A bucket keeps the larger of the local and stored counts: anomalies not yet stored are not lost."""
    cache = fresh_cache()
    for _ in range(3):
        cache.observe(anomaly(), T0)
    read = _read(cache, "signature", 60)
    cache.merge(read, [{"ship_id": SHIP, "signature": "t:t-snr-low", "bucket": _bucket(T0), "anomalies": 1}], T0)
    assert cache.counts(anomaly(), T0).same_template_1h == 3

    cache.merge(read, [{"ship_id": SHIP, "signature": "t:t-snr-low", "bucket": _bucket(T0), "anomalies": 7}], T0)
    assert cache.counts(anomaly(), T0).same_template_1h == 7


def test_store_rows_outside_the_window_are_ignored() -> None:
    """A stored bucket that has already left a window adds nothing to it."""
    cache = fresh_cache(reconciled_at=T0 + HOUR)
    row = {"ship_id": SHIP, "signature": "t:t-snr-low", "bucket": _bucket(T0), "anomalies": 4}
    cache.merge(_read(cache, "signature", 60), [row], T0 + HOUR)

    assert cache.counts(anomaly(), T0 + HOUR).same_template_1h == 0


def test_type_window_rows_go_to_their_own_type_only() -> None:
    """A stored count of one incident type raises that type's correlation-window count, not another's."""
    cache = fresh_cache()
    rows = [{"ship_id": SHIP, "incident_type": "auth_failure", "bucket": _bucket(T0), "anomalies": 9}]
    cache.merge(_read(cache, "type", 60), rows, T0)

    auth = anomaly(incident_type=IncidentType.AUTH_FAILURE)
    assert cache.counts(auth, T0).same_type_in_window == 9
    assert cache.counts(anomaly(), T0).same_type_in_window == 0


def test_store_reads_cover_every_counter() -> None:
    """One store read per key shape and bucket width, reaching back over the longest window that uses it."""
    cache = ContextCache(
        type_windows={t.value: 600 for t in IncidentType} | {"power_or_hardware": 7200},
        stale_after_seconds=90, seen_ttl_seconds=600,
    )

    reads = {(r.shape, r.bucket_seconds): r.window_seconds for r in cache.store_reads()}

    assert reads == {
        ("signature", 60): 3600, ("signature", 900): 86400, ("signature", 3600): 604800,
        ("device", 60): 3600, ("device", 900): 86400,
        ("type_device", 3600): 604800, ("type_device_signature", 3600): 604800,
        ("type", 60): 7200,
    }


# --- freshness and basic mode -------------------------------------------------------------------


def test_staleness_bound_switches_to_basic() -> None:
    """Enrichment is full until the last reconcile is `stale_after_seconds` old, then basic."""
    cache = fresh_cache(reconciled_at=T0, stale_after_seconds=90)

    assert cache.level(T0 + timedelta(seconds=89)) == "full"
    assert cache.level(T0 + timedelta(seconds=90)) == "basic"


def test_failed_refresh_switches_to_basic_until_the_next_success() -> None:
    """A failed refresh makes enrichment basic at once; the next successful one restores full."""
    cache = fresh_cache()
    cache.mark_failed()
    assert cache.level(T0) == "basic"

    cache.mark_reconciled(T0 + SECOND)
    assert cache.level(T0 + SECOND) == "full"


def test_never_reconciled_is_basic() -> None:
    """Before the first successful reconcile (store down at start) enrichment is basic."""
    cache = ContextCache(type_windows=WINDOWS, stale_after_seconds=90, seen_ttl_seconds=600)

    assert cache.level(T0) == "basic"


def test_basic_enrichment_keeps_device_and_drops_counts() -> None:
    """Basic enrichment carries the registry entry and no counts, but still counts the anomaly for later."""
    cache = fresh_cache()
    cache.replace_last_incidents(
        [{"ship_id": SHIP, "device_id": VSAT.device_id, "incident_id": "inc-1", "last_incident_at": T0}]
    )
    cache.mark_failed()
    item = anomaly()

    out = run(item, cache, T0)

    assert out.enrichment_level == "basic"
    assert out.context.device is not None and out.context.device.kind == "vsat_modem"
    assert (out.context.same_template_1h, out.context.same_device_24h, out.context.similar_anomalies_7d) == (0, 0, 0)
    assert out.context.last_incident_id is None
    cache.mark_reconciled(T0)
    assert run(anomaly(), cache, T0).context.same_template_1h == 2


# --- escalation ---------------------------------------------------------------------------------


def _rule(name: str, raise_levels: int = 0, at_least: Severity | None = None, **when) -> EscalationRule:
    return EscalationRule(name=name, when=EscalationCondition(**when), raise_levels=raise_levels, at_least=at_least)


def _facts(incident_type=IncidentType.LINK_DEGRADATION, kind: str | None = "vsat_modem", count: int | None = 1):
    return EscalationFacts(incident_type=incident_type, device_kind=kind, anomaly_count=count)


def test_floor_rule_lifts_severity_and_is_recorded_even_without_effect() -> None:
    """An at_least rule lifts a lower severity; on a higher one it changes nothing but is still recorded as fired."""
    rules = [_rule("comms-outage", at_least=Severity.HIGH, incident_types=[IncidentType.COMMS_OUTAGE])]

    assert escalate(Severity.LOW, rules, _facts(IncidentType.COMMS_OUTAGE)) == (Severity.HIGH, ["comms-outage"])
    assert escalate(Severity.CRITICAL, rules, _facts(IncidentType.COMMS_OUTAGE)) == (Severity.CRITICAL, ["comms-outage"])
    assert escalate(Severity.LOW, rules, _facts(IncidentType.NETWORK_ISSUE)) == (Severity.LOW, [])


def test_raise_rules_apply_in_order_and_cap_at_critical() -> None:
    """Raising rules stack in policy order and never go past critical."""
    rules = [
        _rule("first", raise_levels=2, anomaly_count_gte=1),
        _rule("second", raise_levels=3, anomaly_count_gte=1),
    ]

    assert escalate(Severity.MEDIUM, rules, _facts()) == (Severity.CRITICAL, ["first", "second"])


def test_device_kind_rule_needs_a_known_device_of_that_kind() -> None:
    """A root_device_kinds rule fires for a registered device of a listed kind only."""
    rules = [
        _rule("sat", at_least=Severity.HIGH, incident_types=[IncidentType.LINK_DEGRADATION],
              root_device_kinds=["vsat_modem", "starlink_terminal"]),
    ]

    assert escalate(Severity.MEDIUM, rules, _facts(kind="vsat_modem"))[0] == Severity.HIGH
    assert escalate(Severity.MEDIUM, rules, _facts(kind="firewall"))[0] == Severity.MEDIUM
    assert escalate(Severity.MEDIUM, rules, _facts(kind=None))[0] == Severity.MEDIUM


def test_count_rule_needs_counts_and_the_threshold() -> None:
    """An anomaly_count_gte rule fires at the threshold and never when counts are unavailable (basic)."""
    rules = [_rule("brute", at_least=Severity.HIGH, incident_types=[IncidentType.AUTH_FAILURE], anomaly_count_gte=10)]
    auth = IncidentType.AUTH_FAILURE

    assert escalate(Severity.MEDIUM, rules, _facts(auth, count=9))[1] == []
    assert escalate(Severity.MEDIUM, rules, _facts(auth, count=10))[1] == ["brute"]
    assert escalate(Severity.MEDIUM, rules, _facts(auth, count=None))[1] == []


def test_device_count_rule_never_fires_on_one_anomaly() -> None:
    """A device_count_gte rule needs the incident's devices, which only correlation knows."""
    rules = [_rule("many-devices", raise_levels=1, device_count_gte=1)]

    assert escalate(Severity.LOW, rules, _facts(count=100)) == (Severity.LOW, [])


def test_shipped_policy_escalates_satellite_link_degradation() -> None:
    """With the shipped severity map, link degradation on the VSAT modem is lifted to high and the detector's severity kept."""
    out = run(anomaly(severity=Severity.MEDIUM), fresh_cache(), T0, rules=RULES)

    assert out.severity == Severity.HIGH
    assert out.original_severity == Severity.MEDIUM
    assert out.context.escalations == ["satellite-link-degradation"]


def test_shipped_policy_brute_force_counts_auth_failures_in_the_correlation_window() -> None:
    """The brute-force rule fires on the 10th auth failure of the ship inside the auth_failure window, not before."""
    policy = load_policy(DEFAULT_POLICIES_DIR)
    window = policy.correlate.windows.seconds_for(IncidentType.AUTH_FAILURE)
    cache = ContextCache(type_windows=correlation_windows(policy.correlate), stale_after_seconds=90, seen_ttl_seconds=600)
    now = T0 + timedelta(seconds=window)
    cache.mark_reconciled(now)
    auth = {"incident_type": IncidentType.AUTH_FAILURE, "device_id": "fw-01", "template_id": None, "metric": None}
    cache.observe(anomaly(**auth, detected_at=T0), now)  # at the window's edge: already out
    for index in range(8):
        cache.observe(anomaly(**{**auth, "device_id": f"srv-{index}"}, detected_at=now), now)

    ninth = run(anomaly(**auth, detected_at=now), cache, now, rules=RULES)
    tenth = run(anomaly(**auth, detected_at=now), cache, now, rules=RULES)

    assert ninth.context.escalations == [] and ninth.severity == Severity.MEDIUM
    assert tenth.context.escalations == ["brute-force"] and tenth.severity == Severity.HIGH


def test_basic_mode_still_applies_rules_that_need_no_counts() -> None:
    """In basic mode the device-kind rule still fires from the last good registry."""
    cache = fresh_cache()
    cache.mark_failed()

    out = run(anomaly(), cache, T0, rules=RULES)

    assert out.enrichment_level == "basic"
    assert out.context.escalations == ["satellite-link-degradation"]


# --- the role's refresh against a store double ------------------------------------------------


class StoreDouble:
    """The store port: answers the registry query, fails when `down`, never answers when `hung`."""

    def __init__(self) -> None:
        self.down = False
        self.hung = False

    async def query(self, sql: str, parameters=None) -> list[dict]:
        if self.hung:
            await asyncio.sleep(3600)
        if self.down:
            raise StoreUnavailable("query failed: connection refused")
        if sql == LOAD_DEVICES_SQL:
            return [{
                "ship_id": SHIP, "device_id": VSAT.device_id, "kind": VSAT.kind, "vendor": VSAT.vendor,
                "model": VSAT.model, "location": VSAT.location, "criticality": VSAT.criticality,
                "upstream": list(VSAT.upstream), "services": list(VSAT.services), "host_aliases": [], "mgmt_ip": "",
            }]
        return []


class RuntimeDouble:
    """What the role uses of the Runtime, without NATS: spawned tasks and consumers are recorded."""

    def __init__(self, store: StoreDouble) -> None:
        self.settings = Settings()
        self.policy = load_policy(DEFAULT_POLICIES_DIR)
        self.store = store
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.consumers: list[str] = []

    def spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self.tasks.append(task)
        return task

    def consume(self, durable: str, handler, **_) -> None:
        self.consumers.append(durable)


@pytest.fixture
async def role_and_store():
    store = StoreDouble()
    runtime = RuntimeDouble(store)
    role = EnrichmentRole(EnrichmentConfig(refresh_every_seconds=3600, store_timeout_seconds=0.05))
    await role.start(runtime)  # type: ignore[arg-type]
    yield role, store
    runtime.stop.set()
    await role.stop()
    await asyncio.gather(*runtime.tasks, return_exceptions=True)


async def test_role_consumes_its_durable_and_publishes_full_with_derived_msg_id(role_and_store) -> None:
    """With the store up the role enriches fully and derives the output msg_id from the anomaly_id."""
    role, _ = role_and_store
    item = anomaly(detected_at=datetime.now(UTC))

    [outs] = await role.handle_batch([Incoming("anomaly.detected", item, raw=None)])  # type: ignore[arg-type]

    assert role.runtime.consumers == ["enrichment"]
    [out] = outs
    assert out.subject == "anomaly.enriched"
    assert out.msg_id == f"{item.anomaly_id}:enriched"
    assert out.message.enrichment_level == "full"
    assert out.message.trace[-1].stage == "enrichment"


async def test_role_turns_basic_when_the_store_is_down_and_keeps_the_registry(role_and_store) -> None:
    """A failed refresh makes the next message basic, with the device from the last good registry."""
    role, store = role_and_store
    store.down = True

    assert await role.refresh() is False
    [outs] = await role.handle_batch([Incoming("anomaly.detected", anomaly(detected_at=datetime.now(UTC)), raw=None)])  # type: ignore[arg-type]

    assert outs[0].message.enrichment_level == "basic"
    assert outs[0].message.context.device.kind == "vsat_modem"


async def test_role_gives_up_on_a_hung_store_and_recovers(role_and_store) -> None:
    """A store that does not answer within the timeout makes enrichment basic; once it answers it is full again."""
    role, store = role_and_store
    store.hung = True
    assert await role.refresh() is False
    assert role.level() == "basic"

    store.hung = False
    assert await role.refresh() is True
    assert role.level() == "full"


async def test_role_turns_basic_once_its_store_view_outlives_the_staleness_bound() -> None:
    """With no failed attempt at all, a store view `stale_after_seconds` old makes the role basic (the refresh task may be stuck)."""
    now = [T0]
    runtime = RuntimeDouble(StoreDouble())
    role = EnrichmentRole(EnrichmentConfig(refresh_every_seconds=3600, stale_after_seconds=90), clock=lambda: now[0])
    await role.start(runtime)  # type: ignore[arg-type]
    try:
        now[0] = T0 + timedelta(seconds=89)
        assert role.level() == "full"
        now[0] = T0 + timedelta(seconds=90)
        assert role.level() == "basic"
    finally:
        runtime.stop.set()
        await role.stop()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
