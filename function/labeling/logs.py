"""Structured logs: one JSON line per event on stdout, which Cloud Logging parses into fields.

https://cloud.google.com/functions/docs/monitoring/logging#writing_structured_logs
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

MAX_FIELD_CHARS = 1024  # keep a hostile path or id from bloating the log line


def _clip(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return value[:MAX_FIELD_CHARS] + "..."
    return value


def log_event(severity: str, message: str, stream: TextIO | None = None, **fields: object) -> None:
    """Write one log line; None-valued fields are left out."""
    entry = {"severity": severity, "message": _clip(message)}
    entry.update({key: _clip(value) for key, value in fields.items() if value is not None})
    # ensure_ascii escapes control and bidi characters, so a hostile value cannot forge log lines.
    line = json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)
    target = stream or sys.stdout
    target.write(line + "\n")
    target.flush()
