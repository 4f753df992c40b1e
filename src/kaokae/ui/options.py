"""The options of `kaokae ui`."""

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from kaokae.options import option


@dataclass
class UiOptions:
    workspace: Path = option(Path("kaokae-workspace"), "the folder the app works in, created if missing",
                             metavar="DIR")
    host: str = option("127.0.0.1", "address to listen on; anything but a loopback address needs --allow-remote")
    port: int = option(7860, "port to listen on (0: any free port)", minimum=0, maximum=65535)
    allow_remote: bool = option(False, "listen on a non-loopback --host: the app has no log-in, so anyone who can "
                                       "reach the port can use the workspace")
    max_upload_mb: int = option(2048, "largest upload accepted, in MB", minimum=1)

    def validate(self) -> None:
        from kaokae.options import OptionError

        if not is_loopback(self.host) and not self.allow_remote:
            raise OptionError("host", f"{self.host} is reachable from other machines: give --allow-remote to "
                                      "listen there anyway (the app has no log-in)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
