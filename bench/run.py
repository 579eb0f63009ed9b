"""`python -m bench`: measure, print a table, write the JSON report (default bench/results/latest.json)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import end_to_end, publishing, scenarios, vision_emulator
from bench.deployed import Deployment, deployment
from bench.progress import Block, Progress
from ops import ROOT
from ops.emulators import EmulatorError, emulator_command
from ops.processes import free_port

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "latest.json"
MiB = 1024 * 1024

# Cloud Run functions are billed as Cloud Run services (request-based billing, Tier 1 regions):
# https://cloud.google.com/run/pricing (read 2026-11; free tiers ignored)
PRICE_PER_VCPU_SECOND = 0.000024
PRICE_PER_GIB_SECOND = 0.0000025
PRICE_PER_MILLION_REQUESTS = 0.40
# https://cloud.google.com/vision/pricing: LABEL_DETECTION, units 1,001 to 5,000,000 a month.
VISION_PRICE_PER_THOUSAND_IMAGES = 1.50

# Every target is a ratio against a floor measured in the same run, under the same machine load: the
# floor the function can reach, what it cannot do without (FLOOR says what it is made of).
TARGETS = {
    "overhead": ("overhead.ratio_median", "<=", 1.25),
    "concurrency (as deployed)": ("concurrency_deployed.ratio_vs_floor", ">=", 0.8),
    "cold start": ("cold_start.ratio", "<=", 1.25),
}
FLOOR = (
    "the floor function, bench/floor.py: the same functions-framework server, environment and "
    "THREADS, the same client libraries and clients (labeling.clients), and per event only the "
    "function's two RPCs (Vision BatchAnnotateImages, then Publish of a real-sized result), no parsing, "
    "verdict or log line"
)
FLOOR_OF = {
    "overhead": "per event, sequential deliveries over HTTP",
    "concurrency (as deployed)": "events/s, 64 deliveries in flight",
    "cold start": "process start to its first published result",
}
# Event counts: the full measurement (6 to 8 minutes on 2 cores, as busy as they are) and --quick
# (about 1.5 minutes).
FULL = {
    "overhead_events": 2000,
    "warmup_events": 50,
    "concurrency_events": 1920,
    "default_threads_events": 480,
    "cold_starts": 5,
    "repeat": 3,
    "end_to_end_events": 200,
    "emulator_images": 100,
    "publish_events": 1000,
    "publish_rounds": 20,
}
QUICK = {
    "overhead_events": 500,
    "warmup_events": 20,
    "concurrency_events": 640,
    "default_threads_events": 192,
    "cold_starts": 2,
    "repeat": 1,
    "end_to_end_events": 50,
    "emulator_images": 25,
    "publish_events": 250,
    "publish_rounds": 5,
}
END_TO_END_WARMUP = 3


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer events and one run (about 1.5 minutes); rougher figures",
    )
    parser.add_argument("--overhead-events", type=int)
    parser.add_argument("--warmup-events", type=int)
    parser.add_argument("--concurrency-events", type=int)
    parser.add_argument(
        "--default-threads-events",
        type=int,
        help="events for the run with functions-framework's default THREADS (it is slow)",
    )
    parser.add_argument("--clients", type=int, default=64, help="concurrent deliveries")
    parser.add_argument("--vision-latency", type=float, default=0.2, help="seconds")
    parser.add_argument("--cold-starts", type=int, help="measured starts of each")
    parser.add_argument("--repeat", type=int, help="whole runs; medians are reported")
    parser.add_argument(
        "--end-to-end-events",
        type=int,
        help="messages published through the Pub/Sub emulator, for each of function, floor and "
        "emulator alone (measured once, after the repeated runs)",
    )
    parser.add_argument(
        "--end-to-end-vision-latency",
        type=float,
        default=0.05,
        help="seconds the Vision stand-in takes in the publish-to-result measurement",
    )
    parser.add_argument(
        "--no-end-to-end",
        action="store_true",
        help="skip the publish-to-result measurement (it needs Google's Pub/Sub emulator)",
    )
    parser.add_argument(
        "--emulator-images", type=int, help="requests per image to the Vision emulator"
    )
    parser.add_argument("--emulator-warmup", type=int, default=5)
    parser.add_argument(
        "--no-vision-emulator",
        action="store_true",
        help="skip the Vision emulator's per-image latency (it needs make vision-model)",
    )
    parser.add_argument("--publish-events", type=int, help="per publishing path")
    parser.add_argument("--publish-rounds", type=int, help="failed publishes, each then one more")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def plan(args: argparse.Namespace) -> list[Block]:
    """The blocks in the order they run, each with its estimated seconds on this project's 2 cores."""
    blocks = []
    for repetition in range(args.repeat):
        run = f"run {repetition + 1}/{args.repeat}"
        blocks += [
            Block(f"{run}: overhead", 4 + (args.warmup_events + args.overhead_events) * 0.009),
            Block(
                f"{run}: concurrency, THREADS as deployed, against the floor",
                6 + 2 * args.concurrency_events / 200,
            ),
            Block(f"{run}: concurrency, THREADS unset", 3 + args.default_threads_events / 34),
            Block(f"{run}: cold start", (args.cold_starts + 1) * 4.0),
            Block(
                f"{run}: publishing, and the event after a failed publish",
                5 + args.publish_events * 3 * 0.004 + args.publish_rounds * 0.5,
            ),
        ]
    if not args.no_end_to_end:
        blocks.append(
            Block(
                "publish-to-result through the Pub/Sub emulator",
                10 + (END_TO_END_WARMUP + args.end_to_end_events) * 0.36,
            )
        )
    if not args.no_vision_emulator:
        blocks.append(
            Block(
                "Vision emulator, per image",
                15 + 2 * (args.emulator_warmup + args.emulator_images) * 0.1,
            )
        )
    return blocks


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_end_to_end:
        try:
            emulator_command("127.0.0.1", free_port())
        except EmulatorError as error:
            print(f"error: {error} (or run with --no-end-to-end)", file=sys.stderr)
            return 2
    deployed = deployment()
    machine = machine_info()
    progress = Progress(plan(args))
    progress.announce(
        "python -m bench",
        "" if args.quick else " (--quick: about 1.5 minutes, rougher figures)",
    )
    runs: list[dict[str, Any]] = []
    started = time.time()
    with scenarios.wire_fakes(deployed) as bench:
        for repetition in range(args.repeat):
            runs.append(one_run(bench, args, progress, f"run {repetition + 1}/{args.repeat}"))
        results = median_of(runs)
        if not args.no_end_to_end:
            results["end_to_end"] = end_to_end_run(bench, args, progress)
    if not args.no_vision_emulator:
        progress.begin("Vision emulator, per image")
        results["vision_emulator"] = vision_emulator.latency(
            args.emulator_images, args.emulator_warmup, scenarios.summary
        )
    machine["loadavg_end"] = os.getloadavg()
    report = {
        "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_seconds": round(time.time() - started, 1),
        "deployment": {
            "environment": deployed.environment,
            "concurrency": deployed.concurrency,
            "cpu": deployed.cpu,
            "memory": deployed.memory_text,
        },
        "parameters": {key: str(value) for key, value in vars(args).items()},
        "results": results,
        "floor": FLOOR,
        "targets": targets(results, deployed),
        "cost": cost_model(results, deployed),
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"\nJSON report: {args.output} ({report['duration_seconds']:.0f} s in all)")
    return 0


def one_run(
    bench: scenarios.Bench, args: argparse.Namespace, progress: Progress, run: str
) -> dict[str, Any]:
    progress.begin(f"{run}: overhead")
    overhead = scenarios.overhead(
        bench, args.overhead_events, args.warmup_events, progress=progress.advance
    )
    progress.begin(f"{run}: concurrency, THREADS as deployed, against the floor")
    deployed = scenarios.concurrency(
        bench,
        args.concurrency_events,
        args.clients,
        args.vision_latency,
        threads=True,
        with_floor=True,
        progress=progress.advance,
    )
    progress.begin(f"{run}: concurrency, THREADS unset")
    default = scenarios.concurrency(
        bench,
        args.default_threads_events,
        args.clients,
        args.vision_latency,
        threads=False,
        progress=progress.advance,
    )
    progress.begin(f"{run}: cold start")
    cold = scenarios.cold_start(
        bench,
        args.cold_starts,
        progress=lambda done, total: progress.advance(done, total, "starts"),
    )
    progress.begin(f"{run}: publishing, and the event after a failed publish")
    publishing_figures = publishing.paths(
        bench.environment(), args.publish_events, args.publish_rounds
    )
    recovery = publishing.recovery(bench, args.publish_rounds)
    return {
        "overhead": overhead,
        "concurrency_deployed": deployed,
        "concurrency_default_threads": default,
        "cold_start": cold,
        "publishing": publishing_figures,
        "recovery": recovery,
    }


def end_to_end_run(
    bench: scenarios.Bench, args: argparse.Namespace, progress: Progress
) -> dict[str, Any]:
    progress.begin("publish-to-result through the Pub/Sub emulator")
    bench.vision.faults.latency_seconds = args.end_to_end_vision_latency
    try:
        latencies = end_to_end.measure(
            bench.environment(),
            uri=bench.uri,
            path=scenarios.IMAGE_PATH,
            events=args.end_to_end_events,
            warmup=END_TO_END_WARMUP,
            progress=progress.advance,
        )
    finally:
        bench.vision.faults.latency_seconds = 0.0
    return end_to_end.metrics(latencies, args.end_to_end_vision_latency)


def median_of(runs: Sequence[Any]) -> Any:
    """The runs' shape, with every number replaced by its median across runs."""
    first = runs[0]
    if isinstance(first, dict):
        return {key: median_of([run[key] for run in runs]) for key in first}
    if isinstance(first, bool) or not isinstance(first, int | float):
        return first
    return statistics.median(runs)


def lookup(results: dict[str, Any], dotted: str) -> float:
    value: Any = results
    for key in dotted.split("."):
        value = value[key]
    return float(value)


def targets(results: dict[str, Any], deployed: Deployment) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for name, (path, operator, limit) in TARGETS.items():
        value = lookup(results, path)
        met = value <= limit if operator == "<=" else value >= limit
        checked[name] = {"value": value, "target": f"{operator} {limit}", "met": met}
    peak = lookup(results, "concurrency_deployed.peak_rss_bytes.total")
    checked["peak RSS (server + worker)"] = {
        "value": peak / deployed.memory_bytes,
        "target": f"<= 0.5 of {deployed.memory_text}",
        "met": peak <= deployed.memory_bytes / 2,
    }
    return checked


def cost_model(results: dict[str, Any], deployed: Deployment) -> dict[str, Any]:
    """Cloud Run bills an instance while it serves at least one request (request-based billing).

    Kept busy at the measured throughput, one instance serves `events_per_second`, so a million images
    take 1e6 / events_per_second instance-seconds (= events x latency / concurrency).
    """
    throughput = lookup(results, "concurrency_deployed.events_per_second")
    instance_seconds = 1_000_000 / throughput
    gib = deployed.memory_bytes / (1024**3)
    cpu_dollars = instance_seconds * deployed.cpu * PRICE_PER_VCPU_SECOND
    memory_dollars = instance_seconds * gib * PRICE_PER_GIB_SECOND
    compute = cpu_dollars + memory_dollars + PRICE_PER_MILLION_REQUESTS
    vision = VISION_PRICE_PER_THOUSAND_IMAGES * 1000
    return {
        "events_per_second_per_instance": throughput,
        "instance_seconds_per_million": instance_seconds,
        "instances_for_100_per_second": 100 / throughput,
        "function_dollars_per_million": compute,
        "function_dollars_breakdown": {
            "cpu": cpu_dollars,
            "memory": memory_dollars,
            "requests": PRICE_PER_MILLION_REQUESTS,
        },
        "vision_dollars_per_million": vision,
        "function_share_of_total": compute / (compute + vision),
    }


def machine_info() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
    }


def table(report: dict[str, Any]) -> str:
    results = report["results"]
    overhead = results["overhead"]
    deployed = results["concurrency_deployed"]
    default = results["concurrency_default_threads"]
    cold = results["cold_start"]
    memory = deployed["peak_rss_bytes"]
    machine = report["machine"]
    rows = [
        ("overhead: function, per event (median / p99)", _ms_pair(overhead["function"])),
        ("  floor function, same server and clients", _ms_pair(overhead["floor"])),
        (
            "  ratio function / floor (median / p99)",
            f"{overhead['ratio_median']:.2f}x / {overhead['ratio_p99']:.2f}x",
        ),
        (
            f"concurrency, THREADS={deployed['threads']} (as deployed)",
            f"{deployed['events_per_second']:.0f} events/s",
        ),
        (
            "  floor function, same server and THREADS",
            f"{deployed['floor_events_per_second']:.0f} events/s",
        ),
        ("  ratio function / floor", f"{deployed['ratio_vs_floor']:.2f}"),
        ("  against the ideal clients / Vision latency", _throughput(deployed)),
        (f"concurrency, THREADS unset ({default['threads']})", _throughput(default)),
        ("  latency at THREADS as deployed (median / p99)", _ms_pair(deployed["latency"])),
        ("  server CPU per event", f"{deployed['server_cpu_ms_per_event']:.2f} ms"),
        (
            "cold start: function, start to first publish",
            f"{cold['function_to_publish_ms']:.0f} ms (port after "
            f"{cold['function_port_accepts_ms']:.0f} ms)",
        ),
        (
            "  floor function, start to first publish",
            f"{cold['floor_to_publish_ms']:.0f} ms (port after "
            f"{cold['floor_port_accepts_ms']:.0f} ms)",
        ),
        ("  ratio", f"{cold['ratio']:.2f}x"),
        *publishing_rows(results["publishing"], results["recovery"]),
        (
            "peak RSS under concurrency: server + worker",
            f"{memory['server'] / MiB:.0f} + {memory['worker'] / MiB:.0f} = "
            f"{memory['total'] / MiB:.0f} MiB of {report['deployment']['memory']}",
        ),
    ]
    flow = results.get("end_to_end")
    if flow is not None:
        rows += [
            (
                f"publish-to-result via the Pub/Sub emulator, Vision stand-in at "
                f"{flow['vision_latency_ms']:.0f} ms (p50 / p99)",
                _ms_pair(flow["function"]),
            ),
            ("  floor function on the same path", _ms_pair(flow["floor"])),
            (
                "  ratio function / floor (p50 / p99)",
                f"{flow['ratio_median']:.2f}x / {flow['ratio_p99']:.2f}x",
            ),
            ("  emulator alone: publish -> streaming pull", _ms_pair(flow["emulator_round_trip"])),
            (
                "  ratio function / (2 x emulator alone + Vision)",
                f"{flow['ratio_median_vs_two_round_trips_plus_vision']:.2f}x",
            ),
        ]
    emulator = results.get("vision_emulator")
    if emulator is not None:
        for name, image in emulator["images"].items():
            rows.append(
                (
                    f"Vision emulator, per image ({name}, median / p99)",
                    f"{_ms_pair(image['emulator'])} ({image['ratio_median']:.0f}x the table fake's "
                    f"{image['fake_vision']['median_ms']:.2f} ms)",
                )
            )
            split = emulator["in_process"][name]
            rows.append(
                (
                    "  of which decode / detect (medians, in process)",
                    f"{split['decode']['median_ms']:.1f} / {split['detect']['median_ms']:.1f} ms",
                )
            )
        rows.append(
            ("  Vision emulator peak RSS", f"{emulator['emulator_peak_rss_bytes'] / MiB:.0f} MiB")
        )
    width = max(len(name) for name, _ in rows)
    load = ", ".join(
        f"{start:.1f} -> {end:.1f}"
        for start, end in zip(machine["loadavg_start"], machine["loadavg_end"], strict=True)
    )
    lines = [
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), Python {machine['python']}; "
        f"median of {report['parameters']['repeat']} run(s); load average (1, 5, 15 min) {load}",
        "",
    ]
    lines += [f"{name.ljust(width)}  {value}" for name, value in rows]
    lines += ["", "targets (each a ratio against a reference measured in this run):"]
    for name, check in report["targets"].items():
        mark = "met" if check["met"] else "NOT met"
        against = f", function / floor: {FLOOR_OF[name]}" if name in FLOOR_OF else ""
        lines.append(
            f"  {name.ljust(28)} {check['value']:.2f} (target {check['target']}{against}): {mark}"
        )
    lines += textwrap.wrap(f"floor: {FLOOR}.", 100, initial_indent="  ", subsequent_indent="  ")
    cost = report["cost"]
    lines += [
        "",
        f"cost per million images: function ${cost['function_dollars_per_million']:.2f} "
        f"({cost['instance_seconds_per_million']:.0f} instance-seconds), "
        f"Vision ${cost['vision_dollars_per_million']:,.0f}",
    ]
    return "\n".join(lines)


def publishing_rows(paths: dict[str, Any], recovery: dict[str, Any]) -> list[tuple[str, str]]:
    after = paths["after_failure"]

    def recovered(figures: dict[str, Any]) -> str:
        text = f"{figures['succeeded']:.0f} of {figures['rounds']:.0f} published"
        return text + (f" ({figures['errors']})" if figures["errors"] else "")

    rows = [
        ("publish, direct RPC as deployed (median / p99)", _ms_pair(paths["direct"])),
        ("  batching client it replaced, max_latency=inf", _ms_pair(paths["batching"])),
        ("  batching client, default BatchSettings", _ms_pair(paths["batching_default"])),
        ("  ratio direct / batching (median)", f"{paths['ratio_direct_to_batching_median']:.2f}x"),
        ("  after a failed publish, direct", recovered(after["direct"])),
        ("  after a failed publish, batching", recovered(after["batching"])),
        (
            "function: event after a failed publish",
            f"{recovery['recovered']:.0f} of {recovery['rounds']:.0f} answered 200",
        ),
    ]
    if recovery["ratio"] is not None:
        rows.append(
            (
                "  its latency vs an ordinary event (median)",
                f"{recovery['after_failure_median_ms']:.2f} vs "
                f"{recovery['ordinary_median_ms']:.2f} ms ({recovery['ratio']:.2f}x)",
            )
        )
    return rows


def _ms_pair(stats: dict[str, float]) -> str:
    return f"{stats['median_ms']:.2f} / {stats['p99_ms']:.2f} ms"


def _throughput(run: dict[str, Any]) -> str:
    return (
        f"{run['events_per_second']:.0f} events/s of ideal {run['ideal_events_per_second']:.0f} "
        f"({run['ratio']:.2f})"
    )
