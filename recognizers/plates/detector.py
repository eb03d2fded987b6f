"""Find plates in a camera frame with our ONNX plate detector, rectify each one and read it.

The network (trained by `train_detector.py`) maps a BGR frame to maps at stride 4: a plate-centre
score, a layout score (one-row / two-row), distances from the cell to the four box sides (log, in
stride units) and the four corners as fractions of the box size. Everything around it is numpy and
OpenCV: letterbox, peak picking, decoding, NMS, rectification of the crop from its corners.

Each plate is read twice, from two views that fail differently: the crop rectified from the predicted
corners (wrong when a corner is off) and the upright box around them with a margin (wrong when the
plate is tilted); the reading the plate grammar accepts wins, then the more confident one. When the
two read differently, five more cuts are read and the text with the most confidence behind it wins
(`MORE_VIEWS`, `vote`), its confidence lowered by the views that disagreed.

Small or blurred plates are not guessed: below `min_read_width` a plate is reported without text,
and the reader's confidence is scaled down by a quality factor for narrow or soft crops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from matthan.models import ModelMissingError, resolve, sha256_of
from matthan.recognizers.base import CLASS_PLATE, Detections, RecognizerError
from matthan.recognizers.onnx import make_session

if TYPE_CHECKING:
    from matthan.recognizers.plates.reader import PlateReader

log = logging.getLogger(__name__)

#: output stride of the detector's maps
STRIDE = 4
#: the network's input sides must be multiples of this (five stride-2 stages)
ALIGN = 32
#: grey used for letterbox padding (as in training)
PAD_VALUE = 114
MODEL_NAME = "plate-detector"
FIX_COMMAND = (
    "python -m matthan.recognizers.plates.train_detector --data ../shared/datasets/vn-plate-scenes "
    "--yunet ../shared/models/yunet/yunet_s_dynamic.onnx --neck4 32 (needs the `train` extra; the card "
    "gives the whole recipe), or reinstall matthan"
)
LAYOUTS = ("one-row", "two-row")
#: the half-size pass reports only plates at least this wide (its pixels): smaller ones are seen, and
#: located better, at full size
COARSE_MIN_WIDTH = 32.0
#: the fine pass runs only where it sees the frame at least this much larger than the main pass (a
#: frame a little over `max_side` would pay a whole pass more for plates hardly any larger)
FINE_MIN_GAIN = 1.25
#: a plate narrower than this in the main pass's pixels takes the fine pass's box when that pass finds
#: it too: seen larger there, it is located better (on 40 synthetic 720p street frames, main pass
#: first: 80 of 170 plates at IoU 0.5; small plates' boxes from the fine pass: 100)
FINE_BOX_BELOW = 32.0
#: fields the reader contributes to each plate (None when not read)
READER_FIELDS = (
    "text",
    "normalised",
    "rows",
    "format",
    "province",
    "province_code",
    "category",
    "colour",
    "confidence",
)

FloatArray = npt.NDArray[np.float32]
Frame = npt.NDArray[np.uint8]


class PlatesConfig(BaseModel):
    """Settings of the plate backend (`type: plates` in the agent's config)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["plates"] = "plates"
    #: report plates whose detector score is at least this
    score_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    #: boxes overlapping a better one by more than this IoU are dropped
    nms_iou: float = Field(default=0.45, gt=0.0, le=1.0)
    #: frames larger than this (longest side, pixels) are shrunk before detection
    max_side: int = Field(default=640, ge=64, le=4096)
    #: also look at the frame at half that size, for plates too close to the camera for the
    #: network's view at full size (a second pass at a quarter of the cost)
    coarse_pass: bool = True
    #: also look at each frame resized to this longest side (0: off): shrunk less than for the main
    #: pass, or enlarged (up to `fine_enlarge`) when the frame is smaller, for plates too small to find
    #: at `max_side` (4K cameras, phone photos, low-resolution substreams); plates only it finds are
    #: added. It costs about (fine_side / max_side)^2 passes more per frame, so it is off by default:
    #: on a loaded edge machine the frames it costs are frames not analysed (see the detector's card)
    fine_side: int = Field(default=0, ge=0, le=8192)
    #: the fine pass enlarges a frame at most this much (1: never, so that frames of `max_side` or
    #: smaller cost nothing more; more than 2 adds no detail, only false plates)
    fine_enlarge: float = Field(default=2.0, ge=1.0, le=4.0)
    #: plates narrower than this (frame pixels) are not reported at all
    min_plate_width: float = Field(default=8.0, ge=0.0)
    #: plates narrower than this are reported without text (too small to read, not guessed)
    min_read_width: float = Field(default=24.0, ge=0.0)
    #: plates at least this wide get full confidence from the size factor
    good_read_width: float = Field(default=60.0, gt=0.0)
    max_plates: int = Field(default=50, ge=1)
    #: run the plate reader on each rectified crop (when its model is installed)
    read: bool = True
    #: also read the upright box around the plate (a second view, ~1 ms per plate) and keep the better
    #: reading: the one the plate grammar accepts, else the more confident
    box_view: bool = True
    #: when the two views read differently, read `MORE_VIEWS` too (five more cuts of the plate) and take
    #: the reading with the most confidence behind it (`vote`): ~5 ms more for the plates concerned
    more_views: bool = True
    #: onnxruntime intra-op threads
    threads: int = Field(default=1, ge=1)
    #: use this ONNX file instead of the installed `plate-detector` model
    model_path: Path | None = None
    #: use this ONNX file instead of the installed `plate-reader` model (same contract)
    reader_model_path: Path | None = None


@dataclass(frozen=True)
class PlateBoxes:
    """Raw detector output for one frame, in frame pixels."""

    boxes: FloatArray  # (K, 4) x1 y1 x2 y2
    scores: FloatArray  # (K,)
    layouts: npt.NDArray[np.int32]  # (K,) 0 one-row, 1 two-row
    corners: FloatArray  # (K, 4, 2) TL TR BR BL


def order_corners(points: npt.NDArray[Any]) -> FloatArray:
    """Four corners TL, TR, BR, BL from any polygon around a plate (its extreme points).

    Where one point is the extreme of two directions (a polygon of a plate cut off by the frame's
    edge, or drawn as a thin sliver: 5 of the 2,530 training and 4 of the 879 validation polygons of
    vn-plate-scenes), the corners are taken from the polygon's smallest enclosing rectangle instead,
    so that they never collapse into a triangle or a line (which rectifies to a blank crop).
    """
    p = np.asarray(points, np.float32).reshape(-1, 2)
    corners = _extremes(p)
    if len({(float(x), float(y)) for x, y in corners}) < 4 and len(p) >= 3:
        corners = _extremes(cv2.boxPoints(cv2.minAreaRect(p)).astype(np.float32))
    return corners


def _extremes(p: FloatArray) -> FloatArray:
    s = p[:, 0] + p[:, 1]
    d = p[:, 0] - p[:, 1]
    return np.stack([p[s.argmin()], p[d.argmax()], p[s.argmax()], p[d.argmin()]]).astype(np.float32)


def resize(frame: Frame, scale: float) -> Frame:
    """`frame` scaled by `scale` (area averaging to shrink, bilinear to enlarge)."""
    if scale == 1.0:
        return frame
    h, w = frame.shape[:2]
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    method = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(frame, size, interpolation=method), np.uint8)


def shrink(frame: Frame, max_side: int) -> tuple[Frame, float]:
    """`frame` with its longest side at most `max_side` (never enlarged), and the scale applied."""
    scale = min(1.0, max_side / max(frame.shape[:2]))
    return resize(frame, scale), scale


def letterbox(frame: Frame, max_side: int) -> tuple[FloatArray, float]:
    """Shrink `frame` so its longest side is at most `max_side`, pad right/bottom to a multiple of 32.

    Returns the network input (1, 3, H, W) float32 BGR in 0..255 and the scale applied.
    """
    shrunk, scale = shrink(frame, max_side)
    image: npt.NDArray[Any] = shrunk
    h2, w2 = image.shape[:2]
    ph, pw = -(-h2 // ALIGN) * ALIGN, -(-w2 // ALIGN) * ALIGN
    if (ph, pw) != (h2, w2):
        image = cv2.copyMakeBorder(image, 0, ph - h2, 0, pw - w2, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    # channel by channel: the same values as numpy's transpose-and-cast, 0.54 instead of 0.93 ms for
    # a 640x480 frame alone; detection per 640-px frame 12.18 against 12.28 ms p50 side by side
    blob = np.empty((1, 3, ph, pw), np.float32)
    for k, channel in enumerate(cv2.split(image)):
        blob[0, k] = channel
    return blob, scale


def nms(boxes: FloatArray, scores: FloatArray, iou: float) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.maximum(xx2 - xx1, 0) * np.maximum(yy2 - yy1, 0)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-6)
        order = rest[overlap <= iou]
    return np.asarray(keep, np.intp)


def decode(maps: FloatArray, threshold: float, max_plates: int) -> PlateBoxes:
    """Peaks of the score map -> boxes, scores, layouts and corners in network-input pixels."""
    if maps.ndim != 3 or maps.shape[0] != 14:
        raise RecognizerError(f"plate detector output has shape {maps.shape}, expected (14, H, W)")
    heat = np.ascontiguousarray(maps[0])
    peaks = (heat >= threshold) & (heat >= cv2.dilate(heat, np.ones((3, 3), np.uint8)))
    ys, xs = np.nonzero(peaks)
    if len(ys) > 4 * max_plates:
        top = np.argsort(-heat[ys, xs])[: 4 * max_plates]
        ys, xs = ys[top], xs[top]
    scores = heat[ys, xs].astype(np.float32)
    px = (xs.astype(np.float32) + 0.5) * STRIDE
    py = (ys.astype(np.float32) + 0.5) * STRIDE
    dist = np.exp(np.minimum(maps[2:6, ys, xs], 6.0)) * STRIDE  # (4, K)
    boxes = np.stack([px - dist[0], py - dist[1], px + dist[2], py + dist[3]], 1).astype(np.float32)
    bw = boxes[:, 2] - boxes[:, 0]
    bh = boxes[:, 3] - boxes[:, 1]
    frac = maps[6:14, ys, xs].T.reshape(-1, 4, 2)
    corners = np.stack(
        [px[:, None] + frac[:, :, 0] * bw[:, None], py[:, None] + frac[:, :, 1] * bh[:, None]], 2
    )
    layouts = (maps[1, ys, xs] >= 0.5).astype(np.int32)
    return PlateBoxes(boxes, scores, layouts, corners.astype(np.float32))


#: margin added around the predicted corners before reading, as a share of the plate's size: the
#: corners are off by ~4 % of the box side on average (7 % at the 90th percentile), and a character
#: cut off is a wrong reading while a little border is not (the reader trains on loose framings).
#: Measured with plate-reader 2, detect -> read exact on the 192 hand-read plates of
#: vn-plate-scenes/valid (benchmarks/data) and on 91 readable plates of 260 synthetic street stills:
#: 6 %: 0.891 / 0.945; 9 %: 0.922 / 0.912; 6 % in x and 14 % in y: 0.911 / 0.934; on the first 143
#: real plates also 12 %: 0.867 and 9 % / 14 %: 0.888. Readings of small street plates swing with a
#: pixel of framing (on the first 96 real plates 6 % / 14 % looked best); the real plates decide.
READ_MARGIN = 0.09


def rectify(frame: Frame, corners: FloatArray, margin: float = READ_MARGIN) -> Frame:
    """The plate cut out of `frame` and warped to a rectangle of its own size, with a margin."""
    c = np.asarray(corners, np.float32).reshape(4, 2)
    width = max(float(np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2, 2.0)
    height = max(float(np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2, 2.0)
    mx, my = width * margin, height * margin
    w_out, h_out = round(width + 2 * mx), round(height + 2 * my)
    dst = np.array([[mx, my], [mx + width, my], [mx + width, my + height], [mx, my + height]], np.float32)
    m = cv2.getPerspectiveTransform(c, dst)
    return np.asarray(
        cv2.warpPerspective(
            frame, m, (w_out, h_out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        ),
        np.uint8,
    )


#: margin of the second view (the upright box around the corners), as a share of the box's size
BOX_VIEW_MARGIN = 0.10
#: the cuts read when the two views disagree (`PlatesConfig.more_views`): ("corners", margin) for
#: `rectify`, ("box", margin) for `box_crop`: the same two cuts, framed tighter and looser. Measured
#: 2026-12-06 with plate-reader 8 on the 698 hand-read plates of the scenes' validation split, with
#: three detectors (1.0.1 and the two leave-one-source-out runs of its card, whose corners differ):
#: plates read right 674 -> 683, 672 -> 673 and 664 -> 673; with a fourth (`Dieu_` left out), trained
#: after the rule was settled, 670 -> 676. The five cuts were fixed before measuring; the rule was
#: settled on these plates: first with 1.0.1 alone, voting only where one view read a Vietnamese
#: plate and among all readings (+7 there, but -4 and +5 with the other two detectors: readings that
#: are no plate, agreeing across cuts, outvoted a right one), then as it is (`vote`). Cost: on the
#: synthetic frames of the conformance dev suite the two views disagree on 158 of 371 plates (mostly
#: distant, unreadable ones); the agent analysed 1-2 % fewer frames, and read 25 and 24 of 28 plate
#: tracks in two runs against 25 and 25 without more views.
MORE_VIEWS: tuple[tuple[str, float], ...] = (
    ("corners", 0.04),
    ("corners", 0.15),
    ("corners", 0.25),
    ("box", 0.05),
    ("box", 0.20),
)
#: a reading in a Vietnamese format counts this much more in `vote` (as in the agent's vote over a
#: track's readings, `edge.sightings`)
VN_VOTE_WEIGHT = 1.5


def _surest(reading: dict[str, Any]) -> tuple[bool, float]:
    """Sort key of a plate's readings: a Vietnamese format first, then the more confident."""
    return reading.get("format") == "vn", float(reading.get("confidence") or 0.0)


def vote(readings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The reader's fields of the text with the most confidence behind it among several readings of
    one plate: each reading weighs its confidence (`VN_VOTE_WEIGHT` times more in a Vietnamese
    format, as in the agent's vote over a track), and only texts read in a Vietnamese format compete
    when there are any (as the two views' rule puts them first). Of the readings of the winning text,
    the one in a Vietnamese format and most confident, its confidence scaled by the share of all the
    weight the text got: views that disagree make a reading less sure (on the 54 plates that voted in
    the measurement of `MORE_VIEWS` with 1.0.1, 45 read right; scaled, the 38 at 0.5 or more were all
    right and 44 of the 49 at 0.3 or more; unscaled, 38 of the 42 at 0.9 or more). {} for none."""
    weights: dict[str, float] = {}
    for r in readings:
        weight = float(r.get("confidence") or 0.0) * (VN_VOTE_WEIGHT if r.get("format") == "vn" else 1.0)
        key = str(r.get("normalised") or "")
        weights[key] = weights.get(key, 0.0) + weight
    if not weights:
        return {}
    plates = {str(r.get("normalised") or "") for r in readings if r.get("format") == "vn"}
    winner = max(plates or weights, key=lambda k: weights[k])
    best = max((r for r in readings if str(r.get("normalised") or "") == winner), key=_surest)
    total = sum(weights.values())
    share = weights[winner] / total if total > 0 else 0.0
    return {**best, "confidence": float(best.get("confidence") or 0.0) * share}


def box_crop(frame: Frame, corners: FloatArray, margins: Sequence[float]) -> Frame:
    """The upright box around `corners` grown by `margins` (left, top, right, bottom; fractions of the
    box), clipped to the frame: a plate as a box-only detector or a hand-drawn box would cut it."""
    h, w = frame.shape[:2]
    c = np.asarray(corners, np.float32).reshape(-1, 2)
    x1, y1 = c.min(axis=0)
    x2, y2 = c.max(axis=0)
    bw, bh = x2 - x1, y2 - y1
    left, top = int(max(0, x1 - margins[0] * bw)), int(max(0, y1 - margins[1] * bh))
    right, bottom = int(min(w, np.ceil(x2 + margins[2] * bw))), int(min(h, np.ceil(y2 + margins[3] * bh)))
    return frame[top:bottom, left:right]


def sharpness(crop: Frame) -> float:
    """Variance of the Laplacian of the crop resized to 96 px wide: low for blurred plates."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h, w = grey.shape[:2]
    grey = cv2.resize(grey, (96, max(round(96 * h / max(w, 1)), 8)), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def read_quality(width: float, crop: Frame, config: PlatesConfig) -> float:
    """0..1: how far a read of this crop can be trusted, from its width and sharpness."""
    size = min(
        1.0,
        max(0.0, (width - config.min_read_width) / max(config.good_read_width - config.min_read_width, 1e-6)),
    )
    size = 0.3 + 0.7 * size
    sharp = min(1.0, sharpness(crop) / 150.0)
    return round(float(size * (0.4 + 0.6 * sharp)), 3)


#: turns a rectified BGR crop into the reader's fields (a mapping with any of READER_FIELDS)
CropReader = Callable[[Frame], dict[str, Any]]


def _field(result: Any, name: str) -> Any:
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def load_default_reader(threads: int = 1, model_path: Path | None = None) -> CropReader | None:
    """The plate reader (the installed `plate-reader`, or `model_path`), or None when its model is absent."""
    from matthan.recognizers.plates.reader import PlateReader

    try:
        reader: Any = PlateReader(model_path, threads=threads)
    except ModelMissingError as exc:
        log.warning("plate reader model missing (%s): plates are reported without text", exc)
        return None
    return ReaderAdapter(reader)


class ReaderAdapter:
    """The reader as the detector calls it: a crop in, the reader's fields out."""

    def __init__(self, reader: Any):
        self.reader = reader
        self.model_path: Path | None = getattr(reader, "model_path", None)
        self._method = getattr(reader, "read", None) or reader
        self._many = getattr(reader, "read_many", None)

    def __call__(self, crop: Frame) -> dict[str, Any]:
        return self._fields(self._method(crop))

    def many(self, crops: list[Frame]) -> list[dict[str, Any]]:
        """The fields of several crops, in one model call where the reader has `read_many` (raises
        :class:`RecognizerError` when any of them cannot be read)."""
        if self._many is None:
            return [self(crop) for crop in crops]
        return [self._fields(result) for result in self._many(crops)]

    @staticmethod
    def _fields(result: Any) -> dict[str, Any]:
        fields = {name: _field(result, name) for name in READER_FIELDS}
        plate = _field(result, "plate")
        if plate is not None:
            for name in ("colour", "province_code"):
                if fields[name] is None:
                    fields[name] = _field(plate, name)
        rows = fields.get("rows")
        if isinstance(rows, tuple):
            fields["rows"] = list(rows)
        return fields


class PlateDetector:
    """The `plates` backend: detect plates in a frame, rectify each one, read it, parse it."""

    type_name: ClassVar[str] = "plates"

    def __init__(self, config: PlatesConfig | None = None, reader: CropReader | None = None) -> None:
        self.config = config or PlatesConfig()
        self._reader = reader
        self._session: Any = None
        self.model_path: Path | None = None
        #: seconds of the last frame's stages, for the agent's per-stage latency metrics
        self.last_stage_seconds: dict[str, float] = {}
        #: model name -> sha256 prefix of the files in use, for every event's `producer.models`
        self.model_versions: dict[str, str] = {}

    @property
    def reader(self) -> CropReader | None:
        return self._reader

    def load(self) -> None:
        """Open the ONNX session (checks the model's sha256) and the reader when reading is on."""
        if self._session is not None:
            return
        if self.config.model_path is not None:
            path = Path(self.config.model_path)
            if not path.is_file():
                raise ModelMissingError(f"plate detector model {path} does not exist")
        else:
            path = resolve(MODEL_NAME, FIX_COMMAND).path
        self.model_path = path
        self._session = make_session(path, self.config.threads)
        if self.config.read and self._reader is None:
            self._reader = load_default_reader(self.config.threads, self.config.reader_model_path)
        self.model_versions = {"plate-detector": sha256_of(path)[:12]}
        reader_path = getattr(self._reader, "model_path", None)
        if reader_path is not None:
            self.model_versions["plate-reader"] = sha256_of(Path(reader_path))[:12]

    def detect(self, frame: Frame) -> PlateBoxes:
        """Boxes, scores, layouts and corners of the plates in a BGR frame (frame pixels)."""
        _check_frame(frame)
        self.load()
        h, w = frame.shape[:2]
        base_scale = min(1.0, self.config.max_side / max(h, w))
        fine_scale = min(self.config.fine_side / max(h, w), self.config.fine_enlarge)
        fine = self.config.fine_side > 0 and fine_scale >= base_scale * FINE_MIN_GAIN
        # shrink a (maybe 4K) frame once: the main pass shrinks the fine pass's copy when that one is
        # shrunk too, and the half-size pass the main pass's (1 against 22 ms for a 4032x3024 photo)
        fine_image = resize(frame, fine_scale) if fine else frame
        from_fine = fine and fine_scale < 1.0
        image, base_scale = shrink(fine_image if from_fine else frame, self.config.max_side)
        if from_fine:
            base_scale *= fine_scale
        full = max(image.shape[:2])
        main = self._detect_at(image, full, base_scale, 0.0)
        # which box a plate keeps when several passes find it: the main pass's, then the half-size
        # pass's, then the fine pass's (they only add plates it missed); but a plate too small to be
        # located well by the main pass takes the fine pass's box
        small = (main.boxes[:, 2] - main.boxes[:, 0]) * base_scale < FINE_BOX_BELOW
        found, tiers = [main], [np.where(small & fine, 0, 3)]
        if self.config.coarse_pass and full >= 128:
            # even sides make the half-size copy exactly half: OpenCV then averages 2x2 blocks, ten
            # times faster than area resampling at an odd ratio (which costs more than the pass)
            ih, iw = image.shape[:2]
            even = image[: ih - ih % 2, : iw - iw % 2]
            found.append(self._detect_at(even, max(even.shape[:2]) // 2, base_scale, COARSE_MIN_WIDTH))
            tiers.append(np.full(len(found[-1].scores), 2))
        if fine:
            found.append(self._detect_at(fine_image, self.config.fine_side, fine_scale, 0.0))
            tiers.append(np.full(len(found[-1].scores), 1))
        boxes = np.concatenate([f.boxes for f in found])
        scores = np.concatenate([f.scores for f in found])
        layouts = np.concatenate([f.layouts for f in found])
        corners = np.concatenate([f.corners for f in found])
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        rank = scores + np.concatenate(tiers).astype(np.float32)
        keep = nms(boxes, rank, self.config.nms_iou)[: self.config.max_plates]
        keep = keep[(boxes[keep, 2] - boxes[keep, 0]) >= self.config.min_plate_width]
        return PlateBoxes(boxes[keep], scores[keep], layouts[keep], corners[keep])

    def _detect_at(self, image: Frame, max_side: int, base_scale: float, min_width: float) -> PlateBoxes:
        """Plates in `image` (the frame scaled by `base_scale`) shrunk to `max_side`, in frame pixels;
        only those at least `min_width` network pixels wide."""
        blob, scale = letterbox(image, max_side)
        scale *= base_scale
        maps = self._session.run(None, {"image": blob})[0][0]
        raw = decode(np.asarray(maps, np.float32), self.config.score_threshold, self.config.max_plates)
        if min_width > 0:
            wide = (raw.boxes[:, 2] - raw.boxes[:, 0]) >= min_width
            raw = PlateBoxes(raw.boxes[wide], raw.scores[wide], raw.layouts[wide], raw.corners[wide])
        return PlateBoxes(
            raw.boxes / np.float32(scale), raw.scores, raw.layouts, raw.corners / np.float32(scale)
        )

    def __call__(self, frame: Frame, detections: Detections | None = None) -> Detections:
        started = time.perf_counter()
        found = self.detect(frame)
        detected = time.perf_counter()
        data: dict[str, list[Any]] = {k: [] for k in (*READER_FIELDS, "layout", "corners", "quality")}
        for box, layout, corners in zip(found.boxes, found.layouts, found.corners, strict=True):
            fields: dict[str, Any] = dict.fromkeys(READER_FIELDS)
            width = float(box[2] - box[0])
            quality = 0.0
            if width >= self.config.min_read_width:  # narrower plates are not read: no guesses
                crop = rectify(frame, corners)
                quality = read_quality(width, crop, self.config)
                if self._reader is not None:
                    fields.update(self._read_views(frame, corners, crop))
                    if fields.get("confidence") is not None:
                        fields["confidence"] = round(float(fields["confidence"]) * quality, 4)
            for key in READER_FIELDS:
                data[key].append(fields.get(key))
            data["layout"].append(LAYOUTS[int(layout)])
            data["corners"].append(np.round(corners.astype(np.float64), 1).tolist())
            data["quality"].append(quality)
        self.last_stage_seconds = {"detect": detected - started, "read": time.perf_counter() - detected}
        plates = Detections(
            boxes=found.boxes,
            scores=found.scores,
            class_ids=np.full(len(found.boxes), CLASS_PLATE, np.int32),
            data=data,
        )
        if detections is None or len(detections) == 0:
            return plates
        return Detections.merge([detections, plates])

    def _read_views(self, frame: Frame, corners: FloatArray, crop: Frame) -> dict[str, Any]:
        """The reader's fields for one plate: the rectified `crop` read, and with `box_view` the upright
        box too, keeping a reading in a Vietnamese format before one that is not, then the more
        confident; when the two read differently and `more_views` is on, the vote of `MORE_VIEWS`
        and both. {} when no view could be read."""
        readings = self._read_each([crop])
        if not self.config.box_view:
            return readings[0] if readings else {}
        readings += self._read_each([box_crop(frame, corners, [BOX_VIEW_MARGIN] * 4)])
        texts = {str(r.get("normalised") or "") for r in readings}
        if self.config.more_views and len(readings) == 2 and len(texts) == 2:
            more = [
                rectify(frame, corners, margin)
                if kind == "corners"
                else box_crop(frame, corners, [margin] * 4)
                for kind, margin in MORE_VIEWS
            ]
            return vote(readings + self._read_each(more))
        return max(readings, key=_surest) if readings else {}

    def _read_each(self, views: list[Frame]) -> list[dict[str, Any]]:
        """The reader's fields for each view it can read (a view too small or empty is left out)."""
        assert self._reader is not None
        many = getattr(self._reader, "many", None)
        if many is not None and len(views) > 1:
            try:
                return list(many(views))
            except RecognizerError:
                pass  # one of them cannot be read: each on its own below
        out = []
        for view in views:
            try:
                out.append(self._reader(view))
            except RecognizerError as exc:
                log.debug("plate reader failed on a crop: %s", exc)
        return out


#: the locator pads a crop by this share of its longest side on each side, so that the plate does not
#: touch the edges of what the detector sees
LOCATE_PAD = 0.25
#: ... and scales the padded crop so its longest side is within these (pixels; enlarging at most twice)
LOCATE_SIDES = (160, 320)
#: the plate it finds is cut along its corners at each of these margins (`rectify`) and each cut read.
#: Chosen 2026-12-07 on the reader's 1370 training crops padded by 10-25 % and turned by 5-10 degrees
#: (the second look fires on 592), read right with the margin 0.09 alone / 0.15 alone / both: 1342 /
#: 1334 / 1342 (more read in a Vietnamese format with both: 1366 against 1365); then measured on the
#: held-out sets (plate-reader 8, plate-detector 1.0.1), 0.09 alone -> both: validation 320 -> 321 of
#: 323, scene plates cut along their corners 685 -> 688 of 698, along upright boxes 10 % larger 677 ->
#: 681; foreign crops read in a Vietnamese format 0 either way. Cost: one more reading (~0.4 ms) per
#: second look. With plate-detector 1.1.0 (shipped later that day): padded and turned training crops
#: 1350, validation 317, corners 688, boxes 680, foreign 0.
LOCATE_MARGINS = (READ_MARGIN, 0.15)


class PlateLocator:
    """Finds the plate inside a crop cut by someone else (a loose or tilted box, a hand-made crop)
    and returns it cut along the corners the detector predicts, as the agent cuts a detected plate,
    once per margin of `LOCATE_MARGINS`: the reader's second look (`reader.SECOND_LOOK_BELOW`). No
    cut when no plate is found."""

    def __init__(self, threads: int = 1, model_path: Path | None = None) -> None:
        self.detector = PlateDetector(PlatesConfig(read=False, threads=threads, model_path=model_path))

    def load(self) -> None:
        """Open the detector's model (raises ModelMissingError naming the command that makes it)."""
        self.detector.load()

    def __call__(self, crop: Frame) -> list[Frame]:
        image = np.asarray(crop if crop.ndim == 3 else cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR), np.uint8)
        pad = int(LOCATE_PAD * max(image.shape[:2]))
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        side = max(padded.shape[:2])
        low, high = LOCATE_SIDES
        scale = high / side if side > high else 1.0 if side >= low else min(2.0, low / side)
        padded = resize(np.asarray(padded, np.uint8), scale)
        try:
            found = self.detector.detect(padded)
        except RecognizerError as exc:
            log.debug("locator: no plate looked for in a crop: %s", exc)
            return []
        if not len(found.boxes):
            return []
        area = (found.boxes[:, 2] - found.boxes[:, 0]) * (found.boxes[:, 3] - found.boxes[:, 1])
        best = int(np.argmax(found.scores * area))  # the surest of the large ones: the crop's own plate
        return [rectify(padded, found.corners[best], margin) for margin in LOCATE_MARGINS]


def crop_reader(
    model_path: Path | None = None,
    *,
    threads: int = 1,
    max_force_cost: float | None = None,
    locate: bool = True,
    vn_floor: float | None = None,
) -> PlateReader:
    """The plate reader for crops (`matthan plates read`, `matthan eval plates`): with the plate
    detector's second look when `locate` and the detector's model is installed (a warning otherwise).
    Raises ModelMissingError when the reader's own model is missing."""
    from matthan.recognizers.plates.reader import DEFAULT_MAX_FORCE_COST, VN_FLOOR, PlateReader

    locator: PlateLocator | None = None
    if locate:
        locator = PlateLocator(threads)
        try:
            locator.load()
        except ModelMissingError as exc:
            log.warning("plate detector model missing (%s): crops are read without a second look", exc)
            locator = None
    cost = DEFAULT_MAX_FORCE_COST if max_force_cost is None else max_force_cost
    floor = VN_FLOOR if vn_floor is None else vn_floor
    return PlateReader(model_path, threads=threads, max_force_cost=cost, locator=locator, vn_floor=floor)


def _check_frame(frame: Any) -> None:
    if not isinstance(frame, np.ndarray):
        raise RecognizerError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise RecognizerError(f"frame must be uint8 BGR, got dtype {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise RecognizerError(f"frame must have shape (H, W, 3), got {frame.shape}")
    if frame.shape[0] < 8 or frame.shape[1] < 8:
        raise RecognizerError(f"frame of {frame.shape[1]}x{frame.shape[0]} pixels is too small")
