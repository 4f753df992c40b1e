"""The contact sheet: a grid of sample aligned faces so a user sees at a glance what an extract found."""

import cv2
import numpy as np

SHEET_FACES = 48  # kept faces shown (8 columns x 6 rows)
COLUMNS = 8
TILE = 128  # pixels per face on the sheet
LABEL_HEIGHT = 14
TITLE_HEIGHT = 24
BACKGROUND = (32, 32, 32)
KEPT_LABEL = (20, 20, 20)
REJECTED_LABEL = (170, 20, 20)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def label_tile(face: np.ndarray, label: str, rejected: bool = False) -> np.ndarray:
    """A TILE x TILE face with a small label strip under it (red for rejected faces)."""
    tile = np.empty((TILE + LABEL_HEIGHT, TILE, 3), np.uint8)
    if face.shape[0] != TILE:
        face = cv2.resize(face, (TILE, TILE), interpolation=cv2.INTER_AREA)
    tile[:TILE] = face
    tile[TILE:] = REJECTED_LABEL if rejected else KEPT_LABEL
    cv2.putText(tile, label, (3, TILE + LABEL_HEIGHT - 4), FONT, 0.33, (235, 235, 235), 1, cv2.LINE_AA)
    return tile


def contact_sheet(kept: list[np.ndarray], rejected: list[np.ndarray], title: str) -> np.ndarray:
    """RGB sheet: a title line, the kept tiles in rows of COLUMNS, then (if any) one more block of rejected
    tiles."""
    return sheet_of_blocks([kept, rejected] if rejected else [kept], title)


def sheet_of_blocks(blocks: list[list[np.ndarray]], title: str) -> np.ndarray:
    """RGB sheet: a title line, then each block of tiles in rows of COLUMNS, blocks 2 px apart."""
    grids = [_grid(tiles) for tiles in blocks]
    width = COLUMNS * (TILE + 2) + 2
    height = TITLE_HEIGHT + sum(g.shape[0] for g in grids) + 2 * (len(grids) - 1)
    sheet = np.full((height, width, 3), BACKGROUND, np.uint8)
    cv2.putText(sheet, title, (6, TITLE_HEIGHT - 8), FONT, 0.42, (235, 235, 235), 1, cv2.LINE_AA)
    y = TITLE_HEIGHT
    for grid in grids:
        sheet[y:y + grid.shape[0], : grid.shape[1]] = grid
        y += grid.shape[0] + 2
    return sheet


def _grid(tiles: list[np.ndarray]) -> np.ndarray:
    h, w = TILE + LABEL_HEIGHT, TILE
    rows = max(1, -(-len(tiles) // COLUMNS))
    grid = np.full((rows * (h + 2) + 2, COLUMNS * (w + 2) + 2, 3), BACKGROUND, np.uint8)
    for k, tile in enumerate(tiles):
        y, x = 2 + (k // COLUMNS) * (h + 2), 2 + (k % COLUMNS) * (w + 2)
        grid[y:y + h, x:x + w] = tile
    return grid
