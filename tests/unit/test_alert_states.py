"""An alert's states have one definition, :class:`ioc.alerts.machine.AlertState`: the storage,
the API, the wall and the console (JavaScript constants, read here) agree with it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest

from ioc.alerts.machine import OPEN_STATES, AlertState, State, track_state
from ioc.alerts.rules import PROVINCE, alert_scope, scope_parts

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
WALL_JS = DASHBOARDS / "wall" / "wall.js"
PAGES_JS = [WALL_JS, DASHBOARDS / "console" / "i18n.js"]


def js_list(name: str, script: Path = WALL_JS) -> list[str]:
    found = re.search(rf"^const {name} = (\[[^\]]*\]);", script.read_text(encoding="utf-8"), re.M)
    assert found, f"{script.name} defines no {name}"
    return list(json.loads(found.group(1)))


@pytest.mark.parametrize("script", PAGES_JS, ids=lambda p: p.parent.name)
def test_the_pages_know_every_alert_state_and_which_are_open(script: Path) -> None:
    assert js_list("ALERT_STATES", script) == [s.value for s in AlertState]
    assert js_list("OPEN_ALERT_STATES", script) == [s.value for s in OPEN_STATES]


def test_storage_and_the_api_take_their_states_from_the_enum() -> None:
    from api.routes.alerts import Alert
    from ioc.storage.alert_episodes import OPEN

    assert OPEN == ("pending", "firing", "acknowledged")
    schema = Alert.model_json_schema()["properties"]["state"]
    assert schema["enum"] == ["pending", "firing", "acknowledged", "resolved", "cancelled"]
    assert get_args(Alert.model_fields["state"].annotation) == tuple(AlertState)


def test_a_stored_state_is_a_state_of_the_machine() -> None:
    assert track_state("cancelled") is State.INACTIVE
    assert [track_state(s) for s in OPEN_STATES] == [State.PENDING, State.FIRING, State.ACKNOWLEDGED]
    assert track_state(AlertState.RESOLVED) is State.RESOLVED


def test_the_scope_string_is_built_and_read_in_one_place() -> None:
    for area, station in ((None, None), ("288", None), (None, "HD-01")):
        assert scope_parts(alert_scope(area, station)) == (area, station)
    assert alert_scope(None, None) == PROVINCE == ""
    assert alert_scope("288", None) == "288"
    assert alert_scope(None, "HD-01") == "station:HD-01"
