"""``ioc up`` as a child of a benchmark (the soak, the failover benchmark): spawned like every
other ``ioc`` process, its output in a log file that is followed line by line."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ioc.embedded.processes import spawn_ioc, stop

RUNNING = "ioc: running"
"""The line ``ioc up`` prints once every part is up."""


@dataclass
class UpProcess:
    proc: subprocess.Popen[bytes]
    log_file: Path
    lines: list[str] = field(default_factory=list)
    """Every line ``ioc up`` printed, each after the monotonic time it was read."""
    running: threading.Event = field(default_factory=threading.Event)

    def wait_running(self, timeout_s: float) -> None:
        """Until ``ioc up`` says it is running; if it exits or takes longer, it is killed and
        the error carries its last lines."""
        deadline = time.monotonic() + timeout_s
        while not self.running.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("ioc up did not start:\n" + "\n".join(self.lines[-20:]))

    def stop(self, timeout_s: float = 120.0) -> None:
        """SIGTERM, as an operator would; killed if it does not end in ``timeout_s``."""
        stop(self.proc, timeout_s=timeout_s)


def start_up(args: Sequence[str], log_file: Path, env: Mapping[str, str],
             on_line: Callable[[str], None] | None = None) -> UpProcess:
    """``ioc up <args>``; ``on_line`` hears each line of its output as it comes."""
    proc = spawn_ioc("up", *args, log_file=log_file, env=dict(env))
    up = UpProcess(proc, log_file)
    threading.Thread(target=_follow, args=(up, on_line), name="ioc-up-output", daemon=True).start()
    return up


def _follow(up: UpProcess, on_line: Callable[[str], None] | None) -> None:
    while not up.log_file.exists():
        time.sleep(0.05)
    exited = False
    with open(up.log_file, "rb") as log:
        partial = b""
        while True:
            chunk = log.readline()
            if not chunk:
                if exited:
                    return
                exited = up.proc.poll() is not None  # then once more: the last lines in flight
                time.sleep(0.3 if exited else 0.05)
                continue
            partial += chunk
            if not partial.endswith(b"\n"):
                continue
            line = partial.decode(errors="replace").rstrip()
            partial = b""
            up.lines.append(f"{time.monotonic():.1f} {line}")
            if line.startswith(RUNNING):
                up.running.set()
            if on_line is not None:
                on_line(line)
