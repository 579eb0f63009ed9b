"""Google's own Pub/Sub emulator as a child process: found, started, awaited, stopped, restarted.

Shared by `make local` and the end-to-end and reliability suites, so every one of them runs the same
emulator the same way. The emulator ships with google-cloud-cli (`pubsub-emulator` component, Java 17);
see ../shared/notes/emulators.md for what it does and does not do.

    with PubSubEmulator() as emulator:      # a free loopback port
        os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
        ...
        emulator.restart()                  # same address, every topic and subscription forgotten
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Self

from ops.processes import ChildProcess, StartError, port_taken

READY_LINE = "Server started, listening on"
DEFAULT_START_TIMEOUT_SECONDS = 60.0
INSTALL_HINT = (
    "Google's Pub/Sub emulator is not installed: install the Debian package "
    "google-cloud-cli-pubsub-emulator (Google's apt repository) or run "
    "`gcloud components install pubsub-emulator`, plus a Java 17+ runtime"
)
# The launcher inside the SDK: starting it directly skips gcloud's own Python start-up (1-2 s a start).
_LAUNCHER = Path("platform") / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"


class EmulatorError(RuntimeError):
    """The emulator is missing, did not start, or died; the message says which and what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


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

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
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
        self._close_child()
        self._child = ChildProcess(
            self.process_name, self.command(), ready=lambda output: self.ready_line in output
        )
        try:
            self._child.launch().wait_ready(timeout)
        except StartError as error:
            self._close_child()
            raise EmulatorError(f"{self.title} on {self.host}: {error}") from None
        except BaseException:
            # A Ctrl-C or SIGTERM while it starts: its group is its own, so no signal reaches the
            # java process; stop it here or it outlives us (adopted by PID 1).
            self._close_child()
            raise
        return self

    def command(self) -> list[str]:
        return emulator_command(self.bind_host, self.port)

    def stop(self) -> None:
        """Stop the whole process group and wait until the port is free again."""
        if self._child is None:
            return
        self._child.stop()
        _wait_port_free(self.bind_host, self.port)

    def restart(self, timeout: float = DEFAULT_START_TIMEOUT_SECONDS) -> Self:
        """Stop and start again on the same address: Pub/Sub coming back, with no state."""
        self.stop()
        return self.start(timeout)

    def output(self) -> str:
        return self._child.output() if self._child is not None else ""

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


def _wait_port_free(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while port_taken(host, port) and time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    """`python -m ops.emulators check`: exit 2 with what to install when an emulator is missing."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["check"]:
        print("usage: python -m ops.emulators check", file=sys.stderr)
        return 2
    try:
        emulator_command("127.0.0.1", 8085)
        firestore_emulator_command("127.0.0.1", 8080)  # the User-Service's tests
    except EmulatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
