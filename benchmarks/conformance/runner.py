"""The black-box runner: every clip of a suite is served in real time by its own RTSP server, the
system under test (SUT) watches the camera list we write, and its events are consumed from Kafka,
validated, matched to ground truth and scored.

Clock: a clip's RTSP media starts playing when its first client connects, so a probe client of ours
connects to every mount first and records the wall time of the first packet (clip time 0); only
then is the SUT started. An interruption kills that clip's server and starts it again on the same
port; the probe reconnects at once, so the clip plays again from 0 (a new segment).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import av

from matthan.benchmarks.conformance.scoring import Message, Score, Segment, Timeline, score
from matthan.benchmarks.conformance.suite import Suite
from matthan.integration import events
from matthan.integration.broker import EmbeddedBroker, free_port
from matthan.integration.kafka import KafkaSettings, ensure_topics, make_consumer
from matthan.integration.rtsp_server import RtspServer

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def stderr_progress(line: str) -> None:
    print(f"conformance: {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Camera:
    """One entry of the camera list handed to the SUT: the camera id is the clip id."""

    id: str
    url: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "url": self.url}


class SystemUnderTest(Protocol):
    """What the runner needs from a SUT: start watching the cameras, publish events, stop."""

    name: str

    def start(self, cameras: list[Camera], bootstrap: str, topic_prefix: str, work: Path) -> None: ...

    def stop(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class CommandSut:
    """A vendor's system started as a command; it reads the camera list from the environment
    (MATTHAN_CONFORMANCE_CAMERAS: a JSON file), KAFKA bootstrap and topic prefix likewise, and is
    stopped with SIGTERM."""

    def __init__(self, command: str):
        self.name = "command"
        self.command = command
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, cameras: list[Camera], bootstrap: str, topic_prefix: str, work: Path) -> None:
        env = {
            **os.environ,
            "MATTHAN_CONFORMANCE_CAMERAS": str(work / "cameras.json"),
            "MATTHAN_CONFORMANCE_BOOTSTRAP": bootstrap,
            "MATTHAN_CONFORMANCE_TOPIC_PREFIX": topic_prefix,
        }
        out = (work / "sut.log").open("ab")
        self._proc = subprocess.Popen(
            self.command, shell=True, env=env, stdout=out, stderr=out, start_new_session=True
        )
        out.close()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()

    def describe(self) -> dict[str, Any]:
        return {"sut": "command", "command": self.command}


class NoSut:
    """The SUT runs elsewhere and watches the camera list by itself."""

    name = "external"

    def start(self, cameras: list[Camera], bootstrap: str, topic_prefix: str, work: Path) -> None:
        pass

    def stop(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"sut": "external"}


def slice_nal(data: bytes, annex_b: bool) -> bytes | None:
    """The first coded slice NAL unit (type 1 or 5) of an access unit, in AVCC or Annex-B framing."""
    nals: list[bytes] = []
    if annex_b:
        nals = [n.lstrip(b"\x00") for n in data.split(b"\x00\x00\x01") if n]
    else:
        i = 0
        while i + 4 <= len(data):
            size = int.from_bytes(data[i : i + 4], "big")
            nals.append(data[i + 4 : i + 4 + size])
            i += 4 + size
    for nal in nals:
        if nal and nal[0] & 0x1F in (1, 5):
            return nal.rstrip(b"\x00")
    return None


def frame_index(clip: Path) -> tuple[dict[bytes, int | None], float]:
    """sha1 of each frame's first slice → its frame number (None where two frames are identical),
    and the frame period: the RTSP server sends the file's access units unchanged, so a received
    packet tells exactly which frame of the clip is playing."""
    index: dict[bytes, int | None] = {}
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        period = 1.0 / float(rate) if rate else 0.04
        for n, packet in enumerate(p for p in container.demux(stream) if p.size):
            nal = slice_nal(bytes(packet), annex_b=False)
            if nal is not None:
                key = hashlib.sha1(nal).digest()
                index[key] = None if key in index else n
    return index, period


class Probe:
    """Our own RTSP client on one mount: it starts the shared media and records when each play
    begins and ends; it reconnects at once when the stream goes away. Packets are only demuxed,
    never decoded, so it costs almost nothing. The start of a play is the arrival of a packet the
    clip file identifies (see `frame_index`) minus that frame's time in the clip, so the media's
    own start-up delay does not shift clip time."""

    def __init__(self, url: str, timeline: Timeline, clip: Path):
        self.url = url
        self.timeline = timeline
        self.index, self.period = frame_index(clip)
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"probe-{timeline.clip_id}", daemon=True)

    def start(self) -> Probe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                container = av.open(
                    self.url, options={"rtsp_transport": "tcp", "fflags": "nobuffer"}, timeout=(3.0, 3.0)
                )
            except (av.error.FFmpegError, OSError):
                self._stop.wait(0.1)
                continue
            try:
                stream = container.streams.video[0]
                anchored = False
                for packets, packet in enumerate(container.demux(stream)):
                    now = time.time()
                    if packets == 0:
                        with self._lock:
                            self.timeline.segments.append(Segment(now, float("inf")))
                        self.connected.set()
                    if not anchored and packets < 200 and packet.size:
                        nal = slice_nal(bytes(packet), annex_b=True)
                        n = self.index.get(hashlib.sha1(nal).digest()) if nal else None
                        if n is not None:
                            with self._lock:
                                self.timeline.segments[-1].start = now - n * self.period
                            anchored = True
                    if self._stop.is_set():
                        break
            except (av.error.FFmpegError, OSError, IndexError):
                pass  # the stream went away (or had no video): reconnect
            finally:
                container.close()
                self.end_segment(time.time())

    def end_segment(self, at: float) -> None:
        with self._lock:
            if self.timeline.segments and self.timeline.segments[-1].end == float("inf"):
                self.timeline.segments[-1].end = at


@dataclass
class Collector:
    """Consumes every message on the prefix's topics in a thread, stamping each with its receive time."""

    bootstrap: str
    prefix: str
    since: float
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collector", daemon=True)
        self._consumer = make_consumer(
            KafkaSettings(bootstrap_servers=self.bootstrap),
            *events.topics(self.prefix),
            group_id=None,
            metadata_max_age_ms=1000,
        )

    def start(self) -> Collector:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for records in self._consumer.poll(timeout_ms=200).values():
                    now = time.time()
                    for rec in records:
                        # a shared cluster may hold earlier runs' messages on these topics
                        if rec.timestamp is not None and 0 < rec.timestamp / 1000 < self.since:
                            continue
                        msg = Message.check(rec.topic, rec.key, rec.value, list(rec.headers or []), now)
                        with self.lock:
                            self.messages.append(msg)
        finally:
            self._consumer.close()

    def count(self) -> tuple[int, int]:
        with self.lock:
            return len(self.messages), sum(1 for m in self.messages if not m.valid)

    def stop(self) -> list[Message]:
        self._stop.set()
        self._thread.join(15)
        with self.lock:
            return list(self.messages)


@dataclass
class RunResult:
    suite: Suite
    score: Score
    timelines: dict[str, Timeline]
    messages: list[Message]
    cameras: list[Camera]
    sut: dict[str, Any]
    started: float
    finished: float
    topic_prefix: str
    bootstrap: str


def run_suite(
    suite: Suite,
    sut: SystemUnderTest,
    work: Path,
    *,
    bootstrap: str | None = None,
    topic_prefix: str = "matthan.",
    rtsp_port_base: int | None = None,
    progress: Progress = stderr_progress,
    tick_s: float = 5.0,
) -> RunResult:
    """Serve the suite to `sut` once and score what arrives on Kafka."""
    work.mkdir(parents=True, exist_ok=True)
    man = suite.manifest
    broker: EmbeddedBroker | None = None
    servers: dict[str, RtspServer] = {}
    probes: dict[str, Probe] = {}
    collector: Collector | None = None
    sut_started = False
    timelines = {c.id: Timeline(c.id, c.duration_s) for c in man.clips}
    started = time.time()
    try:
        if bootstrap is None:
            broker = EmbeddedBroker(log_path=work / "broker.log").start()
            bootstrap = broker.bootstrap_servers
            progress(f"embedded broker on {bootstrap}")
        settings = KafkaSettings(bootstrap_servers=bootstrap)
        ensure_topics(settings, events.topics(topic_prefix))
        collector = Collector(bootstrap, topic_prefix, since=started - 1.0).start()

        cameras: list[Camera] = []
        for i, clip in enumerate(man.clips):
            port = rtsp_port_base + i if rtsp_port_base else free_port()
            server = RtspServer(
                {f"/{clip.id}": suite.path(clip.file)}, port=port, log_path=work / f"rtsp-{clip.id}.log"
            ).start()
            servers[clip.id] = server
            cameras.append(Camera(clip.id, server.url(f"/{clip.id}")))
        (work / "cameras.json").write_text(json.dumps([c.as_dict() for c in cameras], indent=1))
        progress(f"{len(cameras)} RTSP streams up; camera list in {work / 'cameras.json'}")

        for camera in cameras:
            probes[camera.id] = Probe(
                camera.url, timelines[camera.id], suite.path(suite.clip(camera.id).file)
            ).start()
        for camera in cameras:
            if not probes[camera.id].connected.wait(20):
                raise RuntimeError(f"the RTSP stream of clip {camera.id} did not start ({camera.url})")
        time.sleep(0.5)  # the probes identify the frame playing (normally the first packet already)
        t0 = {cid: tl.segments[0].start for cid, tl in timelines.items()}
        for clip in man.clips:
            progress(
                f"clip {clip.id}: playing ({clip.duration_s:.0f} s; {', '.join(clip.conditions) or '-'})"
            )

        progress(f"starting the system under test ({sut.name}) on topics {topic_prefix}*")
        sut.start(cameras, bootstrap, topic_prefix, work)
        sut_started = True

        run_end = max(t0.values()) + max(c.duration_s for c in man.clips) + man.run.tail_s
        killed: dict[str, float] = {}
        returned: set[str] = set()
        next_tick = time.time() + tick_s
        while (now := time.time()) < run_end:
            for clip in man.clips:
                gap = clip.interruption
                if gap is None:
                    continue
                if clip.id not in killed and now >= t0[clip.id] + gap.at_s:
                    servers[clip.id].kill()
                    killed[clip.id] = now
                    probes[clip.id].end_segment(now)
                    progress(f"clip {clip.id}: stream interrupted for {gap.duration_s:.0f} s")
                elif (
                    clip.id in killed and clip.id not in returned and now >= killed[clip.id] + gap.duration_s
                ):
                    servers[clip.id].start()
                    back = time.time()
                    timelines[clip.id].returns.append(back)
                    returned.add(clip.id)
                    progress(f"clip {clip.id}: stream back")
            if now >= next_tick:
                n, bad = collector.count()
                progress(f"t={now - min(t0.values()):.0f}s events={n} invalid={bad}")
                next_tick += tick_s
            time.sleep(0.1)

        stop_at = time.time()
        progress("streams done; stopping the system under test")
        for probe in probes.values():
            probe.end_segment(stop_at)
        sut.stop()
        sut_started = False
        for probe in probes.values():
            probe.stop()
        for server in servers.values():
            server.stop()
        progress(f"waiting {man.run.drain_s:.0f} s for late events")
        time.sleep(man.run.drain_s)
        messages = collector.stop()
        collector = None
        for tl in timelines.values():
            for seg in tl.segments:
                seg.end = min(seg.end, stop_at)
        progress(f"scoring {len(messages)} messages")
        result = score(suite, timelines, messages)
        return RunResult(
            suite,
            result,
            timelines,
            messages,
            cameras,
            sut.describe(),
            started,
            time.time(),
            topic_prefix,
            bootstrap,
        )
    finally:
        if sut_started:
            sut.stop()
        for probe in probes.values():
            probe.stop()
        for server in servers.values():
            server.stop()
        if collector is not None:
            collector.stop()
        if broker is not None:
            broker.stop()
