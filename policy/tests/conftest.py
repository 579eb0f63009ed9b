"""Make the pack's modules importable as the Pulumi runner does (the pack directory on sys.path)."""

import sys
from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parent.parent
if str(POLICY_DIR) not in sys.path:
    sys.path.insert(0, str(POLICY_DIR))
