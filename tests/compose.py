"""docker-compose.yml as Docker Compose would see it: variables interpolated from env files
(``.env.example`` with its blanks filled in, ``deploy/kafka3.env``), profiles applied."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
KAFKA3_ENV = ROOT / "deploy" / "kafka3.env"

REFERENCE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
"""``$$`` (a literal ``$``), ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?message}``,
``${VAR?message}``."""


class MissingVariable(Exception):
    """A ``${VAR:?message}`` whose variable is unset or empty: compose refuses to start."""


def read_env_file(path: Path, fill_blanks: bool = False) -> dict[str, str]:
    """``NAME=value`` lines (comments and blank lines skipped); ``fill_blanks`` gives every empty
    value a test value, as the person installing the site would."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        value = value.split(" #", 1)[0].strip()
        env[name.strip()] = value or (f"test-{name.strip().lower().replace('_', '-')}" if fill_blanks else "")
    return env


def interpolate(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        got = env.get(name)
        unset = got is None or (got == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset:
            return arg
        return got or ""

    return REFERENCE.sub(value, text)


def compose_config(env: dict[str, str], profiles: tuple[str, ...] = ()) -> dict[str, Any]:
    """The interpolated file with only the services the profiles start."""
    config: dict[str, Any] = yaml.safe_load(interpolate(COMPOSE.read_text(), env))
    config["services"] = {name: service for name, service in config["services"].items()
                          if not service.get("profiles") or set(service["profiles"]) & set(profiles)}
    return config


def site_env(*extra: Path) -> dict[str, str]:
    """A filled-in ``.env.example``, then each further env file (later ones win, as with
    several ``--env-file``)."""
    env = read_env_file(ENV_EXAMPLE, fill_blanks=True)
    for path in extra:
        env.update(read_env_file(path))
    return env
