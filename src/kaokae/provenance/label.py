"""What the synthetic-media label says, and how it is written into (and read back from) file metadata.

Images carry an XMP packet with the IPTC digital source type (the property platforms and Adobe/Google tools read to
show "made with AI"); videos carry container tags that ffprobe shows. Both name the tool, its version, the model
and the date. The same facts, shortened to a 6-byte payload, go into the invisible watermark.
"""

import datetime
import hashlib
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from kaokae import __version__

IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC_SOURCE_TYPES + "trainedAlgorithmicMedia"
# IPTC codes that say "this is (partly) synthetic": any of them, written by any tool, counts as a label.
SYNTHETIC_SOURCE_TYPES = {IPTC_SOURCE_TYPES + code for code in (
    "trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "compositeSynthetic")}

# The watermark has one byte for the tool; 0 is any other kaokae tool.
TOOL_CODES = {"kaokae": 0, "kaokae convert": 1, "kaokae swap": 2, "kaokae demo": 3, "kaokae train": 4,
              "kaokae evaluate": 5}
TOOL_NAMES = {code: name for name, code in TOOL_CODES.items()}
MODEL_PREFIX_BYTES = 5

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "kaokae": "urn:kaokae:provenance:1/",
}
TAG_PREFIX = "kaokae_"
WATERMARK_ID = "kaokae-v1"  # which watermark scheme the file carries, so a later version knows how to read it


@dataclass(frozen=True)
class Label:
    tool: str  # "kaokae convert", "kaokae swap", ...
    version: str  # kaokae's version
    model_id: str | None  # sha256 (hex) of the model weights that made it; None for training-free tools
    created: str  # ISO 8601 UTC
    source_type: str = TRAINED_ALGORITHMIC_MEDIA
    model_names: str | None = None  # from the model card: "Alice -> Bob" (whose face became whose)

    @property
    def payload(self) -> bytes:
        """6 bytes for the watermark: the tool's code and the first 40 bits of the model hash."""
        prefix = bytes.fromhex(self.model_id[: 2 * MODEL_PREFIX_BYTES]) if self.model_id else bytes(MODEL_PREFIX_BYTES)
        return bytes([TOOL_CODES.get(self.tool, 0)]) + prefix

    @property
    def sentence(self) -> str:
        model = f", model sha256:{self.model_id[:16]}" if self.model_id else ""
        if self.model_names:
            model += f" ({self.model_names})"
        return (f"Synthetic media: faces altered by {self.tool} {self.version}{model}, {self.created}. "
                f"IPTC digital source type: {self.source_type.rsplit('/', 1)[-1]}.")


def make_label(tool: str, model_id: str | None = None, created: datetime.datetime | None = None,
               model_names: str | None = None) -> Label:
    """The label for everything one run writes. `model_id`: sha256 hex of the model weights (see file_sha256)."""
    if model_id is not None and not re.fullmatch(r"[0-9a-f]{10,64}", model_id):
        raise ValueError(f"model_id must be a lowercase hex sha256, got {model_id!r}")
    created = (created or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    return Label(tool, __version__, model_id, created.strftime("%Y-%m-%dT%H:%M:%SZ"), model_names=model_names)


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_payload(payload: bytes) -> str:
    """'kaokae convert, model 1a2b3c4d5e' for a watermark payload."""
    tool = TOOL_NAMES.get(payload[0], f"unknown tool {payload[0]}")
    model = payload[1:].hex()
    return f"{tool}, model {model}" if any(payload[1:]) else f"{tool}, no model"


# ---------------------------------------------------------------- XMP (images)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def xmp_packet(label: Label, watermarked: bool = True) -> bytes:
    """An XMP packet for PNG/JPEG/WebP/TIFF (kaokae.media.write_image embeds it)."""
    namespaces = " ".join(f'xmlns:{p}="{uri}"' for p, uri in NS.items() if p not in ("x", "rdf"))
    model = f'\n   kaokae:ModelId="{label.model_id}"' if label.model_id else ""
    if label.model_names:
        model += f'\n   kaokae:ModelNames="{_escape(label.model_names)}"'
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="{NS['rdf']}">
  <rdf:Description rdf:about="" {namespaces}
   Iptc4xmpExt:DigitalSourceType="{_escape(label.source_type)}"
   xmp:CreatorTool="{_escape(label.tool)} {_escape(label.version)}"
   xmp:CreateDate="{label.created}"
   kaokae:Tool="{_escape(label.tool)}"
   kaokae:Version="{_escape(label.version)}"
   kaokae:Watermark="{WATERMARK_ID if watermarked else 'none'}"{model}>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{_escape(label.sentence)}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def parse_xmp(packet: bytes | str) -> dict[str, str]:
    """The simple properties of an XMP packet as {'prefix:Name': value} for the namespaces in NS (others are
    '{uri}Name'). Properties may be attributes, elements or rdf:resource references; language alternatives give
    their first entry. Raises ValueError when the packet is not XML."""
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else packet
    for opening, closing in (("<x:xmpmeta", "</x:xmpmeta>"), ("<rdf:RDF", "</rdf:RDF>")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            break
    else:
        raise ValueError("no x:xmpmeta or rdf:RDF element")
    try:
        root = ET.fromstring(text[start: end + len(closing)])
    except ET.ParseError as e:
        raise ValueError(f"XMP is not well-formed XML: {e}") from None
    names = {uri: prefix for prefix, uri in NS.items()}

    def short(tag: str) -> str:
        uri, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        return f"{names[uri]}:{local}" if uri in names else tag

    properties: dict[str, str] = {}
    for description in root.iter(f"{{{NS['rdf']}}}Description"):
        for key, value in description.attrib.items():
            properties.setdefault(short(key), value)
        for child in description:
            resource = child.get(f"{{{NS['rdf']}}}resource")
            items = [li.text or "" for li in child.iter(f"{{{NS['rdf']}}}li")]
            value = resource or (items[0] if items else (child.text or "").strip())
            properties.setdefault(short(child.tag), value)
    return properties


# ---------------------------------------------------------------- container tags (video)


def container_tags(label: Label, watermarked: bool = True) -> dict[str, str]:
    """MP4/MOV/MKV tags (kaokae.media.VideoWriter writes them; ffprobe shows them under format tags)."""
    tags = {
        "comment": label.sentence,
        "creation_time": label.created,
        TAG_PREFIX + "digital_source_type": label.source_type,
        TAG_PREFIX + "tool": label.tool,
        TAG_PREFIX + "version": label.version,
        TAG_PREFIX + "watermark": WATERMARK_ID if watermarked else "none",
    }
    if label.model_id:
        tags[TAG_PREFIX + "model_id"] = label.model_id
    if label.model_names:
        tags[TAG_PREFIX + "model_names"] = label.model_names
    return tags


def label_from_tags(tags: dict[str, str]) -> dict[str, str]:
    """The label's fields found in a container's tags (MKV upper-cases tag names), {} when there are none."""
    lower = {key.lower(): value for key, value in tags.items()}
    return {key[len(TAG_PREFIX):]: value for key, value in lower.items() if key.startswith(TAG_PREFIX)}
