"""Benchmark of the labeling function as deployed: `python -m bench` (docs/performance.md)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
