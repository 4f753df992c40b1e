"""The built-in demo: the whole pipeline on two public-domain portraits, with no input from the user."""

from kaokae.demo.run import FULL, QUICK, DemoResult, run_demo

__all__ = ["FULL", "QUICK", "DemoResult", "run_demo"]
