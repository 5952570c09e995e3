"""The environment of an ``ioc`` child process: ours, plus the settings we were given."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import Enum
from pathlib import Path

from pydantic import SecretStr

from ioc.settings import Settings


def setting_text(value: object) -> str:
    """A setting's value as the settings loader reads it back from ``IOC_<FIELD>``."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return json.dumps(list(value) if isinstance(value, (tuple, set, frozenset)) else value)
    return str(value)


def child_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ``, then ``IOC_<FIELD>`` for every field set explicitly on ``settings``
    (a field set to None is left out, so the child takes its default), then ``extra``."""
    env = dict(os.environ)
    for name in sorted(settings.model_fields_set):
        key = f"IOC_{name.upper()}"
        value = getattr(settings, name)
        if value is None:
            env.pop(key, None)
        else:
            env[key] = setting_text(value)
    env.update(extra or {})
    return env
