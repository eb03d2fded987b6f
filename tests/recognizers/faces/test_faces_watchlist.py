"""Enrol/match through the command line, open-set behaviour, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from matthan.edge.cli import main
from matthan.recognizers.faces.watchlist import UNKNOWN, WatchlistError, WatchlistStore, default_db_path

#: one person in deepface's test photos (from pairs_master.csv's "Yes" rows)
PERSON_A = ["img1.jpg", "img2.jpg", "img4.jpg", "img5.jpg", "img6.jpg", "img7.jpg", "img10.jpg", "img11.jpg"]
#: everyone else there, one photo per person
OTHERS = [
    "img3.jpg",
    "img8.jpg",
    "img13.jpg",
    "img16.jpg",
    "img18.jpg",
    "img20.jpg",
    "img22.jpg",
    "img24.jpg",
]


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.strip().splitlines()]


@pytest.fixture
def db(models: Path, deepface: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A watchlist 'vip' with person A enrolled from two photos."""
    path = tmp_path / "faces.sqlite"
    images = [str(deepface / "images" / n) for n in PERSON_A[:2]]
    assert main(["faces", "enroll", "--db", str(path), "--watchlist", "vip", "--person", "A", *images]) == 0
    enrolled = _lines(capsys.readouterr().out)
    assert [e["person"] for e in enrolled] == ["A", "A"] and all(e["quality"] >= 0.5 for e in enrolled)
    return path


def test_enrolled_person_is_matched_in_other_photos(
    db: Path, deepface: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probes = [str(deepface / "images" / n) for n in PERSON_A[2:]]
    assert main(["faces", "match", "--db", str(db), *probes]) == 0
    results = _lines(capsys.readouterr().out)
    assert [r["image"] for r in results] == probes
    for result in results:
        (face,) = result["faces"]
        assert set(face) == {"box", "person", "watchlist", "distance", "quality"}
        assert len(face["box"]) == 4
    hits = [r["faces"][0] for r in results if r["faces"][0]["person"] == "A"]
    assert len(hits) >= len(probes) - 1
    assert all(h["watchlist"] == "vip" and h["distance"] <= 0.48 for h in hits)


def test_unknown_faces_stay_unknown(db: Path, deepface: Path, capsys: pytest.CaptureFixture[str]) -> None:
    probes = [str(deepface / "images" / n) for n in [*OTHERS, "couple.jpg", "selfie-many-people.jpg"]]
    assert main(["faces", "match", "--db", str(db), *probes]) == 0
    results = _lines(capsys.readouterr().out)
    faces = [f for r in results for f in r["faces"]]
    strangers = [f for f in faces if f["person"] != "A"]
    assert len(strangers) >= len(OTHERS) + 5
    assert all(f["person"] == UNKNOWN and f["watchlist"] is None for f in strangers)
    assert all(r["faces"][0]["person"] == UNKNOWN for r in results[: len(OTHERS)])
    # couple.jpg and the selfie show person A among others: she may match there, once per photo
    assert all(sum(f["person"] == "A" for f in r["faces"]) <= 1 for r in results)


def test_blurred_crop_never_matches(
    db: Path, deepface: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression guard: a crop that fails a quality gate must not be compared at all, even when
    it shows an enrolled person (a blurred face is close to many faces)."""
    image = cv2.imread(str(deepface / "images" / PERSON_A[0]))
    blurred = tmp_path / "blurred.png"
    cv2.imwrite(str(blurred), cv2.GaussianBlur(image, (0, 0), 20))
    assert main(["faces", "match", "--db", str(db), str(blurred)]) == 0
    (result,) = _lines(capsys.readouterr().out)
    assert result["faces"], "the blurred face should still be found"
    for face in result["faces"]:
        assert face["person"] == UNKNOWN and face["distance"] is None and face["quality"] < 0.5


def test_enrol_errors_are_clear_and_enrol_nothing(
    models: Path, deepface: Path, no_face_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "faces.sqlite"
    good = str(deepface / "images" / PERSON_A[0])
    base = ["faces", "enroll", "--db", str(path), "--watchlist", "vip", "--person", "A"]

    assert main([*base, good, str(no_face_image)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{no_face_image}: no face found; nothing was enrolled" in err

    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a jpeg")
    assert main([*base, good, str(junk)]) == 2
    assert f"{junk}: not a readable image" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "absent.jpg")]) == 2
    assert "absent.jpg: no such file" in capsys.readouterr().err
    assert not path.exists() or len(WatchlistStore(path, "x" * 64, create=False)) == 0

    assert main(["faces", "enroll", "--db", str(path), "--watchlist", "vip", "--person", UNKNOWN, good]) == 2
    assert "reserved" in capsys.readouterr().err


def test_match_errors_are_clear(
    db: Path, no_face_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["faces", "match", "--db", str(db), str(no_face_image)]) == 0
    captured = capsys.readouterr()
    assert _lines(captured.out) == [{"image": str(no_face_image), "faces": []}]
    assert "no face found" in captured.err
    assert main(["faces", "match", "--db", str(db), str(tmp_path / "absent.png")]) == 2
    assert "absent.png: no such file" in capsys.readouterr().err
    missing_db = tmp_path / "none.sqlite"
    assert main(["faces", "match", "--db", str(missing_db), str(no_face_image)]) == 2
    assert "no watchlist database" in capsys.readouterr().err


def test_missing_model_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_face_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MATTHAN_MODEL_STORE", str(tmp_path / "empty-store"))
    argv = ["faces", "enroll", "--db", str(tmp_path / "w.sqlite"), "--watchlist", "w", "--person", "p"]
    assert main([*argv, str(no_face_image)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "run `matthan models install yunet`" in err


def test_store_refuses_embeddings_of_another_model(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    with WatchlistStore(path, "a" * 64) as store:
        store.enroll("w", "p", [(np.zeros(128, np.float32), 0.9, "x.jpg")])
    with pytest.raises(WatchlistError, match="another model"):
        WatchlistStore(path, "b" * 64)


def test_store_is_open_set_and_sees_new_enrolments(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    reader = WatchlistStore(path, "a" * 64, create=False)
    assert len(reader) == 0 and reader.nearest(np.zeros(128, np.float32)).person == UNKNOWN
    with WatchlistStore(path, "a" * 64) as writer:
        vector = np.zeros(128, np.float32)
        vector[0] = 1.0
        writer.enroll("w", "p", [(vector, 0.9, "x.jpg")])
    near = vector.copy()
    near[1] = 0.3
    assert reader.nearest(near, threshold=0.48).person == "p"
    far = reader.nearest(vector * -1, threshold=0.48)
    assert far.person == UNKNOWN and far.watchlist is None and far.distance == pytest.approx(2.0)
    assert reader.people() == [("w", "p", 1)]


def test_default_db_is_in_the_agent_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MATTHAN_DATA_DIR", str(tmp_path))
    assert default_db_path() == tmp_path / "faces" / "watchlists.sqlite"
    monkeypatch.delenv("MATTHAN_DATA_DIR")
    assert default_db_path().parts[-2:] == ("faces", "watchlists.sqlite")
