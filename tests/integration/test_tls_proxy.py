"""The TLS reverse-proxy config of docs/operations.md (deploy/nginx/ioc.conf) works: nginx
with it (only ports, certificate paths and the upstream address changed) in front of a real
API redirects HTTP to HTTPS, serves the API over TLS, hides /metrics, and upgrades the live
feed's WebSocket (a wall client authenticates and gets its snapshot over wss://). Skipped,
saying why, where nginx or openssl is not installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from ioc.embedded.processes import free_port, wait_until
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def site_config(api_port: int, http_port: int, https_port: int, cert: Path, key: Path) -> str:
    conf = (ROOT / "deploy" / "nginx" / "ioc.conf").read_text()
    conf = re.sub(r"^ *listen \[::\]:.*\n", "", conf, flags=re.M)
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "/etc/ssl/ioc/fullchain.pem": str(cert),
        "/etc/ssl/ioc/privkey.pem": str(key),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{api_port};",
        "server 127.0.0.1:8081;": f"server 127.0.0.1:{free_port()};",
    }
    for old, new in replacements.items():
        assert old in conf, old
        conf = conf.replace(old, new)
    return conf


@pytest.fixture(scope="module")
def proxy(pipeline: Pipeline) -> Iterator[tuple[int, int, Path]]:
    nginx, openssl = shutil.which("nginx"), shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx and openssl are needed to run the reverse-proxy config")
    root = pipeline.root / "nginx"
    root.mkdir(exist_ok=True)
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    http_port, https_port = free_port(), free_port()
    api_port = int(pipeline.api_url.rsplit(":", 1)[1])
    (root / "ioc.conf").write_text(site_config(api_port, http_port, https_port, cert, key))
    temp = " ".join(f"{name}_temp_path {root / name};"
                    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (root / "nginx.conf").write_text(
        f"daemon off; worker_processes 1; pid {root / 'nginx.pid'}; error_log {root / 'error.log'};\n"
        + ("user root root;\n" if os.geteuid() == 0 else "")
        + f"events {{}}\nhttp {{ access_log off; {temp} include {root / 'ioc.conf'}; }}\n")
    proc = subprocess.Popen([nginx, "-p", str(root), "-c", str(root / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", https_port), 1).close()
            return True
        except OSError:
            return False

    try:
        wait_until(listening, timeout_s=30, what="nginx", alive=lambda: proc.poll() is None)
        yield http_port, https_port, cert
    finally:
        proc.terminate()
        proc.wait(30)


def test_http_is_redirected_and_the_api_is_served_over_tls(
        proxy: tuple[int, int, Path], pipeline: Pipeline) -> None:
    http_port, https_port, cert = proxy
    moved = httpx.get(f"http://127.0.0.1:{http_port}/wall", follow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["location"].startswith("https://")
    trust = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=f"https://127.0.0.1:{https_port}", verify=trust) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert "max-age" in ready.headers["strict-transport-security"]
        areas = client.get("/api/v1/areas",
                           headers={"Authorization": f"Bearer {pipeline.tokens['operator']}"})
        assert areas.status_code == 200 and areas.json()
        assert client.get("/metrics").status_code == 404  # not public


def test_the_live_feed_upgrades_to_a_websocket_through_the_proxy(
        proxy: tuple[int, int, Path], pipeline: Pipeline) -> None:
    _, https_port, cert = proxy
    context = ssl.create_default_context(cafile=str(cert))
    with connect(f"wss://127.0.0.1:{https_port}/ws", ssl=context, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "auth", "token": pipeline.tokens["operator"]}))
        first = json.loads(ws.recv(timeout=30))
        assert first["type"] == "snapshot", first
