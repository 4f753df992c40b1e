"""kaokae (顔替え, "face swap"): extract, train, convert, classic swap, evaluate, and label every output."""

__version__ = "0.1.0"
