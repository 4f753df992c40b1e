"""Rebuild `mean_face.py`: the 3-D mean of mediapipe face meshes over many real near-frontal faces.

    python -m kaokae.faces.build_mean_face [DATA_DIR]     (default: ../shared/data, or $KAOKAE_DATA)

Generalised Procrustes analysis in 3-D (centre, scale, rotate every mesh onto the running mean); the mean is turned
to the faces' average pose towards the camera, levelled (eye corners level and at equal depth: yaw = roll = 0, the
average pitch kept) and made left/right symmetric. Units: the outer eye corners are 1 apart. Alignment uses its
frontal (x, y); head pose uses all of it.
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


def level(mesh: np.ndarray) -> np.ndarray:
    """Turn the mesh about its vertical and viewing axes so the outer eye corners are level and at equal depth
    (yaw = roll = 0) while its pitch stays; put the eye midpoint at the origin and the corners 1 apart."""
    from kaokae.faces.landmarks import LEFT_EYE_OUTER, RIGHT_EYE_OUTER

    x = mesh[LEFT_EYE_OUTER] - mesh[RIGHT_EYE_OUTER]
    x /= np.linalg.norm(x)
    y = np.array([0.0, 1.0, 0.0]) - x * x[1]
    y /= np.linalg.norm(y)
    mesh = mesh @ np.stack([x, y, np.cross(x, y)]).T
    eyes = (mesh[LEFT_EYE_OUTER] + mesh[RIGHT_EYE_OUTER]) / 2
    return (mesh - eyes) / np.linalg.norm(mesh[LEFT_EYE_OUTER] - mesh[RIGHT_EYE_OUTER])


def average_rotation(rotations: list[np.ndarray]) -> np.ndarray:
    """The rotation nearest the mean of rotation matrices (chordal L2 mean)."""
    u, _, vt = np.linalg.svd(np.sum(rotations, 0))
    return u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt


def rotation_angle(rotation: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1))))


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
    """Meshes are in camera axes (x right, y down, z away). The mean is turned to the faces' average pose towards
    the camera and then levelled, so zero pitch is how people in real footage face a camera, not a geometric rule."""
    meshes = [normalise(m) for m in meshes]
    mean = meshes[0]
    for _ in range(2):  # first pass: every face; second pass: only faces within max_angle of the mean pose
        for _ in range(5):
            mean = normalise(np.mean([m @ kabsch(m, mean).T for m in meshes], 0))
        mean = normalise(level(mean @ average_rotation([kabsch(mean, m) for m in meshes]).T))
        meshes = [m for m in meshes if rotation_angle(kabsch(m, mean)) < max_angle]
    mirror = mirror_indices(level(mean))
    mean = level(mean)
    mean = (mean + mean[mirror] * [-1, 1, 1]) / 2
    print(f"{len(meshes)} near-frontal meshes; mirror map is its own inverse for "
          f"{(mirror[mirror] == np.arange(len(mirror))).mean():.0%} of points", file=sys.stderr)
    return level(mean)


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
