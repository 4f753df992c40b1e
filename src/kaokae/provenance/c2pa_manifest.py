"""Optional C2PA manifest ("Content Credentials") via c2pa-python: a statement signed with the user's own
certificate that the file was created by a kaokae tool from a trained model. Unlike XMP and container tags it
cannot be edited without breaking the signature; like them it is lost when a file is re-encoded, which is what
the watermark is for.

The certificate must suit C2PA (c2pa-rs checks it when signing): an end-entity certificate with the
digitalSignature key usage and an extended key usage such as emailProtection or documentSigning, in a PEM file with
its chain, signer first. Readers trust it only when its CA is on their trust list (`kaokae verify --c2pa-trust`);
otherwise the signature shows as valid but untrusted. Keys: EC P-256/P-384/P-521 (ES256/384/512), RSA (PS256) or
Ed25519. No time-stamp authority is used (kaokae never goes to the network).
"""

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kaokae.atomic import atomic_path
from kaokae.errors import KaokaeError
from kaokae.provenance.label import SYNTHETIC_SOURCE_TYPES, WATERMARK_ID, Label

MIME_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
              ".tif": "image/tiff", ".tiff": "image/tiff", ".mp4": "video/mp4", ".m4v": "video/mp4",
              ".mov": "video/quicktime"}
EC_ALGORITHMS = {"secp256r1": c2pa.C2paSigningAlg.ES256, "secp384r1": c2pa.C2paSigningAlg.ES384,
                 "secp521r1": c2pa.C2paSigningAlg.ES512}
# 1x1 PNG, signed once when a signer is set up so that a certificate C2PA refuses fails before a long convert
_PROBE_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108020000009077"
    "53de0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082")


def _read(path: str | os.PathLike, what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise KaokaeError(f"C2PA {what} {path} does not exist")
    return path.read_bytes()


def _algorithm(key) -> c2pa.C2paSigningAlg:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in EC_ALGORITHMS:
        return EC_ALGORITHMS[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    raise KaokaeError(f"C2PA cannot sign with a {type(key).__name__.lstrip('_')} key "
                      f"(use EC P-256/P-384/P-521, RSA or Ed25519)")


def manifest_definition(label: Label, title: str, watermarked: bool) -> dict:
    agent = {"name": label.tool, "version": label.version}
    return {
        "claim_generator_info": [{"name": "kaokae", "version": label.version}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": label.source_type, "softwareAgent": agent,
                 "when": label.created}]}},
            {"label": "org.kaokae.label", "data": {
                "tool": label.tool, "version": label.version, "model_id": label.model_id, "created": label.created,
                "watermark": WATERMARK_ID if watermarked else "none"}},
        ],
    }


class C2paSigner:
    """Signs written files with the user's certificate chain and key (PEM files)."""

    def __init__(self, cert_path: str | os.PathLike, key_path: str | os.PathLike):
        self.chain = _read(cert_path, "certificate")
        self.key = _read(key_path, "key")
        try:
            certificates = x509.load_pem_x509_certificates(self.chain)
        except ValueError:
            raise KaokaeError(f"C2PA certificate {cert_path} is not a PEM certificate chain") from None
        try:
            key = serialization.load_pem_private_key(self.key, password=None)
        except (ValueError, TypeError) as e:
            raise KaokaeError(f"C2PA key {key_path} is not an unencrypted PEM private key ({e})") from None
        if certificates[0].public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != key.public_key(
                ).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            raise KaokaeError(f"C2PA key {key_path} does not belong to the first certificate in {cert_path}")
        self.algorithm = _algorithm(key)
        try:
            self._sign_stream(manifest_definition(Label("kaokae", "0", None, "1970-01-01T00:00:00Z"), "probe", False),
                              "image/png", io.BytesIO(_PROBE_PNG), io.BytesIO())
        except c2pa.C2paError as e:
            raise KaokaeError(f"C2PA refuses certificate {cert_path}: {e} (it needs an end-entity certificate with "
                              f"the digitalSignature key usage and e.g. the emailProtection extended key usage)") from None

    def _sign_stream(self, manifest: dict, mime: str, source, dest) -> None:
        info = c2pa.C2paSignerInfo(self.algorithm, self.chain, self.key, None)
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
            builder.sign(signer, mime, source, dest)

    def sign(self, path: str | os.PathLike, label: Label, watermarked: bool = True) -> None:
        """Embed a signed manifest in the file at `path`, replacing it atomically."""
        path = Path(path)
        mime = MIME_TYPES.get(path.suffix.lower())
        if mime is None:
            raise KaokaeError(f"C2PA manifests cannot be embedded in {path.suffix or 'extension-less'} files "
                              f"(use {', '.join(sorted(MIME_TYPES))})")
        manifest = manifest_definition(label, path.name, watermarked)
        try:
            with atomic_path(path) as tmp, open(path, "rb") as source, open(tmp, "w+b") as dest:
                self._sign_stream(manifest, mime, source, dest)
        except c2pa.C2paError as e:
            raise KaokaeError(f"C2PA signing of {path} failed: {e}") from None


@dataclass
class C2paReport:
    state: str  # "Trusted" (signer on the trust list), "Valid" (signature and hashes good), "Invalid"
    signer: str | None = None  # the certificate's common name
    issuer: str | None = None
    generator: str | None = None
    source_types: list[str] = field(default_factory=list)  # IPTC digital source types stated by its actions
    failures: list[str] = field(default_factory=list)  # validation codes that failed

    @property
    def synthetic(self) -> bool:
        return any(t in SYNTHETIC_SOURCE_TYPES for t in self.source_types)


def read_c2pa(path: str | os.PathLike, trust_anchors: bytes | None = None) -> C2paReport | None:
    """The active C2PA manifest of a file and its validation, None when it has none (or its format cannot hold
    one). `trust_anchors`: PEM CA certificates whose signers count as trusted. Never fetches remote manifests."""
    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_anchors:
        settings["trust"] = {"trust_anchors": trust_anchors.decode("ascii", "replace")}
    try:
        context = c2pa.Context.from_dict(settings)
        reader = c2pa.Reader.try_create(str(path), context=context)
    except c2pa.C2paError.NotSupported:
        return None
    except c2pa.C2paError as e:
        return C2paReport("Invalid", failures=[str(e)])
    if reader is None:
        return None
    with reader:
        manifest = reader.get_active_manifest() or {}
        results = reader.get_validation_results() or {}
        state = reader.get_validation_state() or "Invalid"
    failures = [item.get("code", "?") for item in (results.get("activeManifest") or {}).get("failure", [])]
    signature = manifest.get("signature_info") or {}
    generators = manifest.get("claim_generator_info") or [{}]
    generator = " ".join(str(generators[0].get(k, "")) for k in ("name", "version")).strip() or None
    source_types = []
    for assertion in manifest.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions", []):
                if action.get("digitalSourceType"):
                    source_types.append(action["digitalSourceType"])
    return C2paReport(state, signature.get("common_name"), signature.get("issuer"), generator, source_types, failures)
