"""What the ops tools (ops.smoke, ops.redrive) share: exit codes, stack outputs, Pull and leases."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.cloud.pubsub_v1 import SubscriberClient

# Exit status of every ops tool: 0 pass, 1 fail (something was judged and did not pass),
# 2 usage or setup error (nothing was judged; the message says what to fix).
PASS, FAIL, USAGE_ERROR = 0, 1, 2

# Without return_immediately (deprecated), Pull "may wait (for a bounded amount of time) until at
# least one message is available" (google.pubsub.v1.PullRequest); this bounds one such wait.
PULL_WAIT_SECONDS = 10.0
# The client library's own dispatcher chunks ack and modack requests like this
# (_ACK_IDS_BATCH_SIZE = 1000).
ACK_IDS_PER_REQUEST = 1000

# A Pull can fail transiently (or, on real Pub/Sub, end with DEADLINE_EXCEEDED when nothing arrived in
# time); the tools' loops are the retry, bounded by their own deadlines, so RPCs run with retry=None.
PULL_TRANSIENT = (
    api_exceptions.DeadlineExceeded,
    api_exceptions.ServiceUnavailable,
    api_exceptions.InternalServerError,
    api_exceptions.Aborted,
    api_exceptions.Unknown,
    api_exceptions.TooManyRequests,
)


class UsageError(Exception):
    """Bad arguments, an unreadable input, missing stack outputs: exit 2 with this message."""


def resource_path(project: str, kind: str, name: str) -> str:
    """`projects/P/<kind>/<name>` from a short name; a full path is kept as given."""
    if name.startswith("projects/"):
        return name
    return f"projects/{project}/{kind}/{name}"


def read_outputs(source: str) -> dict[str, Any]:
    """Stack outputs from a `pulumi stack output --json` file (`-` reads stdin)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        outputs = json.loads(text)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read stack outputs from {source}: {error}") from error
    if not isinstance(outputs, dict):
        raise UsageError(f"stack outputs in {source} are not a JSON object")
    return outputs


def resolve_outputs(arguments: argparse.Namespace, names: Mapping[str, str]) -> dict[str, str]:
    """Each argument in `names` (argument -> stack output name): explicit values win over
    --outputs-json; every one is required in the end."""
    source = arguments.outputs_json
    outputs = read_outputs(source) if source else {}
    values: dict[str, str] = {}
    for argument, output_name in names.items():
        value = getattr(arguments, argument) or outputs.get(output_name)
        if not isinstance(value, str) or not value:
            if source:
                where = "stdin" if source == "-" else source
                raise UsageError(
                    f"the stack has no output {output_name!r} (read from {where}): "
                    f"run make deploy first, or give --{argument}"
                )
            raise UsageError(
                f"--{argument} is required (or stack output {output_name!r} in --outputs-json)"
            )
        values[argument] = value
    return values


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def modify_ack_deadline(
    subscriber: SubscriberClient,
    subscription_path: str,
    ack_ids: Sequence[str],
    seconds: int,
    what: str = "messages",
) -> None:
    """Extend (seconds > 0) or release (0, a nack) leases; best effort, chunked."""
    for start in range(0, len(ack_ids), ACK_IDS_PER_REQUEST):
        try:
            subscriber.modify_ack_deadline(
                request={
                    "subscription": subscription_path,
                    "ack_ids": list(ack_ids[start : start + ACK_IDS_PER_REQUEST]),
                    "ack_deadline_seconds": seconds,
                }
            )
        except api_exceptions.GoogleAPICallError as error:
            # Not fatal: a lease simply expires after the subscription's ack deadline.
            verb = "releasing" if seconds == 0 else "extending the leases of"
            print(f"warning: {verb} {what} failed: {error}", file=sys.stderr)


def release(
    subscriber: SubscriberClient,
    subscription_path: str,
    ack_ids: Sequence[str],
    what: str = "messages",
) -> None:
    """Ack deadline 0 = a nack: the messages become deliverable to their owner again at once."""
    modify_ack_deadline(subscriber, subscription_path, ack_ids, 0, what)
