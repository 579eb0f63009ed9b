"""The detector: SSD-MobileNetV2 (Open Images V4) on LiteRT, with the SSD decoding it needs around it.

The network outputs raw values only: 1917 box encodings relative to fixed anchors and 1917 x 24 class
logits (column 0 the background). Turning them into boxes and scores follows MediaPipe's Objectron graph
for this very model, `mediapipe/modules/objectron/object_detection_oid_v4_cpu.pbtxt`: a 300 x 300 RGB input
stretched from the image and scaled to [-1, 1], anchors as MediaPipe's `SsdAnchorsCalculator` builds them
from the options there, boxes decoded as its `TensorsToDetectionsCalculator` does (scales 10, 10, 5, 5,
exponential sizes), sigmoid scores, then non-maximum suppression at IoU 0.5.
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from vision_emulator.artifact import (
    DEFAULT_MODEL_DIR,
    DETECTOR_FILE,
    INSTALL_HINT,
    LABEL_MAP_FILE,
    PackedFile,
)
from vision_emulator.classes import CLASSES, LABEL_MAP, DetectorClass

FloatArray = npt.NDArray[np.float32]

INPUT_SIZE = 300
NUM_BOXES = 1917
NUM_COLUMNS = len(LABEL_MAP)  # 24: the background and 23 classes
# SsdAnchorsCalculatorOptions in object_detection_oid_v4_cpu.pbtxt.
ANCHOR_STRIDES = (16, 32, 64, 128, 256, 512)
ANCHOR_MIN_SCALE = 0.2
ANCHOR_MAX_SCALE = 0.95
ANCHOR_ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
ANCHOR_OFFSET = 0.5
# The lowest layer is "reduced" (reduce_boxes_in_lowest_layer): three fixed shapes, (scale, aspect ratio).
LOWEST_LAYER_SMALL_SCALE = 0.1
# The extra anchor per layer at the scale between this layer's and the next one's
# (interpolated_scale_aspect_ratio, default 1.0).
INTERPOLATED_ASPECT_RATIO = 1.0
# TensorsToDetectionsCalculatorOptions: y_scale, x_scale, h_scale, w_scale.
BOX_SCALES = (10.0, 10.0, 5.0, 5.0)
# Detections below this are dropped (min_score_thresh), overlaps above this suppressed.
DEFAULT_MIN_SCORE = 0.5
NMS_IOU = 0.5
# Test-time tiling (docs/vision-emulator.md "Tiling"): the whole image, then overlapping windows, each
# run through the same network. A 300 x 300 input leaves an object that is not the main subject few
# pixels; a window gives it more. The network stretches whatever it gets to its square input, so no
# view is wider (or taller) than TILE_MAX_ASPECT: a wide frame is seen whole through a letterbox (black
# bars), in full-height windows across it and in windows of TILE_FRACTION of its height, never squashed
# (issue 18).
TILE_FRACTION = 0.66
TILE_MAX_ASPECT = 1.8
TILE_OVERLAP = 0.3  # neighbouring windows share at least this fraction of a window's side
# At most this many windows along a side: past it (a panorama, a strip) the windows get wider instead.
TILE_MAX_ALONG = 4
TILE_MERGE_OVERLAP = 0.5
# A letterbox's bars are no part of the image: what the network finds there, or in a box lying mostly on
# them (a whole-frame "Car 0.50" around a wide frame's letterbox), is not in the image. An anchor's box
# counts only if at least this fraction of it (of its part inside the view) lies on the image.
TILE_MIN_ON_IMAGE = 0.75


class ModelMissing(Exception):
    """The model files are absent or not the pinned ones; the message names the install step."""


@dataclass(frozen=True)
class Box:
    """Normalized to the image (0..1), origin top left."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float


@dataclass(frozen=True)
class Detection:
    detector_class: DetectorClass
    score: float
    box: Box


@dataclass(frozen=True)
class Detections:
    """One image's answer: every class's best score anywhere in the image (`class_scores[i]` is for
    `CLASSES[i]`), and the objects found, best first."""

    class_scores: tuple[float, ...]
    objects: tuple[Detection, ...]


def ssd_anchors() -> FloatArray:
    """The model's 1917 anchors as rows of (y_center, x_center, height, width), normalized."""
    layers = len(ANCHOR_STRIDES)

    def scale(layer: int) -> float:
        return ANCHOR_MIN_SCALE + (ANCHOR_MAX_SCALE - ANCHOR_MIN_SCALE) * layer / (layers - 1)

    rows: list[tuple[float, float, float, float]] = []
    for layer, stride in enumerate(ANCHOR_STRIDES):
        if layer == 0:
            shapes = [
                (LOWEST_LAYER_SMALL_SCALE, 1.0),
                (scale(0), 2.0),
                (scale(0), 0.5),
            ]
        else:
            shapes = [(scale(layer), ratio) for ratio in ANCHOR_ASPECT_RATIOS]
            following = 1.0 if layer == layers - 1 else scale(layer + 1)
            shapes.append((math.sqrt(scale(layer) * following), INTERPOLATED_ASPECT_RATIO))
        cells = math.ceil(INPUT_SIZE / stride)
        for y in range(cells):
            for x in range(cells):
                for anchor_scale, ratio in shapes:
                    rows.append(
                        (
                            (y + ANCHOR_OFFSET) / cells,
                            (x + ANCHOR_OFFSET) / cells,
                            anchor_scale / math.sqrt(ratio),
                            anchor_scale * math.sqrt(ratio),
                        )
                    )
    return np.asarray(rows, dtype=np.float32)


ANCHORS = ssd_anchors()


def decode_boxes(encodings: FloatArray, anchors: FloatArray = ANCHORS) -> FloatArray:
    """Box encodings (y, x, h, w offsets per anchor) to rows of (y_min, x_min, y_max, x_max)."""
    y_scale, x_scale, h_scale, w_scale = BOX_SCALES
    y_center = encodings[:, 0] / y_scale * anchors[:, 2] + anchors[:, 0]
    x_center = encodings[:, 1] / x_scale * anchors[:, 3] + anchors[:, 1]
    half_height = np.exp(encodings[:, 2] / h_scale) * anchors[:, 2] / 2
    half_width = np.exp(encodings[:, 3] / w_scale) * anchors[:, 3] / 2
    return np.stack(
        [
            y_center - half_height,
            x_center - half_width,
            y_center + half_height,
            x_center + half_width,
        ],
        axis=1,
    ).astype(np.float32)


def sigmoid(logits: FloatArray) -> FloatArray:
    # Clipped so exp() stays within float32 for any logit (the model's lie within about -20..10).
    result: FloatArray = (1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))).astype(np.float32)
    return result


def intersection_over_union(box: FloatArray, others: FloatArray) -> FloatArray:
    top = np.maximum(box[0], others[:, 0])
    left = np.maximum(box[1], others[:, 1])
    bottom = np.minimum(box[2], others[:, 2])
    right = np.minimum(box[3], others[:, 3])
    overlap = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - overlap
    result: FloatArray = np.where(union > 0, overlap / np.maximum(union, 1e-12), 0.0).astype(
        np.float32
    )
    return result


def non_max_suppression(boxes: FloatArray, scores: FloatArray, iou: float = NMS_IOU) -> list[int]:
    """Greedy NMS: indices of the boxes kept, best score first."""
    order = list(np.argsort(-scores, kind="stable"))
    kept: list[int] = []
    while order:
        best = int(order.pop(0))
        kept.append(best)
        if order:
            rest = np.asarray(order)
            overlaps = intersection_over_union(boxes[best], boxes[rest])
            order = [
                int(index) for index, overlap in zip(rest, overlaps, strict=True) if overlap <= iou
            ]
    return kept


def interpret(
    encodings: FloatArray,
    logits: FloatArray,
    min_score: float = DEFAULT_MIN_SCORE,
    on_image: Box | None = None,
) -> Detections:
    """The network's raw outputs for one image, (1917, 4) and (1917, 24), as class scores and objects.

    `on_image`: where the image lies in a letterboxed view (normalized to the view); the anchors whose
    box lies less than TILE_MIN_ON_IMAGE on it (on the bars) count for nothing, scores included.
    """
    scores = sigmoid(logits)[:, 1:]  # the background column is never a class
    boxes = np.clip(decode_boxes(encodings), 0.0, 1.0)
    if on_image is not None:
        scores = np.where(
            (on_image_fraction(boxes, on_image) >= TILE_MIN_ON_IMAGE)[:, np.newaxis], scores, 0.0
        ).astype(np.float32)
    class_scores = tuple(float(score) for score in scores.max(axis=0))
    best_class = scores.argmax(axis=1)
    best_score = scores[np.arange(len(scores)), best_class]
    candidates = np.flatnonzero(best_score >= min_score)
    boxes = boxes[candidates]
    objects: list[Detection] = []
    for column in np.unique(best_class[candidates]):
        same = np.flatnonzero(best_class[candidates] == column)
        for kept in non_max_suppression(boxes[same], best_score[candidates][same]):
            y_min, x_min, y_max, x_max = (float(value) for value in boxes[same][kept])
            objects.append(
                Detection(
                    detector_class=CLASSES[int(column)],
                    score=float(best_score[candidates][same][kept]),
                    box=Box(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max),
                )
            )
    objects.sort(key=lambda item: item.score, reverse=True)
    return Detections(class_scores=class_scores, objects=tuple(objects))


def on_image_fraction(boxes: FloatArray, on_image: Box) -> FloatArray:
    """How much of each box (rows of y_min, x_min, y_max, x_max, within the view) lies on `on_image`:
    1 for a box inside the image, 0 for one on the bars alone (and for an empty box)."""
    height = np.clip(
        np.minimum(boxes[:, 2], on_image.y_max) - np.maximum(boxes[:, 0], on_image.y_min), 0, None
    )
    width = np.clip(
        np.minimum(boxes[:, 3], on_image.x_max) - np.maximum(boxes[:, 1], on_image.x_min), 0, None
    )
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    result: FloatArray = np.where(areas > 0, height * width / np.maximum(areas, 1e-12), 0.0).astype(
        np.float32
    )
    return result


WHOLE = Box(x_min=0.0, y_min=0.0, x_max=1.0, y_max=1.0)


def views_for(
    width: int,
    height: int,
    fraction: float = TILE_FRACTION,
    max_aspect: float = TILE_MAX_ASPECT,
    overlap: float = TILE_OVERLAP,
) -> tuple[Box, ...]:
    """What the network looks at in a `width` x `height` image, normalized to it; never a view more
    than `max_aspect` times wider than tall or taller than wide (in pixels).

    An image of ordinary shape (up to `max_aspect`): the whole of it, then a 2 x 2 grid of crops of
    `fraction` of each side, corner to corner (5 views). A wider (or taller) one: the whole of it
    through a letterbox (a square box reaching past the image: black bars), windows of its full height
    across its width (full width down its height), then two rows of windows of `fraction` of its
    height across it (the 2 x 2 crops' zoom, unsquashed), neighbours overlapping by at least `overlap`
    (9 views for a 640 x 272 frame, at most 13).
    """
    long_side, short_side = max(width, height), min(width, height)
    if long_side <= max_aspect * short_side:
        return (WHOLE, *windows(width, height, fraction, max_aspect, overlap))
    margin_x = (long_side - width) / 2 / width
    margin_y = (long_side - height) / 2 / height
    letterbox = Box(-margin_x, -margin_y, 1.0 + margin_x, 1.0 + margin_y)
    return (
        letterbox,
        *windows(width, height, 1.0, max_aspect, overlap),
        *windows(width, height, fraction, max_aspect, overlap),
    )


def image_in_view(window: Box) -> Box | None:
    """Where the image lies in a view reaching past it (a letterbox), normalized to the view; None for
    a view inside the image."""
    if window.x_min >= 0 and window.y_min >= 0 and window.x_max <= 1 and window.y_max <= 1:
        return None
    width, height = window.x_max - window.x_min, window.y_max - window.y_min
    return Box(
        x_min=(max(0.0, window.x_min) - window.x_min) / width,
        y_min=(max(0.0, window.y_min) - window.y_min) / height,
        x_max=(min(1.0, window.x_max) - window.x_min) / width,
        y_max=(min(1.0, window.y_max) - window.y_min) / height,
    )


def windows(
    width: int, height: int, fraction: float, max_aspect: float, overlap: float
) -> tuple[Box, ...]:
    """Windows of `fraction` of the image's shorter side, and along the longer side as much as
    `max_aspect` allows (at most `fraction` of it), spread evenly from edge to edge, as few as keep
    neighbours overlapping by at least `overlap` of a window."""
    short_side = min(width, height)

    def side(length: int) -> float:
        # As long as max_aspect allows, but long enough that TILE_MAX_ALONG windows cover `length`.
        capped = max(max_aspect * fraction * short_side, length / (TILE_MAX_ALONG * (1 - overlap)))
        return min(fraction * length, capped)

    def starts(length: float, window: float) -> list[float]:
        if window >= length:
            return [0.0]
        count = math.ceil((length - window) / (window * (1.0 - overlap)) - 1e-9) + 1
        return [index * (length - window) / (count - 1) for index in range(count)]

    window_width, window_height = side(width), side(height)

    return tuple(
        Box(
            x_min=left / width,
            y_min=top / height,
            x_max=(left + window_width) / width,
            y_max=(top + window_height) / height,
        )
        for top in starts(height, window_height)
        for left in starts(width, window_width)
    )


def view_input(image: Image.Image, window: Box) -> Image.Image:
    """What the network sees through `window`: the part of the image under it, stretched to the
    network's square input, black where the window reaches past the image (a letterbox's bars).
    Built at the input's size, never at the window's: a letterbox around a long thin image is huge."""
    if window == WHOLE:
        return image
    width, height = image.size
    inside = (
        max(0.0, window.x_min),
        max(0.0, window.y_min),
        min(1.0, window.x_max),
        min(1.0, window.y_max),
    )
    region = image.crop(
        (
            round(inside[0] * width),
            round(inside[1] * height),
            max(round(inside[0] * width) + 1, round(inside[2] * width)),
            max(round(inside[1] * height) + 1, round(inside[3] * height)),
        )
    )
    if inside == (window.x_min, window.y_min, window.x_max, window.y_max):
        return region
    scale_x = INPUT_SIZE / (window.x_max - window.x_min)
    scale_y = INPUT_SIZE / (window.y_max - window.y_min)
    left = round((inside[0] - window.x_min) * scale_x)
    top = round((inside[1] - window.y_min) * scale_y)
    size = (
        max(1, round((inside[2] - window.x_min) * scale_x) - left),
        max(1, round((inside[3] - window.y_min) * scale_y) - top),
    )
    canvas = Image.new("RGB", (INPUT_SIZE, INPUT_SIZE))
    canvas.paste(region.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0), (left, top))
    return canvas


def to_image(found: Detection, window: Box) -> Detection:
    """A detection in a view, with its box in the whole image's coordinates (within it: a letterbox's
    bars are not part of the image)."""
    width, height = window.x_max - window.x_min, window.y_max - window.y_min
    box = found.box

    def clip(value: float) -> float:
        return min(1.0, max(0.0, value))

    return Detection(
        detector_class=found.detector_class,
        score=found.score,
        box=Box(
            x_min=clip(window.x_min + box.x_min * width),
            y_min=clip(window.y_min + box.y_min * height),
            x_max=clip(window.x_min + box.x_max * width),
            y_max=clip(window.y_min + box.y_max * height),
        ),
    )


def intersection_over_smaller(box: Box, other: Box) -> float:
    width = min(box.x_max, other.x_max) - max(box.x_min, other.x_min)
    height = min(box.y_max, other.y_max) - max(box.y_min, other.y_min)
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min(
        (box.x_max - box.x_min) * (box.y_max - box.y_min),
        (other.x_max - other.x_min) * (other.y_max - other.y_min),
    )
    return width * height / smaller if smaller > 0 else 0.0


def merge(passes: Sequence[Detections]) -> Detections:
    """Several passes over one image (objects already in its coordinates) as one answer.

    Class scores: each class's best over the passes. Objects: per class, greedy non-maximum merging
    (SAHI's GREEDYNMM with its IOS metric): the best box absorbs every box of its class that
    overlaps it by more than TILE_MERGE_OVERLAP of the smaller one's area, growing to their union,
    since a crop sees only part of an object that crosses its edge and plain IoU keeps such parts.
    """
    class_scores = tuple(float(score) for score in np.max([p.class_scores for p in passes], axis=0))
    pending = sorted(
        (found for one_pass in passes for found in one_pass.objects),
        key=lambda item: item.score,
        reverse=True,
    )
    objects: list[Detection] = []
    while pending:
        best = pending.pop(0)
        box, rest = best.box, []
        for other in pending:
            if (
                other.detector_class == best.detector_class
                and intersection_over_smaller(best.box, other.box) > TILE_MERGE_OVERLAP
            ):
                box = Box(
                    x_min=min(box.x_min, other.box.x_min),
                    y_min=min(box.y_min, other.box.y_min),
                    x_max=max(box.x_max, other.box.x_max),
                    y_max=max(box.y_max, other.box.y_max),
                )
            else:
                rest.append(other)
        pending = rest
        objects.append(Detection(detector_class=best.detector_class, score=best.score, box=box))
    return Detections(class_scores=class_scores, objects=tuple(objects))


def input_tensor(image: Image.Image) -> FloatArray:
    """An RGB image as the network's input: stretched to 300 x 300 (the graph keeps no aspect ratio),
    scaled from 0..255 to -1..1, with a batch dimension."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (INPUT_SIZE, INPUT_SIZE):
        image = image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR, reducing_gap=3.0)
    pixels = np.asarray(image, dtype=np.float32)
    result: FloatArray = (pixels / 127.5 - 1.0)[np.newaxis]
    return result


def check_model_files(model_dir: Path) -> dict[str, Path]:
    """The installed model files, each checked against its pinned size and sha256."""
    found: dict[str, Path] = {}
    for packed in (LABEL_MAP_FILE, DETECTOR_FILE):
        path = model_dir / packed.file_name
        _check(path, packed)
        found[packed.file_name] = path
    label_map = tuple(found[LABEL_MAP_FILE.file_name].read_text().splitlines())
    if label_map != LABEL_MAP:
        raise ModelMissing(f"{found[LABEL_MAP_FILE.file_name]} is not the expected label map")
    return found


def _check(path: Path, packed: PackedFile) -> None:
    if not path.is_file():
        raise ModelMissing(f"the Vision emulator's model is not installed: {INSTALL_HINT}")
    data = path.read_bytes()
    if len(data) != packed.end - packed.start or hashlib.sha256(data).hexdigest() != packed.sha256:
        raise ModelMissing(
            f"the Vision emulator's model file {path} is not the pinned one: {INSTALL_HINT}"
        )


class Detector:
    """Runs the network on images, from any thread.

    A LiteRT interpreter is not thread-safe, so the detector holds a pool of them (one per concurrent
    image, each single-threaded): a caller waits for a free one in `turn()` and keeps it for all the
    views of its image, and for whatever else it does inside (the server decodes the image there).
    `views` says what the network looks at in an image of a given size (`views_for` by default).
    """

    def __init__(
        self,
        model_dir: Path = DEFAULT_MODEL_DIR,
        parallelism: int | None = None,
        min_score: float = DEFAULT_MIN_SCORE,
        views: Callable[[int, int], Sequence[Box]] = views_for,
    ) -> None:
        files = check_model_files(model_dir)
        self.min_score = min_score
        self.views = views
        self.parallelism = parallelism or max(1, min(4, len(os.sched_getaffinity(0))))
        self._pool: queue.Queue[Any] = queue.Queue()
        model_path = str(files[DETECTOR_FILE.file_name])
        for _ in range(self.parallelism):
            interpreter = Interpreter(model_path=model_path, num_threads=1)
            interpreter.allocate_tensors()
            self._pool.put(interpreter)
        self._input, self._encodings, self._logits = self._tensor_indices(self._pool.queue[0])
        # One inference each before serving: the first invoke sets up kernels and takes longest.
        blank = np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
        for interpreter in list(self._pool.queue):
            interpreter.set_tensor(self._input, blank)
            interpreter.invoke()

    @staticmethod
    def _tensor_indices(interpreter: Any) -> tuple[int, int, int]:
        """The input's and the two outputs' tensor indices, after checking their shapes."""
        (entry,) = interpreter.get_input_details()
        outputs = {output["name"]: output for output in interpreter.get_output_details()}
        encodings = outputs.get("raw_outputs/box_encodings")
        logits = outputs.get("raw_outputs/class_predictions")
        shapes = [tuple(entry["shape"])] + [
            tuple(output["shape"]) if output else None for output in (encodings, logits)
        ]
        expected = [(1, INPUT_SIZE, INPUT_SIZE, 3), (1, NUM_BOXES, 4), (1, NUM_BOXES, NUM_COLUMNS)]
        if encodings is None or logits is None or shapes != expected:
            raise ModelMissing(f"the detector has tensors {shapes}, expected {expected}")
        return int(entry["index"]), int(encodings["index"]), int(logits["index"])

    @contextmanager
    def turn(self) -> Iterator[Callable[[Image.Image], Detections]]:
        """Waits for one of the `parallelism` interpreters and holds it while the caller works inside:
        `detect` there runs on it. So at most `parallelism` images are in work at once, decoding
        included when the caller decodes inside its turn, whatever the number of calling threads."""
        interpreter = self._pool.get()
        try:
            yield lambda image: self._detect(interpreter, image)
        finally:
            self._pool.put(interpreter)

    def detect(self, image: Image.Image) -> Detections:
        """Every view of the image (`views`), merged: the whole image and its windows."""
        with self.turn() as detect:
            return detect(image)

    def detect_single(self, image: Image.Image) -> Detections:
        """One pass over the whole image, stretched to the network's input."""
        with self._pool_interpreter() as interpreter:
            return self._single(interpreter, image)

    @contextmanager
    def _pool_interpreter(self) -> Iterator[Any]:
        interpreter = self._pool.get()
        try:
            yield interpreter
        finally:
            self._pool.put(interpreter)

    def _single(
        self, interpreter: Any, image: Image.Image, on_image: Box | None = None
    ) -> Detections:
        interpreter.set_tensor(self._input, input_tensor(image))
        interpreter.invoke()
        encodings: FloatArray = interpreter.get_tensor(self._encodings)[0].copy()
        logits: FloatArray = interpreter.get_tensor(self._logits)[0].copy()
        return interpret(encodings, logits, self.min_score, on_image)

    def _detect(self, interpreter: Any, image: Image.Image) -> Detections:
        if image.mode != "RGB":
            image = image.convert("RGB")
        passes = []
        for window in self.views(*image.size):
            found = self._single(interpreter, view_input(image, window), image_in_view(window))
            passes.append(
                Detections(
                    class_scores=found.class_scores,
                    objects=tuple(to_image(item, window) for item in found.objects),
                )
            )
        return merge(passes)
