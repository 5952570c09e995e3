"""``ioc soak``: the whole embedded stack under load and faults, checked against what it acked.

- ``load``: the events sent (valid, duplicate, late, invalid, malformed, probes). Pure.
- ``accounting``: what was acknowledged, its recomputed KPIs, and the comparison. Pure.
- ``processes``: the ``ioc up`` process tree: finding, killing and sampling its parts.
- ``clients``: the load senders, the probe, the KPI watcher and the client that never reads.
- ``run``: the schedule and the report.
"""
