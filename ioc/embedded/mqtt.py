"""The embedded MQTT broker (amqtt, from PyPI) for the sensors connector, tests and the demo.

Listens on loopback only. Clients must give a user name (any): amqtt keeps messages for an
offline persistent session only when the session is not anonymous.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ioc.embedded.logfiles import LogLimit
from ioc.embedded.processes import accepts, spawn, stop, wait_until

_CONFIG = """listeners:
  default:
    type: tcp
    bind: {host}:{port}
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: false
"""


@dataclass
class EmbeddedMqtt:
    host: str
    port: int
    root: Path
    log_limit: LogLimit | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "amqtt.yaml"
        config.write_text(_CONFIG.format(host=self.host, port=self.port), encoding="utf-8")
        script = "from amqtt.scripts.broker_script import main; main()"
        self.proc = spawn([sys.executable, "-c", script, "-c", str(config)],
                          log_limit=self.log_limit, log_file=self.root / "mqtt.log")
        proc = self.proc
        wait_until(lambda: accepts(self.host, self.port), timeout_s=timeout_s,
                   what="MQTT broker (amqtt)", alive=lambda: proc.poll() is None)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
