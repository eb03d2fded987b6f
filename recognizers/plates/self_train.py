"""Self-training of the plate reader on the plate-detector's scenes, in one command.

``python -m matthan.recognizers.plates.train_reader --self-train ../shared/datasets/vn-plate-scenes``
runs three stages under ``--checkpoint`` and publishes the result like a plain run:

1. ``stage1/``: the plain recipe (real crops + synthetic plates, from random weights).
2. ``scene-crops/``: every plate of the scenes' **train** split (never ``valid``) at least
   ``MIN_WIDTH`` pixels wide is cut out along its labelled corners exactly as the agent cuts plates
   (:func:`detector.rectify`), read by the stage-1 model (or by ``--self-train-labeller``'s), and
   kept with that reading as its label where the reading is in Vietnamese format with confidence
   ``>= self_train_min_conf``. The scenes carry corners, not texts, so this is how street plates
   (small, oblique, night) reach the reader.
3. ``stage2/``: fine-tuning from stage 1's weights with those crops added (``--self-train-steps``,
   ``--self-train-lr``).

The shipped weights are the average of stage 1's and stage 2's (w = 0.5, as in WiSE-FT): measured
here, the fine-tuned model alone gains nothing, while the average is better on every held-out set
(see the plate-reader card). A stage whose outputs are on disk from a run with the same settings is
not run again, so an interrupted run resumes at the stage it was in.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from matthan.models import sha256_of
from matthan.recognizers.plates.detector import box_crop, rectify
from matthan.recognizers.plates.reader import MODEL_NAME, PlateReader
from matthan.recognizers.plates.scenes import read_yolo_polygons
from matthan.recognizers.plates.train_reader import (
    VERSION,
    TrainConfig,
    _torch,
    build_model,
    count_scene_plates,
    export_onnx,
    load_crops,
    publish,
    save_crop,
    train,
    trained_crops,
    write_crop_labels,
)

log = logging.getLogger(__name__)

#: narrower plates are not cut out: too few pixels for a reading worth learning from
MIN_WIDTH = 40
#: weight of the fine-tuned model in the shipped average
AVERAGE_WEIGHT = 0.5


def pseudo_label(
    reader: PlateReader,
    split_dir: Path,
    out_dir: Path,
    min_conf: float,
    min_width: int = MIN_WIDTH,
    boxes: bool = False,
) -> dict[str, int]:
    """Cut the labelled plates of one scenes split out, keep those `reader` reads confidently.

    Writes ``out_dir/images/*.jpg`` and ``out_dir/labels.csv`` (the columns of the crops dataset);
    returns counts: ``plates``, ``small``, ``unknown`` (not Vietnamese format), ``unsure`` (below
    `min_conf`) and ``kept``. With `boxes`, each kept plate is also written cut along its upright box
    with 0-25 % more on each side (random, the same every run), labelled with the same reading.
    """
    rng = np.random.default_rng(0)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    stats: Counter[str] = Counter(kept=0)
    rows: list[tuple[str, str, int, str]] = []
    for path in sorted((split_dir / "images").glob("*.jpg")):
        image = cv2.imread(str(path))
        if image is None:
            log.warning("unreadable scene image %s: skipped", path)
            continue
        frame = np.asarray(image, np.uint8)
        h, w = frame.shape[:2]
        corners, _ = read_yolo_polygons(split_dir / "labels" / f"{path.stem}.txt", w, h)
        for k, plate in enumerate(corners):
            stats["plates"] += 1
            if float(plate[:, 0].max() - plate[:, 0].min()) < min_width:
                stats["small"] += 1
                continue
            crop = rectify(frame, plate)
            reading = reader.read(crop)
            if reading.format != "vn":
                stats["unknown"] += 1
                continue
            if reading.confidence < min_conf:
                stats["unsure"] += 1
                continue
            name = f"{path.stem[:40]}_{k}.jpg"
            save_crop(out_dir, name, crop)
            family = "scene-" + path.name.split("_")[0]
            stats["kept"] += 1
            rows.append((name, reading.text, reading.rows, family))
            if boxes:
                box_name = f"{path.stem[:40]}_{k}_box.jpg"
                box = box_crop(frame, plate, [float(v) for v in rng.uniform(0.0, 0.25, 4)])
                save_crop(out_dir, box_name, box)
                rows.append((box_name, reading.text, reading.rows, family))
    write_crop_labels(out_dir, [[name, text, n_rows, family, "VN"] for name, text, n_rows, family in rows])
    return dict(stats)


def average_weights(a: dict[str, Any], b: dict[str, Any], weight: float) -> dict[str, Any]:
    """``(1 - weight) * a + weight * b`` for floating tensors; others (counters) taken from `a`."""
    if a.keys() != b.keys():
        raise ValueError("the two checkpoints are not of the same network")
    return {k: a[k] * (1 - weight) + b[k] * weight if a[k].is_floating_point() else a[k] for k in a}


#: settings added to `TrainConfig` after runs were recorded, and their defaults (the old behaviour)
_LATER_SETTINGS: dict[str, Any] = {
    "loose_real": 1.0,
    "glyph_variety": 0.0,
    "ema": 0.0,
    "extra_share": None,
    "row_mix": 0.0,
    "spread_rows": 0.0,
    "low_res": 0.0,
    "box_tilt": 0.0,
    "blur": 0.0,
    "foreign_band": 0.0,
    "train_foreign": (),
}


def _recorded(value: Any) -> Any:
    """A setting as a stage's record holds it (paths and tuples as text)."""
    return str(value) if isinstance(value, Path | tuple) else value


def _settings(cfg: TrainConfig) -> dict[str, Any]:
    """What decides a stage's outcome: its settings and the very weights it starts from."""
    settings = {
        k: _recorded(v)
        for k, v in dataclasses.asdict(cfg).items()
        if k not in ("threads", "workers", "device", "publish", "out", "eval_every")
        and not k.startswith("self_train")  # a stage's settings are its own, not the next stage's
    }
    if not cfg.extra_crops:
        settings["extra_share"] = None  # no extra crops to draw: the share changes nothing
    for key, default in _LATER_SETTINGS.items():
        if settings[key] == _recorded(default):
            del settings[key]  # a setting added after a run, left at its default, keeps that run's record
    if cfg.init is not None:
        settings["init_sha256"] = sha256_of(cfg.init)
    return settings


def _done_before(marker: Path, key: str, value: Any) -> dict[str, Any] | None:
    """The record in `marker` when it was written by a run whose `key` was `value`, else None."""
    if not marker.is_file():
        return None
    record: dict[str, Any] = json.loads(marker.read_text())
    return record if record.get(key) == value else None


def _stage(cfg: TrainConfig, data: dict[str, Any] | None = None) -> list[dict[str, float]]:
    """Train one stage unless its outputs are there from the same settings and `data` (a record of
    how its extra crops were made); returns its history."""
    done = cfg.checkpoint / "done.json"
    settings = _settings(cfg)
    if data is not None:
        settings["data"] = data
    if (record := _done_before(done, "settings", settings)) is not None:
        log.info("%s: done before with the same settings, not run again", cfg.checkpoint)
        history: list[dict[str, float]] = record["history"]
        return history
    started = time.time()
    train(cfg, export_to=cfg.checkpoint / "model.onnx")
    history = json.loads((cfg.checkpoint / "history.json").read_text())
    done.write_text(
        json.dumps({"settings": settings, "history": history, "minutes": (time.time() - started) / 60})
    )
    return history


def stage2_config(cfg: TrainConfig, stage1: TrainConfig, crops_dir: Path) -> TrainConfig:
    """Stage 2's settings: stage 1's weights plus the scene crops, the self-training steps, rate, framing."""
    return dataclasses.replace(
        cfg,
        checkpoint=cfg.checkpoint / "stage2",
        init=stage1.checkpoint / "last.pt",
        extra_crops=(*cfg.extra_crops, *cfg.self_train_extra_crops, crops_dir),
        steps=cfg.self_train_steps,
        lr=cfg.self_train_lr,
        loose_real=cfg.loose_real if cfg.self_train_loose_real is None else cfg.self_train_loose_real,
        publish=False,
        self_train=None,
        synthetic_cache=cfg.checkpoint,
    )


def run(cfg: TrainConfig) -> Path:
    """The three stages and the average; exports (and, unless ``--no-publish``, registers) the model."""
    if cfg.self_train is None:
        raise ValueError("run() needs cfg.self_train (the scenes dataset)")
    split_dir = cfg.self_train / "train"
    if not (split_dir / "images").is_dir():
        raise FileNotFoundError(f"{split_dir / 'images'} is missing: --self-train takes the scenes dataset")
    torch = _torch()
    started = time.time()
    root = cfg.checkpoint
    stage1 = dataclasses.replace(
        cfg, checkpoint=root / "stage1", publish=False, self_train=None, synthetic_cache=root
    )
    history = [{**h, "stage": 1} for h in _stage(stage1)]

    crops_dir = root / "scene-crops"
    marker = crops_dir / "done.json"
    labeller = cfg.self_train_labeller or stage1.checkpoint / "model.onnx"
    if not labeller.is_file():
        raise FileNotFoundError(f"{labeller} is missing: --self-train-labeller takes a reader's ONNX file")
    made_by: dict[str, Any] = {"min_conf": cfg.self_train_min_conf, "model_sha256": sha256_of(labeller)}
    if cfg.loose_framing:
        made_by["boxes"] = True
    if (record := _done_before(marker, "made_by", made_by)) is not None:
        stats = record["stats"]
    else:
        if crops_dir.is_dir():
            shutil.rmtree(crops_dir)
        stats = pseudo_label(
            PlateReader(labeller, threads=cfg.threads),
            split_dir,
            crops_dir,
            cfg.self_train_min_conf,
            boxes=cfg.loose_framing,
        )
        marker.write_text(json.dumps({"made_by": made_by, "stats": stats}))
    log.info("scene crops: %s", stats)

    stage2 = stage2_config(cfg, stage1, crops_dir)
    # stage 2's data is the scene crops, made by `made_by` (stage 1's weights or another labeller)
    history += [{**h, "step": h["step"] + stage1.steps, "stage": 2} for h in _stage(stage2, made_by)]

    first = torch.load(stage1.checkpoint / "last.pt", map_location="cpu")["model"]
    second = torch.load(stage2.checkpoint / "last.pt", map_location="cpu")["model"]
    model = build_model(cfg.widths)
    model.load_state_dict(average_weights(first, second, AVERAGE_WEIGHT))
    model.eval()
    onnx_path = cfg.out / MODEL_NAME / VERSION / "model.onnx"
    export_onnx(model, onnx_path)
    minutes = (time.time() - started) / 60
    (root / "history.json").write_text(json.dumps(history, indent=1))
    if cfg.publish:
        n_train = len(trained_crops(load_crops(cfg.crops), cfg))
        publish(cfg, onnx_path, minutes, n_train, history, scene_crops=count_scene_plates(crops_dir))
    return onnx_path
