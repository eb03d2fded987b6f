"""Suite folders: what loads, what is refused with the file and key named, and the hashes."""

from __future__ import annotations

import shutil
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest
import yaml

from matthan.benchmarks.conformance.suite import SuiteError, check_media, load_suite, sha256_file

GOOD: dict[str, Any] = {
    "format": "matthan-conformance/1",
    "name": "tiny",
    "clips": [{"id": "cam1", "file": "clips/a.mp4", "truth": "truth/a.json", "duration_s": 5}],
    "watchlist": {"people": [{"id": "p1", "images": ["w/p1.jpg"]}]},
    "requirements": {"schema_validity": {"min": 1.0}},
}
TRUTH = (
    '{"plates": [{"text": "29A-123.45", "first_s": 1, "last_s": 2}],'
    ' "faces": [{"identity": "p1", "first_s": 1, "last_s": 3}]}'
)


def make(tmp_path: Path, manifest: dict[str, Any], truth: str = TRUTH) -> Path:
    for name, content in (("clips/a.mp4", b"not really a video"), ("w/p1.jpg", b"jpeg")):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    (tmp_path / "truth").mkdir(exist_ok=True)
    (tmp_path / "truth" / "a.json").write_text(truth)
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(manifest))
    return tmp_path


def changed(**top: Any) -> dict[str, Any]:
    return {**GOOD, **top}


CLIP = GOOD["clips"][0]


@pytest.mark.parametrize(
    ("manifest", "truth", "expectation"),
    [
        (GOOD, TRUTH, nullcontext()),
        (changed(format="other/2"), TRUTH, pytest.raises(SuiteError, match="format is 'other/2'")),
        (changed(requirments={}), TRUTH, pytest.raises(SuiteError, match="requirments: unknown key")),
        (
            changed(requirements={"plate_read_rat": {"min": 0.5}}),
            TRUTH,
            pytest.raises(SuiteError, match="unknown requirement 'plate_read_rat'"),
        ),
        (
            changed(requirements={"schema_validity": {"min": 1, "max": 1}}),
            TRUTH,
            pytest.raises(SuiteError, match="exactly one of min or max"),
        ),
        (
            changed(clips=[{**CLIP, "file": "../outside.mp4"}]),
            TRUTH,
            pytest.raises(SuiteError, match="outside the suite folder"),
        ),
        (
            changed(clips=[{**CLIP, "file": "clips/missing.mp4"}]),
            TRUTH,
            pytest.raises(SuiteError, match="does not exist"),
        ),
        (
            changed(clips=[{**CLIP, "interruption": {"at_s": 9, "duration_s": 1}}]),
            TRUTH,
            pytest.raises(SuiteError, match=r"interruption\.at_s is not inside the clip"),
        ),
        (GOOD, '{"plates": [{"txt": "A"}]}', pytest.raises(SuiteError, match=r"plates\.0\.txt: unknown key")),
        (
            GOOD,
            '{"faces": [{"identity": "p9", "first_s": 1, "last_s": 2}]}',
            pytest.raises(SuiteError, match="'p9' is not in the watchlist"),
        ),
        (GOOD, "{", pytest.raises(SuiteError, match="not valid JSON")),
    ],
)
def test_suite_loading(
    tmp_path: Path, manifest: dict[str, Any], truth: str, expectation: AbstractContextManager[Any]
) -> None:
    with expectation:
        suite = load_suite(make(tmp_path, manifest, truth))
        assert suite.truths["cam1"].plates[0].text == "29A-123.45"


def test_every_file_is_identified_by_sha256(tmp_path: Path) -> None:
    suite = load_suite(make(tmp_path, GOOD))
    assert set(suite.files) == {"suite.yaml", "clips/a.mp4", "truth/a.json", "w/p1.jpg"}
    assert suite.files["clips/a.mp4"] == sha256_file(tmp_path / "clips" / "a.mp4")
    before = suite.sha256
    (tmp_path / "w" / "p1.jpg").write_bytes(b"another image")
    assert load_suite(tmp_path).sha256 != before, "changing any file changes the suite's identity"


def test_a_folder_without_a_manifest_says_so(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"no suite\.yaml"):
        load_suite(tmp_path)


def test_clips_must_be_h264_and_as_long_as_the_manifest_says(bar_suite: Path, tmp_path: Path) -> None:
    check_media(load_suite(bar_suite))
    manifest = yaml.safe_load((bar_suite / "suite.yaml").read_text())
    manifest["clips"][0]["duration_s"] = 20
    copy = tmp_path / "copy"
    shutil.copytree(bar_suite, copy)
    (copy / "suite.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(SuiteError, match=r"clip bars says duration_s 20 but clips/bars\.mp4 lasts 11\.00 s"):
        check_media(load_suite(copy))
    (copy / "clips" / "bars.mp4").write_bytes(b"not a video")
    with pytest.raises(SuiteError, match="not a readable video"):
        check_media(load_suite(copy))
