"""The emulators as child processes: Google's own Pub/Sub emulator, and the local Vision emulator (or
its stand-in); and the variables that point the Google client libraries at them.

Shared by `make local`, the end-to-end and reliability suites and bench/, so every one of them runs
the same emulators the same way. The Pub/Sub emulator ships with google-cloud-cli (`pubsub-emulator`
component, Java 17); see ../shared/notes/emulators.md for what it does and does not do.

    with PubSubEmulator() as emulator:      # a free loopback port
        publisher, subscriber = pubsub_clients(emulator.host)
        ...
        emulator.restart()                  # same address, every topic and subscription forgotten
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Self

from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from ops import ROOT
from ops.processes import HOST, ChildProcess, StartError, free_port, port_taken

READY_LINE = "Server started, listening on"
DEFAULT_START_TIMEOUT_SECONDS = 60.0
INSTALL_HINT = (
    "Google's Pub/Sub emulator is not installed: install the Debian package "
    "google-cloud-cli-pubsub-emulator (Google's apt repository) or run "
    "`gcloud components install pubsub-emulator`, plus a Java 17+ runtime"
)
# The launcher inside the SDK: starting it directly skips gcloud's own Python start-up (1-2 s a start).
_LAUNCHER = Path("platform") / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
# The one line `python -m vision_emulator` (and the stand-in, same interface) prints once it serves.
VISION_READY = re.compile(
    r"Vision (?:emulator|STAND-IN) listening on (?P<host>[^\s:]+):(?P<port>\d+)"
)


class EmulatorError(RuntimeError):
    """The emulator is missing, did not start, or died; the message says which and what to do."""


@contextlib.contextmanager
def emulator_environment(pubsub: str | None = None, storage: str | None = None) -> Iterator[None]:
    """PUBSUB_EMULATOR_HOST / STORAGE_EMULATOR_HOST (the client libraries' own variables) set while
    clients are built: the clients read them then, and only then."""
    values = {"PUBSUB_EMULATOR_HOST": pubsub, "STORAGE_EMULATOR_HOST": storage}
    given = {name: value for name, value in values.items() if value is not None}
    previous = {name: os.environ.get(name) for name in given}
    os.environ.update(given)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pubsub_clients(host: str) -> tuple[PublisherClient, SubscriberClient]:
    """A publisher and a subscriber for the Pub/Sub emulator at host."""
    with emulator_environment(pubsub=host):
        return PublisherClient(), SubscriberClient()


def emulator_command(host: str, port: int) -> list[str]:
    """The command that starts the emulator on host:port, or EmulatorError naming what to install."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorError(f"gcloud is not on PATH. {INSTALL_HINT}")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise EmulatorError(f"java is not on PATH. {INSTALL_HINT}")
    # gcloud is usually /usr/bin/gcloud -> <sdk root>/bin/gcloud.
    sdk_root = Path(os.path.realpath(gcloud)).parent.parent
    for root in (sdk_root, sdk_root / "lib" / "google-cloud-sdk"):
        launcher = root / _LAUNCHER
        if launcher.is_file() and os.access(launcher, os.X_OK):
            return [str(launcher), f"--host={host}", f"--port={port}"]
    raise EmulatorError(f"no pubsub-emulator component under {sdk_root}. {INSTALL_HINT}")


class PubSubEmulator:
    """One emulator process on a fixed address (a free port unless given), in its own process group."""

    title = "the Pub/Sub emulator"
    process_name = "pubsub-emulator"
    ready_line = READY_LINE

    def __init__(self, host: str = HOST, port: int | None = None) -> None:
        self.bind_host = host
        self.port = port or free_port(host)
        self.host = f"{host}:{self.port}"  # what PUBSUB_EMULATOR_HOST takes
        self._child: ChildProcess | None = None

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.running

    def start(self, timeout: float = DEFAULT_START_TIMEOUT_SECONDS) -> Self:
        """Start and return once the emulator says it serves (2-15 s here)."""
        if self.running:
            return self
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> Self:
        """Start the process without waiting for it (so several emulators start at once); the
        child is recorded before it is spawned, so close() reaches it whenever a signal comes."""
        self._close_child()
        self._child = ChildProcess(
            self.process_name, self.command(), ready=lambda output: self.ready_line in output
        )
        try:
            self._child.launch()
        except BaseException:
            self._close_child()
            raise
        return self

    def wait_ready(self, timeout: float = DEFAULT_START_TIMEOUT_SECONDS) -> Self:
        """Return once a launched emulator serves; EmulatorError (it stopped) if it does not."""
        assert self._child is not None, "launch() first"
        try:
            # A Ctrl-C or SIGTERM while it starts stops it too: its group is its own, so no signal
            # reaches the java process, which would outlive us (adopted by PID 1).
            self._child.wait_ready(timeout)
        except StartError as error:
            self._close_child()
            raise EmulatorError(f"{self.title} on {self.host}: {error}") from None
        except BaseException:
            self._close_child()
            raise
        return self

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid

    def command(self) -> list[str]:
        return emulator_command(self.bind_host, self.port)

    def stop(self) -> None:
        """Stop the whole process group and wait until the port is free again."""
        if self._child is None:
            return
        self._child.stop()
        deadline = time.monotonic() + 10.0
        while port_taken(self.bind_host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, timeout: float = DEFAULT_START_TIMEOUT_SECONDS) -> Self:
        """Stop and start again on the same address: Pub/Sub coming back, with no state."""
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        self.stop()
        self._close_child()

    def _close_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


FIRESTORE_READY_LINE = "Dev App Server is now running."
FIRESTORE_INSTALL_HINT = (
    "Google's Firestore emulator is not installed: install the Debian package "
    "google-cloud-cli-firestore-emulator (Google's apt repository) or run "
    "`gcloud components install cloud-firestore-emulator`, plus a Java 17+ runtime"
)
_FIRESTORE_LAUNCHER = Path("platform") / "cloud-firestore-emulator" / "cloud_firestore_emulator"


def firestore_emulator_command(host: str, port: int) -> list[str]:
    """The Firestore emulator's own launcher (3 s to ready here; `gcloud emulators firestore
    start` adds gcloud's start-up), or EmulatorError naming what to install."""
    gcloud = shutil.which("gcloud")
    if gcloud is None or (shutil.which("java") is None and not os.environ.get("JAVA_HOME")):
        raise EmulatorError(f"gcloud or java is not on PATH. {FIRESTORE_INSTALL_HINT}")
    sdk_root = Path(os.path.realpath(gcloud)).parent.parent
    for root in (sdk_root, sdk_root / "lib" / "google-cloud-sdk"):
        launcher = root / _FIRESTORE_LAUNCHER
        if launcher.is_file():
            return ["bash", str(launcher), "start", f"--host={host}", f"--port={port}"]
    raise EmulatorError(
        f"no cloud-firestore-emulator component under {sdk_root}. {FIRESTORE_INSTALL_HINT}"
    )


class FirestoreEmulator(PubSubEmulator):
    """Google's Firestore emulator (native mode), started and stopped like the Pub/Sub one; the
    clients use it when FIRESTORE_EMULATOR_HOST=<host>. It keeps every project apart, in memory."""

    title = "the Firestore emulator"
    process_name = "firestore-emulator"
    ready_line = FIRESTORE_READY_LINE

    def command(self) -> list[str]:
        return firestore_emulator_command(self.bind_host, self.port)


class VisionEmulator(ChildProcess):
    """`python -m vision_emulator --host 127.0.0.1 --port PORT` (or `module`, the stand-in, with the
    same interface): `host` is "127.0.0.1:PORT" (what VISION_EMULATOR_HOST takes); with port 0 (the
    OS picks one) it is known once the emulator is ready and has said which.

    gs:// images are read from `storage_emulator_host`; without one, the emulator has no storage.
    """

    def __init__(
        self,
        storage_emulator_host: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        *,
        module: str = "vision_emulator",
        name: str = "Vision emulator",
        port: int = 0,
    ) -> None:
        environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        environment.pop("STORAGE_EMULATOR_HOST", None)
        if storage_emulator_host:
            environment["STORAGE_EMULATOR_HOST"] = storage_emulator_host
        command = [sys.executable, "-m", module, "--host", HOST, "--port", str(port), *extra_args]
        super().__init__(name, command, self._serving, environment, cwd=ROOT)
        self.ready_line = ""
        self.port = port
        self.host = f"{HOST}:{port}" if port else ""

    def _serving(self, output: str) -> bool:
        found = VISION_READY.search(output)
        if found is None:
            return False
        start = output.rfind("\n", 0, found.start()) + 1
        end = output.find("\n", found.end())
        self.ready_line = output[start : end if end >= 0 else len(output)]
        self.port = int(found["port"])
        self.host = f"{found['host']}:{self.port}"
        return True


def main(argv: list[str] | None = None) -> int:
    """`python -m ops.emulators check`: exit 2 with what to install when an emulator is missing."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["check"]:
        print("usage: python -m ops.emulators check", file=sys.stderr)
        return 2
    try:
        emulator_command(HOST, 8085)
        firestore_emulator_command(HOST, 8080)  # the User-Service's tests
    except EmulatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
