"""`make local`: the whole AI-Service on this machine, with no cloud account and no Pulumi CLI.

    python -m ops.local [--vision emulator|stand-in] [--serve] [--timeout 60] [--*-port N]
    python -m ops.local upload FILE [--name OBJECT]      # while `--serve` runs
    python -m ops.local publish ID PATH [--timeout 60]   # publish {"id": ID, "path": PATH}, print its result

It starts, each on a free loopback port and in a process group of its own:
- Google's Pub/Sub emulator (ops/emulators.py), with the topics and subscriptions provisioned from the
  stack's own declaration (infra/topology.py: names, push endpoint, retry policy, dead-letter topic
  and its subscription, max delivery attempts), the push subscription pointing at the function;
- a storage emulator (gcp-storage-emulator) holding the images bucket;
- a Vision emulator (`python -m vision_emulator`, issue 13), or with `--vision stand-in` the stand-in
  ops/vision_stand_in.py, which recognises only the shipped sample images;
- the function, as a real functions-framework process with the environment infra/ deploys
  (Settings.function_environment(), THREADS included), pointed at the emulators.

Then it runs the seed scenario (ops/scenario.py, the one `make smoke` runs against a deployed stack):
uploads the samples of ops/samples/manifest.json as image-01.jpg, image-02.jpg, ... (content type as
the file really is), publishes {"id": 1, "path": "image-01.jpg"}, ... to user-service-new-image, pulls
the results subscription like the User-Service and prints a table. Exit status: 0 when every image got
its expected verdict, 1 when one did not, 2 for bad input or an emulator that does not start. Every
process it started is stopped on exit, on failure, on Ctrl-C and on SIGTERM; `--serve` keeps them
running (after the scenario) until then.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from google.api_core import exceptions as api_exceptions
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.storage import Client as StorageClient  # type: ignore[import-untyped]  # no py.typed

# The stack's settings and topology are pure (no Pulumi imports): the local run reads the very
# declaration the stack does.
from infra.settings import Settings, load_settings
from infra.topology import Subscription, Topology, topology
from ops import common, scenario
from ops.emulators import EmulatorError, PubSubEmulator, emulator_command, free_port
from ops.function_server import ROOT, FunctionServer, wait_until_serving
from ops.processes import ChildProcess, StartError, accepts, last_lines, port_taken

HOST = "127.0.0.1"
LOCAL_PROJECT = "ai-service-local"
# Where `--serve` says how to reach it, for `upload` and `publish` (AI_SERVICE_LOCAL_STATE overrides).
STATE_FILE = ROOT / "build" / "local" / "stack.json"
STATE_VARIABLE = "AI_SERVICE_LOCAL_STATE"
DEFAULT_TIMEOUT_SECONDS = 60.0
START_TIMEOUT_SECONDS = 90.0  # a cold start on a busy 2-core machine
LOCAL_COLUMNS = ("id", "path", "status", "verdict", "top labels", "latency")
PASS, FAIL, USAGE_ERROR = scenario.PASS, scenario.FAIL, scenario.USAGE_ERROR
INTERRUPTED = 130

VISION_EMULATOR = "emulator"
VISION_STAND_IN = "stand-in"
VISION_MODULES = {VISION_EMULATOR: "vision_emulator", VISION_STAND_IN: "ops.vision_stand_in"}
VISION_READY = {
    VISION_EMULATOR: "Vision emulator listening on",
    VISION_STAND_IN: "Vision STAND-IN listening on",
}
VISION_EMULATOR_MISSING = (
    "the local Vision emulator (Python package vision_emulator) is not importable: run "
    "`make install` (its requirements and `make vision-model`), or run `make local VISION=stand-in` (python -m ops.local --vision stand-in) for "
    "the stand-in that recognises only the shipped sample images"
)


class UsageError(Exception):
    """Bad input: a missing file, a taken port, no running local stack. One line, exit 2."""


def state_file() -> Path:
    return Path(os.environ.get(STATE_VARIABLE) or STATE_FILE)


def vision_emulator_installed() -> bool:
    return importlib.util.find_spec(VISION_MODULES[VISION_EMULATOR]) is not None


# -- what the stack declares, for this machine -------------------------------------------------


def local_settings(values: Mapping[str, str | None] | None = None) -> Settings:
    """The stack's settings with its defaults (or `values`), for a project that exists nowhere."""
    return load_settings(LOCAL_PROJECT, None, dict(values or {}), stack="local")


def function_environment(settings: Settings, vision_host: str, pubsub_host: str) -> dict[str, str]:
    """What infra/serverless.py deploys (THREADS included), pointed at the emulators."""
    return {
        **settings.function_environment(),
        "VISION_EMULATOR_HOST": vision_host,
        "PUBSUB_EMULATOR_HOST": pubsub_host,
    }


def subscription_request(
    project: str, subscription: Subscription, push_endpoint: str
) -> dict[str, Any]:
    """A CreateSubscription request for one declared subscription (the emulator's API is Pub/Sub's)."""
    request: dict[str, Any] = {
        "name": f"projects/{project}/subscriptions/{subscription.name}",
        "topic": f"projects/{project}/topics/{subscription.topic}",
        "ack_deadline_seconds": subscription.ack_deadline_seconds,
        "message_retention_duration": {"seconds": subscription.retention_seconds},
    }
    if subscription.never_expire:
        request["expiration_policy"] = {}  # present without a ttl: never expires
    if subscription.push is not None:
        request["push_config"] = {
            "push_endpoint": push_endpoint,
            # Accepted by the emulator, which sends no token (shared/notes/emulators.md).
            "oidc_token": {
                "service_account_email": (
                    f"{subscription.push.invoker_account_id}@{project}.iam.gserviceaccount.com"
                ),
                "audience": push_endpoint,
            },
        }
    if subscription.retry_policy is not None:
        request["retry_policy"] = {
            "minimum_backoff": {"seconds": subscription.retry_policy.minimum_backoff_seconds},
            "maximum_backoff": {"seconds": subscription.retry_policy.maximum_backoff_seconds},
        }
    if subscription.dead_letter_policy is not None:
        request["dead_letter_policy"] = {
            "dead_letter_topic": f"projects/{project}/topics/{subscription.dead_letter_policy.topic}",
            "max_delivery_attempts": subscription.dead_letter_policy.max_delivery_attempts,
        }
    return request


def provision(
    publisher: PublisherClient,
    subscriber: SubscriberClient,
    project: str,
    declared: Topology,
    push_endpoint: str,
) -> None:
    """Create every declared topic, then every subscription (dead-letter topics exist by then)."""
    for topic in declared.topics:
        publisher.create_topic(name=f"projects/{project}/topics/{topic.name}", timeout=30)
    for subscription in declared.subscriptions:
        subscriber.create_subscription(
            request=subscription_request(project, subscription, push_endpoint), timeout=30
        )


def describe_topology(declared: Topology) -> list[str]:
    push = declared.push_subscription
    lines = []
    for subscription in declared.subscriptions:
        kind = "push to the function" if subscription.push else "pull"
        line = f"    {subscription.topic} -> {subscription.name} ({kind}"
        if subscription.retry_policy is not None:
            line += (
                f", retry backoff {subscription.retry_policy.minimum_backoff_seconds}-"
                f"{subscription.retry_policy.maximum_backoff_seconds} s"
            )
        if subscription.dead_letter_policy is not None:
            line += (
                f", dead-lettered to {subscription.dead_letter_policy.topic} after "
                f"{subscription.dead_letter_policy.max_delivery_attempts} attempts"
            )
        lines.append(line + ")")
    lines.append(f"    ack deadline of {push.name}: {push.ack_deadline_seconds} s")
    return lines


# -- the processes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    """Fixed ports if asked for (each must be free), else free ones chosen at start."""

    pubsub: int | None = None
    storage: int | None = None
    vision: int | None = None
    function: int | None = None

    def resolved(self) -> Ports:
        names = ("pubsub", "storage", "vision", "function")
        given: dict[int, str] = {}
        for name in names:
            port = getattr(self, name)
            if port is None:
                continue
            if port in given:
                raise UsageError(
                    f"port {port} is given twice (--{given[port]}-port and --{name}-port): each "
                    "process needs a port of its own"
                )
            given[port] = name
        chosen: dict[str, int] = {}
        for name in names:
            port = getattr(self, name)
            if port is not None and port_taken(HOST, port):
                raise UsageError(
                    f"port {port} on {HOST} is taken (--{name}-port): choose another, or leave "
                    "it out for a free one"
                )
            while port is None or (
                port in chosen.values() or (port in given and given[port] != name)
            ):
                port = free_port(HOST)  # never one asked for elsewhere
            chosen[name] = port
        return Ports(**chosen)


class LocalStack:
    """The emulators and the function, started together and stopped together."""

    def __init__(
        self,
        settings: Settings,
        vision: str = VISION_EMULATOR,
        ports: Ports | None = None,
        out: TextIO | None = None,
    ) -> None:
        if vision not in VISION_MODULES:
            raise UsageError(f"--vision must be one of {', '.join(VISION_MODULES)}, got {vision!r}")
        self.settings = settings
        self.declared = topology(settings)
        self.vision_kind = vision
        self._requested_ports = ports or Ports()
        self._out = out
        self.ports = Ports()
        self.pubsub: PubSubEmulator | None = None
        self.storage: ChildProcess | None = None
        self.vision: ChildProcess | None = None
        self.function: FunctionServer | None = None

    @property
    def project(self) -> str:
        return self.settings.project

    @property
    def bucket(self) -> str:
        return self.settings.buckets.images

    @property
    def pubsub_host(self) -> str:
        return f"{HOST}:{self.ports.pubsub}"

    @property
    def storage_url(self) -> str:
        return f"http://{HOST}:{self.ports.storage}"

    @property
    def vision_host(self) -> str:
        return f"{HOST}:{self.ports.vision}"

    @property
    def function_url(self) -> str:
        return f"http://{HOST}:{self.ports.function}/"

    def say(self, line: str) -> None:
        print(line, file=self._out or sys.stdout, flush=True)

    def check(self) -> LocalStack:
        """Bad input before anything starts: UsageError (the Vision emulator missing, a taken port)."""
        if self.vision_kind == VISION_EMULATOR and not vision_emulator_installed():
            raise UsageError(VISION_EMULATOR_MISSING)
        emulator_command(HOST, 0)  # EmulatorError naming what to install
        self.ports = self._requested_ports.resolved()
        return self

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> LocalStack:
        """Launch everything at once, then wait for each; UsageError/StartError/EmulatorError."""
        if self.ports.pubsub is None:
            self.check()
        inherited = dict(os.environ)
        # Each child is recorded before it is launched, so stop() reaches it whatever moment a
        # Ctrl-C or SIGTERM interrupts the start-up.
        self.storage = ChildProcess(
            "storage emulator",
            [
                sys.executable,
                "-m",
                "gcp_storage_emulator",
                "start",
                "--host",
                HOST,
                "--port",
                str(self.ports.storage),
                "--in-memory",
                "--default-bucket",
                self.bucket,
                "--quiet",
            ],
            ready=lambda _output: accepts(HOST, self.ports.storage or 0),
            env=inherited,
            cwd=ROOT,
        )
        self.storage.launch()
        self.vision = ChildProcess(
            f"Vision {self.vision_kind}",
            [
                sys.executable,
                "-m",
                VISION_MODULES[self.vision_kind],
                "--host",
                HOST,
                "--port",
                str(self.ports.vision),
            ],
            ready=lambda output: VISION_READY[self.vision_kind] in output,
            env={**inherited, "STORAGE_EMULATOR_HOST": self.storage_url},
            cwd=ROOT,
        )
        self.vision.launch()
        self.function = FunctionServer(
            function_environment(self.settings, self.vision_host, self.pubsub_host),
            port=self.ports.function,
            inherited={
                name: value
                for name, value in inherited.items()
                if name not in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST")
            },
        )
        self.function.launch()
        self.pubsub = PubSubEmulator(HOST, self.ports.pubsub)
        self.pubsub.start(timeout)
        self.storage.wait_ready(timeout)
        self.vision.wait_ready(timeout)
        assert self.function.process is not None
        try:
            wait_until_serving(self.function.url, self.function.process, timeout)
        except (RuntimeError, TimeoutError) as error:
            output = last_lines(self.function.output())
            raise StartError(f"the function did not start: {error}: {output}") from None
        publisher, subscriber = self.admin_clients()
        try:
            provision(publisher, subscriber, self.project, self.declared, self.function_url)
        finally:
            subscriber.close()
        return self

    def admin_clients(self) -> tuple[PublisherClient, SubscriberClient]:
        with emulator_environment(self.pubsub_host, self.storage_url):
            return PublisherClient(), SubscriberClient()

    def dead(self) -> list[str]:
        """The names of started processes that are no longer running."""
        dead = []
        if self.pubsub is not None and not self.pubsub.running:
            dead.append("the Pub/Sub emulator")
        for child in (self.storage, self.vision):
            if child is not None and not child.running:
                dead.append(f"the {child.name}")
        if self.function is not None and (
            self.function.process is None or self.function.process.poll() is not None
        ):
            dead.append("the function")
        return dead

    def stop(self) -> None:
        """Stop everything, the function first; each stop is attempted whatever the others do."""
        if self.function is not None:
            with contextlib.suppress(Exception):
                self.function.stop()
        for child in (self.vision, self.storage):
            if child is not None:
                with contextlib.suppress(Exception):
                    child.close()
        if self.pubsub is not None:
            with contextlib.suppress(Exception):
                self.pubsub.close()

    def describe(self) -> list[str]:
        vision = (
            f"Vision    STAND-IN (ops/vision_stand_in.py, no model): recognises only the shipped "
            f"sample images, by content    {self.vision_host}"
            if self.vision_kind == VISION_STAND_IN
            else f"Vision    local Vision emulator (python -m vision_emulator, an on-device model, "
            f"not Cloud Vision)    {self.vision_host}"
        )
        threads = self.settings.function_environment()["THREADS"]
        return [
            "  Pub/Sub   Google's Pub/Sub emulator (real)    " + self.pubsub_host,
            f"  Storage   gcp-storage-emulator, bucket {self.bucket}    {self.storage_url}",
            "  " + vision,
            f"  Function  function/main.py under functions-framework (real), THREADS={threads} as "
            f"deployed    {self.function_url}",
            "  Topics and subscriptions, from infra/topology.py (the stack's declaration):",
            *describe_topology(self.declared),
        ]

    def write_state(self, path: Path | None = None) -> None:
        path = path or state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "project": self.project,
            "bucket": self.bucket,
            "pubsub_host": self.pubsub_host,
            "storage_url": self.storage_url,
            "new_image_topic": self.declared.new_image_topic.name,
            "results_subscription": self.declared.results_subscription.name,
        }
        path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


@contextlib.contextmanager
def emulator_environment(pubsub_host: str, storage_url: str) -> Iterator[None]:
    """The client libraries' own variables, set while clients are built (they read them then)."""
    names = ("PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")
    previous = {name: os.environ.get(name) for name in names}
    os.environ["PUBSUB_EMULATOR_HOST"] = pubsub_host
    os.environ["STORAGE_EMULATOR_HOST"] = storage_url
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def clients(project: str, pubsub_host: str, storage_url: str) -> scenario.Clients:
    with emulator_environment(pubsub_host, storage_url):
        return scenario.Clients(
            StorageClient(project=project), PublisherClient(), SubscriberClient()
        )


# -- the seed scenario -------------------------------------------------------------------------


def seed_submissions(manifest: Path = scenario.DEFAULT_MANIFEST) -> list[scenario.Submission]:
    """The seed's manual test: sample N uploaded as image-0N.jpg, announced with id N."""
    images, _ = scenario.load_manifest(manifest)
    scenario.check_images(images)
    return [
        scenario.Submission(index, image, f"image-{index:02d}.jpg")
        for index, image in enumerate(images, start=1)
    ]


def target(project: str, bucket: str, topic: str, subscription: str) -> scenario.Target:
    return scenario.Target(
        project=project,
        bucket=bucket,
        topic_path=common.resource_path(project, "topics", topic),
        subscription_path=common.resource_path(project, "subscriptions", subscription),
    )


def run_seed(stack: LocalStack, timeout: float, out: TextIO | None = None) -> scenario.Report:
    submissions = seed_submissions()
    for submission in submissions:
        stack.say(
            f"  {submission.image.file.relative_to(ROOT)} -> gs://{stack.bucket}/"
            f'{submission.object_name}, then {{"id": {json.dumps(submission.image_id)}, '
            f'"path": "{submission.object_name}"}} -> {stack.declared.new_image_topic.name}'
        )
    options = scenario.Options(
        timeout=timeout,
        enforce_match=True,  # locally the verdicts are known: a wrong one fails the run
        poll_interval=0.05,
        name="local",
        columns=LOCAL_COLUMNS,
    )
    local_target = target(
        stack.project,
        stack.bucket,
        stack.declared.new_image_topic.name,
        stack.declared.results_subscription.name,
    )
    run_clients = clients(stack.project, stack.pubsub_host, stack.storage_url)
    try:
        return scenario.run(local_target, submissions, options, run_clients, out)
    finally:
        run_clients.subscriber.close()


# -- signals -----------------------------------------------------------------------------------


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def stopped_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise KeyboardInterrupt, so `finally` blocks stop the children.

    SIGINT too, explicitly: a shell starts background jobs with SIGINT ignored, and Python then
    leaves it ignored.
    """
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """While stopping: a second Ctrl-C must not cut the stopping short."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- commands ----------------------------------------------------------------------------------


def python_command() -> str:
    """How to run this Python from the repository's root: .venv/bin/python, as make installs it."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    return ".venv/bin/python" if Path(sys.executable) == venv_python else sys.executable


def serve_instructions(stack: LocalStack) -> list[str]:
    python = python_command()
    return [
        "",
        "Serving. Try an image of your own, from another terminal in this directory:",
        f"  {python} -m ops.local upload ~/Pictures/bike.jpg          # -> gs://{stack.bucket}/bike.jpg",
        f'  {python} -m ops.local publish 3 bike.jpg                  # {{"id": 3, "path": "bike.jpg"}}, then its result',
        f"Or with the Google clients: PUBSUB_EMULATOR_HOST={stack.pubsub_host} "
        f"STORAGE_EMULATOR_HOST={stack.storage_url} (project {stack.project}).",
        "Ctrl-C stops everything.",
    ]


def run_local(arguments: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        seed_submissions()  # a missing or unreadable sample is bad input, before anything starts
        stack = LocalStack(
            local_settings(),
            arguments.vision,
            Ports(
                arguments.pubsub_port,
                arguments.storage_port,
                arguments.vision_port,
                arguments.function_port,
            ),
            out,
        ).check()
    except (UsageError, scenario.UsageError, EmulatorError) as error:
        print(f"local ERROR: {error}", file=sys.stderr)
        return USAGE_ERROR
    started = time.monotonic()
    print(
        "make local: the AI-Service on this machine, no cloud (Ctrl-C stops everything)",
        file=out,
        flush=True,
    )
    try:
        with stopped_on_signals():
            try:
                stack.start()
            except (
                UsageError,
                StartError,
                EmulatorError,
                api_exceptions.GoogleAPICallError,
            ) as error:
                print(f"local ERROR: {error}", file=sys.stderr)
                return USAGE_ERROR
            print(f"started in {time.monotonic() - started:.1f} s:", file=out)
            print("\n".join(stack.describe()), file=out, flush=True)
            print("seed scenario (ops/scenario.py, as make smoke runs it):", file=out, flush=True)
            report = run_seed(stack, arguments.timeout, out)
            if not arguments.serve:
                return report.exit_code
            stack.write_state()
            print("\n".join(serve_instructions(stack)), file=out, flush=True)
            while True:
                dead = stack.dead()
                if dead:
                    print(
                        f"local ERROR: {', '.join(dead)} stopped; stopping the rest",
                        file=sys.stderr,
                    )
                    return FAIL
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        return INTERRUPTED
    finally:
        with signals_ignored():
            stack.stop()
            if arguments.serve:
                with contextlib.suppress(OSError):
                    state_file().unlink()
            print(
                "stopped: the function, Vision, storage and Pub/Sub emulators", file=out, flush=True
            )


STATE_KEYS = (
    "pid",
    "project",
    "bucket",
    "pubsub_host",
    "storage_url",
    "new_image_topic",
    "results_subscription",
)


def read_state(path: Path | None = None) -> dict[str, Any]:
    """What `--serve` wrote, checked: every key there, its process alive, its emulators answering.

    A run killed with SIGKILL leaves its file behind; without the probe the clients would retry
    a dead address for minutes before failing without a message.
    """
    path = path or state_file()
    start_one = "start one with `make local SERVE=1`"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(
            "no local stack is serving: start one with `make local SERVE=1` (or "
            "`python -m ops.local --serve`) and keep it running"
        ) from None
    missing = [key for key in STATE_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise UsageError(
            f"{path} is not a local stack's state (no {', '.join(missing)}): delete it and {start_one}"
        )
    try:
        os.kill(int(state["pid"]), 0)
    except (OSError, TypeError, ValueError):
        raise UsageError(f"the local stack recorded in {path} is gone: {start_one}") from None
    for what, address in (
        ("Pub/Sub emulator", str(state["pubsub_host"])),
        ("storage emulator", str(state["storage_url"]).removeprefix("http://")),
    ):
        host, _, port = address.rpartition(":")
        if not port.isdigit() or not accepts(host, int(port)):
            raise UsageError(
                f"the local stack recorded in {path} does not answer (its {what} at {address} is "
                f"gone): {start_one}"
            )
    return dict(state)


def upload_command(arguments: argparse.Namespace) -> int:
    file = Path(arguments.file).expanduser()
    if not file.is_file():
        raise UsageError(f"image not found: {file}")
    state = read_state()
    name = arguments.name or file.name
    run_clients = clients(state["project"], state["pubsub_host"], state["storage_url"])
    submission = scenario.Submission(name, scenario.SampleImage(file), name)
    scenario.upload(run_clients.storage, state["bucket"], [submission])
    print(f"uploaded {file} as gs://{state['bucket']}/{name} ({scenario.content_type(file)})")
    print(f"now: {python_command()} -m ops.local publish <id> {name}")
    return PASS


def publish_command(arguments: argparse.Namespace) -> int:
    state = read_state()
    image_id: int | str = int(arguments.id) if arguments.id.lstrip("-").isdigit() else arguments.id
    run_clients = clients(state["project"], state["pubsub_host"], state["storage_url"])
    local_target = target(
        state["project"], state["bucket"], state["new_image_topic"], state["results_subscription"]
    )
    submission = scenario.Submission(
        image_id, scenario.SampleImage(Path(arguments.path)), arguments.path
    )
    try:
        published_at = scenario.publish(
            run_clients.publisher, local_target.topic_path, [submission]
        )
        collected = scenario.collect(
            run_clients.subscriber,
            local_target.subscription_path,
            [submission.key],
            arguments.timeout,
            poll_interval=0.05,
        )
    finally:
        run_clients.subscriber.close()
    received_at = collected.received_at.get(submission.key)
    outcome = scenario.outcome_of(
        submission,
        collected.results.get(submission.key),
        None if received_at is None else received_at - published_at[submission.key],
    )
    print(scenario.render_table([outcome], LOCAL_COLUMNS))
    return PASS if outcome.status != scenario.NO_ANSWER else FAIL


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ops.local",
        description="Run the whole AI-Service on this machine (emulators, no cloud account).",
    )
    parser.add_argument(
        "--vision",
        choices=sorted(VISION_MODULES),
        default=VISION_EMULATOR,
        help="the local Vision emulator (default) or the stand-in that knows only the samples",
    )
    parser.add_argument("--serve", action="store_true", help="keep running after the scenario")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds to wait for results"
    )
    for name in ("pubsub", "storage", "vision", "function"):
        parser.add_argument(f"--{name}-port", type=int, help="default: a free port")
    commands = parser.add_subparsers(dest="command")
    upload = commands.add_parser("upload", help="upload an image to the serving stack's bucket")
    upload.add_argument("file")
    upload.add_argument("--name", help="object name (default: the file's name)")
    publish = commands.add_parser("publish", help='publish {"id", "path"} and print its result')
    publish.add_argument("id")
    publish.add_argument("path")
    publish.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    arguments = parser.parse_args(argv)
    if arguments.timeout <= 0:
        parser.error("--timeout must be > 0")
    for name in ("pubsub", "storage", "vision", "function"):
        port = getattr(arguments, f"{name}_port", None)
        if port is not None and not 0 < port < 65536:
            parser.error(f"--{name}-port must be from 1 to 65535, got {port}")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        if arguments.command == "upload":
            return upload_command(arguments)
        if arguments.command == "publish":
            return publish_command(arguments)
    except (UsageError, scenario.UsageError) as error:
        print(f"local ERROR: {error}", file=sys.stderr)
        return USAGE_ERROR
    except scenario.SUBMIT_ERRORS as error:
        print(f"local ERROR: {scenario.describe(error)}", file=sys.stderr)
        return USAGE_ERROR
    return run_local(arguments)


if __name__ == "__main__":
    sys.exit(main())
