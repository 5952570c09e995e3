"""The ``ioc up`` process tree seen from outside: which process is which part, killing a part,
and sampling every part's memory."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PART_ARGS = {"worker": ("ioc", "worker"), "api": ("ioc", "api"), "dvc": ("connect", "dvc"),
             "payments": ("connect", "payments"), "sensors": ("connect", "sensors"),
             "simulator": ("ioc", "simulate")}


def part_of(proc: psutil.Process, supervisor_pid: int) -> str | None:
    """Which part of the stack a process is (None: not one we know)."""
    if proc.pid == supervisor_pid:
        return "supervisor"
    try:
        cmd = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if not cmd:
        return None
    first = os.path.basename(cmd[0])
    if first == "tansu" or "tansu" in first:
        return "broker"
    if first == "postgres" or cmd[0].startswith("postgres:"):
        return "postgres"
    joined = " ".join(cmd)
    if "amqtt" in joined:
        return "mqtt"
    for part, (a, b) in PART_ARGS.items():
        if f"{a} {b}" in joined and "-m ioc" in joined:
            return part
    return None


@dataclass
class Tree:
    """The parts of one ``ioc up`` by its pid."""
    supervisor_pid: int

    def processes(self) -> dict[str, list[psutil.Process]]:
        out: dict[str, list[psutil.Process]] = {}
        try:
            root = psutil.Process(self.supervisor_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return out
        for proc in procs:
            part = part_of(proc, self.supervisor_pid)
            if part is not None:
                out.setdefault(part, []).append(proc)
        return out

    def main(self, part: str) -> psutil.Process | None:
        """The part's own process: a child of the supervisor (PostgreSQL's postmaster, not a
        backend; the worker that runs, not the standby waiting to replace it)."""
        for proc in self.processes().get(part, []):
            if self.is_main(part, proc):
                return proc
        return None

    def is_main(self, part: str, proc: psutil.Process) -> bool:
        try:
            if part != "supervisor" and proc.ppid() != self.supervisor_pid:
                return False
            # a standby worker (ioc up keeps one ready) touches nothing until it takes over
            return part != "worker" or "IOC_WORKER_STANDBY_FILE" not in proc.environ() \
                or bool(proc.net_connections("tcp"))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False

    def kill(self, part: str, wait_s: float = 15.0) -> int:
        """SIGKILL the part's process (waiting a little for one, e.g. a worker taking over);
        its pid."""
        deadline = time.monotonic() + wait_s
        while (proc := self.main(part)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if proc is None:
            raise RuntimeError(f"no running {part} under ioc up (pid {self.supervisor_pid})")
        pid: int = proc.pid
        os.kill(pid, signal.SIGKILL)
        return pid

    def environ(self, part: str) -> dict[str, str]:
        proc = self.main(part)
        return dict(proc.environ()) if proc is not None else {}

    def postgres_port(self) -> int | None:
        proc = self.main("postgres")
        if proc is None:
            return None
        cmd = proc.cmdline()
        return int(cmd[cmd.index("-p") + 1]) if "-p" in cmd else None


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    pid: int
    """The part's main process at that moment (a new pid: it was restarted)."""
    rss: int
    """Resident memory of the main process."""
    pss: int
    """Proportional memory of all the part's processes (PostgreSQL: postmaster and backends,
    shared buffers divided among them instead of counted in each)."""


@dataclass(eq=False)
class Sampler(threading.Thread):
    tree: Tree
    data_dir: Path
    interval_s: float = 2.0
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    disk: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, name="soak-sampler", daemon=True)

    def run(self) -> None:
        last_disk = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            self.sample(now)
            if now - last_disk >= 30:
                self.disk.append((now, dir_size(self.data_dir)))
                last_disk = now
            self.stop.wait(self.interval_s)
        self.disk.append((time.monotonic(), dir_size(self.data_dir)))

    def sample(self, now: float) -> None:
        for part, procs in self.tree.processes().items():
            main = next((p for p in procs if self.tree.is_main(part, p)), None)
            if main is None:
                continue
            rss = pss = 0
            for proc in procs:
                try:
                    info = proc.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                pss += getattr(info, "pss", info.rss)
                if proc.pid == main.pid:
                    rss = info.rss
            self.samples.setdefault(part, []).append(Sample(now, main.pid, rss, pss))


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def longest_life(samples: list[Sample]) -> list[Sample]:
    """The samples of the process instance (pid) that ran longest, without its first fifth
    (start-up and warm-up): what growth is judged on."""
    runs: dict[int, list[Sample]] = {}
    for s in samples:
        runs.setdefault(s.pid, []).append(s)
    if not runs:
        return []
    best = max(runs.values(), key=lambda r: r[-1].t - r[0].t)
    return best[len(best) // 5:]
