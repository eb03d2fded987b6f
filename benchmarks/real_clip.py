"""A clip made from real photos, for measuring duplicates per vehicle on real plates.

Each photo of the plate-scenes validation split is shown for a few seconds with a slow zoom and
pan (so plates move and change size across frames, as they do on a camera), one photo after the
other. The truth file lists, per photo, its time window and how many plates are labelled in it.
Nothing here is committed: the clip is made from `../shared` on the machine that runs it.

    python -m matthan.benchmarks.real_clip OUT.mp4 [--images N] [--seconds-per-image S]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

SCENES = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "vn-plate-scenes" / "valid"


def labelled_plates(label_file: Path) -> int:
    if not label_file.is_file():
        return 0
    return sum(1 for line in label_file.read_text().splitlines() if line.strip())


def make_real_clip(
    out: Path,
    *,
    scenes: Path = SCENES,
    images: int = 12,
    seconds_per_image: float = 4.0,
    fps: int = 25,
    size: tuple[int, int] = (1280, 720),
    seed: int = 0,
) -> dict[str, Any]:
    """Write `out` (H.264, 1 s GOP, no B-frames) and `out.with_suffix('.truth.json')`; return the truth."""
    files = sorted((scenes / "images").glob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"no images under {scenes / 'images'} (the shared data folder)")
    rng = np.random.default_rng(seed)
    # one photo per sub-source in turn, so parking, close and street shots all appear
    by_source: dict[str, list[Path]] = {}
    for f in files:
        if labelled_plates(scenes / "labels" / (f.stem + ".txt")):
            by_source.setdefault(f.name.split("_")[0], []).append(f)
    chosen: list[Path] = []
    sources = sorted(by_source)
    while len(chosen) < images and any(by_source.values()):
        for src in sources:
            if by_source[src] and len(chosen) < images:
                chosen.append(by_source[src].pop(int(rng.integers(len(by_source[src])))))
    width, height = size
    per_image = int(seconds_per_image * fps)
    segments = []
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"bf": "0", "g": str(fps), "preset": "veryfast", "crf": "21"}
        for k, path in enumerate(chosen):
            photo = cv2.imread(str(path))
            if photo is None:
                continue
            h, w = photo.shape[:2]
            base = min(width / w, height / h)
            zoom_to = 1.0 + float(rng.uniform(0.1, 0.25))
            for i in range(per_image):
                a = i / max(1, per_image - 1)
                scale = base * (1.0 + (zoom_to - 1.0) * a)
                # zoom about a point that drifts across the photo
                cx = w * (0.5 + 0.1 * (a - 0.5)) * scale
                cy = h * 0.5 * scale
                m = np.array([[scale, 0, width / 2 - cx], [0, scale, height / 2 - cy]], np.float32)
                frame = np.asarray(
                    cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_LINEAR), np.uint8
                )
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                    container.mux(packet)
            segments.append(
                {
                    "image": path.name,
                    "start_s": k * seconds_per_image,
                    "end_s": (k + 1) * seconds_per_image,
                    "plates": labelled_plates(scenes / "labels" / (path.stem + ".txt")),
                }
            )
        for packet in stream.encode():
            container.mux(packet)
    truth = {
        "kind": "real-photo-segments",
        "source": "vn-plate-scenes valid split (Roboflow switer/lp-detection, CC BY 4.0)",
        "fps": fps,
        "width": width,
        "height": height,
        "seconds": len(segments) * seconds_per_image,
        "segments": segments,
    }
    out.with_suffix(".truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--seconds-per-image", type=float, default=4.0)
    args = parser.parse_args()
    truth = make_real_clip(args.out, images=args.images, seconds_per_image=args.seconds_per_image)
    print(
        json.dumps({"clip": str(args.out), "segments": len(truth["segments"]), "seconds": truth["seconds"]})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
