"""``ioc bench <what>`` and ``ioc soak``: their arguments and what each runs.

``ioc bench`` alone is ``ioc bench pipeline``. ``ioc bench-feed``, ``ioc bench-ingest``,
``ioc bench-alerts`` and ``ioc bench-connectors`` are kept as aliases (hidden from the list).
Everything a command needs is imported when it runs, so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ioc.settings import Settings

    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def run_pipeline(args: argparse.Namespace, settings: Settings) -> int:
    from bench.pipeline import layouts_to_run, print_results, run_benches

    def opt(name: str) -> Any:
        return pipeline_option(args, name)

    print_results(run_benches(layouts_to_run(opt("layout")), opt("events"), opt("rate"),
                              opt("seconds"), opt("batch_size")))
    return 0


def run_feed(args: argparse.Namespace, settings: Settings) -> int:
    from bench.feed import print_feed_results, run_feed_bench

    print_feed_results(run_feed_bench(args.clients, args.rate, args.seconds, args.subscription))
    return 0


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from bench.ingest import print_ingest_results, run_ingest_bench

    print_ingest_results(run_ingest_bench(args.events, args.batch, args.clients), args.batch)
    return 0


def run_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from bench.alerts import print_alert_results, run_alert_bench

    print_alert_results(run_alert_bench(args.trials, args.rate, args.pending_trials, args.pending_s))
    return 0


def run_connectors(args: argparse.Namespace, settings: Settings) -> int:
    from bench.connectors import print_connector_results, run_connector_bench

    print_connector_results(run_connector_bench(args.events))
    return 0


def run_history(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from bench.history import as_json, run_history_bench, summary_lines
    from bench.pipeline import layouts_to_run

    results = run_history_bench(layouts_to_run(args.layout), args.days, args.province,
                                args.requests, args.clients, args.rate)
    print("\n".join(summary_lines(results)))
    if args.report:
        Path(args.report).write_text(json.dumps(as_json(results), indent=2) + "\n", encoding="utf-8")
    return 0


def run_faust_floor(args: argparse.Namespace, settings: Settings) -> int:
    from bench.faust_floor import run_faust_floor

    run_faust_floor(args.events, args.batch)
    return 0


def run_failover(args: argparse.Namespace, settings: Settings) -> int:
    from bench.worker_failover import run_failover

    return run_failover(args.kills, args.rate, args.settle_s)


def run_soak(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from bench.soak.report import report_lines
    from bench.soak.run import run_soak
    from ioc.geography import geography_of

    result = run_soak(args.minutes, args.rate, geography_of(settings),
                      data_dir=Path(args.data_dir) if args.data_dir else None, exclude=args.exclude)
    print("\n".join(report_lines(result)))
    if args.report:
        Path(args.report).write_text(json.dumps(result.as_json(), indent=2, default=str) + "\n",
                                     encoding="utf-8")
    return 0 if result.clean() else 1


PIPELINE_DEFAULTS: dict[str, object] = {"events": 200_000, "rate": 2000.0, "seconds": 20.0,
                                         "batch_size": 2000, "layout": None}
_BEFORE = "before_"
"""Prefix of where ``ioc bench`` keeps pipeline options given before a sub-command's name."""


def _pipeline_args(p: argparse.ArgumentParser, *, before: bool = False) -> None:
    """The pipeline benchmark's options: on ``ioc bench`` itself (``before``) and on
    ``ioc bench pipeline``, where an option left out keeps what was given before the
    sub-command's name (``ioc bench --layout postgres pipeline``)."""
    def dest(name: str) -> str:
        return _BEFORE + name if before else name

    def default(name: str) -> object:
        return PIPELINE_DEFAULTS[name] if before else argparse.SUPPRESS

    def shown(name: str) -> str:
        return "" if before else f" (default: {PIPELINE_DEFAULTS[name]})"

    p.add_argument("--events", type=int, help="events for the throughput run" + shown("events"),
                   dest=dest("events"), default=default("events"), metavar="EVENTS")
    p.add_argument("--rate", type=float, help="events/s for the delay run" + shown("rate"),
                   dest=dest("rate"), default=default("rate"), metavar="RATE")
    p.add_argument("--seconds", type=float, help="length of the delay run" + shown("seconds"),
                   dest=dest("seconds"), default=default("seconds"), metavar="SECONDS")
    p.add_argument("--batch-size", type=int, help="worker batch size" + shown("batch_size"),
                   dest=dest("batch_size"), default=default("batch_size"),
                   metavar="BATCH_SIZE")
    p.add_argument("--layout", choices=["both", "postgres", "timescaledb", "auto"],
                   help="storage layout(s) to measure, side by side (default: both when "
                   "TimescaleDB is installed, else postgres)", dest=dest("layout"), default=default("layout"))


def pipeline_option(args: argparse.Namespace, name: str) -> Any:
    """A pipeline option as given after ``pipeline``, else before it, else its default."""
    return getattr(args, name, getattr(args, _BEFORE + name, PIPELINE_DEFAULTS[name]))


def misplaced_pipeline_options(args: argparse.Namespace) -> list[str]:
    """Pipeline options given before another benchmark's name (``ioc bench --events 5 feed``),
    which that benchmark would otherwise silently ignore."""
    return [f"--{name.replace('_', '-')}" for name, default in PIPELINE_DEFAULTS.items()
            if getattr(args, _BEFORE + name, default) != default]


def _refusing_misplaced(run: Run) -> Run:
    def checked(args: argparse.Namespace, settings: Settings) -> int:
        misplaced = misplaced_pipeline_options(args)
        if misplaced:
            print(f"ioc bench: {', '.join(misplaced)} belong to the pipeline benchmark; "
                  f"give {args.bench_command}'s own options after its name "
                  f"(ioc bench {args.bench_command} --help)", file=sys.stderr)
            return 2
        return run(args, settings)
    return checked


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, default=50_000, help="events per run")
    p.add_argument("--batch", type=int, default=100, help="events per request")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4],
                   help="concurrent clients, one run per number")


def _connectors_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, default=20_000, help="events per connector")


def _feed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clients", type=int, default=1000, help="WebSocket clients")
    p.add_argument("--rate", type=float, default=10, help="simulated events/s")
    p.add_argument("--seconds", type=float, default=30, help="length of the run")
    p.add_argument("--subscription",
                   choices=["wall", "wall-overdue", "wall-index", "tiles-everywhere", "all-today"],
                   default="wall", help="what each client subscribes to (bench/feed.py SUBSCRIPTIONS): "
                   "the wall's, ranked by default, by a gauge or by the service index; every tile "
                   "for every unit; every KPI")


def _alerts_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trials", type=int, default=100, help="alerts fired and resolved")
    p.add_argument("--rate", type=float, default=1000, help="background events/s")
    p.add_argument("--pending-trials", type=int, default=10,
                   help="alerts of a rule with a pending period")
    p.add_argument("--pending-s", type=float, default=3.0, help="pending period of that rule")


def _faust_floor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, default=200_000, help="events published up front and read")
    p.add_argument("--batch", type=int, default=2000, help="records per batch")


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=int, default=35, help="days of history loaded")
    p.add_argument("--province", default="31",
                   help="province code (or hai-duong-2024) whose units are loaded")
    p.add_argument("--requests", type=int, default=200, help="requests per query kind")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients of the mixed run (1: none)")
    p.add_argument("--rate", type=float, default=10.0,
                   help="the simulator's dossier and payment events/s the history is made at")
    p.add_argument("--layout", choices=["both", "postgres", "timescaledb", "auto"], default=None,
                   help="storage layout(s), each on its own fresh database (default: both when "
                   "TimescaleDB is installed, else postgres)")
    p.add_argument("--report", default=None, help="also write the figures to this JSON file")


def _failover_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kills", type=int, default=5, help="how many times the worker is killed")
    p.add_argument("--rate", type=float, default=20.0, help="simulated events per second")
    p.add_argument("--settle-s", type=float, default=8.0, help="running time between kills")


Build = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace, "Settings"], int]
BENCHMARKS: dict[str, tuple[str, Build, Run]] = {
    "pipeline": ("measure one stream worker (throughput, delay, ledger size) on the embedded stack",
                 _pipeline_args, run_pipeline),
    "feed": ("measure the live feed with many WebSocket clients", _feed_args, run_feed),
    "ingest": ("measure HTTP ingest on the embedded stack", _ingest_args, run_ingest),
    "alerts": ("measure event → alert webhook delay", _alerts_args, run_alerts),
    "connectors": ("measure each source connector", _connectors_args, run_connectors),
    "faust-floor": ("what a worker's throughput is made of: Faust, aiokafka and the pure logic "
                    "alone", _faust_floor_args, run_faust_floor),
    "history": ("API series and wall snapshot latency over weeks of history loaded with COPY",
                _history_args, run_history),
    "failover": ("how long KPI updates stand still after the worker of ioc up is SIGKILLed",
                 _failover_args, run_failover),
}
"""Each ``ioc bench <what>``: its one-line help, its arguments, what it runs."""
ALIASES = ("ingest", "connectors", "feed", "alerts")
"""``ioc bench-<what>``: the names the benchmarks had before ``ioc bench <what>``."""


def add_bench_parsers(sub: SubParsers) -> None:
    """``ioc bench [what]``, the ``ioc bench-<what>`` aliases and ``ioc soak``."""
    bench = sub.add_parser("bench", help="measure the pipeline on the embedded stack (ioc bench WHAT; "
                                         "alone: ioc bench pipeline)")
    _pipeline_args(bench, before=True)
    bench.set_defaults(func=run_pipeline)
    what = bench.add_subparsers(dest="bench_command", metavar="WHAT")
    for name, (help_text, build, run) in BENCHMARKS.items():
        child = what.add_parser(name, help=help_text)
        build(child)
        child.set_defaults(func=run if name == "pipeline" else _refusing_misplaced(run))
    for name in ALIASES:
        help_text, build, run = BENCHMARKS[name]
        alias = sub.add_parser(f"bench-{name}", description=f"alias of `ioc bench {name}`: {help_text}")
        build(alias)
        alias.set_defaults(func=run)
    _add_soak_parser(sub)


def _add_soak_parser(sub: SubParsers) -> None:
    soak = sub.add_parser("soak", help="ioc up under load while its parts are SIGKILLed; lost and "
                                       "double-counted events, recovery, memory")
    soak.add_argument("--minutes", type=float, default=10, help="length of the run")
    soak.add_argument("--rate", type=float, default=500, help="events/s (HTTP ingest and payment webhooks)")
    soak.add_argument("--data-dir", default=None, help="the stack's data dir (default: a new temp dir)")
    soak.add_argument("--report", default=None, help="also write the figures to this JSON file")
    soak.add_argument("--exclude", nargs="*", default=[],
                      choices=["worker", "api", "postgres", "payments", "broker"],
                      help="parts not to kill")
    soak.set_defaults(func=run_soak)


def command_names() -> set[str]:
    """The top-level sub-commands added here (they all start the embedded stack)."""
    return {"bench", "soak", *(f"bench-{name}" for name in ALIASES)}


__all__ = ["BENCHMARKS", "add_bench_parsers", "command_names"]
