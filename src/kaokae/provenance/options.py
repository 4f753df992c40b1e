"""The synthetic-media label options of every command that writes swapped media (convert, swap, demo)."""

from dataclasses import dataclass
from pathlib import Path

from kaokae.options import option

GROUP = "synthetic-media label (every output is labelled as synthetic; `kaokae verify` reads the label)"


@dataclass
class LabelOptions:
    watermark: bool = option(True, "add the invisible watermark (the metadata label is always written); it costs "
                                   "~1-2 ms per 720p frame and changes pixels by at most 3 levels", group=GROUP)
    c2pa_cert: Path | None = option(None, "also embed a signed C2PA manifest, with this certificate chain (PEM, "
                                          "signer first, issued by a CA); needs --c2pa-key", metavar="PEM",
                                    group=GROUP)
    c2pa_key: Path | None = option(None, "the private key of --c2pa-cert (PEM, unencrypted)", metavar="PEM",
                                   group=GROUP)
