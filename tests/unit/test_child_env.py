"""child_env: what a parent sets, an ``ioc`` child reads back the same."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from ioc.embedded.child_env import child_env
from ioc.settings import Settings, load_settings


def _child_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """load_settings() as a child with exactly ``env`` would run it."""
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.upper().startswith("IOC_")]:
        monkeypatch.delenv(key)


def test_every_kind_of_set_field_round_trips(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    _clean(monkeypatch)
    parent = Settings(
        kafka_bootstrap="127.0.0.1:19092", database_url="postgresql://postgres@127.0.0.1:1/x",
        data_dir=tmp_path / "data", geography_file=tmp_path / "ref.json", topic_prefix="p_x",
        event_partitions=3, worker_batch_window_s=0.125, intake_journal=True, log_json=False,
        storage_layout="postgres", sim_via="connectors", smtp_password=SecretStr("s3cret=&\"x"),
        dvc_token=SecretStr(""), worker_metrics_port=0, sim_rate=2.5e-3, log_level="WARNING",
    )
    child = _child_settings(child_env(parent), monkeypatch)
    for name in parent.model_fields_set:
        assert getattr(child, name) == getattr(parent, name), name
    assert child == parent


def test_unset_fields_are_left_to_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    env = child_env(Settings(topic_prefix="only"))
    assert env["IOC_TOPIC_PREFIX"] == "only"
    assert "IOC_KAFKA_BOOTSTRAP" not in env and "IOC_SMTP_PASSWORD" not in env


def test_model_copy_updates_count_as_set(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    parent = Settings().model_copy(update={"kafka_bootstrap": "h:1", "intake_journal": True})
    env = child_env(parent)
    assert env["IOC_KAFKA_BOOTSTRAP"] == "h:1" and env["IOC_INTAKE_JOURNAL"] == "true"
    assert _child_settings(env, monkeypatch).kafka_bootstrap == "h:1"


def test_none_takes_the_default_and_extra_wins(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    _clean(monkeypatch)
    monkeypatch.setenv("IOC_GEOGRAPHY_FILE", str(tmp_path / "inherited.json"))
    monkeypatch.setenv("PATH_OF_PARENT", "kept")
    env = child_env(Settings(geography_file=None, topic_prefix="a"),
                    {"IOC_TOPIC_PREFIX": "b", "PYTHONUNBUFFERED": "1"})
    assert "IOC_GEOGRAPHY_FILE" not in env
    assert env["PATH_OF_PARENT"] == "kept" and env["PYTHONUNBUFFERED"] == "1"
    child = _child_settings(env, monkeypatch)
    assert child.geography_file is None and child.topic_prefix == "b"
