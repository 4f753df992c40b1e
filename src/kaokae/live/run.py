"""`kaokae live`: set up the camera, the swap, the label and the output, run the pipeline, report."""

from dataclasses import dataclass, field
from pathlib import Path

from kaokae.errors import KaokaeError, StreamLostError
from kaokae.faces.identity import DEFAULT_THRESHOLD
from kaokae.live.camera import open_camera
from kaokae.live.engines import ClassicEngine, LearnedEngine
from kaokae.live.outputs import KEY_HELP, WindowOutput, open_output
from kaokae.live.pipeline import STALL_TIMEOUT, LivePipeline, LiveReport
from kaokae.live.session import LiveSession
from kaokae.progress import info
from kaokae.provenance import Labeller


@dataclass
class LiveOptions:
    sources: list[Path] = field(default_factory=list)  # classic swap from these photos, or
    model: Path | None = None  # a trained model folder
    camera: str = "0"  # camera number, /dev/videoN, stream URL or video file
    size: tuple[int, int] | None = None  # (width, height); None: a webcam is asked for 1280x720, others keep theirs
    output: str = "window"  # window | virtualcam[:DEVICE] | none | stream URL | video file
    realtime: bool = True  # a file is replayed at its own frame rate (dropping frames the swap cannot keep up with)
    only: list[Path] = field(default_factory=list)
    threshold: float = DEFAULT_THRESHOLD
    blend: str = "poisson"
    colour: str = "lab"
    smooth: bool = True
    direction: str = "a2b"
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "torch"  # what runs a model folder (kaokae.convert.model.RUNTIMES)
    badge: bool = True  # the visible "synthetic" badge (the invisible watermark follows `watermark`)
    watermark: bool = True
    c2pa_cert: Path | None = None
    c2pa_key: Path | None = None
    overwrite: bool = False
    stall_timeout: float = STALL_TIMEOUT
    max_frames: int | None = None


def make_engine(options: LiveOptions, fps: float, size: tuple[int, int]):
    """The classic swap for source photos, the learned one for a model."""
    common = dict(only=options.only, threshold=options.threshold, blend=options.blend, colour=options.colour,
                  smooth=options.smooth, fps=fps)
    if options.sources:
        return ClassicEngine(options.sources, **common)
    return LearnedEngine(options.model, direction=options.direction, device=options.device,
                         precision=options.precision, runtime=options.runtime, size=size, **common)


def live(options: LiveOptions, engine=None) -> LiveReport:
    """Run a live session until the source ends or the user quits. Raises StreamLostError (exit 1) after the
    session has been closed cleanly (a recording is kept) when the camera vanished. `engine`: a ready engine
    (benchmarks, tests); by default one is made from the options."""
    if bool(options.sources) == (options.model is not None):
        raise KaokaeError("give either --source PHOTO... (the classic swap) or -m MODEL (a trained model)")
    if not 0 < options.threshold < 2:
        raise KaokaeError(f"--threshold must be between 0 and 2 (dlib's same-person line is 0.6), got {options.threshold}")
    camera = open_camera(options.camera, options.size, options.realtime, timeout=options.stall_timeout)
    pipeline = None
    try:
        engine = engine or make_engine(options, camera.fps, camera.size)
        labeller = Labeller("kaokae live", model_id=engine.model_id, watermark=options.watermark,
                            c2pa_cert=options.c2pa_cert, c2pa_key=options.c2pa_key,
                            model_names=getattr(engine, "model_names", None))
        session = LiveSession(engine, labeller, badge=options.badge)
        try:
            with open_output(options.output, camera.size, camera.fps, labeller, options.overwrite) as output:
                pace = "replayed at its frame rate" if camera.kind == "file" and camera.realtime else camera.kind
                info(f"live: {camera.name} ({camera.size[0]}x{camera.size[1]}, {camera.fps:g} fps, {pace}) -> "
                     f"{options.output}" + (f"; {KEY_HELP}" if isinstance(output, WindowOutput) else "; Ctrl-C stops"))
                pipeline = LivePipeline(camera, session, output, stall_timeout=options.stall_timeout,
                                        max_frames=options.max_frames)
                report = pipeline.run()
        finally:
            session.close()
    finally:
        if pipeline is None or not pipeline.capture_stuck:
            camera.close()  # not under a thread still reading from it; the process ends soon after anyway
    if report.end == "lost":
        raise StreamLostError(f"{report.message}; {report.summary()}")
    info(("stream ended: " if report.end == "ended" else "") + report.summary())
    return report
