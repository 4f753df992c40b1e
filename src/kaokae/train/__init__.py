"""Training: the shared-encoder, one-decoder-per-person models, their augmentation, losses, loop and checkpoints.

    from kaokae.train import load_model
    model, config = load_model("models/a_to_b", "cuda")
    rgb, mask = model.swap(faces, to="b")   # faces: (B, 3, config.size, config.size) floats in [0, 1]

See kaokae.train.checkpoint for the model folder and `kaokae train --help` for training.
"""

from kaokae import lazy

# PyTorch loads on first use, not when the CLI reads the option definitions (kaokae.train.options)
__getattr__, __all__ = lazy.exports("kaokae.train", {
    "checkpoint": ["ModelConfig", "load_model"],
    "models": ["MODELS", "flops_per_sample"],
    "options": ["TrainOptions"],
    "trainer": ["Run", "TrainConfig", "train"],
})
