"""Ship-to-shore logic: what leaves the ship (redacted, no raw log line), its subject and msg_id,
the NATS leaf configuration, and what the shore hub stores of what arrives."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from aiops_core.bus import STREAMS, encode, fleet_stream_config, model_for, node_consumers
from aiops_core.models import EnrichedIncident, IncidentChange, IncidentStatus, Severity, SimilarIncident, utc_now
from aiops_core.policy import load_policy
from aiops_core.settings import Settings
from services.incident_api.handlers import Rows, incident_row
from services.shore_sync import handlers
from services.shore_sync.leaf import jetstream_domain, leafnode_config, local_only_subjects
from tests.shore_sync_data import CARD_LIKE_UUID, PII, RAW_LINE_MARKER, SHIP, change, insight

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="module")
def policy():
    return load_policy(POLICIES, SHIP)


@pytest.fixture(scope="module")
def privacy(policy):
    return policy.privacy


def send(message, privacy, summaries=None, outbox=None):
    """What the ship's outbox makes of one input (None: nothing leaves)."""
    outbox = outbox or handlers.Outbox(privacy, summaries or load_policy(POLICIES, SHIP).notify.shore_sync)
    return outbox.message_for(message, started=utc_now())


def shipped(message, privacy) -> bytes:
    out = send(message, privacy)
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
    out = send(change(incident_id=CARD_LIKE_UUID), privacy)
    assert out.message.incident.incident_id == CARD_LIKE_UUID
    assert out.message.incident.tracking_ids == [CARD_LIKE_UUID]
    assert out.message.incident.evidence[0]["tracking_id"] == CARD_LIKE_UUID


def test_raw_log_lines_never_leave_when_privacy_keeps_them_on_board(privacy):
    """With raw_logs false the triggering anomaly and the evidence's quoted lines are dropped."""
    assert privacy.shore_sync.raw_logs is False
    out = send(change("updated"), privacy)
    assert out.message.trigger is None
    assert all("message" not in entry for entry in out.message.incident.evidence)
    assert out.message.incident.evidence[0]["template"] == "payment declined card <*> for <*>"
    assert RAW_LINE_MARKER not in encode(out.message).decode()


def test_raw_lines_that_a_ship_allows_out_are_still_redacted(privacy):
    """raw_logs true keeps the trigger, but its line goes through the privacy rules."""
    allowing = privacy.model_copy(update={"shore_sync": privacy.shore_sync.model_copy(update={"raw_logs": True})})
    out = send(change(), allowing)
    assert RAW_LINE_MARKER in out.message.trigger.message
    assert PII["card"] not in out.message.trigger.message and PII["email"] not in out.message.trigger.message


def test_nothing_leaves_when_privacy_keeps_incidents_on_board(privacy):
    """shore_sync.incidents false: the forwarder acks the input and sends nothing, not even a summary."""
    closed = privacy.model_copy(update={"shore_sync": privacy.shore_sync.model_copy(update={"incidents": False})})
    assert send(change(), closed) is None
    assert send(insight(CARD_LIKE_UUID), closed) is None


def test_subject_and_msg_id_derive_from_the_input(privacy):
    """The same change gives the same msg_id (a redelivery dedups); kind and version tell changes apart."""
    created = change(incident_id=CARD_LIKE_UUID)
    first = send(created, privacy)
    again = send(created, privacy)
    updated = send(change("updated", incident_id=CARD_LIKE_UUID, version=2), privacy)
    status = send(change("status", incident_id=CARD_LIKE_UUID, version=2), privacy)
    explained = send(insight(CARD_LIKE_UUID, version=2), privacy)
    assert first.msg_id == again.msg_id
    assert len({first.msg_id, updated.msg_id, status.msg_id, explained.msg_id}) == 4
    assert first.subject == f"shore.incidents.{SHIP}"
    assert explained.subject == f"shore.insights.{SHIP}"
    assert model_for(first.subject) is IncidentChange and model_for(explained.subject) is EnrichedIncident


def test_a_ship_id_with_a_dot_becomes_one_subject_token(privacy):
    """Dots split NATS subjects and are invalid in a JetStream domain: they become underscores."""
    out = send(change(ship_id="ms.aurora"), privacy)
    assert out.subject == "shore.incidents.ms_aurora"
    assert out.message.incident.ship_id == "ms.aurora"


def test_a_redacted_text_that_outgrew_its_field_is_cut_to_fit(privacy):
    """A replacement longer than what it replaced never makes the message invalid."""
    title = "x" * 238 + f" passport {PII['passport']}"
    assert len(title) == 256
    out = send(change(title=title), privacy)
    assert len(out.message.incident.title) == 256
    assert PII["passport"] not in out.message.incident.title


def test_the_outbox_stamps_insights_with_its_stage(privacy):
    """An insight's trace keeps its first stamp (the change it explains) and gains the outbox's."""
    out = send(insight(CARD_LIKE_UUID), privacy)
    assert [s.stage for s in out.message.trace] == ["incident", handlers.OUTBOX_STAGE]


def test_a_batch_sends_only_the_newest_update_of_an_incident_and_of_its_insight():
    """Under fan-in one incident changes many times a batch: its older updates and insights stay
    on board, its creation and an operator's status change always go, other incidents untouched."""
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    batch = [
        change("created", incident_id=a, version=1),             # 0: a creation always goes
        change("updated", incident_id=a, version=2),             # 1: superseded by 4
        change("status", incident_id=a, version=3, status=IncidentStatus.ACKNOWLEDGED),  # 2: always
        insight(a, version=1),                                    # 3: superseded by 6
        change("updated", incident_id=a, version=4),             # 4: newest of a
        change("updated", incident_id=b, version=7),             # 5: only version of b
        insight(a, version=4),                                    # 6: newest insight of a
        change("updated", incident_id=b, version=6),             # 7: older than 5, arriving late
    ]
    assert handlers.superseded(batch) == {1, 3, 7}
    assert handlers.superseded(batch[:2]) == set()  # an update newer than the creation goes too
    assert handlers.superseded([]) == set()


async def test_the_forwarder_acks_superseded_inputs_without_sending_them(privacy):
    """The batch handler answers every input: redacted copies for those that go, nothing for the rest."""
    from aiops_core.bus import Incoming
    from services.shore_sync.app import outbox_forwarder

    outbox = handlers.Outbox(privacy, load_policy(POLICIES, SHIP).notify.shore_sync)
    a = str(uuid.uuid4())
    messages = [change("created", incident_id=a), change("updated", incident_id=a, version=2),
                change("updated", incident_id=a, version=3)]
    items = [Incoming(message=m, raw=None, subject="incidents.updated") for m in messages]
    results = await outbox_forwarder(outbox)(items)
    assert [len(r) for r in results] == [1, 0, 1]
    assert [r[0].message.incident.version for r in results if r] == [1, 3]


async def test_the_forwarder_lets_other_tasks_run_between_two_redactions(privacy):
    """Nobody waits for the outbox, so a batch of fan-in incidents must not hold the node's event
    loop from its first redaction to its last: a task woken meanwhile runs in between."""
    import asyncio

    from aiops_core.bus import Incoming
    from services.shore_sync.app import outbox_forwarder

    order: list[str] = []

    class RecordingOutbox(handlers.Outbox):
        def message_for(self, message, *, started):
            order.append(f"redact {message.incident.incident_id[:4]}")
            return super().message_for(message, started=started)

    outbox = RecordingOutbox(privacy, load_policy(POLICIES, SHIP).notify.shore_sync)
    messages = [change("created", incident_id=f"{n}000" + str(uuid.uuid4())[4:]) for n in range(1, 4)]
    items = [Incoming(message=m, raw=None, subject="incidents.created") for m in messages]

    async def other() -> None:
        order.append("other")

    forwarding = asyncio.create_task(outbox_forwarder(outbox)(items))
    waiting = asyncio.create_task(other())
    results = await forwarding
    await waiting
    assert [len(r) for r in results] == [1, 1, 1]
    assert order[0] == "redact 1000" and order[-1] == "redact 3000"
    assert "other" in order[1:-1]


def test_summaries_of_incidents_below_the_notify_severity_stay_on_board(policy):
    """notify.yaml shore_sync.min_severity: a low incident's insight is not worth the satellite bytes."""
    outbox = handlers.Outbox(policy.privacy, policy.notify.shore_sync)
    assert policy.notify.shore_sync.min_severity.value == "medium"
    low = change(incident_id=CARD_LIKE_UUID)
    low = low.model_copy(update={"incident": low.incident.model_copy(update={"severity": Severity.LOW})})
    assert outbox.message_for(low, started=utc_now()) is not None  # the incident itself still goes
    assert outbox.message_for(insight(CARD_LIKE_UUID), started=utc_now()) is None
    outbox.message_for(change("updated", incident_id=CARD_LIKE_UUID, version=2), started=utc_now())  # now high
    assert outbox.message_for(insight(CARD_LIKE_UUID, version=2), started=utc_now()) is not None


def test_a_summary_of_an_incident_not_seen_since_a_restart_is_sent(policy):
    """Severity only saves bytes: without it (the change was acked before a restart) the summary goes."""
    assert send(insight(CARD_LIKE_UUID), policy.privacy) is not None


@pytest.mark.parametrize("where", ["privacy", "notify"])
def test_summaries_can_be_kept_on_board_by_either_policy(policy, where):
    """privacy.yaml shore_sync.summaries false, or notify.yaml shore_sync.enabled false: no insights leave."""
    privacy, summaries = policy.privacy, policy.notify.shore_sync
    if where == "privacy":
        privacy = privacy.model_copy(update={"shore_sync": privacy.shore_sync.model_copy(update={"summaries": False})})
    else:
        summaries = summaries.model_copy(update={"enabled": False})
    assert send(insight(CARD_LIKE_UUID), privacy, summaries) is None
    assert send(change(), privacy, summaries) is not None


def test_a_summary_fits_the_notify_budget(policy):
    """max_summary_chars bounds root cause, impact and recommendations together; similar incidents lose their resolution."""
    summaries = policy.notify.shore_sync.model_copy(update={"max_summary_chars": 120})
    long = insight(CARD_LIKE_UUID)
    long = long.model_copy(update={"insight": long.insight.model_copy(update={
        "root_cause": "r" * 80, "impact": "i" * 30, "recommendations": ["a" * 30, "b" * 30],
        "similar_incidents": [SimilarIncident(incident_id="x", title="old one", similarity=0.8, resolution="z" * 500)],
    })})
    sent = send(long, policy.privacy, summaries).message.insight
    assert (sent.root_cause, sent.impact, sent.recommendations) == ("r" * 80, "i" * 30, ["a" * 10])
    assert [(s.title, s.resolution) for s in sent.similar_incidents] == [("old one", None)]


def test_the_shore_keeps_an_officers_acknowledgement_over_a_later_open_update():
    """A status change made on board outranks correlation's later 'open', as on the ship."""
    rows, operator_status = Rows(), {}
    stored_at = utc_now()
    acked = change("status", incident_id=CARD_LIKE_UUID, version=2, status=IncidentStatus.ACKNOWLEDGED)
    handlers.add_fleet_message(rows, acked, stored_at=stored_at, operator_status=operator_status)
    handlers.add_fleet_message(rows, change("updated", incident_id=CARD_LIKE_UUID, version=3),
                               stored_at=stored_at, operator_status=operator_status)
    status_column = 5
    assert [incident_row(i)[status_column] for i in rows.incidents] == ["acknowledged", "acknowledged"]


def test_the_shore_stores_the_timeline_and_insight_of_what_arrives(privacy):
    """Timeline events become event rows (the anomalies stay on board); an insight becomes an insight row."""
    rows = Rows()
    arrived = send(change("updated", incident_id=CARD_LIKE_UUID, version=2), privacy)
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
    with pytest.raises(ValueError):
        jetstream_domain(Settings(ship_id="shore"))


def test_fleet_sources_each_ships_outbox_through_its_domain():
    """FLEET has one source per ship, SHORE_OUTBOX reached through `$JS.<ship>.API`."""
    config = fleet_stream_config(["ms-aurora", "ms.b", "ms-aurora"])
    assert [(s.name, s.external.api) for s in config.sources] == [
        ("SHORE_OUTBOX", "$JS.ms-aurora.API"), ("SHORE_OUTBOX", "$JS.ms_b.API"),
    ]
    assert Settings(fleet_ships=" MS-Aurora, ms-b ,").fleet_ship_ids() == ["ms-aurora", "ms-b"]


def test_a_ship_and_a_hub_declare_and_watch_only_their_own_durables():
    """A ship has no FLEET reader; a hub has no outbox forwarder, whose lag would only grow there
    and fire ConsumerLagHigh."""
    ship = {spec.durable for spec in node_consumers(shore=False)}
    hub = {spec.durable for spec in node_consumers(shore=True)}
    assert "shore-outbox" in ship and "fleet" not in ship
    assert "fleet" in hub and "shore-outbox" not in hub
    assert ship - {"shore-outbox"} == hub - {"fleet"}
