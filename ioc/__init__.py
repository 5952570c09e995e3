"""Shared core of the IOC streaming backend: event model, KPI catalogue, settings, storage, CLI."""

__version__ = "0.1.0"
