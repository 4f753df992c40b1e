"""The options of `kaokae train`. Model options are fixed when the model folder is created; training settings are
stored in it (given again, they replace the stored value); run options are chosen per run. None: the folder's
value, or the default for a new folder."""

import importlib.util
import pkgutil
from dataclasses import dataclass
from pathlib import Path

from kaokae.options import OptionError, option
from kaokae.train.precision import PRECISIONS

MODEL = ("model (fixed when the folder is created; a different value is refused later; left out, a new folder takes "
         "what wins the time-to-quality benchmark for the budget and device, and the first line says what)")
SETTINGS = "training settings (stored in the folder; given again, they replace the stored value)"
RUN = "run"
STORED_SETTINGS = ("batch_size", "lr", "schedule", "warmup", "ema", "seed", "holdout", "color_transfer",
                   "warp", "warp_end", "detail")  # TrainConfig fields
SCHEDULES = ("cosine", "constant")  # kaokae.train.trainer.learning_rate


CARD = ("model card (stored in the folder and carried into exports and output labels; `kaokae model card` changes "
        "it later)")
DIRECTIONS = ("a2b", "b2a")


def model_names() -> tuple[str, ...]:
    """The architectures: one module each in kaokae.train.models (listed without loading PyTorch)."""
    spec = importlib.util.find_spec("kaokae.train.models")
    return tuple(m.name for m in pkgutil.iter_modules(spec.submodule_search_locations) if not m.name.startswith("_"))


def _multiple_of_16(size: int) -> str | None:
    return None if size % 16 == 0 else f"must be a multiple of 16, not {size}"


@dataclass
class CardOptions:
    name_a: str | None = option(None, "the name of person A", metavar="NAME", default_help="none", group=CARD)
    name_b: str | None = option(None, "the name of person B", metavar="NAME", default_help="none", group=CARD)
    consent: str | None = option(None, "a statement of the right to use both faces, e.g. who agreed to what "
                                       "(`kaokae export` refuses a model without one)", metavar="TEXT",
                                 default_help="none", group=CARD)
    licence: str | None = option(None, "the terms others may use the model on, e.g. CC-BY-NC-4.0", metavar="TEXT",
                                 aliases=("--license",), default_help="none", group=CARD)

    def card(self) -> dict:
        return {"name_a": self.name_a, "name_b": self.name_b, "consent": self.consent, "licence": self.licence}


@dataclass
class DirectionOptions:
    direction: str = option("a2b", "a2b: faces of A (the first faceset of `kaokae train`) get B's face; b2a: the "
                                   "other way", choices=DIRECTIONS)


@dataclass
class ExportOptions(DirectionOptions):
    half: bool = option(False, "store the weights in fp16: half the file, still computed in fp32, checked against "
                               "PyTorch's fp32 on a test batch (largest difference allowed 0.02 of the pixel range)")
    overwrite: bool = option(False, "replace FILE if it exists")


@dataclass
class ModelInfoOptions:
    json: bool = option(False, "print the card as JSON")


@dataclass
class TrainOptions(CardOptions):
    model: str | None = option(None, "architecture: 'original' (2017 deepfakes, 64 px) or 'hd' (128/256 px, "
                                     "residual decoders, learned mask)", choices=model_names, fixed=True,
                               default_help="the folder's, or hd on a GPU, original on a CPU", group=MODEL)
    size: int | None = option(None, "model input/output px, a multiple of 16", above=0, check=_multiple_of_16,
                              fixed=True, default_help="64 for original, 128 for hd", group=MODEL)
    width: float | None = option(None, "multiply every layer's channel count (1.0 = the published size; 0.125 = "
                                       "tiny, for trying things out on a CPU)", above=0, fixed=True,
                                 default_help="0.25 for --minutes up to 30 on a CPU, else 1.0", group=MODEL)
    parent: Path | None = option(None, "start a new model from a trained one's encoder and B decoder (the same B, a "
                                       "new A): same architecture and shape only; loss.png marks where the parent "
                                       "ended", flag="--from", metavar="OLD_MODEL_DIR", default_help="none",
                                 group=MODEL)
    from_keep_a: bool = option(False, "with --from, take the parent's A decoder too (the new A looks like the old "
                                      "one)", group=MODEL)
    iterations: int | None = option(None, "train until the model has done this many iterations in total", above=0,
                                    exclusive="budget", default_help="until Ctrl-C", group=RUN)
    minutes: float | None = option(None, "train for this many minutes", above=0, exclusive="budget",
                                   default_help="until Ctrl-C", group=RUN)
    batch_size: int | None = option(None, "faces of each person per step, per process", above=0,
                                    default_help="8 for --minutes up to 30 on a CPU, 32 on a GPU, else 16",
                                    group=SETTINGS)
    lr: float | None = option(None, "AdamW learning rate: the peak of the schedule (with --iterations or --minutes) "
                                    "or the constant of --schedule constant", above=0, default_help="0.001",
                              group=SETTINGS)
    schedule: str | None = option(None, "cosine: linear warm-up, then cosine decay to 5% of --lr when the budget "
                                        "ends (without a budget: a constant 0.0002); constant: --lr throughout",
                                  choices=SCHEDULES, default_help="cosine", group=SETTINGS)
    warmup: int | None = option(None, "warm-up iterations of the cosine schedule (at most a quarter of the run)",
                                minimum=0, metavar="STEPS", default_help="100", group=SETTINGS)
    ema: float | None = option(None, "keep a moving average of the weights for previews, held-out L1 and convert "
                                     "(0 turns it off)", minimum=0, below=1, metavar="DECAY", default_help="0.999",
                               group=SETTINGS)
    seed: int | None = option(None, "random seed (initial weights, batches, augmentation)", minimum=0,
                              default_help="0", group=SETTINGS)
    holdout: int | None = option(None, "keep the last N faces of each faceset out of training and log their "
                                       "reconstruction L1 (val_l1_a/b in history.jsonl, dots on loss.png)", minimum=0,
                                 default_help="0", metavar="N", group=SETTINGS)
    color_transfer: float | None = option(None, "probability of giving a training face the other person's colours, "
                                                "so that lighting does not tell them apart", minimum=0, maximum=1,
                                          metavar="P", default_help="0", group=SETTINGS)
    warp: float | None = option(None, "strength of the random grid warp of the inputs that teaches the model each "
                                      "face's shape (control-point std as a fraction of the size; 0 turns it off)",
                                minimum=0, metavar="STD", default_help="0.025", group=SETTINGS)
    warp_end: float | None = option(None, "with --minutes or --iterations, the share of the warp's strength left at "
                                          "the end: the warp eases off as the learning rate decays (strong early "
                                          "for the face's shape, weak late for detail; 1 keeps it constant)",
                                    minimum=0, maximum=1, metavar="SHARE",
                                    default_help="0 for --minutes up to 30 on a CPU, else 1", group=SETTINGS)
    detail: float | None = option(None, "weight of a loss on image gradients, beside L1 and DSSIM: fine detail a plain "
                                        "L1 forgives (0 turns it off)", minimum=0, metavar="WEIGHT",
                                  default_help="1 for --minutes up to 30 on a CPU, else 0", group=SETTINGS)
    save_every: int = option(2000, "iterations between checkpoints", above=0, group=RUN)
    preview_every: int = option(500, "iterations between preview.png and loss.png updates (and held-out L1)",
                                above=0, group=RUN)
    keep: int = option(3, "checkpoints kept (older ones are removed)", above=0, group=RUN)
    device: str = option("auto", "auto: the GPU when there is one, else the CPU", choices=("auto", "cpu", "cuda"),
                         group=RUN)
    precision: str = option("auto", "the number format of the model's steps (weights and optimizer state stay "
                                    "fp32); chosen per run, like --device", choices=PRECISIONS.names, group=RUN)
    compile: bool = option(False, "torch.compile the model (faster steps on a GPU after a minute or so of "
                                  "compiling)", group=RUN)

    def run(self, faceset_a: Path, faceset_b: Path, model_dir: Path):
        """The trainer's Run for these options."""
        from kaokae.train.trainer import Run

        settings = {key: getattr(self, key) for key in STORED_SETTINGS if getattr(self, key) is not None}
        return Run(faceset_a, faceset_b, model_dir, architecture=self.model, size=self.size, width=self.width,
                   settings=settings, iterations=self.iterations, minutes=self.minutes, save_every=self.save_every,
                   preview_every=self.preview_every, keep=self.keep, device=self.device, precision=self.precision,
                   compile=self.compile, card=self.card(), parent=self.parent, parent_keep_a=self.from_keep_a)

    def validate(self) -> None:
        if self.from_keep_a and self.parent is None:
            raise OptionError("from_keep_a", "{label} needs --from OLD_MODEL_DIR")
