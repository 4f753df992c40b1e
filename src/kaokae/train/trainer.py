"""The training loop: two facesets in, a model folder out (see kaokae.train.checkpoint for the folder).

Each step samples a batch of each person, augments it on the device, runs both through the model in one pass (shared
encoder, a decoder per person), and takes one AdamW step on L1 + DSSIM (+ mask) losses. Every step's randomness
comes from generators seeded by (seed, rank, iteration), so a resumed run continues exactly as if never stopped.
"""

import contextlib
import dataclasses
import json
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from kaokae import progress
from kaokae.errors import KaokaeError
from kaokae.faceset import FaceSet
from kaokae.paths import check_outputs
from kaokae.train import checkpoint, distributed
from kaokae.train.augment import Augmentation, Batch, augment
from kaokae.train.card import with_facesets, with_text
from kaokae.train.checkpoint import ModelConfig
from kaokae.train.data import FaceData, load_faceset
from kaokae.train.losses import mask_loss, pixel_weights, reconstruction_loss, weighted_mean
from kaokae.train.models import MODELS, build_model, model_config, parameter_count
from kaokae.train.precision import autocast, memory_format, use_bf16
from kaokae.train.precision import check as check_precision
from kaokae.train.preview import loss_plot, preview_grid, write_png

PREVIEW_FACES = 8
LOG_EVERY = 10  # iterations per history line (and per stop check when distributed)


@dataclass
class TrainConfig:
    """Training settings, stored in config.json; options given again when resuming replace them."""

    batch_size: int = 16  # faces of each person per step (and per process)
    lr: float = 5e-5
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max gradient norm
    l1: float = 1.0  # loss weights
    dssim: float = 1.0
    mask: float = 1.0  # the mask loss of models that learn a mask
    background: float = 0.1  # pixel weight outside the face (1 on it)
    eyes_mouth: float = 3.0  # pixel weight on eyes and mouth
    seed: int = 0
    holdout: int = 0  # last faces of each faceset kept out of training; their L1 is logged as val_l1_a/_b
    augmentation: Augmentation = field(default_factory=Augmentation)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["augmentation"] = Augmentation(**d.get("augmentation", {}))
        return cls(**d)


@dataclass
class Run:
    """One `kaokae train` invocation. None means: the model folder's value, or the default for a new folder."""

    faceset_a: Path
    faceset_b: Path
    model_dir: Path
    architecture: str | None = None
    size: int | None = None  # model px
    width: float | None = None  # channel multiplier (1.0 = the architecture's published size)
    settings: dict = field(default_factory=dict)  # TrainConfig fields to set (augmentation fields included)
    iterations: int | None = None  # train until the model has this many iterations
    minutes: float | None = None  # or for this long; neither: until Ctrl-C
    save_every: int = 2000
    preview_every: int = 500
    keep: int = 3  # checkpoints kept
    device: str = "auto"
    precision: str = "auto"  # "auto": bf16 + channels-last where the device computes bf16 natively; "bf16"; "fp32"
    compile: bool = False
    card: dict = field(default_factory=dict)  # model card text to set: name_a, name_b, consent, licence


def step_seed(seed: int, rank: int, iteration: int, stream: int) -> int:
    """A well-mixed 63-bit seed for one step's random stream (0: batch sampling, 1: augmentation)."""
    return int(np.random.SeedSequence([seed, rank, iteration, stream]).generate_state(1, np.uint64)[0]) >> 1


class StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM asks the loop to save and stop; a second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        progress.info("kaokae: stopping after this step and saving (Ctrl-C again to quit without saving)")

    def __enter__(self) -> "StopRequest":
        with contextlib.suppress(ValueError):  # not the main thread: no signal handling
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _check(run: Run) -> None:
    check_outputs([run.faceset_a, run.faceset_b], [run.model_dir])
    if run.architecture is not None and run.architecture not in MODELS:
        raise KaokaeError(f"--model must be one of {', '.join(MODELS)}, not {run.architecture!r}")
    check_precision(run.precision)
    if run.iterations is not None and run.minutes is not None:
        raise KaokaeError("give --iterations or --minutes, not both")
    for name, value in (("--iterations", run.iterations), ("--minutes", run.minutes), ("--size", run.size),
                        ("--width", run.width), ("--save-every", run.save_every),
                        ("--preview-every", run.preview_every), ("--keep", run.keep),
                        ("--batch-size", run.settings.get("batch_size")), ("--lr", run.settings.get("lr"))):
        if value is not None and not value > 0:
            raise KaokaeError(f"{name} must be more than 0, not {value}")
    if run.size is not None and run.size % 16:
        raise KaokaeError(f"--size must be a multiple of 16, not {run.size}")
    for name, key in (("--holdout", "holdout"), ("--seed", "seed"), ("--warp", "warp")):
        if run.settings.get(key, 0) < 0:
            raise KaokaeError(f"{name} must be 0 or more, not {run.settings[key]}")
    if not 0 <= run.settings.get("color_transfer", 0) <= 1:
        raise KaokaeError(f"--color-transfer is a probability from 0 to 1, not {run.settings['color_transfer']}")


def _open_facesets(run: Run) -> tuple[FaceSet, FaceSet]:
    a, b = FaceSet.open(run.faceset_a), FaceSet.open(run.faceset_b)
    if a.centering != b.centering:
        raise KaokaeError(f"the facesets were extracted with different centering ({a.centering} and {b.centering}): "
                          "extract both with the same --centering")
    return a, b


def _check_holdout(train: dict, facesets: tuple[FaceSet, FaceSet]) -> None:
    for faceset in facesets:
        if train["holdout"] >= len(faceset):
            raise KaokaeError(f"--holdout {train['holdout']} leaves no faces of {faceset.path} ({len(faceset)} faces) "
                              "to train on")


def prepare_folder(run: Run) -> ModelConfig:
    """Create the model folder's config, or check the existing one against this run and update its settings;
    the model card records the run's names and consent and what the facesets hold."""
    config = _prepare_config(run)
    card = with_facesets(with_text(config.card, **run.card), *_open_facesets(run))
    if card != config.card:
        config = dataclasses.replace(config, card=card)
        _check_latest_loads(Path(run.model_dir), config)
        checkpoint.write_config(Path(run.model_dir), config)
    return config


def _check_latest_loads(model_dir: Path, config: ModelConfig) -> None:
    """A resume that will be refused must not change config.json: load the checkpoint once before writing it."""
    latest = checkpoint.latest_checkpoint(model_dir)
    if latest is not None:
        model = build_model(config.architecture, model_config(config.architecture, config.model))
        checkpoint.load_checkpoint(latest, model, None, torch.device("cpu"))


def _prepare_config(run: Run) -> ModelConfig:
    model_dir = Path(run.model_dir)
    if model_dir.exists() and not model_dir.is_dir():
        raise KaokaeError(f"{model_dir} is a file, not a model folder")
    facesets = _open_facesets(run)
    face_size, centering = max(f.size for f in facesets), facesets[0].centering
    config = checkpoint.read_config(model_dir)
    if config is None:
        if model_dir.exists() and any(model_dir.iterdir()):
            raise KaokaeError(f"{model_dir} is not empty and holds no kaokae model: choose a new or empty folder")
        architecture = run.architecture or "original"
        model = MODELS[architecture].Config.scaled(size=run.size, width=run.width or 1.0)
        train = TrainConfig.from_dict(_merge(dataclasses.asdict(TrainConfig()), run.settings))
        _check_holdout(dataclasses.asdict(train), facesets)
        config = ModelConfig(architecture, json.loads(json.dumps(dataclasses.asdict(model))), face_size, centering,
                             dataclasses.asdict(train))
        checkpoint.write_config(model_dir, config)
        return config

    if run.architecture is not None and run.architecture != config.architecture:
        raise KaokaeError(f"{model_dir} holds a model of architecture '{config.architecture}'; it cannot continue "
                          f"as '{run.architecture}' (leave out --model, or train into a new folder)")
    if run.size is not None or run.width is not None:
        stored = model_config(config.architecture, config.model)
        asked = MODELS[config.architecture].Config.scaled(size=run.size or stored.size, width=run.width or 1.0)
        if run.width is None:  # only --size given: compare the size alone
            asked = dataclasses.replace(stored, size=asked.size)
        if asked != stored:
            raise KaokaeError(f"{model_dir} holds a model of a different shape ({_shape(stored)}) than asked "
                              f"({_shape(asked)}): leave out --size/--width, or train into a new folder")
    if centering != config.centering:
        raise KaokaeError(f"{model_dir} was trained on '{config.centering}'-centred faces, these facesets are "
                          f"'{centering}'-centred: extract with --centering {config.centering}")
    merged = _merge(config.train, run.settings)
    _check_holdout(merged, facesets)
    if merged != config.train:
        before = _flat(config.train)
        changed = ", ".join(f"{k} {before.get(k)} -> {v}" for k, v in _flat(merged).items() if before.get(k) != v)
        progress.info(f"kaokae: changed training settings: {changed}")
        config = dataclasses.replace(config, train=dataclasses.asdict(TrainConfig.from_dict(merged)))
        _check_latest_loads(model_dir, config)
        checkpoint.write_config(model_dir, config)
    return config


def _merge(train: dict, settings: dict) -> dict:
    """Training settings with `settings` applied; augmentation fields may be given at the top level."""
    merged = json.loads(json.dumps(train))
    augmentation_fields = {f.name for f in dataclasses.fields(Augmentation)}
    for key, value in settings.items():
        if key in augmentation_fields:
            merged["augmentation"][key] = value
        else:
            merged[key] = value
    return merged


def _flat(train: dict) -> dict:
    return {**{k: v for k, v in train.items() if k != "augmentation"}, **train.get("augmentation", {})}


def _shape(model_cfg) -> str:
    return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(model_cfg).items())


def side_losses(rgb: torch.Tensor, mask: torch.Tensor | None, batch: Batch, cfg: TrainConfig
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, l1, mask loss) of one person's reconstruction, in float32."""
    weight = pixel_weights(batch.face_mask, batch.eyes_mouth, cfg.background, cfg.eyes_mouth)
    loss, l1 = reconstruction_loss(rgb, batch.targets, weight, cfg.l1, cfg.dssim)
    if mask is None:
        return loss, l1, torch.zeros((), device=loss.device)
    m = mask_loss(mask, batch.face_mask)
    return loss + cfg.mask * m, l1, m


def sample_batches(data_a: FaceData, data_b: FaceData, cfg: TrainConfig, rank: int, iteration: int,
                   sample_gen: torch.Generator, augment_gen: torch.Generator, device: torch.device
                   ) -> tuple[Batch, Batch]:
    """The augmented batches of step `iteration` on process `rank`: always the same for the same arguments."""
    sample_gen.manual_seed(step_seed(cfg.seed, rank, iteration, 0))
    augment_gen.manual_seed(step_seed(cfg.seed, rank, iteration, 1))
    faces_a = data_a.sample(cfg.batch_size, sample_gen, device)
    faces_b = data_b.sample(cfg.batch_size, sample_gen, device)
    return (augment(faces_a, cfg.augmentation, augment_gen, reference=faces_b),
            augment(faces_b, cfg.augmentation, augment_gen, reference=faces_a))


def train_step(train_model: nn.Module, model: nn.Module, optimizer: torch.optim.Optimizer, batch_a: Batch,
               batch_b: Batch, cfg: TrainConfig, bf16: bool) -> torch.Tensor:
    """One AdamW step on both people, in bf16 autocast + channels-last or in fp32 (see kaokae.train.precision).
    `train_model` is `model` or its DDP/compiled wrapper. Returns the (6,) loss terms (loss, L1 and mask loss of A,
    then of B), detached and left on the device (reading them waits for the GPU)."""
    device, layout = batch_a.inputs.device, memory_format(bf16)
    with autocast(device, bf16):
        rgb_a, mask_a, rgb_b, mask_b = train_model(batch_a.inputs.contiguous(memory_format=layout),
                                                   batch_b.inputs.contiguous(memory_format=layout))
    loss_a, l1_a, m_a = side_losses(rgb_a, mask_a, batch_a, cfg)
    loss_b, l1_b, m_b = side_losses(rgb_b, mask_b, batch_b, cfg)
    optimizer.zero_grad(set_to_none=True)
    (loss_a + loss_b).backward()
    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return torch.stack([loss_a, l1_a, m_a, loss_b, l1_b, m_b]).detach()


@torch.no_grad()
def held_out_l1(model: nn.Module, data: FaceData, to: str, device: torch.device) -> float:
    """Face-masked L1 of reconstructing unseen faces (no augmentation): how well the model generalises. Always in
    float32, so that runs trained in bf16 and in fp32 compare."""
    total, weight_sum = 0.0, 0.0
    for chunk in data.faces.split(64):
        x = chunk.to(device).float() / 255
        rgb, _ = model.swap(x[:, :3], to)
        weight = x[:, 3:4]
        total += float(weighted_mean((rgb - x[:, :3]).abs(), weight)) * float(weight.sum())
        weight_sum += float(weight.sum())
    return total / max(weight_sum, 1e-8)


def build(config: ModelConfig, device: torch.device, bf16: bool) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The model (seeded initial weights, float32, channels-last for bf16) and its AdamW optimizer, on `device`."""
    cfg = TrainConfig.from_dict(config.train)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_model(config.architecture, model_config(config.architecture, config.model))
    model = model.to(device, memory_format=memory_format(bf16))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  fused=device.type in ("cuda", "cpu"))
    return model, optimizer


def train(run: Run) -> nn.Module:
    """Train (or resume) the model in `run.model_dir`; returns the trained model (on its device)."""
    _check(run)
    process = distributed.start(run.device)
    try:
        with checkpoint.exclusive(run.model_dir) if process.is_main else contextlib.nullcontext():
            return _train(run, process)
    finally:
        distributed.stop(process)


def _train(run: Run, process: distributed.Process) -> nn.Module:
    model_dir, device, main = Path(run.model_dir), process.device, process.is_main
    say = progress.info if main else (lambda message: None)
    if main:
        config = prepare_folder(run)
        checkpoint.clean_up(model_dir)
    distributed.barrier(process)
    if not main:
        config = checkpoint.read_config(model_dir)
    cfg = TrainConfig.from_dict(config.train)
    model_cfg = model_config(config.architecture, config.model)

    data_a, held_a, _ = load_faceset(run.faceset_a, model_cfg.size, cfg.holdout, "A", warn_few=main)
    data_b, held_b, _ = load_faceset(run.faceset_b, model_cfg.size, cfg.holdout, "B", warn_few=main)
    if device.type == "cuda":  # the uint8 faces live on the GPU when they fit easily: no copy per step
        free, _ = torch.cuda.mem_get_info(device)
        if data_a.faces.numel() + data_b.faces.numel() < free // 4:
            data_a, data_b = data_a.to(device), data_b.to(device)

    bf16 = use_bf16(device, run.precision)
    precision = "bf16" if bf16 else "fp32"
    model, optimizer = build(config, device, bf16)
    iteration, elapsed, faces_seen = 0, 0.0, 0
    running, window_steps = torch.zeros(6, device=device), 0  # loss sums of the steps since the last history line
    latest = checkpoint.latest_checkpoint(model_dir)
    if latest is not None:
        state = checkpoint.load_checkpoint(latest, model, optimizer, device)
        iteration, elapsed, faces_seen = state["iteration"], state.get("elapsed_s", 0.0), state.get("faces_seen", 0)
        if state.get("precision", precision) != precision:
            say(f"kaokae: the checkpoint was trained in {state['precision']}, this run trains in {precision}")
        window = state.get("log_window", {"steps": 0, "sums": [0.0] * 6})
        window_steps = window["steps"]
        running = torch.tensor(window["sums"], dtype=torch.float32, device=device)
        if main:
            checkpoint.truncate_history(model_dir, iteration)
    say(f"kaokae: {'resuming' if latest else 'new'} {config.architecture} model ({model_cfg.size} px, "
        f"{parameter_count(model) / 1e6:.1f}M parameters) at iteration {iteration} on {device} in {precision}"
        f"{f' x {process.world_size} processes' if process.distributed else ''}: A {len(data_a)} faces, "
        f"B {len(data_b)} faces, batch {cfg.batch_size}")
    if run.iterations is not None and iteration >= run.iterations:
        say(f"kaokae: {model_dir} is already at iteration {iteration} (--iterations {run.iterations}): nothing to do")
        return model

    train_model = model
    if process.distributed:
        train_model = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if run.compile:
        train_model = torch.compile(train_model)

    def preview_faces(data: FaceData) -> torch.Tensor:
        index = torch.linspace(0, len(data) - 1, min(PREVIEW_FACES, len(data))).round().long()
        faces = data.faces[index.to(data.faces.device)][:, :3].to(device).float() / 255
        return faces.contiguous(memory_format=memory_format(bf16))

    preview_a, preview_b = preview_faces(data_a), preview_faces(data_b)
    sample_gen, augment_gen = torch.Generator(data_a.faces.device), torch.Generator(device)
    title = f"{config.architecture} {model_cfg.size} px: {model_dir.resolve().name}"

    def log(record: dict) -> None:
        with open(model_dir / checkpoint.HISTORY, "a") as f:
            f.write(json.dumps(record) + "\n")

    def validate() -> None:
        if held_a is not None:
            model.eval()
            log({"iteration": iteration, "val_l1_a": round(held_out_l1(model, held_a, "a", device), 6),
                 "val_l1_b": round(held_out_l1(model, held_b, "b", device), 6)})
            model.train()

    def show() -> None:
        validate()
        grid = preview_grid(model, preview_a, preview_b, lambda: autocast(device, bf16))
        write_png(model_dir / checkpoint.PREVIEW, grid)
        loss_plot(checkpoint.read_history(model_dir), model_dir / checkpoint.LOSS_PLOT, title)

    def save() -> None:
        state = {"iteration": iteration, "elapsed_s": round(elapsed + time.monotonic() - session_start, 3),
                 "faces_seen": faces_seen, "world_size": process.world_size, "seed": cfg.seed,
                 "precision": precision,
                 # the open history window, so the next history line after a resume is what it would have been
                 "log_window": {"steps": window_steps, "sums": running.tolist()}}
        checkpoint.save_checkpoint(model_dir, model, optimizer, state, run.keep)

    if main and iteration == 0:
        validate()
    session_start = window_start = time.monotonic()
    last_saved, timed_steps = iteration, 0  # timed_steps: steps since window_start (for faces/s)
    bar = progress.bar(total=run.iterations, desc="train", unit="it") if main else None
    if bar is not None:
        bar.update(iteration)
    try:
        with StopRequest() as stop:
            while True:
                batch_a, batch_b = sample_batches(data_a, data_b, cfg, process.rank, iteration, sample_gen,
                                                  augment_gen, device)
                running += train_step(train_model, model, optimizer, batch_a, batch_b, cfg, bf16)
                iteration += 1
                window_steps += 1
                timed_steps += 1
                faces_seen += 2 * cfg.batch_size * process.world_size
                if bar is not None:
                    bar.update(1)

                time_up = run.minutes is not None and time.monotonic() - session_start >= run.minutes * 60
                if iteration % LOG_EVERY == 0:
                    now = time.monotonic()
                    values = (running / window_steps).tolist()
                    speed = 2 * cfg.batch_size * process.world_size * timed_steps / max(now - window_start, 1e-9)
                    if not all(math.isfinite(v) for v in values):
                        raise KaokaeError(f"the loss became {values[0]} at iteration {iteration}: lower --lr "
                                          f"(now {cfg.lr}) and train again from the last checkpoint")
                    if main:
                        record = {"iteration": iteration, "loss_a": values[0], "loss_b": values[3],
                                  "l1_a": values[1], "l1_b": values[4]}
                        if model.has_mask:
                            record.update(mask_a=values[2], mask_b=values[5])
                        record = {k: round(v, 6) if isinstance(v, float) else v for k, v in record.items()}
                        log({**record, "faces_per_s": round(speed, 1),
                             "elapsed_s": round(elapsed + now - session_start, 1)})
                        if bar is not None:
                            bar.set_postfix_str(f"loss A {values[0]:.4f} B {values[3]:.4f}, {speed:.0f} faces/s")
                    running.zero_()
                    window_start, window_steps, timed_steps = now, 0, 0
                    # Every rank must stop at the same step: agree on the clock and on signals every LOG_EVERY.
                    done = distributed.any_rank(stop.requested or time_up, process)
                else:
                    done = not process.distributed and (stop.requested or time_up)
                done = done or (run.iterations is not None and iteration >= run.iterations)

                if main and (iteration % run.save_every == 0 or done):
                    save()
                    last_saved, timed_steps = iteration, 0  # timed_steps: steps since window_start (for faces/s)
                if main and (iteration % run.preview_every == 0 or done):
                    show()
                if done:
                    break
    finally:
        if bar is not None:
            bar.close()
    if main:
        say(f"kaokae: saved {model_dir} at iteration {last_saved}")
    distributed.barrier(process)
    return model
