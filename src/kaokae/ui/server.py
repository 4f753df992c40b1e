"""Serving the app with uvicorn: the address printed, a warning when it is reachable from other machines."""

import socket
from pathlib import Path

from kaokae.progress import warn
from kaokae.ui.options import UiOptions, is_loopback


def serve(workspace: Path, options: UiOptions) -> None:
    import uvicorn

    from kaokae.ui.app import create_app

    local = is_loopback(options.host)
    hosts = None if not local else ["127.0.0.1", "localhost", "[::1]", "::1"]  # refuses DNS-rebinding requests
    app = create_app(workspace, allowed_hosts=hosts, max_upload=options.max_upload_mb * 1024**2)
    sock = socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.host, options.port))
    sock.listen(2048)  # before the address is printed: a browser or script that connects at once waits, not fails
    port = sock.getsockname()[1]
    if not local:
        warn(f"listening on {options.host}:{port}, reachable from other machines; the app has no log-in")
    shown = f"[{options.host}]" if ":" in options.host else options.host
    # stdout, flushed: the address is the command's result (scripts and tests read it)
    print(f"kaokae ui: http://{shown}:{port}/  (workspace {Path(workspace).resolve()}; Ctrl-C stops it, jobs "
          f"keep running)", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
