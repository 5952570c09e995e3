"""Schemathesis fuzzes every HTTP route of the real API's OpenAPI (a real API process over
the embedded broker and PostgreSQL) with every role's token and with none: no answer is a
5xx or a dropped connection, and every status is one the OpenAPI documents (docs/contract/api.md:
"no client input of any kind, on any route, gets a 5xx or a connection reset").

Each operation gets a bounded number of schema-conforming and of schema-violating cases
(``FUZZ_EXAMPLES``, ``IOC_FUZZ_EXAMPLES`` to change it), and each case is sent once per role,
so the test keeps to a few minutes on two cores. /ws is not HTTP and is not in the OpenAPI.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration

FUZZ_EXAMPLES = int(os.environ.get("IOC_FUZZ_EXAMPLES", "20"))
"""Cases per operation and generation mode (each sent with every role)."""
ROLES = ("integrator", "operator", "leader", "admin", None)
PROTECTED_OFFSET = 10**12
"""Key ids the fuzz may revoke are moved past the real ones: it must not revoke its own tokens."""


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def _guard(case: schemathesis.Case, protected: set[int]) -> None:
    """Keep the fuzz from revoking the keys it uses (other destructive routes are harmless)."""
    if case.operation.path == "/api/v1/keys/{key_id}/revoke" and case.path_parameters:
        key_id = case.path_parameters.get("key_id")
        if isinstance(key_id, int) and key_id in protected:
            case.path_parameters["key_id"] = key_id + PROTECTED_OFFSET


def _key_ids(pipeline: Pipeline, session: requests.Session) -> set[int]:
    answer = session.get(f"{pipeline.api_url}/api/v1/keys", timeout=30,
                         headers={"Authorization": f"Bearer {pipeline.tokens['admin']}"})
    answer.raise_for_status()
    return {int(k["id"]) for k in answer.json()}


def _fuzz(operation: Any, pipeline: Pipeline, session: requests.Session, protected: set[int],
          failures: list[str], seen: set[int]) -> None:
    """Send ``FUZZ_EXAMPLES`` conforming and as many violating cases, each with every role."""
    strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):  # an operation with nothing to negate
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @given(case=st.one_of(strategies))
    @settings(max_examples=2 * FUZZ_EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        _guard(case, protected)
        for role in ROLES:
            headers = {"Authorization": f"Bearer {pipeline.tokens[role]}"} if role else {}
            try:
                response = case.call(base_url=pipeline.api_url, session=session, headers=headers,
                                     timeout=30)
            except requests.RequestException as exc:
                failures.append(f"{operation.label} as {role}: {type(exc).__name__}: {exc}\n"
                                f"  {case.as_curl_command()}")
                continue
            seen.add(response.status_code)
            try:
                case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup
                failures.append(f"{operation.label} as {role}: {str(exc)[:700]}")

    fuzz()


def test_fuzz_every_route_with_every_role_gets_no_5xx_and_only_documented_statuses(
        pipeline: Pipeline, session: requests.Session) -> None:
    schema = schemathesis.openapi.from_url(f"{pipeline.api_url}/openapi.json", timeout=30)
    protected = _key_ids(pipeline, session)
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:
        _fuzz(operation, pipeline, session, protected, failures,
              statuses.setdefault(operation.label, set()))

    assert _key_ids(pipeline, session) >= protected  # the fuzz ran with the keys it started with
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])
    assert any(200 <= s < 300 for codes in statuses.values() for s in codes), statuses
