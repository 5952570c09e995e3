"""The ``subscribe`` message as the live feed reads it (api/routes/live_feed.py, docs/feed.md)."""

from __future__ import annotations

from typing import Any

import pytest

from api.fanout import Subscription
from api.routes.live_feed import MAX_PARTS, parse_subscription, subscription_in

AREAS = frozenset({"10507", "10510"})


def parse(raw: dict[str, Any]) -> Subscription:
    return parse_subscription(raw, AREAS, lambda code: code.lstrip("0") or None)


def test_the_fields_and_their_absence() -> None:
    assert parse({}) == Subscription()
    sub = parse({"kpis": ["payment.count"], "areas": ["province", "010507"], "buckets": ["1d"],
                 "stations": None})
    assert sub == Subscription(kpis=frozenset({"payment.count"}), areas=frozenset({"", "10507"}),
                               buckets=frozenset({"1d"}), stations=None)
    assert parse({"districts": ["10510"]}).areas == {"10510"}  # the v1 name


def test_parts_add_what_they_name_and_nothing_else() -> None:
    sub = parse({"kpis": ["dossier.received", "payment.count"], "areas": ["province"],
                 "also": [{"kpis": ["dossier.on_time_rate"], "areas": None, "buckets": ["1d", "now"]},
                          {"kpis": ["payment.count"], "districts": ["010510"]}]})
    assert sub.also == (
        Subscription(kpis=frozenset({"dossier.on_time_rate"}), buckets=frozenset({"1d", "now"})),
        Subscription(kpis=frozenset({"payment.count"}), areas=frozenset({"10510"})))
    assert sub.all_kpis() == {"dossier.received", "payment.count", "dossier.on_time_rate"}
    assert sub.stations == frozenset()


@pytest.mark.parametrize(("raw", "says"), [
    ({"also": {"kpis": None}}, "'also' must be a list of objects"),
    ({"also": ["x"]}, "'also' must be a list of objects"),
    ({"also": [{}] * (MAX_PARTS + 1)}, f"at most {MAX_PARTS} parts"),
    ({"also": [{"stations": None}]}, "not stations"),
    ({"also": [{"also": []}]}, "not also"),
    ({"also": [{"kpis": ["no.such"]}]}, "unknown kpis: no.such"),
    ({"also": [{"areas": ["99999"]}]}, "unknown areas: 99999"),
    ({"kpis": "payment.count"}, "'kpis' must be a list of strings or null"),
    ({"buckets": ["1w"]}, "unknown buckets: 1w"),
])
def test_a_bad_subscription_says_what_is_wrong(raw: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse(raw)


def test_an_auth_message_may_carry_a_subscription() -> None:
    assert subscription_in({"type": "auth", "token": "t"}, AREAS, str) is None
    carried = subscription_in({"type": "auth", "token": "t", "subscribe": {"kpis": ["payment.count"]}},
                              AREAS, str)
    assert carried == Subscription(kpis=frozenset({"payment.count"}))
    assert subscription_in({"type": "auth", "token": "t", "subscribe": None}, AREAS, str) is None
    with pytest.raises(ValueError, match="subscribe: must be an object"):
        subscription_in({"subscribe": ["payment.count"]}, AREAS, str)
    with pytest.raises(ValueError, match="subscribe: unknown areas: 99"):
        subscription_in({"subscribe": {"areas": ["99"]}}, AREAS, str)
