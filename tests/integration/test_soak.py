"""``ioc soak`` for two minutes: ``ioc up`` under load (HTTP ingest and payment webhooks, with
duplicates, late and invalid events, 10,000 malformed ones and a WebSocket client that never
reads) while its parts are SIGKILLed; nothing acknowledged is lost or counted twice, and each
part comes back."""

from __future__ import annotations

import pytest

from bench.soak.report import report_lines
from bench.soak.run import run_soak
from ioc.geography import HISTORIC, load_geography

pytestmark = pytest.mark.integration

FAULTS = ("worker", "api", "postgres", "payments", "broker")
"""Each part once (``ioc soak`` kills the worker three times): five faults fit in two minutes."""


def test_two_minute_soak_loses_nothing_and_counts_nothing_twice() -> None:
    result = run_soak(2, 200, load_geography(HISTORIC), faults=FAULTS)
    print("\n".join(report_lines(result)))
    assert result.acknowledged > 10_000
    assert (result.lost, result.kpi_missing, result.vnd_missing) == (0, 0, 0)
    assert (result.double_counted, result.vnd_double_counted, result.wrong_cells) == (0, 0, 0), \
        result.wrong_examples
    assert result.all_recovered(), [f.line() for f in result.faults]
    assert (result.malformed_posted, result.malformed_rejected) == (10_000, 10_000)
    assert result.invalid_rejected > 0 and not result.unexpected
    assert result.unacknowledged == 0
