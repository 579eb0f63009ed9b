"""`python -m bench`: measure, print a table, write the JSON report (default bench/results/latest.json)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import ROOT, publishing, scenarios
from bench.deployed import Deployment, deployment

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "latest.json"
MiB = 1024 * 1024

# Cloud Run functions are billed as Cloud Run services (request-based billing, Tier 1 regions):
# https://cloud.google.com/run/pricing (read 2026-11; free tiers ignored)
PRICE_PER_VCPU_SECOND = 0.000024
PRICE_PER_GIB_SECOND = 0.0000025
PRICE_PER_MILLION_REQUESTS = 0.40
# https://cloud.google.com/vision/pricing: LABEL_DETECTION, units 1,001 to 5,000,000 a month.
VISION_PRICE_PER_THOUSAND_IMAGES = 1.50

TARGETS = {
    "overhead": ("overhead.ratio_median", "<=", 1.25),
    "concurrency (as deployed)": ("concurrency_deployed.ratio", ">=", 0.8),
    "cold start": ("cold_start.ratio", "<=", 1.5),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--overhead-events", type=int, default=2000)
    parser.add_argument("--warmup-events", type=int, default=50)
    parser.add_argument("--concurrency-events", type=int, default=1920)
    parser.add_argument(
        "--default-threads-events",
        type=int,
        default=480,
        help="events for the run with functions-framework's default THREADS (it is slow)",
    )
    parser.add_argument("--clients", type=int, default=64, help="concurrent deliveries")
    parser.add_argument("--vision-latency", type=float, default=0.2, help="seconds")
    parser.add_argument("--cold-starts", type=int, default=5, help="measured starts of each")
    parser.add_argument("--publish-events", type=int, default=1000, help="per publishing path")
    parser.add_argument(
        "--publish-rounds", type=int, default=20, help="failed publishes, each then one more"
    )
    parser.add_argument("--repeat", type=int, default=3, help="whole runs; medians are reported")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    deployed = deployment()
    machine = machine_info()
    runs: list[dict[str, Any]] = []
    started = time.time()
    with scenarios.wire_fakes(deployed) as bench:
        for repetition in range(args.repeat):
            print(f"run {repetition + 1}/{args.repeat} ...", file=sys.stderr, flush=True)
            runs.append(one_run(bench, args))
    machine["loadavg_end"] = os.getloadavg()
    results = median_of(runs)
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
        "targets": targets(results, deployed),
        "cost": cost_model(results, deployed),
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"\nJSON report: {args.output}")
    return 0


def one_run(bench: scenarios.Bench, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "overhead": scenarios.overhead(bench, args.overhead_events, args.warmup_events),
        "concurrency_deployed": scenarios.concurrency(
            bench, args.concurrency_events, args.clients, args.vision_latency, threads=True
        ),
        "concurrency_default_threads": scenarios.concurrency(
            bench, args.default_threads_events, args.clients, args.vision_latency, threads=False
        ),
        "cold_start": scenarios.cold_start(bench, args.cold_starts),
        "publishing": publishing.paths(
            bench.environment(), args.publish_events, args.publish_rounds
        ),
        "recovery": publishing.recovery(bench, args.publish_rounds),
    }


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
        ("  floor: Vision + Publish, same clients, no HTTP", _ms_pair(overhead["floor"])),
        ("  hello-world over the same HTTP client", _ms_pair(overhead["hello_world_http"])),
        (
            "  ratio function / floor (median / p99)",
            f"{overhead['ratio_median']:.2f}x / {overhead['ratio_p99']:.2f}x",
        ),
        (
            "  ratio function / (floor + hello-world HTTP)",
            f"{overhead['ratio_median_vs_floor_plus_http']:.2f}x",
        ),
        (
            f"concurrency, THREADS={deployed['threads']} (as deployed)",
            _throughput(deployed),
        ),
        (f"concurrency, THREADS unset ({default['threads']})", _throughput(default)),
        ("  latency at THREADS as deployed (median / p99)", _ms_pair(deployed["latency"])),
        ("  server CPU per event", f"{deployed['server_cpu_ms_per_event']:.2f} ms"),
        (
            "cold start: function, start to first publish",
            f"{cold['function_to_publish_ms']:.0f} ms (port after "
            f"{cold['function_port_accepts_ms']:.0f} ms)",
        ),
        (
            "  hello-world, start to first 200",
            f"{cold['hello_world_to_200_ms']:.0f} ms (port after "
            f"{cold['hello_world_port_accepts_ms']:.0f} ms)",
        ),
        ("  ratio", f"{cold['ratio']:.2f}x"),
        *publishing_rows(results["publishing"], results["recovery"]),
        (
            "peak RSS under concurrency: server + worker",
            f"{memory['server'] / MiB:.0f} + {memory['worker'] / MiB:.0f} = "
            f"{memory['total'] / MiB:.0f} MiB of {report['deployment']['memory']}",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), Python {machine['python']}; "
        f"medians of {report['parameters']['repeat']} runs",
        "",
    ]
    lines += [f"{name.ljust(width)}  {value}" for name, value in rows]
    lines += ["", "targets:"]
    for name, check in report["targets"].items():
        mark = "met" if check["met"] else "NOT met"
        lines.append(f"  {name.ljust(28)} {check['value']:.2f} (target {check['target']}): {mark}")
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
