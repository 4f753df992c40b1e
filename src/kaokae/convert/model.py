"""The trained model at convert time: loaded once, run on batches of aligned faces on the GPU when there is one, in
bf16 with channels-last where the device computes bf16 natively, as in training (kaokae.train.precision)."""

from pathlib import Path

import numpy as np
import torch

from kaokae.convert.options import DIRECTIONS, RUNTIMES
from kaokae.errors import KaokaeError


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
        from kaokae.train.photos import model_photos
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
        self.photos = model_photos(model_dir, self.target)  # the folder's photos of the person it draws
        self.architecture = self.config.architecture
        self.size = self.config.size
        self.face_size = self.config.face_size
        self.centering = self.config.centering
        self.has_mask = bool(getattr(self.model, "has_mask", False))
        self.bf16 = use_bf16(self.device, precision)
        self.memory_format = memory_format(self.bf16)
        # bf16 weights cast once here, not by autocast on every call: at a live stream's batch of one face the
        # per-call cast cost more than the model itself (see docs/benchmarks.md, live)
        self.dtype = torch.bfloat16 if self.bf16 else torch.float32
        self.model.to(dtype=self.dtype, memory_format=self.memory_format)

    @torch.inference_mode()
    def __call__(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = torch.from_numpy(np.ascontiguousarray(faces)).to(self.device, non_blocking=True)
        x = (x.permute(0, 3, 1, 2).float() / 255).to(self.dtype).contiguous(memory_format=self.memory_format)
        rgb, mask = self.model.swap(x, to=self.target)
        rgb = (rgb.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        if mask is None:
            return rgb, None
        return rgb, mask.float().clamp(0, 1)[:, 0].cpu().numpy()


MODEL_FILES = (".onnx", ".dfm")


class OnnxSwapModel:
    """An exported model file (kaokae's .onnx or a DeepFaceLab .dfm, see kaokae.export.onnx_file) behind the same
    `model(faces) -> (rgb, mask | None)` as SwapModel, run by ONNX Runtime: the CUDA execution provider when it is
    there (and --device allows it), else the CPU. A .dfm's faces are whole-face crops; its learned mask is the
    celeb face's mask. Nothing here unpickles: ONNX is protobuf."""

    def __init__(self, path: str | Path, direction: str = "a2b", device: str = "auto"):
        import onnxruntime

        from kaokae.export.onnx_file import read_contract

        path = Path(path)
        if direction != "a2b":
            raise KaokaeError(f"{path.name} swaps one way only (it was exported with its direction): leave out "
                              "--direction, or export the model again with --direction b2a")
        if not path.is_file():
            raise KaokaeError(f"no such model file: {path}")
        providers = _providers(onnxruntime.get_available_providers(), device)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: warnings about unused initializers are not the user's business
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        except Exception as e:  # ONNX Runtime raises its own exception types for every kind of bad file
            first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise KaokaeError(f"{path} is not a model ONNX Runtime can load: {first_line[:200]}") from None
        self.contract = read_contract(path, self.session)
        self.input_name = self.session.get_inputs()[0].name
        self.weights = path  # what the synthetic-media label names by hash
        self.photos: list[Path] = []  # a model file carries no photos of the person it draws
        self.device = self.session.get_providers()[0]
        self.architecture = self.contract.kind
        self.size = self.contract.size
        self.face_size = min(max(self.contract.face_size or self.size, 16), 4096)
        self.centering = self.contract.centering
        self.has_mask = self.contract.has_mask
        self.card = self.contract.card or {}

    def __call__(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = np.asarray(faces, np.float32) / 255
        if self.contract.kind == "dfm":
            feed = {self.input_name: np.ascontiguousarray(x[..., ::-1])}  # RGB -> BGR, NHWC
            if self.contract.morph:
                feed["morph_value:0"] = np.float32([0.75])  # DeepFaceLive's default morph factor
            _, celeb, celeb_mask = self.session.run(None, feed)
            rgb, mask = celeb[..., ::-1], celeb_mask[..., 0]
        else:
            outputs = self.session.run(None, {self.input_name: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
            rgb = outputs[0].transpose(0, 2, 3, 1)
            mask = outputs[1][:, 0] if len(outputs) > 1 else None
        rgb = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
        return rgb, None if mask is None else np.clip(mask, 0, 1).astype(np.float32)


def _providers(available: list[str], device: str) -> list[str]:
    if device in ("auto", "cuda") or device.startswith("cuda:"):
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if device != "auto":
            raise KaokaeError(f"--device {device}: this ONNX Runtime has no CUDA execution provider (install "
                              "onnxruntime-gpu)")
    elif device != "cpu":
        raise KaokaeError(f"--device {device}: model files run on cpu or cuda")
    return ["CPUExecutionProvider"]


# What runs a model folder. PyTorch by default: on the CPU it was measured faster than ONNX Runtime (bf16 where the CPU
# computes it natively) or as fast (docs/benchmarks.md, benchmarks/convert.py); model files always run in ONNX Runtime.
ONNX_CACHE = "onnx"  # the model folder's sub-folder for the graphs convert exports on the fly


def open_model(model: str | Path, direction: str = "a2b", device: str = "auto", precision: str = "auto",
               runtime: str = "torch"):
    """A model folder (SwapModel, PyTorch; OnnxSwapModel of its cached ONNX graph with runtime="onnxruntime") or an
    exported .onnx/.dfm file (OnnxSwapModel)."""
    from kaokae.train.card import card_summary
    from kaokae.train.precision import check as check_precision

    if runtime not in RUNTIMES:
        raise KaokaeError(f"--runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    model = Path(model)
    if model.suffix.lower() in MODEL_FILES or model.is_file():
        if model.suffix.lower() not in MODEL_FILES:
            raise KaokaeError(f"{model} is a file; a model is a folder from `kaokae train` or a .onnx/.dfm file")
        return OnnxSwapModel(model, direction, device)
    check_precision(precision)
    if runtime == "onnxruntime":
        return cached_onnx_model(model, direction, device)
    swap_model = SwapModel(model, direction, device, precision)
    swap_model.card = card_summary(model)
    return swap_model


def cached_onnx_model(model_dir: Path, direction: str, device: str) -> "OnnxSwapModel":
    """The model folder's latest checkpoint as an ONNX graph, exported on first use into MODEL_DIR/onnx/ and
    exported again when the checkpoint changes (the graph records the sha256 of the weights it came from)."""
    from kaokae import atomic, progress
    from kaokae.export.onnx_file import export_graph
    from kaokae.provenance import file_sha256
    from kaokae.train.card import card_summary
    from kaokae.train.checkpoint import MODEL_FILE, latest_checkpoint, load_model

    if not Path(model_dir).is_dir():
        raise KaokaeError(f"no such model folder: {model_dir}")
    card = card_summary(model_dir)
    checkpoint = latest_checkpoint(model_dir)
    if checkpoint is None:
        raise KaokaeError(f"{model_dir} has no checkpoint yet: train it first")
    weights = checkpoint / MODEL_FILE
    model_id = file_sha256(weights)
    path = Path(model_dir) / ONNX_CACHE / f"{direction}.onnx"
    if path.exists():
        cached = OnnxSwapModel(path, "a2b", device)
        if cached.contract.model_id == model_id:
            return _as_folder_model(cached, weights, card, model_dir, direction)
    try:
        model, config = load_model(model_dir, "cpu")
        progress.info(f"exporting {model_dir} to {path} for ONNX Runtime (once per checkpoint)")
        with atomic.atomic_path(path) as tmp:
            _, difference = export_graph(model, config, tmp, "kaokae", direction, {"kaokae.model_id": model_id})
            if difference > 1e-4:
                raise KaokaeError(f"the ONNX graph of {model_dir} differs from PyTorch by {difference:.1e}: use "
                                  "--runtime torch")
    except OSError as e:
        raise KaokaeError(f"cannot write {path} for --runtime onnxruntime ({e.strerror}): use --runtime torch") from None
    return _as_folder_model(OnnxSwapModel(path, "a2b", device), weights, card, model_dir, direction)


def _as_folder_model(model: "OnnxSwapModel", weights: Path, card: dict, model_dir: Path,
                     direction: str) -> "OnnxSwapModel":
    from kaokae.train.photos import model_photos

    model.weights = weights  # labelled by the same hash as when PyTorch runs the folder
    model.card = card
    model.photos = model_photos(model_dir, direction[-1])
    return model


def model_card(model: str | Path) -> dict:
    """The card of a model folder or exported file ({} for a file made elsewhere)."""
    model = Path(model)
    if model.is_dir():
        from kaokae.train.card import card_summary

        return card_summary(model)
    if model.suffix.lower() not in MODEL_FILES:
        raise KaokaeError(f"{model}: not a model folder, .onnx or .dfm")
    file = OnnxSwapModel(model, device="cpu")
    made_elsewhere = {"architecture": f"{file.contract.kind} file", "size": file.size, "centering": file.centering}
    return {**made_elsewhere, **file.card}


def label_model_id(model) -> str:
    """The model id a synthetic-media label names: a file kaokae exported names the weights it came from, so its
    outputs carry the same id as the folder's."""
    from kaokae.provenance import file_sha256

    return getattr(getattr(model, "contract", None), "model_id", None) or file_sha256(model.weights)
