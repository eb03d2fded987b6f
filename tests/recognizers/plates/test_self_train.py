"""Self-training of the plate reader on the scenes: pseudo-labelling, weight averaging, the command."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from matthan.models import sha256_of
from matthan.recognizers.plates import self_train, train_reader
from matthan.recognizers.plates.reader import MODEL_NAME, PlateReader
from matthan.recognizers.synth.plates import render_plate

pytest.importorskip("torch")  # the `train` extra


def _scene(plates: list[tuple[str, int, int]], seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """A grey 640×480 frame with rendered plates (text, rows, width) pasted in a row, and YOLO labels."""
    rng = np.random.default_rng(seed)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame += rng.integers(0, 20, frame.shape, dtype=np.uint8)
    lines, x = [], 20
    for text, rows, width in plates:
        plate = render_plate(text, rows, "white", rng, height_px=64).image
        h = round(plate.shape[0] * width / plate.shape[1])
        plate = cv2.resize(plate, (width, h), interpolation=cv2.INTER_AREA)
        y = 100
        frame[y : y + h, x : x + width] = plate
        corners = [(x, y), (x + width, y), (x + width, y + h), (x, y + h)]
        lines.append(f"{rows - 1} " + " ".join(f"{cx / 640:.6f} {cy / 480:.6f}" for cx, cy in corners))
        x += width + 20
    return frame, lines


def _scenes(root: Path) -> Path:
    """A scenes dataset: train/ with two frames (three plates, one of them too small), valid/ empty."""
    split = root / "train"
    (split / "images").mkdir(parents=True)
    (split / "labels").mkdir()
    (root / "valid" / "images").mkdir(parents=True)
    scenes = {
        "Dieu_0001": [("30A-123.45", 1, 260), ("29-B1\n123.45", 2, 150)],
        "Hung_0002": [("51F-356.13", 1, 30)],
    }
    for k, (stem, plates) in enumerate(scenes.items()):
        frame, lines = _scene(plates, seed=k)
        cv2.imwrite(str(split / "images" / f"{stem}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        (split / "labels" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_pseudo_label_keeps_confident_vietnamese_readings(tmp_path: Path) -> None:
    scenes = _scenes(tmp_path / "scenes")
    out = tmp_path / "crops"
    stats = self_train.pseudo_label(PlateReader(), scenes / "train", out, min_conf=0.9)
    assert stats["plates"] == 3 and stats["small"] == 1
    with (out / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert stats["kept"] == len(rows) == 2, stats  # the shipped reader reads both large plates
    assert {(r["text"], r["rows"]) for r in rows} == {("30A-123.45", "1"), ("29-B1\n123.45", "2")}
    assert {r["family"] for r in rows} == {"scene-Dieu"}
    for r in rows:
        crop = cv2.imread(str(out / "images" / r["image"]))
        assert crop is not None and crop.shape[1] > 150
    # nothing is sure enough at a confidence above 1
    assert self_train.pseudo_label(PlateReader(), scenes / "train", tmp_path / "none", 1.01)["kept"] == 0


def test_pseudo_label_also_cuts_upright_boxes_when_asked(tmp_path: Path) -> None:
    scenes = _scenes(tmp_path / "scenes")
    out = tmp_path / "crops"
    stats = self_train.pseudo_label(PlateReader(), scenes / "train", out, min_conf=0.9, boxes=True)
    with (out / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert stats["kept"] == 2 and len(rows) == 4
    boxes = {r["image"]: r for r in rows if r["image"].endswith("_box.jpg")}
    assert len(boxes) == 2
    for r in rows:
        if r["image"] in boxes:
            continue
        box = boxes[r["image"].replace(".jpg", "_box.jpg")]
        assert (box["text"], box["rows"], box["family"]) == (r["text"], r["rows"], r["family"])
        loose = cv2.imread(str(out / "images" / box["image"]))
        assert loose is not None and loose.shape[1] > 150  # the plate's own box is 150-260 px wide
    again = tmp_path / "again"
    self_train.pseudo_label(PlateReader(), scenes / "train", again, min_conf=0.9, boxes=True)
    for name in boxes:  # the same margins every run
        first, second = (cv2.imread(str(d / "images" / name)) for d in (out, again))
        assert np.array_equal(first, second)


def test_average_weights() -> None:
    import torch

    a = {"w": torch.zeros(3), "n": torch.tensor(4)}
    b = {"w": torch.full((3,), 2.0), "n": torch.tensor(9)}
    avg = self_train.average_weights(a, b, 0.25)
    assert torch.allclose(avg["w"], torch.full((3,), 0.5))
    assert int(avg["n"]) == 4  # counters are not averaged
    with pytest.raises(ValueError, match="same network"):
        self_train.average_weights(a, {"w": b["w"]}, 0.5)


def test_settings_added_later_keep_older_records_while_at_their_default() -> None:
    cfg = train_reader.TrainConfig()
    plain = self_train._settings(cfg)
    assert not set(self_train._LATER_SETTINGS) & set(plain)  # recorded as runs before them were
    for key, default in self_train._LATER_SETTINGS.items():
        assert getattr(cfg, key) == default
    changed = self_train._settings(
        train_reader.TrainConfig(loose_real=0.3, glyph_variety=0.5, ema=0.999, row_mix=0.5, spread_rows=0.3)
    )
    assert changed == {
        **plain,
        "loose_real": 0.3,
        "glyph_variety": 0.5,
        "ema": 0.999,
        "row_mix": 0.5,
        "spread_rows": 0.3,
    }
    # the extra crops' share counts only where there are extra crops (stage 2), so stage 1 keeps its record
    assert self_train._settings(train_reader.TrainConfig(extra_share=0.5)) == plain
    extra = train_reader.TrainConfig(extra_crops=(Path("scene-crops"),))
    assert self_train._settings(dataclasses.replace(extra, extra_share=0.5)) == {
        **self_train._settings(extra),
        "extra_share": 0.5,
    }


def test_stage2_takes_its_own_framing_share_when_given(tmp_path: Path) -> None:
    cfg = train_reader.TrainConfig(checkpoint=tmp_path, loose_framing=True, loose_real=0.7)
    stage1 = train_reader.TrainConfig(checkpoint=tmp_path / "stage1")
    same = self_train.stage2_config(cfg, stage1, tmp_path / "scene-crops")
    assert same.loose_real == 0.7 and same.init == tmp_path / "stage1" / "last.pt"
    assert same.extra_crops == (tmp_path / "scene-crops",) and same.synthetic_cache == tmp_path
    assert (same.steps, same.lr) == (cfg.self_train_steps, cfg.self_train_lr)
    tight = self_train.stage2_config(
        train_reader.TrainConfig(checkpoint=tmp_path, loose_framing=True, self_train_loose_real=0.0),
        stage1,
        tmp_path / "scene-crops",
    )
    assert tight.loose_real == 0.0 and tight.loose_framing


def test_self_train_command_runs_three_stages_and_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`train_reader --self-train SCENES`: stage 1, scene crops, stage 2, the average, exported."""
    scenes = _scenes(tmp_path / "scenes")
    crops = tmp_path / "crops"
    (crops / "images").mkdir(parents=True)
    lines = ["image,text,rows,layout,family,country,label_check"]
    for i, (text, rows) in enumerate([("30A-123.45", 1), ("29-B1\n123.45", 2)] * 3):
        cv2.imwrite(
            str(crops / "images" / f"xemay{i}.jpg"),
            render_plate(text, rows, "white", np.random.default_rng(i)).image,
        )
        layout = "two-line" if rows == 2 else "one-line"
        lines.append(f'xemay{i}.jpg,"{text}",{rows},{layout},xemay,VN,grammar-ok')
    (crops / "labels.csv").write_text("\n".join(lines) + "\n")
    out, ckpt = tmp_path / "models", tmp_path / "ckpt"
    args = ["--crops", str(crops), "--out", str(out), "--checkpoint", str(ckpt)]
    args += ["--device", "cpu", "--steps", "20", "--batch", "4", "--synthetic", "20", "--eval-every", "10"]
    args += ["--widths", "8,8,16,16,16", "--self-train", str(scenes), "--self-train-steps", "20"]
    args += ["--self-train-min-conf", "0"]
    assert train_reader.main(args) == 0
    for stage in ("stage1", "stage2"):
        assert (ckpt / stage / "last.pt").is_file() and (ckpt / stage / "model.onnx").is_file()
    history = json.loads((ckpt / "history.json").read_text())
    assert [(h["stage"], h["step"]) for h in history] == [(1, 10), (1, 20), (2, 30), (2, 40)]
    assert json.loads((ckpt / "scene-crops" / "done.json").read_text())["stats"]["plates"] == 3
    shipped = out / MODEL_NAME / train_reader.VERSION / "model.onnx"
    assert PlateReader(shipped).read(render_plate("30A-123.45", 1, "white", np.random.default_rng(0)).image)
    entry = json.loads((out / "manifest.json").read_text())["models"][MODEL_NAME]
    assert "--self-train" in entry["recipe"] and "self_training" in entry["data"]
    # the recipe names the self-training options that differ from the defaults, so it reproduces the run
    assert "--self-train-steps 20 --self-train-min-conf 0.0" in entry["recipe"]
    assert "--self-train-lr" not in entry["recipe"]

    # --publish-only measures the model again and takes the training time from the stages' records
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["models"][MODEL_NAME]["train_minutes"] = 999.0
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert train_reader.main([*args, "--publish-only"]) == 0
    minutes = sum(json.loads((ckpt / s / "done.json").read_text())["minutes"] for s in ("stage1", "stage2"))
    entry = json.loads((out / "manifest.json").read_text())["models"][MODEL_NAME]
    assert entry["train_minutes"] == round(minutes, 1) < 999

    # stage 2 moved the weights on from stage 1's
    import torch

    stage = [torch.load(ckpt / s / "last.pt")["model"] for s in ("stage1", "stage2")]
    assert not torch.equal(stage[0]["head.weight"], stage[1]["head.weight"])

    # a second run with the same settings trains nothing again; another stage-2 setting reruns stage 2
    with caplog.at_level(logging.INFO, logger="matthan.recognizers.plates.self_train"):
        assert train_reader.main(args) == 0
    assert caplog.text.count("done before with the same settings") == 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="matthan.recognizers.plates.self_train"):
        assert train_reader.main([*args, "--self-train-lr", "1e-4"]) == 0
    assert caplog.text.count("done before with the same settings") == 1
    # a new stage 1 makes new scene crops and a new stage 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="matthan.recognizers.plates.self_train"):
        assert train_reader.main([*args, "--steps", "30"]) == 0
    assert caplog.text.count("done before with the same settings") == 0

    # a second round: another reader labels the scene crops (here the model just shipped), which makes
    # new crops and a new stage 2 on the same stage 1; the recipe names that reader
    labeller = tmp_path / "labeller.onnx"
    shutil.copy(shipped, labeller)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="matthan.recognizers.plates.self_train"):
        assert train_reader.main([*args, "--steps", "30", "--self-train-labeller", str(labeller)]) == 0
    assert caplog.text.count("done before with the same settings") == 1  # stage 1 only
    made_by = json.loads((ckpt / "scene-crops" / "done.json").read_text())["made_by"]
    assert made_by["model_sha256"] == sha256_of(labeller)
    entry = json.loads((out / "manifest.json").read_text())["models"][MODEL_NAME]
    assert re.search(r"--self-train-labeller \S*labeller\.onnx", entry["recipe"])
    assert "labelled by `" in entry["data"]["self_training"]
    with pytest.raises(FileNotFoundError, match="--self-train-labeller takes a reader's ONNX file"):
        train_reader.main([*args, "--steps", "30", "--self-train-labeller", str(tmp_path / "none.onnx")])


def test_self_train_needs_a_scenes_dataset(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--self-train takes the scenes dataset"):
        self_train.run(train_reader.TrainConfig(self_train=tmp_path, checkpoint=tmp_path / "c"))


def test_republishing_takes_time_and_machine_from_the_stage_records_kept(tmp_path: Path) -> None:
    """A model trained in this checkpoint folder is credited with its stages' minutes and this
    machine; one whose records are elsewhere keeps what its registered entry says."""
    cfg = train_reader.TrainConfig(checkpoint=tmp_path / "ck", self_train=tmp_path / "scenes")
    registered = {"train_minutes": 93.2, "train_cpu": "AMD EPYC"}
    assert train_reader._stage_records(cfg) == []
    assert train_reader._recorded_minutes(cfg, registered) == 93.2
    for stage, minutes in (("stage1", 50.5), ("stage2", 20.0)):
        (cfg.checkpoint / stage).mkdir(parents=True)
        (cfg.checkpoint / stage / "done.json").write_text(json.dumps({"minutes": minutes}))
    assert len(train_reader._stage_records(cfg)) == 2
    assert train_reader._recorded_minutes(cfg, registered) == 70.5
    plain = dataclasses.replace(cfg, self_train=None)  # records of a self-training run only
    assert train_reader._stage_records(plain) == []


def test_the_recipe_and_card_name_the_extra_crops_and_how_hand_read_ones_are_made(tmp_path: Path) -> None:
    folder = tmp_path / "hand-crops"
    (folder / "images").mkdir(parents=True)
    lines = ["image,text,rows,family,country"]
    for name in ("a_0.jpg", "a_0_box.jpg"):
        cv2.imwrite(str(folder / "images" / name), np.zeros((20, 60, 3), np.uint8))
        lines.append(f'{name},"51A\n403.23",2,scene-hand-Dieu,VN')
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    cfg = train_reader.TrainConfig(extra_crops=(folder,))
    shown = train_reader._shown(folder)  # relative to the repository, where the recipe is run
    assert f"--extra-crops {shown}" in train_reader._recipe(cfg)
    text = train_reader._extra_text(cfg.extra_crops)
    assert text.startswith("2 crops in") and "1 plates of the vn-plate-scenes train split" in text
    assert f"matthan.recognizers.plates.hand_crops --out {shown}" in text
    assert "--extra-crops" not in train_reader._recipe(train_reader.TrainConfig())
    assert train_reader._extra_line({"data": {}}) == ""
    assert train_reader._extra_line({"data": {"extra": text}}).startswith("- Extra crops, in every stage: 2")


def test_the_recipe_names_european_foreign_plates_only_when_drawn() -> None:
    assert "--foreign-band 0.5" in train_reader._recipe(train_reader.TrainConfig(foreign_band=0.5))
    assert "--foreign-band" not in train_reader._recipe(train_reader.TrainConfig())


def _foreign_crops(root: Path) -> list[train_reader.LabelledCrop]:
    (root / "images").mkdir(parents=True)
    rows = [
        "image,text,rows,layout,family,country",
        "vn.jpg,30A-123.45,1,one-line,CarLongPlate,VN",
        "hr.jpg,ZG 1234-AB,1,one-line,PlateBaza,HR",
        "cz.jpg,1BA 1114,1,one-line,iwt,CZ",
    ]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return train_reader.load_crops(root, fixes={})


def test_foreign_families_are_trained_on_only_when_named(tmp_path: Path) -> None:
    crops = _foreign_crops(tmp_path)
    vn = [c for c in crops if train_reader.trainable(c)]
    assert [c.image for c in vn] == ["vn.jpg"]  # vn.jpg is outside the validation hash
    cfg = train_reader.TrainConfig(train_foreign=("PlateBaza",))
    assert [c.image for c in train_reader.foreign_trained(crops, cfg.train_foreign)] == ["hr.jpg"]
    assert [c.image for c in train_reader.never_trained_foreign(crops, cfg)] == ["cz.jpg"]
    assert [c.image for c in train_reader.trained_crops(crops, cfg)] == ["vn.jpg", "hr.jpg"]
    plain = train_reader.TrainConfig()
    assert train_reader.foreign_trained(crops, plain.train_foreign) == []
    assert [c.image for c in train_reader.never_trained_foreign(crops, plain)] == ["hr.jpg", "cz.jpg"]
    assert [c.image for c in train_reader.trained_crops(crops, plain)] == ["vn.jpg"]
    with pytest.raises(ValueError, match="family Nope: there are PlateBaza, iwt"):
        train_reader.foreign_trained(crops, ("Nope",))


def test_foreign_families_trained_on_are_in_the_recipe_record_and_card(tmp_path: Path) -> None:
    crops = _foreign_crops(tmp_path)
    cfg = train_reader.TrainConfig(train_foreign=("PlateBaza",))
    assert train_reader._recipe(cfg).endswith("--train-foreign PlateBaza")
    assert "--train-foreign" not in train_reader._recipe(train_reader.TrainConfig())
    # a stage's record changes with them (no earlier stage is reused), and not without them
    assert self_train._settings(cfg) == {
        **self_train._settings(train_reader.TrainConfig()),
        "train_foreign": "('PlateBaza',)",
    }
    real = "1 crops" + train_reader._foreign_trained_text(crops, cfg)
    assert real == "1 crops; 1 of them foreign (`PlateBaza`), read as labelled"
    meta = {"data": {"real": real, "foreign_trained": ["PlateBaza"]}}
    assert train_reader._foreign_families(meta) == "Czech"
    assert "other than those named are never trained on (Czech)" in train_reader._foreign_test_text(meta)
    plain = {
        "data": {"real": "1 crops" + train_reader._foreign_trained_text(crops, train_reader.TrainConfig())}
    }
    assert train_reader._foreign_families(plain) == "Croatian, Czech"
    assert train_reader._foreign_test_text(plain) == "Czech and Croatian crops are never trained on."


def test_self_training_extra_crops_join_stage_2_only(tmp_path: Path) -> None:
    hand = tmp_path / "hand-crops"
    cfg = train_reader.TrainConfig(
        checkpoint=tmp_path, self_train=tmp_path / "scenes", self_train_extra_crops=(hand,)
    )
    stage1 = dataclasses.replace(cfg, checkpoint=tmp_path / "stage1", self_train=None)
    # stage 1 is recorded as a run without them (so an earlier stage 1 of the same recipe is reused)
    assert self_train._settings(stage1) == self_train._settings(
        dataclasses.replace(stage1, self_train_extra_crops=())
    )
    assert stage1.extra_crops == ()
    stage2 = self_train.stage2_config(cfg, stage1, tmp_path / "scene-crops")
    assert stage2.extra_crops == (hand, tmp_path / "scene-crops")
    recipe = train_reader._recipe(cfg)
    assert f"--self-train-extra-crops {train_reader._shown(hand)}" in recipe
    assert "--extra-crops" not in recipe.replace("--self-train-extra-crops", "")
    line = train_reader._extra_line({"data": {"extra_self_train": "520 crops"}})
    assert line == "- Extra crops, in the self-training stage only: 520 crops.\n"
