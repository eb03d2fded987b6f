"""The one-line reasons a camera goes offline: decided by FFmpeg's error, never by digits in the URL."""

from __future__ import annotations

import av
import pytest

from matthan.edge.source import explain

# A port and a path that hold "401" and "404": the old text match read them as the reason.
URL_401_PORT = "rtsp://viewer:s3cret@127.0.0.1:34011/cam"
URL_404_PATH = "rtsp://viewer:s3cret@127.0.0.1:8554/404-gate"


def ffmpeg_error(cls: type[av.error.FFmpegError], message: str, url: str) -> av.error.FFmpegError:
    return cls(1, message, url)


@pytest.mark.parametrize(
    ("cls", "message", "url", "expected"),
    [
        (av.error.HTTPNotFoundError, "Server returned 404 Not Found", URL_401_PORT, "stream not found"),
        (av.error.HTTPUnauthorizedError, "Server returned 401 Unauthorized", URL_404_PATH, "authentication"),
        (av.error.HTTPForbiddenError, "Server returned 403 Forbidden", URL_401_PORT, "forbidden"),
        (av.error.ConnectionRefusedError, "Connection refused", URL_401_PORT, "connection refused"),
        (av.error.InvalidDataError, "Invalid data found when processing input", URL_401_PORT, "not a video"),
        (av.error.ExitError, "Immediate exit requested", URL_404_PATH, "no data from the stream"),
        (av.error.TimeoutError, "Connection timed out", URL_404_PATH, "no data from the stream"),
    ],
)
def test_reason_comes_from_the_error_not_from_the_url(
    cls: type[av.error.FFmpegError], message: str, url: str, expected: str
) -> None:
    reason = explain(ffmpeg_error(cls, message, url), url)
    assert expected in reason
    assert "s3cret" not in reason


def test_unknown_errors_keep_ffmpegs_text_without_the_password() -> None:
    exc = ffmpeg_error(av.error.UndefinedError, "Something odd happened", URL_401_PORT)
    reason = explain(exc, URL_401_PORT)
    assert "Something odd happened" in reason
    assert "s3cret" not in reason
    assert "authentication" not in reason


def test_a_stall_is_reported_as_a_stall_whatever_the_error() -> None:
    exc = ffmpeg_error(av.error.HTTPNotFoundError, "Server returned 404 Not Found", URL_404_PATH)
    assert explain(exc, URL_404_PATH, stalled=True).startswith("no data from the stream")


def test_plain_python_errors_are_matched_on_their_text() -> None:
    assert "unreachable" in explain(OSError("Network is unreachable"), URL_401_PORT)
