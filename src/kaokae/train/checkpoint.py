"""The model folder: config, checkpoints, history. Nothing here unpickles: weights and optimizer state are safetensors,
everything else JSON.

    MODEL_DIR/
      config.json                     architecture + its hyper-parameters, the faces it expects, training settings
      latest                          the name of the newest complete checkpoint, e.g. "000001000"
      checkpoints/000001000/          one folder per save, the last K kept
        model.safetensors             the weights to use (convert, evaluate): the moving average when training keeps one
        training.safetensors          the weights the optimizer steps (only when model.safetensors is their average)
        optimizer.safetensors         AdamW state flattened: "<parameter name>.exp_avg" etc.
        state.json                    iteration, training time, faces seen, learning-rate plan
      history.jsonl                   one line of losses per logged step
      preview.png, loss.png
      photos/a/, photos/b/            a few faces of each person, for convert's detail (kaokae.train.photos)

Crash safety: a checkpoint is written complete into a hidden folder, each file fsynced, then the folder is renamed
into place and only then is `latest` replaced (atomically) to name it. A SIGKILL at any moment therefore leaves
`latest` naming a complete checkpoint; a half-written folder or a complete one that `latest` does not name yet is
removed by `clean_up` when training starts again.

Random state: every training step draws its randomness from generators seeded by (seed, rank, iteration) (see
`kaokae.train.trainer.step_seed`), so the iteration in state.json *is* the random state: resuming replays exactly
the batches and augmentations an uninterrupted run would have drawn, with any number of processes.
"""

import contextlib
import dataclasses
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from kaokae import atomic
from kaokae.errors import KaokaeError
from kaokae.train.card import check_card
from kaokae.train.models import MODELS, build_model, model_config, parameter_count
from kaokae.train.options import SCHEDULES

try:
    import fcntl
except ImportError:  # Windows: no lock
    fcntl = None

FORMAT = "kaokae-model"
VERSION = 1
CONFIG, LATEST, CHECKPOINTS, HISTORY = "config.json", "latest", "checkpoints", "history.jsonl"
PREVIEW, LOSS_PLOT = "preview.png", "loss.png"
MODEL_FILE, OPTIMIZER_FILE, STATE_FILE = "model.safetensors", "optimizer.safetensors", "state.json"
TRAINING_FILE = "training.safetensors"


@dataclass
class ModelConfig:
    """config.json. Convert feeds a model aligned faces of `centering`, resized from `face_size` to `size` px."""

    architecture: str  # registry name: "original" | "hd"
    model: dict  # the architecture's Config as a dict
    face_size: int  # px of the faceset faces it was trained on
    centering: str  # the facesets' centering ("face" | "head")
    train: dict  # training settings (kaokae.train.trainer.TrainConfig as a dict)
    card: dict = field(default_factory=dict)  # who the model depicts and on what terms (kaokae.train.card)
    parent: dict | None = None  # the model `--from` started from: model_dir, iteration, model_id (sha256), keep_a

    @property
    def size(self) -> int:
        """The model's input and output size in px."""
        return int(self.model["size"])

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "version": VERSION, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        """ValueError naming the field when anything is not what kaokae writes: config.json may come from anyone."""
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        if d.pop("format", None) != FORMAT:
            raise ValueError("not a kaokae model config")
        if d.pop("version", None) != VERSION:
            raise ValueError(f"unsupported version (this kaokae reads version {VERSION})")
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default_factory is dataclasses.MISSING}
        if set(d) - names or required - set(d):
            raise ValueError(f"fields {sorted(d)}, expected {sorted(required)} (and optionally "
                             f"{sorted(names - required)})")
        config = cls(**d)
        if config.architecture not in MODELS:
            raise ValueError(f"field 'architecture': unknown architecture {config.architecture!r}")
        if config.centering not in ("face", "head"):
            raise ValueError(f"field 'centering' is {config.centering!r}, not face or head")
        if not _is_int(config.face_size) or not 16 <= config.face_size <= 4096:
            raise ValueError(f"field 'face_size' is {config.face_size!r}, not 16 to 4096 pixels")
        check_fields(config.model, MODELS[config.architecture].Config, "model", MODEL_LIMITS)
        architecture = model_config(config.architecture, config.model)
        if config.size % 16:
            raise ValueError(f"field 'model.size' is {config.size}, not a multiple of 16")
        with torch.device("meta"):  # counted without memory: absurd layer sizes are refused, not allocated
            parameters = parameter_count(build_model(config.architecture, architecture))
        if parameters > MAX_PARAMETERS:
            raise ValueError(f"field 'model' describes {parameters / 1e9:.1f} billion parameters, more than "
                             f"{MAX_PARAMETERS / 1e9:.0f} billion")
        from kaokae.train.trainer import TrainConfig  # the trainer owns the settings; it imports this module

        check_fields(config.train, TrainConfig, "train", TRAIN_LIMITS)
        check_card(config.card)
        return config


MAX_PARAMETERS = 1_000_000_000
# Ranges of the stored numbers (inclusive); any other number must be finite and 0 or more.
MODEL_LIMITS = {"size": (16, 1024), "*": (1, 4096)}
TRAIN_LIMITS = {"batch_size": (1, 4096), "lr": (1e-9, 1.0), "seed": (0, 2**63 - 1), "holdout": (0, 10**9),
                "flip": (0, 1), "color_transfer": (0, 1), "warp_points": (2, 64), "rotation": (0, 180),
                "ema": (0, 1), "schedule": SCHEDULES, "*": (0, 1e6)}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_fields(values, cls, where: str, limits: dict) -> None:
    """A dataclass stored as a JSON object: only its fields, each of its default's type (int, float, a tuple of
    ints, a name or a nested dataclass) and within `limits` (a name: among the names there); ValueError naming the
    field otherwise."""
    if not isinstance(values, dict):
        raise ValueError(f"field {where!r} is not an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, value in values.items():
        key = f"{where}.{name}"
        if name not in fields:
            raise ValueError(f"field {key!r} is unknown")
        f = fields[name]
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            check_fields(value, type(default), key, limits)
            continue
        if isinstance(default, str):  # a name among the ones `limits` lists
            if value not in limits.get(name, ()):
                raise ValueError(f"field {key!r} is {value!r}, not one of {', '.join(limits.get(name, ()))}")
            continue
        items = value if isinstance(default, tuple) else [value]
        if isinstance(default, tuple) and (not isinstance(value, list) or not 1 <= len(value) <= 16):
            raise ValueError(f"field {key!r} is {value!r}, not a list of 1 to 16 numbers")
        for item in items:
            whole = _is_int(default) or isinstance(default, tuple)
            if whole and not _is_int(item):
                raise ValueError(f"field {key!r} is {value!r}, not a whole number")
            if not whole and (isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item)):
                raise ValueError(f"field {key!r} is {value!r}, not a number")
            low, high = limits.get(name, limits["*"])
            if not low <= item <= high:
                raise ValueError(f"field {key!r} is {value!r}, outside {low} to {high}")


def read_config(model_dir: Path) -> ModelConfig | None:
    """The folder's config, None when there is none yet; KaokaeError when it is damaged or not a model."""
    path = Path(model_dir) / CONFIG
    if not path.exists():
        return None
    try:
        return ModelConfig.from_json(path.read_text("utf-8"))
    except (ValueError, TypeError, KeyError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise KaokaeError(f"{path} is damaged or not a kaokae model config: {str(e).splitlines()[0]}") from None


@contextlib.contextmanager
def exclusive(model_dir: Path) -> Iterator[bool]:
    """Hold the model folder for one training run (an flock on the folder, created if missing), so a second
    trainer of the same folder is refused rather than interleaving checkpoints. Yields whether the folder was new
    (missing or empty): a run that fails before its first checkpoint then removes what it created."""
    model_dir = Path(model_dir)
    new = not model_dir.exists() or (model_dir.is_dir() and not any(model_dir.iterdir()))
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(model_dir, os.O_RDONLY)
    except OSError as e:
        raise KaokaeError(f"cannot create the model folder {model_dir}: {e.strerror or e}") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise KaokaeError(f"{model_dir} is being trained by another kaokae right now: one trainer per "
                                  "model folder") from None
        try:
            yield new
        except BaseException:
            if new and not (model_dir / LATEST).exists():  # nothing trained yet: leave no half-made model folder
                shutil.rmtree(model_dir, ignore_errors=True)
            raise
    finally:
        os.close(fd)


def write_config(model_dir: Path, config: ModelConfig) -> None:
    atomic.write_text(Path(model_dir) / CONFIG, config.to_json())


def checkpoint_name(iteration: int) -> str:
    return f"{iteration:09d}"


def latest_checkpoint(model_dir: Path) -> Path | None:
    pointer = Path(model_dir) / LATEST
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    path = Path(model_dir) / CHECKPOINTS / name
    if not name.isdigit() or not path.is_dir():
        raise KaokaeError(f"{pointer} names a checkpoint that is not there ({name!r}): the folder was changed by hand")
    return path


def clean_up(model_dir: Path) -> None:
    """Remove what an interrupted save left: hidden partial folders and checkpoints newer than `latest`."""
    folder = Path(model_dir) / CHECKPOINTS
    if not folder.is_dir():
        return
    latest = latest_checkpoint(model_dir)
    for path in folder.iterdir():
        orphan = path.name.isdigit() and (latest is None or int(path.name) > int(latest.name))
        if path.name.startswith(".partial-") or orphan:
            shutil.rmtree(path, ignore_errors=True)


def optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state keyed "<parameter name>.<state name>" (e.g. "encoder.convs.0.0.weight.exp_avg")."""
    names = {id(p): n for n, p in model.named_parameters()}
    tensors = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                tensors[f"{names[id(p)]}.{key}"] = value.detach().contiguous()
    return tensors


def load_optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    state_dict = optimizer.state_dict()  # its param_groups (lr etc.) come from the current settings
    state, index = {}, 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            prefix = names[id(p)] + "."
            entry = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix) and "." not in k[len(prefix):]}
            if entry:
                state[index] = entry
            index += 1
    if len(state) != index and tensors:
        raise ValueError(f"optimizer state for {len(state)} of {index} parameters")
    state_dict["state"] = state
    optimizer.load_state_dict(state_dict)
    # The loaded state is contiguous; give it each parameter's own layout (channels-last on CUDA) as a fresh one has.
    for p, entry in optimizer.state.items():
        for key, value in entry.items():
            if value.shape == p.shape:
                entry[key] = torch.empty_like(p).copy_(value)


def _write_file(path: Path, write) -> None:
    write(path)
    atomic.fsync_file(path)


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(model_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict,
                    keep: int = 3, average: nn.Module | None = None) -> Path:
    """Write checkpoint `state["iteration"]` crash-safely (see the module docstring), then keep only the last `keep`.
    average: the moving average of `model`'s weights, saved as the model to use."""
    folder = Path(model_dir) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / checkpoint_name(state["iteration"])
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder))
    try:
        weights = _weights(model if average is None else average)
        _write_file(partial / MODEL_FILE, lambda p: save_file(weights, p, metadata={"format": FORMAT}))
        if average is not None:
            _write_file(partial / TRAINING_FILE, lambda p: save_file(_weights(model), p, metadata={"format": FORMAT}))
        _write_file(partial / OPTIMIZER_FILE,
                    lambda p: save_file(optimizer_tensors(model, optimizer), p, metadata={"format": FORMAT}))
        _write_file(partial / STATE_FILE, lambda p: p.write_text(json.dumps(state, indent=2) + "\n"))
        atomic.fsync_dir(partial)
        if final.exists():  # an orphan of an interrupted run that `clean_up` did not see (should not happen)
            shutil.rmtree(final)
        os.replace(partial, final)
        atomic.fsync_dir(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    atomic.write_text(Path(model_dir) / LATEST, final.name + "\n")
    older = sorted((p for p in folder.iterdir() if p.name.isdigit() and p != final), key=lambda p: int(p.name))
    for path in older[: max(0, len(older) - (keep - 1))]:
        shutil.rmtree(path, ignore_errors=True)
    return final


def load_checkpoint(checkpoint: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    device: torch.device, average: nn.Module | None = None) -> dict:
    """Load weights (and optimizer state) from a checkpoint folder into `model`; returns its state.json. With an
    optimizer, `model` gets the weights it steps; `average` gets the moving average (the weights themselves when
    the checkpoint kept none)."""
    try:
        training = checkpoint / TRAINING_FILE
        use = load_file(checkpoint / MODEL_FILE, device=str(device))
        stepped = optimizer is not None and training.exists()
        model.load_state_dict(load_file(training, device=str(device)) if stepped else use)
        if average is not None:
            average.load_state_dict(use)
        if optimizer is not None:
            load_optimizer_tensors(model, optimizer, load_file(checkpoint / OPTIMIZER_FILE, device=str(device)))
        return json.loads((checkpoint / STATE_FILE).read_text())
    except (OSError, SafetensorError, ValueError, RuntimeError, KeyError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise KaokaeError(f"checkpoint {checkpoint} is damaged or does not fit this model: {first_line}") from None


def load_model(model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelConfig]:
    """A trained model ready to swap, and its config.

        model, config = load_model("models/obama_to_b", "cuda")
        faces = ...  # (B, 3, config.size, config.size) float in [0, 1]: aligned faces (centering `config.centering`,
                     # `config.face_size` px in the faceset) resized to config.size
        with torch.no_grad():
            rgb, mask = model.swap(faces, to="b")  # A's expression with B's face; mask is None for "original"
    """
    model_dir = Path(model_dir)
    config = read_config(model_dir)
    if config is None:
        raise KaokaeError(f"{model_dir} is not a kaokae model folder (no {CONFIG})")
    checkpoint = latest_checkpoint(model_dir)
    if checkpoint is None:
        raise KaokaeError(f"{model_dir} has no checkpoint yet: train it first")
    device = torch.device(device)
    model = build_model(config.architecture, model_config(config.architecture, config.model)).to(device)
    load_checkpoint(checkpoint, model, None, device)
    model.eval()
    return model, config


def read_history(model_dir: Path) -> list[dict]:
    """history.jsonl records; a line cut short by a kill is skipped."""
    path = Path(model_dir) / HISTORY
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return [r for r in records if isinstance(r, dict) and "iteration" in r]


def truncate_history(model_dir: Path, iteration: int) -> None:
    """Drop history logged after `iteration` (steps a kill threw away), so the history matches the checkpoint."""
    path = Path(model_dir) / HISTORY
    if path.exists():
        kept = [r for r in read_history(model_dir) if r["iteration"] <= iteration]
        atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
