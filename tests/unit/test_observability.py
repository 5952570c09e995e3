"""Consumer lag, bounded source labels, the spool backlog and connector error kinds."""

from __future__ import annotations

from pathlib import Path

from kafka.errors import KafkaTimeoutError

from connectors.checkpoint import Checkpoint
from connectors.metrics import error_kind
from connectors.publisher import NotSafe
from connectors.sensors import Spool
from ioc.settings import Settings
from ioc.source_labels import MAX_KNOWN, OTHER, configured_sources, known_sources, source_label
from streams.lag import partition_lag


def test_lag_is_end_minus_stored_per_partition_never_negative() -> None:
    ends = {0: 120, 1: 50, 2: 7, 3: 0}
    stored = {0: 100, 1: 50, 2: 9}  # 2: a broker reporting an end below the last record
    assert partition_lag(ends, stored) == {0: 20, 1: 0, 2: 0, 3: 0}
    assert partition_lag({0: 5}, {}) == {0: 5}  # nothing stored yet: all of it


def test_source_labels_are_the_known_sources_and_other() -> None:
    settings = Settings()
    known = known_sources(settings, ["hcc.haiduong", "bank.vcb"])
    assert configured_sources(settings) <= known
    assert source_label("dvc.haiduong", known) == "dvc.haiduong"
    assert source_label("hcc.haiduong", known) == "hcc.haiduong"
    assert source_label("made.up.by.a.bug-12345", known) == OTHER
    assert source_label(None, known) == OTHER  # none readable


def test_label_values_stay_bounded_whatever_the_keys_say() -> None:
    settings = Settings()
    known = known_sources(settings, (f"s{i:05d}" for i in range(10_000)))
    assert len(known) == MAX_KNOWN
    labels = {source_label(f"x{i}", known) for i in range(10_000)}
    assert labels == {OTHER}


def test_spool_backlog_counts_what_kafka_has_not_acked(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.spool", Checkpoint(tmp_path / "s.json"))
    assert spool.backlog() == (0, 0)
    for i in range(3):
        spool.append(f'{{"n": {i}}}'.encode())
    size = (tmp_path / "s.spool").stat().st_size
    assert spool.backlog() == (size, 3)
    _, offset = spool.read_from(0, 2)
    spool.mark_published(offset)
    assert spool.backlog() == (size - offset, 1)
    spool.export_backlog()
    from prometheus_client import REGISTRY
    assert REGISTRY.get_sample_value("ioc_sensor_spool_backlog_messages") == 1
    assert REGISTRY.get_sample_value("ioc_sensor_spool_backlog_bytes") == size - offset
    spool.close()


def test_connector_error_kinds() -> None:
    assert error_kind(NotSafe("journal down")) == "journal"
    assert error_kind(KafkaTimeoutError()) == "broker"
    assert error_kind(ValueError("bad page")) == "source"
