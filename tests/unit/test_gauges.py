"""Dossier gauges: equal to the reference at many instants; order of arrival is irrelevant."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ioc.events import Event, Rules
from ioc.geography import HISTORIC, load_geography
from ioc.intake import RawRecord, triage
from ioc.kpis.gauges import DossierFacts, Receipt, dossier_facts, feedback_facts, gauges_at
from tests.generator import generate_stream
from tests.reference_kpis import accepted_events, expected_gauges

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
REF = load_geography(HISTORIC)
STREAM = generate_stream(9, NOW, 3000)


def accepted() -> list[Event]:
    return triage([RawRecord("t", 0, i, r) for i, r in enumerate(STREAM)], Rules(REF), NOW).accepted


def test_gauges_equal_the_reference_at_many_instants() -> None:
    facts = dossier_facts(accepted())
    feedback = feedback_facts(accepted())
    reference_events = accepted_events(STREAM, set(REF.area_codes), NOW)
    instants = [NOW - timedelta(minutes=m) for m in range(0, 4 * 24 * 60, 97)]
    nonzero: dict[str, int] = {}
    for t in instants:
        got = {**gauges_at(facts.values(), t), **gauges_at(feedback.values(), t, "feedback")}
        assert got == expected_gauges(reference_events, t), t
        for kpi in ("dossier.overdue_open", "dossier.due_soon", "feedback.open",
                    "feedback.overdue_open"):
            nonzero[kpi] = nonzero.get(kpi, 0) + bool(got.get((kpi, "")))
    assert all(n > 10 for n in nonzero.values()), nonzero


def test_a_resolution_before_its_receipt_closes_it() -> None:
    t0 = NOW - timedelta(hours=3)
    facts = DossierFacts(closed_at=t0).merge(DossierFacts())
    facts = facts.merge(DossierFacts(receipt=Receipt(t0 + timedelta(hours=1), "288", NOW)))
    assert not facts.open_at(NOW)
    assert not facts.open_at(t0 + timedelta(hours=2))


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(6)))
def test_facts_do_not_depend_on_arrival_order(order: list[int]) -> None:
    events = accepted()
    chunks = [events[i::6] for i in range(6)]
    merged: dict[str, DossierFacts] = {}
    for index in order:
        for dossier, facts in dossier_facts(chunks[index]).items():
            merged[dossier] = merged[dossier].merge(facts) if dossier in merged else facts
    assert merged == dossier_facts(events)
