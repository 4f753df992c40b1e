"""`kaokae live`: swap a webcam, a stream or a replayed file in real time, into a window, a virtual camera, a
stream or a recording, every frame labelled (invisible watermark, and a visible "synthetic" badge by default).

    from kaokae.live import LiveOptions, live
    report = live(LiveOptions(sources=["her.jpg"], camera="0", output="window"))

    # the seam for other front ends (the web UI): one frame in, one labelled frame out
    from kaokae.live import ClassicEngine, LiveSession
    session = LiveSession(ClassicEngine(["her.jpg"]), Labeller("kaokae live", model_id))
    rgb_out = session.process(Frame(index, seconds, rgb_in))
"""

from kaokae import lazy

# OpenCV, mediapipe and PyTorch load on first use, not when the CLI reads the option definitions (kaokae.live.options)
__getattr__, __all__ = lazy.exports("kaokae.live", {
    "camera": ["Camera", "open_camera", "parse_size"],
    "engines": ["ClassicEngine", "LearnedEngine", "load_runner"],
    "options": ["LiveOptions"],
    "outputs": ["open_output"],
    "pipeline": ["LivePipeline", "LiveReport", "Slot"],
    "run": ["live", "make_engine", "make_session"],
    "session": ["LiveSession"],
})
