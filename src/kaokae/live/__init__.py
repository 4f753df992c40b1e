"""`kaokae live`: swap a webcam, a stream or a replayed file in real time, into a window, a virtual camera, a
stream or a recording, every frame labelled (invisible watermark, and a visible "synthetic" badge by default).

    from kaokae.live import LiveOptions, live
    report = live(LiveOptions(sources=["her.jpg"], camera="0", output="window"))

    # the seam for other front ends (the web UI): one frame in, one labelled frame out
    from kaokae.live import ClassicEngine, LiveSession
    session = LiveSession(ClassicEngine(["her.jpg"]), Labeller("kaokae live", model_id))
    rgb_out = session.process(Frame(index, seconds, rgb_in))
"""

from kaokae.live.camera import Camera, open_camera, parse_size
from kaokae.live.engines import ClassicEngine, LearnedEngine, load_runner
from kaokae.live.outputs import open_output
from kaokae.live.pipeline import LivePipeline, LiveReport, Slot
from kaokae.live.run import LiveOptions, live, make_engine
from kaokae.live.session import LiveSession

__all__ = [
    "Camera", "ClassicEngine", "LearnedEngine", "LiveOptions", "LivePipeline", "LiveReport", "LiveSession", "Slot",
    "live", "load_runner", "make_engine", "open_camera", "open_output", "parse_size",
]
