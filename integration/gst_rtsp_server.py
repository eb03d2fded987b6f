"""A real RTSP server for demos and tests: GStreamer's gst-rtsp-server serving H.264 files.

Run by Debian's /usr/bin/python3 (it needs the Debian packages python3-gi and
gir1.2-gst-rtsp-server-1.0), not by the project's virtual environment:

    /usr/bin/python3 gst_rtsp_server.py --port 8554 --mount /cam1=clip.mp4 [--auth user:password]

Each file is demuxed once into H.264 access units in memory and looped forever without
re-encoding; every buffer is stamped with the pipeline's running time when it is pushed, so the
stream's timestamps keep growing across loops (no reset that would confuse a client's decoder).
All clients of one mount share one pipeline, like a camera does.

SPS/PPS go in-band before every keyframe access unit (h264parse, when the file is demuxed), never
from the payloader: rtph264pay's config-interval repeats them before every IDR *slice*, which
splits a frame of several slices into broken frames on the client (regression test:
tests/integration/test_rtsp_server.py).
"""

import argparse
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def load_access_units(path):
    """Demux `path` into (bytes, is_keyframe) access units and return them with the frame duration."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 ! '
        "video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    units, stamps = [], []
    caps = None
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        caps = caps or sample.get_caps()
        ok, info = buf.map(Gst.MapFlags.READ)
        if ok:
            units.append((bytes(info.data), not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
            buf.unmap(info)
            stamps.append(buf.pts)
    bus = pipeline.get_bus()
    err = bus.pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if err is not None or not units:
        detail = err.parse_error()[0].message if err is not None else "no H.264 video"
        raise SystemExit(f"rtsp server: cannot read {path}: {detail}")
    frame_s = 1 / 25
    if caps is not None:
        ok, num, den = caps.get_structure(0).get_fraction("framerate")
        if ok and num > 0:
            frame_s = den / num
    # Start the loop at a keyframe so a client can decode from the first buffer.
    first_key = next(i for i, (_, key) in enumerate(units) if key)
    return units[first_key:], frame_s


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, units, frame_s):
        super().__init__()
        self.units, self.frame_s = units, frame_s
        self.set_shared(True)
        self.set_launch(
            "( appsrc name=src is-live=true format=time do-timestamp=false "
            "caps=video/x-h264,stream-format=byte-stream,alignment=au "
            "! rtph264pay name=pay0 pt=96 config-interval=0 )"
        )
        self.connect("media-configure", self.on_configure)

    def on_configure(self, _factory, media):
        src = media.get_element().get_child_by_name("src")
        stop = threading.Event()
        media.connect("unprepared", lambda *_: stop.set())
        threading.Thread(target=self.feed, args=(media, src, stop), daemon=True).start()

    def feed(self, media, src, stop):
        element = media.get_element()
        while element.get_clock() is None and not stop.is_set():
            time.sleep(0.01)
        clock = element.get_clock()
        start = time.monotonic()
        n = 0
        last = -1
        while not stop.is_set():
            data, key = self.units[n % len(self.units)]
            buf = Gst.Buffer.new_wrapped(data)
            running = clock.get_time() - element.get_base_time()
            last = buf.pts = buf.dts = max(running, last + 1, 0)
            buf.duration = int(self.frame_s * Gst.SECOND)
            if not key:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                break
            n += 1
            delay = start + n * self.frame_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", action="append", required=True, help="/path=FILE.mp4 (H.264)")
    parser.add_argument("--auth", help="user:password required from clients (basic auth)")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for spec in args.mount:
        path, _, file = spec.partition("=")
        units, frame_s = load_access_units(file)
        factory = LoopingFactory(units, frame_s)
        if args.auth:
            user, _, password = args.auth.partition(":")
            auth = GstRtspServer.RTSPAuth()
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
            server.set_auth(auth)
            perms = GstRtspServer.RTSPPermissions()
            perms.add_role_from_structure(
                Gst.Structure.new_from_string(
                    "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
                )
            )
            factory.set_permissions(perms)
        mounts.add_factory(path, factory)
    if server.attach(None) == 0:
        raise SystemExit(f"rtsp server: cannot listen on {args.host}:{args.port}")
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"rtsp server ready on rtsp://{args.host}:{args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
