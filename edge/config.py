"""The agent's YAML configuration, parsed into pydantic models that forbid unknown keys.

A typo fails at start with one line naming the bad key's path, e.g.
`agent.yaml: cameras.0.analysis_fsp: unknown key`.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from matthan.edge.sightings import SightingSettings
from matthan.integration.kafka import KafkaSettings

#: Recogniser backends by config `type`: "module:ConfigClass:BackendClass". A backend is one
#: module implementing matthan.recognizers.base.Recognizer; its config model forbids extra keys.
BACKENDS: dict[str, str] = {
    "plates": "matthan.recognizers.plates.detector:PlatesConfig:PlateDetector",
    "faces": "matthan.recognizers.faces.backend:FacesConfig:FacesRecognizer",
}


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line naming the key."""


def backend_classes(type_name: str) -> tuple[type[BaseModel], type[Any]]:
    """The (config model, recogniser class) registered for `type_name`."""
    try:
        module_name, config_name, backend_name = BACKENDS[type_name].split(":")
    except KeyError:
        raise ValueError(
            f"unknown recogniser type {type_name!r}; known: {', '.join(sorted(BACKENDS))}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"recogniser type {type_name!r} is not available in this install: {exc}") from None
    try:
        return getattr(module, config_name), getattr(module, backend_name)
    except AttributeError as exc:
        raise ValueError(f"recogniser type {type_name!r} is incomplete in this install: {exc}") from None


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CameraDefaults(StrictModel):
    """Settings every camera takes unless it overrides them."""

    analysis_fps: float = Field(default=10.0, gt=0, le=60)
    open_timeout_s: float = Field(default=5.0, gt=0, le=120)
    read_timeout_s: float = Field(default=5.0, gt=0, le=120)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=3.0, gt=0)
    recognizers: list[Any] = Field(default_factory=list)
    tracking: SightingSettings = Field(default_factory=SightingSettings)

    @field_validator("recognizers", mode="before")
    @classmethod
    def _parse_recognizers(cls, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("must be a list of recognisers, each with a `type`")
        parsed = []
        for i, item in enumerate(value):
            if isinstance(item, BaseModel):
                parsed.append(item)
                continue
            if isinstance(item, str):
                item = {"type": item}
            if not isinstance(item, dict) or "type" not in item:
                raise ValueError(f"item {i} needs a `type` ({', '.join(sorted(BACKENDS))})")
            config_cls, _ = backend_classes(str(item["type"]))
            try:
                parsed.append(config_cls.model_validate(item))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"item {i} ({item['type']}): {where}: {_describe(first)}") from None
        return parsed


class CameraConfig(StrictModel):
    """One camera. Keys left out take the values under `defaults`."""

    id: str
    url: str
    enabled: bool = True
    analysis_fps: float | None = Field(default=None, gt=0, le=60)
    open_timeout_s: float | None = Field(default=None, gt=0, le=120)
    read_timeout_s: float | None = Field(default=None, gt=0, le=120)
    recognizers: list[Any] | None = None
    tracking: SightingSettings | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not CAMERA_ID.match(value):
            raise ValueError(
                "camera id must be 1-64 letters, digits, '.', '_' or '-' and start with a letter or digit"
            )
        return value

    @field_validator("recognizers", mode="before")
    @classmethod
    def _parse_recognizers(cls, value: Any) -> list[Any] | None:
        return None if value is None else CameraDefaults._parse_recognizers(value)


class ResolvedCamera(StrictModel):
    """A camera with every default applied: what a camera worker runs with."""

    id: str
    url: str
    analysis_fps: float
    open_timeout_s: float
    read_timeout_s: float
    reconnect_min_s: float
    reconnect_max_s: float
    recognizers: list[Any]
    tracking: SightingSettings


class StorageSettings(StrictModel):
    """The agent's disk: the event spool and best-shot snapshots under `data_dir`."""

    quota_mb: float = Field(default=2048, gt=0, description="spool + snapshots; snapshots are dropped first")
    snapshots: bool = True
    blur_unmatched_faces: bool = Field(default=True, description="blur faces that matched no watchlist")


class HttpSettings(StrictModel):
    """Prometheus /metrics, /healthz, /readyz and /snapshots on one port."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535, description="0 picks a free port")
    public_url: str | None = Field(
        default=None, description="how the centre reaches this port, for snapshot URLs"
    )


class AgentConfig(StrictModel):
    """The whole agent file."""

    agent_id: str = "edge-1"
    data_dir: Path = Path("var/agent")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topic_prefix: str = Field(default="matthan.", pattern=r"^[A-Za-z0-9._-]*$")
    heartbeat_s: float = Field(default=10.0, gt=0)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    defaults: CameraDefaults = Field(default_factory=CameraDefaults)
    cameras: list[CameraConfig] = Field(min_length=1)

    @field_validator("agent_id")
    @classmethod
    def _check_agent_id(cls, value: str) -> str:
        return CameraConfig._check_id(value)

    @model_validator(mode="after")
    def _unique_ids(self) -> AgentConfig:
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} appears twice")
            seen.add(cam.id)
        return self

    def resolved_cameras(self) -> list[ResolvedCamera]:
        d = self.defaults
        return [
            ResolvedCamera(
                id=c.id,
                url=c.url,
                analysis_fps=c.analysis_fps or d.analysis_fps,
                open_timeout_s=c.open_timeout_s or d.open_timeout_s,
                read_timeout_s=c.read_timeout_s or d.read_timeout_s,
                reconnect_min_s=d.reconnect_min_s,
                reconnect_max_s=d.reconnect_max_s,
                recognizers=c.recognizers if c.recognizers is not None else d.recognizers,
                tracking=c.tracking or d.tracking,
            )
            for c in self.cameras
            if c.enabled
        ]


def _describe(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key missing"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_config(data: Any, source: str = "config") -> AgentConfig:
    """Validate a loaded YAML document; raise ConfigError with one line naming the first bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level")
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        # an unknown key first: a misspelled key usually also leaves a required one missing
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {where}: {_describe(first)}{more}") from None


def load_config(path: Path) -> AgentConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config(data, str(path))
