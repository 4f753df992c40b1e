"""The options of `kaokae evaluate` (what to evaluate, --model/--swapped/--source/--target/--gallery, are its
inputs)."""

from dataclasses import dataclass
from pathlib import Path

from kaokae.options import option


@dataclass
class EvaluateOptions:
    start: float = option(0.0, "evaluate from this time in the source, seconds", minimum=0, metavar="SEC")
    frames: int = option(150, "evaluate N consecutive frames, 0 for all (~0.3-0.6 s each on one CPU core)",
                         minimum=0, metavar="N")
    device: str = option("auto", "where the model runs with --model: auto (a GPU when there is one), cpu, cuda, "
                                 "cuda:N, mps", metavar="DEVICE")
    json: Path | None = option(None, "write the full report (summaries and per-frame values) as JSON",
                               metavar="FILE", default_help="none")
    png: Path | None = option(None, "write sample faces side by side and bars of the metrics as PNG",
                              metavar="FILE", default_help="none")
    reference_row: bool = option(True, "score the source frames against themselves in a 'no swap' row (costs a "
                                       "third of the time)", flag="--no-reference-row")
