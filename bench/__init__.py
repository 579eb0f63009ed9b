"""Benchmark of the labeling function as deployed: `python -m bench` (see README "Performance").

The function's source (`function/`) and the stack's pure settings module (`infra/settings.py`) are
imported the way pytest imports them (pyproject `pythonpath`), so the benchmark runs from a plain
checkout with `python -m bench`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "function", ROOT / "infra"):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))
