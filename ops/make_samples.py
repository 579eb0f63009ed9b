"""Draw the smoke test's sample images (PNG) with the standard library only.

    python -m ops.make_samples [OUTPUT_DIRECTORY]   # default: ops/samples/

The drawings are the project's own work (CC0, see ops/samples/README.md). Output is deterministic:
shapes are rendered with a signed-distance rasteriser (anti-aliased by coverage), rows are written
unfiltered and compressed with zlib.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLES_DIRECTORY = Path(__file__).resolve().parent / "samples"
WIDTH = 320
HEIGHT = 200

Color = tuple[int, int, int]
Point = tuple[float, float]

WHITE: Color = (250, 250, 247)
BLACK: Color = (30, 30, 32)
GREY: Color = (140, 140, 145)
RED: Color = (200, 40, 40)
BROWN: Color = (120, 72, 40)
BRICK: Color = (178, 102, 70)
SKY_BLUE: Color = (150, 200, 235)
YELLOW: Color = (245, 200, 50)
GREEN: Color = (80, 150, 70)


@dataclass(frozen=True)
class Shape:
    """A signed distance (negative inside) and the colour to paint where it is covered."""

    distance: Callable[[float, float], float]
    color: Color


def segment(start: Point, end: Point, width: float, color: Color) -> Shape:
    (x1, y1), (x2, y2) = start, end
    dx, dy = x2 - x1, y2 - y1
    length_squared = dx * dx + dy * dy or 1.0

    def distance(x: float, y: float) -> float:
        t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / length_squared))
        return math.hypot(x - (x1 + t * dx), y - (y1 + t * dy)) - width / 2

    return Shape(distance, color)


def ring(center: Point, radius: float, width: float, color: Color) -> Shape:
    cx, cy = center
    return Shape(lambda x, y: abs(math.hypot(x - cx, y - cy) - radius) - width / 2, color)


def disc(center: Point, radius: float, color: Color) -> Shape:
    cx, cy = center
    return Shape(lambda x, y: math.hypot(x - cx, y - cy) - radius, color)


def box(left: float, top: float, right: float, bottom: float, color: Color) -> Shape:
    def distance(x: float, y: float) -> float:
        return max(left - x, x - right, top - y, y - bottom)

    return Shape(distance, color)


def polygon(points: Sequence[Point], color: Color) -> Shape:
    """A filled polygon; the distance is exact enough at the edges for anti-aliasing."""
    edges = list(zip(points, [*points[1:], points[0]], strict=True))

    def distance(x: float, y: float) -> float:
        inside = False
        nearest = math.inf
        for (x1, y1), (x2, y2) in edges:
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
            nearest = min(nearest, segment((x1, y1), (x2, y2), 0.0, color).distance(x, y))
        return -nearest if inside else nearest

    return Shape(distance, color)


def render(shapes: Sequence[Shape], background: Color = WHITE) -> list[list[Color]]:
    """Later shapes paint over earlier ones; edge pixels blend by how much of them is covered."""
    rows = []
    for row in range(HEIGHT):
        pixels = []
        for column in range(WIDTH):
            x, y = column + 0.5, row + 0.5
            red, green, blue = (float(channel) for channel in background)
            for shape in shapes:
                coverage = max(0.0, min(1.0, 0.5 - shape.distance(x, y)))
                if coverage:
                    red += (shape.color[0] - red) * coverage
                    green += (shape.color[1] - green) * coverage
                    blue += (shape.color[2] - blue) * coverage
            pixels.append((round(red), round(green), round(blue)))
        rows.append(pixels)
    return rows


def encode_png(rows: Sequence[Sequence[Color]]) -> bytes:
    """8-bit RGB PNG (https://www.w3.org/TR/png/): IHDR, one IDAT, IEND."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    height, width = len(rows), len(rows[0])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    raw = b"".join(b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def wheel(center: Point, radius: float) -> list[Shape]:
    spokes = [
        segment(
            center,
            (
                center[0] + radius * math.cos(index * math.pi / 6),
                center[1] + radius * math.sin(index * math.pi / 6),
            ),
            1.2,
            GREY,
        )
        for index in range(12)
    ]
    return [*spokes, ring(center, radius, 7.0, BLACK), disc(center, 4.0, GREY)]


def bicycle() -> list[Shape]:
    """A side view of a diamond-frame bicycle."""
    rear_hub, front_hub = (80.0, 135.0), (240.0, 135.0)
    bottom_bracket = (150.0, 138.0)
    seat_top, head_top, head_bottom = (132.0, 70.0), (222.0, 66.0), (226.0, 84.0)
    frame = [
        segment(rear_hub, bottom_bracket, 6.0, RED),  # chain stay
        segment(rear_hub, seat_top, 6.0, RED),  # seat stay
        segment(bottom_bracket, seat_top, 7.0, RED),  # seat tube
        segment(seat_top, head_top, 7.0, RED),  # top tube
        segment(bottom_bracket, head_bottom, 8.0, RED),  # down tube
        segment(head_top, head_bottom, 8.0, RED),  # head tube
        segment(head_bottom, front_hub, 6.0, RED),  # fork
    ]
    parts = [
        segment((129.0, 70.0), (126.0, 56.0), 4.0, GREY),  # seat post
        segment((110.0, 54.0), (140.0, 54.0), 8.0, BLACK),  # saddle
        segment(head_top, (218.0, 50.0), 5.0, GREY),  # stem
        segment((204.0, 48.0), (236.0, 46.0), 5.0, BLACK),  # handlebar
        ring(bottom_bracket, 12.0, 4.0, GREY),  # chainring
        segment((138.0, 160.0), (162.0, 116.0), 4.0, BLACK),  # cranks
        segment((130.0, 160.0), (146.0, 160.0), 5.0, BLACK),  # pedal
    ]
    return [*wheel(rear_hub, 52.0), *wheel(front_hub, 52.0), *frame, *parts]


def house() -> list[Shape]:
    """A house under the sun: the sample that must not match a bicycle."""
    return [
        box(0, 150, WIDTH, HEIGHT, GREEN),  # lawn
        disc((270.0, 40.0), 22.0, YELLOW),  # sun
        box(90, 90, 230, 165, BRICK),  # walls
        polygon([(75.0, 92.0), (160.0, 30.0), (245.0, 92.0)], BROWN),  # roof
        box(145, 120, 175, 165, BROWN),  # door
        box(105, 105, 133, 130, SKY_BLUE),  # windows
        box(187, 105, 215, 130, SKY_BLUE),
        segment((119.0, 105.0), (119.0, 130.0), 2.0, WHITE),
        segment((201.0, 105.0), (201.0, 130.0), 2.0, WHITE),
    ]


SAMPLES: dict[str, Callable[[], list[Shape]]] = {"bicycle.png": bicycle, "house.png": house}


def write_samples(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, draw in SAMPLES.items():
        path = directory / file_name
        path.write_bytes(encode_png(render(draw())))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    directory = Path(arguments[0]) if arguments else SAMPLES_DIRECTORY
    for path in write_samples(directory):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
