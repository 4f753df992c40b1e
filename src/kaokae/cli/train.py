"""`kaokae train`: two facesets -> a swap model folder (resumable)."""

from pathlib import Path

from kaokae.cli import add_options, add_quiet
from kaokae.options import from_args
from kaokae.train.options import TrainOptions


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a swap model on two facesets (resumes an existing model folder)",
        description="Train a model that swaps person A's face for person B's: one shared encoder learns both faces, "
                    "one decoder per person redraws them. Running it again on the same MODEL_DIR resumes from the "
                    "last checkpoint (iteration, optimizer, random state, settings). Ctrl-C saves and stops. "
                    "Several GPUs or machines: torchrun --nproc_per_node=N -m kaokae train ... (--batch-size is "
                    "per process).")
    p.add_argument("faceset_a", metavar="FACESET_A", type=Path, help="faceset of person A (the face to replace)")
    p.add_argument("faceset_b", metavar="FACESET_B", type=Path, help="faceset of person B (the face to put in)")
    p.add_argument("-m", "--model-dir", metavar="MODEL_DIR", type=Path, required=True,
                   help="model folder: created if new, resumed if it holds a model")

    add_options(p, "train", TrainOptions)
    add_quiet(p)
    p.set_defaults(run=run_train)


def run_train(args) -> int:
    from kaokae.train import train

    train(from_args(TrainOptions, args).run(args.faceset_a, args.faceset_b, args.model_dir))
    return 0
