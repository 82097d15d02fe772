"""Correlation's output ids across a crash between publishing and persisting (found by make chaos)."""

from aiops_core.policy import load_policy
from services.correlation.app import CorrelationRole
from services.correlation.state import CorrelationState, IncidentState, Meta
from tests.unit.test_correlation import POLICIES, anomaly, correlator


def persisted_copy(role: CorrelationRole) -> CorrelationState:
    """The state as the KV bucket holds it (through its JSON form)."""
    c = role.correlator
    return CorrelationState(
        incidents={i: IncidentState.from_json(s.to_json()) for i, s in c.incidents.items()},
        meta=Meta.from_json(c.meta.to_json()),
    )


def role_on(state: CorrelationState | None) -> CorrelationRole:
    role = CorrelationRole()
    role.correlator = correlator(load_policy(POLICIES).correlate, state)
    return role


def test_a_change_made_after_a_crash_never_reuses_a_published_id_and_counts_each_anomaly_once():
    """Crash after publishing anomaly B's change but before persisting: on restart anomaly C comes
    first and gets B's version, yet a different msg id (so JetStream keeps it); B's redelivery is
    then filed once more under a new id, and the incident counts A, B and C once each."""
    a, b, c = (anomaly("res-db-01", "resource_pressure", at=t, message=f"disk full {t}") for t in (0, 10, 20))
    before = role_on(None)
    before._correlate(a)
    snapshot = persisted_copy(before)
    [b_first] = before._correlate(b)

    after = role_on(snapshot)
    [c_out] = after._correlate(c)
    [b_again] = after._correlate(b)

    assert c_out.message.incident.version == b_first.message.incident.version
    assert len({b_first.msg_id, c_out.msg_id, b_again.msg_id}) == 3
    assert b_again.message.incident.anomaly_count == 3
    assert b_again.message.incident.incident_id == b_first.message.incident.incident_id


def test_a_replay_of_the_same_anomaly_on_the_same_state_reuses_its_id():
    """The plain redelivery (same state, same anomaly) gives the same msg id, which JetStream drops."""
    a, b = (anomaly("res-db-01", "resource_pressure", at=t, message=f"disk full {t}") for t in (0, 10))
    first = role_on(None)
    first._correlate(a)
    snapshot = persisted_copy(first)
    [original] = first._correlate(b)
    [replayed] = role_on(snapshot)._correlate(b)
    assert replayed.msg_id == original.msg_id
