"""The HTTP API: KPI reads, the live feed for the wall, operations endpoints."""
