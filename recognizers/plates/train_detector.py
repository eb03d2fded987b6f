"""Train the plate detector (a tiny anchor-free heat-map network) and export it to ONNX.

Training needs the optional `train` extra (torch); nothing at run time imports this module.

    python -m matthan.recognizers.plates.train_detector --data ../shared/datasets/vn-plate-scenes \
        --out var/plate-detector --epochs 41 --threads 1 --workers 1 --seed 2 \
        --yunet ../shared/models/yunet/yunet_s_dynamic.onnx --neck4 32

is the recipe of the shipped model (plate-detector 1.1.0): the backbone is YuNet-s's stages, started
from that face detector's weights (`../shared/models/yunet`, Apache-2.0) and fine-tuned here, under
this module's pyramid and head; without `--yunet` the backbone is this module's own, trained from
scratch (1.0.1 and earlier; the card says what each bought). On a machine with more cores or a GPU,
`--workers N` augments crops in N loader processes (and renders `--synth` scenes in parallel) and
`--device cuda` trains on the GPU; `--widths` sets the plain backbone's channels.

Why not ultralytics: its smallest model (YOLOv8n) takes 24 ms per 320 px and 95 ms per 640 px frame on
one core here (measured with `train_yolo`, which trains it offline on the same scenes), the budget is
15 ms per 640 px frame, and it needs torchvision. This network is a MobileNet-like backbone
with a small feature pyramid ending at stride 4 (small plates are only 15-20 px wide); per output cell
it predicts a plate-centre heat map, the layout (one-row / two-row), the box as distances to its four
sides and the four corners as fractions of the box size, so a crop can be rectified before reading.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.plates.detector import STRIDE, order_corners, resize
from matthan.recognizers.plates.scenes import corner_boxes, iou_matrix, prefix_of, read_yolo_polygons
from matthan.recognizers.plates.train_reader import torch_device
from matthan.recognizers.synth.parallel import render_in_chunks

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the optional extra
    raise SystemExit("training needs torch: pip install -e '.[train]'") from exc

Array = npt.NDArray[Any]
GREY = 114
PREFIXES = ("carlong_", "Tgmt_", "Dieu_", "Hung_")
#: images are cached with their longest side at most this many pixels
CACHE_MAX_SIDE = 800
#: layout of a region to ignore: no positive there, and no penalty for finding a plate there
IGNORE = -1
#: `--ignore-from`: a detection at least this sure that overlaps no labelled plate (IoU below
#: IGNORE_IOU) is taken for a plate nobody labelled, grown by IGNORE_GROW on each side
IGNORE_SCORE, IGNORE_IOU, IGNORE_GROW = 0.4, 0.1, 0.2
#: `--hard-from`: a labelled plate is hard for a model that scores it under HARD_SCORE (no detection
#: that sure at IoU >= HARD_IOU)
HARD_SCORE, HARD_IOU = 0.5, 0.5


# ----------------------------------------------------------------------------------------- model
def _conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, dil: int = 1) -> nn.Sequential:
    pad = dil * (k - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, s, pad, dilation=dil, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Block(nn.Module):
    """Depth-wise 3x3 (optionally strided or dilated) then point-wise 1x1; residual when shapes match."""

    def __init__(self, cin: int, cout: int, s: int = 1, dil: int = 1) -> None:
        super().__init__()
        self.dw = _conv_bn(cin, cin, 3, s, groups=cin, dil=dil)
        self.pw = _conv_bn(cin, cout, 1)
        self.res = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.pw(self.dw(x))
        return x + y if self.res else y


class _DPUnit(nn.Module):
    """YuNet's unit: point-wise 1x1 (with bias, no activation), depth-wise 3x3, norm, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.pw = nn.Conv2d(cin, cout, 1)
        self.dw = nn.Conv2d(cout, cout, 3, 1, 1, groups=cout, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.dw(self.pw(x))))


#: `backbone="yunet"`: the stages of YuNet-s (libfacedetection's face detector) to its stride-32 output
YUNET_WIDTHS = (16, 64, 64, 64, 64)


def _yunet_stages() -> tuple[nn.Sequential, ...]:
    stem = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), _DPUnit(16, 16)
    )
    s4 = nn.Sequential(nn.MaxPool2d(2), _DPUnit(16, 16), _DPUnit(16, 32), _DPUnit(32, 32), _DPUnit(32, 64))
    deeper = [nn.Sequential(nn.MaxPool2d(2), _DPUnit(64, 64), _DPUnit(64, 64)) for _ in range(3)]
    return (stem, s4, *deeper)


class PlateNet(nn.Module):
    """Output (N, 14, H/4, W/4): heat-map logit, layout logit, 4 log-distances, 8 corner fractions."""

    OUT = 14
    WIDTHS = (16, 32, 64, 112, 160)

    def __init__(
        self, widths: tuple[int, ...] = WIDTHS, neck: int = 64, neck4: int = 0, backbone: str = "plain"
    ) -> None:
        """`neck`: channels of the pyramid at strides 32-8. `neck4`: channels at stride 4, where the
        network spends a third of its time (the pyramid's width reduced to it before upsampling); 0
        keeps the first design (the stride-4 lateral at `neck`, fused down to 40). `backbone`:
        "plain" (stages of `widths`) or "yunet" (YuNet-s's stages, `YUNET_WIDTHS`; `load_yunet`)."""
        super().__init__()
        if backbone == "yunet":
            widths = YUNET_WIDTHS
        elif backbone != "plain":
            raise ValueError(f"unknown backbone {backbone!r} (plain or yunet)")
        if len(widths) != 5:
            raise ValueError(f"PlateNet needs 5 stage widths, got {widths}")
        c = list(widths)
        self.backbone = backbone
        if backbone == "yunet":
            self.stem, self.s4, self.s8, self.s16, self.s32 = _yunet_stages()
        else:
            self.stem = _conv_bn(3, c[0], 3, 2)  # /2
            self.s4 = nn.Sequential(_Block(c[0], c[1], 2), _Block(c[1], c[1]))
            self.s8 = nn.Sequential(_Block(c[1], c[2], 2), _Block(c[2], c[2]))
            self.s16 = nn.Sequential(_Block(c[2], c[3], 2), _Block(c[3], c[3]), _Block(c[3], c[3], dil=2))
            self.s32 = nn.Sequential(_Block(c[3], c[4], 2), _Block(c[4], c[4]), _Block(c[4], c[4], dil=2))
        f = neck
        self.lat32 = _conv_bn(c[4], f, 1)
        self.lat16 = _conv_bn(c[3], f, 1)
        self.lat8 = _conv_bn(c[2], f, 1)
        self.fuse16 = _Block(f, f)
        self.fuse8 = _Block(f, f)
        f4 = neck4 or 40
        self.reduce8: nn.Module = _conv_bn(f, neck4, 1) if neck4 else nn.Identity()
        self.lat4 = _conv_bn(c[1], neck4 or f, 1)
        self.fuse4 = _Block(neck4 or f, f4)
        out_conv = nn.Conv2d(f4, self.OUT, 1)
        assert out_conv.bias is not None
        with torch.no_grad():
            out_conv.bias[:1].fill_(-4.6)  # heat-map prior ~1 %
        self.head = nn.Sequential(_conv_bn(f4, f4, 3, groups=f4), out_conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x4 = self.s4(x)
        x8 = self.s8(x4)
        x16 = self.s16(x8)
        x32 = self.s32(x16)
        p = self.lat32(x32)
        p = self.fuse16(self.lat16(x16) + F.interpolate(p, scale_factor=2.0, mode="nearest"))
        p = self.fuse8(self.lat8(x8) + F.interpolate(p, scale_factor=2.0, mode="nearest"))
        p = self.fuse4(self.lat4(x4) + F.interpolate(self.reduce8(p), scale_factor=2.0, mode="nearest"))
        out: torch.Tensor = self.head(p)
        return out


class ExportNet(nn.Module):
    """What goes into the ONNX file: uint8-range BGR input, sigmoid on the score channels.

    The network trains on input scaled to 0..1; the scaling is folded into the first convolution
    (linear, no bias, zero padding), which spares a pass over the whole input frame (about 0.4 ms
    per 640-px frame on one thread here). `net` is changed: pass a copy.
    """

    def __init__(self, net: PlateNet) -> None:
        super().__init__()
        first = net.stem[0]
        assert isinstance(first, nn.Conv2d) and first.bias is None
        with torch.no_grad():
            first.weight.mul_(1.0 / 255.0)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return torch.cat([torch.sigmoid(y[:, :2]), y[:, 2:]], dim=1)


# ------------------------------------------------------------------------------------------ data
@dataclass
class Sample:
    name: str
    image: Array  # BGR uint8
    corners: Array  # (K, 4, 2) float32 pixels, TL TR BR BL
    layouts: Array  # (K,) int: 0 one-row, 1 two-row, IGNORE: a region that is neither plate nor background


def load_split(split_dir: Path) -> list[Sample]:
    samples = []
    for img_path in sorted((split_dir / "images").glob("*.jpg")):
        image = cv2.imread(str(img_path))
        if image is None:
            continue
        h, w = image.shape[:2]
        corners, layouts = read_yolo_polygons(split_dir / "labels" / (img_path.stem + ".txt"), w, h)
        scale = min(1.0, CACHE_MAX_SIDE / max(h, w))
        if scale < 1.0:
            image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            corners = corners * np.float32(scale)
        samples.append(Sample(img_path.name, image, corners, layouts))
    return samples


def mark_unlabelled(samples: list[Sample], model: Path) -> int:
    """Add IGNORE regions where detector `model` finds a plate that no label covers; returns how many.

    The scenes are partly labelled: a street plate nobody labelled would otherwise be trained on as
    background. Badges and signs the model takes for plates are ignored too (they are not penalised
    either way), so only its sure detections are used.
    """
    from matthan.recognizers.plates.detector import PlateDetector, PlatesConfig

    detector = PlateDetector(PlatesConfig(model_path=model, score_threshold=IGNORE_SCORE), reader=None)
    added = 0
    for i, s in enumerate(samples):
        found = detector.detect(s.image)
        if not len(found.boxes):
            continue
        boxes = np.asarray(found.boxes, np.float64)
        labelled = corner_boxes(s.corners)
        overlap = iou_matrix(boxes, labelled).max(1) if len(labelled) else np.zeros(len(boxes))
        regions = []
        for x1, y1, x2, y2 in boxes[overlap < IGNORE_IOU]:
            gx, gy = (x2 - x1) * IGNORE_GROW, (y2 - y1) * IGNORE_GROW
            x1, y1, x2, y2 = x1 - gx, y1 - gy, x2 + gx, y2 + gy
            regions.append([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
        if regions:
            corners = np.concatenate([s.corners, np.asarray(regions, np.float32)])
            layouts = np.concatenate([s.layouts, np.full(len(regions), IGNORE, np.int64)])
            samples[i] = Sample(s.name, s.image, corners, layouts)
            added += len(regions)
    return added


def hard_plates(samples: list[Sample], model: Path) -> list[int]:
    """Per sample, how many of its labelled plates detector `model` finds with a score under
    HARD_SCORE or not at all (the whole image at the detector's default settings)."""
    from matthan.recognizers.plates.detector import PlateDetector, PlatesConfig

    detector = PlateDetector(PlatesConfig(model_path=model, score_threshold=HARD_SCORE), reader=None)
    counts = []
    for s in samples:
        labelled = corner_boxes(s.corners[s.layouts != IGNORE])
        if not len(labelled):
            counts.append(0)
            continue
        found = np.asarray(detector.detect(s.image).boxes, np.float64).reshape(-1, 4)
        if not len(found):
            counts.append(len(labelled))
            continue
        counts.append(int((iou_matrix(found, labelled).max(0) < HARD_IOU).sum()))
    return counts


#: `--synth-plates`: rendered plates are pasted 14 px to this many pixels wide (the issue's 20-300 px
#: range of plate sizes, and smaller)
SYNTH_PASTE_MAX_W = 300


def synthetic_plates(n: int, seed: int) -> list[Sample]:
    """`n` flat plates from the renderer (`synth.render_plate`): random valid texts of every category in
    their colours, one-row car, two-row square car and motorbike shapes, plate-maker fonts, 40-120 px
    tall, some dirtied, washed out or darkened. Each is one Sample whose corners are its image's."""
    from matthan.recognizers.plates import grammar
    from matthan.recognizers.synth.augment import dirt
    from matthan.recognizers.synth.plates import COLOURS, DEFAULT_FONT, PlateShape, random_font, render_plate

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rows = 1 if rng.random() < 0.4 else 2
        info = grammar.random_plate(rng, rows=rows)
        colour = info.colour if info.colour and rng.random() < 0.85 else str(rng.choice(COLOURS))
        shape: PlateShape | None = "car_square" if rows == 2 and rng.random() < 0.3 else None
        font = random_font(rng) if rng.random() < 0.5 else DEFAULT_FONT
        plate = render_plate(
            info.text, rows, colour, rng, height_px=int(rng.integers(40, 121)), shape=shape, font=font
        )
        image = plate.image
        if rng.random() < 0.3:
            image = dirt(image, rng, amount=0.2)
        # the sheeting's brightness under different light: the crop's own photometric jitter comes later
        image = np.clip(image.astype(np.float32) * rng.uniform(0.55, 1.1), 0, 255).astype(np.uint8)
        h, w = image.shape[:2]
        c = np.array([[[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]], np.float32)
        out.append(Sample(f"plate_{seed}_{i:05d}", image, c, np.asarray([rows - 1], np.int64)))
    return out


#: `--crop-plates`: families of the real plate crops pasted into training crops. `CarLongPlate` is left
#: out: its parking-barrier plates may come from the camera of the scenes' `carlong_` images.
CROP_FAMILIES = ("xemay", "ndata")
#: `--crop-plates`: crops are kept at most this wide (they are pasted at most `SYNTH_PASTE_MAX_W`)
CROP_MAX_W = 320


def crop_plates(crops_dir: Path) -> list[Sample]:
    """The Vietnamese plate crops of `crops_dir` (vn-plate-crops) in `CROP_FAMILIES` that the plate
    reader trains on (its validation part and the foreign crops left out), each one Sample whose
    corners are its image's: plates from other cameras than the scenes', cut close to their edge.
    Labels of text are not needed here; the layout comes from the number of rows."""
    from matthan.recognizers.plates.train_reader import load_crops

    out = []
    for crop in load_crops(crops_dir):
        if crop.split != "train" or crop.family not in CROP_FAMILIES:
            continue
        image = cv2.imread(str(crops_dir / "images" / crop.image))
        if image is None:
            continue
        h, w = image.shape[:2]
        if w > CROP_MAX_W:
            h = max(1, round(h * CROP_MAX_W / w))
            w = CROP_MAX_W
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        c = np.array([[[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]], np.float32)
        out.append(Sample(crop.image, image, c, np.asarray([1 if crop.rows == 2 else 0], np.int64)))
    if not out:
        raise FileNotFoundError(f"no Vietnamese training crops of {CROP_FAMILIES} in {crops_dir}")
    return out


#: synthetic scenes are rendered in chunks of this many (see `synth.parallel.render_in_chunks`)
SYNTH_CHUNK = 50


def synthetic_samples(
    n: int, seed: int, size: tuple[int, int] = (1280, 720), workers: int = 0
) -> list[Sample]:
    """`n` street stills from the synthetic renderer (its own camera, vehicles and plates, day and night).

    Plates less than 90 % visible are greyed out: neither a positive nor a wrong negative. The result
    does not depend on `workers` (processes rendering chunks in parallel).
    """
    chunks = render_in_chunks(functools.partial(_synthetic_chunk, seed, size), n, seed, SYNTH_CHUNK, workers)
    return [s for chunk in chunks for s in chunk]


def _synthetic_chunk(
    seed: int, size: tuple[int, int], rng: np.random.Generator, first: int, n: int
) -> list[Sample]:
    from matthan.recognizers.synth import render_scene

    samples = []
    for i in range(first, first + n):
        scene = render_scene(rng, size)
        image: Array = np.ascontiguousarray(scene.image).copy()
        corners, layouts = [], []
        for plate in scene.plates:
            c = order_corners(np.asarray(plate.corners, np.float32))
            if plate.visible >= 0.9:
                corners.append(c)
                layouts.append(1 if plate.rows == 2 else 0)
            else:
                x1, y1 = np.floor(c.min(0)).astype(int).clip(0)
                x2, y2 = np.ceil(c.max(0)).astype(int)
                image[y1 : y2 + 1, x1 : x2 + 1] = GREY
        scale = min(1.0, CACHE_MAX_SIDE / max(size))
        if scale < 1.0:
            image = cv2.resize(
                image, (round(size[0] * scale), round(size[1] * scale)), interpolation=cv2.INTER_AREA
            )
        cs = np.stack(corners) * np.float32(scale) if corners else np.zeros((0, 4, 2), np.float32)
        samples.append(
            Sample(f"synth_{seed}_{i:05d}", image, cs.astype(np.float32), np.asarray(layouts, np.int64))
        )
    return samples


def _plate_width(c: Array) -> Array:
    return np.asarray(c[..., 0].max(-1) - c[..., 0].min(-1))


def warp_affine_shrunk(image: Array, m: Array, scale: float, size: int) -> Array:
    """`cv2.warpAffine(image, m)` into a `size` square, the image first shrunk by `scale` as
    `PlateDetector` shrinks frames (`detector.resize`: area averaging) when `scale` < 0.7 (`m`'s
    uniform scale), so that small plates are not aliased. OpenCV's warps sample bilinearly whatever
    the flag (`INTER_AREA` acts as `INTER_LINEAR` there): with `scale` >= 0.7 this is the plain warp."""
    if scale < 0.7:
        small = resize(image, scale)
        fx, fy = small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]
        # a pixel u of the shrunk image is at x = (u + 0.5) / fx - 0.5 in the original
        m = m.astype(np.float64)
        m[:, 2] += m[:, 0] * (0.5 / fx - 0.5) + m[:, 1] * (0.5 / fy - 0.5)
        m[:, 0] /= fx
        m[:, 1] /= fy
        image = small
    border = (GREY, GREY, GREY)
    return np.asarray(cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=border))


def shrink_around(image: Array, corners: Array, f: float) -> tuple[Array, Array]:
    """The part of `image` around a plate's `corners` (with room for the paste's margin), shrunk by
    `f` as `detector.resize` shrinks frames, and the corners in it."""
    h, w = image.shape[:2]
    pad = 0.25 * float(_plate_width(corners)) + 4.0
    x1, y1 = (max(int(v - pad), 0) for v in corners.min(0))
    x2, y2 = (min(int(v + pad) + 1, lim) for v, lim in zip(corners.max(0), (w, h), strict=True))
    part = image[y1:y2, x1:x2]
    small = resize(part, f)
    factors = np.array([small.shape[1] / part.shape[1], small.shape[0] / part.shape[0]], np.float32)
    moved = (corners - np.array([x1, y1], np.float32) + 0.5) * factors - 0.5
    return small, moved.astype(np.float32)


class Augmenter:
    """Random affine crops at many plate scales, pasted plates, blur, darkness and colour jitter."""

    def __init__(
        self,
        samples: list[Sample],
        size: int,
        rng: random.Random,
        motion_blur: float = 0.15,
        motion_blur_max: int = 9,
        tilt: float = 0.0,
        synth_plates: list[Sample] | None = None,
        synth_share: float = 0.0,
        antialias: bool = False,
    ) -> None:
        self.samples = [s for s in samples if (s.layouts != IGNORE).any()]
        self.all = samples
        self.size = size
        self.rng = rng
        #: share of crops smeared by a straight motion, and the longest smear (odd kernel sizes from 3)
        self.motion_blur = motion_blur
        self.motion_kernels = list(range(3, max(motion_blur_max, 3) + 1, 2))
        #: share of crops turned by up to 90 degrees (plates of parked or leaning motorbikes seen by a
        #: phone); 0 draws no random number for it, so older recipes give the same crops
        self.tilt = tilt
        #: a pool of plates whose images end at their edges (rendered, `synthetic_plates`, or real
        #: crops of other cameras, `crop_plates`) and the share of pasted plates drawn from it instead
        #: of from the training images: new plates on the real backgrounds of the crops
        self.synth_plates = synth_plates or []
        self.synth_share = synth_share if self.synth_plates else 0.0
        #: shrink by area averaging before warping, as `PlateDetector` shrinks frames (OpenCV's warps
        #: sample bilinearly whatever the flag, so a crop shrunk 5x by a warp alone is aliased)
        self.antialias = antialias

    def __call__(self, s: Sample) -> tuple[Array, Array, Array]:
        r = self.rng
        size = self.size
        corners, layouts = s.corners.copy(), s.layouts.copy()
        h, w = s.image.shape[:2]
        plates = np.flatnonzero(layouts != IGNORE)
        # scale: half the time around the native scale, else a plate of random width (14-260 px)
        if len(plates) and r.random() < 0.55:
            k = int(plates[r.randrange(len(plates))])
            target = math.exp(r.uniform(math.log(14), math.log(260)))
            scale = target / max(float(_plate_width(corners[k])), 4.0)
            centre = corners[k].mean(0)
        else:
            scale = r.uniform(0.6, 1.4) * min(1.0, 640 / max(h, w))
            centre = np.array([r.uniform(0, w), r.uniform(0, h)], np.float32)
            if len(corners) and r.random() < 0.7:
                centre = corners[r.randrange(len(corners))].mean(0)
        scale = float(np.clip(scale, 0.08, 4.0))
        if self.tilt and r.random() < self.tilt:
            angle = r.uniform(-90, 90)
        else:
            angle = r.uniform(-8, 8) if r.random() < 0.5 else 0.0
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
        m[0, 1] += r.uniform(-0.1, 0.1) * scale  # slight shear
        dst_c = np.array([r.uniform(0.15, 0.85) * size, r.uniform(0.15, 0.85) * size], np.float32)
        m[:, 2] += dst_c - (m[:, :2] @ centre + m[:, 2])
        # without --antialias the plain warp, as models up to 1.0.1 were trained
        img = warp_affine_shrunk(s.image, m, scale if self.antialias else 1.0, size)
        if len(corners):
            pts = corners.reshape(-1, 2) @ m[:, :2].T + m[:, 2]
            corners = pts.reshape(-1, 4, 2).astype(np.float32)
        # paste plates cut from other images (more small and tilted plates, new backgrounds)
        if r.random() < 0.5:
            for _ in range(r.randint(1, 3)):
                img, corners, layouts = self._paste(img, corners, layouts)
        if r.random() < 0.5:
            img = img[:, ::-1].copy()
            if len(corners):
                corners = corners.copy()
                corners[..., 0] = size - 1 - corners[..., 0]
        img = self._photometric(img)
        keep_c, keep_l = [], []
        for c, lay in zip(corners, layouts, strict=True):
            c = order_corners(c)
            x1, y1 = c.min(0)
            x2, y2 = c.max(0)
            vis_w = min(x2, size) - max(x1, 0)
            vis_h = min(y2, size) - max(y1, 0)
            if vis_w <= 0 or vis_h <= 0:
                continue
            if lay != IGNORE and vis_w * vis_h < 0.6 * (x2 - x1) * (y2 - y1):
                # mostly cut off: grey it out so it is neither a positive nor a wrong negative
                xa, ya = max(int(x1), 0), max(int(y1), 0)
                img[ya : math.ceil(min(y2, size)), xa : math.ceil(min(x2, size))] = GREY
                continue
            keep_c.append(c)
            keep_l.append(lay)
        if keep_c:
            return img, np.stack(keep_c), np.asarray(keep_l)
        return img, np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.int64)

    def _paste(self, img: Array, corners: Array, layouts: Array) -> tuple[Array, Array, Array]:
        r = self.rng
        # 0 draws no random number for it, so older recipes give the same crops
        rendered = self.synth_share > 0 and r.random() < self.synth_share
        if rendered:
            src = self.synth_plates[r.randrange(len(self.synth_plates))]
        else:
            src = self.samples[r.randrange(len(self.samples))]
        real = np.flatnonzero(src.layouts != IGNORE)
        k = int(real[r.randrange(len(real))])
        sc = src.corners[k]
        pw = float(_plate_width(sc))
        if pw < 25:
            return img, corners, layouts
        widest = SYNTH_PASTE_MAX_W if rendered else 200
        target_w = math.exp(r.uniform(math.log(14), math.log(min(widest, self.size - 8))))
        f = target_w / pw
        size = self.size
        ph = float(sc[:, 1].max() - sc[:, 1].min()) * f
        x0 = r.uniform(0, size - target_w)
        y0 = r.uniform(0, max(size - ph, 1.0))
        dst = (sc - sc.min(0)) * np.float32(f) + np.array([x0, y0], np.float32)
        jitter = np.array(
            [[r.uniform(-0.12, 0.12) * target_w, r.uniform(-0.12, 0.12) * ph] for _ in range(4)], np.float32
        )
        dst = (dst + jitter).astype(np.float32)
        # do not cover an existing plate
        bx = np.array([dst[:, 0].min(), dst[:, 1].min(), dst[:, 0].max(), dst[:, 1].max()])
        for c in corners:
            ox = min(bx[2], c[:, 0].max()) - max(bx[0], c[:, 0].min())
            oy = min(bx[3], c[:, 1].max()) - max(bx[1], c[:, 1].min())
            if ox > -4 and oy > -4:
                return img, corners, layouts
        source = src.image
        if self.antialias and f < 0.7:
            source, sc = shrink_around(source, sc, f)
        pm = cv2.getPerspectiveTransform(sc.astype(np.float32), dst)
        warped = cv2.warpPerspective(source, pm, (size, size), flags=cv2.INTER_AREA)
        mask = np.zeros((size, size), np.uint8)
        # a cut from a photo brings a little of its surroundings; a plate of the pool has none (its
        # image ends at the plate's edge), so it is pasted exactly along its corners
        margin = (dst - dst.mean(0)) * (1.0 if rendered else 1.08) + dst.mean(0)
        cv2.fillConvexPoly(mask, np.round(margin).astype(np.int32), 255)
        m = mask > 0
        img = img.copy()
        img[m] = warped[m]
        corners = np.concatenate([corners, dst[None]], 0)
        layouts = np.concatenate([layouts, np.asarray([src.layouts[k]])], 0)
        return img, corners, layouts

    def _photometric(self, img: Array) -> Array:
        r = self.rng
        out: Array = img.astype(np.float32)
        if r.random() < self.motion_blur:  # motion blur
            k = r.choice(self.motion_kernels)
            kern: Array = np.zeros((k, k), np.float32)
            kern[k // 2] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), r.uniform(0, 180), 1.0)
            kern = np.asarray(cv2.warpAffine(kern, rot, (k, k)), np.float32)
            kern /= max(float(kern.sum()), 1e-6)
            # large kernels are applied through a DFT, whose rounding leaves tiny negative values
            out = np.maximum(cv2.filter2D(out, -1, kern), 0.0)
        elif r.random() < 0.15:
            out = cv2.GaussianBlur(out, (0, 0), r.uniform(0.5, 1.5))
        if r.random() < 0.2:  # night: dark, low contrast, noisy
            out = 255.0 * (out / 255.0) ** r.uniform(1.5, 2.8) * r.uniform(0.4, 0.9)
            out += np.random.normal(0, r.uniform(2, 8), out.shape).astype(np.float32)
        else:
            out = out * r.uniform(0.7, 1.3) + r.uniform(-30, 30)
            if r.random() < 0.3:
                out = out * np.array([r.uniform(0.85, 1.15) for _ in range(3)], np.float32)
        if r.random() < 0.1:
            g = out.mean(2, keepdims=True)
            out = np.repeat(g, 3, 2)
        return np.clip(out, 0, 255).astype(np.uint8)


def make_targets(corners: Array, layouts: Array, size: int) -> dict[str, Array]:
    """Heat map (1,H,W), layout (H,W), box (4,H,W) in pixels, corners (8,H,W), weights (H,W), ignore (H,W).

    Regions of layout IGNORE only set `ignore` (1 on the cells whose centre lies in them).
    """
    g = size // STRIDE
    ignore = np.zeros((g, g), np.float32)
    ys, xs = np.mgrid[0:g, 0:g].astype(np.float32)
    px, py = (xs + 0.5) * STRIDE, (ys + 0.5) * STRIDE  # cell centres in pixels
    for c in corners[layouts == IGNORE]:
        x1, y1 = c.min(0)
        x2, y2 = c.max(0)
        ignore[(px >= x1) & (px <= x2) & (py >= y1) & (py <= y2)] = 1.0
    keep = layouts != IGNORE
    corners, layouts = corners[keep], layouts[keep]
    heat = np.zeros((g, g), np.float32)
    reg_w = np.zeros((g, g), np.float32)
    box = np.zeros((4, g, g), np.float32)
    cor = np.zeros((8, g, g), np.float32)
    lay = np.zeros((g, g), np.float32)
    # large plates first so that small ones overwrite them where they overlap
    areas = [float(np.prod(c.max(0) - c.min(0))) for c in corners]
    for i in np.argsort(areas)[::-1]:
        c = corners[i]
        x1, y1 = c.min(0)
        x2, y2 = c.max(0)
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        sx = max(0.54 * bw / 6 / STRIDE, 0.6)
        sy = max(0.54 * bh / 6 / STRIDE, 0.6)
        gx, gy = cx / STRIDE - 0.5, cy / STRIDE - 0.5
        gauss = np.exp(-((xs - gx) ** 2) / (2 * sx * sx) - ((ys - gy) ** 2) / (2 * sy * sy))
        ix, iy = int(np.clip(round(gx), 0, g - 1)), int(np.clip(round(gy), 0, g - 1))
        gauss[iy, ix] = 1.0
        heat = np.maximum(heat, gauss.astype(np.float32))
        inside = (px > x1) & (px < x2) & (py > y1) & (py < y2)
        region = (gauss > 0.3) & inside
        region[iy, ix] = True
        reg_w[region] = gauss[region]
        box[:, region] = np.array([x1, y1, x2, y2], np.float32)[:, None]
        fx = (c[:, 0][:, None] - px[region][None]) / bw
        fy = (c[:, 1][:, None] - py[region][None]) / bh
        cor[:, region] = np.stack([fx, fy], 1).reshape(8, -1)
        lay[region] = float(layouts[i])
    ignore[heat >= 1.0] = 0.0
    return {"heat": heat[None], "reg_w": reg_w, "box": box, "corners": cor, "layout": lay, "ignore": ignore}


# ------------------------------------------------------------------------------------------ loss
def decode_boxes(dist: torch.Tensor) -> torch.Tensor:
    """(N,4,H,W) log-distances (in stride units) -> boxes x1y1x2y2 in pixels."""
    h, w = dist.shape[2:]
    ys, xs = torch.meshgrid(
        torch.arange(h, device=dist.device), torch.arange(w, device=dist.device), indexing="ij"
    )
    px = (xs.float() + 0.5) * STRIDE
    py = (ys.float() + 0.5) * STRIDE
    d = torch.exp(dist.clamp(max=6.0)) * STRIDE
    return torch.stack([px - d[:, 0], py - d[:, 1], px + d[:, 2], py + d[:, 3]], 1)


def giou_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(M,4) boxes -> (M,) 1 - GIoU."""
    ix1 = torch.max(pred[:, 0], gt[:, 0])
    iy1 = torch.max(pred[:, 1], gt[:, 1])
    ix2 = torch.min(pred[:, 2], gt[:, 2])
    iy2 = torch.min(pred[:, 3], gt[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    ap = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    ag = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    union = ap + ag - inter + 1e-6
    ex1 = torch.min(pred[:, 0], gt[:, 0])
    ey1 = torch.min(pred[:, 1], gt[:, 1])
    ex2 = torch.max(pred[:, 2], gt[:, 2])
    ey2 = torch.max(pred[:, 3], gt[:, 3])
    enc = (ex2 - ex1) * (ey2 - ey1) + 1e-6
    return 1 - inter / union + (enc - union) / enc


def compute_loss(out: torch.Tensor, t: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    heat = torch.sigmoid(out[:, :1]).clamp(1e-4, 1 - 1e-4)
    gt = t["heat"]
    pos = gt.eq(1.0).float()
    neg_w = (1 - gt) ** 4
    pos_loss = -(torch.log(heat) * (1 - heat) ** 2 * pos).sum()
    keep = (1 - t["ignore"]).unsqueeze(1)
    neg_loss = -(torch.log(1 - heat) * heat**2 * neg_w * (1 - pos) * keep).sum()
    n_pos = pos.sum().clamp(min=1.0)
    l_heat = (pos_loss + neg_loss) / n_pos

    w = t["reg_w"]
    m = w > 0
    if m.any():
        wm = w[m]
        boxes = decode_boxes(out[:, 2:6]).permute(0, 2, 3, 1)[m]
        gbox = t["box"].permute(0, 2, 3, 1)[m]
        l_box = (giou_loss(boxes, gbox) * wm).sum() / wm.sum()
        pc = out[:, 6:14].permute(0, 2, 3, 1)[m]
        gc = t["corners"].permute(0, 2, 3, 1)[m]
        l_cor = ((pc - gc).abs().sum(1) * wm).sum() / wm.sum()
        ll = out[:, 1].unsqueeze(1).permute(0, 2, 3, 1)[m].squeeze(-1)
        l_lay = (
            F.binary_cross_entropy_with_logits(ll, t["layout"][m], reduction="none") * wm
        ).sum() / wm.sum()
    else:
        l_box = l_cor = l_lay = out.sum() * 0.0
    total = l_heat + 2.0 * l_box + 1.0 * l_cor + 0.5 * l_lay
    parts = {
        k: float(v.detach()) for k, v in (("heat", l_heat), ("box", l_box), ("cor", l_cor), ("lay", l_lay))
    }
    return total, parts


def distill_loss(out: torch.Tensor, teacher: torch.Tensor, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """How far the student's plate-centre map is from a teacher's: the Bernoulli KL divergence of
    the student's score from the teacher's at every cell, summed and divided by the labelled centres,
    as the focal loss is. `teacher` is an exported detector's output on the same crops (its channel 0
    already a probability). Where the labels say background but the teacher sees a plate (plates
    nobody labelled), the student hears both."""
    p = teacher[:, :1].clamp(1e-4, 1 - 1e-4)
    log_q = F.logsigmoid(out[:, :1])
    log_not_q = F.logsigmoid(-out[:, :1])
    kl = p * (torch.log(p) - log_q) + (1 - p) * (torch.log(1 - p) - log_not_q)
    n_pos = t["heat"].eq(1.0).float().sum().clamp(min=1.0)
    return kl.sum() / n_pos


# ------------------------------------------------------------------------------------------ main
class _Crops(torch.utils.data.Dataset[tuple[Array, dict[str, Array]]]):
    """One augmented training crop and its targets per sample index."""

    def __init__(self, aug: Augmenter, samples: list[Sample], seed: int) -> None:
        self.aug = aug
        self.samples = samples
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Array, dict[str, Array]]:
        img, corners, layouts = self.aug(self.samples[i])
        return img, make_targets(corners, layouts, self.aug.size)


def source_weights(names: Sequence[str]) -> list[float]:
    """A drawing weight per training image such that each source (file prefix, `scenes.prefix_of`;
    rendered scenes are one source) is drawn equally often, whatever its number of images."""
    sources = [prefix_of(name) for name in names]
    counts = Counter(sources)
    return [1.0 / (len(counts) * counts[src]) for src in sources]


class _EpochBatches:
    """Shuffled index batches, a new order every epoch (works with persistent loader workers); the
    indices in `extra` are drawn once more per epoch for each time they appear there. With
    `weights`, an epoch draws its `n` images with replacement in proportion to them instead."""

    def __init__(
        self,
        n: int,
        batch: int,
        rng: random.Random,
        extra: Sequence[int] = (),
        weights: Sequence[float] | None = None,
    ) -> None:
        self.n, self.batch, self.rng, self.extra = n, batch, rng, list(extra)
        self.weights = list(weights) if weights is not None else None

    def __len__(self) -> int:
        return max((self.n + len(self.extra)) // self.batch, 1)

    def __iter__(self) -> Any:
        if self.weights is None:
            order = list(range(self.n)) + self.extra
        else:
            order = self.rng.choices(range(self.n), weights=self.weights, k=self.n) + self.extra
        self.rng.shuffle(order)
        for b in range(len(self)):
            yield order[b * self.batch : (b + 1) * self.batch]


def _seed_worker(worker_id: int) -> None:
    """Each loader worker gets its own augmentation streams (seed, worker id)."""
    info = torch.utils.data.get_worker_info()
    assert info is not None
    ds: _Crops = info.dataset  # type: ignore[assignment]
    ds.aug.rng = random.Random(ds.seed * 1000 + worker_id + 1)
    np.random.seed((ds.seed * 1000 + worker_id + 1) % 2**32)


def _collate(items: list[tuple[Array, dict[str, Array]]]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    x = torch.from_numpy(np.stack([img for img, _ in items])).permute(0, 3, 1, 2).float() / 255.0
    t = {k: torch.from_numpy(np.stack([tt[k] for _, tt in items])) for k in items[0][1]}
    return x, t


def export_onnx(net: PlateNet, path: Path) -> None:
    export_module(ExportNet(copy.deepcopy(net).cpu()).eval(), path)


def export_module(model: nn.Module, path: Path) -> None:
    """Write `model` (a frame in, the output maps out) to ONNX with the detector's names and axes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, 480, 640)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["image"],
        output_names=["maps"],
        dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "maps": {0: "n", 2: "h4", 3: "w4"}},
        opset_version=17,
        dynamo=False,
    )


def fold_input_scaling(src: Path, dst: Path) -> float:
    """Write to `dst` the exported detector `src` with its input scaling folded into the first
    convolution, as `ExportNet` does since 2026-12-06: exports made before it multiply the whole
    frame by 1/255 first (0.67 of 12.5 ms per 640-px frame here). Same outputs up to float rounding.
    Returns the factor folded; raises ValueError when `src` does not start with that scaling."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    source = graph.input[0].name
    consumers = [n for n in graph.node if source in n.input]
    if len(consumers) != 1 or consumers[0].op_type != "Mul":
        raise ValueError(f"{src}: the input is not scaled by a Mul first (already folded?)")
    mul = consumers[0]
    other = mul.input[1] if mul.input[0] == source else mul.input[0]
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    initialisers = {i.name: i for i in graph.initializer}
    if other in constants:
        factor = numpy_helper.to_array(constants[other].attribute[0].t)
    elif other in initialisers:
        factor = numpy_helper.to_array(initialisers[other])
    else:
        raise ValueError(f"{src}: the input's scale factor is not a constant")
    if factor.size != 1:
        raise ValueError(f"{src}: the input's scale factor is not one number")
    convs = [n for n in graph.node if mul.output[0] in n.input]
    if not convs or any(n.op_type != "Conv" or n.input[0] != mul.output[0] for n in convs):
        raise ValueError(f"{src}: the scaled input does not go only into convolutions")
    if any(n.input[1] not in initialisers for n in convs):
        raise ValueError(f"{src}: the first convolution's weights are not stored in the file")
    for conv in convs:
        weight = initialisers[conv.input[1]]
        weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * factor.item(), weight.name))
        conv.input[0] = source  # a convolution's bias is not scaled: (s x) * W + b = x * (s W) + b
    graph.node.remove(mul)
    if other in constants and not any(other in n.input for n in graph.node):
        graph.node.remove(constants[other])
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return float(factor.item())


RECIPE = (
    "python -m matthan.recognizers.plates.train_detector --data ../shared/datasets/vn-plate-scenes "
    "--epochs 41 --threads 1 --workers 1 --seed 2 --yunet ../shared/models/yunet/yunet_s_dynamic.onnx "
    "--neck4 32 (crops of 320 px, batch 16, AdamW 3e-3 with cosine decay, the YuNet stages at 0.3 times "
    "that with their batch norms frozen, EMA of weights)"
)

DATA_CARD = (
    "vn-plate-scenes train split only (2,076 images, 2,530 plate polygons): Roboflow Universe project "
    "switer/lp-detection-fcvzv-lzvin v1 (https://universe.roboflow.com/switer/lp-detection-fcvzv-lzvin), "
    "via github qhung-13/ITS_License_Plate_Detection, licence CC BY 4.0. Augmented with random affine "
    "crops, plates cut from training images and pasted at 14-200 px wide with perspective, motion blur, "
    "darkening (night) and colour jitter. The valid/ split (711 images) was never trained on."
)


def backbone_source(yunet: Path) -> str:
    """What the manifest records of a `--yunet` model's starting weights: the file and its sha256."""
    from matthan.models import sha256_of

    return (
        "YuNet-s (libfacedetection, Shiqi Yu et al.; OpenMMLab), Apache-2.0: its stages to stride 32 "
        f"were loaded from {yunet.name} (sha256 {sha256_of(yunet)}) and fine-tuned here"
    )


def load_onnx_weights(net: PlateNet, src: Path) -> int:
    """Set `net`'s weights from an exported detector `src` (made by `export_onnx`, input scaling
    folded) so that `net` in eval mode computes what `src` computes; returns the convolutions set.

    The export fuses each batch norm into the convolution before it, so each such norm becomes the
    identity plus the fused bias (mean 0, variance 1 - eps, scale 1): fine-tune with the norms in
    eval mode (`freeze_norms`), since batch statistics would change the function. Raises ValueError
    when `src` does not fit `net` (another architecture, or the input not folded)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(src)).graph
    if any(n.op_type == "Mul" and graph.input[0].name in n.input for n in graph.node):
        raise ValueError(f"{src}: its input scaling is not folded (see --fold-input-scaling)")
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    modules = dict(net.named_modules())
    done = 0
    with torch.no_grad():
        for node in graph.node:
            if node.op_type != "Conv":
                continue
            path: list[str] = []
            for part in node.name.strip("/").split("/")[1:-1]:  # "/net/s4/s4.0/dw/dw.0/Conv" -> s4.0.dw.0
                if path and part.startswith(path[-1] + "."):
                    path[-1] = part
                else:
                    path.append(part)
            name = ".".join(path)
            conv = modules.get(name)
            if not isinstance(conv, nn.Conv2d) or len(node.input) < 3:
                raise ValueError(f"{src}: convolution {node.name} has no match in this network")
            norm = None
            if conv.bias is None:
                parent, _, index = name.rpartition(".")
                norm = modules[parent][int(index) + 1]
            scale = 255.0 if conv is net.stem[0] else 1.0  # ExportNet folded the input's 1/255 into it
            _set_fused(conv, norm, weights[node.input[1]], weights[node.input[2]], f"{src}: {name}", scale)
            done += 1
    if done != sum(isinstance(m, nn.Conv2d) for m in modules.values()):
        raise ValueError(f"{src}: {done} convolutions for a network of another size")
    return done


def _set_fused(conv: nn.Conv2d, norm: nn.Module | None, w: Array, b: Array, label: str, scale: float) -> None:
    """Give `conv` an exported convolution's weights `w` (times `scale`) and bias `b`, into which a
    batch norm was fused: the bias goes into `conv`'s own, or into `norm` as the identity plus that
    bias (mean 0, variance 1 - eps, scale 1). Raises ValueError when the shapes differ."""
    if tuple(w.shape) != tuple(conv.weight.shape):
        raise ValueError(f"{label} is {tuple(w.shape)}, this network's {tuple(conv.weight.shape)}")
    conv.weight.copy_(torch.from_numpy(w.copy()) * scale)
    if conv.bias is not None:
        conv.bias.copy_(torch.from_numpy(b.copy()))
        return
    assert isinstance(norm, nn.BatchNorm2d)
    assert norm.running_mean is not None and norm.running_var is not None
    norm.weight.fill_(1.0)
    norm.bias.copy_(torch.from_numpy(b.copy()))
    norm.running_mean.zero_()
    norm.running_var.fill_(1.0 - norm.eps)


def backbone_stages(net: PlateNet) -> list[nn.Module]:
    return [net.stem, net.s4, net.s8, net.s16, net.s32]


def load_yunet(net: PlateNet, src: Path) -> int:
    """Set the stages of a `backbone="yunet"` network from YuNet-s's ONNX file (its first 23
    convolutions, batch norms folded into them): the fused biases go into this network's norms as
    `load_onnx_weights` does (freeze them: `freeze_norms`), and the first convolution is scaled for
    input in 0..1 (YuNet takes BGR in 0..255). Raises ValueError when `src` is another network."""
    import onnx
    from onnx import numpy_helper

    if net.backbone != "yunet":
        raise ValueError("load_yunet needs a PlateNet(backbone='yunet')")
    graph = onnx.load(str(src)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    stem, stem_norm = net.stem[0], net.stem[1]
    assert isinstance(stem, nn.Conv2d)
    targets: list[tuple[nn.Conv2d, nn.Module | None]] = [(stem, stem_norm)]
    for unit in (m for stage in backbone_stages(net) for m in stage.children()):
        if isinstance(unit, _DPUnit):
            targets += [(unit.pw, None), (unit.dw, unit.bn)]
    if len(convs) < len(targets):
        raise ValueError(f"{src}: {len(convs)} convolutions, YuNet-s's stages need {len(targets)}")
    with torch.no_grad():
        for node, (conv, norm) in zip(convs, targets, strict=False):
            if len(node.input) < 3 or node.input[1] not in weights or node.input[2] not in weights:
                raise ValueError(f"{src}: convolution {node.name} has no stored weights and bias")
            scale = 255.0 if conv is stem else 1.0  # YuNet takes 0..255, this network 0..1
            _set_fused(
                conv, norm, weights[node.input[1]], weights[node.input[2]], f"{src}: {node.name}", scale
            )
    return len(targets)


def freeze_norms(net: nn.Module) -> None:
    """Put `net`'s batch norms in eval mode (running statistics kept; scale and shift still learn)."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def publish(onnx_path: Path, version: str, backbone_from: Path | None = None) -> Any:
    """Copy the exported model into the project's model store and record it in the manifest;
    `backbone_from`: the YuNet file a `--yunet` model's backbone started from (recorded with its
    sha256 and licence)."""
    import shutil

    from matthan.models import PROJECT_MODELS, register
    from matthan.recognizers.plates.detector import MODEL_NAME

    if not onnx_path.is_file():
        raise SystemExit(f"{onnx_path} not found: train first")
    dest = PROJECT_MODELS / MODEL_NAME / version / "model.onnx"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, dest)
    meta: dict[str, Any] = {
        "task": "licence plate detection (box, score, layout, four corners)",
        "input": {
            "name": "image",
            "shape": ["N", 3, "H", "W"],
            "format": "BGR float32 in 0..255, H and W multiples of 32 (letterbox: shrink to 640 px "
            "longest side, pad right/bottom with 114)",
        },
        "output": {
            "name": "maps",
            "shape": ["N", 14, "H/4", "W/4"],
            "channels": "0 plate-centre score (sigmoid); 1 two-row probability; 2-5 log(distance/4) from the "
            "cell centre to the box's left, top, right, bottom; 6-13 corners TL TR BR BL as (x, y) offsets "
            "from the cell centre in box widths/heights",
        },
        "licence": "Apache-2.0 (weights trained by this project); training data CC BY 4.0, see data",
        "data": DATA_CARD,
        "recipe": RECIPE,
        "card": "card.md",
    }
    if backbone_from is not None:
        if not backbone_from.is_file():
            raise SystemExit(f"{backbone_from} not found: the --yunet file the backbone started from")
        meta["backbone"] = backbone_source(backbone_from)
        meta["licence"] = (
            "Apache-2.0 (weights trained by this project, the backbone started from YuNet-s's Apache-2.0 "
            "weights: see backbone); training data CC BY 4.0, see data"
        )
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "plate_detector.json"
    if results.is_file():
        measured = json.loads(results.read_text())
        valid = measured.get("valid", {})
        meta["accuracy"] = {
            "split": "vn-plate-scenes valid (711 images, 879 plates), IoU 0.5, score >= 0.4",
            "recall": valid.get("recall"),
            "precision": valid.get("precision"),
            "recall_by_source": {k: v.get("recall") for k, v in valid.get("by_prefix", {}).items()},
        }
        meta["latency_ms_640_one_thread"] = measured.get("latency_640_detect_ms")
        meta["latency_machine"] = measured.get("machine")
    return register(PROJECT_MODELS, MODEL_NAME, version, dest, meta)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/datasets/vn-plate-scenes"))
    p.add_argument("--out", type=Path, default=Path("var/plate-detector"))
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=320, help="training crop size (pixels)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes that augment crops in parallel (0: in the training process; a GPU run needs many)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda when available)")
    p.add_argument(
        "--widths",
        default=",".join(map(str, PlateNet.WIDTHS)),
        help="channels of the five backbone stages (default %(default)s)",
    )
    p.add_argument("--neck", type=int, default=64, help="channels of the feature pyramid at strides 32-8")
    p.add_argument(
        "--neck4",
        type=int,
        default=0,
        help="channels of the pyramid's stride-4 level (default 0: the first design, its width fused to 40)",
    )
    p.add_argument(
        "--yunet",
        type=Path,
        metavar="ONNX",
        help="backbone: YuNet-s's stages (to stride 32), starting from that face detector's weights "
        "(e.g. ../shared/models/yunet/yunet_s_dynamic.onnx; Apache-2.0, trained on WIDER FACE), their "
        "batch norms frozen, at --backbone-lr times the learning rate; the pyramid and head as usual",
    )
    p.add_argument(
        "--backbone-lr", type=float, default=0.3, help="learning-rate factor of the --yunet stages"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop early (and export) after this long")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument(
        "--init-from",
        type=Path,
        metavar="MODEL",
        help="start from the weights of an exported detector (ONNX, same --widths/--neck/--neck4; e.g. the "
        "release) instead of at random: a fine-tune, with its batch norms frozen (pair with a low --lr)",
    )
    p.add_argument(
        "--synth",
        type=int,
        default=0,
        metavar="N",
        help="also train on N synthetic street scenes from matthan.recognizers.synth (~1 s each to render)",
    )
    p.add_argument(
        "--synth-plates",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the plates pasted into training crops that are rendered (matthan.recognizers.synth, "
        f"14-{SYNTH_PASTE_MAX_W} px wide, with perspective) instead of cut from other training images",
    )
    p.add_argument(
        "--synth-plate-pool", type=int, default=3000, help="rendered plates drawn for --synth-plates"
    )
    p.add_argument(
        "--crop-plates",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the plates pasted into training crops that are real plate crops of other cameras "
        f"(--crops, families {', '.join(CROP_FAMILIES)}, the plate reader's training part; 14-"
        f"{SYNTH_PASTE_MAX_W} px wide, with perspective) instead of cut from other training images",
    )
    p.add_argument(
        "--crops",
        type=Path,
        default=Path("../shared/datasets/vn-plate-crops"),
        help="the real plate crops for --crop-plates",
    )
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (smoke test)")
    p.add_argument("--motion-blur", type=float, default=0.15, help="share of crops with motion blur")
    p.add_argument(
        "--motion-blur-max", type=int, default=9, help="longest motion blur (pixels of a training crop)"
    )
    p.add_argument(
        "--tilt", type=float, default=0.0, help="share of crops turned by up to 90 degrees (default none)"
    )
    p.add_argument(
        "--antialias",
        action="store_true",
        help="shrink training crops and pasted plates by area averaging before warping them, as frames "
        "are shrunk for detection (default: the warp alone, as models up to 1.0.1 were trained)",
    )
    p.add_argument(
        "--ignore-from",
        type=Path,
        metavar="MODEL",
        help="a plate detector (ONNX) whose sure detections that no label covers are left out of the loss "
        "(plates nobody labelled); e.g. the previous release",
    )
    p.add_argument(
        "--leave-out",
        action="append",
        default=[],
        metavar="PREFIX",
        help="leave out the training images whose names start with PREFIX (repeatable), e.g. `carlong_` "
        "to measure on a camera the model never saw",
    )
    p.add_argument(
        "--balance-sources",
        action="store_true",
        help="draw each source of training images (file prefix) equally often per epoch, rather than in "
        "proportion to its number of images (one parking camera is a third of the training split)",
    )
    p.add_argument(
        "--hard-from",
        type=Path,
        metavar="MODEL",
        help="a plate detector (ONNX) whose missed or unsure (score < 0.5) labelled plates make their "
        "training images drawn more often (--hard-repeat); e.g. the previous release",
    )
    p.add_argument(
        "--hard-repeat", type=int, default=2, help="extra draws per epoch of each hard image (--hard-from)"
    )
    p.add_argument(
        "--teacher",
        type=Path,
        metavar="MODEL",
        help="an exported plate detector (ONNX) whose plate-centre map the network also learns "
        "(distillation, e.g. into a smaller network); run by onnxruntime on every batch",
    )
    p.add_argument("--distill", type=float, default=1.0, help="weight of the teacher's loss (--teacher)")
    p.add_argument(
        "--fold-input-scaling",
        type=Path,
        metavar="MODEL",
        help="do not train: write OUT/model.onnx as MODEL (an export made before 2026-12-06) with its "
        "input scaling folded into the first convolution, then --publish it",
    )
    p.add_argument(
        "--publish",
        metavar="VERSION",
        help="do not train: copy OUT/model.onnx to models/plate-detector/VERSION/ and register it in the "
        "manifest (with the numbers of benchmarks/results/plate_detector.json when present; with --yunet, "
        "the file its backbone started from)",
    )
    args = p.parse_args(argv)
    if args.teacher and not args.teacher.is_file():  # before the minutes of loading the data
        raise SystemExit(f"{args.teacher}: no such teacher model")
    if args.fold_input_scaling:
        factor = fold_input_scaling(args.fold_input_scaling, args.out / "model.onnx")
        print(
            f"wrote {args.out / 'model.onnx'}: input scaling {factor:.6g} folded into the first convolution"
        )
        return 0
    if args.publish:
        entry = publish(args.out / "model.onnx", args.publish, args.yunet)
        print(f"registered {entry.name} {entry.version}: {entry.path} sha256 {entry.sha256}")
        return 0

    if args.synth_plates > 0 and args.crop_plates > 0:
        raise SystemExit("--synth-plates and --crop-plates are alternatives: give one")
    crops: list[Sample] = []
    if args.crop_plates > 0:  # before the scenes load, so that a missing folder says so at once
        try:
            crops = crop_plates(args.crops)
        except FileNotFoundError as e:
            raise SystemExit(f"--crop-plates: {e}") from None
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    train_dir = args.data / "train"
    if not (train_dir / "images").is_dir():
        raise SystemExit(f"{train_dir}/images not found: pass --data DIR (the vn-plate-scenes dataset)")
    t0 = time.time()
    samples = load_split(train_dir)  # never the valid/ split: it is for measuring only
    print(f"loaded {len(samples)} training images in {time.time() - t0:.0f} s", flush=True)
    if args.leave_out:
        kept = [s for s in samples if not s.name.startswith(tuple(args.leave_out))]
        print(f"left out {len(samples) - len(kept)} images of {', '.join(args.leave_out)}", flush=True)
        samples = kept
        if not samples:
            raise SystemExit("--leave-out left no training images")
    if args.ignore_from:
        t0 = time.time()
        n = mark_unlabelled(samples, args.ignore_from)
        print(f"{n} unlabelled regions to ignore, found by {args.ignore_from} in {time.time() - t0:.0f} s")
    extra: list[int] = []
    if args.hard_from:
        t0 = time.time()
        hard = hard_plates(samples, args.hard_from)
        extra = [i for i, k in enumerate(hard) if k] * args.hard_repeat
        print(
            f"{sum(hard)} hard plates in {sum(k > 0 for k in hard)} images for {args.hard_from} "
            f"({time.time() - t0:.0f} s): each drawn {1 + args.hard_repeat} times per epoch",
            flush=True,
        )
    if args.synth:
        t0 = time.time()
        samples += synthetic_samples(args.synth, args.seed + 1000, workers=args.workers)
        print(f"rendered {args.synth} synthetic street scenes in {time.time() - t0:.0f} s", flush=True)
    pool: list[Sample] = []
    share = args.synth_plates
    if args.synth_plates > 0:
        t0 = time.time()
        pool = synthetic_plates(args.synth_plate_pool, args.seed + 2000)
        print(f"rendered {len(pool)} synthetic plates in {time.time() - t0:.0f} s", flush=True)
    if crops:
        pool = crops
        share = args.crop_plates
        print(f"{len(pool)} real plate crops to paste ({args.crops})", flush=True)
    aug = Augmenter(
        samples,
        args.size,
        random.Random(args.seed),
        args.motion_blur,
        args.motion_blur_max,
        args.tilt,
        synth_plates=pool,
        synth_share=share,
        antialias=args.antialias,
    )
    device = torch_device(args.device)
    widths = tuple(int(v) for v in args.widths.split(","))
    weights = source_weights([smp.name for smp in samples]) if args.balance_sources else None
    if weights is not None:
        counts = Counter(prefix_of(smp.name) for smp in samples)
        print(f"each source drawn equally often (images: {dict(sorted(counts.items()))})", flush=True)
    batches = _EpochBatches(len(samples), args.batch, random.Random(args.seed), extra, weights)
    loader = torch.utils.data.DataLoader(
        _Crops(aug, samples, args.seed),
        batch_sampler=batches,
        num_workers=args.workers,
        collate_fn=_collate,
        worker_init_fn=_seed_worker if args.workers else None,
        persistent_workers=args.workers > 0,
        pin_memory=device.type == "cuda",
    )

    backbone = "yunet" if args.yunet else "plain"
    net = PlateNet(widths, args.neck, args.neck4, backbone).to(device)
    ema = PlateNet(widths, args.neck, args.neck4, backbone).to(device)
    if args.init_from:
        print(f"started from {args.init_from} ({load_onnx_weights(net, args.init_from)} convolutions)")
    elif args.yunet:
        print(f"backbone from {args.yunet} ({load_yunet(net, args.yunet)} convolutions)", flush=True)
    ema.load_state_dict(net.state_dict())
    for q in ema.parameters():
        q.requires_grad_(False)
    teacher, teacher_input = None, ""
    if args.teacher:
        from matthan.recognizers.onnx import make_session

        teacher = make_session(args.teacher, args.threads)
        teacher_input = teacher.get_inputs()[0].name
        print(f"distilling {args.teacher} (weight {args.distill})", flush=True)
    stage_params = {id(q) for m in backbone_stages(net) for q in m.parameters()} if args.yunet else set()
    groups = [
        {"params": [q for q in net.parameters() if id(q) not in stage_params], "scale": 1.0},
        {"params": [q for q in net.parameters() if id(q) in stage_params], "scale": args.backbone_lr},
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = len(batches)
    total_steps = steps_per_epoch * args.epochs
    start_epoch, step = 0, 0
    args.out.mkdir(parents=True, exist_ok=True)
    last = args.out / "last.pt"
    if args.resume and last.is_file():
        ck = torch.load(last, weights_only=False, map_location=device)
        net.load_state_dict(ck["net"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        start_epoch, step = ck["epoch"] + 1, ck["step"]
    log = (args.out / "train_log.jsonl").open("a")
    t_start = time.time()
    for epoch in range(start_epoch, args.epochs):
        net.train()
        if args.init_from:
            freeze_norms(net)
        elif args.yunet:
            for stage in backbone_stages(net):
                freeze_norms(stage)
        sums: dict[str, float] = {}
        te = time.time()
        for b, (x_cpu, t_cpu) in enumerate(loader):
            warm = min(1.0, (step + 1) / 300)
            lr = args.lr * warm * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            for grp in opt.param_groups:
                grp["lr"] = lr * grp.get("scale", 1.0)
            x = x_cpu.to(device, non_blocking=True)
            t = {k: v.to(device, non_blocking=True) for k, v in t_cpu.items()}
            out = net(x)
            loss, parts = compute_loss(out, t)
            if teacher is not None:
                seen = teacher.run(None, {teacher_input: x_cpu.numpy() * np.float32(255.0)})[0]
                l_kd = distill_loss(out, torch.from_numpy(seen).to(device), t)
                loss = loss + args.distill * l_kd
                parts["kd"] = float(l_kd.detach())
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            step += 1
            decay = 0.998 * (1 - math.exp(-step / 500))
            with torch.no_grad():
                for pe, pn in zip(ema.state_dict().values(), net.state_dict().values(), strict=True):
                    if pe.dtype.is_floating_point:
                        pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
                    else:
                        pe.copy_(pn)
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                sums[k] = sums.get(k, 0.0) + v
            if args.steps and step >= args.steps:
                break
            if b % 20 == 0:
                print(
                    f"epoch {epoch} step {b}/{steps_per_epoch} loss {float(loss.detach()):.3f} {parts}",
                    flush=True,
                )
        rec = {k: round(v / steps_per_epoch, 4) for k, v in sums.items()}
        rec.update(epoch=epoch, seconds=round(time.time() - te, 1), lr=lr)
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        torch.save(
            {
                "net": net.state_dict(),
                "ema": ema.state_dict(),
                "opt": opt.state_dict(),
                "epoch": epoch,
                "step": step,
            },
            last,
        )
        export_onnx(ema, args.out / "model.onnx")
        if args.max_minutes and time.time() - t_start > args.max_minutes * 60:
            print("time limit reached", flush=True)
            break
        if args.steps and step >= args.steps:
            break
    export_onnx(ema, args.out / "model.onnx")
    print(f"wrote {args.out / 'model.onnx'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
