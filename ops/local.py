"""`make local`: the whole system of the design on this machine, all seven steps, with no cloud account
and no Pulumi CLI: the reference User-Service and its upload screen in front of the AI-Service.

    python -m ops.local [--vision emulator|stand-in] [--serve] [--timeout 60]
    python -m ops.local upload FILE [--name OBJECT]      # while `--serve` runs: straight to the bucket
    python -m ops.local publish ID PATH [--timeout 60]   # publish {"id": ID, "path": PATH}, print its result

It starts, each on a free loopback port and in a process group of its own:
- Google's Pub/Sub and Firestore emulators (ops/emulators.py), launched together; the AI-Service's
  topics and subscriptions provisioned from the stack's own declaration (infra/topology.py: names,
  push endpoint, retry policy, dead-letter topic and its subscription, max delivery attempts), and the
  User-Service's own push subscription on the results (user_service/stack names and policies);
- a storage emulator (gcp-storage-emulator) holding the images bucket, and in front of it, for the
  browser and the User-Service, the StorageGateway (CORS and GCS's upload preconditions); the Vision
  emulator reads the emulator itself;
- a Vision emulator (`python -m vision_emulator`, issue 13), or with `--vision stand-in` the stand-in
  ops/vision_stand_in.py, which recognises only the shipped sample images;
- the function, as a real functions-framework process with the environment infra/ deploys
  (Settings.function_environment(), THREADS included), pointed at the emulators;
- the reference User-Service (user_service/function under functions-framework), serving the upload
  screen and its API, on Firestore and the others' emulators.

Then it runs the seed scenario as a person does, through the User-Service's HTTP API: each sample of
ops/samples/manifest.json is uploaded (POST /api/uploads, PUT to the signed URL, POST .../done: steps
1, 2a-2c), the AI-Service labels it (3-6) and the entry is read until final (7). It prints the upload
screen's address and a table. Exit status: 0 when every sample ended as expected (the bicycle
accepted, the house blocked), 1 when one did not, 2 for bad input or an emulator that does not start.
Every process it started is stopped on exit, on failure, on Ctrl-C and on SIGTERM; `--serve` keeps them
running (after the scenario) until then, for a person to try photos of their own on the screen.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from google.api_core import exceptions as api_exceptions
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

# The stack's settings and topology are pure (no Pulumi imports): the local run reads the very
# declaration the stack does.
from infra.settings import LABELED_TOPIC, Settings, SettingsError, load_settings
from infra.topology import (
    DeadLetterPolicy,
    PushToFunction,
    RetryPolicy,
    Subscription,
    Topic,
    Topology,
    topology,
)
from ops import ROOT, common, journeys, scenario
from ops.common import FAIL, PASS, USAGE_ERROR, UsageError
from ops.emulators import (
    EmulatorError,
    FirestoreEmulator,
    PubSubEmulator,
    VisionEmulator,
    emulator_command,
    emulator_environment,
    firestore_emulator_command,
    pubsub_clients,
)
from ops.function_server import FunctionServer
from ops.processes import (
    HOST,
    ChildProcess,
    StartError,
    accepts,
    free_port,
    interrupted_status,
    signals_ignored,
    stopped_on_signals,
)
from user_service.local.server import UserServiceServer, local_environment
from user_service.local.storage_gateway import StorageGateway
from user_service.stack import settings as user_service_stack

LOCAL_PROJECT = "ai-service-local"
# Where `--serve` says how to reach it, for `upload` and `publish` (AI_SERVICE_LOCAL_STATE overrides).
STATE_FILE = ROOT / "build" / "local" / "stack.json"
STATE_VARIABLE = "AI_SERVICE_LOCAL_STATE"
DEFAULT_TIMEOUT_SECONDS = 60.0
START_TIMEOUT_SECONDS = 90.0  # a cold start on a busy 2-core machine
LOCAL_COLUMNS = ("id", "path", "status", "verdict", "top labels", "latency")

VISION_EMULATOR = "emulator"
VISION_STAND_IN = "stand-in"
VISION_MODULES = {VISION_EMULATOR: "vision_emulator", VISION_STAND_IN: "ops.vision_stand_in"}
VISION_EMULATOR_MISSING = (
    "the local Vision emulator (Python package vision_emulator) is not importable: run "
    "`make install` (its requirements and `make vision-model`), or run `make local VISION=stand-in` "
    "(python -m ops.local --vision stand-in) for the stand-in that recognises only the shipped "
    "sample images"
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


def state_file() -> Path:
    return Path(os.environ.get(STATE_VARIABLE) or STATE_FILE)


def vision_emulator_installed() -> bool:
    return importlib.util.find_spec(VISION_MODULES[VISION_EMULATOR]) is not None


# -- what the stack declares, for this machine -------------------------------------------------


def local_settings(
    values: Mapping[str, str | None] | None = None, project: str = LOCAL_PROJECT
) -> Settings:
    """The stack's settings with its defaults (or `values`), for a project that exists nowhere."""
    return load_settings(project, None, dict(values or {}), stack="local")


def config_settings(assignments: Sequence[str] = ()) -> Settings:
    """local_settings from `KEY=VALUE` assignments of ai-service:* keys (without the namespace);
    UsageError naming what is wrong."""
    values: dict[str, str | None] = {}
    for assignment in assignments:
        key, equals, value = assignment.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"--config takes KEY=VALUE (an ai-service:* key), got {assignment!r}")
        values[key.strip()] = value
    try:
        return local_settings(values)
    except SettingsError as error:
        raise UsageError(str(error)) from None


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
    lines = describe_topology_lines(declared.subscriptions, "the function")
    lines.append(f"    ack deadline of {push.name}: {push.ack_deadline_seconds} s")
    return lines


def describe_topology_lines(subscriptions: Sequence[Subscription], pushed_to: str) -> list[str]:
    lines = []
    for subscription in subscriptions:
        kind = f"push to {pushed_to}" if subscription.push else "pull"
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
    return lines


# -- the User-Service's side, as its stack declares it -------------------------------------------


def user_service_subscriptions() -> tuple[Topic, tuple[Subscription, ...]]:
    """The User-Service stack's results delivery (user_service/stack/delivery.py): its dead-letter
    topic, that topic's subscription, and its push subscription on the results, with the stack's
    default retry and dead-letter policies."""
    dead_letter = Topic(user_service_stack.DEAD_LETTER_TOPIC)
    defaults = user_service_stack.load_settings(
        "local", None, {"aiServiceStack": "organization/ai-service/local"}
    )
    return dead_letter, (
        Subscription(
            user_service_stack.DEAD_LETTER_SUBSCRIPTION,
            dead_letter.name,
            ack_deadline_seconds=user_service_stack.ACK_DEADLINE_SECONDS,
        ),
        Subscription(
            user_service_stack.RESULTS_SUBSCRIPTION,
            LABELED_TOPIC,
            ack_deadline_seconds=user_service_stack.ACK_DEADLINE_SECONDS,
            push=PushToFunction(invoker_account_id=user_service_stack.PUSH_ACCOUNT_ID),
            retry_policy=RetryPolicy(
                defaults.minimum_backoff_seconds, defaults.maximum_backoff_seconds
            ),
            dead_letter_policy=DeadLetterPolicy(dead_letter.name, defaults.max_delivery_attempts),
        ),
    )


# -- the processes -----------------------------------------------------------------------------


class LocalStack:
    """The emulators, the function and the User-Service, each on a free port, started together and
    stopped together."""

    def __init__(
        self,
        settings: Settings,
        vision: str = VISION_EMULATOR,
        *,
        pubsub: PubSubEmulator | None = None,
        firestore: FirestoreEmulator | None = None,
        user_service_environment: Mapping[str, str] | None = None,
    ) -> None:
        """`pubsub` and `firestore`: emulators already running (the tests' shared ones, each test
        in a project of its own), neither started nor stopped here; `user_service_environment`
        overrides the User-Service's variables (e.g. VERDICT_DEADLINE_SECONDS)."""
        self.settings = settings
        self.declared = topology(settings)
        self.vision_kind = vision
        self.project = settings.project
        self.bucket = settings.buckets.images
        self.pubsub = pubsub or PubSubEmulator(HOST)
        self.firestore = firestore or FirestoreEmulator(HOST)
        self.own_emulators: list[PubSubEmulator] = [
            emulator
            for emulator, given in ((self.pubsub, pubsub), (self.firestore, firestore))
            if given is None
        ]
        storage_port = free_port()
        self.storage_url = f"http://{HOST}:{storage_port}"
        self.storage = ChildProcess(
            "storage emulator",
            [
                *(sys.executable, "-m", "gcp_storage_emulator", "start", "--in-memory", "--quiet"),
                *("--host", HOST, "--port", str(storage_port), "--default-bucket", self.bucket),
            ],
            ready=lambda _output: accepts(HOST, storage_port),
            cwd=ROOT,
        )
        # Vision reads gs:// objects from the emulator itself, as the AI-Service reads the bucket.
        self.vision = VisionEmulator(
            self.storage_url,
            module=VISION_MODULES[vision],
            name=f"Vision {vision}",
            port=free_port(),
        )
        self.function = FunctionServer(
            function_environment(settings, self.vision.host, self.pubsub.host)
        )
        # The browser and the User-Service reach storage through the gateway (CORS, preconditions),
        # which allows the upload screen's origin: the User-Service's own address.
        self.gateway_port = free_port()
        self.gateway_url = f"http://{HOST}:{self.gateway_port}"
        self.gateway: StorageGateway | None = None  # an in-process server, made in start()
        self.user_service = UserServiceServer(
            local_environment(
                self.project,
                self.bucket,
                self.firestore.host,
                self.pubsub.host,
                self.gateway_url,
                **(user_service_environment or {}),
            )
        )

    @property
    def pubsub_host(self) -> str:
        return self.pubsub.host

    @property
    def screen_url(self) -> str:
        """The upload screen's address."""
        return f"{self.user_service.url}/"

    def children(self) -> tuple[ChildProcess, ...]:
        return (self.storage, self.vision, self.function, self.user_service)

    def check(self) -> LocalStack:
        """Bad input before anything starts: UsageError (the Vision emulator missing) or
        EmulatorError (Google's Pub/Sub or Firestore emulator missing)."""
        if self.vision_kind == VISION_EMULATOR and not vision_emulator_installed():
            raise UsageError(VISION_EMULATOR_MISSING)
        emulator_command(HOST, 0)
        firestore_emulator_command(HOST, 0)
        return self

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> LocalStack:
        """Launch everything at once (the two Java emulators take longest), then wait for each;
        StartError or EmulatorError if one fails.

        Each child is recorded before it is launched, so stop() reaches it whatever moment a
        Ctrl-C or SIGTERM interrupts the start-up.
        """
        for emulator in self.own_emulators:
            emulator.launch()
        for child in self.children():
            child.launch()
        self.gateway = StorageGateway(
            self.storage_url, [self.user_service.url], port=self.gateway_port
        ).start()
        for emulator in self.own_emulators:
            emulator.wait_ready(timeout)
        for child in self.children():
            child.wait_ready(timeout)
        publisher, subscriber = pubsub_clients(self.pubsub_host)
        try:
            provision(publisher, subscriber, self.project, self.declared, self.function.url)
            dead_letter, subscriptions = user_service_subscriptions()
            publisher.create_topic(
                name=f"projects/{self.project}/topics/{dead_letter.name}", timeout=30
            )
            for subscription in subscriptions:
                subscriber.create_subscription(
                    request=subscription_request(
                        self.project, subscription, self.user_service.push_endpoint
                    ),
                    timeout=30,
                )
        finally:
            subscriber.close()
        return self

    def dead(self) -> list[str]:
        """The names of started processes that are no longer running."""
        dead = [] if self.pubsub.running else ["the Pub/Sub emulator"]
        dead += [] if self.firestore.running else ["the Firestore emulator"]
        for child in self.children():
            if not child.running:
                dead.append(f"the {child.name}")
        return dead

    def stop(self) -> None:
        """Stop everything, the services first; each stop is attempted whatever the others do."""
        for child in (self.user_service, self.function, self.vision):
            with contextlib.suppress(Exception):
                child.close()
        if self.gateway is not None:
            with contextlib.suppress(Exception):
                self.gateway.stop()
        with contextlib.suppress(Exception):
            self.storage.close()
        for emulator in reversed(self.own_emulators):
            with contextlib.suppress(Exception):
                emulator.close()

    def describe(self) -> list[str]:
        vision = (
            f"Vision    STAND-IN (ops/vision_stand_in.py, no model): recognises only the shipped "
            f"sample images, by content    {self.vision.host}"
            if self.vision_kind == VISION_STAND_IN
            else f"Vision    local Vision emulator (python -m vision_emulator, an on-device model, "
            f"not Cloud Vision)    {self.vision.host}"
        )
        threads = self.settings.function_environment()["THREADS"]
        _, subscriptions = user_service_subscriptions()
        return [
            "  Pub/Sub   Google's Pub/Sub emulator (real)    " + self.pubsub_host,
            "  Firestore Google's Firestore emulator (real), the User-Service's uploads    "
            + self.firestore.host,
            f"  Storage   gcp-storage-emulator, bucket {self.bucket}    {self.storage_url}",
            "            and the StorageGateway in front of it for the browser and the "
            f"User-Service (CORS, GCS's upload checks)    {self.gateway_url}",
            "  " + vision,
            f"  Function  function/main.py under functions-framework (real), THREADS={threads} as "
            f"deployed    {self.function.url}",
            "  User-Service  user_service/function/main.py under functions-framework (real): the "
            f"upload screen and its API    {self.screen_url}",
            "  Topics and subscriptions, from infra/topology.py (the stack's declaration):",
            *describe_topology(self.declared),
            "  and the User-Service's own, from user_service/stack:",
            *describe_topology_lines(subscriptions, "the User-Service"),
        ]

    def state(self) -> dict[str, Any]:
        """What `upload` and `publish` need to reach this stack (written to state_file())."""
        return {
            "pid": os.getpid(),
            "project": self.project,
            "bucket": self.bucket,
            "pubsub_host": self.pubsub_host,
            "storage_url": self.storage_url,
            "new_image_topic": self.declared.new_image_topic.name,
            "results_subscription": self.declared.results_subscription.name,
            "firestore_host": self.firestore.host,
            "screen_url": self.screen_url,
        }


def clients(project: str, pubsub_host: str, storage_url: str) -> scenario.Clients:
    with emulator_environment(pubsub=pubsub_host, storage=storage_url):
        return scenario.Clients.build(project)


def target(project: str, bucket: str, topic: str, subscription: str) -> scenario.Target:
    return scenario.Target(
        project=project,
        bucket=bucket,
        topic_path=common.resource_path(project, "topics", topic),
        subscription_path=common.resource_path(project, "subscriptions", subscription),
    )


# -- the seed scenario -------------------------------------------------------------------------


def run_seed(
    stack: LocalStack, timeout: float, out: TextIO | None = None
) -> tuple[int, list[journeys.Journey]]:
    """The samples through the User-Service's API, as the upload screen sends them."""
    return journeys.run(stack.user_service.url, journeys.seed_images(), timeout, out)


# -- commands ----------------------------------------------------------------------------------


def python_command() -> str:
    """How to run this Python from the repository's root: .venv/bin/python, as make installs it."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    return ".venv/bin/python" if Path(sys.executable) == venv_python else sys.executable


def screen_banner(stack: LocalStack) -> list[str]:
    rule = "=" * 78
    return [rule, f"  Upload screen: {stack.screen_url}", rule]


def serve_instructions(stack: LocalStack) -> list[str]:
    python = python_command()
    return [
        "",
        *screen_banner(stack),
        "Serving. Open the upload screen in a browser on this machine and choose or drop a photo of",
        "your own: it goes through all seven steps, and the screen says Allowed or Blocked.",
        "Or, from another terminal in this directory, straight to the AI-Service (no User-Service):",
        f"  {python} -m ops.local upload ~/Pictures/bike.jpg          # -> gs://{stack.bucket}/bike.jpg",
        f'  {python} -m ops.local publish 3 bike.jpg                  # {{"id": 3, "path": "bike.jpg"}}, then its result',
        f"Or with the Google clients: PUBSUB_EMULATOR_HOST={stack.pubsub_host} "
        f"FIRESTORE_EMULATOR_HOST={stack.firestore.host} STORAGE_EMULATOR_HOST={stack.storage_url} "
        f"(project {stack.project}).",
        "Ctrl-C stops everything.",
    ]


def run_local(arguments: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        journeys.seed_images()  # a missing or unreadable sample is bad input, before anything starts
        stack = LocalStack(config_settings(arguments.config), arguments.vision).check()
    except (UsageError, EmulatorError) as error:
        print(f"local ERROR: {error}", file=sys.stderr)
        return USAGE_ERROR
    started = time.monotonic()
    print(
        "make local: the whole system on this machine, the User-Service and the AI-Service, no "
        "cloud (Ctrl-C stops everything)",
        file=out,
        flush=True,
    )
    try:
        with stopped_on_signals():
            try:
                stack.start()
            except (StartError, EmulatorError, api_exceptions.GoogleAPICallError) as error:
                print(f"local ERROR: {error}", file=sys.stderr)
                return USAGE_ERROR
            print(f"started in {time.monotonic() - started:.1f} s:", file=out)
            print("\n".join(stack.describe()), file=out, flush=True)
            print(f"upload screen: {stack.screen_url}", file=out)
            print(
                "seed scenario, through the User-Service's API as the upload screen sends it:",
                file=out,
                flush=True,
            )
            exit_code, _ = run_seed(stack, arguments.timeout, out)
            if not arguments.serve:
                return exit_code
            state_file().parent.mkdir(parents=True, exist_ok=True)
            state_file().write_text(json.dumps(stack.state(), indent=2) + "\n", encoding="utf-8")
            print("\n".join(serve_instructions(stack)), file=out, flush=True)
            while not (dead := stack.dead()):
                time.sleep(0.5)
            print(f"local ERROR: {', '.join(dead)} stopped; stopping the rest", file=sys.stderr)
            return FAIL
    except KeyboardInterrupt as interrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        return interrupted_status(interrupt)
    finally:
        with signals_ignored():
            stack.stop()
            if arguments.serve:
                with contextlib.suppress(OSError):
                    state_file().unlink()
            print(
                "stopped: the User-Service, the function, Vision, the gateway, the storage, "
                "Firestore and Pub/Sub emulators",
                file=out,
                flush=True,
            )


def read_state() -> dict[str, Any]:
    """What `--serve` wrote, checked: every key there, its process alive, its emulators answering.

    A run killed with SIGKILL leaves its file behind; without the probe the clients would retry
    a dead address for minutes before failing without a message.
    """
    path = state_file()
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
    if file.is_dir():
        raise UsageError(f"{file} is a folder: give one image file")
    if not file.is_file():
        raise UsageError(f"image not found: {file}")
    state = read_state()
    name = arguments.name or file.name
    run_clients = clients(state["project"], state["pubsub_host"], state["storage_url"])
    submission = scenario.Submission(name, scenario.SampleImage(file), name)
    scenario.upload(run_clients.storage, state["bucket"], [submission])
    print(f"uploaded {file} as gs://{state['bucket']}/{name} ({scenario.content_type(file)})")
    print(f"now: {python_command()} -m ops.local publish <id> {shlex.quote(name)}")
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
        description="Run the whole system on this machine, the reference User-Service and its "
        "upload screen in front of the AI-Service (emulators, no cloud account).",
    )
    parser.add_argument(
        "--vision",
        choices=sorted(VISION_MODULES),
        default=VISION_EMULATOR,
        help="the local Vision emulator (default) or the stand-in that knows only the samples",
    )
    parser.add_argument("--serve", action="store_true", help="keep running after the scenario")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a stack setting, as `pulumi config set ai-service:KEY VALUE` would set it, e.g. "
        "visionFeatures=LABEL_DETECTION,OBJECT_LOCALIZATION (boxes on the screen); repeatable",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds to wait for results"
    )
    commands = parser.add_subparsers(dest="command")
    upload = commands.add_parser("upload", help="upload an image to the serving stack's bucket")
    upload.add_argument("file", help="the image file to upload")
    upload.add_argument("--name", help="object name (default: the file's name)")
    publish = commands.add_parser("publish", help='publish {"id", "path"} and print its result')
    publish.add_argument("id", help="the image id, as the User-Service sends it (a number or text)")
    publish.add_argument("path", help="the object name in the images bucket, as upload printed it")
    publish.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds to wait for the result",
    )
    arguments = parser.parse_args(argv)
    if arguments.timeout <= 0:
        parser.error("--timeout must be > 0")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        if arguments.command == "upload":
            return upload_command(arguments)
        if arguments.command == "publish":
            return publish_command(arguments)
    except UsageError as error:
        print(f"local ERROR: {error}", file=sys.stderr)
        return USAGE_ERROR
    except scenario.SUBMIT_ERRORS as error:
        print(f"local ERROR: {scenario.describe(error)}", file=sys.stderr)
        return USAGE_ERROR
    return run_local(arguments)


if __name__ == "__main__":
    sys.exit(main())
