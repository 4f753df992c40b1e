"""`kaokae verify`: read every kind of synthetic-media label a file may carry and say what was found.

Three independent witnesses, strongest last to disappear: file metadata (XMP in images, container tags in video;
gone after most re-uploads), a C2PA manifest (signed; gone after re-encoding) and the invisible watermark (survives
re-encoding, resizing and cropping).
"""

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from kaokae.errors import KaokaeError
from kaokae.media import open_media, read_image
from kaokae.media.image import is_image_path, list_images
from kaokae.progress import track
from kaokae.provenance.c2pa_manifest import C2paReport, read_c2pa
from kaokae.provenance.label import (
    SYNTHETIC_SOURCE_TYPES,
    describe_payload,
    label_from_tags,
    parse_xmp,
)
from kaokae.provenance.options import VerifyOptions
from kaokae.provenance.watermark import WatermarkResult, detect_watermark

VIDEO_FRAMES = VerifyOptions.frames  # frames whose evidence is added up for a video's watermark
VIDEO_SPAN = 300  # ... spread over this many frames from the start (the mark is in every frame)


@dataclass
class Report:
    path: Path
    kind: str  # "image" | "video"
    metadata: dict[str, str] = field(default_factory=dict)  # digital_source_type, tool, version, model_id, ...
    metadata_note: str | None = None  # why metadata could not be read, when it could not
    watermark: WatermarkResult | None = None
    c2pa: C2paReport | None = None

    @property
    def metadata_synthetic(self) -> bool:
        return self.metadata.get("digital_source_type") in SYNTHETIC_SOURCE_TYPES

    @property
    def labelled(self) -> bool:
        """True when any witness says the file is synthetic."""
        return (self.metadata_synthetic or bool(self.watermark and self.watermark.found)
                or bool(self.c2pa and self.c2pa.synthetic))

    def to_dict(self) -> dict:
        mark = self.watermark
        return {
            "path": str(self.path), "kind": self.kind, "synthetic_label": self.labelled,
            "metadata": self.metadata, "metadata_synthetic": self.metadata_synthetic,
            "watermark": None if mark is None else {
                "found": mark.found, "payload": mark.payload.hex() if mark.payload else None,
                "decoded": describe_payload(mark.payload) if mark.payload else None,
                "confidence": round(mark.confidence, 6), "sync_z": round(mark.sync_z, 2),
                "bit_agreement": round(mark.bit_agreement, 4), "frames": mark.frames},
            "c2pa": None if self.c2pa is None else vars(self.c2pa) | {"synthetic": self.c2pa.synthetic},
        }


def _image_metadata(path: Path) -> tuple[dict[str, str], str | None]:
    try:
        with Image.open(path) as image:
            packet = image.info.get("xmp")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return {}, None  # read_image reports what is wrong with the file itself
    if not packet:
        return {}, None
    try:
        xmp = parse_xmp(packet)
    except ValueError as e:
        return {}, f"XMP present but unreadable: {e}"
    fields = {
        "digital_source_type": xmp.get("Iptc4xmpExt:DigitalSourceType"),
        "tool": xmp.get("kaokae:Tool") or xmp.get("xmp:CreatorTool"),
        "version": xmp.get("kaokae:Version"),
        "model_id": xmp.get("kaokae:ModelId"),
        "model_names": xmp.get("kaokae:ModelNames"),
        "created": xmp.get("xmp:CreateDate"),
        "watermark": xmp.get("kaokae:Watermark"),
    }
    return {key: value for key, value in fields.items() if value}, None


def _video_metadata(path: Path) -> dict[str, str]:
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            tags = dict(container.metadata)
    except av.error.FFmpegError:
        return {}  # open_media reports what is wrong with the file itself
    fields = label_from_tags(tags)
    if "creation_time" in tags and fields:
        fields.setdefault("created", tags["creation_time"])
    return fields


def _video_frames(path: Path, count: int) -> list[np.ndarray]:
    with open_media(path) as reader:
        span = min(reader.info.frame_count or VIDEO_SPAN, VIDEO_SPAN)
        every = max(1, span // count)
        frames = [frame.image for frame, _ in zip(reader.frames(every), range(count), strict=False)]
    if not frames:
        raise KaokaeError(f"{path}: no video frame decodes (damaged file?)")
    return frames


def verify(path: str | os.PathLike, *, watermark: bool = True, frames: int = VIDEO_FRAMES,
           trust_anchors: bytes | None = None) -> Report:
    """Everything `path` says about being synthetic. Raises KaokaeError when the file cannot be read as an image
    or a video. `frames`: video frames examined for the watermark; `trust_anchors`: PEM CAs trusted for C2PA."""
    path = Path(path)
    if not path.is_file():
        raise KaokaeError(f"no such file: {path}" if not path.exists() else f"{path} is not a file")
    if is_image_path(path):
        report = Report(path, "image")
        report.metadata, report.metadata_note = _image_metadata(path)
        pixels = read_image(path)  # raises the one-line error for damaged images
        report.watermark = detect_watermark(pixels) if watermark else None
    else:
        report = Report(path, "video")
        images = _video_frames(path, frames)  # raises for files that are not video
        report.metadata = _video_metadata(path)
        report.watermark = detect_watermark(images) if watermark else None
    report.c2pa = read_c2pa(path, trust_anchors)
    return report


def format_report(report: Report) -> str:
    """The human-readable lines `kaokae verify` prints for one file."""
    verdict = "SYNTHETIC: labelled as made by AI" if report.labelled else "no synthetic-media label found"
    lines = [f"{report.path}: {verdict}"]

    meta = report.metadata
    if meta:
        source = meta.get("digital_source_type", "no digital source type").rsplit("/", 1)[-1]
        details = [f"{k.replace('_', ' ')} {meta[k]}" for k in ("tool", "version", "model_id", "model_names", "created")
                   if k in meta]
        lines.append(f"  metadata:  {source}" + (f" ({', '.join(details)})" if details else ""))
    else:
        lines.append(f"  metadata:  {report.metadata_note or 'none'}")

    mark = report.watermark
    if mark is None:
        lines.append("  watermark: not checked")
    elif mark.found:
        frames = f"{mark.frames} frames, " if mark.frames > 1 else ""
        lines.append(f"  watermark: kaokae mark found: {describe_payload(mark.payload)} ({frames}confidence "
                     f"{mark.confidence:.4f}, sync z {mark.sync_z:.1f}, {mark.bit_agreement:.0%} of coded bits agree)")
        model = meta.get("model_id")
        if model and mark.payload[1:].hex() != model[:10] and any(mark.payload[1:]):
            lines.append("             (the watermark's model differs from the metadata's: relabelled or re-used)")
    else:
        lines.append(f"  watermark: none (sync z {mark.sync_z:.1f}; an unmarked picture gives 3.5-5)")

    c2 = report.c2pa
    if c2 is None:
        lines.append("  c2pa:      none")
    else:
        state = {"Trusted": "valid, signer trusted", "Valid": "valid signature, signer not on the trust list",
                 "Invalid": "INVALID"}.get(c2.state, c2.state)
        who = f"signed by {c2.signer!r}" + (f" of {c2.issuer!r}" if c2.issuer else "") if c2.signer else "unsigned"
        types = ", ".join(t.rsplit("/", 1)[-1] for t in c2.source_types) or "no digital source type"
        made = f", made with {c2.generator}" if c2.generator else ""
        failed = f" (failed: {', '.join(c2.failures)})" if c2.state == "Invalid" and c2.failures else ""
        lines.append(f"  c2pa:      {types}{made}; {who}: {state}{failed}")
    return "\n".join(lines)


def verify_files(paths: list[str], *, as_json: bool = False, watermark: bool = True, frames: int = VIDEO_FRAMES,
                 trust_path: str | None = None) -> int:
    """Verify each file (a folder: each image in it) and print its report. Exit code: 0 when every file carries a
    synthetic-media label, 1 when at least one carries none, 2 when any could not be read."""
    if frames < 1:
        raise KaokaeError(f"--frames must be 1 or more, got {frames}")
    trust = None
    if trust_path is not None:
        trust_file = Path(trust_path)
        if not trust_file.is_file():
            raise KaokaeError(f"C2PA trust list {trust_file} does not exist")
        trust = trust_file.read_bytes()
        if b"-----BEGIN CERTIFICATE-----" not in trust:
            raise KaokaeError(f"C2PA trust list {trust_file} holds no PEM certificate")
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        files.extend(list_images(path) if path.is_dir() else [path])
    if not files:
        raise KaokaeError(f"no images in {', '.join(paths)}")
    unreadable = unlabelled = 0
    for path in track(files, desc="verify", unit="file"):
        try:
            report = verify(path, watermark=watermark, frames=frames, trust_anchors=trust)
        except KaokaeError as e:
            print(f"kaokae: error: {e}", file=sys.stderr)
            if as_json:
                print(json.dumps({"path": str(path), "error": str(e)}), flush=True)
            unreadable += 1
            continue
        unlabelled += not report.labelled
        print(json.dumps(report.to_dict()) if as_json else format_report(report), flush=True)
    return 2 if unreadable else 1 if unlabelled else 0
