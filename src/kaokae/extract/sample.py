"""Small helpers for the extract pipeline: a bounded, evenly spread sample of a stream, and background
prefetch."""

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class EvenSample:
    """An evenly spread sample of a stream of unknown length, in bounded memory.

    Keeps every `stride`-th item; when 2*k items are held it drops every other one and doubles the stride, so
    what it holds is always items 0, s, 2s, ... of what it has seen. `wants()` says whether the next item
    would be kept, so a caller builds the (costly) item only then.
    """

    def __init__(self, k: int):
        self.k = k
        self.stride = 1
        self.seen = 0
        self.items: list = []

    def wants(self) -> bool:
        return self.seen % self.stride == 0

    def add(self, item=None) -> None:
        """Count one item of the stream; keep `item` if `wants()` said so."""
        if self.wants():
            self.items.append(item)
            if len(self.items) >= 2 * self.k:
                self.items = self.items[::2]
                self.stride *= 2
        self.seen += 1

    def result(self) -> list:
        """At most k items, evenly spread over everything seen (first one included)."""
        n = len(self.items)
        if n <= self.k or self.k == 1:
            return list(self.items[: self.k])
        return [self.items[round(i * (n - 1) / (self.k - 1))] for i in range(self.k)]


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


def prefetch(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """Yield from `items` while a background thread fetches the next ones (at most `depth` ahead).

    Decoding video (PyAV) and detecting faces (mediapipe) both release the GIL, so on two cores this overlaps
    them. An error in the producer is raised in the consumer; stopping early stops the producer.
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

    thread = threading.Thread(target=produce, name="kaokae-prefetch", daemon=True)
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
