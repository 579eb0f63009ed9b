"""Runs the Pulumi program under recording mocks; shared by every infra test.

The mocks fill what Google Cloud computes (service-account emails and names, resource ids in
their real formats, the function's run.app URI and Cloud Run service, the project number), so
assertions about wiring compare against realistic values instead of None.
"""

from __future__ import annotations

import runpy
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

REPOSITORY = Path(__file__).resolve().parents[2]
# As Pulumi.yaml's `main: infra/` has Pulumi run it: runpy.run_path of the directory.
PROGRAM = REPOSITORY / "infra"
PULUMI_PROJECT = "ai-service"
PULUMI_STACK = "dev"
PROJECT_ID = "bike-share-test"
PROJECT_NUMBER = "123456789012"
GET_PROJECT = "gcp:organizations/getProject:getProject"
SERVICE_IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"


@dataclass
class Registration:
    """One resource as the engine saw it: what the program sent, what the mocks answered."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    state: dict[str, Any]
    dependencies: set[str] = field(default_factory=set)
    resource_id: str = ""


@dataclass
class Invocation:
    token: str
    args: dict[str, Any]


class CloudMocks(pulumi_mocks.Mocks):
    """Answers like Google Cloud would, for the resource types the stack uses."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        state: dict[str, Any] = dict(args.inputs)
        project = state.get("project") or PROJECT_ID
        name = state.get("name") or args.name
        resource_id = f"{args.name}-id"
        if args.typ == "gcp:serviceaccount/account:Account":
            email = f"{state['accountId']}@{project}.iam.gserviceaccount.com"
            resource_id = f"projects/{project}/serviceAccounts/{email}"
            state.update(
                email=email, name=resource_id, member=f"serviceAccount:{email}", uniqueId="1"
            )
        elif args.typ == "gcp:pubsub/topic:Topic":
            resource_id = f"projects/{project}/topics/{name}"
        elif args.typ == "gcp:pubsub/subscription:Subscription":
            resource_id = f"projects/{project}/subscriptions/{name}"
        elif args.typ == "gcp:storage/bucket:Bucket":
            resource_id = name
            state.update(url=f"gs://{name}", selfLink=f"https://www.googleapis.com/b/{name}")
        elif args.typ == "gcp:storage/bucketObject:BucketObject":
            resource_id = f"{state['bucket']}-{name}"
            state.update(md5hash="bWQ1", generation=1, mediaLink=f"https://x/{name}")
        elif args.typ == "gcp:artifactregistry/repository:Repository":
            resource_id = (
                f"projects/{project}/locations/{state['location']}"
                f"/repositories/{state['repositoryId']}"
            )
            state["name"] = state["repositoryId"]
        elif args.typ == "gcp:cloudfunctionsv2/function:Function":
            location = state["location"]
            resource_id = f"projects/{project}/locations/{location}/functions/{name}"
            service_config = dict(state.get("serviceConfig") or {})
            service_config.update(
                uri=f"https://{name}-7g5hx2aq-uc.a.run.app",
                service=f"projects/{project}/locations/{location}/services/{name}",
                gcfUri=f"https://{location}-{project}.cloudfunctions.net/{name}",
            )
            state.update(serviceConfig=service_config, state="ACTIVE", environment="GEN_2")
        elif args.typ == "gcp:projects/service:Service":
            resource_id = f"{project}/{state['service']}"
        elif args.typ == SERVICE_IDENTITY:
            # generateServiceIdentity answers with the agent, e.g. service-N@gcp-sa-pubsub.
            agent = state["service"].split(".")[0]
            email = f"service-{PROJECT_NUMBER}@gcp-sa-{agent}.iam.gserviceaccount.com"
            resource_id = f"projects/{project}/services/{state['service']}"
            state.update(email=email, member=f"serviceAccount:{email}")
        elif args.typ == "gcp:monitoring/notificationChannel:NotificationChannel":
            resource_id = (
                f"projects/{project}/notificationChannels/{zlib.crc32(args.name.encode())}"
            )
            state["name"] = resource_id
        elif args.typ == "gcp:monitoring/alertPolicy:AlertPolicy":
            resource_id = f"projects/{project}/alertPolicies/{zlib.crc32(args.name.encode())}"
            state["name"] = resource_id
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict:  # type: ignore[override]
        if args.token == GET_PROJECT:
            project = args.args.get("projectId") or PROJECT_ID
            return {
                "id": f"projects/{project}",
                "projectId": project,
                "number": PROJECT_NUMBER,
                "name": project,
            }
        raise NotImplementedError(f"the program called an unexpected function {args.token}")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping each registration's parent and dependencies."""

    def __init__(self, mocks: CloudMocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}
        self.invocations: list[Invocation] = []
        self._requests: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registered = self.resources[response.urn]
            self.registrations[response.urn] = Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=bool(request.custom),
                inputs=_plain(pulumi.runtime.rpc.deserialize_properties(request.object)),
                state=_plain(registered.state),
                dependencies=set(request.dependencies),
                resource_id=registered.id or "",
            )
        return response

    def Invoke(self, request: Any) -> Any:
        args = pulumi.runtime.rpc.deserialize_properties(request.args)
        self.invocations.append(Invocation(token=request.tok, args=_plain(args)))
        return super().Invoke(request)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


@dataclass
class ProgramRun:
    """Everything one run of the program registered, invoked and exported."""

    registrations: list[Registration]
    invocations: list[Invocation]
    outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[Registration]:
        return [item for item in self.registrations if item.type == type_token]

    def one(self, type_token: str, **inputs: Any) -> Registration:
        """The single resource of a type whose inputs include `inputs` (fails loudly otherwise)."""
        found = [
            item
            for item in self.of_type(type_token)
            if all(item.inputs.get(key) == value for key, value in inputs.items())
        ]
        assert len(found) == 1, (
            f"expected exactly one {type_token} with {inputs}, found {[item.urn for item in found]}"
        )
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        for item in self.registrations:
            if item.urn == urn:
                return item
        raise KeyError(urn)

    def custom(self) -> Iterator[Registration]:
        return (item for item in self.registrations if item.custom)

    def depends_on(self, dependent: Registration, dependency: Registration) -> bool:
        """Whether `dependent` waits for `dependency`, directly or through other resources."""
        seen: set[str] = set()
        pending = list(dependent.dependencies)
        while pending:
            urn = pending.pop()
            if urn == dependency.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            upstream = next((item for item in self.registrations if item.urn == urn), None)
            if upstream is not None:
                pending.extend(upstream.dependencies)
        return False


def run_pulumi_program(
    program: Path,
    pulumi_project: str,
    values: Mapping[str, str],
    *,
    mocks: CloudMocks,
    preview: bool = False,
    secret: Sequence[str] = (),
) -> ProgramRun:
    """Runs a Pulumi program (its __main__.py) once as stack dev under `mocks` with config `values`
    (namespaced keys) and returns what it did. Pulumi's runtime state is global per process, so each run resets
    the root stack and the configuration before starting."""
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(dict(values), list(secret))
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks, project=pulumi_project, stack=PULUMI_STACK, preview=preview, monitor=monitor
    )
    root = runtime_settings.get_root_resource()
    assert isinstance(root, pulumi.runtime.stack.Stack)
    exported: dict[str, Any] = {}

    def run() -> None:
        runpy.run_path(str(program), run_name="__main__")
        resolved = _sync_await(pulumi.Output.from_input(dict(root.outputs)).future())
        exported.update(resolved or {})

    _sync_await(run_pulumi_func(run))
    return ProgramRun(
        registrations=list(monitor.registrations.values()),
        invocations=list(monitor.invocations),
        outputs=exported,
    )


def run_program(
    config: Mapping[str, str] | None = None,
    *,
    project: str | None = PROJECT_ID,
    region: str | None = None,
    preview: bool = False,
    mocks: CloudMocks | None = None,
    secret: Sequence[str] = (),
) -> ProgramRun:
    """Runs the program (infra/) once under fresh mocks and returns what it did.

    `config` holds ai-service:* keys without the namespace; `mocks` replaces the default
    CloudMocks (a subclass that answers differently for one resource type); `secret` names keys set
    with --secret (namespaced, e.g. "ai-service:alertEmails").
    """
    values: dict[str, str] = {}
    if project is not None:
        values["gcp:project"] = project
    if region is not None:
        values["gcp:region"] = region
    values.update({f"{PULUMI_PROJECT}:{key}": value for key, value in (config or {}).items()})
    return run_pulumi_program(
        PROGRAM,
        PULUMI_PROJECT,
        values,
        mocks=mocks or CloudMocks(),
        preview=preview,
        secret=secret,
    )
