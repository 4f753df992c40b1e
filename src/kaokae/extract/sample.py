"""A bounded, evenly spread sample of a stream (the contact sheet's faces)."""


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
