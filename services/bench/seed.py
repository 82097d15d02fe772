"""`aiops bench seed`: a store holding a fleet's worth of incident history, for the API figures.

The rows are generated inside the engine (INSERT ... SELECT FROM numbers(N)), so a million
incidents take seconds rather than the minutes a Python loop would. Every row is a valid
Incident (the API parses `doc`), with its trigger anomaly and a fallback insight, and the
distributions are a fleet's: a dozen ships of uneven size, incident types, severities and
statuses in the proportions a ship's IT sees, open and acknowledged incidents among the recent
ones and resolved ones behind them, times spread over the last 29 days (inside the anomalies' retention) with a daily rhythm.
Seeded history is merged as a long-running node's would be; then part of the last two days'
incidents get a later version (an operator's status change) in small parts, as live traffic
leaves them.
Generation is deterministic: the same count and `now` give the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiops_core.devices import DEVICE_COLUMNS
from aiops_core.policy import load_policy
from aiops_core.retention import apply_ttls
from aiops_core.settings import Settings
from aiops_core.store import Store
from services.simulator.inventory import load_inventory, registry_devices
from services.bench.pool import SEEDED_MARKER

# The fleet, largest first: one ship's node holds its own; a shore hub holds them all.
SHIPS = (
    "ms-aurora", "ms-borealis", "ms-celestia", "ms-dawn", "ms-equinox", "ms-fjord",
    "ms-galaxy", "ms-horizon", "ms-island", "ms-jubilee", "ms-kestrel", "ms-lumen",
)
SHIP_WEIGHTS = (20, 14, 12, 10, 9, 8, 7, 6, 5, 4, 3, 2)
TYPES = (
    "link_degradation", "comms_outage", "network_issue", "resource_pressure", "auth_failure",
    "security_alert", "app_degradation", "power_or_hardware", "config_change", "unknown",
)
TYPE_WEIGHTS = (22, 8, 25, 12, 12, 4, 11, 2, 3, 1)
# The device each type is usually rooted at on the demo ship, and what it affects.
TYPE_DEVICES = (
    ("vsat-modem-01", "acu-01"), ("vsat-modem-01", "starlink-01"), ("acc-sw-03", "core-rtr-01"),
    ("fw-01", "res-db-01"), ("crew-portal-01", "guest-portal-01"), ("fw-01", "fw-02"),
    ("pos-gw-01", "res-app-01"), ("core-rtr-02", "acc-sw-01"), ("core-rtr-01", "fw-01"),
    ("dns-01", "dhcp-01"),
)
SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_WEIGHTS = (30, 40, 22, 8)
STATUSES = ("open", "acknowledged", "resolved", "suppressed")
# Incidents of the last two days are still being worked; older ones are mostly closed.
RECENT_STATUS_WEIGHTS = (40, 25, 30, 5)
OLD_STATUS_WEIGHTS = (1, 2, 92, 5)
# Within the anomalies' 30-day TTL (the daily rhythm moves some a few hours further back).
HISTORY_DAYS = 29
# Share of the last two days' incidents that get a second, later row after the merge.
LIVE_UPDATE_PERCENT = 30
LIVE_UPDATE_DAYS = 2
BLOCK_ROWS = 250_000


def _choice(values: tuple[str, ...], weights: tuple[int, ...], salt: str) -> str:
    """SQL picking one of `values` by `weights` from a hash of the row number and `salt`."""
    cumulative, total = [], 0
    for weight in weights:
        total += weight
        cumulative.append(total)
    quoted = ", ".join(f"'{v}'" for v in values)
    return (
        f"[{quoted}][arrayFirstIndex(c -> (cityHash64(number, '{salt}') % {total}) < c, "
        f"[{', '.join(map(str, cumulative))}])]"
    )


def _uuid(salt: str) -> str:
    """SQL for a deterministic UUID (version 4 layout) from the row number."""
    hex_ = (
        f"lower(concat(leftPad(hex(cityHash64(number, '{salt}a')), 16, '0'), "
        f"leftPad(hex(cityHash64(number, '{salt}b')), 16, '0')))"
    )
    return (
        f"concat(substring({hex_}, 1, 8), '-', substring({hex_}, 9, 4), '-4', substring({hex_}, 14, 3), "
        f"'-a', substring({hex_}, 18, 3), '-', substring({hex_}, 21, 12))"
    )


def _iso(column: str) -> str:
    return f"concat(replaceOne(toString({column}), ' ', 'T'), 'Z')"


def incidents_select(first: int, count: int, now: datetime) -> str:
    """The SELECT producing incidents rows `first` .. `first + count - 1` (plus helper columns
    the anomaly and insight inserts reuse)."""
    type_index = f"indexOf([{', '.join(repr(t) for t in TYPES)}], incident_type)"
    return f"""
SELECT *,
    concat('{{"schema_version":"3.0","incident_id":"', incident_id, '","ship_id":"', ship_id,
        '","fingerprint":"', fingerprint, '","incident_type":"', incident_type, '","severity":"', severity,
        '","status":"', status, '","title":"', title, '","root_cause_device":"', root_cause_device,
        '","root_cause_reason":"', reason, '","affected_devices":["', root_cause_device, '","', affected,
        '"],"services":["', service, '"],"anomaly_count":', toString(anomaly_count),
        ',"tracking_ids":["', tracking_id, '"],"detectors":["log_pattern","syslog_severity"],"evidence":[{{"signature":"t:',
        fingerprint, '","detector":"log_pattern","device_id":"', root_cause_device, '","message":"', title,
        '","count":', toString(anomaly_count), '}}],"runbook_refs":[],"suppressed_by":null,"first_seen":"', {_iso("first_seen")},
        '","last_seen":"', {_iso("last_seen")}, '","created_at":"', {_iso("created_at")}, '","updated_at":"',
        {_iso("updated_at")}, '","version":', toString(version), ',"timeline":[{{"at":"', {_iso("created_at")},
        '","kind":"created","summary":"', severity, ' ', incident_type, ' incident opened: ', title,
        '","tracking_id":null,"device_id":"', root_cause_device, '","actor":null}},{{"at":"', {_iso("last_seen")},
        '","kind":"anomaly","summary":"log_pattern on ', root_cause_device, ': ', title, '","tracking_id":"', tracking_id,
        '","device_id":"', root_cause_device, '","actor":null}}]}}') AS doc
FROM (
    SELECT number, incident_id, ship_id, fingerprint, incident_type, severity,
        if(age_days < 2, status_recent, status_old) AS status,
        concat(replaceAll(incident_type, '_', ' '), ' on ', root_cause_device) AS title,
        root_cause_device, affected, service, reason, anomaly_count, tracking_id,
        created_at AS first_seen, last_seen, created_at, last_seen AS updated_at, version
    FROM (
        SELECT number,
            {_uuid("incident")} AS incident_id,
            {_choice(SHIPS, SHIP_WEIGHTS, "ship")} AS ship_id,
            {_choice(TYPES, TYPE_WEIGHTS, "type")} AS incident_type,
            {_choice(SEVERITIES, SEVERITY_WEIGHTS, "severity")} AS severity,
            {_choice(STATUSES, RECENT_STATUS_WEIGHTS, "recent")} AS status_recent,
            {_choice(STATUSES, OLD_STATUS_WEIGHTS, "old")} AS status_old,
            [{', '.join(repr(d[0]) for d in TYPE_DEVICES)}][{type_index}] AS root_cause_device,
            [{', '.join(repr(d[1]) for d in TYPE_DEVICES)}][{type_index}] AS affected,
            concat(incident_type, '-svc') AS service,
            concat('anomalies on ', root_cause_device, ' and the devices behind it') AS reason,
            concat(ship_id, ':', incident_type, ':', root_cause_device, ':', toString(cityHash64(number, 'fp') % 5000)) AS fingerprint,
            -- log-uniform: most incidents gather a handful of anomalies, a few gather a hundred
            toUInt32(floor(exp((cityHash64(number, 'count') % 1000) / 200))) AS anomaly_count,
            {_uuid("tracking")} AS tracking_id,
            -- spread over the history with a daily rhythm: more by day than at night
            (cityHash64(number, 'age') % ({HISTORY_DAYS} * 86400000000)) / 1e6 AS age_seconds,
            age_seconds / 86400 AS age_days,
            toDateTime64({now.timestamp():.6f} - age_seconds
                - if(cityHash64(number, 'night') % 3 = 0, (toHour(toDateTime({now.timestamp():.0f} - age_seconds)) < 6) * 21600, 0),
                6, 'UTC') AS created_at,
            least(created_at + toIntervalMicrosecond(60000000 + cityHash64(number, 'duration') % 7200000000),
                toDateTime64({now.timestamp():.6f}, 6, 'UTC')) AS last_seen,
            toUInt64(1 + anomaly_count % 7) AS version
        FROM numbers({first}, {count})
    )
)
"""


INCIDENT_COLUMNS = (
    "incident_id, ship_id, fingerprint, incident_type, severity, status, title, root_cause_device, "
    "anomaly_count, first_seen, last_seen, created_at, updated_at, version, doc"
)


async def seed(data_dir: Path, incidents: int, *, log: Callable[[str], None], now: datetime | None = None) -> None:
    """Creates the node's tables in `data_dir` and fills them; refuses a store that has incidents."""
    now = now or datetime.now(UTC)
    settings = Settings(data_dir=data_dir)
    store = Store(settings.store_dsn(), timeout_seconds=3600)
    await store.start()
    try:
        if await store.scalar("SELECT count() FROM aiops.incidents"):
            raise SystemExit(f"{data_dir} already holds incidents; seed an empty data dir")
        # The TTLs a node sets at start, set before the rows go in: on a filled store setting
        # them rewrites every part, which a node would then do in the middle of a bench run.
        await apply_ttls(store, load_policy(settings.policies_dir, settings.ship_id).retention)
        devices = registry_devices(load_inventory(settings.inventory_file))
        await store.insert("devices", DEVICE_COLUMNS, [d.row() for d in devices])
        started = time.monotonic()
        for first in range(0, incidents, BLOCK_ROWS):
            count = min(BLOCK_ROWS, incidents - first)
            source = incidents_select(first, count, now)
            # The row version is the change time in µs, as the incident-api writes it.
            await store.command(
                f"INSERT INTO aiops.incidents ({INCIDENT_COLUMNS}) SELECT toUUID(incident_id), ship_id, fingerprint, "
                "incident_type, severity, status, title, root_cause_device, anomaly_count, first_seen, last_seen, "
                f"created_at, updated_at, toUInt64(toUnixTimestamp64Micro(updated_at)), doc FROM ({source})"
            )
            await store.command(_anomalies_insert(source))
            await store.command(_insights_insert(source))
            log(f"seeded {first + count:,} of {incidents:,} incidents ({time.monotonic() - started:.0f} s)")
        # A long-running node's background merges have collapsed old versions by now.
        for table in ("incidents", "anomalies", "incident_insights"):
            await store.command(f"OPTIMIZE TABLE aiops.{table} FINAL")
        await _live_updates(store)
        data_dir.joinpath(SEEDED_MARKER).write_text(now.isoformat(), encoding="utf-8")
        log(f"seeded {incidents:,} incidents in {time.monotonic() - started:.0f} s")
    finally:
        await store.close()


def _anomalies_insert(source: str) -> str:
    """Each incident's trigger anomaly, with the fast-path time a healthy node records."""
    return f"""
INSERT INTO aiops.anomalies (anomaly_id, tracking_id, incident_id, ship_id, device_id, service, detector,
    incident_type, severity, score, template, template_id, metric, value, message, evidence, enrichment_level,
    detected_at, ingestion_timestamp, event_timestamp, stored_at, fast_path_ms)
SELECT toUUID({_uuid("anomaly")}), toUUID(tracking_id), toUUID(incident_id), ship_id, root_cause_device, service,
    'log_pattern', incident_type, severity, 0.9, title, toString(cityHash64(number, 'fp') % 5000), '', NULL, title,
    '{{}}', 'full', last_seen, last_seen, last_seen, last_seen, 2 + (cityHash64(number, 'fast') % 800) / 100
FROM ({source})
"""


def _insights_insert(source: str) -> str:
    """A fallback insight per incident, as a node without an LLM stores them."""
    insight = (
        "concat('{\"root_cause\":\"Most likely ', title, '.\",\"impact\":\"', severity, ' ', incident_type, "
        "' centred on ', root_cause_device, '.\",\"recommendations\":[\"Check the state, recent logs and metrics of ', "
        "root_cause_device, '.\",\"Check the devices it depends on.\"],\"confidence\":0.3,\"source\":\"fallback\","
        "\"model\":null,\"runbook_ids\":[],\"similar_incidents\":[],\"generated_at\":\"', "
        f"{_iso('last_seen')}, '\",\"latency_ms\":12.5,\"cached\":false}}')"
    )
    return f"""
INSERT INTO aiops.incident_insights (incident_id, ship_id, incident_version, source, generated_at, stored_at,
    insight_path_ms, insight)
SELECT toUUID(incident_id), ship_id, version, 'fallback', last_seen, last_seen,
    40 + (cityHash64(number, 'insight') % 20000) / 100, {insight}
FROM ({source})
"""


async def _live_updates(store: Store) -> None:
    """A later version of part of the recent incidents (resolved by an operator), in the small
    parts live writes leave behind, so FINAL has versions to collapse as on a running node."""
    step = max(1, 100 // LIVE_UPDATE_PERCENT)
    parts = 20
    for part in range(parts):
        await store.command(
            f"""
INSERT INTO aiops.incidents ({INCIDENT_COLUMNS})
SELECT incident_id, ship_id, fingerprint, incident_type, severity, 'resolved', title, root_cause_device,
    anomaly_count, first_seen, last_seen, created_at, updated_at + toIntervalMinute(5), version + 300000000,
    replaceOne(replaceOne(replaceOne(doc,
        concat('"status":"', status, '"'), '"status":"resolved"'),
        concat('"version":', toString(doc_version), ','), concat('"version":', toString(doc_version + 1), ',')),
        concat('"updated_at":"', {_iso("updated_at")}, '"'),
        concat('"updated_at":"', {_iso("updated_at + toIntervalMinute(5)")}, '"'))
FROM (
    SELECT *, JSONExtractUInt(doc, 'version') AS doc_version FROM aiops.incidents
    WHERE created_at > now64(6) - toIntervalDay({LIVE_UPDATE_DAYS})
      AND cityHash64(incident_id) % {step * parts} = {part * step}
)
"""
        )
