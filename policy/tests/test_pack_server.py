"""The pack as Pulumi runs it: __main__.py serves the analyzer over gRPC, the engine calls Analyze.

Starts `python .` in policy/ (what the Pulumi runner's runpy.run_path(<pack dir>) amounts to), reads
the port it prints, and speaks the analyzer protocol to it, with properties encoded as the engine
encodes them, unknown-during-preview sentinels included.
"""

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE
from rules import POLICIES

POLICY_DIR = Path(__file__).resolve().parents[1]
BUCKET = "gcp:storage/bucket:Bucket"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[Any]:
    server = subprocess.Popen(
        [sys.executable, "-u", "."],
        cwd=POLICY_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port_line = server.stdout.readline().strip()
        assert port_line.isdigit(), f"pack did not start: {port_line!r} {server.stderr}"
        with grpc.insecure_channel(f"127.0.0.1:{port_line}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        server.terminate()
        server.wait(timeout=30)


def analyze(analyzer: Any, resource_type: str, props: Mapping[str, Any]) -> list[Any]:
    properties = json_format.ParseDict(dict(props), struct_pb2.Struct())
    request = analyzer_pb2.AnalyzeRequest(
        type=resource_type,
        properties=properties,
        urn=f"urn:pulumi:dev::ai-service::{resource_type}::subject",
        name="subject",
    )
    return list(analyzer.Analyze(request, timeout=30).diagnostics)


def test_pack_serves_every_policy_as_mandatory(analyzer: Any) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    served = {policy.name: policy.enforcementLevel for policy in info.policies}
    assert served.keys() == {policy.name for policy in POLICIES}
    assert set(served.values()) == {analyzer_pb2.MANDATORY}


def test_a_bad_bucket_is_reported_as_a_mandatory_violation(analyzer: Any) -> None:
    diagnostics = analyze(analyzer, BUCKET, {"uniformBucketLevelAccess": False})
    assert len(diagnostics) == 2, diagnostics
    assert {diagnostic.policyName for diagnostic in diagnostics} == {
        "buckets-uniform-access-and-public-access-prevention"
    }
    assert all(d.enforcementLevel == analyzer_pb2.MANDATORY for d in diagnostics)


def test_a_hardened_bucket_passes(analyzer: Any) -> None:
    props = {"uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced"}
    assert analyze(analyzer, BUCKET, props) == []


def test_values_unknown_in_preview_yield_no_diagnostic_at_all(analyzer: Any) -> None:
    # Not even the advisory "can't run policy during preview" the SDK emits when a rule trips on one.
    props = {
        "pushConfig": {
            "pushEndpoint": UNKNOWN_STRING_VALUE,
            # As the stack declares it: the invoker's email and the function's URI, both unknown.
            "oidcToken": {
                "serviceAccountEmail": UNKNOWN_STRING_VALUE,
                "audience": UNKNOWN_STRING_VALUE,
            },
        },
        "deadLetterPolicy": {"deadLetterTopic": UNKNOWN_STRING_VALUE},
    }
    assert analyze(analyzer, SUBSCRIPTION, props) == []
