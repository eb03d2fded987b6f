"""Synthetic street clips: the MP4 a camera would send and the truth a scorer reads."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from matthan.recognizers.synth.street import StreetScene, iter_frames, make_street_clip, render_scene
from matthan.recognizers.synth.truth import ClipTruth

SIZE = (640, 360)
SECONDS = 2.0
FPS = 25
SEED = 0
READABLE_PX = 7.0  # plates at 640x360 are half as tall as at 720p


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ClipTruth]:
    out = tmp_path_factory.mktemp("synth") / "street.mp4"
    truth = make_street_clip(out, seconds=SECONDS, fps=FPS, size=SIZE, seed=SEED, readable_px=READABLE_PX)
    return out, truth


@pytest.fixture(scope="module")
def decoded(clip: tuple[Path, ClipTruth]) -> list[tuple[np.ndarray, str, bool]]:
    out, _ = clip
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert not stream.codec_context.has_b_frames
        frames = container.decode(stream)
        return [(f.to_ndarray(format="bgr24"), PictureType(f.pict_type).name, f.key_frame) for f in frames]


def test_clip_is_h264_at_the_stated_size_and_length(clip: tuple[Path, ClipTruth], decoded: list) -> None:
    _, truth = clip
    assert len(decoded) == truth.clip.frames == round(SECONDS * FPS)
    assert all(img.shape == (SIZE[1], SIZE[0], 3) for img, _, _ in decoded)
    assert (truth.clip.width, truth.clip.height, truth.clip.fps, truth.clip.seed) == (*SIZE, FPS, SEED)


def test_no_b_frames_and_a_keyframe_every_second(decoded: list) -> None:
    types = [t for _, t, _ in decoded]
    assert set(types) <= {"I", "P"}, set(types)
    keys = [i for i, (_, _, key) in enumerate(decoded) if key]
    assert keys == list(range(0, len(decoded), FPS))


def test_truth_file_round_trips(clip: tuple[Path, ClipTruth]) -> None:
    out, truth = clip
    again = ClipTruth.load(out.with_suffix(".truth.json"))
    assert again == truth
    assert ClipTruth.from_json(truth.to_json()) == truth


def test_truth_boxes_lie_in_the_frame(clip: tuple[Path, ClipTruth]) -> None:
    _, truth = clip
    w, h = SIZE
    n = 0
    for v in truth.vehicles:
        assert v.kind in ("car", "motorbike") and v.direction in ("away", "toward")
        assert 0 <= v.first_s <= v.last_s < SECONDS
        assert v.plate_visible or not v.frames
        for f in v.frames:
            x1, y1, x2, y2 = f.box
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            assert len(f.corners) == 4 and 0 < f.visible <= 1
            assert abs(f.t - f.frame / FPS) < 1e-6
            n += 1
    assert n > 20


def test_motorbikes_are_the_majority(clip: tuple[Path, ClipTruth]) -> None:
    _, truth = clip
    kinds = [v.kind for v in truth.vehicles]
    assert kinds.count("motorbike") > kinds.count("car") > 0


def test_readable_plates_exist_and_are_whole(clip: tuple[Path, ClipTruth]) -> None:
    _, truth = clip
    readable = [(v, f) for v in truth.vehicles for f in v.frames if f.readable]
    assert readable
    for _, f in readable:
        assert f.text_px >= READABLE_PX and f.visible >= 0.95


def test_plates_in_the_truth_are_drawn_in_the_frame(clip: tuple[Path, ClipTruth], decoded: list) -> None:
    """A plate box must cover pixels that differ from the empty street (the plate is really there)."""
    _, truth = clip
    scene = StreetScene(seconds=SECONDS, fps=FPS, size=SIZE, seed=SEED)
    background = scene.background.image.astype(np.float32)
    checked = 0
    for v in truth.vehicles:
        for f in v.frames:
            x1, y1, x2, y2 = (round(c) for c in f.box)
            if f.visible < 0.95 or (x2 - x1) * (y2 - y1) < 40:
                continue
            img = decoded[f.frame][0].astype(np.float32)
            diff = np.abs(img[y1:y2, x1:x2] - background[y1:y2, x1:x2]).mean()
            assert diff > 20, (v.plate_text, f.frame, diff)
            checked += 1
    assert checked > 5


def test_frames_are_deterministic_per_seed() -> None:
    a = [f.image for _, f in zip(range(3), iter_frames(seconds=0.2, size=(320, 180), seed=5), strict=False)]
    b = [f.image for _, f in zip(range(3), iter_frames(seconds=0.2, size=(320, 180), seed=5), strict=False)]
    c = next(iter_frames(seconds=0.2, size=(320, 180), seed=6)).image
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c)


def test_night_frames_are_dark_infrared() -> None:
    day = next(iter_frames(seconds=0.04, size=(320, 180), seed=1)).image
    night = next(iter_frames(seconds=0.04, size=(320, 180), seed=1, night=True)).image
    assert np.array_equal(night[:, :, 0], night[:, :, 1]) and np.array_equal(night[:, :, 1], night[:, :, 2])
    assert night.mean() < day.mean()


def test_render_scene_gives_labelled_plates() -> None:
    sample = render_scene(np.random.default_rng(11), (480, 270), night=False, vehicles=10)
    h, w = sample.image.shape[:2]
    assert (w, h) == (480, 270)
    assert sample.plates
    for p in sample.plates:
        x1, y1, x2, y2 = p.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert p.text and p.rows in (1, 2)
