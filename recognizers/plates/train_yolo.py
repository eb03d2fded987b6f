"""The ultralytics baseline for the plate detector: a YOLO trained here from a model YAML, offline.

The detector we ship is our own small network (`train_detector`; its card says why). This module
trains the issue's first suggestion on the same scenes, so that the comparison can be re-run:

    python -m matthan.recognizers.plates.train_yolo --data ../shared/datasets/vn-plate-scenes \
        --out var/plate-yolo --model yolov8n.yaml --epochs 10 --imgsz 320

It writes `OUT/model.onnx` (ultralytics' export, outputs `(1, 4 + 2, anchors)`: box centre and size,
then one score per layout) and prints, as one JSON line, that file's median time per frame on one
onnxruntime thread and its recall and precision at IoU 0.5 on the valid split, measured as `matthan
eval scenes` measures our detector (`YoloPlates`: numpy pre- and post-processing, our NMS).

Ultralytics (8.4) runs offline only with all of these, each found by running it with the network
refused (`tests/recognizers/plates/test_train_yolo.py` does so on every CI run):

- `YOLO_OFFLINE=1`: its online check answers no, so hub, update and version checks are skipped;
- `YOLO_AUTOINSTALL=false`: a missing requirement raises instead of running pip;
- `YOLO_CONFIG_DIR=OUT/ultralytics`, whose `Ultralytics` subfolder holds its settings (`sync`
  off: no analytics or crash reports; its logging integrations off) and its fonts: the dataset check
  asks for `Arial.ttf` even with plots off and downloads it when it is neither in that folder nor
  among matplotlib's fonts, so matplotlib's DejaVu Sans is put there under that name (and as
  `Arial.Unicode.ttf`);
- the model built from its YAML with `pretrained=False`, so no weights file is named or fetched;
- `plots=False` and `amp=False` (the mixed-precision check downloads a model on a GPU).

The PyPI torchvision wheel needs a CUDA torch for its compiled ops; `torchvision_cpu` stands in for
the one op used (NMS). `make train-deps` installs torchvision without its requirements (they would replace
the CPU torch with a CUDA build), then ultralytics. The model card of `plate-detector` has the numbers.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from matthan.recognizers.base import CLASS_PLATE, Detections
from matthan.recognizers.onnx import make_session
from matthan.recognizers.plates import scenes
from matthan.recognizers.plates.detector import PAD_VALUE, nms

#: ultralytics' names for the fonts it looks for before downloading them
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
#: ultralytics' logging integrations, turned off in its settings (each reports to a service when its
#: package is installed)
LOGGERS = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")
#: ultralytics keeps its settings and fonts in this subfolder of YOLO_CONFIG_DIR
USER_SUBDIR = "Ultralytics"
LAYOUT_NAMES = {0: "one-row", 1: "two-row"}


def offline_settings(config_dir: Path) -> dict[str, str]:
    """Prepare ultralytics' config folder (settings and fonts, in its `Ultralytics` subfolder) and
    return the environment that keeps it offline. Set that before ultralytics is imported: it reads
    it once, at import."""
    user_dir = config_dir / USER_SUBDIR
    user_dir.mkdir(parents=True, exist_ok=True)
    font = Path(importlib.import_module("matplotlib").get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not font.is_file():
        raise SystemExit(f"{font} is missing: matplotlib's fonts stand in for the ones ultralytics downloads")
    for name in FONT_NAMES:
        if not (user_dir / name).is_file():
            shutil.copyfile(font, user_dir / name)
    settings = user_dir / "settings.json"
    current = json.loads(settings.read_text()) if settings.is_file() else {}
    quiet = {"sync": False, **dict.fromkeys(LOGGERS, False)}
    settings.write_text(json.dumps({**current, **quiet}, indent=1))
    return {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "YOLO_CONFIG_DIR": str(config_dir)}


def dataset_yaml(data: Path, out: Path, max_images: int = 0) -> Path:
    """An ultralytics dataset file for the scenes (`data/train`, `data/valid`, YOLO polygon labels,
    which ultralytics turns into boxes). The images are linked into `out` so that ultralytics' label
    cache is written there, not into the (read-only) data folder; `max_images` > 0 links only the
    first that many images of each split (smoke tests)."""
    for split in ("train", "valid"):
        images, labels = data / split / "images", data / split / "labels"
        if not images.is_dir() or not labels.is_dir():
            raise SystemExit(f"{data / split}: expected images/ and labels/ folders (YOLO polygon labels)")
        for kind in ("images", "labels"):
            (out / split / kind).mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in images.iterdir() if p.suffix.lower() in scenes.IMAGE_SUFFIXES)
        for name in names[:max_images] if max_images > 0 else names:
            for src, dst in (
                (images / name, out / split / "images" / name),
                (labels / f"{Path(name).stem}.txt", out / split / "labels" / f"{Path(name).stem}.txt"),
            ):
                if src.is_file() and not dst.exists():
                    dst.symlink_to(src.resolve())
    path = out / "dataset.yaml"
    lines = [f"path: {out.resolve()}", "train: train/images", "val: valid/images", "names:"]
    lines += [f"  {k}: {v}" for k, v in LAYOUT_NAMES.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def onnx_latency_ms(model: Path, imgsz: int, runs: int = 20) -> float:
    """Median time of one onnxruntime run (one thread) on a grey `imgsz` x `imgsz` frame."""
    session = make_session(model, threads=1)
    blob = np.full((1, 3, imgsz, imgsz), 114 / 255, np.float32)
    name = session.get_inputs()[0].name
    session.run(None, {name: blob})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {name: blob})
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


class YoloPlates:
    """An exported YOLO detector run with onnxruntime: the frame shrunk (or enlarged) to `imgsz` on its
    longest side, padded right and bottom to a square, RGB in 0..1; boxes above `conf` after NMS."""

    def __init__(self, model: Path, imgsz: int, conf: float = 0.25, iou: float = 0.45) -> None:
        self.session = make_session(model, threads=1)
        self.input = self.session.get_inputs()[0].name
        self.imgsz, self.conf, self.iou = imgsz, conf, iou

    def __call__(self, frame: npt.NDArray[np.uint8]) -> Detections:
        h, w = frame.shape[:2]
        scale = self.imgsz / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        shrunk = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        square = np.full((self.imgsz, self.imgsz, 3), PAD_VALUE, np.uint8)
        square[: size[1], : size[0]] = shrunk
        blob = square[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
        out = np.asarray(self.session.run(None, {self.input: blob})[0][0], np.float32)  # (4 + classes, A)
        best = out[4:].max(0)
        sure = best >= self.conf
        scores = best[sure]
        cx, cy, bw, bh = out[:4, sure]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1).astype(np.float32) / scale
        keep = nms(boxes, scores, self.iou)
        return Detections(
            boxes=boxes[keep].reshape(-1, 4),
            scores=scores[keep],
            class_ids=np.full(len(keep), CLASS_PLATE, np.int32),
        )


def evaluate(model: Path, data: Path, imgsz: int) -> dict[str, Any]:
    """Recall and precision at IoU 0.5 and latency on `data/valid` (images and YOLO polygon labels)."""
    valid = data / "valid"
    labels = scenes.read_yolo_labels(valid / "labels", valid / "images")
    summary = scenes.evaluate(YoloPlates(model, imgsz), valid / "images", labels)
    keys = ("n_images", "n_plates", "recall", "precision", "latency_ms_p50", "latency_ms_p95")
    return {k: summary[k] for k in keys}


def train(args: argparse.Namespace) -> Path:
    """Train and export; returns the ONNX file."""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = offline_settings(out / "ultralytics")
    if "ultralytics" in sys.modules and os.environ.get("YOLO_CONFIG_DIR") != env["YOLO_CONFIG_DIR"]:
        raise SystemExit(
            "ultralytics was imported before its offline settings were made: run this module alone"
        )
    os.environ.update(env)
    torch = importlib.import_module("torch")
    torch.set_num_threads(args.threads)
    importlib.import_module("matthan.recognizers.torchvision_cpu").use_cpu_torchvision()
    yolo_class: Any = importlib.import_module("ultralytics").YOLO
    data = dataset_yaml(args.data, out / "dataset", args.max_images)
    model = yolo_class(args.model)
    model.train(
        data=str(data),
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        workers=args.workers,
        device="cpu",
        seed=args.seed,
        pretrained=False,
        amp=False,
        plots=False,
        project=str(out.resolve()),
        name="train",
        exist_ok=True,
        verbose=False,
    )
    exported = Path(model.export(format="onnx", imgsz=args.imgsz, simplify=False, dynamic=False))
    onnx = out / "model.onnx"
    shutil.copyfile(exported, onnx)
    return onnx


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("../shared/datasets/vn-plate-scenes"))
    p.add_argument("--out", type=Path, default=Path("var/plate-yolo"))
    p.add_argument(
        "--model", default="yolov8n.yaml", help="an ultralytics model YAML (no pretrained weights)"
    )
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=0, help="ultralytics' loader processes")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--max-images", type=int, default=0, help="use only this many images per split (smoke test)"
    )
    args = p.parse_args(argv)
    if not args.model.endswith((".yaml", ".yml")):
        raise SystemExit(f"--model {args.model}: give a model YAML; pretrained weights would be downloaded")
    onnx = train(args)
    result: dict[str, Any] = {
        "model": str(onnx),
        "network_ms_p50": round(onnx_latency_ms(onnx, args.imgsz), 2),
    }
    result["valid"] = evaluate(onnx, args.out / "dataset", args.imgsz)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
