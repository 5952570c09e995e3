"""Pages the API serves, shipped as package data: ``wall/`` (the operations wall) and
``console/`` (the operators' console).

``dashboards/grafana`` holds Grafana's dashboards; Grafana reads them from the checkout,
not from the package."""

from importlib.resources import files
from pathlib import Path


def wall_dir() -> Path:
    """The wall's folder in the installed package (editable or not, any working directory)."""
    return Path(str(files(__name__) / "wall"))


def console_dir() -> Path:
    """The operators' console's folder in the installed package (as :func:`wall_dir`)."""
    return Path(str(files(__name__) / "console"))
