"""Child processes that die with their parent and stop in order."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from ioc.embedded.logfiles import LogLimit, pump

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if the supervisor dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass
    os.setsid()


def spawn(args: Sequence[str], *, log_file: Path, env: dict[str, str] | None = None,
          user: str | None = None, cwd: Path | None = None,
          log_limit: LogLimit | None = None) -> subprocess.Popen[bytes]:
    """Start a child; its output goes to ``log_file``, rotated at ``log_limit`` (default:
    10 MB and 3 backups) by a thread of ours. With ``user``, it runs as that user with that
    user's group only (root's groups would otherwise make the group bits, not the 'other'
    bits, apply to folders)."""
    group = pwd.getpwnam(user).pw_gid if user else None
    proc = subprocess.Popen(
        list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, user=user, group=group, extra_groups=[] if user else None, cwd=cwd,
        preexec_fn=_die_with_parent,
    )
    assert proc.stdout is not None
    pump(proc.stdout, log_file, log_limit or LogLimit())
    proc.stdout = None  # the pump owns the pipe; wait() and communicate() must not read it
    return proc


def ioc_command(*args: str) -> list[str]:
    """The argument list of ``ioc <args>`` run with this interpreter."""
    return [sys.executable, "-m", "ioc", *args]


def spawn_ioc(*args: str, log_file: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None, log_limit: LogLimit | None = None) -> subprocess.Popen[bytes]:
    """:func:`spawn` of ``ioc <args>`` with this interpreter (a worker, the API, a connector…)."""
    return spawn(ioc_command(*args), log_file=log_file, env=env, cwd=cwd, log_limit=log_limit)


def stop(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int:
    """Signal the process, wait, and kill it if it does not go in time."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def accepts(host: str, port: int) -> bool:
    """Something listens on (host, port)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different free ports: each stays bound until all are chosen, so two
    services started one after the other cannot be given the same one."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((host, 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def wait_until(check: Callable[[], bool], *, timeout_s: float, what: str,
               alive: Callable[[], bool] = lambda: True, interval_s: float = 0.1) -> None:
    """Poll ``check`` until true; fail early if the process behind it died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if not alive():
            raise RuntimeError(f"{what} exited during start-up")
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s")


def http_ok(url: str) -> bool:
    """A GET of ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
