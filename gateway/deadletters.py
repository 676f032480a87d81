"""Frames the gateway refused, with their reason and raw bytes, as JSON lines (ingest's record shape)."""

from __future__ import annotations

import base64
import json
from pathlib import Path


class DeadLetterLog:
    """Appends one record per refused frame that carried data; flushed per write."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8")

    def write(self, reason: str, detail: str, phone: str, raw: bytes, received_ms: int) -> None:
        """Append the record of one refused frame."""
        record = {
            "reason": reason,
            "detail": detail,
            "topic": f"jt808/{phone or 'unknown'}",
            "received_ms": received_ms,
            "size_bytes": len(raw),
            "payload_b64": base64.b64encode(raw).decode("ascii"),
        }
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()
