"""The function under the real `functions-framework` server: moved to ops/function_server.py, which
`make local` uses too; re-exported here for the suites and bench/."""

from __future__ import annotations

from ops.function_server import (
    FUNCTION_SOURCE,
    ROOT,
    FunctionServer,
    free_port,
    wait_until_serving,
)

__all__ = ["FUNCTION_SOURCE", "ROOT", "FunctionServer", "free_port", "wait_until_serving"]
