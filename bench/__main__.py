"""`python -m bench`: run the benchmark, print the table, write the JSON report."""

from __future__ import annotations

from bench.run import main

raise SystemExit(main())
