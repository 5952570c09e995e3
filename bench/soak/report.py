"""The soak's figures, as one object (for the tests and ``--report``) and as printed lines."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.soak.accounting import Comparison, growth_per_hour, longest_gap
from bench.soak.clients import KpiWatcher, SilentWebSocket, Target
from bench.soak.processes import Sampler, longest_life

MB = 1024 * 1024
HELD_CATCH_UP_S = 10.0


@dataclass(frozen=True)
class FaultResult:
    part: str
    at_s: float
    """Seconds into the load."""
    pid: int | None
    new_pid: int | None
    restart_s: float | None
    """Until a new process of the part ran."""
    ready_s: float | None
    """Until /readyz answered 200 (at once when the part is not one the API needs)."""
    recovered_s: float | None
    """Until fresh events, acknowledged after the kill over HTTP and over the payment webhook,
    were counted in the KPIs; None: not within the recovery timeout."""
    note: str = ""

    def line(self) -> str:
        def s(v: float | None) -> str:
            return "never" if v is None else f"{v:.1f} s"
        return (f"SIGKILL {self.part:<9} at {self.at_s:6.1f} s (pid {self.pid}): new process "
                f"{s(self.restart_s)}, /readyz {s(self.ready_s)}, fresh events counted "
                f"{s(self.recovered_s)}" + (f" ({self.note})" if self.note else ""))


@dataclass(frozen=True)
class PartMemory:
    part: str
    peak_rss_mb: float
    peak_pss_mb: float
    growth_mb_per_h: float | None
    """RSS slope over the judged life, None when it is shorter than three minutes."""
    judged_min: float
    restarts: int


@dataclass
class SoakResult:
    minutes: float
    rate: float
    acknowledged: int
    acknowledgements: int
    acked_per_s: float
    lost: int
    """Acknowledged events not in the deduplication ledger after the worker caught up."""
    kpi_missing: int
    double_counted: int
    vnd_missing: int
    vnd_double_counted: int
    wrong_cells: int
    wrong_examples: list[str]
    invalid_rejected: int
    unexpected: dict[str, int]
    unacknowledged: int
    malformed_posted: int
    malformed_rejected: int
    malformed_accepted: int
    longest_kpi_gap_s: float
    longest_kpi_gap_at_s: float
    faults: list[FaultResult]
    planned: list[str]
    memory: list[PartMemory]
    disk_start_mb: float
    disk_end_mb: float
    disk_growth_mb_per_h: float | None
    drained_s: float
    caught_up_s: float
    silent_ws: list[str]
    statuses: dict[str, int]
    data_dir: str
    http_sent: int
    webhook_sent: int
    stack_log: list[str] = field(default_factory=list)

    def held(self) -> bool:
        """The stack kept up with the rate: the clients got their acks, the worker its counts."""
        return self.acked_per_s >= 0.95 * self.rate and self.caught_up_s <= HELD_CATCH_UP_S

    def clean(self) -> bool:
        """Nothing lost, nothing counted twice, every fault recovered, every request answered."""
        return (self.lost == self.kpi_missing == self.double_counted == self.wrong_cells == 0
                and self.all_recovered() and not self.unexpected and self.unacknowledged == 0
                and self.malformed_accepted == 0)

    def all_recovered(self) -> bool:
        return len(self.faults) == len(self.planned) and all(f.recovered_s is not None for f in self.faults)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def build_result(*, minutes: float, rate: float, target: Target, faults: list[FaultResult],
                 planned: list[str], missing: set[bytes], comparison: Comparison, watcher: KpiWatcher,
                 silent: SilentWebSocket, sampler: Sampler, load_window: tuple[float, float],
                 drained_s: float, caught_up_s: float, http_sent: int, webhook_sent: int,
                 stack_lines: list[str], data_dir: Path) -> SoakResult:
    start, end = load_window
    changes = [t for t in watcher.changes if start <= t <= end]
    gap, gap_at = longest_gap([start, *changes, end])
    memory = []
    for part, samples in sorted(sampler.samples.items()):
        steady = longest_life(samples)
        span = (steady[-1].t - steady[0].t) / 60 if steady else 0.0
        growth = growth_per_hour([(s.t, s.rss) for s in steady]) if span >= 3 else None
        memory.append(PartMemory(part, max(s.rss for s in samples) / MB, max(s.pss for s in samples) / MB,
                                 growth / MB if growth is not None else None, span,
                                 len({s.pid for s in samples}) - 1))
    disk = sampler.disk
    disk_growth = growth_per_hour([(t, float(b)) for t, b in disk[1:]]) if len(disk) > 3 else None
    sessions = [f"connected at {b - start:.0f} s, "
                + ("still connected at the end" if d is None else
                   f"dropped after {d - b:.0f} s by {'the feed' if same else 'the API going away'}")
                for b, d, same in silent.sessions]
    return SoakResult(
        minutes=minutes, rate=rate, acknowledged=len(target.book.acked),
        acknowledgements=target.book.acks, acked_per_s=len(target.book.acked) / max(end - start, 1e-9),
        lost=len(missing), kpi_missing=comparison.missing_events, double_counted=comparison.excess_events,
        vnd_missing=comparison.missing_vnd, vnd_double_counted=comparison.excess_vnd,
        wrong_cells=len(comparison.wrong_cells),
        wrong_examples=[f"{c[0]} {c[1] or 'province'} {c[2]}: stored {h}, expected {w}"
                        for c, h, w in comparison.wrong_cells[:5]],
        invalid_rejected=target.invalid_rejected, unexpected=dict(target.unexpected),
        unacknowledged=target.unacknowledged, malformed_posted=target.malformed_posted,
        malformed_rejected=target.malformed_rejected, malformed_accepted=target.malformed_accepted,
        longest_kpi_gap_s=gap, longest_kpi_gap_at_s=gap_at - start, faults=faults, planned=planned,
        memory=memory, disk_start_mb=disk[0][1] / MB if disk else 0.0,
        disk_end_mb=disk[-1][1] / MB if disk else 0.0,
        disk_growth_mb_per_h=disk_growth / MB if disk_growth is not None else None,
        drained_s=drained_s, caught_up_s=caught_up_s, silent_ws=sessions, statuses=dict(target.statuses),
        data_dir=str(data_dir), http_sent=http_sent, webhook_sent=webhook_sent,
        stack_log=[line for line in stack_lines if "exited" in line or "restart" in line
                   or "stopping" in line or "failing" in line])


def report_lines(r: SoakResult) -> list[str]:
    out = [
        f"ioc soak: {r.minutes:g} min at {r.rate:g} events/s target "
        f"({r.http_sent:,} events over HTTP, {r.webhook_sent:,} payment webhooks sent)",
        f"  rate held             {'yes' if r.held() else 'no'} (acknowledged at least 95% of the "
        f"target, and counted within {HELD_CATCH_UP_S:.0f} s of the load's end)",
        f"  events acknowledged   {r.acknowledged:,} unique ({r.acknowledgements:,} acknowledgements "
        f"with duplicates; {r.acked_per_s:,.0f}/s)",
        f"  lost                  {r.lost:,} not in the ledger; KPIs short by {r.kpi_missing:,} events, "
        f"{r.vnd_missing:,} VND",
        f"  double-counted        {r.double_counted:,} events, {r.vnd_double_counted:,} VND "
        f"({r.wrong_cells} KPI cells differ from the recomputation)",
    ]
    out += [f"    {line}" for line in r.wrong_examples]
    out += [
        f"  invalid rejected      {r.invalid_rejected:,}; unexpected outcomes: {r.unexpected or 'none'}; "
        f"given up unacknowledged: {r.unacknowledged:,}",
        f"  malformed             {r.malformed_posted:,} posted, {r.malformed_rejected:,} rejected, "
        f"{r.malformed_accepted:,} accepted",
        f"  longest KPI gap       {r.longest_kpi_gap_s:.1f} s (from {r.longest_kpi_gap_at_s:.0f} s into "
        f"the load; today's dossier.received polled every 0.25 s)",
        f"  catch-up              requests drained {r.drained_s:.1f} s and everything counted "
        f"{r.caught_up_s:.1f} s after the load stopped",
        "  faults (recovery: new process / readyz / fresh events counted, HTTP and webhook):",
    ]
    out += [f"    {f.line()}" for f in r.faults]
    skipped = [p for p in r.planned[len(r.faults):]]
    if skipped:
        out.append(f"    not injected: {', '.join(skipped)}")
    out.append("  memory (peak RSS of the part's process, peak PSS of all its processes, RSS growth "
               "of its longest-lived process after its first fifth, restarts):")
    for m in r.memory:
        growth = "n/a" if m.growth_mb_per_h is None else f"{m.growth_mb_per_h:+.1f} MB/h"
        out.append(f"    {m.part:<10} {m.peak_rss_mb:7.1f} MB RSS  {m.peak_pss_mb:7.1f} MB PSS  "
                   f"growth {growth:>12} over {m.judged_min:4.1f} min  restarts {m.restarts}")
    disk = "n/a" if r.disk_growth_mb_per_h is None else f"{r.disk_growth_mb_per_h:+.0f} MB/h"
    out.append(f"  data dir              {r.disk_start_mb:.0f} MB → {r.disk_end_mb:.0f} MB ({disk}) "
               f"{r.data_dir}")
    out.append(f"  client never reading  {'; '.join(r.silent_ws) or 'never connected'}")
    out.append(f"  answers               {dict(sorted(r.statuses.items()))}")
    out += [f"  ioc up: {line}" for line in r.stack_log[:20]]
    return out
