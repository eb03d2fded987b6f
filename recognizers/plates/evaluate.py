"""Accuracy and latency of a plate reader on labelled crops (``matthan eval plates``, benchmarks).

Readings and labels are compared on the normalised form (``[A-Z0-9]`` only, Đ as D): separators and
row breaks do not count, since label sets mark them inconsistently. CER is the edit distance summed
over crops divided by the summed label length. Latency is the reader's own time per crop (image
decoding from disk excluded), after one warm-up call. A labelled crop that is missing or cannot be
decoded is left out of the scores and listed in the summary's ``unreadable_images``; a crop the
reader refuses (too small to be a plate) counts as read wrong.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matthan.recognizers.base import RecognizerError
from matthan.recognizers.plates.ctc import edit_distance
from matthan.recognizers.plates.grammar import normalise
from matthan.recognizers.plates.reader import Image, PlateReader, load_image
from matthan.recognizers.plates.scenes import ImageIndex

#: label columns that split the summary when present
GROUP_COLUMNS = ("family", "layout")
#: our corrections to the labels of ../shared/datasets/vn-plate-crops (see the file's reasons)
LABEL_FIXES = Path(__file__).with_name("label_fixes.csv")
#: one in HOLDOUT_MOD images of each Vietnamese family (by a hash of its name) is validation
HOLDOUT_MOD = 5
#: the foreign crop families of vn-plate-crops (its `family` column) and the plates they hold
FOREIGN_FAMILIES = {"PlateBaza": "Croatian", "iwt": "Czech"}


@dataclass(frozen=True)
class LabelRow:
    """One labelled crop: file name (relative to the crops folder), text, and any other columns."""

    image: str
    text: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    """A reader's answer for one crop: its text and, for readers that say, the plate format."""

    text: str
    format: str | None = None


ReadFn = Callable[[Image], Prediction]


def read_labels(path: Path, fixes: dict[str, str] | None = None) -> list[LabelRow]:
    """Rows of a labels CSV with at least ``image,text``; `fixes` (image -> text) replace texts,
    and an empty fixed text leaves the image out."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such labels file")
    with path.open(newline="", encoding="utf-8-sig") as fh:  # Excel's "CSV UTF-8" starts with a BOM
        reader = csv.DictReader(fh)
        # column names in any case, spaces around them ignored
        reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or ()]
        missing = {"image", "text"} - set(reader.fieldnames)
        if missing:
            raise ValueError(f"{path}: needs the columns image,text (missing {', '.join(sorted(missing))})")
        rows = []
        for row in reader:
            if not (row["image"] or "").strip():
                continue
            row["image"] = row["image"].strip().replace("\\", "/")
            row["text"] = row["text"] or ""
            text = row["text"] if fixes is None else fixes.get(row["image"], row["text"])
            if fixes is not None and row["image"] in fixes and not text.strip():
                continue
            extra = {k: v for k, v in row.items() if k not in ("image", "text") and k and v is not None}
            rows.append(LabelRow(row["image"], text, extra))
    return rows


def is_holdout(image: str) -> bool:
    """Whether a crop is in the validation part: a stable hash of its file name, about 1 in 5."""
    digest = hashlib.sha256(Path(image).name.encode()).digest()
    return int.from_bytes(digest[:4], "big") % HOLDOUT_MOD == 0


def read_label_fixes(path: Path = LABEL_FIXES) -> dict[str, str]:
    """Our corrections (`image,text,reason`); an empty text drops the image (unreadable, cut off)."""
    if not path.is_file():
        return {}
    with path.open(newline="") as fh:
        return {row["image"]: row["text"].replace("\\n", "\n") for row in csv.DictReader(fh)}


def split_of(image: str, country: str = "VN") -> str:
    """The reader's training split of a crop: ``foreign`` (never trained on), ``val`` or ``train``."""
    if country and country != "VN":
        return "foreign"
    return "val" if is_holdout(image) else "train"


def reader_fn(reader: PlateReader) -> ReadFn:
    """Our reader as a :data:`ReadFn`."""

    def read(image: Image) -> Prediction:
        reading = reader.read(image)
        return Prediction(reading.text, reading.format)

    return read


def evaluate(
    read: ReadFn,
    images_dir: Path,
    rows: Sequence[LabelRow],
    *,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run `read` on every labelled crop; returns the summary with a per-crop `results` list."""
    results: list[dict[str, Any]] = []
    unreadable: list[str] = []
    find = _Finder(images_dir)
    warmed = False
    for row in rows:
        try:
            image = load_image(find(row.image))
        except RecognizerError:
            unreadable.append(row.image)
            continue
        if not warmed:
            read(image)
            warmed = True
        t0 = time.perf_counter()
        try:
            pred = read(image)
            error = None
        except RecognizerError as exc:
            pred, error = Prediction(""), str(exc)
        ms = (time.perf_counter() - t0) * 1000
        truth, got = normalise(row.text), normalise(pred.text)
        result: dict[str, Any] = {
            "image": row.image,
            "label": row.text,
            "text": pred.text,
            "format": pred.format,
            "exact": got == truth,
            "edits": edit_distance(got, truth),
            "label_chars": len(truth),
            "ms": round(ms, 4),
            **{k: row.extra[k] for k in GROUP_COLUMNS if k in row.extra},
        }
        if error:
            result["error"] = error
        results.append(result)
        if on_result is not None:
            on_result(result)
    if rows and not results:
        raise FileNotFoundError(
            f"none of the {len(rows)} labelled crops could be read from {images_dir} (first: {rows[0].image})"
        )
    summary = summarise(results)
    if unreadable:
        summary["unreadable_images"] = unreadable
    summary["results"] = results
    return summary


class _Finder:
    """Where a label's crop is: its path under the crops folder, else the image `scenes.ImageIndex`
    finds for it (e.g. `crops/a.jpg` naming the one `a.jpg` under it); the folder is indexed only
    when a path misses."""

    def __init__(self, images_dir: Path) -> None:
        self.images_dir = images_dir
        self._index: ImageIndex | None = None

    def __call__(self, image: str) -> Path:
        path = self.images_dir / image
        if path.is_file():
            return path
        if self._index is None:
            self._index = ImageIndex(self.images_dir)
        key = self._index.find(image)
        return path if key is None else self._index.paths[key]


def summarise(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`n`, `exact_match`, `cer`, latency percentiles, `vn_format_rate`, split by family and layout."""
    out = _scores(results)
    ms = np.array([r["ms"] for r in results], float)
    out["latency_ms_p50"] = round(float(np.percentile(ms, 50)), 4) if len(ms) else None
    out["latency_ms_p95"] = round(float(np.percentile(ms, 95)), 4) if len(ms) else None
    for column in GROUP_COLUMNS:
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in results:
            if column in r:
                groups.setdefault(str(r[column]), []).append(r)
        if groups:
            out[f"by_{column}"] = {name: _scores(part) for name, part in sorted(groups.items())}
    return out


def _scores(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    items = list(results)
    n = len(items)
    chars = sum(r["label_chars"] for r in items)
    out: dict[str, Any] = {
        "n": n,
        "exact_match": round(sum(r["exact"] for r in items) / n, 4) if n else None,
        "cer": round(sum(r["edits"] for r in items) / chars, 4) if chars else None,
    }
    formats = [r["format"] for r in items if r.get("format") is not None]
    if formats:
        out["vn_format_rate"] = round(sum(f == "vn" for f in formats) / len(formats), 4)
    return out


def evaluate_reader(reader: PlateReader, images_dir: Path, rows: Sequence[LabelRow]) -> dict[str, Any]:
    """:func:`evaluate` for our reader."""
    return evaluate(reader_fn(reader), images_dir, rows)
