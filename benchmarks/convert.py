"""Convert speed at 720p: frames per second of `kaokae convert` with the `original` and `hd` models, through PyTorch
(the precision convert picks, and fp32) and through ONNX Runtime (the same weights exported by `kaokae export`), next
to the decode + encode speed of the same clip measured in the same run (the ceiling: convert can only be slower).

    .venv/bin/python benchmarks/convert.py [--frames 60] [--devices cpu cuda] [--clip PATH]

The models have their published sizes (original 64 px, hd 128 px, width 1.0) with untrained weights: speed does not
depend on what the weights are. Also prints where a frame's time goes (faces, model, paste) measured step by step.
Goal on a GPU: convert at >= 0.5 of decode + encode.
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kaokae.convert import ConvertOptions, convert
from kaokae.convert.geometry import model_input
from kaokae.convert.locate import DetectedFaces, DetectOptions
from kaokae.convert.model import open_model
from kaokae.convert.paste import PasteOptions, model_matrix, paste_face
from kaokae.export import export_model
from kaokae.media import VideoWriter, open_media, probe
from kaokae.media.tools import copy_first_frames
from kaokae.progress import set_quiet
from kaokae.train.checkpoint import ModelConfig, save_checkpoint, write_config
from kaokae.train.models import MODELS, build_model

DATA = Path(os.environ.get("KAOKAE_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
CLIP = DATA / "hieubkvn123_face_recognition/videos/biden.mp4"  # 1280x720, 30 fps, AAC
FACE_SIZE = 256
SETTINGS = {"crf": 18, "preset": "veryfast"}


def make_model(folder: Path, architecture: str) -> Path:
    """A model folder with the architecture's published size and fresh weights."""
    config = MODELS[architecture].Config.scaled()
    model = build_model(architecture, config)
    write_config(folder, ModelConfig(architecture, json.loads(json.dumps(dataclasses.asdict(config))), FACE_SIZE,
                                     "face", {}, {"consent": "benchmark weights, no one's face"}))
    optimizer = torch.optim.AdamW(model.parameters())
    save_checkpoint(folder, model, optimizer, {"iteration": 0})
    return folder


def decode_encode(clip: Path, dest: Path) -> float:
    start = time.perf_counter()
    info = probe(clip)
    with open_media(clip) as reader, VideoWriter(dest, info.fps, audio_from=clip, time_base=info.time_base,
                                                 **SETTINGS) as writer:
        for frame in reader:
            writer.write(frame.image, time=frame.time)
    return info.frame_count / (time.perf_counter() - start)


def steps(clip: Path, model_dir: Path, device: str, precision: str = "auto") -> dict[str, float]:
    """Milliseconds per frame of each step run alone, one after the other (no overlap)."""
    info = probe(clip)
    model = open_model(model_dir, "a2b", device, precision, runtime="torch")
    with open_media(clip) as reader:
        frames = list(reader)
    locate = DetectedFaces(info, model.face_size, model.centering, DetectOptions())
    t0 = time.perf_counter()
    found = [locate(frame) for frame in frames]
    t1 = time.perf_counter()
    inputs = [[model_input(f.image, x.matrix, x.size, model.size) for x in faces] for f, faces in zip(frames, found, strict=True)]
    flat = np.stack([x for row in inputs for x in row])
    model(flat[:8])  # warm-up (CUDA kernels, allocator)
    if getattr(model.device, "type", None) == "cuda":
        torch.cuda.synchronize()
    t2 = time.perf_counter()
    predictions = [model(flat[i:i + 8]) for i in range(0, len(flat), 8)]
    t3 = time.perf_counter()
    rgb = np.concatenate([p[0] for p in predictions])
    masks = np.concatenate([p[1] for p in predictions]) if predictions[0][1] is not None else [None] * len(rgb)
    options = PasteOptions(mask="both" if model.has_mask else "hull")
    k = 0
    for frame, faces in zip(frames, found, strict=True):
        out = frame.image.copy()
        for x in faces:
            paste_face(out, x.face.landmarks, model_matrix(x.matrix, x.size, model.size), rgb[k], masks[k], options)
            k += 1
    t4 = time.perf_counter()
    locate.close()
    n = len(frames)
    return {"faces": (t1 - t0) / n * 1e3, "model": (t3 - t2) / n * 1e3, "paste": (t4 - t3) / n * 1e3,
            "faces_per_frame": len(flat) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=CLIP, help="a 720p video (default: biden.mp4 of the shared data)")
    parser.add_argument("--frames", type=int, default=60, help="frames of the clip to convert (default 60)")
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--no-steps", action="store_true", help="skip the per-step breakdown")
    args = parser.parse_args()
    if not args.clip.exists():
        sys.exit(f"missing {args.clip} (set KAOKAE_DATA to the shared data folder)")
    set_quiet(True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip.mp4"
        copy_first_frames(args.clip, clip, args.frames)
        info = probe(clip)
        models = {name: make_model(tmp / name, name) for name in ("original", "hd")}
        base = decode_encode(clip, tmp / "plain.mp4")
        rows = [("decode + encode", "-", base, 1.0)]
        breakdown = []
        files = {name: export_model(folder, tmp / f"{name}.onnx").path for name, folder in models.items()}
        for device in args.devices:
            for name, folder in models.items():
                for runtime, model, precision in (("torch", folder, "auto"), ("torch", folder, "fp32"),
                                                  ("onnxruntime", files[name], "fp32")):
                    options = ConvertOptions(device=device, precision=precision, runtime="torch", overwrite=True,
                                             **SETTINGS)
                    result = convert(clip, model, tmp / f"{name}-{device}.mp4", options)
                    label = f"{runtime} {_precision(device, precision) if runtime == 'torch' else 'fp32'}"
                    rows.append((f"convert {name}", f"{device}, {label}", result.fps, result.fps / base))
                    if not args.no_steps:
                        breakdown.append((name, f"{device}, {label}", steps(clip, model, device, precision)))
    print(f"\n{args.frames} frames of {args.clip.name} ({info.width}x{info.height} @ {float(info.fps):.2f} fps), "
          f"x264 {SETTINGS['preset']} crf {SETTINGS['crf']}, torch {torch.__version__}, "
          f"onnxruntime {__import__('onnxruntime').__version__}, "
          f"{os.cpu_count()} CPU threads{', ' + torch.cuda.get_device_name() if torch.cuda.is_available() else ''}\n")
    print("| pipeline | device, runtime | frames/s | vs decode+encode |")
    print("|---|---|---:|---:|")
    for name, device, fps, ratio in rows:
        print(f"| {name} | {device} | {fps:.1f} | {ratio:.2f} |")
    if breakdown:
        print("\nEach step alone, one after the other (ms per frame; the pipeline overlaps them in threads):\n")
        print("| model | device, runtime | find + track faces | model (batch 8) | paste (mask, colour, Poisson) | faces/frame |")
        print("|---|---|---:|---:|---:|---:|")
        for name, device, s in breakdown:
            print(f"| {name} | {device} | {s['faces']:.1f} | {s['model']:.1f} | {s['paste']:.1f} | "
                  f"{s['faces_per_frame']:.2f} |")


def _precision(device: str, precision: str) -> str:
    from kaokae.train.precision import use_bf16

    return "bf16" if use_bf16(torch.device(device), precision) else "fp32"


if __name__ == "__main__":
    main()
