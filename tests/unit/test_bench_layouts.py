"""``ioc bench pipeline --layout``: which layouts are measured, and both printed side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import pipeline as bench

FIGURES = {"throughput_events_per_s": 9258.4, "throughput_events": 30000.0, "delay_p50_ms": 150.2,
           "delay_p99_ms": 283.0, "delay_mean_ms": 160.0, "delay_events": 20000.0,
           "ledger_bytes_per_million": 119.1e6}


@pytest.mark.parametrize(("installed", "choice", "expected"), [
    (True, None, ["postgres", "timescaledb"]),
    (False, None, ["postgres"]),
    (True, "both", ["postgres", "timescaledb"]),
    (False, "both", ["postgres", "timescaledb"]),  # asked for: fails later, saying why
    (True, "auto", ["timescaledb"]),
    (False, "auto", ["postgres"]),
    (True, "postgres", ["postgres"]),
    (False, "timescaledb", ["timescaledb"]),
])
def test_layouts_to_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                        installed: bool, choice: str | None, expected: list[str]) -> None:
    monkeypatch.setattr(bench, "timescaledb_library",
                        lambda: Path("/lib/timescaledb.so") if installed else None)
    assert bench.layouts_to_run(choice) == expected
    said = capsys.readouterr().out
    assert ("plain PostgreSQL only" in said) == (choice is None and not installed)


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown layout"):
        bench.layouts_to_run("mysql")


def test_both_layouts_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    bench.print_results({"postgres": FIGURES,
                         "timescaledb": {**FIGURES, "throughput_events_per_s": 9328.0}})
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if "postgres" in line)
    assert header.split() == ["postgres", "timescaledb"]
    rows = {line.split()[0]: line for line in lines if line.startswith(("throughput", "ledger"))}
    assert rows["throughput"].split()[1:] == ["9,258", "events/s", "9,328", "events/s"]
    assert rows["ledger"].split()[1:] == ["119.1", "MB/M", "events", "119.1", "MB/M", "events"]
