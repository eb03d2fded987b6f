"""Agent configuration: unknown keys fail at start with one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from matthan.edge.config import ConfigError, load_config, parse_config

CAM = {"id": "cam-1", "url": "rtsp://127.0.0.1:8554/x"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cameras": [{**CAM, "analysis_fsp": 3}]}, "cameras.0.analysis_fsp: unknown key"),
        ({"camera": [CAM]}, "camera: unknown key"),
        ({"cameras": [CAM], "kafka": {"bootstrap": "x"}}, "kafka.bootstrap: unknown key"),
        (
            {"cameras": [CAM], "defaults": {"analysis_fps": -1}},
            "defaults.analysis_fps: Input should be greater",
        ),
        ({"cameras": [{"url": "rtsp://x"}]}, "cameras.0.id: required key missing"),
        ({"cameras": [CAM, CAM]}, "camera id 'cam-1' appears twice"),
        ({"cameras": [{**CAM, "id": "bad id/.."}]}, "cameras.0.id: camera id must be"),
        ({"cameras": []}, "cameras: List should have at least 1 item"),
        (
            {"cameras": [CAM], "defaults": {"recognizers": [{"type": "plate"}]}},
            "unknown recogniser type 'plate'",
        ),
        ({"cameras": [CAM], "defaults": {"recognizers": [{"model": "x"}]}}, "item 0 needs a `type`"),
        ({"cameras": [CAM], "kafka": {"security_protocol": "TLS"}}, "kafka.security_protocol"),
        ([CAM], "expected a mapping"),
    ],
)
def test_bad_config_names_the_key(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "agent.yaml")
    text = str(info.value)
    assert text.startswith("agent.yaml")
    assert message in text
    assert "\n" not in text


def test_defaults_apply_per_camera_unless_overridden() -> None:
    config = parse_config(
        {
            "defaults": {"analysis_fps": 4, "read_timeout_s": 2},
            "cameras": [
                CAM,
                {**CAM, "id": "cam-2", "analysis_fps": 10},
                {**CAM, "id": "off", "enabled": False},
            ],
        }
    )
    cams = {c.id: c for c in config.resolved_cameras()}
    assert set(cams) == {"cam-1", "cam-2"}
    assert cams["cam-1"].analysis_fps == 4 and cams["cam-2"].analysis_fps == 10
    assert cams["cam-2"].read_timeout_s == 2
    assert config.kafka.embedded


def test_yaml_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("cameras:\n  - id: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def _matthan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matthan.edge", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_rejects_misspelled_key_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "agent_id: edge-1\ncameras:\n  - id: cam-1\n    url: rtsp://127.0.0.1:1/x\n    analysis_fsp: 5\n"
    )
    result = _matthan("agent", "--config", str(bad))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cameras.0.analysis_fsp: unknown key" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_check_accepts_the_example(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "agent.example.yaml"
    result = _matthan("agent", "--config", str(example), "--check")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_help_lists_the_commands() -> None:
    result = _matthan("--help")
    assert result.returncode == 0
    for command in ("agent", "demo", "watch", "models", "eval"):
        assert command in result.stdout
