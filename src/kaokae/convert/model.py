"""The trained model at convert time: loaded once, run on batches of aligned faces on the GPU when there is one, in
bf16 with channels-last where the device computes bf16 natively, as in training (kaokae.train.precision)."""

from pathlib import Path

import numpy as np
import torch

from kaokae.errors import KaokaeError

DIRECTIONS = ("a2b", "b2a")


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise KaokaeError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise KaokaeError(f"--device {name}: no CUDA GPU is available to this PyTorch")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise KaokaeError(f"--device {name}: Apple MPS is not available")
    return device


class SwapModel:
    """`model(faces) -> (rgb, mask | None)`: uint8 (N, s, s, 3) aligned faces at the model's size in, the same shape
    out as the other person, with the learned mask (N, s, s) float32 in [0, 1] for models that have one.

    size: the model's side in px; face_size and centering: the faceset faces it was trained on (convert aligns
    faces the same way, then resizes them to `size`, as training did).
    """

    def __init__(self, model_dir: str | Path, direction: str = "a2b", device: str = "auto", precision: str = "auto"):
        from kaokae.train.checkpoint import MODEL_FILE, latest_checkpoint, load_model
        from kaokae.train.precision import check as check_precision
        from kaokae.train.precision import memory_format, use_bf16

        if direction not in DIRECTIONS:
            raise KaokaeError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
        check_precision(precision)
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise KaokaeError(f"no such model folder: {model_dir}")
        self.device = pick_device(device)
        try:
            self.model, self.config = load_model(model_dir, self.device)
        except (ValueError, TypeError) as e:  # a config.json whose sizes build no model
            raise KaokaeError(f"{model_dir}/config.json does not describe a model this kaokae can build: {e}") from None
        self.weights = latest_checkpoint(model_dir) / MODEL_FILE  # what the synthetic-media label names by hash
        self.target = direction[-1]
        self.architecture = self.config.architecture
        self.size = self.config.size
        self.face_size = self.config.face_size
        self.centering = self.config.centering
        self.has_mask = bool(getattr(self.model, "has_mask", False))
        self.bf16 = use_bf16(self.device, precision)
        self.memory_format = memory_format(self.bf16)
        self.model.to(memory_format=self.memory_format)

    @torch.inference_mode()
    def __call__(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = torch.from_numpy(np.ascontiguousarray(faces)).to(self.device, non_blocking=True)
        x = (x.permute(0, 3, 1, 2).float() / 255).contiguous(memory_format=self.memory_format)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            rgb, mask = self.model.swap(x, to=self.target)
        rgb = (rgb.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        if mask is None:
            return rgb, None
        return rgb, mask.float().clamp(0, 1)[:, 0].cpu().numpy()
