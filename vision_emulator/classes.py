"""The detector's classes and their Knowledge Graph ids, as Cloud Vision names them.

The model was trained on Open Images V4, whose class ids are Knowledge Graph (Freebase) mids, the same ids
Vision puts in `EntityAnnotation.mid` and `LocalizedObjectAnnotation.mid`. Names are the model's own label
map (`object_detection_oidv4_labelmap.txt` inside the npm package, line 0 is the background "???"); mids are
from Open Images' `class-descriptions-boxable.csv` (https://storage.googleapis.com/openimages/2018_04/).
"""

from __future__ import annotations

from dataclasses import dataclass

BACKGROUND = "???"


@dataclass(frozen=True)
class DetectorClass:
    index: int  # the column in the model's score output (0 is the background)
    name: str
    mid: str


_NAMES_AND_MIDS = (
    ("Bicycle", "/m/0199g"),
    ("Boot", "/m/01b638"),
    ("Laptop", "/m/01c648"),
    ("Person", "/m/01g317"),
    ("Chair", "/m/01mzpv"),
    ("Cattle", "/m/01xq0k1"),
    ("Desk", "/m/01y9k5"),
    ("Cat", "/m/01yrx"),
    ("Computer mouse", "/m/020lf"),
    ("Computer monitor", "/m/02522"),
    ("Box", "/m/025dyy"),
    ("Mug", "/m/02jvh9"),
    ("Coffee cup", "/m/02p5f1q"),
    ("Stationary bicycle", "/m/03kt2w"),
    ("Table", "/m/04bcr3"),
    ("Bottle", "/m/04dr76w"),
    ("High heels", "/m/06k2mb"),
    ("Vehicle", "/m/07yv9"),
    ("Footwear", "/m/09j5n"),
    ("Dog", "/m/0bt9lr"),
    ("Book", "/m/0bt_c3"),
    ("Camera", "/m/0dv5r"),
    ("Car", "/m/0k4j"),
)

# Every class the emulator can answer, in the model's column order (1..23).
CLASSES: tuple[DetectorClass, ...] = tuple(
    DetectorClass(index, name, mid) for index, (name, mid) in enumerate(_NAMES_AND_MIDS, start=1)
)
LABEL_MAP: tuple[str, ...] = (BACKGROUND, *(item.name for item in CLASSES))
