"""Ship-to-shore logic: what leaves the ship (redacted, no raw log line), its subject and msg_id,
the NATS leaf configuration, and what the shore hub stores of what arrives."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiops_core.bus import STREAMS, Rejected, encode, fleet_stream_config, model_for
from aiops_core.models import EnrichedIncident, IncidentChange, IncidentStatus, utc_now
from aiops_core.policy import load_policy
from aiops_core.settings import Settings
from services.incident_api.handlers import Rows
from services.shore_sync import handlers
from services.shore_sync.leaf import jetstream_domain, leafnode_config, local_only_subjects
from tests.shore_sync_data import CARD_LIKE_UUID, PII, RAW_LINE_MARKER, SHIP, change, incident, insight

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="module")
def privacy():
    return load_policy(POLICIES, SHIP).privacy


def shipped(message, privacy) -> bytes:
    out = handlers.outbox_message(message, privacy, started=utc_now())
    assert out is not None
    return encode(out.message)


def test_no_personal_data_leaves_in_an_incident_change(privacy):
    """Every kind of personal data privacy.yaml names is gone from every field of a change."""
    data = shipped(change(), privacy).decode()
    for kind, value in PII.items():
        assert value not in data, kind
    assert "[EMAIL]" in data and "[PHONE]" in data and "cabin [REDACTED]" in data


def test_no_personal_data_leaves_in_an_insight(privacy):
    """An insight's root cause, impact and recommendations are redacted too."""
    data = shipped(insight(CARD_LIKE_UUID), privacy).decode()
    for kind, value in PII.items():
        assert value not in data, kind


def test_identifiers_are_not_mistaken_for_personal_data(privacy):
    """A digit-only UUID that the card rule would match passes untouched, so the shore can join on it."""
    out = handlers.outbox_message(change(incident_id=CARD_LIKE_UUID), privacy, started=utc_now())
    assert out.message.incident.incident_id == CARD_LIKE_UUID
    assert out.message.incident.tracking_ids == [CARD_LIKE_UUID]
    assert out.message.incident.evidence[0]["tracking_id"] == CARD_LIKE_UUID


def test_raw_log_lines_never_leave_when_privacy_keeps_them_on_board(privacy):
    """With raw_logs false the triggering anomaly and the evidence's quoted lines are dropped."""
    assert privacy.shore_sync.raw_logs is False
    out = handlers.outbox_message(change("updated"), privacy, started=utc_now())
    assert out.message.trigger is None
    assert all("message" not in entry for entry in out.message.incident.evidence)
    assert out.message.incident.evidence[0]["template"] == "payment declined card <*> for <*>"
    assert RAW_LINE_MARKER not in encode(out.message).decode()


def test_raw_lines_that_a_ship_allows_out_are_still_redacted(privacy):
    """raw_logs true keeps the trigger, but its line goes through the privacy rules."""
    allowing = privacy.model_copy(update={"shore_sync": privacy.shore_sync.model_copy(update={"raw_logs": True})})
    out = handlers.outbox_message(change(), allowing, started=utc_now())
    assert RAW_LINE_MARKER in out.message.trigger.message
    assert PII["card"] not in out.message.trigger.message and PII["email"] not in out.message.trigger.message


def test_nothing_leaves_when_privacy_keeps_incidents_on_board(privacy):
    """shore_sync.incidents false: the forwarder acks the input and sends nothing."""
    closed = privacy.model_copy(update={"shore_sync": privacy.shore_sync.model_copy(update={"incidents": False})})
    assert handlers.outbox_message(change(), closed, started=utc_now()) is None


def test_subject_and_msg_id_derive_from_the_input(privacy):
    """The same change gives the same msg_id (a redelivery dedups); kind and version tell changes apart."""
    created = change(incident_id=CARD_LIKE_UUID)
    first = handlers.outbox_message(created, privacy, started=utc_now())
    again = handlers.outbox_message(created, privacy, started=utc_now())
    updated = handlers.outbox_message(change("updated", incident_id=CARD_LIKE_UUID, version=2), privacy, started=utc_now())
    status = handlers.outbox_message(change("status", incident_id=CARD_LIKE_UUID, version=2), privacy, started=utc_now())
    explained = handlers.outbox_message(insight(CARD_LIKE_UUID, version=2), privacy, started=utc_now())
    assert first.msg_id == again.msg_id
    assert len({first.msg_id, updated.msg_id, status.msg_id, explained.msg_id}) == 4
    assert first.subject == f"shore.incidents.{SHIP}"
    assert explained.subject == f"shore.insights.{SHIP}"
    assert model_for(first.subject) is IncidentChange and model_for(explained.subject) is EnrichedIncident


def test_a_ship_id_with_a_dot_becomes_one_subject_token(privacy):
    """Dots split NATS subjects and are invalid in a JetStream domain: they become underscores."""
    out = handlers.outbox_message(change(ship_id="ms.aurora"), privacy, started=utc_now())
    assert out.subject == "shore.incidents.ms_aurora"
    assert out.message.incident.ship_id == "ms.aurora"


def test_a_redacted_text_that_outgrew_its_field_is_cut_to_fit(privacy):
    """A replacement longer than what it replaced never makes the message invalid."""
    title = "x" * 238 + f" passport {PII['passport']}"
    assert len(title) == 256
    out = handlers.outbox_message(change(title=title), privacy, started=utc_now())
    assert len(out.message.incident.title) == 256
    assert PII["passport"] not in out.message.incident.title


def test_the_outbox_stamps_insights_with_its_stage(privacy):
    """An insight's trace keeps its first stamp (the change it explains) and gains the outbox's."""
    out = handlers.outbox_message(insight(CARD_LIKE_UUID), privacy, started=utc_now())
    assert [s.stage for s in out.message.trace] == ["incident", handlers.OUTBOX_STAGE]


def test_the_shore_keeps_an_officers_acknowledgement_over_a_later_open_update():
    """A status change made on board outranks correlation's later 'open', as on the ship."""
    rows, operator_status = Rows(), {}
    stored_at = utc_now()
    acked = change("status", incident_id=CARD_LIKE_UUID, version=2, status=IncidentStatus.ACKNOWLEDGED)
    handlers.add_fleet_message(rows, acked, stored_at=stored_at, operator_status=operator_status)
    handlers.add_fleet_message(rows, change("updated", incident_id=CARD_LIKE_UUID, version=3),
                               stored_at=stored_at, operator_status=operator_status)
    status_column = 5
    assert [row[status_column] for row in rows.incidents] == ["acknowledged", "acknowledged"]


def test_the_shore_stores_the_timeline_and_insight_of_what_arrives(privacy):
    """Timeline events become event rows (the anomalies stay on board); an insight becomes an insight row."""
    rows = Rows()
    arrived = handlers.outbox_message(change("updated", incident_id=CARD_LIKE_UUID, version=2), privacy, started=utc_now())
    handlers.add_fleet_message(rows, arrived.message, stored_at=utc_now(), operator_status={})
    assert rows.anomalies == []
    handlers.add_fleet_message(rows, insight(CARD_LIKE_UUID, version=2), stored_at=utc_now(), operator_status={})
    assert [row[2] for row in rows.events] == ["anomaly"]
    assert [row[0] for row in rows.insights] == [CARD_LIKE_UUID]


def test_a_ship_leaf_denies_every_stream_subject_both_ways():
    """Only JetStream's own sourcing traffic may cross the link: every stream subject is denied."""
    config = leafnode_config(Settings(ship_id=SHIP, shore_leaf_url="nats://shore.example:7422"))
    denied = local_only_subjects()
    for spec in STREAMS:
        for subject in spec.subjects:
            assert subject in denied
    assert "logs.raw" in denied and "shore.>" in denied and "$KV.>" in denied
    assert config.count('"logs.raw"') == 2
    assert 'url: "nats://shore.example:7422"' in config


def test_leaf_configuration_per_role():
    """A ship without a shore URL has no leaf link; a hub listens; domains are ship id or shore."""
    assert leafnode_config(Settings(ship_id=SHIP)) == ""
    hub = Settings(node_role="shore", leafnode_host="127.0.0.1", leafnode_port=17422)
    assert 'listen: "127.0.0.1:17422"' in leafnode_config(hub)
    assert jetstream_domain(hub) == "shore"
    assert jetstream_domain(Settings(ship_id="ms.aurora")) == "ms_aurora"


def test_fleet_sources_each_ships_outbox_through_its_domain():
    """FLEET has one source per ship, SHORE_OUTBOX reached through `$JS.<ship>.API`."""
    config = fleet_stream_config(["ms-aurora", "ms.b", "ms-aurora"])
    assert [(s.name, s.external.api) for s in config.sources] == [
        ("SHORE_OUTBOX", "$JS.ms-aurora.API"), ("SHORE_OUTBOX", "$JS.ms_b.API"),
    ]
    assert Settings(fleet_ships=" MS-Aurora, ms-b ,").fleet_ship_ids() == ["ms-aurora", "ms-b"]
