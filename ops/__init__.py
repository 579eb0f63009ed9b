"""Operator tooling: `make local`, `make smoke`, `make redrive`, and the emulators they run."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
