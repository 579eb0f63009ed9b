"""Structured logs: one JSON line per event on stdout, which Cloud Logging parses into fields."""

from __future__ import annotations

import json
import sys

MAX_FIELD_CHARS = 512  # a hostile id or path cannot bloat a line


def _clip(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return value[:MAX_FIELD_CHARS] + "..."
    return value


def log_event(severity: str, message: str, **fields: object) -> None:
    """One line with `severity`, `message` and the fields (None written as null)."""
    entry = {"severity": severity, "message": _clip(message)}
    entry.update({key: _clip(value) for key, value in fields.items()})
    # ensure_ascii escapes control characters, so a hostile value cannot forge log lines.
    line = json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str) + "\n"
    try:
        sys.stdout.write(line)
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # a closed log stream must never decide a request's outcome
