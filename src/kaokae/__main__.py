"""`python -m kaokae ...`: the same as the `kaokae` command (torchrun needs a module to start)."""

from kaokae.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
