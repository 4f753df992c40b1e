"""Synthetic-media labels on everything kaokae writes, and `verify` to read them back.

    from kaokae.provenance import Labeller, file_sha256
    labeller = Labeller("kaokae convert", model_id=file_sha256(weights))   # once per run
    rgb = labeller.mark(rgb)                # invisible watermark (tool id + model hash prefix), every frame
    write_image(dest, rgb, xmp=labeller.xmp)           # IPTC trainedAlgorithmicMedia in XMP
    VideoWriter(dest, fps, metadata=labeller.tags)     # the same in MP4/MKV tags
    labeller.sign(dest)                     # C2PA manifest when the user gave --c2pa-cert/--c2pa-key

    report = verify(path)                   # metadata, watermark, C2PA; report.labelled
"""

from kaokae.provenance.c2pa_manifest import C2paReport, C2paSigner, read_c2pa
from kaokae.provenance.label import (
    SYNTHETIC_SOURCE_TYPES,
    TRAINED_ALGORITHMIC_MEDIA,
    Label,
    container_tags,
    describe_payload,
    file_sha256,
    make_label,
    parse_xmp,
    xmp_packet,
)
from kaokae.provenance.labeller import Labeller
from kaokae.provenance.verify import Report, format_report, verify
from kaokae.provenance.watermark import Watermarker, WatermarkResult, detect_watermark

__all__ = [
    "SYNTHETIC_SOURCE_TYPES", "TRAINED_ALGORITHMIC_MEDIA", "C2paReport", "C2paSigner", "Label", "Labeller", "Report",
    "WatermarkResult", "Watermarker", "container_tags", "describe_payload", "detect_watermark", "file_sha256",
    "format_report", "make_label", "parse_xmp", "read_c2pa", "verify", "xmp_packet",
]
