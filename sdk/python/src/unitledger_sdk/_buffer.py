"""The bounded offline buffer: reports waiting for the server, oldest first.

In memory always; with a ``path`` also in an append-only JSON-lines file (an
``add`` line per report, a ``done`` line per delivered key), so reports survive a
restart of the extension. The file is emptied whenever the buffer is.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

__all__ = ["OfflineBuffer"]


class OfflineBuffer:
    """FIFO of report bodies keyed by idempotency key, at most ``capacity`` long."""

    def __init__(self, capacity: int = 10_000, path: str | os.PathLike[str] | None = None) -> None:
        self.capacity = capacity
        self.path = None if path is None else Path(path)
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        if self.path is not None:
            self._load(self.path)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.capacity

    def push(self, body: dict[str, Any]) -> None:
        key = str(body["idempotency_key"])
        self._items[key] = body
        self._write({"op": "add", "body": body})

    def peek(self) -> dict[str, Any] | None:
        return next(iter(self._items.values()), None)

    def done(self, key: str) -> None:
        if self._items.pop(key, None) is None:
            return
        if not self._items and self.path is not None:
            self.path.write_text("")
        else:
            self._write({"op": "done", "key": key})

    def _write(self, line: dict[str, Any]) -> None:
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, separators=(",", ":")) + "\n")

    def _load(self, path: Path) -> None:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            return
        for raw in path.read_text(encoding="utf-8").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # a line torn by a crash mid-write: the report was never acknowledged
            if line.get("op") == "add":
                self._items[str(line["body"]["idempotency_key"])] = line["body"]
            elif line.get("op") == "done":
                self._items.pop(str(line.get("key")), None)
