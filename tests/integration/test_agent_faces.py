"""Faces through the whole agent: a real video of a person (Intel's sample clip, CC BY 4.0) over
RTSP, YuNet on every analysed frame, one face event per track with a blurred snapshot."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import cv2
import pytest

from matthan.edge.agent import Agent
from matthan.integration.broker import EmbeddedBroker
from matthan.integration.rtsp_server import RtspServer
from matthan.recognizers.faces.install import INSTALLERS
from tests.conftest import shared_path
from tests.integration.kafka_helpers import EventCollector, status_of
from tests.integration.test_agent_rtsp import agent_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("gstreamer")]


def gif_to_h264(gif: Path, out: Path, loops: int = 3) -> Path:
    """The GIF as an H.264 clip at twice its size (faces large enough for the quality gates)."""
    frames = [f.to_ndarray(format="bgr24") for f in av.open(str(gif)).decode(video=0)]
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        h, w = frames[0].shape[:2]
        stream.width, stream.height, stream.pix_fmt = 2 * w, 2 * h, "yuv420p"
        stream.options = {"bf": "0", "g": "12", "preset": "ultrafast"}
        for _ in range(loops):
            for frame in frames:
                big = cv2.resize(frame, (2 * w, 2 * h))
                for packet in stream.encode(av.VideoFrame.from_ndarray(big, format="bgr24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def test_faces_in_a_real_video_give_face_events_with_blurred_snapshots(
    tmp_path: Path, broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    gif = shared_path("videos/intel-sample-videos/preview_gifs/face-demographics-walking-and-pause.gif")
    shared_path("models/yunet/yunet_s_dynamic.onnx")
    monkeypatch.setenv("MATTHAN_MODEL_STORE", str(tmp_path / "store"))
    INSTALLERS["yunet"](None)  # detection only: the embedder is not needed for unknown faces
    clip = gif_to_h264(gif, tmp_path / "people.mp4")
    with RtspServer({"/people": clip}) as server:
        config = agent_config(
            tmp_path,
            broker.bootstrap_servers,
            [{"id": "cam-faces", "url": server.url("/people")}],
            recognizers=[{"type": "faces", "watchlist_db": str(tmp_path / "none.sqlite")}],
            analysis_fps=6,
        )
        agent = Agent(config).start()
        seen = EventCollector(broker.bootstrap_servers, config.topic_prefix)
        try:
            seen.wait_for(status_of("cam-faces", "online"), 20)
            face = seen.wait_for(lambda e: e["event_type"] == "face.detected", 30)
            seen.poll(2.0)
        finally:
            agent.stop()
            seen.close()
    assert agent.producer.models.get("yunet")
    assert face["producer"]["models"]["yunet"] == agent.producer.models["yunet"]
    x1, y1, x2, y2 = face["box"]
    assert 20 < x2 - x1 < 400 and 20 < y2 - y1 < 400
    assert face["landmarks"] is not None and len(face["landmarks"]) == 5
    faces = [e for e in seen.events if e["event_type"] == "face.detected"]
    assert not any(e["event_type"] == "face.matched" for e in seen.events)
    tracks = [e["track_id"] for e in faces]
    assert len(tracks) == len(set(tracks)), "one event per face track"
    snapshot = Path(face["snapshot"]["url"].removeprefix("file://")).read_bytes()
    assert hashlib.sha256(snapshot).hexdigest() == face["snapshot"]["sha256"]
