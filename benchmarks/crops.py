"""The squares each kind of model sees, drawn on real faces: kaokae's `face` square (what kaokae models train on) and
its `whole_face` square (DeepFaceLab's whole-face crop: what a .dfm takes, and what DeepFaceLive and FaceFusion feed
one), with both crops beside each frame.

    .venv/bin/python benchmarks/crops.py -o crops.png [--size 160]

The picture shows real people from the shared data folder, so it is written where you ask, never into the project.
"""

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from kaokae.faces import FaceFinder, warp_face
from kaokae.faces.align import align_matrix
from kaokae.media import open_media, write_image

DATA = Path(os.environ.get("KAOKAE_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
FACES = [("styletalk/samples/source_video/video/Obama_clip1.mp4", 40), ("edtalk/test_data/pose_source2.mp4", 300),
         ("liveportrait/assets/examples/driving/d6.mp4", 200), ("dfl_wef_pair/workspace/data_src.mp4", 100)]
COLOURS = {"face": (60, 220, 60), "whole_face": (230, 60, 230)}


def square(matrix: np.ndarray, size: int) -> np.ndarray:
    """The aligned square's corners in frame pixels."""
    back = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64) - 0.5
    return corners @ back[:, :2].T + back[:, 2]


def row(frame: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    drawn = frame.copy()
    crops = []
    for centering, colour in COLOURS.items():
        matrix = align_matrix(landmarks, size, centering)
        cv2.polylines(drawn, [np.round(square(matrix, size)).astype(np.int32)], True, colour, 2, cv2.LINE_AA)
        crop = warp_face(frame, matrix, size)
        cv2.rectangle(crop, (0, 0), (size - 1, size - 1), colour, 2)
        crops.append(crop)
    box = square(align_matrix(landmarks, size, "whole_face"), size)
    (x0, y0), (x1, y1) = np.floor(box.min(0) - 10).astype(int), np.ceil(box.max(0) + 10).astype(int)
    padded = cv2.copyMakeBorder(drawn, 400, 400, 400, 400, cv2.BORDER_CONSTANT)
    view = cv2.resize(padded[y0 + 400:y1 + 400, x0 + 400:x1 + 400], (size, size), interpolation=cv2.INTER_AREA)
    return np.hstack([view, *crops])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write (outside the project)")
    parser.add_argument("--size", type=int, default=160, help="px of each panel (default 160)")
    args = parser.parse_args()
    finder = FaceFinder(max_faces=1)
    rows = []
    for clip, index in FACES:
        if not (DATA / clip).exists():
            sys.exit(f"missing {DATA / clip} (set KAOKAE_DATA to the shared data folder)")
        with open_media(DATA / clip) as reader:
            frame = next(f.image for f in reader if f.index == index)
        faces = finder.find(frame)
        if faces:
            rows.append(row(frame, faces[0].landmarks, args.size))
    header = np.full((24, rows[0].shape[1], 3), 255, np.uint8)
    for i, text in enumerate(["frame", "face (kaokae models)", "whole_face (.dfm)"]):
        cv2.putText(header, text, (6 + i * args.size, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(args.output, np.vstack([header, *rows]))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
