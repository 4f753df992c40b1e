"""The built-in demo: the whole pipeline on two public-domain portraits, with no input from the user."""

from kaokae import lazy

# PyTorch and mediapipe load on first use, not when the CLI reads the option definitions (kaokae.demo.options)
__getattr__, __all__ = lazy.exports("kaokae.demo", {
    "options": ["DemoOptions"],
    "run": ["FULL", "QUICK", "DemoResult", "run_demo"],
})
