from __future__ import annotations

import pytest

from matthan.edge.redact import redact_url, scrub


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
        ("rtsp://admin:p%40ss@cam/live", "rtsp://admin:***@cam/live"),
        ("rtsp://cam/live", "rtsp://cam/live"),
        ("/videos/clip.mp4", "/videos/clip.mp4"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_scrub_removes_raw_and_decoded_password() -> None:
    url = "rtsp://admin:p%40ss@cam/live"
    text = scrub(f"error opening {url}: bad password p@ss or p%40ss", url)
    assert "p@ss" not in text and "p%40ss" not in text
    assert "rtsp://admin:***@cam/live" in text
