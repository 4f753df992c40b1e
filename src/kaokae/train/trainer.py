"""The training loop: two facesets in, a model folder out (see kaokae.train.checkpoint for the folder).

Read it like nanoGPT's train.py: `setup` builds a `Training` (settings, data, model, optimizer, and a small `State`),
then the loop calls `step`, `log`, `preview` and `save` on it.

Each step samples a batch of each person, augments it on the device, runs both through the model in one pass (shared
encoder, a decoder per person), and takes one AdamW step on L1 + DSSIM (+ mask) losses at the learning rate of the
run's plan: with a budget (--iterations or --minutes) a linear warm-up, then a cosine decay that ends with the budget;
without one a constant. A moving average of the weights is what previews, held-out L1 and convert use. Every step's
randomness comes from generators seeded by (seed, rank, iteration), and the plan is saved, so a resumed run
continues exactly as if never stopped.
"""

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from kaokae import atomic, options, progress
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
from kaokae.train.options import TrainOptions
from kaokae.train.photos import save_photos
from kaokae.train.precision import autocast, memory_format, use_bf16
from kaokae.train.preview import loss_plot, preview_grid, write_png
from kaokae.train.recipe import pick as pick_recipe

PREVIEW_FACES = 8
LOG_EVERY = 10  # iterations per history line (and per stop check when distributed)
MEASURE_AFTER, MEASURE_STEPS = 5, 30  # a --minutes plan times steps 5-35 of the session (the first ones are slow)
REVISE_AT = 0.2  # and sets its end once more, from the speed since then, when this share of the time has passed
PLAN_MARGIN = 0.97  # planning this share of the steps that would fit, so that the decay ends before the clock


@dataclass
class TrainConfig:
    """Training settings, stored in config.json; options given again when resuming replace them."""

    batch_size: int = 16  # faces of each person per step (and per process)
    lr: float = 1e-3  # peak learning rate of a run with a budget (--iterations/--minutes), reached after warm-up
    lr_open: float = 2e-4  # the constant learning rate of a run without a budget (until Ctrl-C)
    schedule: str = "cosine"  # "cosine": warm-up, then cosine decay to lr x lr_final at the budget; "constant": lr
    warmup: int = 100  # iterations of linear warm-up (at most a quarter of the planned run)
    lr_final: float = 0.05  # where the cosine decay ends, as a share of lr
    ema: float = 0.999  # decay of the weights' moving average (previews, held-out L1, convert); 0: no average
    warp_end: float = 1.0  # share of the warp's strength left when a budgeted plan ends (1: constant)
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max gradient norm
    l1: float = 1.0  # loss weights
    dssim: float = 1.0
    detail: float = 0.0  # L1 on image gradients (fine detail the plain L1 forgives); 0: off
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
    parent: Path | None = None  # a new folder starts from this model's encoder and B decoder (`--from`)
    parent_keep_a: bool = False  # and its A decoder too


@dataclass
class Plan:
    """The learning-rate plan of one budgeted stretch of training, saved in state.json: a linear warm-up of `warmup`
    steps from iteration `start`, then a cosine decay that ends at iteration `end`. A --minutes run fixes `end`
    from its measured speed after its first steps (None until then)."""

    start: int
    warmup: int
    end: int | None = None
    revised: bool = False  # a --minutes plan's end was set again from a longer measurement


def learning_rate(cfg: TrainConfig, plan: Plan | None, iteration: int) -> float:
    """The learning rate of the step from `iteration` to `iteration` + 1."""
    if cfg.schedule == "constant":
        return cfg.lr
    if plan is None:
        return cfg.lr_open
    t = iteration - plan.start
    if t < plan.warmup:
        return cfg.lr * (t + 1) / plan.warmup
    done = decay_progress(plan, iteration)
    return cfg.lr * (cfg.lr_final + (1 - cfg.lr_final) * (1 + math.cos(math.pi * done)) / 2)


def decay_progress(plan: Plan | None, iteration: int) -> float:
    """How far the plan's decay has come at `iteration`: 0 until the warm-up ends (and without a plan or an end
    yet), 1 at the end."""
    if plan is None or plan.end is None:
        return 0.0
    return min(1.0, max(0.0, (iteration - plan.start - plan.warmup) / max(1, plan.end - plan.start - plan.warmup)))


def augmentation_at(cfg: TrainConfig, plan: Plan | None, iteration: int) -> Augmentation:
    """The augmentation of step `iteration`: the warp eases from its full strength to `warp_end` of it as the plan
    decays (strong early to learn the face's shape, weak late for detail)."""
    if cfg.warp_end == 1.0:
        return cfg.augmentation
    scale = 1 - (1 - cfg.warp_end) * decay_progress(plan, iteration)
    return dataclasses.replace(cfg.augmentation, warp=cfg.augmentation.warp * scale)


def choose_plan(run: Run, cfg: TrainConfig, iteration: int, saved: Plan | None) -> Plan | None:
    """The saved plan when this run continues the budget it was made for (the same --iterations, or --minutes on
    an unfinished plan); else a new plan from here; None without a budget."""
    if run.iterations is not None:
        if saved is not None and saved.end == run.iterations and saved.start <= iteration:
            return saved
        return Plan(iteration, min(cfg.warmup, (run.iterations - iteration) // 4), run.iterations)
    if run.minutes is not None:
        if saved is not None and (saved.end is None or iteration < saved.end):
            return saved
        return Plan(iteration, cfg.warmup)
    return None


def describe_plan(cfg: TrainConfig, plan: Plan | None) -> str:
    average = f", weights averaged (EMA {cfg.ema:g})" if cfg.ema > 0 else ""
    if cfg.schedule == "constant":
        return f"constant lr {cfg.lr:g}{average}"
    if plan is None:
        return f"constant lr {cfg.lr_open:g} (no budget){average}"
    end = "the measured speed fixes the end" if plan.end is None else f"to {cfg.lr * cfg.lr_final:.2g} at {plan.end}"
    return f"lr {plan.warmup}-step warm-up to {cfg.lr:g}, cosine {end}{average}"


def average_decay(ema: float, iteration: int) -> float:
    """The moving average's decay at `iteration`: short at first (it would otherwise hold on to the random initial
    weights for thousands of steps), `ema` later."""
    return min(ema, (1 + iteration) / (10 + iteration))


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    for a, p in zip(average.parameters(), model.parameters(), strict=True):
        a.lerp_(p, 1 - decay)


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
    """The run's values against their typed definitions (kaokae.train.options), as the CLI checks its flags: a config
    file, the UI and library callers get the same one-line OptionError, naming the option as their front end does."""
    check_outputs([run.faceset_a, run.faceset_b], [run.model_dir])
    values = {**run.settings, "model": run.architecture, "size": run.size, "width": run.width, "parent": run.parent,
              "from_keep_a": run.parent_keep_a, "iterations": run.iterations, "minutes": run.minutes,
              "save_every": run.save_every, "preview_every": run.preview_every, "keep": run.keep,
              "precision": run.precision}
    options.check(options.build(TrainOptions, values))
    if run.iterations is not None and run.minutes is not None:
        raise options.OptionError("minutes", "{label} and iterations are two budgets: give one of them")


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


def prepare_folder(run: Run, device: torch.device | None = None) -> ModelConfig:
    """Create the model folder's config, or check the existing one against this run and update its settings;
    the model card records the run's names and consent and what the facesets hold; the folder keeps a few of each
    faceset's faces (kaokae.train.photos) for convert's detail."""
    config = _prepare_config(run, device)
    facesets = _open_facesets(run)
    card = with_facesets(with_text(config.card, **run.card), *facesets)
    if card != config.card:
        config = dataclasses.replace(config, card=card)
        _check_latest_loads(Path(run.model_dir), config)
        checkpoint.write_config(Path(run.model_dir), config)
    save_photos(Path(run.model_dir), dict(zip("ab", facesets, strict=True)), config.size, config.train["holdout"])
    return config


def _check_latest_loads(model_dir: Path, config: ModelConfig) -> None:
    """A resume that will be refused must not change config.json: load the checkpoint once before writing it."""
    latest = checkpoint.latest_checkpoint(model_dir)
    if latest is not None:
        model = build_model(config.architecture, model_config(config.architecture, config.model))
        checkpoint.load_checkpoint(latest, model, None, torch.device("cpu"))


def _prepare_config(run: Run, device: torch.device | None = None) -> ModelConfig:
    """A new folder takes what the run leaves open from the recipe for its budget and `device` (or from the
    `--from` parent), and says so in its first line."""
    model_dir = Path(run.model_dir)
    if model_dir.exists() and not model_dir.is_dir():
        raise KaokaeError(f"{model_dir} is a file, not a model folder")
    facesets = _open_facesets(run)
    face_size, centering = max(f.size for f in facesets), facesets[0].centering
    config = checkpoint.read_config(model_dir)
    if config is None:
        if model_dir.exists() and any(model_dir.iterdir()):
            raise KaokaeError(f"{model_dir} is not empty and holds no kaokae model: choose a new or empty folder")
        recipe = pick_recipe("cpu" if device is None else device.type, run.minutes)
        if run.parent is not None:  # the parent's shape, the recipe's settings (as a new model of this budget)
            architecture, model, parent = _from_parent(run, centering)
            settings, picked, shape = {**recipe.settings(), **run.settings}, f"from {run.parent}", _shape(model)
        else:
            architecture = run.architecture or recipe.architecture
            own = architecture == recipe.architecture
            width = run.width or (recipe.width if own else 1.0)
            model = MODELS[architecture].Config.scaled(size=run.size or (recipe.size if own else None), width=width)
            shape = f"width {width:g}"
            settings, parent = {**recipe.settings(), **run.settings}, None
            picked = "for " + (f"{run.minutes:g} min" if run.minutes is not None else
                               f"{run.iterations} iterations" if run.iterations is not None else "no budget") + \
                     f" on {'cpu' if device is None else device.type}"
        train = TrainConfig.from_dict(_merge(dataclasses.asdict(TrainConfig()), settings))
        _check_holdout(dataclasses.asdict(train), facesets)
        config = ModelConfig(architecture, json.loads(json.dumps(dataclasses.asdict(model))), face_size, centering,
                             dataclasses.asdict(train), parent=parent)
        schedule = "warm-up + cosine lr to" if train.schedule == "cosine" else "constant lr"
        detail = (f", detail loss {train.detail:g}" if train.detail else "") + \
            (f", warp easing to {train.warp_end:g}x" if train.warp_end != 1.0 else "")
        progress.info(f"kaokae: {picked}: {architecture} {model.size} px, {shape}, batch {train.batch_size}, "
                      f"{schedule} {train.lr:g}, EMA {train.ema:g}{detail} (--model, --size, --width, --batch-size, "
                      "--lr choose otherwise)")
        checkpoint.write_config(model_dir, config)
        return config
    if run.parent is not None:
        raise KaokaeError(f"--from starts a new model folder, and {model_dir} already holds a model: give a new "
                          "--model-dir, or leave out --from to resume")

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


def _from_parent(run: Run, centering: str) -> tuple[str, object, dict]:
    """The parent's architecture and shape (this run may only repeat them) and the record of it for config.json."""
    parent_dir = Path(run.parent)
    parent = checkpoint.read_config(parent_dir)
    latest = checkpoint.latest_checkpoint(parent_dir) if parent is not None else None
    if latest is None:
        raise KaokaeError(f"--from {parent_dir}: not a trained kaokae model folder")
    stored = model_config(parent.architecture, parent.model)
    architecture = run.architecture or parent.architecture
    model = stored
    if run.size is not None or run.width is not None or architecture != parent.architecture:
        model = MODELS[architecture].Config.scaled(size=run.size or stored.size, width=run.width or 1.0)
    if architecture != parent.architecture or model != stored:
        raise KaokaeError(f"--from {parent_dir}: it is {parent.architecture} ({_shape(stored)}), this run asks for "
                          f"{architecture} ({_shape(model)}): leave out --model/--size/--width to take the parent's")
    if parent.centering != centering:
        raise KaokaeError(f"--from {parent_dir}: it was trained on '{parent.centering}'-centred faces, these "
                          f"facesets are '{centering}'-centred")
    weights = latest / checkpoint.MODEL_FILE
    record = {"model_dir": str(parent_dir.resolve()), "iteration": int(latest.name),
              "model_id": hashlib.sha256(weights.read_bytes()).hexdigest(), "keep_a": run.parent_keep_a}
    return architecture, model, record


def inherit(t_model: nn.Module, average: nn.Module, parent: dict, device: torch.device) -> None:
    """Start from the parent's encoder (with its bottleneck) and B decoder, and its A decoder when asked."""
    folder = Path(parent["model_dir"])
    latest = checkpoint.latest_checkpoint(folder)
    if latest is None:
        raise KaokaeError(f"the parent model {folder} is gone: train into a new folder without --from")
    weights = load_file(latest / checkpoint.MODEL_FILE, device=str(device))
    skipped = () if parent.get("keep_a") else ("decoder_a.",)
    kept = {k: v for k, v in weights.items() if not k.startswith(skipped)}
    missing, unexpected = t_model.load_state_dict(kept, strict=False)
    if unexpected or any(not k.startswith(skipped) for k in missing):
        raise KaokaeError(f"the parent model {folder} does not fit this model ({len(missing)} weights missing)")
    if average is not t_model:
        average.load_state_dict(t_model.state_dict())


def copy_parent_history(model_dir: Path, parent: dict) -> None:
    """The parent's losses, shifted to end at iteration 0, and a mark where it ended: loss.png shows both runs."""
    shift = parent["iteration"]
    records = [{**r, "iteration": r["iteration"] - shift} for r in checkpoint.read_history(Path(parent["model_dir"]))
               if r["iteration"] <= shift and "loss_a" in r]
    records.append({"iteration": 0, "parent_end": parent["model_id"][:10]})
    atomic.write_text(model_dir / checkpoint.HISTORY, "".join(json.dumps(r) + "\n" for r in records))


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
    loss, l1 = reconstruction_loss(rgb, batch.targets, weight, cfg.l1, cfg.dssim, cfg.detail)
    if mask is None:
        return loss, l1, torch.zeros((), device=loss.device)
    m = mask_loss(mask, batch.face_mask)
    return loss + cfg.mask * m, l1, m


def sample_batches(data_a: FaceData, data_b: FaceData, cfg: TrainConfig, rank: int, iteration: int,
                   sample_gen: torch.Generator, augment_gen: torch.Generator, device: torch.device,
                   augmentation: Augmentation | None = None) -> tuple[Batch, Batch]:
    """The augmented batches of step `iteration` on process `rank`: always the same for the same arguments."""
    augmentation = augmentation or cfg.augmentation
    sample_gen.manual_seed(step_seed(cfg.seed, rank, iteration, 0))
    augment_gen.manual_seed(step_seed(cfg.seed, rank, iteration, 1))
    faces_a = data_a.sample(cfg.batch_size, sample_gen, device)
    faces_b = data_b.sample(cfg.batch_size, sample_gen, device)
    return (augment(faces_a, augmentation, augment_gen, reference=faces_b),
            augment(faces_b, augmentation, augment_gen, reference=faces_a))


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


# --- the loop: setup, step, log, preview, save over one Training --------------------------------------------------

@dataclass
class State:
    """What changes from step to step. The saved part (to_json) makes a resumed run continue exactly."""

    iteration: int = 0
    elapsed_s: float = 0.0  # training time before this session
    faces_seen: int = 0
    plan: Plan | None = None
    window_steps: int = 0  # steps since the last history line, and their loss sums
    window_sums: list[float] = field(default_factory=lambda: [0.0] * 6)
    last_saved: int = 0
    # this session's clock (not saved)
    session_start: float = 0.0
    session_steps: int = 0
    window_start: float = 0.0
    timed_steps: int = 0  # steps since window_start (for faces/s)
    measure_start: float = 0.0  # when the speed measurement for a --minutes plan began

    def to_json(self, process: distributed.Process, cfg: TrainConfig, precision: str, now: float) -> dict:
        return {"iteration": self.iteration, "elapsed_s": round(self.elapsed_s + now - self.session_start, 3),
                "faces_seen": self.faces_seen, "world_size": process.world_size, "seed": cfg.seed,
                "precision": precision, "plan": None if self.plan is None else dataclasses.asdict(self.plan),
                # the open history window, so the next history line after a resume is what it would have been
                "log_window": {"steps": self.window_steps, "sums": self.window_sums}}


@dataclass
class Training:
    """One run's fixed parts (settings, model, data) and its State."""

    run: Run
    process: distributed.Process
    config: ModelConfig
    cfg: TrainConfig
    model: nn.Module  # the weights the optimizer steps
    average: nn.Module  # their moving average (the model itself when cfg.ema is 0): previews, held-out L1, convert
    train_model: nn.Module  # model, or its DDP/compiled wrapper
    optimizer: torch.optim.Optimizer
    data: tuple[FaceData, FaceData]
    held_out: tuple[FaceData | None, FaceData | None]
    previews: tuple[torch.Tensor, torch.Tensor]
    generators: tuple[torch.Generator, torch.Generator]  # batch sampling, augmentation
    bf16: bool
    running: torch.Tensor  # (6,) loss sums of the open history window, on the device
    state: State
    bar: object = None  # the progress bar (main process only)

    @property
    def model_dir(self) -> Path:
        return Path(self.run.model_dir)


def setup(run: Run, process: distributed.Process) -> Training:
    """The model folder prepared, data loaded, model + average + optimizer built and resumed from `latest`."""
    model_dir, device, main = Path(run.model_dir), process.device, process.is_main
    if main:
        config = prepare_folder(run, device)
        checkpoint.clean_up(model_dir)
    distributed.barrier(process)
    if not main:
        config = checkpoint.read_config(model_dir)
    cfg = TrainConfig.from_dict(config.train)
    size = model_config(config.architecture, config.model).size
    data_a, held_a, _ = load_faceset(run.faceset_a, size, cfg.holdout, "A", warn_few=main)
    data_b, held_b, _ = load_faceset(run.faceset_b, size, cfg.holdout, "B", warn_few=main)
    if device.type == "cuda":  # the uint8 faces live on the GPU when they fit easily: no copy per step
        free, _ = torch.cuda.mem_get_info(device)
        if data_a.faces.numel() + data_b.faces.numel() < free // 4:
            data_a, data_b = data_a.to(device), data_b.to(device)

    bf16 = use_bf16(device, run.precision)
    leave_busy_cores(device)
    model, optimizer = build(config, device, bf16)
    average = copy.deepcopy(model).requires_grad_(False) if cfg.ema > 0 else model
    state = State()
    latest = checkpoint.latest_checkpoint(model_dir)
    if latest is not None:
        saved = checkpoint.load_checkpoint(latest, model, optimizer, device, average)
        precision = "bf16" if bf16 else "fp32"
        if saved.get("precision", precision) != precision and main:
            progress.info(f"kaokae: the checkpoint was trained in {saved['precision']}, this run trains in {precision}")
        window = saved.get("log_window", {"steps": 0, "sums": [0.0] * 6})
        state = State(saved["iteration"], saved.get("elapsed_s", 0.0), saved.get("faces_seen", 0),
                      Plan(**saved["plan"]) if saved.get("plan") else None, window["steps"], window["sums"],
                      last_saved=saved["iteration"])
        if main:
            checkpoint.truncate_history(model_dir, state.iteration)
    elif config.parent is not None:
        inherit(model, average, config.parent, device)
        if main and not (model_dir / checkpoint.HISTORY).exists():
            copy_parent_history(model_dir, config.parent)
    state.plan = choose_plan(run, cfg, state.iteration, state.plan)

    train_model = model
    if process.distributed:
        train_model = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if run.compile:
        train_model = torch.compile(train_model)
    generators = (torch.Generator(data_a.faces.device), torch.Generator(device))
    previews = (preview_faces(data_a, device, bf16), preview_faces(data_b, device, bf16))
    running = torch.tensor(state.window_sums, dtype=torch.float32, device=device)
    return Training(run, process, config, cfg, model, average, train_model, optimizer, (data_a, data_b),
                    (held_a, held_b), previews, generators, bf16, running, state)


def busy_cores(seconds: float = 0.2) -> float | None:
    """How many cores other work keeps busy right now (from /proc/stat over `seconds`, less this process's own
    threads, e.g. the demo's extraction still winding down; None where there is none)."""
    def sample() -> tuple[float, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        own = os.times()
        return sum(values) - idle - (own.user + own.system) * os.sysconf("SC_CLK_TCK"), sum(values)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1)


def leave_busy_cores(device: torch.device) -> None:
    """On a CPU that other work already keeps busy, train on the free cores only: two OpenMP threads sharing two
    cores with one competing process ran at 0.28x their quiet speed, one thread at 0.9x (docs/benchmarks.md).
    OMP_NUM_THREADS, when set, decides instead; the count is only ever lowered."""
    if device.type != "cpu" or "OMP_NUM_THREADS" in os.environ:
        return
    busy = busy_cores()
    if busy is not None:
        free = max(1, round((os.cpu_count() or 1) - busy))
        torch.set_num_threads(min(torch.get_num_threads(), free))


def preview_faces(data: FaceData, device: torch.device, bf16: bool) -> torch.Tensor:
    """The fixed faces previews show: spread over the faceset."""
    index = torch.linspace(0, len(data) - 1, min(PREVIEW_FACES, len(data))).round().long()
    faces = data.faces[index.to(data.faces.device)][:, :3].to(device).float() / 255
    return faces.contiguous(memory_format=memory_format(bf16))


def step(t: Training) -> None:
    """One optimizer step at the plan's learning rate, then the moving average follows."""
    s, cfg = t.state, t.cfg
    lr = learning_rate(cfg, s.plan, s.iteration)
    for group in t.optimizer.param_groups:
        group["lr"] = lr
    batch_a, batch_b = sample_batches(*t.data, cfg, t.process.rank, s.iteration, *t.generators, t.process.device,
                                      augmentation_at(cfg, s.plan, s.iteration))
    t.running += train_step(t.train_model, t.model, t.optimizer, batch_a, batch_b, cfg, t.bf16)
    if t.average is not t.model:
        update_average(t.average, t.model, average_decay(cfg.ema, s.iteration))
    s.iteration += 1
    s.window_steps += 1
    s.timed_steps += 1
    s.session_steps += 1
    s.faces_seen += 2 * cfg.batch_size * t.process.world_size
    if s.session_steps == MEASURE_AFTER:
        s.measure_start = time.monotonic()


def log(t: Training) -> None:
    """A history line (mean losses of the window, speed, learning rate); a --minutes plan fixes its end once the
    speed is known. Runs on every rank at the same iterations (the plan's end is agreed between them)."""
    s, now = t.state, time.monotonic()
    values = (t.running / s.window_steps).tolist()
    speed = 2 * t.cfg.batch_size * t.process.world_size * s.timed_steps / max(now - s.window_start, 1e-9)
    if not all(math.isfinite(v) for v in values):
        raise KaokaeError(f"the loss became {values[0]} at iteration {s.iteration}: lower --lr "
                          f"(now {t.cfg.lr}) and train again from the last checkpoint")
    plan = s.plan
    if plan is not None and plan.end is None and s.session_steps >= MEASURE_AFTER + MEASURE_STEPS:
        fix_plan_end(t, now)
    elif plan is not None and t.run.minutes is not None and not plan.revised and plan.end is not None and \
            s.iteration < plan.end and now - s.session_start >= REVISE_AT * t.run.minutes * 60:
        fix_plan_end(t, now)
    if t.process.is_main:
        record = {"iteration": s.iteration, "loss_a": values[0], "loss_b": values[3], "l1_a": values[1],
                  "l1_b": values[4]}
        if t.model.has_mask:
            record.update(mask_a=values[2], mask_b=values[5])
        record = {k: round(v, 6) if isinstance(v, float) else v for k, v in record.items()}
        write_history(t, {**record, "lr": float(f"{t.optimizer.param_groups[0]['lr']:.4g}"),
                          "faces_per_s": round(speed, 1), "elapsed_s": round(s.elapsed_s + now - s.session_start, 1)})
        if t.bar is not None:
            t.bar.set_postfix_str(f"loss A {values[0]:.4f} B {values[3]:.4f}, {speed:.0f} faces/s")
    t.running.zero_()
    s.window_start, s.window_steps, s.timed_steps = now, 0, 0


def fix_plan_end(t: Training, now: float) -> None:
    """End a --minutes plan where the measured speed says the time runs out (a little early, so that the decay
    completes); the second call (REVISE_AT) measures over a longer stretch and sets it for good. The plan is saved
    with each checkpoint, and a resumed run follows it exactly."""
    s, plan = t.state, t.state.plan
    per_step = (now - s.measure_start) / max(s.session_steps - MEASURE_AFTER, 1)
    left = t.run.minutes * 60 - (now - s.session_start)
    end = distributed.agree_min(s.iteration + max(1, int(PLAN_MARGIN * left / per_step)), t.process)
    if plan.end is None:
        plan.warmup = min(plan.warmup, max(s.iteration - plan.start, (end - plan.start) // 4))
    else:
        plan.revised = True
    plan.end = end
    if t.process.is_main:
        progress.info(f"kaokae: {end - plan.start} iterations fit the {t.run.minutes:g} min at this speed: "
                      f"{describe_plan(t.cfg, plan)}")


def write_history(t: Training, record: dict) -> None:
    with open(t.model_dir / checkpoint.HISTORY, "a") as f:
        f.write(json.dumps(record) + "\n")


def validate(t: Training) -> None:
    """Held-out L1 of the averaged weights (what convert will use), when the run holds faces out."""
    held_a, held_b = t.held_out
    if held_a is not None:
        t.average.eval()
        device = t.process.device
        write_history(t, {"iteration": t.state.iteration,
                          "val_l1_a": round(held_out_l1(t.average, held_a, "a", device), 6),
                          "val_l1_b": round(held_out_l1(t.average, held_b, "b", device), 6)})
        t.average.train()


def preview(t: Training) -> None:
    validate(t)
    grid = preview_grid(t.average, *t.previews, lambda: autocast(t.process.device, t.bf16))
    write_png(t.model_dir / checkpoint.PREVIEW, grid)
    size = model_config(t.config.architecture, t.config.model).size
    loss_plot(checkpoint.read_history(t.model_dir), t.model_dir / checkpoint.LOSS_PLOT,
              f"{t.config.architecture} {size} px: {t.model_dir.resolve().name}")


def save(t: Training) -> None:
    s = t.state
    s.window_sums = t.running.tolist()
    state = s.to_json(t.process, t.cfg, "bf16" if t.bf16 else "fp32", time.monotonic())
    checkpoint.save_checkpoint(t.model_dir, t.model, t.optimizer, state, t.run.keep,
                               None if t.average is t.model else t.average)
    s.last_saved, s.timed_steps = s.iteration, 0


def finished(t: Training, stop: "StopRequest", logged: bool) -> bool:
    """Whether to stop after this step: the budget is spent, or Ctrl-C. With several processes the clock and the
    signals are agreed on at history lines only, so that every rank stops at the same step."""
    s, run = t.state, t.run
    time_up = run.minutes is not None and time.monotonic() - s.session_start >= run.minutes * 60
    if logged:
        done = distributed.any_rank(stop.requested or time_up, t.process)
    else:
        done = not t.process.distributed and (stop.requested or time_up)
    planned_end = s.plan is not None and s.plan.end is not None and s.iteration >= s.plan.end
    return done or planned_end or (run.iterations is not None and s.iteration >= run.iterations)


def train(run: Run) -> nn.Module:
    """Train (or resume) the model in `run.model_dir`; returns the model to use (the averaged weights, on its
    device)."""
    _check(run)
    process, threads = distributed.start(run.device), torch.get_num_threads()
    try:
        with checkpoint.exclusive(run.model_dir) if process.is_main else contextlib.nullcontext():
            return _train(run, process)
    finally:
        torch.set_num_threads(threads)  # as it was (leave_busy_cores may have lowered it for training)
        distributed.stop(process)


def _train(run: Run, process: distributed.Process) -> nn.Module:
    t = setup(run, process)
    s, main = t.state, process.is_main
    say = progress.info if main else (lambda message: None)
    model_cfg = model_config(t.config.architecture, t.config.model)
    say(f"kaokae: {'resuming' if s.iteration else 'new'} {t.config.architecture} model ({model_cfg.size} px, "
        f"{parameter_count(t.model) / 1e6:.1f}M parameters) at iteration {s.iteration} on {process.device} in "
        f"{'bf16' if t.bf16 else 'fp32'}{f' x {process.world_size} processes' if process.distributed else ''}"
        f"{f' ({torch.get_num_threads()} threads)' if process.device.type == 'cpu' else ''}: "
        f"A {len(t.data[0])} faces, B {len(t.data[1])} faces, batch {t.cfg.batch_size}, "
        f"{describe_plan(t.cfg, s.plan)}")
    if run.iterations is not None and s.iteration >= run.iterations:
        say(f"kaokae: {t.model_dir} is already at iteration {s.iteration} (--iterations {run.iterations}): "
            "nothing to do")
        return t.average
    if main and s.iteration == 0:
        validate(t)
    s.session_start = s.window_start = time.monotonic()
    bar = t.bar = progress.bar(total=run.iterations, desc="train", unit="it") if main else None
    if bar is not None:
        bar.update(s.iteration)
    try:
        with StopRequest() as stop:
            while True:
                step(t)
                if bar is not None:
                    bar.update(1)
                logged = s.iteration % LOG_EVERY == 0
                if logged:
                    log(t)
                done = finished(t, stop, logged)
                if main and (s.iteration % run.save_every == 0 or done):
                    save(t)
                if main and (s.iteration % run.preview_every == 0 or done):
                    preview(t)
                if done:
                    break
    finally:
        if bar is not None:
            bar.close()
    say(f"kaokae: saved {t.model_dir} at iteration {s.last_saved}")
    distributed.barrier(process)
    return t.average
