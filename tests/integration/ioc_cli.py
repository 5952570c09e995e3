"""``ioc`` run by a test as an operator runs it: ``ioc up`` in a data dir of the test's,
on a free port, its output read line by line; or one command to completion."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ioc.embedded.processes import free_port, ioc_command


def run_ioc(*args: str, env: Mapping[str, str] | None = None, timeout_s: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``ioc <args>`` to completion, its output captured as text; ``env`` replaces ours."""
    return subprocess.run(ioc_command(*args), capture_output=True, text=True, timeout=timeout_s,
                          env=None if env is None else dict(env), cwd=cwd)


class Up:
    """A running ``ioc up`` (simulator at 20 events/s unless ``env`` says otherwise), its
    output read line by line in the background."""

    def __init__(self, data_dir: Path, *extra: str, port: int | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.data_dir, self.port = data_dir, port or free_port()
        self.proc = subprocess.Popen(
            ioc_command("up", "--data-dir", str(data_dir), "--port", str(self.port), *extra),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "IOC_SIM_RATE": "20", **(env or {})})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tokens(self) -> dict[str, str]:
        """The tokens ``ioc up`` made (its credentials file)."""
        loaded: dict[str, str] = json.loads((self.data_dir / "credentials.json").read_text())
        return loaded

    def wait_for(self, pattern: str, timeout_s: float = 120, after: int = 0) -> int:
        """The index of the first output line (from line ``after`` on) that matches; fails if
        ``ioc up`` ends or the time runs out without one."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ended = self.proc.poll() is not None
            if ended:
                self._reader.join(10)  # every line it wrote is read
            for i, line in enumerate(self.lines[after:], after):
                if re.search(pattern, line):
                    return i
            if ended:
                raise AssertionError(f"ioc up ended without {pattern!r}: {self.lines}")
            time.sleep(0.1)
        raise AssertionError(f"no line {pattern!r} in time: {self.lines}")

    def wait_line(self, pattern: str, timeout_s: float = 120, after: int = 0) -> re.Match[str]:
        """:meth:`wait_for`, and the match in that line."""
        found = re.search(pattern, self.lines[self.wait_for(pattern, timeout_s, after)])
        assert found is not None
        return found

    def child(self, matches: Callable[[str], bool]) -> int:
        """The oldest child whose arguments match (a standby worker is younger than the worker)."""
        out = subprocess.run(["ps", "-ww", "--ppid", str(self.proc.pid), "-o", "pid=,etimes=,args="],
                             capture_output=True, text=True).stdout
        found = [(-int(age), int(pid)) for pid, age, args in
                 (line.strip().split(None, 2) for line in out.splitlines()) if matches(args)]
        assert found, out
        return min(found)[1]

    def kill(self, matches: Callable[[str], bool]) -> int:
        """SIGKILL the child that matches; returns the output position before the kill."""
        at = len(self.lines)
        os.kill(self.child(matches), signal.SIGKILL)
        return at

    def stop(self, timeout_s: float = 90) -> int:
        """SIGTERM, wait for the exit and the last line of output; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout_s)
        self._reader.join(30)
        return self.proc.returncode

    @property
    def output(self) -> str:
        return "\n".join(self.lines)
