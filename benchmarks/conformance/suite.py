"""A conformance suite on disk: `suite.yaml` (clips, ground truth files, watchlist, requirements) and
the files it names, each identified by its sha256. The format is documented in FORMAT.md."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FORMAT = "matthan-conformance/1"
MANIFEST = "suite.yaml"
UNKNOWN = "unknown"


class SuiteError(ValueError):
    """The suite folder does not follow the format; the message names the file and key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Keyframe(Strict):
    """Where an object is at clip time `t` (seconds): box x1, y1, x2, y2 in frame pixels."""

    t: float = Field(ge=0)
    box: tuple[float, float, float, float]


class PlateTrack(Strict):
    """One plate seen by the camera from `first_s` to `last_s` (clip time)."""

    text: str = Field(min_length=1, description="as printed; compared on [A-Z0-9] only")
    first_s: float = Field(ge=0)
    last_s: float = Field(ge=0)
    readable: bool = Field(default=True, description="legible at some time: counted in the read rate")
    rows: Literal[1, 2] | None = None
    colour: str | None = None
    keyframes: list[Keyframe] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> PlateTrack:
        if self.last_s < self.first_s:
            raise ValueError("last_s is before first_s")
        return self


class FaceTrack(Strict):
    """One face seen from `first_s` to `last_s`: a watchlist person's id, or "unknown"."""

    identity: str = Field(min_length=1)
    first_s: float = Field(ge=0)
    last_s: float = Field(ge=0)
    keyframes: list[Keyframe] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> FaceTrack:
        if self.last_s < self.first_s:
            raise ValueError("last_s is before first_s")
        return self


class ClipTruthFile(Strict):
    """The ground truth file of one clip (JSON)."""

    format: Literal["matthan-conformance-truth/1"] = "matthan-conformance-truth/1"
    plates: list[PlateTrack] = Field(default_factory=list)
    faces: list[FaceTrack] = Field(default_factory=list)


class Interruption(Strict):
    """The stream goes away at clip time `at_s` for `duration_s` seconds, then comes back."""

    at_s: float = Field(gt=0)
    duration_s: float = Field(gt=0)


class Clip(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="also the camera id")
    file: str = Field(description="H.264 MP4, relative to the suite folder")
    truth: str = Field(description="ground truth JSON, relative to the suite folder")
    duration_s: float = Field(gt=0)
    conditions: list[str] = Field(default_factory=list, description="free tags: day, night, two-row, …")
    interruption: Interruption | None = None


class Person(Strict):
    id: str = Field(min_length=1)
    images: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _not_unknown(self) -> Person:
        if self.id == UNKNOWN:
            raise ValueError(f"{UNKNOWN!r} is reserved for faces of no watchlist person")
        return self


class Watchlist(Strict):
    name: str = "conformance"
    people: list[Person] = Field(default_factory=list)


class Matching(Strict):
    time_tolerance_s: float = Field(default=2.0, ge=0, description="slack around a track's first_s/last_s")


class RunSettings(Strict):
    warmup_s: float = Field(
        default=3.0, ge=0, description="tracks starting earlier in the first play are not required"
    )
    tail_s: float = Field(default=8.0, ge=0, description="the run lasts the longest clip plus this")
    drain_s: float = Field(default=5.0, ge=0, description="after the streams stop, wait this long for events")


class Threshold(Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of min or max")
        return self

    def passes(self, value: float) -> bool:
        return value >= self.min if self.min is not None else value <= float(self.max or 0.0)

    def describe(self) -> str:
        return f"≥ {self.min:g}" if self.min is not None else f"≤ {self.max:g}"


#: Every requirement a suite may state, with what it measures (see scoring.py and FORMAT.md).
REQUIREMENTS: dict[str, str] = {
    "plate_read_rate": "readable plate tracks reported with the right text / readable plate tracks",
    "plate_false_read_rate": "plate events matching no plate track / plate events",
    "plate_duplicate_rate": "matched plate events / matched plate tracks",
    "face_hit_rate": "watchlist face tracks reported as that person / watchlist face tracks",
    "face_false_match_rate": "face.matched events naming a person not in view / face.matched events",
    "latency_p95_s": "95th percentile of receive time − capture_time over detection events (s)",
    "schema_validity": "messages that pass the event schemas / messages",
    "recovery_time_s": "worst time from a stream's return to the first event after it (s)",
}


class Manifest(Strict):
    format: str = Field(default=FORMAT, pattern=r"^matthan-conformance/1$")
    name: str
    description: str = ""
    clips: list[Clip] = Field(min_length=1)
    watchlist: Watchlist = Field(default_factory=Watchlist)
    matching: Matching = Field(default_factory=Matching)
    run: RunSettings = Field(default_factory=RunSettings)
    requirements: dict[str, Threshold] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Manifest:
        unknown = sorted(set(self.requirements) - set(REQUIREMENTS))
        if unknown:
            raise ValueError(f"unknown requirement {unknown[0]!r}; known: {', '.join(REQUIREMENTS)}")
        ids = [c.id for c in self.clips]
        if len(ids) != len(set(ids)):
            raise ValueError("clip ids must be unique")
        people = [p.id for p in self.watchlist.people]
        if len(people) != len(set(people)):
            raise ValueError("watchlist person ids must be unique")
        for clip in self.clips:
            if clip.interruption and clip.interruption.at_s >= clip.duration_s:
                raise ValueError(f"clip {clip.id}: interruption.at_s is not inside the clip")
        return self


class Suite:
    """A loaded, checked suite: the manifest, each clip's truth, and the sha256 of every file."""

    def __init__(self, root: Path, manifest: Manifest, truths: dict[str, ClipTruthFile]):
        self.root = root
        self.manifest = manifest
        self.truths = truths
        self._hashes: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    def path(self, relative: str) -> Path:
        return self.root / relative

    def clip(self, clip_id: str) -> Clip:
        return next(c for c in self.manifest.clips if c.id == clip_id)

    @property
    def files(self) -> dict[str, str]:
        """sha256 of every file in the suite folder, by relative path (sorted)."""
        if self._hashes is None:
            self._hashes = {
                str(p.relative_to(self.root)): sha256_file(p)
                for p in sorted(self.root.rglob("*"))
                if p.is_file()
            }
        return self._hashes

    @property
    def sha256(self) -> str:
        """The suite's identity: sha256 over the sorted (path, sha256) list of its files."""
        listing = "".join(f"{path}\0{digest}\n" for path, digest in self.files.items())
        return hashlib.sha256(listing.encode()).hexdigest()

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "root": str(self.root), "sha256": self.sha256, "files": self.files}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _where(exc: ValidationError) -> str:
    # an unknown key first: a misspelled key usually also leaves a required one missing
    first = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = (
        "unknown key"
        if first["type"] == "extra_forbidden"
        else str(first["msg"]).removeprefix("Value error, ")
    )
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {msg}{more}"


def _inside(root: Path, relative: str, what: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise SuiteError(f"{root / MANIFEST}: {what} {relative!r} lies outside the suite folder")
    if not path.is_file():
        raise SuiteError(f"{root / MANIFEST}: {what} {relative!r} does not exist")
    return path


def load_suite(root: Path) -> Suite:
    """Read and check a suite folder; SuiteError names the file and key at fault."""
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise SuiteError(f"{root}: no {MANIFEST}; is this a conformance suite folder?")
    try:
        data = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteError(f"{manifest_path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{manifest_path}: expected a mapping at the top level")
    if data.get("format") != FORMAT:
        raise SuiteError(f"{manifest_path}: format is {data.get('format')!r}; this runner reads {FORMAT!r}")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(f"{manifest_path}: {_where(exc)}") from None
    truths: dict[str, ClipTruthFile] = {}
    for clip in manifest.clips:
        _inside(root, clip.file, f"clip {clip.id} file")
        truth_path = _inside(root, clip.truth, f"clip {clip.id} truth")
        try:
            truths[clip.id] = ClipTruthFile.model_validate(json.loads(truth_path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{truth_path}: not valid JSON: {exc}") from None
        except ValidationError as exc:
            raise SuiteError(f"{truth_path}: {_where(exc)}") from None
        known = {p.id for p in manifest.watchlist.people} | {UNKNOWN}
        for face in truths[clip.id].faces:
            if face.identity not in known:
                raise SuiteError(f"{truth_path}: face identity {face.identity!r} is not in the watchlist")
    for person in manifest.watchlist.people:
        for image in person.images:
            _inside(root, image, f"watchlist image of {person.id}")
    return Suite(root, manifest, truths)


def check_media(suite: Suite, slack_s: float = 0.5) -> None:
    """Every clip must be H.264 video as long as its `duration_s` says (SuiteError otherwise): the
    RTSP server sends H.264 unchanged, and clip time wraps at `duration_s`."""
    import av

    for clip in suite.manifest.clips:
        path = suite.path(clip.file)
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise SuiteError(f"{path}: no video stream")
                stream = container.streams.video[0]
                codec = stream.codec_context.name
                frames = stream.frames
                rate = stream.average_rate or stream.guessed_rate
                if frames and rate:
                    seconds = frames / float(rate)
                elif stream.duration is not None and stream.time_base is not None:
                    seconds = float(stream.duration * stream.time_base)
                else:
                    seconds = (container.duration or 0) / 1e6
        except av.error.FFmpegError as exc:
            raise SuiteError(f"{path}: not a readable video ({exc})") from None
        if codec != "h264":
            raise SuiteError(f"{path}: video is {codec}; the suite format needs H.264")
        if abs(seconds - clip.duration_s) > slack_s:
            raise SuiteError(
                f"{suite.root / MANIFEST}: clip {clip.id} says duration_s {clip.duration_s:g} but "
                f"{clip.file} lasts {seconds:.2f} s"
            )


def write_manifest(root: Path, manifest: Manifest) -> Path:
    path = root / MANIFEST
    data = manifest.model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def write_truth(path: Path, truth: ClipTruthFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth.model_dump(mode="json", exclude_none=True), indent=1), encoding="utf-8")
