"""Schemathesis against a live node's OpenAPI spec: no generated request makes any route answer 5xx.

Schemathesis' own pytest plugin does not load under pytest 9, so the test walks the operations
itself and runs one Hypothesis search per operation and generation mode (valid and invalid data)."""

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 25


def test_no_route_answers_a_server_error(node):
    """Any request the spec allows, and any it does not, gets a 2xx/4xx answer with the admin token."""
    schema = schemathesis.openapi.from_url(f"{node.url}/openapi.json")
    headers = {"authorization": f"Bearer {node.token()}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    with requests.Session() as session:
        for operation in operations:
            for mode in schemathesis.GenerationMode:

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck), derandomize=True)
                def search(case):
                    response = case.call(base_url=node.url, session=session, headers=headers, timeout=30)
                    if response.status_code >= 500:
                        failures.append(f"{operation.label} [{mode.value}] -> {response.status_code}: "
                                        f"{response.text[:200]}\n  {case.as_curl_command()}")

                try:
                    search()
                except Unsatisfiable:
                    # No invalid request exists for an operation without inputs (e.g. GET /health).
                    assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    assert not failures, "\n".join(failures[:20]) + f"\n(node log: {node.log_path})"
