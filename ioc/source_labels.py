"""Bounded values for the ``source`` label of the event metrics.

An event's ``source`` is whatever its producer wrote, so a label taken from it is unbounded:
one integrator with a bug (or a hostile one) can create a time series per event. docs/contract/events.md
counts by source, with sources that have no key configured, or none readable, as ``other``.
The known sources are the connectors' configured sources and those some integrator key is
bound to; only those become label values (at most :data:`MAX_KNOWN` of them).
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from ioc.settings import Settings

OTHER = "other"
"""The label of every source that is not known, or not readable."""

MAX_KNOWN = 200
"""An upper bound on the label values, whatever the keys say (sorted, the first ones kept)."""


def configured_sources(settings: Settings) -> frozenset[str]:
    """The sources of the connectors and the simulator, as configured."""
    return frozenset({settings.dvc_source, settings.payments_source, settings.sensors_source,
                      settings.sim_source})


def known_sources(settings: Settings, bound: Iterable[str]) -> frozenset[str]:
    """Configured sources and those keys are bound to, at most :data:`MAX_KNOWN`."""
    configured = configured_sources(settings)
    extra = sorted(set(bound) - configured)[:max(0, MAX_KNOWN - len(configured))]
    return configured | frozenset(extra)


def source_label(source: str | None, known: Set[str]) -> str:
    """``source`` when it is known, else :data:`OTHER`."""
    return source if source is not None and source in known else OTHER
