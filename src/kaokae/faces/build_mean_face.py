"""Rebuild `mean_face.py`: the 3-D mean of mediapipe face meshes over many real near-frontal faces.

    python -m kaokae.faces.build_mean_face [DATA_DIR]     (default: ../shared/data, or $KAOKAE_DATA)

Generalised Procrustes analysis in 3-D (centre, scale, rotate every mesh onto the running mean), then the mean is
made left/right symmetric and put upright and frontal: eye corners level and at equal depth (yaw = roll = 0), forehead
and chin at equal depth (pitch = 0). Units: the outer eye corners are 1 apart. Alignment uses its frontal (x, y);
head pose uses all of it.
"""

import os
import sys
from pathlib import Path

import numpy as np

VIDEOS = [  # talking heads: many identities; a few frames from each
    "dfl_wef_pair/workspace/data_src.mp4", "dfl_wef_pair/workspace/data_dst.mp4",
    "edtalk/test_data/mouth_source.mp4", "edtalk/test_data/pose_source2.mp4", "edtalk/test_data/uncrop_Obama.mp4",
    "liveportrait/assets/examples/driving/d10.mp4", "liveportrait/assets/examples/driving/d14.mp4",
    "liveportrait/assets/examples/driving/d9.mp4", "real3dportrait/data/raw/examples/May_5s.mp4",
    "styletalk/samples/source_video/video/KristiNoem.mp4", "styletalk/samples/source_video/video/reagan_clip1.mp4",
    "video_retalking/examples/face/1.mp4", "video_retalking/examples/face/2.mp4",
    "video_retalking/examples/face/3.mp4", "video_retalking/examples/face/4.mp4",
    "video_retalking/examples/face/5.mp4", "hieubkvn123_face_recognition/videos/biden.mp4",
]
IMAGE_DIRS = ["deepface/tests/unit/dataset", "face_recognition/examples/knn_examples/train"]
FRAMES_PER_VIDEO = 12


def mirror_indices(mesh: np.ndarray) -> np.ndarray:
    """For every point, the index of its mirror image (x -> -x) in a roughly symmetric, centred mesh."""
    mirrored = mesh * [-1, 1, 1]
    return np.argmin(((mesh[None, :, :] - mirrored[:, None, :]) ** 2).sum(-1), axis=1)


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R (3x3) minimising |src @ R.T - dst| for centred point sets."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1, 1, d]) @ vt


def normalise(mesh: np.ndarray) -> np.ndarray:
    mesh = mesh - mesh.mean(0)
    return mesh / np.linalg.norm(mesh)


def make_frontal(mesh: np.ndarray) -> np.ndarray:
    """Rotate so the eye line is the x axis (level, equal depth) and forehead/chin are at equal depth."""
    from kaokae.faces.landmarks import CHIN, FOREHEAD, LEFT_EYE_OUTER, RIGHT_EYE_OUTER

    x = mesh[LEFT_EYE_OUTER] - mesh[RIGHT_EYE_OUTER]
    x /= np.linalg.norm(x)
    down = mesh[CHIN] - mesh[FOREHEAD]
    y = down - x * (down @ x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    mesh = (mesh - mesh.mean(0)) @ np.stack([x, y, z]).T
    eyes = (mesh[LEFT_EYE_OUTER] + mesh[RIGHT_EYE_OUTER]) / 2
    return (mesh - eyes) / np.linalg.norm(mesh[LEFT_EYE_OUTER] - mesh[RIGHT_EYE_OUTER])


def collect(data_dir: Path) -> list[np.ndarray]:
    import cv2

    from kaokae.faces.finder import FaceFinder

    meshes = []
    with FaceFinder(max_faces=1) as finder:
        def add(rgb):
            detections = finder.detect(rgb)
            if detections:
                mesh = finder.landmarks_for(rgb, max(detections, key=lambda d: d.score), depth=True)
                if mesh is not None:
                    meshes.append(mesh.astype(np.float64))

        for video in VIDEOS:
            capture = cv2.VideoCapture(str(data_dir / video))
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            for index in np.linspace(0, count - 1, FRAMES_PER_VIDEO).astype(int):
                capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
                ok, bgr = capture.read()
                if ok:
                    add(bgr[:, :, ::-1].copy())
        for folder in IMAGE_DIRS:
            for path in sorted((data_dir / folder).rglob("*")):
                if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                    bgr = cv2.imread(str(path))
                    if bgr is not None:
                        add(bgr[:, :, ::-1].copy())
    return meshes


def mean_face(meshes: list[np.ndarray], max_angle: float = 20.0) -> np.ndarray:
    meshes = [normalise(m) for m in meshes]
    mean = meshes[0]
    for _ in range(2):  # first pass: everything; second pass: only near-frontal faces
        for _ in range(5):
            aligned = [m @ kabsch(m, mean).T for m in meshes]
            mean = normalise(np.mean(aligned, 0))
        mean = make_frontal(mean)
        angles = [np.degrees(np.arccos(np.clip((np.trace(kabsch(normalise(m), normalise(mean))) - 1) / 2, -1, 1)))
                  for m in meshes]
        meshes = [m for m, a in zip(meshes, angles, strict=True) if a < max_angle]
    mirror = mirror_indices(mean)
    mean = (mean + mean[mirror] * [-1, 1, 1]) / 2
    print(f"{len(meshes)} near-frontal meshes; mirror map is its own inverse for "
          f"{(mirror[mirror] == np.arange(len(mirror))).mean():.0%} of points", file=sys.stderr)
    return make_frontal(mean)


def main() -> None:
    default = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KAOKAE_DATA", default)).resolve()
    mean = mean_face(collect(data_dir))
    rows = ",\n".join(f"    [{x:.4f}, {y:.4f}, {z:.4f}]" for x, y, z in mean)
    text = (f'"""Generated by `python -m kaokae.faces.build_mean_face`: the 3-D mean mediapipe face mesh (478 points), '
            f'frontal and\nupright, x right, y down, z away from the camera; outer eye corners at (-0.5, 0, 0) and '
            f'(0.5, 0, 0)."""\n\nimport numpy as np\n\nMEAN_FACE = np.array([\n{rows},\n], dtype=np.float32)\n')
    target = Path(__file__).with_name("mean_face.py")
    target.write_text(text)
    print(f"wrote {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
