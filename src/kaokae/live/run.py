"""`kaokae live`: set up the camera, the swap, the label and the output, run the pipeline, report."""

from kaokae.errors import KaokaeError, StreamLostError
from kaokae.faces.options import DetectOptions
from kaokae.live.camera import open_camera
from kaokae.live.engines import ClassicEngine, LearnedEngine
from kaokae.live.options import LiveOptions
from kaokae.live.outputs import KEY_HELP, WindowOutput, open_output, recording_path
from kaokae.live.pipeline import LivePipeline, LiveReport
from kaokae.live.session import LiveSession
from kaokae.options import check
from kaokae.paths import check_outputs
from kaokae.progress import info
from kaokae.provenance import Labeller


def make_engine(options: LiveOptions, fps: float, size: tuple[int, int]):
    """The classic swap for source photos, the learned one for a model."""
    common = dict(only=options.only, threshold=options.threshold, blend=options.blend, colour=options.colour,
                  erode=options.erode, feather=options.feather, smooth=options.smooth, fps=fps,
                  detect=DetectOptions(options.detector, options.max_faces, options.min_size, options.min_score,
                                       options.redetect_every, options.smooth))
    if options.sources:
        return ClassicEngine(options.sources, **common)
    return LearnedEngine(options.model, direction=options.direction, device=options.device,
                         precision=options.precision, runtime=options.runtime, size=size, **common)


def make_session(options: LiveOptions, engine) -> LiveSession:
    """The engine with `kaokae live`'s label (watermark naming the engine's model) and badge: one frame in, one
    labelled frame out (the command line and the web UI's Live tab both run this)."""
    labeller = Labeller("kaokae live", model_id=engine.model_id, watermark=options.watermark,
                        c2pa_cert=options.c2pa_cert, c2pa_key=options.c2pa_key,
                        model_names=getattr(engine, "model_names", None))
    return LiveSession(engine, labeller, badge=options.badge)


def live(options: LiveOptions, engine=None) -> LiveReport:
    """Run a live session until the source ends or the user quits. Raises StreamLostError (exit 1) after the
    session has been closed cleanly (a recording is kept) when the camera vanished. `engine`: a ready engine
    (benchmarks, tests); by default one is made from the options."""
    if bool(options.sources) == (options.model is not None):
        raise KaokaeError("give either --source PHOTO... (the classic swap) or -m MODEL (a trained model)")
    check(options)
    check_outputs([options.camera, *options.sources, options.model, *options.only, options.c2pa_cert,
                   options.c2pa_key],
                  [recording_path(options.output)])
    camera = open_camera(options.camera, options.frame_size(), options.realtime, timeout=options.stall_timeout)
    pipeline = None
    try:
        engine = engine or make_engine(options, camera.fps, camera.size)
        session = make_session(options, engine)
        labeller = session.labeller
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
