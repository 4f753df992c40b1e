"""`kaokae ui`: the local web app (kaokae.ui)."""

from kaokae.cli import add_options
from kaokae.options import from_args
from kaokae.ui.options import UiOptions


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ui", help="the whole pipeline in a local web app (extract, train, convert with live previews, swap, ...)",
        description="Start kaokae's web app on this machine and print its address. Everything it reads and writes "
                    "lies in the workspace folder (media/, facesets/, models/, outputs/); each long task runs as "
                    "its own `kaokae` process, listed on the Jobs page, and survives a restart of the app. It "
                    "listens on 127.0.0.1 only unless --allow-remote: anyone who can reach it can read and write "
                    "the workspace.")
    add_options(p, "ui", UiOptions, config=False)
    p.set_defaults(run=run_ui)


def run_ui(args) -> int:
    from kaokae.ui.server import serve

    options = from_args(UiOptions, args)
    serve(options.workspace, options)
    return 0
