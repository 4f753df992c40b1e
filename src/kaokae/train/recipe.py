"""What `kaokae train` (and the demo) pick for what the command line leaves open: architecture, size, width and batch
for the budget and the device, the configuration that wins benchmarks/time_to_quality.py there (numbers in
docs/benchmarks.md)."""

from dataclasses import dataclass

SMALL_BUDGET_MINUTES = 30  # up to this many CPU minutes the small model wins; longer runs get the published size


@dataclass(frozen=True)
class Recipe:
    architecture: str
    size: int  # px
    width: float  # channel multiplier
    batch_size: int
    detail: float = 0.0  # TrainConfig.detail, the loss on image gradients
    warp_end: float = 1.0  # TrainConfig.warp_end, the warp's strength left at the plan's end

    def describe(self) -> str:
        return f"{self.architecture} {self.size} px, width {self.width:g}, batch {self.batch_size}"

    def settings(self) -> dict:
        """The training settings (TrainConfig fields) a new folder takes from the recipe."""
        return {"batch_size": self.batch_size, "detail": self.detail, "warp_end": self.warp_end}


def pick(device_type: str, minutes: float | None) -> Recipe:
    """The recipe for a run on `device_type` ("cpu" or "cuda") with a budget of `minutes` (None: no time budget)."""
    if device_type == "cuda":
        return Recipe("hd", 128, 1.0, 32)  # benchmarks/quality.py's GPU configuration (no GPU yardstick run yet)
    if minutes is not None and minutes <= SMALL_BUDGET_MINUTES:
        # the detail loss won on both pairs at 3 minutes; the warp easing to nothing on both at 5-8 minutes
        return Recipe("original", 64, 0.25, 8, detail=1.0, warp_end=0.0)
    return Recipe("original", 64, 1.0, 16)  # the 2017 published size: hours on a CPU, what long runs are for
