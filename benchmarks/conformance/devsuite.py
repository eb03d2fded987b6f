"""`matthan conformance make-dev-suite OUT`: the development suite, generated from our synthetic
renderer with exact ground truth.

- `day`, `night`: street clips (one- and two-row plates of several colours) by the street renderer;
- `day-interrupted`: a street clip whose stream goes away for a few seconds mid-clip;
- `faces`: people's photos from `../shared/datasets/faces/deepface-pairs/` composited onto a
  synthetic background, drifting slowly; three are on the watchlist (enrolled from *other* photos
  of the same people: Decision "Yes" pairs of pairs_master.csv) and two are unknown and must stay so.

Thresholds are honest for the models installed when the suite is made: plate requirements are only
stated when the plate detector and reader are installed (`plates=None` decides by itself).
"""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np
import numpy.typing as npt

from matthan.benchmarks.conformance.suite import (
    UNKNOWN,
    Clip,
    ClipTruthFile,
    FaceTrack,
    Interruption,
    Keyframe,
    Manifest,
    Matching,
    Person,
    PlateTrack,
    RunSettings,
    Threshold,
    Watchlist,
    check_media,
    load_suite,
    write_manifest,
    write_truth,
)
from matthan.models import ModelMissingError, resolve

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
DEEPFACE = SHARED / "datasets" / "faces" / "deepface-pairs"
YUNET = SHARED / "models" / "yunet" / "yunet_s_dynamic.onnx"

STREET_SIZE = (1280, 720)
FACES_SIZE = (960, 540)
FPS = 15
Image = npt.NDArray[np.uint8]


def write_h264(path: Path, frames: Iterator[Image], fps: int, size: tuple[int, int]) -> None:
    """H.264 MP4 as cameras send it: no B-frames, a keyframe every second, one slice per frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = Fraction(1, fps)
        cc = stream.codec_context
        cc.gop_size = fps
        cc.max_b_frames = 0
        cc.options = {
            "preset": "veryfast",
            "crf": "20",
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0:slices=1:sliced-threads=0",
        }
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ------------------------------------------------------------------------------------------- street


def street_clip(out: Path, truth_out: Path, seconds: float, seed: int, night: bool) -> list[PlateTrack]:
    """Render a street clip and convert its truth (plates facing the camera only)."""
    from matthan.recognizers.synth.street import make_street_clip

    truth = make_street_clip(out, seconds=seconds, fps=FPS, size=STREET_SIZE, seed=seed, night=night)
    out.with_suffix(".truth.json").unlink(missing_ok=True)  # the suite keeps its own truth format
    tracks = []
    for v in truth.vehicles:
        if not v.plate_visible or not v.frames:
            continue
        step = max(1, FPS // 2)
        keys = [Keyframe(t=round(f.t, 3), box=tuple(round(b, 1) for b in f.box)) for f in v.frames[::step]]  # type: ignore[arg-type]
        tracks.append(
            PlateTrack(
                text=v.plate_text.replace("\n", " "),
                first_s=round(v.frames[0].t, 3),
                last_s=round(v.frames[-1].t, 3),
                readable=v.readable,
                rows=1 if v.rows == 1 else 2,
                colour=v.colour,
                keyframes=keys,
            )
        )
    write_truth(truth_out, ClipTruthFile(plates=tracks))
    return tracks


# -------------------------------------------------------------------------------------------- faces


def identity_groups(pairs_csv: Path) -> list[list[str]]:
    """Images of the same person: connected components of the "Yes" pairs, largest first."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    with pairs_csv.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Decision"].strip().lower() == "yes":
                parent[find(row["file_x"])] = find(row["file_y"])
    groups: dict[str, list[str]] = {}
    for image in parent:
        groups.setdefault(find(image), []).append(image)
    return sorted(
        (sorted(g, key=_img_order) for g in groups.values()), key=lambda g: (-len(g), _img_order(g[0]))
    )


def _img_order(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else 0, name)


def _face_box(
    detect: Callable[[Image], npt.NDArray[np.float32]], image: Image
) -> npt.NDArray[np.float32] | None:
    boxes = detect(image)
    if len(boxes) == 0:
        return None
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return cast(npt.NDArray[np.float32], boxes[int(np.argmax(areas))])


def _sprite(
    image: Image, box: npt.NDArray[np.float32], face_px: int
) -> tuple[Image, npt.NDArray[np.float32], tuple[float, float, float, float]]:
    """Head-and-shoulders crop scaled so the face is `face_px` wide, a feathered alpha, the face box in it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w, half_h = w * 1.1, h * 1.2
    H, W = image.shape[:2]
    ax1, ay1 = int(max(0, cx - half_w)), int(max(0, cy - half_h))
    ax2, ay2 = int(min(W, cx + half_w)), int(min(H, cy + half_h * 1.1))
    crop = image[ay1:ay2, ax1:ax2]
    scale = face_px / w
    sprite = cv2.resize(
        crop,
        (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))),
        interpolation=cv2.INTER_AREA,
    )
    sh, sw = sprite.shape[:2]
    alpha = np.zeros((sh, sw), np.float32)
    cv2.ellipse(alpha, (sw // 2, sh // 2), (int(sw * 0.46), int(sh * 0.48)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, sw * 0.04))
    face = ((x1 - ax1) * scale, (y1 - ay1) * scale, (x2 - ax1) * scale, (y2 - ay1) * scale)
    return cast(Image, sprite), cast(npt.NDArray[np.float32], alpha[..., None]), face


def _background(size: tuple[int, int], seed: int) -> Image:
    rng = np.random.default_rng(seed)
    w, h = size
    ramp = np.linspace(70, 150, h, dtype=np.float32)[:, None, None]
    bg = np.broadcast_to(ramp, (h, w, 3)).copy()
    bg[..., 0] *= 0.9
    for _ in range(14):  # shop fronts and doors
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h // 2))
        colour = rng.uniform(40, 200, 3)
        cv2.rectangle(
            bg, (x, y), (x + int(rng.integers(60, 240)), y + int(rng.integers(60, 260))), colour.tolist(), -1
        )
    bg += rng.normal(0, 4, bg.shape).astype(np.float32)
    return np.clip(bg, 0, 255).astype(np.uint8)


def faces_clip(
    out: Path,
    truth_out: Path,
    watch_dir: Path,
    seconds: float,
    start_s: float,
) -> list[Person]:
    """The faces clip, its truth and the watchlist images; returns the watchlist people."""
    from matthan.recognizers.faces.yunet import YuNetDetector

    detector = YuNetDetector(YUNET, score_threshold=0.7, nms_threshold=0.3, max_side=640, threads=1)

    def detect(image: Image) -> npt.NDArray[np.float32]:
        return np.asarray(detector.detect(image).boxes, np.float32)

    groups = identity_groups(DEEPFACE / "pairs_master.csv")
    images = DEEPFACE / "images"
    people: list[Person] = []
    actors: list[tuple[str, Image, npt.NDArray[np.float32], tuple[float, float, float, float]]] = []
    known_wanted, unknown_wanted = 3, 2
    for group in groups:
        if len(actors) >= known_wanted + unknown_wanted:
            break
        loaded = []
        for name in group:
            read = cv2.imread(str(images / name))
            if read is None:
                continue
            image = cast(Image, read)
            box = _face_box(detect, image)
            if box is not None and box[2] - box[0] >= 80:
                loaded.append((name, image, box))
        known = sum(1 for a in actors if a[0] != UNKNOWN) < known_wanted
        if known and len(loaded) >= 2:
            pid = f"person-{len(people) + 1}"
            scene_name, scene_image, scene_box = loaded[0]
            enrol = []
            for name, image, _ in loaded[1:3]:
                dest = watch_dir / f"{pid}-{Path(name).stem}.jpg"
                dest.parent.mkdir(parents=True, exist_ok=True)
                scale = min(1.0, 900 / max(image.shape[:2]))
                cv2.imwrite(
                    str(dest), cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                )
                enrol.append(f"watchlist/{dest.name}")
            people.append(Person(id=pid, images=enrol))
            sprite, alpha, face = _sprite(scene_image, scene_box, 120)
            actors.append((pid, sprite, alpha, face))
            log.info("faces clip: %s is %s (enrolled from %s)", pid, scene_name, ", ".join(enrol))
        elif not known and loaded and len(actors) < known_wanted + unknown_wanted:
            sprite, alpha, face = _sprite(loaded[0][1], loaded[0][2], 120)
            actors.append((UNKNOWN, sprite, alpha, face))
            log.info("faces clip: unknown person is %s", loaded[0][0])
    # up to three at a time, each for 4.5 s, drifting 12 px/s: known, known, unknown, then known, unknown
    w, h = FACES_SIZE
    order = [a for a in actors if a[0] != UNKNOWN][:2] + [a for a in actors if a[0] == UNKNOWN][:1]
    order += [a for a in actors if a[0] != UNKNOWN][2:] + [a for a in actors if a[0] == UNKNOWN][1:]
    slots = [(0.0, 150), (0.5, 480), (1.0, 810), (5.5, 330), (6.0, 700)]
    schedule = []
    for (pid, sprite, alpha, face), (t_in, x) in zip(order, slots, strict=False):
        t_in += start_s
        schedule.append((pid, sprite, alpha, face, t_in, min(seconds - 0.3, t_in + 4.5), x))
    background = _background(FACES_SIZE, 5)
    frames = round(seconds * FPS)
    keys: dict[int, list[Keyframe]] = {i: [] for i in range(len(schedule))}

    def render() -> Iterator[Image]:
        for n in range(frames):
            t = n / FPS
            frame = background.copy()
            for i, (_pid, sprite, alpha, face, t_in, t_out, x) in enumerate(schedule):
                if not t_in <= t <= t_out:
                    continue
                sh, sw = sprite.shape[:2]
                left = int(x - sw / 2 + 12 * (t - t_in))
                top = int(h * 0.45 - sh / 2)
                l0, t0_ = max(0, left), max(0, top)
                l1, t1 = min(w, left + sw), min(h, top + sh)
                if l1 <= l0 or t1 <= t0_:
                    continue
                part = sprite[t0_ - top : t1 - top, l0 - left : l1 - left].astype(np.float32)
                a = alpha[t0_ - top : t1 - top, l0 - left : l1 - left]
                region = frame[t0_:t1, l0:l1].astype(np.float32)
                frame[t0_:t1, l0:l1] = (part * a + region * (1 - a)).astype(np.uint8)
                if n % max(1, FPS // 2) == 0:
                    box = (face[0] + left, face[1] + top, face[2] + left, face[3] + top)
                    keys[i].append(Keyframe(t=round(t, 3), box=tuple(round(v, 1) for v in box)))  # type: ignore[arg-type]
            yield frame

    write_h264(out, render(), FPS, FACES_SIZE)
    tracks = [
        FaceTrack(identity=pid, first_s=round(t_in, 3), last_s=round(t_out, 3), keyframes=keys[i])
        for i, (pid, _s, _a, _f, t_in, t_out, _x) in enumerate(schedule)
    ]
    write_truth(truth_out, ClipTruthFile(faces=tracks))
    return people


# -------------------------------------------------------------------------------------------- suite


def plates_installed() -> bool:
    for name in ("plate-detector", "plate-reader"):
        try:
            resolve(name, "-")
        except ModelMissingError:
            return False
    return True


def make_dev_suite(
    out: Path, *, seconds: float = 16.0, plates: bool | None = None, faces: bool = True
) -> Path:
    """Write the development suite to `out` (which must be empty or absent)."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    plates = plates_installed() if plates is None else plates
    warmup = 4.0
    clips: list[Clip] = []
    for cid, seed, night, gap, tags in (
        ("day", 11, False, None, ["day", "one-row", "two-row", "white/yellow/blue plates"]),
        ("night", 12, True, None, ["night", "one-row", "two-row"]),
        (
            "day-interrupted",
            13,
            False,
            Interruption(at_s=7.0, duration_s=4.0),
            ["day", "stream interruption"],
        ),
    ):
        log.info("rendering street clip %s", cid)
        tracks = street_clip(
            out / "clips" / f"{cid}.mp4", out / "truth" / f"{cid}.json", seconds, seed, night
        )
        colours = sorted({t.colour for t in tracks if t.colour})
        rows = sorted({t.rows for t in tracks if t.rows})
        tags = [*tags[:1], *(f"{r}-row" for r in rows), *(f"{c} plate" for c in colours)] + tags[-1:] * bool(
            gap
        )
        clips.append(
            Clip(
                id=cid,
                file=f"clips/{cid}.mp4",
                truth=f"truth/{cid}.json",
                duration_s=seconds,
                conditions=tags,
                interruption=gap,
            )
        )
    people: list[Person] = []
    if faces and DEEPFACE.is_dir() and YUNET.is_file():
        log.info("rendering the faces clip")
        people = faces_clip(
            out / "clips" / "faces.mp4",
            out / "truth" / "faces.json",
            out / "watchlist",
            seconds,
            warmup + 0.5,
        )
        clips.append(
            Clip(
                id="faces",
                file="clips/faces.mp4",
                truth="truth/faces.json",
                duration_s=seconds,
                conditions=["faces", "watchlist"],
            )
        )
    elif faces:
        log.warning("no faces clip: needs %s and %s", DEEPFACE, YUNET)
    requirements = {
        "schema_validity": Threshold(min=1.0),
        "latency_p95_s": Threshold(max=3.0),
        "recovery_time_s": Threshold(max=6.0),
    }
    if plates:
        requirements |= {
            "plate_read_rate": Threshold(min=0.5),
            "plate_false_read_rate": Threshold(max=0.2),
            "plate_duplicate_rate": Threshold(max=1.5),
        }
    if people:
        requirements |= {"face_hit_rate": Threshold(min=0.66), "face_false_match_rate": Threshold(max=0.0)}
    manifest = Manifest(
        name="matthan-dev",
        description=(
            "Development suite generated by `matthan conformance make-dev-suite` from synthetic clips "
            f"(plates {'required' if plates else 'not required: no plate models were installed'})."
        ),
        clips=clips,
        watchlist=Watchlist(name="conformance", people=people),
        matching=Matching(time_tolerance_s=2.0),
        run=RunSettings(warmup_s=warmup, tail_s=6.0, drain_s=5.0),
        requirements=requirements,
    )
    write_manifest(out, manifest)
    check_media(load_suite(out))  # what we write must load
    return out


def remove_suite(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
