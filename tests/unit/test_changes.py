"""The change topic's messages: the worker's JSON text equals the dict it stands for."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ioc.changes import (
    CHANGES_PER_RECORD,
    change_message,
    change_message_text,
    change_messages,
    pack_changes,
    pack_texts,
)
from ioc.kpis.buckets import Bucket
from ioc.storage.kpi_cells import StoredCell

ICT = timedelta(hours=7)
AT = datetime(2026, 12, 3, 9, 59, tzinfo=UTC)


@pytest.mark.parametrize("cell", [
    StoredCell(Bucket.MINUTE, "dossier.received", "11560", "", "", AT, 17, 0, 3),
    StoredCell(Bucket.HOUR, "dossier.received", "", "", "", AT, 0, 0, 1),
    StoredCell(Bucket.DAY, "dossier.online_rate", "00004", "", "", AT, 2, 3, 12),
    StoredCell(Bucket.DAY, "payment.non_cash_rate", "", "", "", AT, 0, 0, 2),
    StoredCell(Bucket.MINUTE, "payment.non_cash_value_rate", "288", "", "", AT,
               10**15 + 7, 3 * 10**15 + 1, 99),
    StoredCell(Bucket.HOUR, "payment.value_vnd", "Q\"1\\", "", "", AT, 9 * 10**17, 0, 5),
])
def test_text_is_the_message_with_changed_at(cell: StoredCell) -> None:
    changed_at = "2026-12-03T17:00:00.123456+07:00"
    text = change_message_text(cell, ICT, changed_at)
    assert json.loads(text) == {**change_message(cell, ICT), "changed_at": changed_at}
    assert text == json.dumps({**change_message(cell, ICT), "changed_at": changed_at},
                              separators=(",", ":"))


def test_texts_pack_as_messages_do() -> None:
    cells = [StoredCell(Bucket.MINUTE, "dossier.on_time_rate", str(n), "", "", AT, n, n + 1, n)
             for n in range(CHANGES_PER_RECORD + 3)]
    texts = [change_message_text(c, ICT, "x") for c in cells]
    dicts = [change_message(c, ICT) for c in cells]
    packed = pack_texts(texts)
    assert packed == pack_changes(dicts, "x") and len(packed) == 2
    assert [m for v in packed for m in change_messages(v)] == [{**d, "changed_at": "x"}
                                                               for d in dicts]
    assert pack_texts([]) == []
