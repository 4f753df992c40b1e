"""The live pipeline: capture, swap and output in three threads, handing frames over through slots that hold one
frame each.

    camera ──slot──> swap (LiveSession.process) ──slot──> output (window, virtual camera, stream, file)
    thread            thread                               caller's thread (windows and keys want the main thread)

A real-time source never waits for the swap: when the swap is slower than the camera, the frame waiting in a slot is
replaced by the newer one (counted as dropped), so latency stays at about one capture interval plus one swap however
slow the swap is. A file replayed with realtime=False hands every frame on instead (nothing dropped). The run ends
when the source ends (end="ended"), the user quits (a key, Ctrl-C, or `stop()`), or no frame has arrived for `stall_timeout`
seconds or the source broke off (end="lost"); it never hangs on a source that went silent.
"""

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from kaokae import progress
from kaokae.errors import StreamLostError
from kaokae.live.camera import Camera
from kaokae.live.options import STALL_TIMEOUT
from kaokae.live.outputs import Output
from kaokae.live.session import LiveSession
from kaokae.media import Frame

STATUS_WINDOW = 30  # frames the on-screen fps and latency are averaged over


@dataclass
class _End:
    reason: str  # "ended" | "lost"
    message: str = ""


@dataclass
class _Failed:
    error: BaseException


@dataclass
class _Captured:
    frame: Frame
    at: float  # time.perf_counter() when the frame was read


class Slot:
    """A hand-over of at most one item between two threads. put() with `drop_old` replaces an item not taken yet
    (and counts it in `dropped`); without it, put() waits for the slot to empty."""

    def __init__(self, drop_old: bool):
        self.drop_old = drop_old
        self.dropped = 0
        self._item = None
        self._full = False
        self._cond = threading.Condition()

    def put(self, item, stop: threading.Event) -> bool:
        with self._cond:
            while self._full and not self.drop_old:
                if stop.is_set():
                    return False
                self._cond.wait(0.05)
            if self._full and isinstance(self._item, _Captured | tuple):
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify_all()
            return True

    def get(self, timeout: float):
        """The item, or None when nothing came within `timeout` seconds."""
        with self._cond:
            if not self._full:
                self._cond.wait(timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()
            return item


@dataclass
class LiveReport:
    end: str = "quit"  # "quit" (a key, Ctrl-C or stop()), "ended" (the source ended), "lost" (the source vanished)
    message: str = ""
    captured: int = 0  # frames read from the source
    delivered: int = 0  # frames that reached the output
    dropped: int = 0  # frames replaced before the swap or the output took them
    seconds: float = 0.0  # from the first frame read to the last delivered
    latencies: list[float] = field(default_factory=list)  # capture -> output, seconds, per delivered frame

    @property
    def fps(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    @property
    def dropped_share(self) -> float:
        return self.dropped / self.captured if self.captured else 0.0

    def latency(self, quantile: float) -> float:
        """Capture-to-output latency in seconds at this quantile (0.5: the median)."""
        if not self.latencies:
            return float("nan")
        return float(np.quantile(self.latencies, quantile))

    def summary(self) -> str:
        return (f"{self.delivered} frames shown of {self.captured} captured ({self.dropped_share:.0%} dropped), "
                f"{self.fps:.1f} fps, latency median {1000 * self.latency(0.5):.0f} ms, "
                f"p95 {1000 * self.latency(0.95):.0f} ms")


class LivePipeline:
    """`run()` drives `session` with `camera`'s frames into `output` until the source ends, the user quits or
    `stop()` is called (any thread), or the source is lost; returns a LiveReport."""

    def __init__(self, camera: Camera, session: LiveSession, output: Output, *, stall_timeout: float = STALL_TIMEOUT,
                 show_status: bool | None = None, max_frames: int | None = None):
        self.camera, self.session, self.output = camera, session, output
        self.stall_timeout = stall_timeout
        self.show_status = output.shows_status if show_status is None else show_status
        self.max_frames = max_frames  # stop after this many captured frames (tests, benchmarks)
        self.report = LiveReport()
        self._stop = threading.Event()
        self._captured_at = time.perf_counter()
        self.capture_stuck = False  # the capture thread was still in a read when the run ended

    def stop(self) -> None:
        self._stop.set()

    # ---- the threads

    def _capture(self, slot: Slot) -> None:
        try:
            for frame in self.camera:
                if self._stop.is_set():
                    return
                self._captured_at = time.perf_counter()
                self.report.captured += 1
                if not slot.put(_Captured(frame, self._captured_at), self._stop):
                    return
                if self.max_frames is not None and self.report.captured >= self.max_frames:
                    break
            slot.put(_End("ended", f"{self.camera.name} ended"), self._stop)
        except StreamLostError as e:
            slot.put(_End("lost", str(e)), self._stop)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which raises it
            slot.put(_Failed(e), self._stop)

    def _swap(self, inbox: Slot, outbox: Slot) -> None:
        try:
            while not self._stop.is_set():
                item = inbox.get(0.05)
                if item is None:
                    continue
                if not isinstance(item, _Captured):
                    outbox.put(item, self._stop)
                    return
                outbox.put((item, self.session.process(item.frame)), self._stop)
        except BaseException as e:  # noqa: BLE001
            outbox.put(_Failed(e), self._stop)

    # ---- the caller's thread

    def run(self) -> LiveReport:
        realtime = self.camera.realtime
        inbox, outbox = Slot(drop_old=realtime), Slot(drop_old=realtime)
        threads = [threading.Thread(target=self._capture, args=(inbox,), name="kaokae-capture", daemon=True),
                   threading.Thread(target=self._swap, args=(inbox, outbox), name="kaokae-swap", daemon=True)]
        report = self.report
        recent: deque[tuple[float, float]] = deque(maxlen=STATUS_WINDOW)  # (delivered at, latency)
        start = time.perf_counter()
        self._captured_at = start
        for thread in threads:
            thread.start()
        try:
            with progress.bar(desc="live", unit="frame") as bar:
                while not self._stop.is_set():
                    command = self.output.poll()
                    if command == "quit":
                        break
                    if command == "status":
                        self.show_status = not self.show_status
                    elif command is not None:
                        self.session.command(command)
                    item = outbox.get(0.01)
                    if item is None:
                        if time.perf_counter() - max(self._captured_at, start + report.seconds) > self.stall_timeout:
                            report.end, report.message = "lost", (f"--camera {self.camera.name} sent no frame "
                                                                  f"for {self.stall_timeout:g} s")
                            break
                        continue
                    if isinstance(item, _Failed):
                        raise item.error
                    if isinstance(item, _End):
                        report.end, report.message = item.reason, item.message
                        break
                    captured, image = item
                    status = _status_line(recent, self.session.swapping) if self.show_status else None
                    self.output.write(image, captured.frame, status)
                    now = time.perf_counter()
                    report.delivered += 1
                    report.latencies.append(now - captured.at)
                    report.seconds = now - start
                    recent.append((now, now - captured.at))
                    bar.update(1)
                    if report.delivered % 15 == 0:
                        bar.set_postfix_str(_status_line(recent, self.session.swapping), refresh=False)
        except KeyboardInterrupt:
            report.end = "quit"  # Ctrl-C is how a session without a window is stopped: it ends like the q key
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=2.0)  # a source stuck in a read is a daemon thread: it cannot hold the exit
            self.capture_stuck = threads[0].is_alive()
            report.dropped = inbox.dropped + outbox.dropped
        return report


def _status_line(recent: deque, swapping: bool) -> str:
    if len(recent) < 2:
        return "starting..."
    fps = (len(recent) - 1) / max(recent[-1][0] - recent[0][0], 1e-6)
    latency = statistics.median(latency for _, latency in recent)
    return f"{fps:.1f} fps  latency {1000 * latency:.0f} ms  swap {'on' if swapping else 'off'}"
