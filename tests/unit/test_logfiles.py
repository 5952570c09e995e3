"""A child's log is rotated at its size limit, keeping a bounded number of backups."""

from __future__ import annotations

import sys
from pathlib import Path

from ioc.embedded.logfiles import LogLimit, RotatingFile
from ioc.embedded.processes import spawn, wait_until


def test_a_file_rotates_at_its_limit_and_keeps_its_backups(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    out = RotatingFile(path, LogLimit(max_bytes=100, backups=2))
    for n in range(30):
        out.write(f"line {n:04d}\n".encode())  # 10 bytes a line: 10 lines a file
    out.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.log", "x.log.1", "x.log.2"]
    assert path.read_text().splitlines()[0] == "line 0020"
    assert (tmp_path / "x.log.1").read_text().splitlines()[0] == "line 0010"
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())


def test_no_backups_means_the_file_starts_again(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    out = RotatingFile(path, LogLimit(max_bytes=100, backups=0))
    for n in range(25):
        out.write(f"line {n:04d}\n".encode())
    out.close()
    assert [p.name for p in tmp_path.iterdir()] == ["x.log"]
    assert path.read_text().splitlines() == [f"line {n:04d}" for n in range(20, 25)]


def test_a_child_log_is_rotated_at_its_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "child.log"
    script = ("import sys\n"
              "for n in range(5000): print(f'line {n:06d}', file=sys.stderr if n % 2 else sys.stdout)")
    proc = spawn([sys.executable, "-u", "-c", script], log_file=path,
                 log_limit=LogLimit(max_bytes=10_000, backups=3))
    assert proc.wait(30) == 0
    files = [path, *(path.with_name(f"child.log.{n}") for n in (1, 2, 3))]

    def last_line_written() -> bool:
        return path.exists() and path.read_text().endswith("line 004999\n")

    wait_until(last_line_written, timeout_s=30, what="the child's last line")
    assert all(f.exists() and f.stat().st_size <= 10_000 for f in files)
    assert not path.with_name("child.log.4").exists()
    kept = "".join(f.read_text() for f in reversed(files)).splitlines()
    assert kept == [f"line {n:06d}" for n in range(5000 - len(kept), 5000)]  # newest, in order
