"""`kaokae train`: two facesets -> a swap model folder (resumable)."""

from pathlib import Path

from kaokae.cli import add_quiet


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

    arch = p.add_argument_group("model (fixed when the folder is created; a different value is refused later; left "
                                "out, a new folder takes what wins the time-to-quality benchmark for the budget and "
                                "device, and the first line says what)")
    arch.add_argument("--model", choices=["original", "hd"], default=None,
                      help="architecture: 'original' (2017 deepfakes, 64 px) or 'hd' (128/256 px, residual "
                           "decoders, learned mask); default: the folder's, or hd on a GPU, original on a CPU")
    arch.add_argument("--size", type=int, default=None,
                      help="model input/output px, a multiple of 16; default: 64 for original, 128 for hd")
    arch.add_argument("--from", dest="parent", metavar="OLD_MODEL_DIR", type=Path, default=None,
                      help="start a new model from a trained one's encoder and B decoder (the same B, a new A): "
                           "same architecture and shape only; loss.png marks where the parent ended")
    arch.add_argument("--from-keep-a", action="store_true",
                      help="with --from, take the parent's A decoder too (the new A looks like the old one)")
    arch.add_argument("--width", type=float, default=None,
                      help="multiply every layer's channel count (1.0 = the published size; 0.125 = tiny, for trying "
                           "things out on a CPU); default: 0.25 for --minutes up to 30 on a CPU, else 1.0")

    budget = p.add_argument_group("how long (default: until Ctrl-C)").add_mutually_exclusive_group()
    budget.add_argument("--iterations", type=int, default=None,
                        help="train until the model has done this many iterations in total")
    budget.add_argument("--minutes", type=float, default=None, help="train for this many minutes")

    settings = p.add_argument_group("training settings (stored in the folder; given again, they replace the "
                                    "stored value)")
    settings.add_argument("--batch-size", type=int, default=None,
                          help="faces of each person per step, per process; default 8 for --minutes up to 30 on a "
                               "CPU, 32 on a GPU, else 16")
    settings.add_argument("--lr", type=float, default=None,
                          help="AdamW learning rate: the peak of the schedule (with --iterations or --minutes) or the "
                               "constant of --schedule constant; default 0.001")
    settings.add_argument("--schedule", choices=["cosine", "constant"], default=None,
                          help="cosine (default): linear warm-up, then cosine decay to 5%% of --lr when the budget "
                               "ends (without a budget: a constant 0.0002); constant: --lr throughout")
    settings.add_argument("--warmup", type=int, default=None, metavar="STEPS",
                          help="warm-up iterations of the cosine schedule (at most a quarter of the run); default 100")
    settings.add_argument("--ema", type=float, default=None, metavar="DECAY",
                          help="keep a moving average of the weights for previews, held-out L1 and convert (0 turns "
                               "it off); default 0.999")
    settings.add_argument("--seed", type=int, default=None,
                          help="random seed (initial weights, batches, augmentation); default 0")
    settings.add_argument("--holdout", type=int, default=None,
                          help="keep the last N faces of each faceset out of training and log their "
                               "reconstruction L1 (val_l1_a/b in history.jsonl, dots on loss.png); default 0")
    settings.add_argument("--color-transfer", type=float, default=None, metavar="P",
                          help="probability of giving a training face the other person's colours, so that "
                               "lighting does not tell them apart; default 0")
    settings.add_argument("--warp", type=float, default=None, metavar="STD",
                          help="strength of the random grid warp of the inputs that teaches the model each face's "
                               "shape (control-point std as a fraction of the size; 0 turns it off); default 0.025")

    card = p.add_argument_group("model card (stored in the folder and carried into exports and output labels; "
                                "`kaokae model card` changes it later)")
    card.add_argument("--name-a", default=None, metavar="NAME", help="the name of person A (default: none)")
    card.add_argument("--name-b", default=None, metavar="NAME", help="the name of person B (default: none)")
    card.add_argument("--consent", default=None, metavar="TEXT",
                      help="a statement of the right to use both faces, e.g. who agreed to what (default: none; "
                           "`kaokae export` refuses a model without one)")
    card.add_argument("--licence", "--license", default=None, metavar="TEXT",
                      help="the terms others may use the model on, e.g. CC-BY-NC-4.0 (default: none)")

    run = p.add_argument_group("run")
    run.add_argument("--save-every", type=int, default=2000, help="iterations between checkpoints; default 2000")
    run.add_argument("--preview-every", type=int, default=500,
                     help="iterations between preview.png and loss.png updates (and held-out L1); default 500")
    run.add_argument("--keep", type=int, default=3, help="checkpoints kept (older ones are removed); default 3")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                     help="auto (default): the GPU when there is one, else the CPU")
    run.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                     help="auto (default): bf16 autocast with channels-last where the device computes bf16 natively "
                          "(NVIDIA Ampere or newer; CPUs with AMX or AVX512-BF16), else fp32; fp32: full precision "
                          "everywhere (slower). Weights and optimizer state stay fp32. Chosen per run, like --device")
    run.add_argument("--compile", action="store_true", help="torch.compile the model (faster steps on a GPU after "
                                                            "a minute or so of compiling)")
    add_quiet(p)
    p.set_defaults(run=run_train)


def run_train(args) -> int:
    from kaokae.train import Run, train

    settings = {key: value for key, value in (("batch_size", args.batch_size), ("lr", args.lr), ("seed", args.seed),
                                              ("holdout", args.holdout), ("color_transfer", args.color_transfer),
                                              ("warp", args.warp), ("schedule", args.schedule),
                                              ("warmup", args.warmup), ("ema", args.ema))
                if value is not None}
    train(Run(args.faceset_a, args.faceset_b, args.model_dir, architecture=args.model, size=args.size,
              width=args.width, settings=settings, iterations=args.iterations, minutes=args.minutes,
              save_every=args.save_every, preview_every=args.preview_every, keep=args.keep, device=args.device,
              precision=args.precision, compile=args.compile, parent=args.parent,
              parent_keep_a=args.from_keep_a,
              card={"name_a": args.name_a, "name_b": args.name_b, "consent": args.consent, "licence": args.licence}))
    return 0
