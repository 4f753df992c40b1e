"""The Live tab's server side: the browser's webcam frames in, swapped and labelled frames out, through the same
engine, labeller and badge as `kaokae live` (kaokae.live.run.make_engine / make_session and LiveSession).

The page posts one JPEG frame at a time and waits for the answer before it sends the next, so when the swap is
slower than the camera the frames in between are never sent: latency stays one round trip, with no queue. One live
session runs at a time; a new start replaces one only when it has had no frame for IDLE_S (a tab closed without
stopping). The watermark cannot be turned off here: every frame that leaves the server carries it.

    POST /api/live/start    {"sources": [photos] | "model": folder, "options": {...}, "width", "height", "fps"}
    POST /api/live/frame?session=ID   body: a JPEG; answer: the labelled JPEG (X-Kaokae-Swap: on|off)
    POST /api/live/command  {"session": ID, "command": "swap" | "source"}
    POST /api/live/stop     {"session": ID}
"""

import io
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kaokae.errors import KaokaeError
from kaokae.media import Frame
from kaokae.media.image import is_image_path
from kaokae.options import OptionError, check
from kaokae.ui import forms
from kaokae.ui.workspace import Workspace, sniff

MAX_FRAME_BYTES = 8 * 1024**2
MAX_FRAME_PIXELS = 3840 * 2160
JPEG_QUALITY = 90  # the watermark reads back from a single frame at 80 and above (tests/test_ui_live.py)
IDLE_S = 15.0
# Options that belong to a camera, an output or a file, not to frames from a browser; the watermark stays on.
NOT_HERE = {"camera", "output", "realtime", "stall_timeout", "overwrite", "watermark", "c2pa_cert", "c2pa_key"}


def form() -> list[dict]:
    """The Live tab's fields: `kaokae live`'s typed options that apply to frames from a browser."""
    from kaokae.live.options import LiveOptions

    return [f for f in forms.form(LiveOptions) if f["name"] not in NOT_HERE]


def parse_options(raw: dict, sources: list[Path], model: Path | None):
    from kaokae.live.options import LiveOptions

    for name in raw:
        if name in NOT_HERE:
            raise OptionError(name, "is not an option of the Live tab")
    if bool(sources) == (model is not None):
        raise KaokaeError("choose source photos (the classic swap) or a model (a learned swap), one of the two")
    options = forms.parse(LiveOptions, raw)
    options.sources, options.model = sources, model
    check(options)  # again, with the inputs: a classic swap refuses a negative erode
    return options


@dataclass
class Running:
    id: str
    session: object  # kaokae.live.LiveSession
    size: tuple[int, int]
    started: float = field(default_factory=time.monotonic)
    last_frame: float = field(default_factory=time.monotonic)
    frames: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)  # the engine runs one frame at a time


def decode_jpeg(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """RGB of a JPEG from the page, its size checked from the header before decoding, fitted to the session's."""
    from PIL import Image

    if sniff(data[:16]) != "jpeg":
        raise KaokaeError("a live frame must be a JPEG image")
    try:
        width, height = Image.open(io.BytesIO(data)).size
    except Exception:  # noqa: BLE001 - any unreadable header is the same one line
        raise KaokaeError("a live frame is not a readable JPEG") from None
    if width * height > MAX_FRAME_PIXELS:
        raise KaokaeError(f"a live frame of {width}x{height} is larger than 3840x2160")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise KaokaeError("a live frame is not a readable JPEG")
    if (bgr.shape[1], bgr.shape[0]) != size:
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise KaokaeError("could not encode the live frame")
    return buffer.tobytes()


class LiveManager:
    """The one live session of a `kaokae ui` process."""

    def __init__(self, workspace: Workspace):
        self.ws = workspace
        self.running: Running | None = None
        self.guard = threading.Lock()  # start, stop and replace

    def start(self, data: dict) -> dict:
        from kaokae.live.run import make_engine, make_session

        sources = [self.ws.existing(s, "source") for s in (data.get("sources") or [])]
        for source in sources:
            if not source.is_file() or not is_image_path(source):
                raise KaokaeError(f"source {self.ws.relative(source)}: give photos (.jpg, .png...) as live sources")
        model = self.ws.existing(data["model"], "model") if data.get("model") else None
        options = parse_options(dict(data.get("options") or {}), sources, model)
        options.only = [self.ws.existing(str(p), "--only") for p in options.only]
        width, height = options.frame_size() or (data.get("width"), data.get("height"))
        size = (_whole(width, "width"), _whole(height, "height"))
        fps = data.get("fps") or 30
        if not isinstance(fps, (int, float)) or not 1 <= fps <= 240:
            raise KaokaeError(f"the camera's frame rate {fps!r} is not a number from 1 to 240")
        with self.guard:
            self._make_room()
            engine = make_engine(options, float(fps), size)
            try:
                session = make_session(options, engine)
            except BaseException:
                engine.close()
                raise
            running = self.running = Running(secrets.token_hex(8), session, size)
        return {"session": running.id, "width": size[0], "height": size[1],
                "engine": "classic" if options.sources else "learned",
                "sources": [self.ws.relative(s) for s in sources], "model": self.ws.relative(model) if model else None,
                "model_id": engine.model_id, "badge": session.badge, "watermark": session.labeller.watermarker is not None}

    def _make_room(self) -> None:
        running = self.running
        if running is None:
            return
        idle = time.monotonic() - running.last_frame
        if idle < IDLE_S:
            raise KaokaeError(f"a live session is already running (in another tab?): stop it there, or it ends "
                              f"{IDLE_S:g} s after its last frame")
        self._close(running)

    def _close(self, running: Running) -> None:
        with running.lock:
            running.session.close()
        if self.running is running:
            self.running = None

    def get(self, session_id: object) -> Running:
        running = self.running
        if running is None or session_id != running.id:
            raise KaokaeError("this live session has ended: start it again")
        return running

    def frame(self, session_id: object, data: bytes) -> tuple[bytes, dict]:
        running = self.get(session_id)
        rgb = decode_jpeg(data, running.size)
        with running.lock:
            if self.running is not running:
                raise KaokaeError("this live session has ended: start it again")
            start = time.perf_counter()
            seconds = time.monotonic() - running.started
            out = running.session.process(Frame(running.frames, seconds, rgb))
            running.frames += 1
            running.last_frame = time.monotonic()
            swapping, source = running.session.swapping, running.session.source
            taken = time.perf_counter() - start
        return encode_jpeg(out), {"X-Kaokae-Swap": "on" if swapping else "off",
                                  "X-Kaokae-Swap-Ms": f"{1000 * taken:.1f}",
                                  "X-Kaokae-Source": _header_text(source or "")}

    def command(self, session_id: object, name: object) -> dict:
        running = self.get(session_id)
        if name not in ("swap", "source"):
            raise KaokaeError(f"unknown live command {name!r} (swap or source)")
        running.session.command(name)
        return {"ok": True}

    def stop(self, session_id: object) -> dict:
        with self.guard:
            running = self.running
            if running is not None and (session_id is None or session_id == running.id):
                self._close(running)
        return {"stopped": True}

    def close(self) -> None:
        self.stop(None)


def _header_text(text: str) -> str:
    return text.encode("ascii", "replace").decode()  # a photo's name in a header: latin-1 only


def _whole(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 16 <= value <= 3840:
        raise KaokaeError(f"the camera's {name} {value!r} is not a number of pixels from 16 to 3840")
    return value


def routes(manager: LiveManager, api, body) -> list[Route]:
    """The Live tab's routes; `api` wraps a handler as the app's JSON endpoint (errors as one line), `body` reads
    the app's JSON-only request body."""
    from kaokae.ui.app import NotJson, TooLarge  # here, not above: the app imports this module

    async def live_form(request: Request):
        return {"options": form()}

    async def start(request: Request):
        return await run_in_threadpool(manager.start, await body(request))

    async def frame(request: Request):
        if request.headers.get("content-type") != "image/jpeg":  # not a form another site could post
            raise NotJson("send the live frame as image/jpeg")
        too_big = TooLarge(f"a live frame is larger than {MAX_FRAME_BYTES // 1024**2} MB")
        if int(request.headers.get("content-length") or 0) > MAX_FRAME_BYTES:
            raise too_big
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_FRAME_BYTES:  # longer than its Content-Length said
                raise too_big
        image, headers = await run_in_threadpool(manager.frame, request.query_params.get("session"), bytes(data))
        return Response(image, media_type="image/jpeg", headers={**headers, "Cache-Control": "no-store"})

    async def command(request: Request):
        data = await body(request)
        return manager.command(data.get("session"), data.get("command"))

    async def stop(request: Request):
        data = await body(request)
        return await run_in_threadpool(manager.stop, data.get("session"))

    return [Route("/api/live/form", api(live_form)),
            Route("/api/live/start", api(start), methods=["POST"]),
            Route("/api/live/frame", api(frame), methods=["POST"]),
            Route("/api/live/command", api(command), methods=["POST"]),
            Route("/api/live/stop", api(stop), methods=["POST"])]
