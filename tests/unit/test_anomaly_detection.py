"""Unit tests for the anomaly detectors and the analyzers that turn their verdicts into anomalies."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from aiops_core.models import (
    AnomalyDetected,
    IncidentType,
    LogEntry,
    LogLevel,
    MetricSample,
    Severity,
    StageStamp,
    new_tracking_id,
)
from aiops_core.policy import DEFAULT_POLICIES_DIR, DetectPolicy, load_policy
from services.anomaly_detection.detectors import REPEAT_SECONDS, Verdict, strongest
from services.anomaly_detection.detectors.regexset import RegexSet, re2_form, read_alike
from services.anomaly_detection.detectors.metrics import STATISTICAL_HOLD_SECONDS, Episode
from services.anomaly_detection.handlers import (
    ANOMALY_NAMESPACE,
    STAGE,
    LogAnalyzer,
    MetricAnalyzer,
    anomaly_id_for,
)

T0 = datetime(2024, 6, 1, 8, 0, 0, tzinfo=timezone.utc)
NOW = datetime(2024, 6, 1, 9, 0, 0, tzinfo=timezone.utc)
KINDS = {
    "vsat-modem-01": "vsat_modem",
    "starlink-01": "starlink_terminal",
    "fw-01": "firewall",
    "srv-01": "server",
    "wlc-01": "wlc",
}


@pytest.fixture(scope="module")
def policy() -> DetectPolicy:
    return load_policy(DEFAULT_POLICIES_DIR).detect


def with_changes(policy: DetectPolicy, **sections: dict) -> DetectPolicy:
    """The policy with some fields of some detect sections replaced."""
    return policy.model_copy(update={name: getattr(policy, name).model_copy(update=fields) for name, fields in sections.items()})


def clock() -> datetime:
    return NOW


def log_entry(message: str, *, level: LogLevel = LogLevel.INFO, device: str = "sw-01", at: datetime = T0,
              tracking_id: str | None = None) -> LogEntry:
    return LogEntry(
        tracking_id=tracking_id or new_tracking_id(),
        ship_id="ms-aurora",
        device_id=device,
        service="syslog",
        level=level,
        message=message,
        timestamp=at - timedelta(seconds=1),
        ingestion_timestamp=at,
        trace=[StageStamp(stage="ingest", service="ingest", at=at, duration_ms=0.2)],
    )


def sample(metric: str, value: float, *, device: str, at: datetime, unit: str = "") -> MetricSample:
    return MetricSample(
        tracking_id=new_tracking_id(), ship_id="ms-aurora", device_id=device, metric=metric, value=value, unit=unit,
        timestamp=at, ingestion_timestamp=at + timedelta(milliseconds=50),
    )


def logs(policy: DetectPolicy) -> LogAnalyzer:
    return LogAnalyzer(policy, clock=clock)


def metrics(policy: DetectPolicy) -> MetricAnalyzer:
    return MetricAnalyzer(policy, device_kind=lambda ship, device: KINDS.get(device), clock=clock)


def feed(analyzer: MetricAnalyzer, metric: str, values, *, device: str, start: datetime = T0,
         every: float = 10.0) -> list[tuple[float, AnomalyDetected]]:
    """Feeds values at a fixed interval; returns (seconds from start, anomaly) for each anomaly."""
    found = []
    for index, value in enumerate(values):
        result = analyzer.analyze(sample(metric, value, device=device, at=start + timedelta(seconds=index * every)))
        if result is not None:
            found.append((index * every, result))
    return found


# --- log patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "pattern", "incident_type", "severity"),
    [
        ("RX carrier lost on demodulator 1, Es/No 0.0 dB", "vsat-carrier-lost", IncidentType.LINK_DEGRADATION, Severity.CRITICAL),
        ("%LINK-3-UPDOWN: Interface GigabitEthernet1/0/24, changed state to down", "interface-down",
         IncidentType.NETWORK_ISSUE, Severity.MEDIUM),
        ('date=2024-06-01 time=08:00:00 devname="FGT-01" logid="0100022010" type="event" subtype="system" '
         'level="critical" logdesc="Memory conserve mode entered" msg="Kernel enters memory conserve mode"',
         "firewall-session-table-full", IncidentType.RESOURCE_PRESSURE, Severity.HIGH),
        ("Failed password for root from 203.0.113.5 port 51234 ssh2", "ssh-failed-password",
         IncidentType.AUTH_FAILURE, Severity.LOW),
        ("Failed password for invalid user admin from 203.0.113.5 port 51234 ssh2", "ssh-invalid-user",
         IncidentType.AUTH_FAILURE, Severity.MEDIUM),
    ],
)
def test_policy_patterns_name_type_and_severity(policy, message, pattern, incident_type, severity) -> None:
    """A line matching a detect.yaml pattern becomes an anomaly of the rule's type, severity and score."""
    anomaly = logs(policy).analyze(log_entry(message, level=LogLevel.NOTICE))
    assert anomaly is not None
    assert anomaly.detector == "log_pattern"
    assert anomaly.evidence["pattern"] == pattern
    assert (anomaly.incident_type, anomaly.severity) == (incident_type, severity)
    assert anomaly.score == next(p.score for p in policy.log_patterns if p.name == pattern)


def test_cisco_link_up_is_not_an_anomaly(policy) -> None:
    """The same Cisco message with state up matches no pattern and, at notice level, is no anomaly."""
    assert logs(policy).analyze(
        log_entry("%LINK-3-UPDOWN: Interface GigabitEthernet1/0/24, changed state to up", level=LogLevel.NOTICE)
    ) is None


def test_ignore_patterns_suppress_even_a_severe_line(policy) -> None:
    """Starlink's scheduled reconfiguration is never an anomaly, whatever its level."""
    analyzer = logs(policy)
    assert analyzer.analyze(log_entry("Starlink: scheduled reconfiguration complete", level=LogLevel.ERROR)) is None
    # Mined all the same: the template is known afterwards.
    assert analyzer.miner.template_count == 1


def _policy_lines() -> list[str]:
    """Every fault scenario's syslog lines (the faults' own lines match the patterns), and edge cases."""
    from services.simulator import FAULTS, build_scenario

    lines = [
        "RX CARRIER LOST", "%BGP-5-ADJCHANGE: neighbor 10.0.0.1 Down BGP Notification sent", "No free leases",
        "ups on battery", "Radio 1 reset", "%SYS-5-CONFIG_I: Configured from console", "SERVFAIL for x.example",
        "Kernel enters memory conserve mode", "AP AP-DECK5-01 disassociated", "certificate has expired",
        "rx\tcarrier\vlost", "line protocol on Gi1/0/1\nis down", "lock lost\x1c", "Ünïcode: RX carrier lost",
        "scheduled reconfiguration complete", "scheduled reconfiguration complete, then a timeout",
    ]
    for name in FAULTS:
        for event in build_scenario(name, start=T0, duration_s=900, seed=3).events():
            if event.kind == "syslog":
                lines.append(event.payload.decode("utf-8", errors="replace"))
    return lines


def test_regex_set_finds_exactly_the_patterns_a_line_matches(policy) -> None:
    """On every simulated line the RE2 set names each matching pattern, and on lines RE2 reads
    like Python (ASCII, no \\v or separators) no other: the policy's patterns need no relaxing."""
    patterns = [p.pattern for p in policy.log_patterns]
    regex_set = RegexSet(p.regex for p in policy.log_patterns)
    hits = 0
    for line in _policy_lines():
        matching = [i for i, pattern in enumerate(patterns) if pattern.search(line)]
        candidates = regex_set.candidates(line)
        assert set(matching) <= set(candidates), line
        if read_alike(line):
            assert matching == candidates, line
        hits += bool(matching)
    assert hits > 100


def test_regex_set_keeps_lines_an_ignore_pattern_matches(policy) -> None:
    """A pattern with a lookahead is relaxed, never tightened: the set still names it on every line it matches."""
    patterns = [p.pattern for p in policy.ignore_patterns]
    regex_set = RegexSet(p.regex for p in policy.ignore_patterns)
    for line in _policy_lines():
        matching = {i for i, pattern in enumerate(patterns) if pattern.search(line)}
        assert matching <= set(regex_set.candidates(line)), line


_WORDS = st.sampled_from([
    "rx", "RX", "carrier", "lost", "Lost", "lock", "down", "DOWN", "interface", "Gi1/0/1", "%LINK-3-UPDOWN:",
    "%BGP-5-ADJCHANGE:", "neighbor", "dns", "timed", "out", "timeout", "no", "free", "leases", "ap", "AP",
    "_x", "x_", "-", ":", "=", "(", ")", "\"", "0", "42", "é", "\u212a", "\u017f", "\u0131",
])
_GAPS = st.sampled_from([" ", "  ", "", "\t", "\n", "\v", "\x1c", ", ", "-", "_", "/"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_WORDS, _GAPS), max_size=12))
def test_regex_set_never_misses_a_match_property(policy, parts) -> None:
    """Whatever the letter case, spacing, control or non-ASCII characters, a matching pattern is a candidate."""
    line = "".join(word + gap for word, gap in parts)
    for rules in (policy.log_patterns, policy.ignore_patterns):
        regex_set = _REGEX_SETS.setdefault(id(rules), RegexSet(p.regex for p in rules))
        matching = {i for i, rule in enumerate(rules) if rule.pattern.search(line)}
        assert matching <= set(regex_set.candidates(line)), line


_REGEX_SETS: dict[int, RegexSet] = {}


def test_re2_form_reads_pythons_parse_tree() -> None:
    """Flags, classes and repeats carry over; lookarounds are dropped; what RE2 cannot say is None."""
    assert re2_form(r"(?i)\bfailed\s+password\b") == r"(?i:\bfailed(?:[\s]){1,}password\b)"
    assert re2_form(r"a{2,5}?(?-i:B)") == r"(?:(?:a){2,5}(?-i:B))"
    assert re2_form(r"x(?!y)") == r"(?:x(?:))"
    assert re2_form(r"(a)\1") is None
    assert re2_form("caf\u00e9") is None
    regex_set = RegexSet([r"(a)\1", r"\bdown\b", "(?i)UP"])
    assert regex_set.candidates("link down") == [0, 1]
    assert regex_set.candidates("it is up") == [0, 2]
    assert regex_set.candidates("é down") == [0, 1, 2]


# --- syslog severity, new and rare templates ---------------------------------------------------


def test_syslog_severity_maps_levels(policy) -> None:
    """An error line matching no pattern is a medium anomaly; a warning alone is none."""
    analyzer = logs(policy)
    anomaly = analyzer.analyze(log_entry("Backup job nightly ended with code 7", level=LogLevel.ERROR))
    assert anomaly is not None
    assert (anomaly.detector, anomaly.severity, anomaly.incident_type) == ("syslog_severity", Severity.MEDIUM, IncidentType.UNKNOWN)
    assert anomaly.evidence["level"] == "error"
    assert analyzer.analyze(log_entry("Backup job weekly ended with code 3", level=LogLevel.WARNING)) is None


def test_new_template_after_warmup_at_or_above_min_level(policy) -> None:
    """A never-seen template is reported only after warm-up and only for lines at least warning."""
    analyzer = logs(with_changes(policy, new_template={"warmup_lines": 5}))
    for i in range(5):
        assert analyzer.analyze(log_entry(f"Routine message number {i} of type alpha{i}", level=LogLevel.WARNING)) is None
    assert analyzer.analyze(log_entry("Cooling loop pressure reading drifted upward", level=LogLevel.INFO)) is None
    anomaly = analyzer.analyze(log_entry("Ballast pump controller restarted unexpectedly", level=LogLevel.WARNING))
    assert anomaly is not None and anomaly.detector == "new_template"
    assert anomaly.template == "Ballast pump controller restarted unexpectedly"
    assert anomaly.evidence["lines_seen"] == 7
    # Seen once, it is no longer new.
    assert analyzer.analyze(log_entry("Ballast pump controller restarted unexpectedly", level=LogLevel.WARNING)) is None


def test_rare_template_after_min_age_and_within_hourly_count(policy) -> None:
    """An old template seen again rarely is reported; its third sighting within the hour is not."""
    analyzer = logs(policy)
    line = "Scheduled task cleanup finished with {} warnings"
    assert analyzer.analyze(log_entry(line.format(1), level=LogLevel.WARNING, at=T0)) is None
    assert analyzer.analyze(log_entry(line.format(2), level=LogLevel.WARNING, at=T0 + timedelta(hours=2))) is None
    later = T0 + timedelta(days=2)
    first = analyzer.analyze(log_entry(line.format(3), level=LogLevel.WARNING, at=later))
    assert first is not None and first.detector == "rare_template"
    assert first.evidence["seen_last_hour"] == 1
    second = analyzer.analyze(log_entry(line.format(4), level=LogLevel.WARNING, at=later + timedelta(minutes=5)))
    assert second is not None and second.detector == "rare_template"
    assert analyzer.analyze(log_entry(line.format(5), level=LogLevel.WARNING, at=later + timedelta(minutes=9))) is None
    # Below min_level it is never rare.
    assert analyzer.analyze(log_entry(line.format(6), level=LogLevel.INFO, at=later + timedelta(days=1))) is None


# --- rate spikes ------------------------------------------------------------------------------


def _steady(analyzer: LogAnalyzer, buckets: int, per_bucket: int, *, device: str = "wlc-01", first_bucket: int = 0) -> None:
    for bucket in range(first_bucket, first_bucket + buckets):
        for n in range(per_bucket):
            at = T0 + timedelta(seconds=bucket * 10 + n)
            assert analyzer.analyze(log_entry(f"Client 10.1.{n}.{bucket % 200} roamed to AP {n}", device=device, at=at)) is None


def _flood(analyzer: LogAnalyzer, bucket: int, count: int, *, device: str = "wlc-01") -> list[AnomalyDetected]:
    found = []
    for n in range(count):
        at = T0 + timedelta(seconds=bucket * 10, milliseconds=n * 100)
        result = analyzer.analyze(log_entry(f"Client 10.2.{n}.{bucket % 200} roamed to AP {n}", device=device, at=at))
        if result is not None:
            found.append(result)
    return found


def test_rate_spike_against_the_template_baseline(policy) -> None:
    """A burst far above a template's usual rate is reported once, with its baseline and z-score."""
    analyzer = logs(policy)
    _steady(analyzer, buckets=40, per_bucket=2)
    spikes = _flood(analyzer, bucket=40, count=40)
    assert len(spikes) == 1
    spike = spikes[0]
    assert spike.detector == "rate_spike" and spike.severity == Severity.MEDIUM
    assert spike.evidence["count"] == policy.rate_spike.min_count
    assert spike.evidence["baseline"] == pytest.approx(2.0, abs=0.5)
    assert spike.evidence["z_score"] > policy.rate_spike.sigma


def test_rate_spike_is_per_device(policy) -> None:
    """Another device's burst of the same template is judged against its own (missing) baseline."""
    analyzer = logs(policy)
    _steady(analyzer, buckets=40, per_bucket=2)
    assert _flood(analyzer, bucket=40, count=40, device="wlc-02") == []


def test_rate_spike_needs_warmup_and_min_count(policy) -> None:
    """Without warm-up buckets, or below min_count lines, nothing spikes."""
    analyzer = logs(policy)
    _steady(analyzer, buckets=5, per_bucket=2)
    assert _flood(analyzer, bucket=5, count=60) == []
    calm = logs(policy)
    _steady(calm, buckets=40, per_bucket=1)
    assert _flood(calm, bucket=40, count=policy.rate_spike.min_count - 1) == []


def test_a_lasting_flood_is_reported_again_only_after_the_repeat_interval(policy) -> None:
    """A flood over consecutive buckets is reported when it starts and again after REPEAT_SECONDS."""
    # A slow baseline, so the flood stays a spike instead of becoming the new normal.
    analyzer = logs(with_changes(policy, rate_spike={"ewma_alpha": 0.001}))
    _steady(analyzer, buckets=40, per_bucket=2)
    repeat_bucket = 40 + int(REPEAT_SECONDS // 10)
    reported = [bucket for bucket in range(40, repeat_bucket + 3) if _flood(analyzer, bucket=bucket, count=40)]
    assert reported == [40, repeat_bucket]


def test_a_calm_bucket_rearms_the_rate_spike(policy) -> None:
    """After a flood ends and the rate is back to normal, the next flood is reported again."""
    analyzer = logs(policy)
    _steady(analyzer, buckets=40, per_bucket=2)
    assert len(_flood(analyzer, bucket=40, count=40)) == 1
    assert _flood(analyzer, bucket=41, count=40) == []
    _steady(analyzer, buckets=60, per_bucket=2, first_bucket=42)
    assert len(_flood(analyzer, bucket=102, count=40)) == 1


# --- one anomaly per log, ids, fields ------------------------------------------------------------


def test_one_anomaly_per_log_with_every_detector_listed(policy) -> None:
    """A line that a pattern, its severity and the new-template detector all flag is reported once, as the pattern."""
    analyzer = logs(with_changes(policy, new_template={"warmup_lines": 0}))
    anomaly = analyzer.analyze(log_entry("Modem 2: RX carrier lost", level=LogLevel.CRITICAL))
    assert anomaly is not None
    assert anomaly.detector == "log_pattern"
    assert anomaly.evidence["detectors"] == ["log_pattern", "syslog_severity", "new_template"]
    assert [other["detector"] for other in anomaly.evidence["also"]] == ["syslog_severity", "new_template"]


def test_strongest_prefers_rule_then_severity_then_score() -> None:
    """The verdict class wins over severity, severity over score."""
    rule = Verdict("log_pattern", IncidentType.AUTH_FAILURE, Severity.LOW, 0.5, 0)
    level = Verdict("syslog_severity", IncidentType.UNKNOWN, Severity.HIGH, 0.8, 1)
    spike = Verdict("rate_spike", IncidentType.UNKNOWN, Severity.MEDIUM, 0.9, 2)
    new = Verdict("new_template", IncidentType.UNKNOWN, Severity.LOW, 0.99, 2)
    assert strongest([spike, level, rule]) is rule
    assert strongest([spike, level]) is level
    assert strongest([new, spike]) is spike
    assert strongest([]) is None


def test_anomaly_id_is_deterministic_and_redelivery_repeats_the_result(policy) -> None:
    """The id is uuid5(namespace, tracking_id:detector); a redelivered log gives the identical message and counts once."""
    entry = log_entry("%LINK-3-UPDOWN: Interface Gi1/0/2, changed state to down", level=LogLevel.ERROR)
    analyzer = logs(policy)
    first = analyzer.analyze(entry)
    assert first is not None
    assert first.anomaly_id == str(uuid.uuid5(ANOMALY_NAMESPACE, f"{entry.tracking_id}:log_pattern"))
    assert first.anomaly_id == anomaly_id_for(entry.tracking_id, "log_pattern")
    again = analyzer.analyze(entry)
    assert again == first
    assert analyzer.miner.lines == 1
    # Another node judging the same log names the same anomaly.
    assert logs(policy).analyze(entry).anomaly_id == first.anomaly_id


def test_log_anomaly_carries_the_input_identity_times_and_trace(policy) -> None:
    """tracking_id, timestamps, template and the input's trace plus this stage's stamp are on the anomaly."""
    entry = log_entry("Modem 1: RX carrier lost", level=LogLevel.CRITICAL)
    anomaly = logs(policy).analyze(entry)
    assert anomaly is not None
    assert anomaly.tracking_id == entry.tracking_id and anomaly.ship_id == entry.ship_id
    assert anomaly.device_id == entry.device_id and anomaly.service == entry.service
    assert anomaly.ingestion_timestamp == entry.ingestion_timestamp
    assert anomaly.event_timestamp == entry.timestamp
    assert anomaly.detected_at == NOW
    assert anomaly.template == "Modem <NUM>: RX carrier lost" and anomaly.template_id
    assert [s.stage for s in anomaly.trace] == ["ingest", STAGE]
    assert 0 <= anomaly.score <= 1
    AnomalyDetected.model_validate_json(anomaly.model_dump_json())


def test_log_baselines_snapshot_and_restore(policy) -> None:
    """Rate and rare-template baselines survive a restart: a restored analyzer still sees the spike."""
    analyzer = logs(policy)
    _steady(analyzer, buckets=40, per_bucket=2)
    restored = logs(policy)
    restored.miner.restore(orjson.loads(orjson.dumps(analyzer.miner.snapshot())))
    restored.restore(orjson.loads(orjson.dumps(analyzer.snapshot())))
    assert len(_flood(restored, bucket=40, count=40)) == 1
    with pytest.raises(ValueError):
        restored.restore({"version": 0})


# --- metric thresholds --------------------------------------------------------------------------


def test_threshold_fires_after_hold_and_reports_the_most_severe_rule(policy) -> None:
    """SNR below 7 dB on a modem is reported when it has held 60 s, as the critical rule."""
    analyzer = metrics(policy)
    found = feed(analyzer, "snr_db", [14.0] * 5 + [5.0] * 10, device="vsat-modem-01")
    assert [t for t, _ in found] == [50 + 60]
    anomaly = found[0][1]
    assert (anomaly.detector, anomaly.severity, anomaly.incident_type) == ("metric_threshold", Severity.CRITICAL, IncidentType.LINK_DEGRADATION)
    assert anomaly.metric == "snr_db" and anomaly.value == 5.0
    assert anomaly.evidence["threshold"] == 7 and anomaly.evidence["held_seconds"] == 60
    assert anomaly.evidence["detectors"] == ["metric_threshold"]
    assert len(anomaly.evidence["also"]) == 1 and anomaly.evidence["also"][0]["threshold"] == 10
    assert anomaly.event_timestamp == T0 + timedelta(seconds=110)


def test_a_long_breach_is_reported_at_start_and_periodically_then_rearms(policy) -> None:
    """A 10-minute fade sampled every 10 s is reported at 60 s and every REPEAT_SECONDS; a new breach fires again."""
    analyzer = metrics(policy)
    fade = [8.5] * 61  # 600 s below 10 dB (high), above 7 dB
    found = feed(analyzer, "snr_db", fade + [14.0] * 3 + [8.5] * 7, device="vsat-modem-01")
    threshold = [(t, a) for t, a in found if a.detector == "metric_threshold"]
    assert [t for t, _ in threshold] == [60, 60 + REPEAT_SECONDS, 640 + 60]
    assert all(a.severity == Severity.HIGH for _, a in threshold)


def test_starlink_reconfiguration_blips_do_not_fire(policy) -> None:
    """Latency and loss blips in the 15-second reconfiguration slots never become anomalies."""
    analyzer = metrics(policy)
    found = []
    for second in range(0, 1800):
        blip = second % 15 in (12, 13)
        at = T0 + timedelta(seconds=second)
        for metric, normal, bad in (("latency_ms", 40.0 + second % 3, 450.0), ("packet_loss_pct", 0.0, 30.0)):
            result = analyzer.analyze(sample(metric, bad if blip else normal, device="starlink-01", at=at))
            if result is not None:
                found.append(result)
    assert found == []


def test_sustained_starlink_latency_fires_after_its_hold(policy) -> None:
    """The same latency held for more than 180 s is a link_degradation anomaly."""
    analyzer = metrics(policy)
    found = feed(analyzer, "latency_ms", [300.0] * 30, device="starlink-01", every=10)
    assert [t for t, a in found if a.detector == "metric_threshold"] == [180]


def test_kind_specific_thresholds_skip_unknown_devices(policy) -> None:
    """A latency rule for Starlink/LTE ignores an unregistered device and a VSAT modem."""
    analyzer = metrics(policy)
    assert feed(analyzer, "latency_ms", [300.0] * 30, device="mystery-01") == []
    assert feed(analyzer, "latency_ms", [700.0] * 30, device="vsat-modem-01") == []


def test_episode_ignores_late_samples_and_restarts_after_a_gap() -> None:
    """A late sample does not reset a breach; a breach with a long gap in samples starts over."""
    episode = Episode()
    assert episode.step(0, True, 60) is None
    assert episode.step(30, True, 60) is None
    assert episode.step(10, False, 60) is None
    assert episode.step(60, True, 60) == 60
    gap = Episode()
    gap.step(0, True, 60)
    assert gap.step(2000, True, 60) is None
    assert gap.step(2060, True, 60) == 60


# --- EWMA and MAD ---------------------------------------------------------------------------------


def test_ewma_fires_on_a_lasting_shift_beyond_three_sigma(policy) -> None:
    """Wi-Fi clients far above their EWMA band for longer than the statistical hold are one anomaly."""
    analyzer = metrics(policy)
    normal = [100.0 + (i % 5) - 2 for i in range(60)]
    found = feed(analyzer, "wifi_clients", normal + [300.0] * 6, device="wlc-01")
    assert len(found) == 1
    at, anomaly = found[0]
    assert at == 600 + STATISTICAL_HOLD_SECONDS
    assert anomaly.detector == "ewma" and anomaly.incident_type == IncidentType.NETWORK_ISSUE
    assert anomaly.evidence["z_score"] > policy.ewma.sigma
    assert anomaly.evidence["baseline"] == pytest.approx(100, abs=3)


def test_ewma_ignores_a_single_outlier(policy) -> None:
    """One sample far out of the band, then back to normal, is no anomaly."""
    analyzer = metrics(policy)
    normal = [100.0 + (i % 5) - 2 for i in range(60)]
    assert feed(analyzer, "wifi_clients", normal + [300.0] + normal[:10], device="wlc-01") == []


def test_ewma_waits_for_min_samples(policy) -> None:
    """Before min_samples nothing is judged."""
    analyzer = metrics(policy)
    assert feed(analyzer, "wifi_clients", [100.0] * 10 + [500.0] * 10, device="wlc-01") == []


def test_mad_fires_on_a_robust_outlier(policy) -> None:
    """CPU far from its rolling median (modified z-score above 3.5) for longer than the hold is one MAD anomaly."""
    analyzer = metrics(policy)
    normal = [20.0 + ((i * 7) % 9) - 4 for i in range(60)]
    found = feed(analyzer, "cpu_pct", normal + [60.0] * 5, device="srv-01")
    assert len(found) == 1
    anomaly = found[0][1]
    assert anomaly.detector == "mad" and anomaly.incident_type == IncidentType.RESOURCE_PRESSURE
    assert anomaly.evidence["modified_z"] > policy.mad.threshold
    assert anomaly.evidence["median"] == pytest.approx(20, abs=1)


def test_threshold_beats_statistical_detectors(policy) -> None:
    """When a threshold and EWMA fire on the same sample, the anomaly is the threshold's, listing both."""
    analyzer = metrics(with_changes(policy, ewma={"metrics": ("disk_pct",)}))
    normal = [50.0 + (i % 3) for i in range(40)]
    found = feed(analyzer, "disk_pct", normal + [99.0] * 2, device="srv-01", every=60)
    assert len(found) == 1
    anomaly = found[0][1]
    assert anomaly.detector == "metric_threshold" and anomaly.severity == Severity.CRITICAL
    assert anomaly.evidence["detectors"] == ["metric_threshold", "ewma"]


def test_metric_anomaly_fields_and_idempotent_redelivery(policy) -> None:
    """A metric anomaly carries metric, value and a readable message; a redelivered sample repeats it."""
    analyzer = metrics(policy)
    feed(analyzer, "disk_pct", [98.0] * 6, device="srv-01")
    last = sample("disk_pct", 98.5, device="srv-01", at=T0 + timedelta(seconds=60), unit="%")
    anomaly = analyzer.analyze(last)
    assert anomaly is not None
    assert anomaly.message == "disk_pct 98.5 % on srv-01: disk_pct > 97 for 60 s"
    assert anomaly.anomaly_id == anomaly_id_for(last.tracking_id, "metric_threshold")
    assert analyzer.analyze(last) is anomaly


def test_metric_baselines_snapshot_and_restore(policy) -> None:
    """A restored analyzer continues a breach's hold timer and its EWMA baseline."""
    analyzer = metrics(policy)
    feed(analyzer, "snr_db", [5.0] * 4, device="vsat-modem-01")
    restored = metrics(policy)
    restored.restore(orjson.loads(orjson.dumps(analyzer.snapshot())))
    found = feed(restored, "snr_db", [5.0] * 4, device="vsat-modem-01", start=T0 + timedelta(seconds=40))
    assert [t for t, _ in found] == [20]
