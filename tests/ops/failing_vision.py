"""A Vision process that fails at start the way the Vision emulator does without its model."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    print("vision emulator: error: model file not found (run its install step)", file=sys.stderr)
    sys.exit(2)
