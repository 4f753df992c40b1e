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
                                    default_help="none", group=GROUP)
    c2pa_key: Path | None = option(None, "the private key of --c2pa-cert (PEM, unencrypted)", metavar="PEM",
                                   default_help="none", group=GROUP)


@dataclass
class VerifyOptions:
    json: bool = option(False, "print one JSON object per file instead of text")
    frames: int = option(12, "video frames (from the first 300) whose watermark evidence is added up (more is "
                             "slower and finds weaker marks)", minimum=1, maximum=300, metavar="N")
    metadata_only: bool = option(False, "skip the watermark search (fast: reads only metadata and C2PA)")
    c2pa_trust: Path | None = option(None, "CA certificates (PEM) whose C2PA signers count as trusted; without it a "
                                           "good signature shows as valid but not trusted", metavar="PEM",
                                     default_help="none")
