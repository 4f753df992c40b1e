"""Overlapping a pipeline's steps (extract, convert, swap): each step is a generator running in its own thread, handing its results to the
next through a bounded queue. Decoding, face finding, the model, compositing and encoding then all run at once, and
memory stays flat however long the video is (at most `depth` items wait between two steps)."""

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def background(items: Iterable[T], depth: int = 4, name: str = "kaokae-step") -> Iterator[T]:
    """Yield from `items` while a thread computes the next ones (at most `depth` ahead).

    An error in the thread is raised here, in the consumer; when the consumer stops early (an error further down, or
    Ctrl-C) the thread is told to stop and is joined, so no thread outlives the pipeline.
    """
    fifo: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                fifo.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            put(_Failed(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator upstream stops (and closes its own thread) in this thread

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = fifo.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
