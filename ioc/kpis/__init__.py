"""The KPI catalogue and the pure functions that compute KPIs from accepted events."""
