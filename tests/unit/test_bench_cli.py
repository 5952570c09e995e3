"""``ioc bench``: pipeline options before or after ``pipeline``, and refused before another name."""

from __future__ import annotations

import pytest

from bench.cli import misplaced_pipeline_options, pipeline_option
from ioc.cli import build_parser


def _options(*argv: str) -> dict[str, object]:
    args = build_parser().parse_args(["bench", *argv])
    return {name: pipeline_option(args, name)
            for name in ("events", "rate", "seconds", "batch_size", "layout")}


def test_plain_bench_is_the_pipeline_with_its_defaults() -> None:
    assert _options() == {"events": 200_000, "rate": 2000.0, "seconds": 20.0,
                          "batch_size": 2000, "layout": None}


@pytest.mark.parametrize("argv", [
    ("--layout", "postgres", "--events", "5"),
    ("pipeline", "--layout", "postgres", "--events", "5"),
    ("--layout", "postgres", "pipeline", "--events", "5"),
    ("--events", "7", "pipeline", "--events", "5", "--layout", "postgres"),
])
def test_pipeline_options_before_or_after_the_name_are_kept(argv: tuple[str, ...]) -> None:
    options = _options(*argv)
    assert options["layout"] == "postgres"
    assert options["events"] == 5
    assert options["seconds"] == 20.0


def test_pipeline_options_before_another_benchmark_are_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["bench", "--events", "5", "feed", "--clients", "3"])
    assert misplaced_pipeline_options(args) == ["--events"]
    assert args.func(args, None) == 2
    assert "--events belong to the pipeline benchmark" in capsys.readouterr().err


def test_another_benchmark_alone_has_nothing_misplaced() -> None:
    args = build_parser().parse_args(["bench", "connectors", "--events", "300"])
    assert misplaced_pipeline_options(args) == []
    assert args.events == 300


def test_history_defaults_and_options() -> None:
    args = build_parser().parse_args(["bench", "history"])
    assert (args.days, args.province, args.requests, args.layout, args.clients) == (35, "31", 200, None, 4)
    args = build_parser().parse_args(["bench", "history", "--days", "2", "--province", "hai-duong-2024",
                                      "--requests", "5", "--layout", "postgres", "--clients", "1"])
    assert (args.days, args.province, args.requests, args.layout, args.clients) == (
        2, "hai-duong-2024", 5, "postgres", 1)
    assert misplaced_pipeline_options(args) == []


def test_history_refuses_a_layout_it_does_not_know() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "history", "--layout", "mysql"])


def test_pipeline_options_before_history_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["bench", "--layout", "postgres", "history"])
    assert args.func(args, None) == 2
    assert "--layout belong to the pipeline benchmark" in capsys.readouterr().err
