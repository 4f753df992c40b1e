"""One object that convert, swap and demo set up once per run to label everything they write."""

import os

import numpy as np

from kaokae.errors import KaokaeError
from kaokae.provenance.c2pa_manifest import C2paSigner
from kaokae.provenance.label import container_tags, make_label, xmp_packet
from kaokae.provenance.watermark import Watermarker


class Labeller:
    """The synthetic-media label of one run: watermark for pixels, XMP for images, tags for video, C2PA after.

        labeller = Labeller("kaokae convert", model_id=file_sha256(weights), watermark=not args.no_watermark,
                            c2pa_cert=args.c2pa_cert, c2pa_key=args.c2pa_key)
        write_image(dest, labeller.mark(rgb), xmp=labeller.xmp)
        with VideoWriter(dest, fps, metadata=labeller.tags) as writer:
            writer.write(labeller.mark(rgb))
        labeller.sign(dest)  # C2PA manifest when a certificate was given, else nothing

    A bad certificate or key fails here, before any work is done.
    """

    def __init__(self, tool: str, model_id: str | None = None, *, watermark: bool = True,
                 c2pa_cert: str | os.PathLike | None = None, c2pa_key: str | os.PathLike | None = None,
                 model_names: str | None = None):
        if (c2pa_cert is None) != (c2pa_key is None):
            raise KaokaeError("--c2pa-cert and --c2pa-key go together: give both or neither")
        self.label = make_label(tool, model_id, model_names=model_names)
        self.watermarker = Watermarker(self.label.payload) if watermark else None
        self.signer = C2paSigner(c2pa_cert, c2pa_key) if c2pa_cert is not None else None
        self.xmp = xmp_packet(self.label, watermarked=watermark)
        self.tags = container_tags(self.label, watermarked=watermark)

    def mark(self, rgb: np.ndarray) -> np.ndarray:
        """The frame with the invisible watermark added (unchanged with watermark=False)."""
        return self.watermarker.embed(rgb) if self.watermarker else rgb

    def sign(self, path: str | os.PathLike) -> None:
        """Embed a signed C2PA manifest in a written file (nothing without a certificate)."""
        if self.signer is not None:
            self.signer.sign(path, self.label, watermarked=self.watermarker is not None)
