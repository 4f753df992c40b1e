"""kaokae.threads.background: the bounded producer thread that extract, convert and swap use."""

import threading

import pytest

from kaokae.threads import background


def test_background_hands_over_items_errors_and_stops_cleanly():
    closed = []

    def numbers(fail_at=None):
        try:
            for i in range(10):
                if i == fail_at:
                    raise ValueError("broken frame")
                yield i
        finally:
            closed.append(threading.current_thread().name)

    assert list(background(numbers())) == list(range(10))
    got = []
    with pytest.raises(ValueError, match="broken frame"):
        for i in background(numbers(fail_at=3)):
            got.append(i)
    assert got == [0, 1, 2]
    for _ in background(numbers()):
        break  # the consumer stops early: the producer is stopped, its generator closed in its own thread
    assert closed == ["kaokae-step"] * 3
    assert not [t for t in threading.enumerate() if t.name == "kaokae-step"]
