"""Shared core of the IOC streaming backend: event model, KPI catalogue, settings, storage, CLI."""

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The installed distribution's version (pyproject.toml), for ``ioc --version`` and the
    OpenAPI document; ``0+unknown`` when run from a checkout that was never installed."""
    try:
        return version("ioc-streaming")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = package_version()
