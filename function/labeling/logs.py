"""Structured logs: one JSON line per event on stdout, which Cloud Logging parses into fields.

https://cloud.google.com/functions/docs/monitoring/logging#writing_structured_logs
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

MAX_FIELD_CHARS = 1024  # keep a long id or message from bloating the log line


def _clip(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return value[:MAX_FIELD_CHARS] + "..."
    return value


def log_event(severity: str, message: str, stream: TextIO | None = None, **fields: object) -> None:
    """Write one log line with the given fields (None is written as null)."""
    entry = {"severity": severity, "message": _clip(message)}
    entry.update({key: _clip(value) for key, value in fields.items()})
    # ensure_ascii escapes control and bidi characters, so a hostile value cannot forge log lines.
    line = json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str) + "\n"
    for target in (stream or sys.stdout, sys.stderr):
        try:
            target.write(line)  # one write per line, so concurrent events never interleave
            target.flush()
            return
        except (OSError, ValueError):
            # A broken or closed stdout (the log collector went away) must not decide the
            # event's outcome: raising here would 5xx an event whose result was published, and
            # every later one too. Try stderr, else the line is lost, never the event.
            continue


def log_outcome(
    severity: str,
    message: str,
    *,
    image_id: object,
    status: str,
    matched: bool,
    source_message_id: str | None,
    latency_seconds: float | None,
    error_code: str | None = None,
    decision: str | None = None,
    **details: object,
) -> None:
    """The one line each event gets: the same keys every time, null where a value is unknown, and
    `details` where one kind of event has more to say (the size of a refused request).

    `latency` uses Cloud Logging's duration format ("0.012s"); `latency_ms` is the same as a number.
    `decision` is the result's (accept / review / reject), null without a review band or a result.
    The log-based metrics in infra/monitoring/metrics.py read these keys: rename one there too.

    No object name: a path may hold a user's identifiers, and logs are read more widely and kept
    longer than results. An event is found by `id` and `source_message_id`; its path is in its
    result (labeled or failed) or, for a retried message, in the message itself (its dead letter).
    An unkeyed hash of a path would not hide it (a name like users/123/a.jpg is found by trying
    names), and a keyed one would need a managed secret for what the ids already give.
    """
    log_event(
        severity,
        message,
        None,  # stdout; positional, so no detail can be taken for the stream
        id=image_id,
        status=status,
        matched=matched,
        error_code=error_code,
        decision=decision,
        source_message_id=source_message_id,
        latency=None if latency_seconds is None else f"{latency_seconds:.6f}s",
        latency_ms=None if latency_seconds is None else round(latency_seconds * 1000, 3),
        **details,
    )
