"""The one entry point. Sub-commands only parse arguments and call stage functions; each group of sub-commands
lives in its own module here and registers itself with `register(subparsers)`."""

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from pathlib import Path

from kaokae import __version__, options
from kaokae.errors import KaokaeError
from kaokae.progress import set_quiet

# Order is the pipeline's order, which is also the order `kaokae --help` lists them in.
COMMAND_MODULES = ["media", "extract", "people", "train", "model", "convert", "swap", "live", "demo", "evaluate",
                   "provenance", "config", "ui"]
COMMAND_OPTIONS: dict[str, type] = {}  # command ("faceset sort") -> its options type: every command has one
CONFIGURABLE: dict[str, type] = {}  # the commands that also read --config FILE.toml


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and a one-line `kaokae: error: ...` (its default shows the usage too)."""

    def error(self, message: str):
        print(f"kaokae: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kaokae",
        description="Face swapping done right. Every swapped image and video kaokae writes is labelled as synthetic "
                    "(metadata and an invisible watermark); `kaokae verify` reads the label.",
    )
    parser.add_argument("--version", action="version", version=f"kaokae {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="show the warnings of the libraries kaokae uses (Python, OpenCV); hidden by default so "
                             "that an error is one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"kaokae.cli.{name}").register(sub)
    return parser


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or status lines (errors and warnings still print)")


def add_options(parser: argparse.ArgumentParser, command: str, cls, config: bool = True) -> None:
    """The command's typed options (kaokae.options) as flags, and --config FILE.toml to read them from a file."""
    options.add_options(parser, cls)
    parser.set_defaults(options_type=cls)  # for the error line: an option is named by its flag
    COMMAND_OPTIONS[command] = cls
    if config:
        CONFIGURABLE[command] = cls
        parser.add_argument("--config", type=Path, metavar="FILE.toml",
                            help=f"read options from a TOML file (keys as in `kaokae config show {command}`); "
                                 "flags given win")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    set_quiet(getattr(args, "quiet", False))
    with warnings.catch_warnings():
        if not args.verbose:
            _silence_libraries()
        try:
            return args.run(args) or 0
        except options.OptionError as e:  # named as the flag the user types
            print(f"kaokae: error: {e.render(options.cli_flag(getattr(args, 'options_type', None), e.name))}",
                  file=sys.stderr)
            return e.exit_code
        except KaokaeError as e:
            print(f"kaokae: error: {e}", file=sys.stderr)
            return e.exit_code
        except KeyboardInterrupt:
            print("kaokae: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # the reader of our output went away (`kaokae verify ... | head -1`): stop quietly, as `yes | head` does
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
        except OSError as e:  # a read-only folder, a full disk: the user can act on it, so one line, not a traceback
            if args.verbose:
                raise
            where = f"{e.filename}: " if e.filename else ""
            print(f"kaokae: error: {where}{e.strerror or e}", file=sys.stderr)
            return 2


def _silence_libraries() -> None:
    """Library noise off, so that a failure is the one `kaokae: error:` line (`kaokae --verbose` keeps it)."""
    warnings.simplefilter("ignore")
    with contextlib.suppress(ImportError, AttributeError):
        import cv2

        cv2.setLogLevel(0)  # LOG_LEVEL_SILENT: no "[ WARN:0@...]" lines
