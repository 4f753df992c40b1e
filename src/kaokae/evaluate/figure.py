"""The report's picture: sample faces, source and every system side by side, above one bar chart per metric."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kaokae.evaluate.report import COLUMNS, SOURCE_ROW, Report  # noqa: E402
from kaokae.media import write_image  # noqa: E402
from kaokae.provenance import Labeller  # noqa: E402

# One panel per metric: (title, table columns drawn as grouped bars, y range or None for automatic).
PANELS = [
    ("identity distance to B ↓", ["ID dist to B ↓"], None),
    ("identity distance to A ↑", ["ID dist to A ↑"], None),
    ("ID retrieval / verified as B ↑", ["ID retrieval B ↑", "verified as B ↑"], (0, 1.1)),
    ("pose error ° ↓ (yaw, pitch, roll)", ["yaw err ° ↓", "pitch err ° ↓", "roll err ° ↓"], None),
    ("expression NME ↓", ["expression NME ↓"], None),
    ("flicker (1 = source)", ["flicker (1 = source)"], None),
    ("SSIM A→A ↑", ["SSIM A→A ↑"], (0, 1.1)),
    ("SSIM B→B ↑", ["SSIM B→B ↑"], (0, 1.1)),
]
PANEL_COLUMNS = 4
FIG_WIDTH = 11.0  # inches


def sample_mosaic(report: Report, columns: int) -> tuple[np.ndarray, list[str]]:
    """Rows: the source faces, then each system's swapped faces, at the same frames; returns (image, row names)."""
    names = [n for n in report.samples if n != SOURCE_ROW and report.samples[n]]
    if not names:
        names = [n for n in report.samples if report.samples[n]]
    if not names:
        return np.zeros((0, 0, 3), np.uint8), []
    frames = sorted(set.intersection(*({i for i, _, _ in report.samples[n]} for n in names)))
    if len(frames) > columns:
        frames = [frames[round(k * (len(frames) - 1) / (columns - 1))] for k in range(columns)]
    if not frames:
        return np.zeros((0, 0, 3), np.uint8), []
    by_frame = {n: {i: (src, swp) for i, src, swp in report.samples[n]} for n in names}
    shown = [n for n in names if n != SOURCE_ROW]
    rows = [[by_frame[names[0]][i][0] for i in frames]] + [[by_frame[n][i][1] for i in frames] for n in shown]
    gap = 4
    tile = rows[0][0].shape[0]
    mosaic = np.full((len(rows) * (tile + gap) - gap, len(frames) * (tile + gap) - gap, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, face in enumerate(row):
            mosaic[r * (tile + gap): r * (tile + gap) + tile, c * (tile + gap): c * (tile + gap) + tile] = face
    return mosaic, ["source"] + shown


def report_figure(report: Report, path: str | Path, columns: int = 5) -> None:
    mosaic, labels = sample_mosaic(report, columns)
    formats = {header: (getter, fmt) for header, getter, fmt in COLUMNS}
    names = list(report.systems)

    def value(header: str, name: str):
        v = formats[header][0](report.systems[name])
        return None if v is None or not np.isfinite(v) else float(v)

    panels = [p for p in PANELS if any(value(h, n) is not None for h in p[1] for n in names)]
    panel_rows = (len(panels) + PANEL_COLUMNS - 1) // PANEL_COLUMNS
    mosaic_height = 0.0 if mosaic.size == 0 else 0.7 * FIG_WIDTH * mosaic.shape[0] / mosaic.shape[1]
    fig = plt.figure(figsize=(FIG_WIDTH, mosaic_height + 2.6 * panel_rows + 0.5), dpi=100, layout="constrained")
    grid = fig.add_gridspec(panel_rows + 1, PANEL_COLUMNS,
                            height_ratios=[max(mosaic_height, 0.01)] + [2.6] * panel_rows)
    if mosaic.size:
        ax = fig.add_subplot(grid[0, :])
        ax.imshow(mosaic)
        tile = mosaic.shape[0] / len(labels)
        ax.set_yticks([(r + 0.5) * tile for r in range(len(labels))], labels)
        ax.set_xticks([])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
    colours = plt.get_cmap("tab10").colors
    for k, (title, headers, ylim) in enumerate(panels):
        ax = fig.add_subplot(grid[1 + k // PANEL_COLUMNS, k % PANEL_COLUMNS])
        width = 0.8 / len(headers)
        for j, header in enumerate(headers):
            for i, name in enumerate(names):
                v = value(header, name)
                if v is None:
                    continue
                x = i - 0.4 + width * (j + 0.5)
                ax.bar(x, v, width * 0.9, color=colours[i % 10], alpha=1.0 - 0.25 * j)
                ax.annotate(formats[header][1].format(v), (x, v), ha="center", va="bottom", fontsize=6)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        shown = [value(h, n) for h in headers for n in names if value(h, n) is not None]
        if ylim:
            ax.set_ylim(*ylim)
        elif max(shown) < 1e-6:  # all zero (a face against itself): an axis of 1e-17 would only show noise
            ax.set_ylim(0, 1)
        else:
            ax.set_ylim(bottom=0)
            ax.margins(y=0.2)
    fig.suptitle("kaokae evaluate: sample faces (source, then each system) and metrics", fontsize=10)
    fig.canvas.draw()
    rgb = np.ascontiguousarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    plt.close(fig)
    # The picture shows swapped faces: it carries the synthetic-media label like every image kaokae writes.
    labeller = Labeller("kaokae evaluate")
    write_image(path, labeller.mark(rgb), xmp=labeller.xmp)
