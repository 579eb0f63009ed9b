"""Benchmark of the labeling function as deployed: `python -m bench` (docs/performance.md)."""
