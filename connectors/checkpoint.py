"""A connector's checkpoint: a small JSON document replaced atomically after each acked send.

A connector publishes, waits for the broker's acks, then saves where it got to. A crash
between the two re-sends at most the last unsaved chunk, with the same event ids, which the
stream worker recognises as duplicates: nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Checkpoint:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return loaded

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(state, out, ensure_ascii=False)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.path)


def checkpoint_for(data_dir: Path, name: str) -> Checkpoint:
    return Checkpoint(data_dir / "connectors" / f"{name}.json")
