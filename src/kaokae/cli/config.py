"""`kaokae config show COMMAND`: a command's effective options as a TOML config file."""

from pathlib import Path

from kaokae import cli
from kaokae.options import build, check, read_config, to_toml


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "config", help="show a command's options as a TOML config file (for --config FILE.toml)",
        description="Print the options of COMMAND as a TOML file, each with its help: the defaults, or the "
                    "effective options with --config. Save it, edit it, and give it back with `kaokae COMMAND "
                    "--config FILE.toml` (flags given on the command line win over the file).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    show = actions.add_parser("show", help="print a command's effective options as TOML",
                              description="Print COMMAND's effective options as TOML.")
    show.add_argument("name", metavar="COMMAND", choices=sorted(cli.CONFIGURABLE),
                      help=f"one of {', '.join(sorted(cli.CONFIGURABLE))}")
    show.add_argument("--config", type=Path, metavar="FILE.toml", help="start from this config file's values")
    show.set_defaults(run=run_show)


def run_show(args) -> int:
    cls = cli.CONFIGURABLE[args.name]
    options = build(cls, read_config(args.config, cls) if args.config else {})
    check(options, args.config)
    print(to_toml(options), end="")
    return 0
