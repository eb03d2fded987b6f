"""The plate reader: ONNX contract, grammar-constrained decoding, bad input, CLI, validation accuracy."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from matthan.models import resolve
from matthan.recognizers.base import RecognizerError
from matthan.recognizers.plates import cli as plates_cli
from matthan.recognizers.plates import grammar
from matthan.recognizers.plates.ctc import (
    BLANK,
    CHARSET,
    NUM_CLASSES,
    PatternTrie,
    align_trie,
    best_scores,
    class_mask,
    decode_pattern,
    edit_distance,
    greedy,
)
from matthan.recognizers.plates.evaluate import read_labels, split_of
from matthan.recognizers.plates.reader import (
    FIX_COMMAND,
    FRAMES,
    INPUT_H,
    INPUT_W,
    MODEL_NAME,
    SECOND_LOOK_BELOW,
    VN_FLOOR,
    PlateReader,
    has_eu_band,
    load_image,
    preprocess,
)
from tests.conftest import NetworkAttempts

SHARED_CROPS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "vn-plate-crops"
#: Validation exact match of the shipped model read alone (plate-reader 9: 0.969 on the audited labels;
#: 8: 0.966; 7, 8's recipe without low-resolution views: 0.981, and 0.975 in a second run) minus an
#: honest margin (6 crops) for readings that change with onnxruntime builds or another run of the recipe.
VALIDATION_FLOOR_ALONE = 0.95
#: The same read as `matthan eval plates` reads (second looks): 0.985 with plate-reader 9 (8: 0.981 with
#: plate-detector 1.1.0 as the locator, 0.991 with 1.0.1); the issue's target, 5 crops under what is
#: measured.
VALIDATION_FLOOR = 0.97
#: Validation crops shrunk to a plate 55 px wide (JPEG 85) and read alone: plate-reader 9 0.960, 8 0.966,
#: plate-reader 7 0.910 (trained without low-resolution views); about 8 crops of margin.
SHRUNK_FLOOR = 0.935
#: Share of Czech/Croatian crops read as a valid Vietnamese plate: 0 is the goal and plate-reader 9 (and
#: 8 and 7) measures 0 (398 crops; plate-reader 9 trains on the 154 Croatian ones, the 244 Czech ones
#: it never saw); the ceiling allows 2 crops to flip with another onnxruntime build.
FOREIGN_VN_FORMAT_CEILING = 0.005


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def _render(text: str, rows: int, seed: int = 0, colour: str = "white") -> np.ndarray:
    from matthan.recognizers.synth.plates import render_plate

    return render_plate(text, rows, colour, np.random.default_rng(seed), height_px=64).image


# ---------------------------------------------------------------- the model file


def test_model_is_in_the_store_with_its_contract() -> None:
    entry = resolve(MODEL_NAME, FIX_COMMAND)  # checks the sha256 too
    assert entry.path.stat().st_size <= 5 * 1024 * 1024
    assert entry.meta["input"]["shape"] == ["batch", 1, INPUT_H, INPUT_W]
    assert entry.meta["charset"] == CHARSET
    assert (entry.path.parent / "card.md").is_file()
    session = ort.InferenceSession(str(entry.path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("image", "tensor(float)", [1, INPUT_H, INPUT_W])
    assert (out.name, out.type, out.shape[1:]) == ("probs", "tensor(float)", [2, FRAMES, NUM_CLASSES])
    probs = session.run(None, {"image": np.zeros((3, 1, INPUT_H, INPUT_W), np.float32)})[0]
    assert probs.shape == (3, 2, FRAMES, NUM_CLASSES)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-4)
    if entry.meta.get("quantisation"):  # the card and manifest say int8: the file must be
        onnx = pytest.importorskip("onnx")
        ops = {node.op_type for node in onnx.load(str(entry.path)).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_preprocess_gives_the_model_input() -> None:
    for image in (
        np.full((30, 100, 3), 200, np.uint8),
        np.zeros((80, 60), np.uint8),
        np.ones((9, 9, 4), np.uint8),
    ):
        x = preprocess(image)
        assert x.shape == (1, INPUT_H, INPUT_W) and x.dtype == np.float32
        assert np.isfinite(x).all()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("image", "expectation"),
    [
        (np.zeros((40, 120, 3), np.uint8), nullcontext()),
        (np.zeros((40, 120), np.uint8), nullcontext()),
        (np.zeros((0, 0, 3), np.uint8), pytest.raises(RecognizerError, match="pixels")),
        (np.zeros((1, 1, 3), np.uint8), pytest.raises(RecognizerError, match="1x1")),
        (np.zeros((40, 120, 3), np.float32), pytest.raises(RecognizerError, match="uint8")),
        (np.zeros((40, 120, 3), np.int64), pytest.raises(RecognizerError, match="uint8")),
        (np.zeros((40, 120, 2), np.uint8), pytest.raises(RecognizerError, match="shape")),
        (np.zeros((2, 40, 120, 3), np.uint8), pytest.raises(RecognizerError, match="shape")),
        ([[0, 1], [2, 3]], pytest.raises(RecognizerError, match="numpy array")),
    ],
)
def test_bad_crops_raise_a_clear_error(
    reader: PlateReader, image: Any, expectation: AbstractContextManager[Any]
) -> None:
    with expectation:
        reading = reader.read(image)
        assert reading.format in ("vn", "unknown")


def test_unreadable_files_raise_a_clear_error(tmp_path: Path) -> None:
    not_image = tmp_path / "plate.jpg"
    not_image.write_text("not a jpeg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for path, message in (
        (not_image, "decode"),
        (empty, "decode"),
        (tmp_path / "missing.jpg", "no such file"),
        (tmp_path, "a folder, not an image file"),
    ):
        with pytest.raises(RecognizerError, match=message):
            load_image(path)


# ---------------------------------------------------------------- decoding


def _frames(text: str, confidence: float = 0.9, frames: int = FRAMES) -> np.ndarray:
    """Probabilities whose best path reads `text`: each character on two frames, blanks between."""
    probs = np.full((frames, NUM_CLASSES), (1 - confidence) / (NUM_CLASSES - 1), np.float32)
    probs[:, BLANK] = confidence
    for i, ch in enumerate(text):
        for t in (3 * i + 1, 3 * i + 2):
            probs[t] = (1 - confidence) / (NUM_CLASSES - 1)
            probs[t, CHARSET.index(ch) + 1] = confidence
    return probs / probs.sum(axis=1, keepdims=True)


def _rows(top: str, bottom: str = "", tweak: dict[int, tuple[str, float]] | None = None) -> np.ndarray:
    rows = np.stack([_frames(top), _frames(bottom)])
    for char_index, (ch, p) in (tweak or {}).items():
        # make `ch` the second choice at a top-row character's frames, with probability p
        for t in (3 * char_index + 1, 3 * char_index + 2):
            rows[0, t, CHARSET.index(ch) + 1] = p
        rows[0] /= rows[0].sum(axis=1, keepdims=True)
    return rows


def _decode(
    reader: PlateReader, top: str, bottom: str = "", tweak: dict[int, tuple[str, float]] | None = None
) -> Any:
    return reader.decode(_rows(top, bottom, tweak))


def test_greedy_reads_the_best_path() -> None:
    reading = greedy(_frames("51F06532"))
    assert reading.text == "51F06532"
    assert len(reading.char_confidences) == 8 and min(reading.char_confidences) > 0.8


def _viterbi_of(log_probs: np.ndarray, labels: list[int]) -> float:
    """Best CTC alignment score of one label sequence (textbook recursion, for checking)."""
    ext = [BLANK]
    for lab in labels:
        ext += [lab + 1, BLANK]
    d = np.full(len(ext), -np.inf)
    d[0] = log_probs[0, BLANK]
    if len(ext) > 1:
        d[1] = log_probs[0, ext[1]]
    for t in range(1, len(log_probs)):
        prev = d.copy()
        for s in range(len(ext)):
            best = max(prev[s], prev[s - 1] if s else -np.inf)
            if s > 1 and ext[s] != BLANK and ext[s] != ext[s - 2]:
                best = max(best, prev[s - 2])
            d[s] = best + log_probs[t, ext[s]]
    return float(max(d[-1], d[-2]) if len(ext) > 1 else d[-1])


@pytest.mark.parametrize("pattern", ["D", "DL", "LD", "DD", "LDL"])
def test_pattern_search_matches_brute_force(pattern: str) -> None:
    rng = np.random.default_rng(len(pattern))
    logits = rng.normal(size=(7, NUM_CLASSES)) * 3
    probs = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
    log_probs = np.log(probs)
    letters = "ABC"  # a small alphabet keeps the brute force short
    choices = [np.flatnonzero(class_mask(k, letters)).tolist() for k in pattern]
    best = max(_viterbi_of(log_probs, list(labels)) for labels in itertools.product(*choices))
    reading = decode_pattern(probs, pattern, letters)
    assert reading.log_score == pytest.approx(best, abs=1e-3)
    assert _viterbi_of(log_probs, [CHARSET.index(c) for c in reading.text]) == pytest.approx(best, abs=1e-3)
    trie = PatternTrie.build([pattern, "DDD"], letters)
    fast = best_scores(np.stack([log_probs, log_probs]), [trie, trie])[1]
    assert fast[pattern] == pytest.approx(align_trie(log_probs, trie).scores[pattern], abs=1e-2)
    assert fast[pattern] == pytest.approx(best, abs=1e-2)


def test_decode_pattern_picks_the_best_string_of_a_shape() -> None:
    probs = _frames("51F0653Z")
    probs[3 * 7 + 1 : 3 * 7 + 3, CHARSET.index("2") + 1] = 0.05
    probs /= probs.sum(axis=1, keepdims=True)
    assert decode_pattern(probs, "DDLDDDDD").text == "51F06532"


@pytest.mark.parametrize(
    ("top", "bottom", "tweak", "expected_text", "expected_format"),
    [
        ("51F06532", "", None, "51F-065.32", "vn"),
        ("59L2", "14999", None, "59-L2\n149.99", "vn"),
        # a likely letter/digit swap (cost 2 ln(0.9/0.6) = 0.81) that the grammar would fix, but the
        # digit it puts in is the network's second choice (0.6 against 0.9: 0.4 sure): under
        # VN_FLOOR, so reported as read (test_the_vietnamese_floor_stops_unsure_fixes)
        ("5IF06532", "", {1: ("1", 0.6)}, "5IF06532", "unknown"),
        # not when the raw reading is clearly likelier (2 ln(0.9/0.4) = 1.6 > DEFAULT_MAX_FORCE_COST)
        ("5IF06532", "", {1: ("1", 0.4)}, "5IF06532", "unknown"),
        # the moped series read as M0 is reported as MĐ
        ("59M01", "22359", None, "59-MĐ1\n223.59", "vn"),
        # an unlikely fix (a confident 0 where the grammar wants 1-9) is not made
        ("59L0", "22359", None, "59L0\n22359", "unknown"),
        # foreign plates come out as read
        ("6B94558", "", None, "6B94558", "unknown"),
        ("ZG", "8894AB", None, "ZG\n8894AB", "unknown"),
    ],
)
def test_decoding_prefers_grammar_valid_readings_only_when_likely(
    reader: PlateReader,
    top: str,
    bottom: str,
    tweak: dict[int, tuple[str, float]] | None,
    expected_text: str,
    expected_format: str,
) -> None:
    reading = _decode(reader, top, bottom, tweak)
    assert reading.format == expected_format
    assert reading.text == expected_text
    assert (reading.province is not None) == (expected_format == "vn")
    assert len(reading.char_confidences) == len(reading.normalised)


def test_the_vietnamese_floor_stops_unsure_fixes(reader: PlateReader) -> None:
    rows = _rows("5IF06532", "", {1: ("1", 0.6)})
    assert (reader.decode(rows).text, reader.decode(rows).format) == ("5IF06532", "unknown")
    fixed = PlateReader(reader.model_path, vn_floor=0.0).decode(rows)
    assert (fixed.text, fixed.format, fixed.raw) == ("51F-065.32", "vn", "5IF06532")
    assert fixed.confidence < VN_FLOOR  # why the floor stops it


@pytest.mark.parametrize(
    ("p", "expected_text", "expected_format"),
    [
        (0.55, "51F-065.32", "vn"),
        (0.45, "51F06532", "unknown"),
    ],
)
def test_a_valid_reading_less_sure_than_the_floor_is_reported_as_read(
    reader: PlateReader, p: float, expected_text: str, expected_format: str
) -> None:
    rows = np.stack([_frames("51F06532"), _frames("")])
    _doubt(rows, 0, 6, p)
    reading = reader.decode(rows)
    assert (reading.text, reading.format) == (expected_text, expected_format)
    assert reading.province is None if expected_format == "unknown" else reading.province is not None


def _doubt(rows: np.ndarray, row: int, char_index: int, p: float) -> None:
    """Make a character of `rows` (as `_frames` lays them out) the best class at only probability p."""
    for t in (3 * char_index + 1, 3 * char_index + 2):
        best = int(rows[row, t].argmax())
        rows[row, t] = (1 - p - 0.3) / (NUM_CLASSES - 2)
        rows[row, t, BLANK] = 0.3
        rows[row, t, best] = p


@pytest.mark.parametrize(
    ("top", "bottom", "doubt", "expected_text", "expected_format"),
    [
        # a dot read as 5 that the network doubts is dropped
        ("47A435647", "", (0, 5, 0.4), "47A-436.47", "vn"),
        # a screw read as T on a two-row plate
        ("59B1T", "33216", (0, 4, 0.45), "59-B1\n332.16", "vn"),
        # not when the network is sure of the character
        ("47A435647", "", (0, 5, 0.6), "47A435647", "unknown"),
        # not when dropping the doubtful character leaves no plate either
        ("6B94558", "", (0, 3, 0.4), "6B94558", "unknown"),
    ],
)
def test_decoding_drops_only_a_doubtful_character(
    reader: PlateReader,
    top: str,
    bottom: str,
    doubt: tuple[int, int, float],
    expected_text: str,
    expected_format: str,
) -> None:
    rows = np.stack([_frames(top), _frames(bottom)])
    _doubt(rows, *doubt)
    reading = reader.decode(rows)
    assert (reading.text, reading.format) == (expected_text, expected_format)
    assert len(reading.char_confidences) == len(reading.normalised)
    if expected_format == "vn":
        assert reading.confidence <= 1 - doubt[2] + 1e-6
        assert reading.raw == "\n".join(r for r in (top, bottom) if r)


@pytest.mark.parametrize(
    ("top", "tweak", "doubt", "expected_text", "expected_format"),
    [
        # a confident B where the serial has digits: mended to the next best digit, reported unsure
        # (the raw reading is 2 ln(0.9/0.05) = 5.8 likelier, far beyond DEFAULT_MAX_FORCE_COST)
        ("52P56B8", {5: ("8", 0.05)}, None, "52P-5688", "vn"),
        ("51C03T83", {5: ("1", 0.02)}, None, "51C-031.83", "vn"),
        # not when the network doubted another character too
        ("52P56B8", {5: ("8", 0.05)}, (0, 1, 0.6), "52P56B8", "unknown"),
        # not a letter outside the serial (the province or series: where foreign plates differ)
        ("5BF06532", {1: ("8", 0.05)}, None, "5BF06532", "unknown"),
        # not two letters in the serial
        ("52P5BB8", {4: ("8", 0.05), 5: ("8", 0.05)}, None, "52P5BB8", "unknown"),
    ],
)
def test_decoding_mends_one_sure_letter_in_the_serial_only(
    reader: PlateReader,
    top: str,
    tweak: dict[int, tuple[str, float]],
    doubt: tuple[int, int, float] | None,
    expected_text: str,
    expected_format: str,
) -> None:
    rows = _rows(top, "", tweak)
    if doubt is not None:
        _doubt(rows, *doubt)
    reading = reader.decode(rows)
    assert (reading.text, reading.format) == (expected_text, expected_format)
    assert len(reading.char_confidences) == len(reading.normalised)
    if expected_format == "vn":
        assert reading.raw == top
        assert reading.confidence < 0.1  # the mended character's probability: an unsure reading
        unmended = PlateReader(reader.model_path, mend_serial=False).decode(rows)
        assert (unmended.text, unmended.format) == (top, "unknown")


def test_moped_series_reads_as_md(reader: PlateReader) -> None:
    reading = _decode(reader, "29MD1", "22359")
    assert (reading.text, reading.normalised, reading.category) == ("29-MĐ1\n223.59", "29MD122359", "moped")


def _one_row_plate(
    band: tuple[int, int, int] | None, ground: tuple[int, int, int] = (235, 235, 235)
) -> np.ndarray:
    """A 60x260 BGR one-row plate crop: dark surroundings, a plate, optionally a band at its left."""
    crop = np.full((60, 260, 3), 40, np.uint8)
    crop[8:52, 16:244] = ground
    if band is not None:
        crop[8:52, 16:40] = band
    crop[20:40, 60:230:20] = 20  # characters
    return crop


@pytest.mark.parametrize(
    ("crop", "expected"),
    [
        (_one_row_plate((200, 60, 20)), True),  # bright EU blue (BGR)
        (_one_row_plate((120, 30, 0)), True),  # the same band in the dusk
        (_one_row_plate(None), False),  # a white Vietnamese plate
        (_one_row_plate(None, ground=(160, 70, 20)), False),  # a blue (state) Vietnamese plate
        (_one_row_plate((70, 55, 45)), False),  # a dark, greyish object over the plate's edge
        (np.full((60, 260), 200, np.uint8), False),  # greyscale (infrared) crops carry no colour
    ],
)
def test_eu_band(crop: np.ndarray, expected: bool) -> None:
    assert has_eu_band(crop) is expected


def test_a_one_row_reading_with_an_eu_band_is_not_vietnamese(reader: PlateReader) -> None:
    plate = _render("18D-0673", 1, seed=3)
    banded = plate.copy()
    w = banded.shape[1]
    banded[:, : w // 12] = (200, 60, 20)
    assert reader.read(plate).format == "vn"
    reading = reader.read(banded)
    assert (reading.format, reading.province, reading.category) == ("unknown", None, None)
    assert reading.text == reading.raw


# ---------------------------------------------------------------- real and rendered plates


def test_reads_rendered_plates(reader: PlateReader) -> None:
    rng = np.random.default_rng(7)
    plates = [grammar.random_plate(rng, rows=1 + i % 2, category="civil") for i in range(16)]
    readings = reader.read_many([_render(p.text, p.rows, seed=i) for i, p in enumerate(plates)])
    hits = sum(r.normalised == p.normalised for r, p in zip(readings, plates, strict=True))
    assert hits >= 13, [(r.text, p.text) for r, p in zip(readings, plates, strict=True)]


@pytest.mark.skipif(not SHARED_CROPS.is_dir(), reason="../shared/datasets/vn-plate-crops is absent")
def test_validation_accuracy_floor_and_no_vietnamese_format_for_foreign(reader: PlateReader) -> None:
    from matthan.recognizers.plates.evaluate import LABEL_FIXES, evaluate_reader, read_label_fixes

    rows = read_labels(SHARED_CROPS / "labels.csv", read_label_fixes(LABEL_FIXES))
    val = [r for r in rows if split_of(r.image, r.extra["country"]) == "val"]
    foreign = [r for r in rows if split_of(r.image, r.extra["country"]) == "foreign"]
    assert len(val) > 300
    summary = evaluate_reader(reader, SHARED_CROPS / "images", val)
    assert summary["exact_match"] >= VALIDATION_FLOOR_ALONE, summary
    summary = evaluate_reader(reader, SHARED_CROPS / "images", foreign)
    # Without the EU-band check, plate-reader 2 gives 5 of 398 Czech plates a Vietnamese format
    # (``1BD 0673`` as ``18D-0673``); with it, none.
    assert summary["vn_format_rate"] <= FOREIGN_VN_FORMAT_CEILING, summary


def test_crop_reader_with_second_looks_keeps_the_floor_and_reads_no_foreign_plate_as_vietnamese() -> None:
    from matthan.recognizers.plates.detector import crop_reader
    from matthan.recognizers.plates.evaluate import LABEL_FIXES, evaluate_reader, read_label_fixes

    looked = crop_reader()  # what `matthan plates read` and `matthan eval plates` use
    assert looked.locator is not None
    rows = read_labels(SHARED_CROPS / "labels.csv", read_label_fixes(LABEL_FIXES))
    val = [r for r in rows if split_of(r.image, r.extra["country"]) == "val"]
    foreign = [r for r in rows if split_of(r.image, r.extra["country"]) == "foreign"]
    assert evaluate_reader(looked, SHARED_CROPS / "images", val)["exact_match"] >= VALIDATION_FLOOR
    summary = evaluate_reader(looked, SHARED_CROPS / "images", foreign)
    assert summary["vn_format_rate"] <= FOREIGN_VN_FORMAT_CEILING, summary


@pytest.mark.skipif(not SHARED_CROPS.is_dir(), reason="../shared/datasets/vn-plate-crops is absent")
def test_validation_crops_shrunk_to_small_plates_are_still_read(reader: PlateReader) -> None:
    """A street camera's far plate is 40-60 px wide: the reader is trained to read such plates."""
    from matthan.recognizers.plates.evaluate import LABEL_FIXES, read_label_fixes

    rows = read_labels(SHARED_CROPS / "labels.csv", read_label_fixes(LABEL_FIXES))
    val = [r for r in rows if split_of(r.image, r.extra["country"]) == "val"]
    hits = 0
    for row in val:
        image = load_image(SHARED_CROPS / "images" / row.image)
        h, w = image.shape[:2]
        small = cv2.resize(image, (55, max(6, round(h * 55 / w))), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        hits += reader.read(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)).normalised == grammar.normalise(row.text)
    assert hits / len(val) >= SHRUNK_FLOOR, (hits, len(val))


class _Locator:
    """A locator that records what it was asked and answers with fixed cuts (or none)."""

    def __init__(self, answer: list[np.ndarray]) -> None:
        self.answer = answer
        self.asked: list[np.ndarray] = []

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        self.asked.append(image)
        return self.answer


def test_second_look_only_for_readings_that_are_unsure_or_no_plate(reader: PlateReader) -> None:
    plate = _render("51F-356.13", 1)  # read surely (plate-reader 9 reads 51F-065.32 at 0.948)
    clear = reader.read(plate)
    assert clear.format == "vn" and clear.confidence >= SECOND_LOOK_BELOW
    locator = _Locator([_render("30A-123.45", 1, seed=1)])
    looking = PlateReader(reader.model_path, locator=locator)
    # a sure Vietnamese reading is kept without a second look
    assert looking.read(plate).text == "51F-356.13" and not locator.asked
    # a crop that reads as no plate is looked at again, and the plate found in it is read
    blank = np.full((60, 200, 3), 128, np.uint8)
    assert reader.read(blank).format == "unknown"
    second = looking.read(blank)
    assert len(locator.asked) == 1 and locator.asked[0] is blank
    assert (second.text, second.format) == ("30A-123.45", "vn")
    # nothing found, or nothing Vietnamese found: the first reading stays
    for answer in ([], [blank], [blank, blank]):
        locator.answer = answer
        assert looking.read(blank) == reader.read(blank)
    assert looking.read_many([plate, blank]) == [reader.read(plate), reader.read(blank)]
    # of several cuts, the Vietnamese reading is kept wherever it comes
    locator.answer = [blank, _render("30A-123.45", 1, seed=1)]
    assert looking.read(blank).text == "30A-123.45"


def test_locator_finds_a_tilted_plate_in_a_loose_box_and_nothing_in_a_blank_crop(reader: PlateReader) -> None:
    import cv2

    from matthan.recognizers.plates.detector import LOCATE_MARGINS, PlateLocator

    locator = PlateLocator()
    # a one-row plate turned by about 20 degrees, rendered and cut along an upright box with margins
    plate = _render("29D-095.66", 1, seed=3)
    h, w = plate.shape[:2]
    canvas = np.full((3 * h, w + 2 * h, 3), 60, np.uint8)
    canvas[h : 2 * h, h : h + w] = plate
    turn = cv2.getRotationMatrix2D((canvas.shape[1] / 2, canvas.shape[0] / 2), 20, 1.0)
    box = cv2.warpAffine(canvas, turn, (canvas.shape[1], canvas.shape[0]), borderValue=(60, 60, 60))
    cuts = locator(box)
    assert len(cuts) == len(LOCATE_MARGINS) >= 2
    for cut in cuts:
        assert cut.shape[1] > 3.2 * cut.shape[0]  # levelled: a one-row plate (4.7:1 with no margin)
        assert reader.read(cut).text == "29D-095.66"
    assert cuts[1].shape[1] > cuts[0].shape[1]  # the same plate, framed looser
    assert locator(np.full((80, 200, 3), 128, np.uint8)) == []
    assert len(locator(cv2.cvtColor(box, cv2.COLOR_BGR2GRAY))) == len(cuts)  # greyscale crops too


def test_edit_distance() -> None:
    assert edit_distance("51F06532", "51F06532") == 0
    assert edit_distance("51F0653", "51F06532") == 1
    assert edit_distance("", "ABC") == 3


# ---------------------------------------------------------------- command line


def test_plates_read_prints_one_json_line_per_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2

    from matthan.edge.cli import main

    good = tmp_path / "plate.png"
    cv2.imwrite(str(good), _render("51F-065.32", 1))
    broken = tmp_path / "broken.jpg"
    broken.write_text("no")
    status = main(["plates", "read", str(good), str(broken), str(good)])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 2 and f"{broken}: not an image OpenCV can decode" in err
    # one line per image given, in order: the broken one says why, and the next is still read
    assert [line["image"] for line in lines] == [str(good), str(broken), str(good)]
    assert lines[1] == {"image": str(broken), "error": "not an image OpenCV can decode"}
    for line in (lines[0], lines[2]):
        expected = {"image", "text", "normalised", "rows", "format", "province", "category", "confidence"}
        assert expected <= set(line)
        assert line["image"] == str(good)
    assert main(["plates", "read", "--no-locate", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "51F-065.32"
    # no reading is surer than 1: above it, every one is reported as read
    assert main(["plates", "read", "--no-locate", "--vn-floor", "1.01", str(good)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["text"], line["format"], line["province"]) == ("51F06532", "unknown", None)


def test_eval_plates_prints_a_summary_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    from matthan.edge.cli import main

    texts = ["51F-065.32", "59-L2\n149.99", "30A-123.45"]
    for i, text in enumerate(texts):
        cv2.imwrite(str(tmp_path / f"{i}.png"), _render(text, text.count("\n") + 1, seed=i))
    labels = tmp_path / "labels.csv"
    import csv

    with labels.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "text", "layout"])
        for i, text in enumerate(texts):
            writer.writerow([f"{i}.png", text, "two-line" if "\n" in text else "one-line"])
    out_file = tmp_path / "out.json"
    status = main(
        ["eval", "plates", "--crops", str(tmp_path), "--labels", str(labels), "--out", str(out_file)]
    )
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert status == 0
    assert summary["n"] == 3
    assert {"exact_match", "cer", "latency_ms_p50", "latency_ms_p95", "by_layout"} <= set(summary)
    assert 0.0 <= summary["exact_match"] <= 1.0
    assert len(json.loads(out_file.read_text())["results"]) == 3


def test_eval_plates_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from matthan.edge.cli import main

    labels = tmp_path / "labels.csv"
    labels.write_text("image,words\nx.png,51F\n")
    assert main(["eval", "plates", "--crops", str(tmp_path), "--labels", str(labels)]) == 2
    assert "image,text" in capsys.readouterr().err


def test_eval_plates_takes_spreadsheet_csv_and_leaves_out_missing_crops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel's "CSV UTF-8" (a BOM, capitalised headers, CRLF), a crop named with the crops folder in
    its path, a missing crop: scored without it and named in a warning; none readable is an error."""
    import cv2

    from matthan.edge.cli import main

    (tmp_path / "crops" / "sub").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "crops" / "sub" / "a.png"), _render("51F-065.32", 1, seed=0))
    cv2.imwrite(str(tmp_path / "crops" / "b.png"), _render("30A-123.45", 1, seed=1))
    labels = tmp_path / "labels.csv"
    rows = "\ufeffImage,Text\r\ncrops/sub/a.png,51F-065.32\r\nb.png,30A-123.45\r\ngone.png,29A-111.11\r\n"
    labels.write_bytes(rows.encode())
    args = ["eval", "plates", "--crops", str(tmp_path / "crops"), "--labels", str(labels)]
    assert main(args) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.splitlines()[-1])
    assert summary["n"] == 2 and summary["unreadable_images"] == ["gone.png"]
    assert "gone.png" in captured.err
    labels.write_text("image,text\ngone.png,29A-111.11\n")
    assert main(args) == 2
    assert "none of the 1 labelled crops could be read" in capsys.readouterr().err


def test_plates_group_takes_more_actions() -> None:
    """Regression: a second plate command (`plates detect`) must join the group, not clash with it."""
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    first = plates_cli.plates_subcommands(commands)
    first.add_parser("detect")
    assert plates_cli.plates_subcommands(commands) is first
    assert {"detect"} <= set(first.choices)


# ---------------------------------------------------------------- training recipe


def test_training_smoke_exports_a_model_the_reader_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, no_network: NetworkAttempts
) -> None:
    """The recipe end to end on a few rendered crops: render, train a few steps, export, read; with
    no network (nothing is downloaded: no weights, no fonts)."""
    pytest.importorskip("torch")
    import cv2

    from matthan.recognizers.plates import train_reader

    crops = tmp_path / "crops"
    (crops / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ["image,text,rows,layout,family,country,label_check"]
    for i in range(12):
        plate = grammar.random_plate(rng, rows=1 + i % 2, category="civil")
        cv2.imwrite(str(crops / "images" / f"xemay{i}.jpg"), _render(plate.text, plate.rows, seed=i))
        layout = "two-line" if plate.rows == 2 else "one-line"
        lines.append(f'xemay{i}.jpg,"{plate.text}",{plate.rows},{layout},xemay,VN,grammar-ok')
    for i, text in enumerate(("ZG 1234-AB", "ST 567-CD")):  # Croatian: foreign, never trained on unless named
        cv2.imwrite(str(crops / "images" / f"baza{i}.jpg"), _render(text, 1, seed=20 + i))
        lines.append(f'baza{i}.jpg,"{text}",1,one-line,PlateBaza,HR,foreign')
    (crops / "labels.csv").write_text("\n".join(lines) + "\n")
    out, ckpt = tmp_path / "models", tmp_path / "ckpt"
    args = [
        "--crops",
        str(crops),
        "--out",
        str(out),
        "--checkpoint",
        str(ckpt),
        "--no-publish",
        "--device",
        "cpu",
    ]
    args += [
        "--steps",
        "3",
        "--batch",
        "4",
        "--synthetic",
        "20",
        "--eval-every",
        "3",
        "--widths",
        "8,8,16,16,16",
    ]
    with caplog.at_level(logging.INFO, logger="matthan.recognizers.plates.train_reader"):
        assert train_reader.main(args) == 0
    assert (
        "real crops: 8 train (0 of them foreign), 4 validation, 2 foreign (never trained on)" in caplog.text
    )
    caplog.clear()
    assert no_network == []
    history = json.loads((ckpt / "history.json").read_text())
    assert [h["step"] for h in history] == [3]
    reader = PlateReader(out / MODEL_NAME / train_reader.VERSION / "model.onnx")
    reading = reader.read(_render("51F-356.13", 1))
    assert reading.format in ("vn", "unknown")
    assert len(reading.char_confidences) == len(reading.normalised)

    # publishing with --int8: the float export is kept, the int8 one registered and described
    onnx_path = out / MODEL_NAME / train_reader.VERSION / "model.onnx"
    cfg = train_reader.TrainConfig(
        crops=crops,
        out=out,
        checkpoint=ckpt,
        int8=True,
        widths=(8, 8, 16, 16, 16),
        train_foreign=("PlateBaza",),  # as if trained on them: the card's foreign test leaves them out
    )
    train_reader.publish(cfg, onnx_path, 0.1, 12, history)
    entry = json.loads((out / "manifest.json").read_text())["models"][MODEL_NAME]
    assert entry["data"]["foreign_trained"] == ["PlateBaza"]
    card = (onnx_path.parent / "card.md").read_text()
    assert "never trained on (Czech)." in card and "Foreign crops never trained on (Czech; n = 0)" in card
    assert entry["quantisation"]["calibration_crops"] == sum(
        train_reader.trainable(c) for c in train_reader.load_crops(crops)
    )
    assert "--int8" in entry["recipe"]
    assert "int8 inside" in (onnx_path.parent / "card.md").read_text()
    from matthan.recognizers.plates.quantize import is_quantised

    assert is_quantised(onnx_path) and not is_quantised(ckpt / "model-float.onnx")
    assert PlateReader(onnx_path).read(_render("51F-356.13", 1)).format in ("vn", "unknown")

    # fine-tuning: start from those weights, with a second crop folder trained on in full, and
    # synthetic plates in random cuts of the typeface (rendered apart: their own cache file), a
    # moving average of the weights as the model evaluated and shipped, and two-row crops' rows mixed
    tuned = tmp_path / "tuned"
    more = ["--init", str(ckpt / "last.pt"), "--extra-crops", str(crops), "--font-variety", "0.5"]
    more += ["--ema", "0.9", "--row-mix", "0.5", "--train-foreign", "PlateBaza"]
    with caplog.at_level(logging.INFO, logger="matthan.recognizers.plates.train_reader"):
        assert train_reader.main([*args[:3], str(tuned), *args[4:], *more]) == 0
    assert sorted(p.name for p in ckpt.glob("synthetic-*.npz")) == [
        "synthetic-v2-20-0-0.4-font0.5.npz",
        "synthetic-v2-20-0-0.4.npz",
    ]
    assert f"extra crops: 12 from {crops}" in caplog.text
    assert (
        "real crops: 10 train (2 of them foreign), 4 validation, 0 foreign (never trained on)" in caplog.text
    )
    assert f"starting from {ckpt / 'last.pt'}" in caplog.text
    assert PlateReader(tuned / MODEL_NAME / train_reader.VERSION / "model.onnx").read(
        _render("51F-356.13", 1)
    )
    with pytest.raises(RuntimeError, match="size mismatch"):  # the weights must fit the network
        train_reader.main([*args[:3], str(tuned), *args[4:-1], "16,16,16,16,16", *more])


def test_synthetic_font_variety_and_loose_framing_are_reproducible_and_change_the_plates() -> None:
    from matthan.recognizers.plates.train_reader import make_synthetic

    plain, _ = make_synthetic(8, 1)
    varied, texts = make_synthetic(8, 1, font_variety=1.0)
    again, texts_again = make_synthetic(8, 1, font_variety=1.0, workers=2)
    assert np.array_equal(varied, again) and texts == texts_again
    assert not np.array_equal(plain, varied)
    loose, loose_texts = make_synthetic(8, 1, loose=True)
    assert loose_texts == make_synthetic(8, 1, loose=True)[1] and not np.array_equal(plain, loose)
    # glyph variety 0 draws nothing: the older recipes' plates are unchanged
    assert np.array_equal(plain, make_synthetic(8, 1, glyph_variety=0.0)[0])
    cuts, _ = make_synthetic(8, 1, glyph_variety=1.0)
    assert np.array_equal(cuts, make_synthetic(8, 1, glyph_variety=1.0, workers=2)[0])
    assert not np.array_equal(plain, cuts)
    # likewise rows spread across the plate: none drawn at 0, reproducible, different when drawn
    assert np.array_equal(plain, make_synthetic(8, 1, spread_rows=0.0)[0])
    spread, _ = make_synthetic(8, 1, spread_rows=1.0)
    assert np.array_equal(spread, make_synthetic(8, 1, spread_rows=1.0, workers=2)[0])
    assert not np.array_equal(plain, spread)
    # and European foreign plates: none drawn at 0, reproducible, different plates when drawn
    assert np.array_equal(plain, make_synthetic(8, 1, foreign_band=0.0)[0])
    banded, banded_texts = make_synthetic(8, 1, foreign_share=1.0, foreign_band=1.0)
    again, again_texts = make_synthetic(8, 1, foreign_share=1.0, foreign_band=1.0, workers=2)
    assert np.array_equal(banded, again) and banded_texts == again_texts
    assert not np.array_equal(make_synthetic(8, 1, foreign_share=1.0)[0], banded)


def test_loose_real_share_frames_that_share_of_real_crops_loosely() -> None:
    from matthan.recognizers.plates.train_reader import TrainConfig, _loose_real

    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert _loose_real(TrainConfig(loose_framing=True), rng) is True
    assert _loose_real(TrainConfig(loose_framing=False, loose_real=0.5), rng) is False
    assert rng.bit_generator.state == state  # no draw: older recipes keep their random stream
    cfg = TrainConfig(loose_framing=True, loose_real=0.3)
    share = np.mean([_loose_real(cfg, rng) for _ in range(2000)])
    assert 0.26 < share < 0.34


def test_extra_share_draws_that_share_of_real_crops_from_the_extra_folders() -> None:
    from matthan.recognizers.plates.train_reader import TrainConfig, _real_draw

    for cfg, n_all in ((TrainConfig(), 50), (TrainConfig(extra_share=0.5), 10)):
        rng, old = np.random.default_rng(3), np.random.default_rng(3)
        # no share, or no extra crops: the older stream, one draw over all crops
        assert np.array_equal(_real_draw(cfg, rng, 10, n_all, 64), old.integers(0, n_all, 64))
    drawn = _real_draw(TrainConfig(extra_share=0.2), np.random.default_rng(0), 10, 1000, 4000)
    assert drawn.min() >= 0 and drawn.max() < 1000
    assert 0.17 < np.mean(drawn >= 10) < 0.23  # in proportion it would be 0.99
    assert set(drawn[drawn < 10].tolist()) == set(range(10))


def _two_row_crop(top: int, bottom: int, gap: int, shade: int = 230) -> np.ndarray[Any, Any]:
    """A 96x288 grey 'plate': vertical stripes (ink) in rows 8..gap-6 and gap+6..88, `top`/`bottom`
    stripes each, so which rows an image came from can be counted."""
    image = np.full((96, 288), shade, np.uint8)
    for y1, y2, n in ((8, gap - 6, top), (gap + 6, 88, bottom)):
        for k in range(n):
            x = 30 + k * 24
            image[y1:y2, x : x + 8] = 20
    return image


def _stripes(image: np.ndarray[Any, Any], y1: int, y2: int) -> int:
    """Dark runs along the middle pixel row of image[y1:y2]."""
    dark = image[(y1 + y2) // 2] < 120
    return int(np.count_nonzero(dark[1:] & ~dark[:-1]) + dark[0])


@pytest.mark.parametrize("gap", [34, 48, 60])
def test_row_gap_finds_the_quiet_row_between_the_text_rows(gap: int) -> None:
    from matthan.recognizers.plates.train_reader import row_gap

    assert abs(row_gap(_two_row_crop(4, 5, gap)) - gap) <= 5


def test_splice_rows_joins_one_crop_s_upper_row_to_another_s_lower_row() -> None:
    from matthan.recognizers.plates.train_reader import splice_rows

    a, b = _two_row_crop(3, 5, 48), _two_row_crop(6, 8, 40, shade=120)
    out = splice_rows(a, 48, b, 40)
    assert out.shape == a.shape and out.dtype == np.uint8
    assert _stripes(out, 8, 40) == 3 and _stripes(out, 58, 88) == 8
    # the lower part is brought to the upper part's brightness: no seam of 110 grey levels
    assert abs(float(np.median(out[60:88])) - 230) < 30


def test_low_resolution_views_lose_the_fine_detail_of_a_large_crop() -> None:
    from matthan.recognizers.plates.train_reader import LOW_RES_WIDTHS, low_resolution

    crop = np.full((INPUT_H, INPUT_W), 230, np.uint8)
    crop[6:42, 4:140:6] = 20  # strokes 1 px wide, 6 px apart: gone at 32-96 px wide
    rng = np.random.default_rng(0)
    views = [low_resolution(crop, two_rows=bool(i % 2), rng=rng) for i in range(40)]
    assert all(v.shape == (INPUT_H, INPUT_W) and v.dtype == np.uint8 for v in views)

    def detail(image: np.ndarray) -> float:  # horizontal contrast between neighbouring columns
        return float(np.abs(np.diff(image[6:42].astype(np.float32), axis=1)).mean())

    assert max(detail(v) for v in views) < 0.6 * detail(crop)
    assert min(detail(v) for v in views) > 0.0  # a view, not a blank
    again = np.random.default_rng(0)
    assert np.array_equal(low_resolution(crop, False, again), views[0])  # seeded: reproducible
    assert LOW_RES_WIDTHS[1] < INPUT_W  # always smaller than what the network sees


def test_box_tilt_views_turn_the_plate_inside_an_upright_box() -> None:
    from matthan.recognizers.plates.train_reader import box_tilt

    crop = np.full((INPUT_H, INPUT_W), 230, np.uint8)
    crop[22:26, :] = 20  # one dark line along the plate, level in the crop
    rng = np.random.default_rng(0)
    views = [box_tilt(crop, two_rows=bool(i % 2), rng=rng) for i in range(40)]
    assert all(v.shape == (INPUT_H, INPUT_W) and v.dtype == np.uint8 for v in views)

    def line_height(image: np.ndarray, cols: slice) -> float:  # where the dark line is in these columns
        dark = (image[:, cols] < 128).sum(axis=1).astype(np.float64)
        return float((dark * np.arange(INPUT_H)).sum() / dark.sum())

    slopes = [line_height(v, slice(84, 108)) - line_height(v, slice(36, 60)) for v in views]
    # turned 6-20 degrees either way: the line climbs or falls across the box, never level
    assert min(abs(d) for d in slopes) > 2.0
    assert any(d > 0 for d in slopes) and any(d < 0 for d in slopes)
    assert line_height(crop, slice(84, 108)) == line_height(crop, slice(36, 60))
    again = np.random.default_rng(0)
    assert np.array_equal(box_tilt(crop, False, again), views[0])  # seeded: reproducible


def test_blurred_views_smear_strokes_across_or_all_round() -> None:
    from matthan.recognizers.plates.train_reader import blurred

    crop = np.full((INPUT_H, INPUT_W), 230, np.uint8)
    crop[10:38, 70:74] = 20  # one upright stroke
    crop[30:34, 20:60] = 20  # one level stroke
    rng = np.random.default_rng(0)
    views = [blurred(crop, two_rows=bool(i % 2), rng=rng) for i in range(40)]
    assert all(v.shape == (INPUT_H, INPUT_W) and v.dtype == np.uint8 for v in views)

    def smeared(line: np.ndarray) -> int:  # pixels neither ground nor ink: where a stroke's edge blurs
        return int(((line > 25) & (line < 225)).sum())

    assert smeared(crop[24, 60:84]) == smeared(crop[24:40, 40]) == 0
    # every view blurs the upright stroke sideways; motion blur leaves the level stroke's edges sharp
    assert all(smeared(v[24, 60:84]) >= 2 for v in views)
    motion = [smeared(v[24:40, 40]) == 0 for v in views]
    assert any(motion) and not all(motion)  # both kinds of blur are drawn
    again = np.random.default_rng(0)
    assert np.array_equal(blurred(crop, False, again), views[0])  # seeded: reproducible


def test_row_mixer_swaps_lower_rows_within_a_family_and_leaves_the_rest() -> None:
    from matthan.recognizers.plates.train_reader import LabelledCrop, RowMixer

    def crop(name: str, family: str) -> LabelledCrop:
        return LabelledCrop(
            image=name, text="", rows=2, family=family, layout="", country="VN", label_check=""
        )

    crops = [crop("a", "x"), crop("b", "x"), crop("c", "y"), crop("d", "x")]
    images = [_two_row_crop(2, 3, 48), _two_row_crop(4, 5, 48), _two_row_crop(6, 7, 48)]
    images += [_two_row_crop(2, 2, 48), _two_row_crop(3, 3, 48)]  # "d" one-row by its target; an extra
    targets = [("29B1", "123"), ("30C2", "45678"), ("51F", "9999"), ("30A12345", ""), ("99H", "1")]
    mixer = RowMixer(crops, images, targets)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    same, same_targets = mixer.draw([3, 4], rng, 1.0)  # one-row and extra: never mixed, nothing drawn
    assert same_targets == [targets[3], targets[4]] and same[0] is images[3] and same[1] is images[4]
    assert rng.bit_generator.state == state
    assert mixer.draw([0, 1, 2], rng, 0.0)[1] == targets[:3]
    mixed, mixed_targets = mixer.draw([0] * 40 + [2] * 5, rng, 1.0)
    for image, target in zip(mixed[:40], mixed_targets[:40], strict=True):
        assert target[0] == "29B1" and target[1] in ("123", "45678")  # partners from family x only
        assert _stripes(image, 8, 40) == 2 and _stripes(image, 58, 88) == len(target[1])
    assert {t[1] for t in mixed_targets[:40]} == {"123", "45678"}
    assert mixed_targets[40:] == [targets[2]] * 5  # alone in its family: mixed with itself


def test_weight_average_follows_the_weights_with_its_decay() -> None:
    torch = pytest.importorskip("torch")
    from matthan.recognizers.plates.train_reader import WeightAverage

    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    average = WeightAverage(net, 0.5)
    assert not any(p.requires_grad for p in average.model.parameters())
    with torch.no_grad():
        net[0].weight.fill_(3.0)
    net.train()(torch.randn(4, 2))  # counts a batch in the batch-norm layer
    average.update(net)  # first update: decay min(0.5, 2/11), so 1 + (3 - 1) * 9/11
    assert torch.allclose(average.model[0].weight, torch.full((2, 2), 1 + 2 * 9 / 11))
    assert int(average.model[1].num_batches_tracked) == 1  # counters are copied, not averaged
    for _ in range(30):
        average.update(net)  # the decay is 0.5 from the ninth update on: it converges to 3
    assert torch.allclose(average.model[0].weight, torch.full((2, 2), 3.0), atol=1e-3)
    assert net[0].weight.data_ptr() != average.model[0].weight.data_ptr()
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, 1.0)


SHARED_SCENES = SHARED_CROPS.parent / "vn-plate-scenes"
#: the reader alone on the 698 hand-read scene plates (other cameras), cut along their labelled
#: corners: 0.989 measured with plate-reader 9 (trained on other plates of the same cameras, the scenes'
#: train split; 8: 0.974, 0.973 before `order_corners` mended two labels), and along their upright
#: boxes 10 % larger: 0.963 (8: 0.933; on the first 192 of them, corners / boxes: 8 0.979 /
#: 0.948, 7 0.969 / 0.932, 6 0.969 / 0.948, 5 0.969 / 0.938, 4 0.969 / 0.969, 3 0.958 / 0.854); about
#: 13 and 16 plates of margin (0.95 and 0.91 with plate-reader 8).
SCENE_PLATE_FLOORS = {"corners": 0.97, "box": 0.94}


@pytest.mark.skipif(not SHARED_SCENES.is_dir(), reason="../shared/datasets/vn-plate-scenes is absent")
@pytest.mark.parametrize("cut", sorted(SCENE_PLATE_FLOORS))
def test_scene_plates_floor(reader: PlateReader, tmp_path: Path, cut: str) -> None:
    from matthan.benchmarks.plate_reader import scene_crops
    from matthan.recognizers.plates.evaluate import evaluate_reader

    rows = scene_crops(tmp_path, cut)
    assert len(rows) == 698
    assert {r.extra["family"] for r in rows} == {"Dieu_", "Hung_", "Tgmt_", "carlong_"}
    assert len({r.image for r in rows}) == 698  # one crop per plate
    summary = evaluate_reader(reader, tmp_path, rows)
    assert summary["exact_match"] >= SCENE_PLATE_FLOORS[cut], summary


def test_benchmark_notes_the_machine_speed_beside_carried_over_baselines() -> None:
    """Latencies from different days compare only with the machine's speed of each day beside them."""
    from matthan.benchmarks.common import speed_reference_ms
    from matthan.benchmarks.plate_reader import render_markdown

    assert speed_reference_ms(repeats=1) > 0
    row = {"reader": "r", "part": "validation (all)", "n": 1, "exact_match": 1.0, "cer": 0.0}
    row |= {"vn_format_rate": 1.0, "latency_ms_p50": 1.0, "latency_ms_p95": 1.0, "size_mb": 1.0}
    row["by_family"] = None
    result: dict[str, Any] = {"machine": "m", "subset": 1, "readers": {"r": "r"}, "rows": [row]}
    result |= {"date": "2026-12-04", "speed_reference_ms": 812.4, "baselines_reused_from": "2026-11-28"}
    text = render_markdown(result)
    assert "Measured 2026-12-04" in text and "took 812 ms" in text
    assert "(2026-11-28, its machine's speed not recorded;" in text
    result["baselines_speed_reference_ms"] = 250.0
    assert "(2026-11-28, when the workload took 250 ms;" in render_markdown(result)
    assert "more passes" not in text
    result["latency_passes"] = [
        {"speed_reference_ms": ms, "p50": p50, "p95": 2.0} for ms, p50 in ((30, 1.3), (21, 0.8), (25, 1.0))
    ]
    text = render_markdown(result)
    assert "3 more passes" in text and "1.30 (2.00) ms at 30" in text and "0.80 (2.00) ms at 21" in text
    assert "median pass 1.00 ms, fastest 0.80 ms" in text
