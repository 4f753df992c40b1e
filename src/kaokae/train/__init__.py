"""Training: the shared-encoder, one-decoder-per-person models, their augmentation, losses, loop and checkpoints.

    from kaokae.train import load_model
    model, config = load_model("models/a_to_b", "cuda")
    rgb, mask = model.swap(faces, to="b")   # faces: (B, 3, config.size, config.size) floats in [0, 1]

See kaokae.train.checkpoint for the model folder and `kaokae train --help` for training.
"""

from kaokae.train.checkpoint import ModelConfig, load_model
from kaokae.train.models import MODELS, flops_per_sample
from kaokae.train.trainer import Run, TrainConfig, train

__all__ = ["MODELS", "ModelConfig", "Run", "TrainConfig", "flops_per_sample", "load_model", "train"]
