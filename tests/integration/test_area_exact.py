"""Today's geography end to end: a worker and the API configured for Hai Phong (province
31, 114 commune-level units) count a stream spread over all its units exactly like the
independent reference, per unit and for the province: events naming their unit as
``area``, as the v1 ``district``, or with a leading zero too many; pre-2025 district codes
rejected as unknown_area. The rest of the suite runs on the historic profile, so both
geographies are checked against the same reference."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ioc.geography import load_geography
from tests.generator import AREAS as HISTORIC_CODES
from tests.generator import generate_stream
from tests.integration.conftest import Pipeline, Services, running_pipeline
from tests.integration.kpi_check import assert_exact
from tests.reference_kpis import accepted_events, expected_gauges, rejected_count

pytestmark = pytest.mark.integration

HAI_PHONG = load_geography("31")
CODES = sorted(HAI_PHONG.area_codes)
NOW = datetime.now(UTC)
# Mostly today's units; one event in 40 names a former Hai Duong district (gone since 2025).
STREAM = generate_stream(13, NOW, 3000, areas=CODES * 39 + HISTORIC_CODES[:3] * 38)


@pytest.fixture(scope="module")
def hai_phong(services: Services) -> Iterator[Pipeline]:
    with running_pipeline(services, "p_area31", env={"IOC_PROVINCE": "31"}) as pipe:
        pipe.publish(STREAM)
        pipe.wait_processed()
        yield pipe


def test_the_api_says_which_geography(hai_phong: Pipeline) -> None:
    body = hai_phong.get("/api/v1/areas")
    assert body["province"] == {"code": "31", "name": "Thành phố Hải Phòng"}
    assert [a["code"] for a in body["areas"]] == [u.code for u in HAI_PHONG.units]
    assert len(body["areas"]) == 114
    assert Counter(a["kind"] for a in body["areas"]) == {"xã": 67, "phường": 45, "đặc khu": 2}


def test_every_unit_and_the_province_equal_the_reference(hai_phong: Pipeline) -> None:
    accepted = accepted_events(STREAM, set(CODES), NOW)
    assert len({e["data"]["area"] for e in accepted}) == 114  # every unit has data
    assert_exact(hai_phong, STREAM, NOW, HAI_PHONG)


def test_gauges_per_unit_equal_the_reference(hai_phong: Pipeline) -> None:
    events = accepted_events(STREAM, set(CODES), NOW)
    for scope in ["", *CODES]:
        for kpi in ("dossier.open", "dossier.overdue_open"):
            body = hai_phong.get(f"/api/v1/kpis/{kpi}/current", **({"area": scope} if scope else {}))
            at = datetime.fromisoformat(body["as_of"])
            assert body["value"] == expected_gauges(events, at).get((kpi, scope), 0), (kpi, scope)


def test_district_is_area_and_leading_zeros_do_not_matter(hai_phong: Pipeline) -> None:
    code = CODES[5]
    end = (NOW + timedelta(hours=1)).isoformat()
    start = (NOW - timedelta(days=4)).isoformat()
    params = {"bucket": "1d", "start": start, "end": end}
    by_area = hai_phong.get("/api/v1/kpis/dossier.received/series", area=code, **params)
    assert by_area["area"] == by_area["district"] == code and by_area["points"]
    for spelled in ({"district": code}, {"area": "0" + code}, {"area": code, "district": code}):
        assert hai_phong.get("/api/v1/kpis/dossier.received/series", **spelled, **params) == by_area
    refused = httpx.get(f"{hai_phong.api_url}/api/v1/kpis/dossier.received/series",
                        params={"area": HISTORIC_CODES[0]},
                        headers={"Authorization": f"Bearer {hai_phong.tokens['operator']}"})
    assert refused.status_code == 422 and "unknown area code" in refused.text


def test_former_districts_are_dead_letters_named_unknown_area(hai_phong: Pipeline) -> None:
    letters = hai_phong.dead_letters()
    assert len(letters) == rejected_count(STREAM, set(CODES), NOW)
    unknown = [json.loads(value) for headers, value in letters
               if headers["ioc-reason-code"] == "unknown_area"]
    named = {e["data"].get("area", e["data"].get("district")).lstrip("0") for e in unknown}
    assert set(HISTORIC_CODES[:3]) <= named and len(unknown) > 20
    assert all(HAI_PHONG.canonical(code) is None for code in named)
