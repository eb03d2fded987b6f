"""A camera source: decodes an RTSP stream (or a file) through FFmpeg (PyAV) in its own thread,
keeps only the newest frame, and reconnects with backoff when the stream dies.

Status changes (online / stalled / offline) are reported through a callback, with a one-line
reason that never contains the stream's password.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import av
import numpy as np
import numpy.typing as npt

from matthan.edge.redact import redact_url, scrub

log = logging.getLogger(__name__)

ONLINE, STALLED, OFFLINE, STARTING = "online", "stalled", "offline", "starting"

#: Codecs of real camera streams and video files. FFmpeg also "decodes" text files (as ANSI art)
#: and the like into frames; those are not cameras.
VIDEO_CODECS = frozenset(
    {"h264", "hevc", "mjpeg", "mpeg4", "mpeg2video", "mpeg1video", "h263", "vp8", "vp9", "av1", "rawvideo"}
)


@dataclass(frozen=True)
class Frame:
    """One decoded frame and when it was captured (wall clock, seconds since the epoch)."""

    seq: int
    image: npt.NDArray[np.uint8]  # BGR, H x W x 3
    capture_time: float
    decoded_at: float
    decode_s: float = 0.0  # time spent decoding this frame's packet and converting it to BGR


@dataclass(frozen=True)
class StatusChange:
    camera_id: str
    status: str
    previous: str
    reason: str
    stream: dict[str, Any] | None
    reconnects: int


@dataclass
class SourceStats:
    decoded_frames: int = 0
    taken_frames: int = 0
    reconnects: int = 0
    corrupt_frames: int = 0
    last_error: str | None = None
    stream: dict[str, Any] | None = field(default=None)


def open_options(url: str) -> dict[str, str]:
    """FFmpeg options: RTSP over TCP, and almost no probing: the stream's parameters come in the
    SDP, and probing would hold the first frame back by about a second (0.07 s instead of 1.1 s
    measured against our RTSP server)."""
    if url.startswith(("rtsp://", "rtsps://")):
        return {
            "rtsp_transport": "tcp",
            "probesize": "32",
            "analyzeduration": "0",
            "max_delay": "500000",
        }
    return {}


NO_DATA = "no data from the stream within the timeout (camera frozen or network down)"
AUTH_FAILED = "authentication failed: check the user name and password in the camera URL"
FORBIDDEN = "access forbidden: this user may not view that stream"
NOT_FOUND = "stream not found: check the path in the camera URL"
REFUSED = "connection refused: nothing listens at that host and port"
UNREACHABLE = "host unreachable: check the address and the network"
NOT_VIDEO = "not a video stream: the URL answers but FFmpeg finds no decodable video"

#: reasons by the failure's exception class, tried first, in order
_REASON_BY_CLASS: tuple[tuple[type[BaseException], str], ...] = (
    (TimeoutError, NO_DATA),
    (av.error.HTTPUnauthorizedError, AUTH_FAILED),
    (av.error.HTTPForbiddenError, FORBIDDEN),
    (av.error.HTTPNotFoundError, NOT_FOUND),
    (ConnectionRefusedError, REFUSED),
)
#: then by words in the error's message (never the URL), in order
_REASON_BY_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("immediate exit", "timed out"), NO_DATA),
    (("401", "unauthorized"), AUTH_FAILED),
    (("404", "not found"), NOT_FOUND),
    (("connection refused",), REFUSED),
    (("no route", "unreachable", "name or service", "resolve"), UNREACHABLE),
    (("invalid data", "no video"), NOT_VIDEO),
)


def explain(exc: BaseException, url: str, stalled: bool = False) -> str:
    """A one-line, password-free reason for a stream failure that tells the installer what to check.

    The exception's class decides first; words are matched only in FFmpeg's message without the URL,
    whose port or path may hold "401", "404" or "refused" by chance."""
    if stalled:
        return NO_DATA
    for cls, reason in _REASON_BY_CLASS:
        if isinstance(exc, cls):
            return reason
    message = exc.strerror if isinstance(exc, av.error.FFmpegError) and exc.strerror else str(exc)
    low = scrub(message, url).lower()
    for words, reason in _REASON_BY_WORDS:
        if any(word in low for word in words):
            return reason
    if isinstance(exc, av.error.InvalidDataError):
        return NOT_VIDEO
    return scrub(f"{type(exc).__name__}: {exc}", url)[:300]


class CameraSource:
    """Reads `url` in a daemon thread. `latest()` returns the newest frame not yet taken."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 3.0,
        on_status: Callable[[StatusChange], None] | None = None,
        realtime_files: bool = True,
    ):
        self.camera_id = camera_id
        self.url = url
        self.safe_url = redact_url(url)
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.on_status = on_status
        self.realtime_files = realtime_files
        self.status = STARTING
        self.stats = SourceStats()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- consumer side -------------------------------------------------------------------------
    def latest(self, timeout_s: float) -> Frame | None:
        """The newest frame decoded since the last call, waiting up to `timeout_s` for one."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._latest is None and not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame, self._latest = self._latest, None
            if frame is not None:
                self.stats.taken_frames += 1
            return frame

    @property
    def skipped_frames(self) -> int:
        """Frames decoded but never analysed (the analyser only takes the newest)."""
        return max(0, self.stats.decoded_frames - self.stats.taken_frames)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> CameraSource:
        self._thread = threading.Thread(target=self._run, name=f"source-{self.camera_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _set_status(self, status: str, reason: str) -> None:
        if status == self.status:
            return
        previous, self.status = self.status, status
        change = StatusChange(
            self.camera_id, status, previous, reason, self.stats.stream, self.stats.reconnects
        )
        level = logging.INFO if status == ONLINE else logging.WARNING
        log.log(level, "camera %s %s: %s", self.camera_id, status, reason)
        if self.on_status is not None:
            try:
                self.on_status(change)
            except Exception:  # a failing listener must not kill the reader
                log.exception("status listener failed for camera %s", self.camera_id)

    def _run(self) -> None:
        backoff = self.reconnect_min_s
        attempts = 0
        while not self._stop.is_set():
            if attempts:
                self.stats.reconnects += 1
            attempts += 1
            try:
                got_frames = self._read_stream()
                if got_frames:
                    backoff = self.reconnect_min_s
                if self._stop.is_set():
                    break
                if got_frames:
                    self._set_status(OFFLINE, "stream ended: the source closed the connection")
                else:
                    self._set_status(
                        OFFLINE, "not a video stream: the source opened but gave no decodable frame"
                    )
            except Exception as exc:  # every failure of FFmpeg or the network ends in a reconnect
                if self._stop.is_set():
                    break
                stalled = self.status == ONLINE and isinstance(exc, (av.error.ExitError, TimeoutError))
                reason = explain(exc, self.url, stalled=stalled)
                self.stats.last_error = reason
                self._set_status(STALLED if stalled else OFFLINE, reason)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.reconnect_max_s)

    def _read_stream(self) -> bool:
        """Decode until the stream ends or fails; True if any frame arrived."""
        container = av.open(
            self.url,
            options=open_options(self.url),
            timeout=(self.open_timeout_s, self.read_timeout_s),
        )
        got = False
        try:
            stream = container.streams.video[0] if container.streams.video else None
            if stream is None or stream.codec_context.name not in VIDEO_CODECS:
                return False
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else None
            is_file = not self.url.startswith(
                ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://")
            )
            anchor: tuple[float, float] | None = None  # (wall clock, stream time) of the reference frame
            for packet in container.demux(stream):
                if self._stop.is_set():
                    break
                started = time.perf_counter()
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    self.stats.corrupt_frames += 1  # a corrupt packet: skip it, keep the stream
                    continue
                for vf in frames:
                    now = time.time()
                    t = float(vf.time) if vf.time is not None else None
                    if t is None or anchor is None or abs(anchor[0] + (t - anchor[1]) - now) > 2.0:
                        anchor = (now, t if t is not None else 0.0)
                    capture = anchor[0] + ((t - anchor[1]) if t is not None else 0.0)
                    if is_file and self.realtime_files and capture > now:
                        # a file plays at its own pace, like a camera would
                        self._stop.wait(capture - now)
                    image = cast(npt.NDArray[np.uint8], vf.to_ndarray(format="bgr24"))
                    if not got:
                        got = True
                        self.stats.stream = {
                            "codec": stream.codec_context.name,
                            "width": int(vf.width),
                            "height": int(vf.height),
                            "fps": fps,
                        }
                        self._set_status(
                            ONLINE, f"receiving {vf.width}x{vf.height} {stream.codec_context.name}"
                        )
                    self.stats.decoded_frames += 1
                    frame = Frame(
                        self.stats.decoded_frames, image, capture, time.time(), time.perf_counter() - started
                    )
                    with self._cond:
                        self._latest = frame
                        self._cond.notify_all()
        finally:
            container.close()
        return got
