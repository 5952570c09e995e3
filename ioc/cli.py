"""ioc: run and operate the IOC streaming backend.

Every process is a sub-command configured by IOC_* environment variables (ioc/settings.py):
`ioc up` starts everything on this machine with the embedded broker and database; in
production each service runs one of `ioc migrate`, `ioc worker`, `ioc api`, `ioc connect ...`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ioc import package_version
from ioc.logs import setup_logging
from ioc.settings import Settings, load_settings
from ioc.tokens import Role


def _cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.embedded.stack import run_up
    from ioc.geography import geography_of

    overrides: dict[str, object] = {"sim_rate": args.rate} if args.rate else {}
    if args.province:
        overrides["province"] = args.province
    data_dir = Path(args.data_dir)
    settings = settings.model_copy(update={"data_dir": data_dir, **overrides})
    try:
        geography = geography_of(settings)
    except (ValueError, OSError) as exc:  # an unknown province, a bad or missing file
        print(f"ioc up: {exc}", file=sys.stderr)
        return 2
    print(f"{geography.province_name} ({geography.province_code}, {geography.profile}): "
          f"{len(geography.units)} units"
          + (f", {geography.former_count} pre-2025 codes mapped" if geography.former_count else ""),
          flush=True)
    return run_up(settings, port=args.port, data_dir=data_dir, simulator=not args.no_simulator)


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.worker import run_worker

    run_worker(settings)
    return 0


def _cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg
    import uvicorn

    from api.app import create_app
    from ioc.http_limits import guarded_http

    host = args.host or settings.api_host
    port = args.port or settings.api_port
    # A database that is down is one line (main) and exit 1, not a traceback from inside
    # uvicorn's start-up; a supervisor (ioc up, compose, Kubernetes) starts the API again.
    psycopg.connect(settings.database_url, connect_timeout=5).close()
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower(),
                http=guarded_http(settings.api_header_timeout_s, settings.api_max_header_bytes),
                access_log=False, log_config=None,  # through ioc.logs: redacted, JSON
                ws_ping_interval=20, ws_ping_timeout=20,
                ws_per_message_deflate=settings.ws_per_message_deflate)
    return 0


def _cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.simulate import run_simulator

    if args.rate:
        settings = settings.model_copy(update={"sim_rate": args.rate})
    if args.via:
        settings = settings.model_copy(update={"sim_via": args.via})
    run_simulator(settings, duration_s=args.duration)
    return 0


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from ioc.storage.lifecycle import maintain_for
    from ioc.storage.migrate import migrate
    from ioc.topics import ensure_topics

    applied = migrate(settings.database_url, layout=settings.storage_layout)
    print(f"migrations applied: {applied or 'none pending'}")
    done = maintain_for(settings, datetime.now(UTC))
    if done.policies_changed:
        print(f"storage layout {done.layout}: policies set: {', '.join(done.policies_changed)}")
    else:
        print(f"storage layout {done.layout}: day partitions created: {len(done.created)},"
              f" dropped: {len(done.dropped)}")
    if not args.no_topics:
        created = ensure_topics(settings)
        print(f"topics created: {created or 'none missing'}")
    return 0


def _cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    import getpass
    import json

    import psycopg

    from ioc.storage.keys import KeyRequestError, create_key, list_keys, revoke_key

    who = f"cli:{getpass.getuser()}"
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if args.keys_command == "create":
            try:
                made = create_key(conn, Role(args.role), args.name, args.source or None, who)
            except KeyRequestError as exc:
                print(f"ioc keys: {exc}", file=sys.stderr)
                return 2
            print(json.dumps({**made.info.as_json(), "token": made.token}, indent=2))
            print("keep the token now: only its digest is stored", file=sys.stderr)
        elif args.keys_command == "list":
            for key in list_keys(conn):
                print(json.dumps(key.as_json(), ensure_ascii=False))
        else:
            if not revoke_key(conn, args.id, who):
                print(f"ioc keys: no active key with id {args.id}", file=sys.stderr)
                return 1
            print(f"key {args.id} revoked (API processes stop accepting it within 10 s)")
    return 0


def _cmd_connect(args: argparse.Namespace, settings: Settings) -> int:
    from connectors import run

    name = args.connector
    if name == "replay":
        return run.connect_replay(settings, Path(args.file), args.format, args.chunk)
    if name == "dvc":
        return run.connect_dvc(settings)
    if name == "fake-dvc":
        return run.connect_fake_dvc(settings, args.port, args.rate)
    if name == "payments":
        return run.connect_payments(settings)
    return run.connect_sensors(settings)


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.clock import SystemClock
    from ioc.report.service import run_report

    return run_report(settings, args.month, args.out, SystemClock())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ioc", description=__doc__, formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start everything on this machine (embedded broker and database)")
    up.add_argument("--port", type=int, default=8000, help="API and wall port")
    up.add_argument("--data-dir", default=".ioc", help="where state is kept")
    up.add_argument("--no-simulator", action="store_true", help="do not start the simulator")
    up.add_argument("--province", default=None,
                    help="a province's code (any of the 34; '01' and '1' alike) or 'hai-duong-2024', "
                         "the historic profile (default: IOC_PROVINCE, else 31, Hai Phong)")
    up.add_argument("--rate", type=float, default=None,
                    help="simulator events per second (default: IOC_SIM_RATE)")
    up.set_defaults(func=_cmd_up)

    worker = sub.add_parser("worker", help="run a stream worker against IOC_KAFKA_BOOTSTRAP")
    worker.set_defaults(func=_cmd_worker)

    api = sub.add_parser("api", help="serve the API and the wall")
    api.add_argument("--host", default=None, help="address to listen on (default: IOC_API_HOST)")
    api.add_argument("--port", type=int, default=None, help="port to listen on (default: IOC_API_PORT)")
    api.set_defaults(func=_cmd_api)

    sim = sub.add_parser("simulate", help="publish simulated events in real time")
    sim.add_argument("--rate", type=float, default=None,
                     help="dossier and payment events per second (default: IOC_SIM_RATE)")
    sim.add_argument("--duration", type=float, default=None,
                     help="stop after this many seconds (default: run until stopped)")
    sim.add_argument("--via", choices=["kafka", "http", "connectors"], default=None,
                     help="where events go (default IOC_SIM_VIA, kafka)")
    sim.set_defaults(func=_cmd_simulate)

    mig = sub.add_parser("migrate", help="apply database migrations and create Kafka topics")
    mig.add_argument("--no-topics", action="store_true", help="only the database")
    mig.set_defaults(func=_cmd_migrate)
    connect = sub.add_parser("connect", help="run a source connector (publishes to Kafka)")
    con_sub = connect.add_subparsers(dest="connector", required=True)
    rep = con_sub.add_parser("replay", help="publish a CSV or NDJSON history file, resumable")
    rep.add_argument("file", help="the history file (.ndjson or .csv)")
    rep.add_argument("--format", choices=["ndjson", "csv"], default=None,
                     help="default: by the file's extension")
    rep.add_argument("--chunk", type=int, default=1000, help="records per acked send")
    con_sub.add_parser("dvc", help="poll the administrative-procedure system (IOC_DVC_URL)")
    fake = con_sub.add_parser("fake-dvc", help="serve a fake administrative-procedure system")
    fake.add_argument("--port", type=int, default=8090, help="port to serve on")
    fake.add_argument("--rate", type=float, default=5.0, help="dossier events per second")
    con_sub.add_parser("payments", help="receive signed payment-gateway webhooks")
    con_sub.add_parser("sensors", help="subscribe to sensor readings over MQTT")
    connect.set_defaults(func=_cmd_connect)

    keys = sub.add_parser("keys", help="manage API keys in IOC_DATABASE_URL")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print its token once")
    create.add_argument("--role", choices=[role.value for role in Role], default=Role.INTEGRATOR.value,
                        help="what the key may do")
    create.add_argument("--name", required=True, help="who or what holds the key")
    create.add_argument("--source", action="append",
                        help="a source an integrator key may publish for (repeat; none: any)")
    keys_sub.add_parser("list", help="every key, active and revoked (never the tokens)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", type=int, help="the key's id (ioc keys list)")
    keys.set_defaults(func=_cmd_keys)

    report = sub.add_parser("report", help="write a month's report as a PDF: service-index rankings of "
                                           "areas and agencies, the province's KPIs against their targets, "
                                           "the alerts fired (reads IOC_DATABASE_URL)")
    report.add_argument("--month", required=True, metavar="YYYY-MM",
                        help="the calendar month, in the province's local time")
    report.add_argument("--out", default=None, metavar="FILE",
                        help="where to write it; '-': standard output "
                             "(default: bao-cao-thang-YYYY-MM.pdf here)")
    report.set_defaults(func=_cmd_report)

    from bench.cli import add_bench_parsers  # ioc bench <what>, its old aliases, ioc soak

    add_bench_parsers(sub)
    _finish_help(parser)
    return parser


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each argument's help, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _finish_help(parser: argparse.ArgumentParser) -> None:
    """Every sub-command's page: the same formatter, its one-line help as its description."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                child.formatter_class = _HelpFormatter
                if child.description is None:
                    child.description = helps.get(name)
                _finish_help(child)


def embedded_commands() -> set[str]:
    """Sub-commands that start the embedded broker and database (the ``embedded`` extra):
    ``ioc up`` and every benchmark."""
    from bench.cli import command_names

    return {"up", *command_names()}


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from ioc.cli_errors import embedded_missing_line, failure_line, missing_embedded, settings_error_line

    args = build_parser().parse_args(argv)
    command = " ".join(["ioc", args.command, *[getattr(args, d) for d in ("connector", "keys_command",
                                                                           "bench_command")
                                               if getattr(args, d, None)]])
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"{command}: {settings_error_line(exc)}", file=sys.stderr)
        return 2
    if args.command in embedded_commands() and (missing := missing_embedded()):
        print(f"{command}: {embedded_missing_line(missing)}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_json)
    try:
        code: int = args.func(args, settings)
    except Exception as exc:
        line = failure_line(exc, settings)
        if line is None:
            raise
        print(f"{command}: {line}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
