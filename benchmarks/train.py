"""Training speed per model and device, measured in one run (faces/s: a step trains --batch-size faces of A and as
many of B).

Rows:
  end to end   the real loop (kaokae.train.trainer): sample uint8 faces, augment the whole batch on the device,
               forward + backward + AdamW step, in the precision `kaokae train` picks (--precision auto: bf16
               autocast + channels-last on CUDA and on CPUs with AMX/AVX512-BF16, else fp32), shown per row
  model only   the same steps on batches already augmented and waiting on the device (the model's own speed)
  naive eager  the same architecture and losses as a straightforward loop would run them: per-face NumPy/OpenCV
               augmentation on the CPU, fp32, NCHW, batches copied to the device every step
Goals: end to end / model only >= 0.9 (augmentation is never the bottleneck); end to end / naive >= 2x;
MFU (GPU, from the model's FLOP count) >= 35% for hd in bf16.

Usage: .venv/bin/python benchmarks/train.py [--facesets A B] [--models original hd] [--devices cpu cuda]
       [--precision auto|bf16|fp32] [--width W] [--cpu-width W] [--batch-size N] [--steps N] [--repeat N] [--compile]
Without --facesets it extracts training pair 2 of the shared data (every 10th frame) into a temporary folder.
"""

import argparse
import copy
import dataclasses
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import torch

from kaokae.progress import set_quiet
from kaokae.train.augment import Augmentation, Batch
from kaokae.train.checkpoint import ModelConfig
from kaokae.train.data import FaceData, load_faceset
from kaokae.train.models import MODELS, flops_per_sample, parameter_count
from kaokae.train.precision import PRECISIONS, use_bf16
from kaokae.train.trainer import (
    TrainConfig,
    average_decay,
    build,
    sample_batches,
    side_losses,
    train_step,
    update_average,
)

DATA = Path(os.environ.get("KAOKAE_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
PAIR_2 = (["styletalk/samples/source_video/video/Obama_clip1.mp4", "styletalk/samples/source_video/video/Obama_clip2.mp4"],
          ["edtalk/test_data/pose_source2.mp4"])
# Dense bf16 tensor-core peak (FLOP/s) by device name, for MFU.
PEAK_BF16 = {"H100 PCIe": 756e12, "H100 NVL": 835e12, "H100": 989e12, "H200": 989e12, "A100": 312e12,
             "L40S": 362e12, "RTX 4090": 165e12}


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per step, after `warmup` untimed steps."""
    for i in range(warmup):
        step(i)
    synchronize(device)
    start = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    synchronize(device)
    return (time.perf_counter() - start) / steps


def naive_augment(face: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> list[np.ndarray]:
    """One (S, S, 5) uint8 face + masks -> input, target, face mask, eyes+mouth as float32 CHW arrays, the classic
    per-sample way: colour jitter, cv2.warpAffine (rotation/scale/shift/flip), cv2.remap with a random grid warp."""
    size = face.shape[0]
    x = face.astype(np.float32) / 255
    rgb = x[..., :3]
    gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    rgb = gray[..., None] + (rgb - gray[..., None]) * (1 + rng.uniform(-aug.jitter, aug.jitter))
    mean = gray.mean()
    rgb = np.clip((rgb - mean) * (1 + rng.uniform(-aug.jitter, aug.jitter)) + mean
                  + rng.uniform(-aug.jitter, aug.jitter), 0, 1)
    x = np.concatenate([rgb, x[..., 3:]], -1)
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-aug.rotation, aug.rotation),
                                     1 + rng.uniform(-aug.scale, aug.scale))
    matrix[:, 2] += rng.uniform(-aug.shift, aug.shift, 2) * size
    if rng.random() < aug.flip:
        matrix = np.array([[-1, 0, size], [0, 1, 0]]) @ np.vstack([matrix, [0, 0, 1]])
    target = cv2.warpAffine(x, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    points = rng.normal(0, aug.warp * size, (aug.warp_points, aug.warp_points, 2)).astype(np.float32)
    offsets = cv2.resize(points, (size, size), interpolation=cv2.INTER_CUBIC)
    grid_x, grid_y = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    warped = cv2.remap(target[..., :3], grid_x + offsets[..., 0], grid_y + offsets[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return [warped.transpose(2, 0, 1), target[..., :3].transpose(2, 0, 1), target[..., 3:4].transpose(2, 0, 1),
            target[..., 4:5].transpose(2, 0, 1)]


def naive_batch(faces: np.ndarray, n: int, aug: Augmentation, rng: np.random.Generator,
                device: torch.device) -> Batch:
    picked = [naive_augment(faces[i], aug, rng) for i in rng.integers(0, len(faces), n)]
    return Batch(*(torch.from_numpy(np.stack(parts)).to(device) for parts in zip(*picked, strict=True)))


def measure(name: str, data_a: FaceData, data_b: FaceData, device: torch.device, precision: str, width: float,
            batch_size: int, steps: int, warmup: int, repeat: int, compile_: bool) -> dict:
    model_cfg = MODELS[name].Config.scaled(width=width)
    cfg = TrainConfig(batch_size=batch_size)
    config = ModelConfig(name, dataclasses.asdict(model_cfg), 256, "face", dataclasses.asdict(cfg))
    if device.type == "cuda":
        data_a, data_b = data_a.to(device), data_b.to(device)
    faces_per_step = 2 * batch_size

    bf16 = use_bf16(device, precision)
    model, optimizer = build(config, device, bf16)
    train_model = torch.compile(model) if compile_ else model
    sample_gen, augment_gen = torch.Generator(data_a.faces.device), torch.Generator(device)

    average = copy.deepcopy(model).requires_grad_(False)  # the real loop keeps a moving average of the weights too

    def end_to_end(i: int) -> None:
        batch_a, batch_b = sample_batches(data_a, data_b, cfg, 0, i, sample_gen, augment_gen, device)
        train_step(train_model, model, optimizer, batch_a, batch_b, cfg, bf16)
        update_average(average, model, average_decay(cfg.ema, i))

    fixed = sample_batches(data_a, data_b, cfg, 0, 0, sample_gen, augment_gen, device)

    def model_only(i: int) -> None:
        train_step(train_model, model, optimizer, *fixed, cfg, bf16)

    # The naive loop: fp32, NCHW, plain (foreach) AdamW, no compile; augmentation per face on the CPU.
    naive_model, _ = build(config, torch.device("cpu"), bf16=False)
    naive_model = naive_model.to(device)
    naive_optimizer = torch.optim.AdamW(naive_model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    cpu_a, cpu_b = [d.faces.cpu().permute(0, 2, 3, 1).contiguous().numpy() for d in (data_a, data_b)]
    rng = np.random.default_rng(0)

    def naive(i: int) -> None:
        batch_a = naive_batch(cpu_a, batch_size, cfg.augmentation, rng, device)
        batch_b = naive_batch(cpu_b, batch_size, cfg.augmentation, rng, device)
        with torch.autocast(device.type, enabled=False):
            rgb_a, mask_a, rgb_b, mask_b = naive_model(batch_a.inputs, batch_b.inputs)
        loss = side_losses(rgb_a, mask_a, batch_a, cfg)[0] + side_losses(rgb_b, mask_b, batch_b, cfg)[0]
        naive_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(naive_model.parameters(), cfg.grad_clip)
        naive_optimizer.step()

    # The rows take turns, `repeat` times; each keeps its fastest run (the least disturbed by other work).
    best = {}
    for _ in range(repeat):
        for row, step in (("e2e", end_to_end), ("model_only", model_only), ("naive", naive)):
            best[row] = min(best.get(row, float("inf")), timed(step, steps, warmup, device))
    e2e, reference = best["e2e"], best["naive"]
    flops = flops_per_sample(name, model_cfg)
    peak = peak_flops(device)
    return {"model": name, "device": device.type, "precision": "bf16" if bf16 else "fp32", "width": width,
            "params": parameter_count(model), "batch": batch_size, "e2e": faces_per_step / e2e,
            "model_only": faces_per_step / best["model_only"], "naive": faces_per_step / reference, "flops": flops,
            "mfu": None if peak is None else flops * faces_per_step / e2e / peak}


def extract_pair(folder: Path) -> tuple[Path, Path]:
    from kaokae.extract import ExtractOptions, extract

    out = []
    for who, videos in zip("ab", PAIR_2, strict=True):
        paths = [DATA / v for v in videos]
        missing = [p for p in paths if not p.exists()]
        if missing:
            sys.exit(f"missing {missing[0]} (set KAOKAE_DATA to the shared data folder, or pass --facesets)")
        extract(paths, folder / who, ExtractOptions(every=10, max_faces=1))
        out.append(folder / who)
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--facesets", nargs=2, type=Path, metavar=("A", "B"), help="facesets to train on")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--precision", choices=PRECISIONS.names(), default="auto",
                        help="of the end-to-end and model-only rows (the naive loop is always fp32); default auto")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier on CUDA (default 1.0)")
    parser.add_argument("--cpu-width", type=float, default=0.25,
                        help="channel multiplier on the CPU, where full-size models take minutes per step "
                             "(default 0.25)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="faces of each person per step (default: 8 on the CPU, 64 on CUDA)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row (default: 10 CPU, 30 CUDA)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per row, the fastest counts (default 5)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model of the first two rows")
    args = parser.parse_args()
    set_quiet(True)

    with tempfile.TemporaryDirectory() as tmp:
        a, b = args.facesets or extract_pair(Path(tmp))
        rows = []
        for device_name in args.devices:
            device = torch.device(device_name)
            cuda = device.type == "cuda"
            for name in args.models:
                size = MODELS[name].Config().size
                data_a, _, _ = load_faceset(a, size)
                data_b, _, _ = load_faceset(b, size)
                rows.append(measure(name, data_a, data_b, device, args.precision,
                                    args.width if cuda else args.cpu_width,
                                    args.batch_size or (64 if cuda else 8), args.steps or (30 if cuda else 10),
                                    5 if cuda else 1, args.repeat, args.compile))
                print(f"measured {name} on {device_name}", file=sys.stderr)

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"kaokae train benchmark, {date.today()}: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPU threads (torch uses {torch.get_num_threads()}), GPU: {gpu}, torch {torch.__version__}")
    print()
    print("| model | device | precision | width | params | batch | GFLOP/face | end to end faces/s | "
          "model only faces/s | ratio (>= 0.9) | naive eager fp32 faces/s | speed-up (>= 2x) | MFU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mfu = "-" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        print(f"| {r['model']} | {r['device']} | {r['precision']} | {r['width']:g} | {r['params'] / 1e6:.1f}M | "
              f"{r['batch']} | {r['flops'] / 1e9:.2f} | {r['e2e']:.1f} | {r['model_only']:.1f} | "
              f"{r['e2e'] / r['model_only']:.2f} | {r['naive']:.1f} | {r['e2e'] / r['naive']:.2f}x | {mfu} |")


if __name__ == "__main__":
    main()
