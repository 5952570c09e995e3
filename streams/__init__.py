"""Faust stream workers: consume raw events, compute KPIs, store them, publish changes."""
