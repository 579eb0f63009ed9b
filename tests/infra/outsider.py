"""Runs infra/__main__.py the way a third-party suite does, and prints what it registered as JSON.

Started as a separate process (no pytest, no pyproject pythonpath, any cwd) by test_outsider.py.
The mocks fill only what such a suite must fill: service-account `email`, the function's
`serviceConfig.uri` and `serviceConfig.service`, getProject's `number`; every id is
name + "_id" and every other output just echoes the inputs. The `omit` list drops some of those
fields to prove the program copes when a suite fills even less.

Usage: python outsider.py '[{"program": PATH, "config": {...}, "config_via": "env"}, ...]'
(config_via: "set_all_config" (default) or "env" (PULUMI_CONFIG); optional "omit", "preview").
All runs share one process, as a suite's tests do.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await


class MinimalMocks(pulumi.runtime.Mocks):
    def __init__(self, omit: set[str]) -> None:
        self.omit = omit
        self.resources: list[dict[str, Any]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ == "gcp:serviceaccount/account:Account":
            outputs["email"] = f"{args.inputs['accountId']}@p.iam.gserviceaccount.com"
        if args.typ == "gcp:cloudfunctionsv2/function:Function":
            service_config = dict(outputs.get("serviceConfig") or {})
            if "uri" not in self.omit:
                service_config["uri"] = "https://fn-abc-uc.a.run.app"
            if "service" not in self.omit:
                service_config["service"] = "fn-service"
            outputs["serviceConfig"] = service_config
        self.resources.append({"type": args.typ, "name": args.name, "inputs": args.inputs})
        return args.name + "_id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        return {} if "number" in self.omit else {"number": "123"}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    runtime_settings.ROOT.set(None)
    mocks = MinimalMocks(set(spec.get("omit", [])))
    config = spec.get("config", {})
    if spec.get("config_via") == "env":
        os.environ["PULUMI_CONFIG"] = json.dumps(config)
    pulumi.runtime.set_mocks(
        mocks, project="ai-service", stack="dev", preview=bool(spec.get("preview"))
    )
    if spec.get("config_via", "set_all_config") == "set_all_config":
        pulumi.runtime.set_all_config(config)
    outputs: dict[str, Any] = {}

    def program_function() -> None:
        runpy.run_path(spec["program"])
        stack = runtime_settings.get_root_resource()
        assert isinstance(stack, pulumi.runtime.stack.Stack)
        resolved = _sync_await(pulumi.Output.from_input(dict(stack.outputs)).future())
        outputs.update(resolved or {})

    try:
        _sync_await(run_pulumi_func(program_function))
    except Exception as error:  # reported to the test, which shows it
        return {"error": f"{type(error).__name__}: {error}", "resources": mocks.resources}
    return {"error": None, "resources": mocks.resources, "outputs": outputs}


if __name__ == "__main__":
    json.dump([run(spec) for spec in json.loads(sys.argv[1])], sys.stdout, default=repr)
