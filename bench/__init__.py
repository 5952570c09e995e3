"""The benchmarks and the soak, outside the core: ``ioc bench <what>`` and ``ioc soak``.

- ``measure``: what every benchmark shares (percentiles, simulated records).
- ``stack``: the embedded stack a benchmark runs against, with its ``ioc`` processes.
- ``up``: ``ioc up`` as a child (the soak and the failover benchmark), its output followed.
- ``pipeline``: one stream worker's throughput and delay (``ioc bench pipeline``).
- ``feed``, ``ingest``, ``alerts``, ``connectors``: the live feed, HTTP ingest, alert
  delivery and the source connectors.
- ``faust_floor``, ``worker_failover``: what a worker's throughput is made of; how long KPI
  updates stand still after a worker is killed.
- ``soak``: ``ioc up`` under load and faults, checked against what it acknowledged.
- ``cli``: the ``ioc bench`` and ``ioc soak`` sub-commands.
"""
