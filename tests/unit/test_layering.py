"""The layout's rules, read from the source with :mod:`ast` (imports inside functions count):

1. the core (``ioc/``) imports nothing from the edges that run it (``api``, ``streams``,
   ``connectors``, ``bench``, ``dashboards``); only its command line (``ioc/cli.py``) starts them;
2. the alerts package (``ioc/alerts/``) is pure: no network, database or broker library, and not
   the storage that calls it (that would tie the two in a circle);
3. no module of the project is over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGES = ("api", "streams", "connectors", "bench", "dashboards")
CORE_MAY_IMPORT_EDGES = {"ioc/cli.py"}
IO_LIBRARIES = ("httpx", "requests", "urllib", "http", "smtplib", "email.mime", "socket", "ssl",
                "asyncio", "psycopg", "psycopg_pool", "aiokafka", "kafka", "faust", "paho",
                "websockets", "uvicorn", "fastapi", "subprocess", "ioc.storage", "ioc.embedded")
"""What a pure alerts module must not import: sockets, HTTP, SMTP, PostgreSQL, Kafka, MQTT,
processes, event loops, and the storage or embedded services of the core."""
LAYERED = ("ioc", "api", "streams", "connectors", "bench")
MAX_LINES = 400


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py")
                  if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (absolute names; relative ones resolved)."""
    return imported_source(path.read_text(encoding="utf-8"), path)


def imported_source(source: str, path: Path) -> set[str]:
    package = _name(path).split("/")[:-1] if path.is_relative_to(ROOT) else []
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[:len(package) - node.level + 1], node.module or ""]).strip(".") \
                if node.level else node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name) and \
                getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module" and \
                node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            found.add(node.args[0].value)
    return found


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_parser_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from streams.app import x\n    import httpx.client\n")
    assert {"os", "streams.app", "streams.app.x", "httpx.client"} <= imported(module)
    relative = ROOT / "ioc" / "alerts" / "_layering_probe.py"
    assert "ioc.storage.alerts" in imported_source("from ..storage import alerts\n", relative)


def test_the_core_never_imports_the_edges() -> None:
    offending = {_name(p): sorted(n for n in imported(p) if _within(n, EDGES))
                 for p in _modules("ioc") if _name(p) not in CORE_MAY_IMPORT_EDGES}
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_alerts_package_holds_no_io() -> None:
    offending = {_name(p): sorted(n for n in imported(p) if _within(n, IO_LIBRARIES))
                 for p in _modules("ioc/alerts")}
    assert {k: v for k, v in offending.items() if v} == {}


@pytest.mark.parametrize("package", (*LAYERED, "dashboards", "tests"))
def test_no_module_is_over_400_lines(package: str) -> None:
    lengths = {_name(p): len(p.read_text(encoding="utf-8").splitlines()) for p in _modules(package)}
    assert {k: n for k, n in lengths.items() if n > MAX_LINES} == {}
