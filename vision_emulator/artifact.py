"""Where the detector comes from, pinned: one npm package version, its tarball's hash, and the byte ranges
of the two files packed inside it. Standard library only (the install step runs before any virtualenv).

The offsets are those of `objectron_solution_packed_assets_loader.js` in the same package, which lists
`/object_detection_oidv4_labelmap.txt` at bytes 0-184 and
`.../object_detection_ssd_mobilenetv2_oidv4_fp16.tflite` at 184-9,987,912 of
`objectron_solution_packed_assets.data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NPM_PACKAGE = "@mediapipe/objectron"
NPM_VERSION = "0.4.1675468480"
TARBALL_NAME = f"mediapipe-objectron-{NPM_VERSION}.tgz"  # the name `npm pack` gives it
TARBALL_SHA256 = "fc3e37b326b05e8f596099c90b3e0931b05a56cd3160b9ac450b621794bac94c"
PACKED_MEMBER = "package/objectron_solution_packed_assets.data"
PACKED_SHA256 = "470986ca5df183f41698da6de74b027d838fe289d77b5ab094497d350bee664e"

# Installed here by `make vision-model` (gitignored), read from here at run time.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "model"


@dataclass(frozen=True)
class PackedFile:
    file_name: str  # under the model directory
    start: int
    end: int
    sha256: str


LABEL_MAP_FILE = PackedFile(
    "oidv4_labelmap.txt",
    0,
    184,
    "c148336a65f673013609a923fdcbdeec0f49df935045029c3746a3828a0e80e0",
)
DETECTOR_FILE = PackedFile(
    "ssd_mobilenetv2_oidv4_fp16.tflite",
    184,
    9_987_912,
    "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6",
)
PACKED_FILES = (LABEL_MAP_FILE, DETECTOR_FILE)
INSTALL_HINT = "run make vision-model"
