"""`python -m vision_emulator --host 127.0.0.1 --port 0`: serve the Vision emulator until SIGTERM/SIGINT.

Once it serves, it prints exactly one line to stdout, `Vision emulator listening on HOST:PORT` (port 0 asks
the OS for a free one; the line names the port it got). Point a client at it with
VISION_EMULATOR_HOST=HOST:PORT; gs:// images are read from the storage emulator at STORAGE_EMULATOR_HOST,
which must be set. Exit codes: 0 after a clean stop, 1 if it cannot serve, 2 for bad input:
STORAGE_EMULATOR_HOST unset, an address it cannot listen on (both checked before the model loads), or
the model not installed (the message names the install step); one line on stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from vision_emulator.artifact import DEFAULT_MODEL_DIR
from vision_emulator.images import StorageReader
from vision_emulator.model import Detector, ModelMissing
from vision_emulator.service import Annotator, build_server, log

NO_STORAGE_EMULATOR = (
    "STORAGE_EMULATOR_HOST is not set: the Vision emulator reads gs:// images only from a storage "
    "emulator, never from Cloud Storage (e.g. STORAGE_EMULATOR_HOST=http://127.0.0.1:9023)"
)


# glibc's mallopt(M_MMAP_THRESHOLD): every block above 128 KiB (a decoded image, a tile) gets its own
# mapping, returned when freed. By default the threshold grows after such frees, so the next images land
# in per-thread arenas that keep the memory: six 75 M pixel images left the emulator at 1,946 MiB;
# with this, 188 MiB after the same peak (issue 17 second review, measured 2026-12-03).
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def return_freed_images_to_the_system() -> None:
    """Set the malloc threshold above, where the C library is glibc (elsewhere: nothing to do)."""
    libc = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(libc), "mallopt", None) if libc else None
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m vision_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument(
        "--parallelism",
        type=int,
        default=None,
        help="inferences run at once (default: CPUs available, at most 4)",
    )
    parser.add_argument(
        "--min-score",
        type=float,
        default=0.5,
        help="labels and objects scoring below this are not reported (Vision reports none below 0.5)",
    )
    return parser.parse_args(argv)


def unusable_address(host: str, port: int) -> str | None:
    """Why host:port cannot be listened on (taken, not an address here), or None."""
    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        if port and error.errno == errno.EADDRINUSE:
            return f"port {port} is taken: choose another, or --port 0 for a free one"
        return error.strerror or str(error)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    storage_host = os.environ.get("STORAGE_EMULATOR_HOST", "").strip()
    if not storage_host:
        # Never a fallback to real Cloud Storage and the developer's own credentials (issue 17).
        print(f"error: {NO_STORAGE_EMULATOR}", file=sys.stderr)
        return 2
    problem = unusable_address(args.host, args.port)
    if problem is not None:
        # Before the model loads, in one line (gRPC's own bind failure logs three).
        print(
            f"error: the Vision emulator cannot listen on {args.host}:{args.port}: {problem}",
            file=sys.stderr,
        )
        return 2
    return_freed_images_to_the_system()
    try:
        detector = Detector(args.model_dir, args.parallelism, args.min_score)
    except ModelMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    storage = StorageReader(storage_host)
    server = build_server(Annotator(detector, storage))
    address = f"{args.host}:{args.port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:
        port = 0
        reason = str(error)
    else:
        reason = "the address is in use or not valid here"
    if not port:
        print(f"error: the Vision emulator cannot listen on {address}: {reason}", file=sys.stderr)
        return 1
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.start()
    log(
        "INFO",
        "serving",
        address=f"{args.host}:{port}",
        storage_emulator_host=storage.host,
        parallelism=detector.parallelism,
        min_score=detector.min_score,
    )
    print(f"Vision emulator listening on {args.host}:{port}", flush=True)
    stopping.wait()
    server.stop(grace=5).wait(10)
    log("INFO", "stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
