"""The live swap as one object: a frame in, a labelled frame out. The command-line pipeline drives it from its swap
thread; the web UI can drive it from a browser's webcam frames the same way.

    session = LiveSession(ClassicEngine(["her.jpg"]), Labeller("kaokae live", model_id))
    out = session.process(Frame(index, seconds, rgb))     # swapped, badge, invisible watermark
    session.command("swap")                               # any thread: applied before the next frame
"""

import threading

import cv2
import numpy as np

from kaokae.media import Frame
from kaokae.progress import info
from kaokae.provenance import Labeller

COMMANDS = ("swap", "source")  # toggle the swap on and off; pin the next source photo
BADGE_TEXT = "synthetic"


def _badge_layout(height: int, width: int) -> tuple[float, int, int, int, tuple[int, int, int, int]]:
    scale = max(height, 240) / 720 * 0.6
    thickness = max(1, round(scale * 2))
    (text_w, text_h), base = cv2.getTextSize(BADGE_TEXT, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(3, round(6 * scale))
    x1, y1 = width - pad, height - pad
    return scale, thickness, pad, base, (max(0, x1 - text_w - 2 * pad), max(0, y1 - text_h - base - 2 * pad), x1, y1)


def badge_box(height: int, width: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the badge on a frame of this size."""
    return _badge_layout(height, width)[-1]


def draw_badge(rgb: np.ndarray) -> None:
    """A small "synthetic" label in the bottom-right corner, in place: white on a darkened box, sized to the frame."""
    scale, thickness, pad, base, (x0, y0, x1, y1) = _badge_layout(*rgb.shape[:2])
    box = rgb[y0:y1, x0:x1]
    box[:] = (box.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darkened, so the text reads on any background
    cv2.putText(rgb, BADGE_TEXT, (x0 + pad, y1 - pad - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                thickness, cv2.LINE_AA)


def draw_status(rgb: np.ndarray, line: str) -> None:
    """The fps/latency line in the top-left corner, in place."""
    scale = max(rgb.shape[0], 240) / 720 * 0.6
    thickness = max(1, round(scale * 2))
    origin = (round(10 * scale / 0.6), round(30 * scale / 0.6))
    cv2.putText(rgb, line, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(rgb, line, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


class LiveSession:
    """Swaps, badges and watermarks one frame at a time. `swapping=False` passes frames through unswapped (still
    labelled: the output as a whole is synthetic). The visible badge is on unless `badge=False`; the watermark
    follows the labeller (on unless the user turned it off)."""

    def __init__(self, engine, labeller: Labeller, badge: bool = True):
        self.engine, self.labeller, self.badge = engine, labeller, badge
        self.swapping = True
        self.source: str | None = None  # what the last "source" command chose (None: never cycled)
        self._commands: list[str] = []
        self._lock = threading.Lock()

    def command(self, name: str) -> None:
        """Queue "swap" (toggle it) or "source" (next photo); safe from any thread."""
        if name not in COMMANDS:
            raise ValueError(f"unknown live command {name!r}")
        with self._lock:
            self._commands.append(name)

    def _apply_commands(self) -> None:
        with self._lock:
            commands, self._commands = self._commands, []
        for name in commands:
            if name == "swap":
                self.swapping = not self.swapping
                info(f"swap {'on' if self.swapping else 'off'}")
            else:
                chosen = self.source = self.engine.next_source()
                info(f"source: {chosen}" if chosen else "only one source: nothing to cycle")

    def process(self, frame: Frame) -> np.ndarray:
        self._apply_commands()
        image = self.engine.swap(frame) if self.swapping else frame.image
        if self.badge:
            if image is frame.image:
                image = image.copy()
            draw_badge(image)
        return self.labeller.mark(image)

    def close(self) -> None:
        self.engine.close()
