"""Typed policies: the segmented YAML files in `policies/`, validated into frozen Pydantic models.

`load_policy(dir, ship_id)` reads every segment file, deep-merges `ships/<ship_id>.yaml` over them
(mappings merge, lists and scalars are replaced) and validates. Anything wrong raises `PolicyError`
naming the file, the dotted field path and the reason. `policy_diff` lists the leaves where a
ship's effective policy differs from the defaults.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aiops_core.models import Identifier, IncidentType, LogLevel, Severity

# --- Shared vocabulary (docs/CONVENTIONS.md) -----------------------------------------------------
# Severity, LogLevel and IncidentType are the message contracts' enums; the rest exist only here.

DeviceKind = Literal[
    "core_router", "access_switch", "firewall", "wlc", "access_point", "vsat_modem",
    "antenna_controller", "starlink_terminal", "lte_router", "server", "dhcp_server", "dns_server",
    "pos", "reservations", "app_server",
]

MetricName = Literal[
    "snr_db", "esno_db", "ber", "latency_ms", "packet_loss_pct", "throughput_mbps", "cpu_pct",
    "mem_pct", "disk_pct", "fw_sessions_pct", "dhcp_pool_pct", "wifi_clients", "dns_fail_pct",
    "if_errors",
]

ActionName = Literal[
    "restart_service", "failover_path", "reset_connection", "clear_cache", "rotate_logs",
    "reboot_device", "throttle_guest_wifi",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

IDENTIFIER_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
DEFAULT_POLICIES_DIR = Path(__file__).resolve().parent.parent / "policies"


def log_level_at_least(level: LogLevel | str, minimum: LogLevel | str) -> bool:
    """True when `level` is as severe as `minimum` or more (error is at least warning)."""
    # LogLevel is declared in syslog order, emergency (0) first.
    order = list(LogLevel)
    return order.index(LogLevel(level)) <= order.index(LogLevel(minimum))


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def _clock_time_from_text(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 22:00 as the sexagesimal integer 1320, which Pydantic would
    # silently take as 00:22:00; only text is accepted so that mistake fails loudly.
    if not isinstance(value, (str, time)):
        raise ValueError('a time of day must be quoted text such as "22:00"')
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


Regex = Annotated[str, AfterValidator(_compiles)]
ClockTime = Annotated[time, BeforeValidator(_clock_time_from_text)]
HttpUrlText = Annotated[str, AfterValidator(_http_url)]
Seconds = Annotated[int, Field(ge=0)]
PositiveSeconds = Annotated[int, Field(gt=0)]
Percent = Annotated[float, Field(ge=0, le=100)]


class PolicyModel(BaseModel):
    """Base of every policy model: unknown keys are errors and loaded policies are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _CompiledRegex(PolicyModel):
    """A model with a `regex` field, compiled once and exposed as `pattern`."""

    regex: Regex
    _pattern: re.Pattern[str] = PrivateAttr()

    def model_post_init(self, __context: Any) -> None:
        self._pattern = re.compile(self.regex)

    @property
    def pattern(self) -> re.Pattern[str]:
        return self._pattern


# --- ingest.yaml ----------------------------------------------------------------------------------


class SyslogListener(PolicyModel):
    enabled: bool
    udp_port: int = Field(ge=1, le=65535)
    tcp_port: int = Field(ge=1, le=65535)


class SourceRateLimit(PolicyModel):
    lines_per_second: int = Field(gt=0, description="Sustained lines per second per source host.")
    burst: int = Field(gt=0, description="Token-bucket depth: lines a source may send at once.")


class IngestPolicy(PolicyModel):
    max_message_bytes: int = Field(ge=256, description="Longer log lines are truncated.")
    max_batch: int = Field(gt=0, description="Most lines accepted in one POST /api/v3/logs.")
    default_ship_id: Identifier = Field(
        description="Ship id stamped when neither the sender nor the node settings name one."
    )
    syslog: SyslogListener
    accept_future_skew_seconds: Seconds = Field(
        description="An event timestamp further ahead of the ingestion clock is not trusted; "
        "the ingestion timestamp is used instead."
    )
    rate_limit_per_source: SourceRateLimit


# --- detect.yaml ----------------------------------------------------------------------------------


class LogPattern(_CompiledRegex):
    """A log-pattern rule; rules are tried in file order and the first match wins."""

    name: Identifier
    incident_type: IncidentType
    severity: Severity
    score: float = Field(ge=0, le=1, description="Confidence that a match is a real anomaly.")


class IgnorePattern(_CompiledRegex):
    """A line matching an ignore pattern is stored but never becomes an anomaly."""

    name: Identifier
    reason: str = Field(min_length=1)


class SyslogSeverityMap(PolicyModel):
    """Severity of an anomaly raised for a line's syslog level alone; null = not anomalous."""

    emergency: Severity | None
    alert: Severity | None
    critical: Severity | None
    error: Severity | None
    warning: Severity | None
    notice: Severity | None
    info: Severity | None
    debug: Severity | None

    def severity_for(self, level: LogLevel | str) -> Severity | None:
        return getattr(self, LogLevel(level).value)


class MaskRule(_CompiledRegex):
    """A Drain3 masking instruction: variable tokens replaced before template mining."""

    mask_with: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$", description="Mask name, e.g. IP.")


class TemplateMiner(PolicyModel):
    sim_th: float = Field(gt=0, lt=1, description="Drain similarity threshold.")
    depth: int = Field(ge=3, description="Drain parse-tree depth.")
    max_children: int = Field(gt=0)
    max_clusters: int = Field(gt=0)
    snapshot_interval_seconds: PositiveSeconds = Field(
        description="How often miner state is persisted."
    )
    masking: tuple[MaskRule, ...]


class NewTemplateDetector(PolicyModel):
    enabled: bool
    warmup_lines: int = Field(ge=0, description="Lines seen before new templates count.")
    severity: Severity
    incident_type: IncidentType
    min_level: LogLevel = Field(description="Only lines at least this severe are reported.")

    def applies_to(self, level: LogLevel | str) -> bool:
        return self.enabled and log_level_at_least(level, self.min_level)


class RareTemplateDetector(PolicyModel):
    enabled: bool
    max_count_per_hour: int = Field(ge=1, description="At most this many sightings is rare.")
    min_age_seconds: Seconds = Field(
        description="Younger templates are left to the new-template detector."
    )
    severity: Severity
    incident_type: IncidentType
    min_level: LogLevel

    def applies_to(self, level: LogLevel | str) -> bool:
        return self.enabled and log_level_at_least(level, self.min_level)


class RateSpikeDetector(PolicyModel):
    enabled: bool
    ewma_alpha: float = Field(gt=0, le=1)
    sigma: float = Field(gt=0, description="Spike = count above mean + sigma * stddev.")
    min_count: int = Field(ge=1, description="Buckets with fewer lines never spike.")
    bucket_seconds: PositiveSeconds
    warmup_buckets: int = Field(ge=0)
    severity: Severity
    incident_type: IncidentType


class MetricThreshold(PolicyModel):
    """Breached when `value op threshold` holds continuously for `hold_seconds`."""

    metric: MetricName
    op: Literal["lt", "gt"]
    value: float
    hold_seconds: Seconds
    severity: Severity
    incident_type: IncidentType
    device_kinds: tuple[DeviceKind, ...] | None = Field(
        default=None, description="Only these device kinds; null = every kind."
    )

    def applies_to(self, metric: str, device_kind: str | None) -> bool:
        if metric != self.metric:
            return False
        return self.device_kinds is None or device_kind in self.device_kinds

    def breached_by(self, value: float) -> bool:
        return value < self.value if self.op == "lt" else value > self.value


class EwmaDetector(PolicyModel):
    alpha: float = Field(gt=0, le=1)
    sigma: float = Field(gt=0)
    min_samples: int = Field(ge=1)
    severity: Severity
    metrics: tuple[MetricName, ...]


class MadDetector(PolicyModel):
    window: int = Field(ge=3, description="Samples in the rolling median window.")
    threshold: float = Field(gt=0, description="Modified z-score (0.6745 * |x - median| / MAD).")
    min_samples: int = Field(ge=3)
    severity: Severity
    metrics: tuple[MetricName, ...]


class DetectPolicy(PolicyModel):
    ignore_patterns: tuple[IgnorePattern, ...]
    log_patterns: tuple[LogPattern, ...]
    syslog_severity: SyslogSeverityMap
    template: TemplateMiner
    new_template: NewTemplateDetector
    rare_template: RareTemplateDetector
    rate_spike: RateSpikeDetector
    metric_thresholds: tuple[MetricThreshold, ...]
    metric_incident_types: dict[MetricName, IncidentType] = Field(
        description="Incident type of EWMA/MAD anomalies per metric."
    )
    ewma: EwmaDetector
    mad: MadDetector

    @field_validator("log_patterns")
    @classmethod
    def _unique_names(cls, patterns: tuple[LogPattern, ...]) -> tuple[LogPattern, ...]:
        names = [p.name for p in patterns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate pattern names: {', '.join(duplicates)}")
        return patterns

    @field_validator("ewma", "mad")
    @classmethod
    def _metrics_have_incident_type(cls, detector: Any, info: ValidationInfo) -> Any:
        known = info.data.get("metric_incident_types") or {}
        missing = [m for m in detector.metrics if m not in known]
        if missing:
            raise ValueError(f"metrics without an entry in metric_incident_types: {missing}")
        return detector


# --- correlate.yaml -------------------------------------------------------------------------------


class CorrelationWindows(PolicyModel):
    """Seconds an incident keeps absorbing anomalies of its type; unset types use `default`."""

    default: PositiveSeconds
    link_degradation: PositiveSeconds | None = None
    comms_outage: PositiveSeconds | None = None
    network_issue: PositiveSeconds | None = None
    resource_pressure: PositiveSeconds | None = None
    auth_failure: PositiveSeconds | None = None
    security_alert: PositiveSeconds | None = None
    app_degradation: PositiveSeconds | None = None
    power_or_hardware: PositiveSeconds | None = None
    config_change: PositiveSeconds | None = None
    unknown: PositiveSeconds | None = None

    def seconds_for(self, incident_type: IncidentType | str) -> int:
        value = getattr(self, IncidentType(incident_type).value)
        return self.default if value is None else value


class WeeklySchedule(PolicyModel):
    """A recurring window in UTC; an end at or before the start runs past midnight."""

    days: tuple[Weekday, ...] = Field(min_length=1, description="Days the window starts on.")
    start_time: ClockTime
    end_time: ClockTime

    def is_active(self, at: datetime) -> bool:
        at = at.astimezone(timezone.utc)
        now, day = at.time().replace(tzinfo=None), WEEKDAYS[at.weekday()]
        start, end = self.start_time.replace(tzinfo=None), self.end_time.replace(tzinfo=None)
        if start < end:
            return day in self.days and start <= now < end
        previous_day = WEEKDAYS[(at.weekday() - 1) % 7]
        return (day in self.days and now >= start) or (previous_day in self.days and now < end)


class MaintenanceWindow(PolicyModel):
    """Either a one-off window (`start`, `end`) or a recurring one (`weekly`)."""

    name: str = Field(min_length=1)
    ship_id: Identifier | None = Field(default=None, description="null = every ship.")
    devices: tuple[str, ...] = Field(
        default=(), description="device_id globs; empty = every device of the ship."
    )
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    weekly: WeeklySchedule | None = None

    @model_validator(mode="after")
    def _one_schedule(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        if one_off and self.weekly is not None:
            raise ValueError("give either start/end or weekly, not both")
        if not one_off and self.weekly is None:
            raise ValueError("give start and end, or weekly")
        if one_off and (self.start is None or self.end is None or self.end <= self.start):
            raise ValueError("a one-off window needs both start and end, with end after start")
        return self

    def is_active(self, at: datetime) -> bool:
        if self.weekly is not None:
            return self.weekly.is_active(at)
        assert self.start is not None and self.end is not None
        return self.start <= at < self.end

    def covers(self, ship_id: str, device_id: str, at: datetime) -> bool:
        if self.ship_id is not None and self.ship_id != ship_id:
            return False
        if self.devices and not any(fnmatch.fnmatchcase(device_id, g) for g in self.devices):
            return False
        return self.is_active(at)


class StormControl(PolicyModel):
    max_new_incidents_per_minute: int = Field(
        gt=0, description="Beyond this rate new incidents are folded into one storm incident."
    )
    action: Literal["aggregate"]


class FlappingControl(PolicyModel):
    transitions: int = Field(
        ge=2, description="Open/resolve transitions within the window that mark flapping."
    )
    window_seconds: PositiveSeconds


class RuleMatch(PolicyModel):
    """Every given field must match; globs use fnmatch syntax, the template glob ignores case."""

    incident_type: IncidentType | None = None
    device_id: str | None = Field(default=None, description="device_id glob.")
    template: str | None = Field(default=None, description="Log template glob, any case.")

    @model_validator(mode="after")
    def _not_empty(self) -> RuleMatch:
        if self.incident_type is None and self.device_id is None and self.template is None:
            raise ValueError("a match needs at least one of incident_type, device_id, template")
        return self

    def matches(
        self, incident_type: str, device_id: str | None = None, template: str | None = None
    ) -> bool:
        if self.incident_type is not None and incident_type != self.incident_type:
            return False
        if self.device_id is not None and not fnmatch.fnmatchcase(device_id or "", self.device_id):
            return False
        if self.template is None:
            return True
        return fnmatch.fnmatchcase((template or "").lower(), self.template.lower())


class SuppressionRule(PolicyModel):
    name: Identifier
    match: RuleMatch
    action: Literal["suppress", "downgrade"] = Field(
        description="suppress: incident is kept with status suppressed; downgrade: one level lower."
    )


class Suppression(PolicyModel):
    maintenance_windows: tuple[MaintenanceWindow, ...]
    storm: StormControl
    flapping: FlappingControl
    rules: tuple[SuppressionRule, ...]


class EscalationCondition(PolicyModel):
    """Every given condition must hold."""

    anomaly_count_gte: int | None = Field(default=None, ge=1)
    device_count_gte: int | None = Field(default=None, ge=1)
    incident_types: tuple[IncidentType, ...] | None = None
    root_device_kinds: tuple[DeviceKind, ...] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> EscalationCondition:
        if all(v is None for v in self.__dict__.values()):
            raise ValueError("an escalation needs at least one condition")
        return self


class EscalationRule(PolicyModel):
    name: Identifier
    when: EscalationCondition
    raise_levels: int = Field(default=0, ge=0, le=3, description="Levels to raise, capped.")
    at_least: Severity | None = Field(default=None, description="Severity floor.")

    @model_validator(mode="after")
    def _has_effect(self) -> EscalationRule:
        if self.raise_levels == 0 and self.at_least is None:
            raise ValueError("an escalation needs raise_levels > 0 or at_least")
        return self


class TopologyCorrelation(PolicyModel):
    enabled: bool
    max_hops: int = Field(ge=1, description="Upstream hops searched for a root-cause device.")


class CorrelatePolicy(PolicyModel):
    windows: CorrelationWindows
    dedup_ttl_seconds: PositiveSeconds = Field(
        description="An anomaly whose fingerprint was seen within this TTL is a duplicate."
    )
    max_incident_age_seconds: PositiveSeconds = Field(
        description="An open incident older than this stops absorbing anomalies."
    )
    suppression: Suppression
    severity_map: tuple[EscalationRule, ...] = Field(
        description="Escalation rules, all applied in order."
    )
    topology: TopologyCorrelation


# --- notify.yaml ----------------------------------------------------------------------------------


class LogChannel(PolicyModel):
    enabled: bool


class WebhookChannel(PolicyModel):
    enabled: bool
    url: HttpUrlText | None = None
    timeout_seconds: float = Field(gt=0)
    min_severity: Severity = Field(description="Stricter than the global minimum if higher.")

    @model_validator(mode="after")
    def _url_when_enabled(self) -> WebhookChannel:
        if self.enabled and self.url is None:
            raise ValueError("an enabled webhook needs a url")
        return self


class NotifyChannels(PolicyModel):
    log: LogChannel
    webhook: WebhookChannel


class QuietHours(PolicyModel):
    """Times are UTC; an end at or before the start runs past midnight."""

    enabled: bool
    start_time: ClockTime
    end_time: ClockTime
    min_severity: Severity = Field(description="Only this severity or higher notifies then.")


class ShoreSummarySync(PolicyModel):
    enabled: bool
    min_severity: Severity
    max_summary_chars: int = Field(gt=0, description="Satellite bandwidth is paid per byte.")


class NotifyPolicy(PolicyModel):
    channels: NotifyChannels
    min_severity: Severity
    quiet_hours: QuietHours
    shore_sync: ShoreSummarySync


# --- remediate.yaml -------------------------------------------------------------------------------


class ParameterHint(PolicyModel):
    type: Literal["string", "integer", "number", "boolean"]
    required: bool
    description: str = ""
    pattern: Regex | None = None
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


class ActionPolicy(PolicyModel):
    description: str = Field(min_length=1)
    risk: Literal["low", "medium", "high"]
    requires_approval: bool = Field(description="A person must approve before it runs.")
    approvals_required: int = Field(ge=0, le=3, description="Distinct approvers needed.")
    auto_approve: bool = Field(description="Runs without a person; only for low risk.")
    cooldown_seconds: Seconds = Field(description="Minimum gap between runs on one device.")
    only_in_maintenance_window: bool
    pre_checks: tuple[str, ...]
    post_checks: tuple[str, ...]
    device_kinds: tuple[DeviceKind, ...] = Field(min_length=1)
    parameters: dict[str, ParameterHint]

    @field_validator("requires_approval")
    @classmethod
    def _approval_unless_low_risk(cls, value: bool, info: ValidationInfo) -> bool:
        if not value and info.data.get("risk") in ("medium", "high"):
            raise ValueError("medium and high risk actions require approval")
        return value

    @field_validator("approvals_required")
    @classmethod
    def _approvals_consistent(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("risk") == "high" and value < 2:
            raise ValueError("high risk actions need two approvers (two-person rule)")
        if info.data.get("requires_approval") and value < 1:
            raise ValueError("must be at least 1 when requires_approval is true")
        if info.data.get("requires_approval") is False and value != 0:
            raise ValueError("must be 0 when requires_approval is false")
        return value

    @field_validator("auto_approve")
    @classmethod
    def _auto_only_low_risk(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("risk") != "low":
            raise ValueError("only low risk actions may be auto-approved")
        if value and info.data.get("requires_approval"):
            raise ValueError("cannot be true together with requires_approval")
        return value


class CommandExecutor(PolicyModel):
    timeout_seconds: float = Field(gt=0)
    commands: dict[ActionName, tuple[str, ...]] = Field(
        description="argv templates per action; {device_id} and parameters are substituted."
    )


class HttpHookExecutor(PolicyModel):
    url: HttpUrlText | None = None
    timeout_seconds: float = Field(gt=0)
    verify_tls: bool


class Executor(PolicyModel):
    mode: Literal["dry_run", "command", "http_hook"] = Field(
        description="dry_run records what would run and changes nothing."
    )
    command: CommandExecutor
    http_hook: HttpHookExecutor

    @model_validator(mode="after")
    def _mode_configured(self) -> Executor:
        if self.mode == "http_hook" and self.http_hook.url is None:
            raise ValueError("mode http_hook needs http_hook.url")
        if self.mode == "command" and not self.command.commands:
            raise ValueError("mode command needs command.commands")
        return self


class RemediatePolicy(PolicyModel):
    actions: dict[ActionName, ActionPolicy] = Field(
        description="The allowlist: an action not listed here is never proposed or run."
    )
    approval_ttl_seconds: PositiveSeconds = Field(
        description="A proposal not approved within this time expires."
    )
    max_concurrent_actions: int = Field(ge=1)
    maintenance_windows: tuple[MaintenanceWindow, ...] = Field(
        description="When actions with only_in_maintenance_window may run."
    )
    executor: Executor


# --- llm.yaml -------------------------------------------------------------------------------------


class CircuitBreaker(PolicyModel):
    failure_threshold: int = Field(ge=1, description="Consecutive failures that open the circuit.")
    reset_seconds: PositiveSeconds = Field(description="Open time before one trial call.")


class RagCollections(PolicyModel):
    runbooks: str = Field(min_length=1)
    incidents: str = Field(min_length=1)


class RagSettings(PolicyModel):
    top_k: int = Field(ge=1, le=20)
    min_similarity: float = Field(ge=0, le=1, description="Cosine similarity floor.")
    collections: RagCollections
    embedding_model: str = Field(min_length=1)


class LlmPolicy(PolicyModel):
    enabled: bool = Field(description="false = always the deterministic fallback insight.")
    provider: Literal["ollama", "openai"]
    model: str = Field(min_length=1)
    timeout_seconds: float = Field(gt=0)
    max_concurrency: int = Field(ge=1)
    cache_ttl_seconds: Seconds = Field(description="Reuse of an insight for the same signature.")
    circuit_breaker: CircuitBreaker
    rag: RagSettings
    temperature: float = Field(ge=0, le=2)
    max_tokens: int = Field(ge=16)


# --- retention.yaml -------------------------------------------------------------------------------


class TableTtlDays(PolicyModel):
    logs_raw: int = Field(ge=1)
    anomalies: int = Field(ge=1)
    incidents: int = Field(ge=1)
    incident_events: int = Field(ge=1)
    pipeline_trace: int = Field(ge=1)
    llm_cache: int = Field(ge=1)
    actions: int = Field(ge=1)
    approvals: int = Field(ge=1)
    audit_log: int = Field(ge=1)


class DiskWatermarks(PolicyModel):
    high_pct: Percent = Field(description="Above this the oldest raw logs are dropped early.")
    critical_pct: Percent = Field(description="Above this raw log archiving stops.")

    @field_validator("critical_pct")
    @classmethod
    def _above_high(cls, value: float, info: ValidationInfo) -> float:
        high = info.data.get("high_pct")
        if high is not None and value <= high:
            raise ValueError("must be above high_pct")
        return value


class RetentionPolicy(PolicyModel):
    ttl_days: TableTtlDays
    disk_watermarks: DiskWatermarks


# --- privacy.yaml ---------------------------------------------------------------------------------


class RedactRule(_CompiledRegex):
    name: Identifier
    replacement: str = Field(pattern=r"^[^\\]*$", description="Literal text, no backreferences.")

    def apply(self, text: str) -> str:
        return self.pattern.sub(lambda _m: self.replacement, text)


class ShoreSyncScope(PolicyModel):
    """What may leave the ship over the satellite link."""

    incidents: bool
    summaries: bool
    raw_logs: bool


class PrivacyPolicy(PolicyModel):
    redact: tuple[RedactRule, ...] = Field(description="Applied in order.")
    apply_to: tuple[Literal["shore_sync", "llm_prompt", "api", "archive"], ...] = Field(
        description="Where redaction is applied."
    )
    shore_sync: ShoreSyncScope

    def redact_text(self, text: str) -> str:
        for rule in self.redact:
            text = rule.apply(text)
        return text


# --- slo.yaml -------------------------------------------------------------------------------------


class SloObjective(PolicyModel):
    target: float = Field(gt=0)
    bound: Literal["max", "min"] = Field(
        description="max: the measured value must stay at or below target; min: at or above."
    )
    description: str = Field(min_length=1)


class SloPolicy(PolicyModel):
    window_days: int = Field(ge=1, description="Evaluation window of the objectives.")
    fast_path_p99_ms: SloObjective
    insight_path_p99_ms: SloObjective
    error_rate_pct: SloObjective
    ingest_events_per_s: SloObjective
    availability_pct: SloObjective

    @field_validator("availability_pct", "error_rate_pct")
    @classmethod
    def _percent(cls, objective: SloObjective) -> SloObjective:
        if objective.target > 100:
            raise ValueError("a percentage target must be at most 100")
        return objective


# --- the whole policy -----------------------------------------------------------------------------


def _cross_segment_problems(llm: LlmPolicy, slo: SloPolicy) -> list[tuple[str, str, str]]:
    """(segment, field, reason) for rules that span segments."""
    budget_ms = slo.insight_path_p99_ms.target
    if llm.timeout_seconds * 1000 >= budget_ms:
        return [(
            "llm", "timeout_seconds",
            f"must be below the insight path SLO (slo.insight_path_p99_ms.target = "
            f"{budget_ms:g} ms) so the fallback insight still arrives in time",
        )]
    return []


class Policy(PolicyModel):
    ingest: IngestPolicy
    detect: DetectPolicy
    correlate: CorrelatePolicy
    notify: NotifyPolicy
    remediate: RemediatePolicy
    llm: LlmPolicy
    retention: RetentionPolicy
    privacy: PrivacyPolicy
    slo: SloPolicy

    @model_validator(mode="after")
    def _cross_segment(self) -> Policy:
        problems = _cross_segment_problems(self.llm, self.slo)
        if problems:
            raise ValueError("; ".join(f"{s}.{f}: {r}" for s, f, r in problems))
        return self


SEGMENTS: tuple[str, ...] = tuple(Policy.model_fields)
_SEGMENT_MODELS: dict[str, type[PolicyModel]] = {
    name: field.annotation for name, field in Policy.model_fields.items()  # type: ignore[misc]
}


# --- loading --------------------------------------------------------------------------------------


class PolicyError(ValueError):
    """A policy file is missing, unreadable or invalid; the message names file and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([f"{path}: file is missing"]) from None
    except OSError as exc:
        raise PolicyError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = exc.problem or ""
        if exc.context:
            started = f" started at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            reason = f"{exc.context}{started}: {reason}"
        raise PolicyError([f"{path}: {where}invalid YAML: {reason}"]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([f"{path}: invalid YAML: {exc}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError([f"{path}: the top level must be a mapping, got {type(data).__name__}"])
    return data


def _deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else (lists included) is replaced by the override."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    return override


def _set_by(override: Any, loc: tuple[Any, ...]) -> bool:
    """True when the value at `loc` (or a parent of it) comes from the override tree."""
    node = override
    for part in loc:
        if not isinstance(node, dict):
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _describe(error: Any) -> tuple[str, str]:
    loc = ".".join(str(p) for p in error["loc"]) or "(top level)"
    reason = error["msg"]
    value = error.get("input")
    if error["type"] != "missing" and not isinstance(value, (dict, list)):
        shown = repr(value)
        reason += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    return loc, reason


def load_policy(policies_dir: Path, ship_id: str | None = None) -> Policy:
    """Load every segment file, apply `ships/<ship_id>.yaml` when present, and validate."""
    policies_dir = Path(policies_dir)
    raw = {segment: _read_yaml(policies_dir / f"{segment}.yaml") for segment in SEGMENTS}

    ship_path: Path | None = None
    overrides: dict[str, Any] = {}
    if ship_id is not None:
        if not re.match(IDENTIFIER_PATTERN, ship_id):
            raise PolicyError([f"ship_id {ship_id!r}: does not match {IDENTIFIER_PATTERN}"])
        candidate = policies_dir / "ships" / f"{ship_id}.yaml"
        if candidate.exists():
            ship_path, overrides = candidate, _read_yaml(candidate)
    unknown = sorted(set(overrides) - set(SEGMENTS))
    if unknown:
        raise PolicyError([
            f"{ship_path}: {key}: not a policy segment (expected one of {', '.join(SEGMENTS)})"
            for key in unknown
        ])

    problems: list[str] = []
    segments: dict[str, PolicyModel] = {}
    for segment in SEGMENTS:
        override = overrides.get(segment)
        if override is not None and not isinstance(override, dict):
            problems.append(f"{ship_path}: {segment}: must be a mapping of the segment's fields")
            continue
        data = _deep_merge(raw[segment], override) if override else raw[segment]
        try:
            segments[segment] = _SEGMENT_MODELS[segment].model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                loc, reason = _describe(error)
                if override and _set_by(override, tuple(error["loc"])):
                    problems.append(f"{ship_path}: {segment}.{loc}: {reason}")
                else:
                    problems.append(f"{policies_dir / f'{segment}.yaml'}: {loc}: {reason}")
    if problems:
        raise PolicyError(problems)

    cross = _cross_segment_problems(segments["llm"], segments["slo"])  # type: ignore[arg-type]
    if cross:
        raise PolicyError([
            f"{ship_path if segment in overrides else policies_dir / f'{segment}.yaml'}: "
            f"{field}: {reason}"
            for segment, field, reason in cross
        ])
    return Policy(**segments)


# --- diff -----------------------------------------------------------------------------------------

_ABSENT = object()


def _leaves(value: Any, prefix: str, out: dict[str, Any]) -> None:
    # Lists are leaves: an override replaces a list as a whole, so the diff shows it whole.
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _leaves(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def policy_diff(default: Policy, effective: Policy) -> list[dict[str, Any]]:
    """`{"path", "default", "effective"}` for every leaf that differs, JSON-ready, in path order."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _leaves(default.model_dump(mode="json"), "", before)
    _leaves(effective.model_dump(mode="json"), "", after)
    diff = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path, _ABSENT), after.get(path, _ABSENT)
        if old != new:
            diff.append({
                "path": path,
                "default": None if old is _ABSENT else old,
                "effective": None if new is _ABSENT else new,
            })
    return diff
