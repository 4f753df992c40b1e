"""The evaluation report: one summary per system (a swap, or the source itself), as JSON, a Markdown table and a
PNG of sample faces side by side with bars of the metrics."""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kaokae import atomic, paths
from kaokae.errors import KaokaeError
from kaokae.evaluate.score import SwapScorer

FORMAT = "kaokae-evaluation"
VERSION = 1
SOURCE_ROW = "no swap"  # the source frames scored as if they were the swap: the reference row

# Which model measures what. All are independent of the swap's own models (mediapipe BlazeFace and face mesh).
MODELS = {
    "faces": "dlib HOG frontal face detector (the source frame's face; matched in the swapped frame by box overlap)",
    "landmarks": "dlib 68-point shape predictor (iBUG 300-W, shape_predictor_68_face_landmarks.dat)",
    "identity": "dlib ResNet 128-D face embedding (dlib_face_recognition_resnet_model_v1.dat); retrieval: nearest "
                "gallery centroid is B; verified: distance to B's centroid below 0.6 (dlib's same-person threshold)",
    "pose": "cv2.solvePnP of dlib's 68 landmarks (nose, eye and mouth corners) against kaokae's 3-D mean face",
    "expression": "dlib 68 landmarks: eyes and mouth after a similarity fit, mean error / outer eye-corner span",
    "reconstruction": "SSIM (Gaussian 11x11, sigma 1.5) and PSNR of the model's A->A and B->B faces",
    "flicker": "mean |frame t - frame t-1| inside the source's face box, swapped over source",
    "sharpness": "mean square of grey minus its Gaussian blur (sigma 1 px) inside the source's face box, swapped "
                 "over source (1: as sharp as the source)",
}


@dataclass
class Report:
    systems: dict[str, dict] = field(default_factory=dict)  # name -> summary (see SwapScorer.summary)
    per_frame: dict[str, list[dict]] = field(default_factory=dict)
    samples: dict[str, list] = field(default_factory=dict)  # name -> [(frame index, source face, swapped face)]
    inputs: dict = field(default_factory=dict)

    def add(self, scorer: SwapScorer, summary: dict) -> None:
        self.systems[scorer.name] = summary
        self.per_frame[scorer.name] = scorer.per_frame()
        self.samples[scorer.name] = scorer.samples

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "inputs": self.inputs, "models": MODELS,
                "systems": _finite(self.systems), "frames": self.per_frame}

    def write_json(self, path: str | Path) -> None:
        atomic.write_text(path, json.dumps(self.to_json(), indent=1) + "\n")

    def markdown(self) -> str:
        return markdown_table(self.systems)

    def write_png(self, path: str | Path, columns: int = 5) -> None:
        from kaokae.evaluate.figure import report_figure

        report_figure(self, path, columns)


def check_outputs(json_path: str | Path | None, png_path: str | Path | None, inputs=()) -> None:
    """Refuse bad output paths before minutes of work rather than after: also one that is (or holds) an input."""
    paths.check_outputs(inputs, [json_path, png_path])
    for path, suffix, option in ((json_path, ".json", "--json"), (png_path, ".png", "--png")):
        if path is None:
            continue
        path = Path(path)
        if path.suffix.lower() != suffix:
            raise KaokaeError(f"{option} {path}: the file name must end in {suffix}")
        if path.is_dir():
            raise KaokaeError(f"{option} {path} is a folder, expected a file name")


# (header, how to get it from a summary, format). Arrows say which way is better.
COLUMNS = [
    ("faces", lambda s: s["faces"], "{}"),
    ("face found in swap ↑", lambda s: s["swapped_face_detected"], "{:.0%}"),
    ("ID dist to B ↓", lambda s: s["identity"].get("distance_to_target"), "{:.3f}"),
    ("ID dist to A ↑", lambda s: s["identity"].get("distance_to_source"), "{:.3f}"),
    ("ID retrieval B ↑", lambda s: s["identity"].get("retrieval"), "{:.0%}"),
    ("verified as B ↑", lambda s: s["identity"].get("verified"), "{:.0%}"),
    ("yaw err ° ↓", lambda s: s["pose_error_deg"]["yaw"], "{:.2f}"),
    ("pitch err ° ↓", lambda s: s["pose_error_deg"]["pitch"], "{:.2f}"),
    ("roll err ° ↓", lambda s: s["pose_error_deg"]["roll"], "{:.2f}"),
    ("expression NME ↓", lambda s: s["expression_error"], "{:.4f}"),
    ("flicker (1 = source)", lambda s: s["flicker"], "{:.2f}"),
    ("sharpness (1 = source) ↑", lambda s: s.get("sharpness"), "{:.2f}"),
    ("SSIM A→A ↑", lambda s: s.get("reconstruction", {}).get("a_ssim"), "{:.3f}"),
    ("PSNR A→A dB ↑", lambda s: s.get("reconstruction", {}).get("a_psnr"), "{:.1f}"),
    ("SSIM B→B ↑", lambda s: s.get("reconstruction", {}).get("b_ssim"), "{:.3f}"),
    ("PSNR B→B dB ↑", lambda s: s.get("reconstruction", {}).get("b_psnr"), "{:.1f}"),
]


def markdown_table(systems: dict[str, dict]) -> str:
    """One row per system; a column is left out when no system has a value for it."""
    columns = [c for c in COLUMNS if any(c[1](s) is not None for s in systems.values())]
    lines = ["| system | " + " | ".join(c[0] for c in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, summary in systems.items():
        cells = [_cell(getter(summary), fmt) for _, getter, fmt in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value, fmt: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return "∞" if value > 0 else "–"
    return fmt.format(value)


def _finite(value):
    """JSON has no inf/nan: they become None (PSNR of identical faces is inf; an empty mean is nan)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value
