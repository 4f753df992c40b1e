"""Synthetic-media labels end to end: what Labeller writes through kaokae.media (XMP, container tags, watermark,
C2PA) is what `kaokae verify` reads back; real files are reported unlabelled; damaged files give one line, exit 2."""

import datetime
import json

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import data_file
from kaokae.cli import main
from kaokae.errors import KaokaeError
from kaokae.media import VideoWriter, open_media, read_image, write_image
from kaokae.provenance import (
    TRAINED_ALGORITHMIC_MEDIA,
    Labeller,
    container_tags,
    describe_payload,
    make_label,
    parse_xmp,
    verify,
    xmp_packet,
)

MODEL_ID = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
FACE_CLIP = "video_retalking/examples/face/3.mp4"  # 590x590, 25 fps
REAL_PHOTO = "face_recognition/examples/obama-480p.jpg"


def frames_of(path, count: int) -> list[np.ndarray]:
    with open_media(path) as reader:
        return [f.image for f, _ in zip(reader.frames(), range(count), strict=False)]


def write_video(dest, frames, labeller: Labeller | None = None, crf: int = 18):
    with VideoWriter(dest, 25, crf=crf, metadata=labeller.tags if labeller else None) as writer:
        for frame in frames:
            writer.write(labeller.mark(frame) if labeller else frame)
    return dest


def certificates(folder, *, usages: bool = True):
    """A test CA and a signer certificate, as PEM files. With `usages` the signer has what C2PA asks for
    (digitalSignature key usage, emailProtection extended key usage); without, C2PA refuses it."""
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kaokae tests")])

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                             crl_sign=not sign, encipher_only=False, decipher_only=False)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("kaokae test CA")).issuer_name(name("kaokae test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(sign=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("kaokae test signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if usages:
        leaf = (leaf.add_extension(usage(sign=True), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False))
    leaf = leaf.sign(ca_key, hashes.SHA256())
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    chain, key_path, ca_path = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
    chain.write_bytes(pem(leaf) + pem(ca))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ca_path.write_bytes(pem(ca))
    return chain, key_path, ca_path


@pytest.fixture(scope="module")
def face_frames():
    return frames_of(data_file(FACE_CLIP), 12)


def test_label_metadata_round_trip():
    label = make_label("kaokae convert", MODEL_ID, created=datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC))
    assert label.payload == bytes([1]) + bytes.fromhex(MODEL_ID[:10])
    assert describe_payload(label.payload) == f"kaokae convert, model {MODEL_ID[:10]}"
    assert describe_payload(make_label("kaokae swap").payload) == "kaokae swap, no model"
    xmp = parse_xmp(xmp_packet(label))
    assert xmp["Iptc4xmpExt:DigitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert xmp["xmp:CreatorTool"] == f"kaokae convert {label.version}"
    assert xmp["xmp:CreateDate"] == "2025-01-02T03:04:05Z"
    assert xmp["kaokae:ModelId"] == MODEL_ID and xmp["kaokae:Watermark"] == "kaokae-v1"
    assert "Synthetic media" in xmp["dc:description"]
    tags = container_tags(label, watermarked=False)
    assert tags["kaokae_digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA and tags["kaokae_watermark"] == "none"
    assert "trainedAlgorithmicMedia" in tags["comment"]
    with pytest.raises(ValueError):
        make_label("kaokae convert", "not-a-hash")


def test_xmp_from_other_tools_and_broken_xmp():
    """Another tool may write the source type as an element or an rdf:resource; both count."""
    element = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
               b'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
               b'<Iptc4xmpExt:DigitalSourceType rdf:resource="http://cv.iptc.org/newscodes/digitalsourcetype/'
               b'compositeWithTrainedAlgorithmicMedia"/></rdf:Description></rdf:RDF></x:xmpmeta>')
    assert parse_xmp(element)["Iptc4xmpExt:DigitalSourceType"].endswith("compositeWithTrainedAlgorithmicMedia")
    with pytest.raises(ValueError):
        parse_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><unclosed></x:xmpmeta>")


@pytest.mark.parametrize("ext", ["png", "jpg", "webp"])
def test_labelled_image_is_reported_synthetic(face_frames, tmp_path, ext):
    labeller = Labeller("kaokae swap")
    dest = write_image(tmp_path / f"swap.{ext}", labeller.mark(face_frames[0]), xmp=labeller.xmp)
    report = verify(dest)
    assert report.labelled and report.metadata_synthetic
    assert report.metadata["tool"] == "kaokae swap" and report.metadata["watermark"] == "kaokae-v1"
    assert report.watermark.found and describe_payload(report.watermark.payload) == "kaokae swap, no model"
    assert report.c2pa is None


def test_labelled_video_survives_platform_reencode(face_frames, tmp_path):
    """A labelled MP4 re-encoded at CRF 28 without its tags (what an upload does) is still found by its mark."""
    labeller = Labeller("kaokae convert", MODEL_ID)
    for ext in ("mp4", "mkv"):
        report = verify(write_video(tmp_path / f"out.{ext}", face_frames, labeller))
        assert report.labelled and report.metadata_synthetic, ext  # MKV upper-cases tag names
        assert report.metadata["model_id"] == MODEL_ID and report.metadata["tool"] == "kaokae convert"
        assert report.watermark.found and report.watermark.payload == labeller.label.payload
        assert report.watermark.frames == 12
    stripped = write_video(tmp_path / "reupload.mp4", frames_of(tmp_path / "out.mp4", 12), crf=28)
    report = verify(stripped)
    assert not report.metadata and report.labelled
    assert report.watermark.payload == labeller.label.payload


def test_no_watermark_option_keeps_the_metadata_label(face_frames, tmp_path):
    labeller = Labeller("kaokae convert", MODEL_ID, watermark=False)
    assert labeller.mark(face_frames[0]) is face_frames[0]
    dest = write_image(tmp_path / "plain.png", labeller.mark(face_frames[0]), xmp=labeller.xmp)
    assert np.array_equal(read_image(dest), face_frames[0])
    report = verify(dest)
    assert report.labelled and report.metadata["watermark"] == "none" and not report.watermark.found


def test_c2pa_manifest_signed_with_generated_certificate(face_frames, tmp_path):
    chain, key, ca = certificates(tmp_path)
    labeller = Labeller("kaokae convert", MODEL_ID, c2pa_cert=chain, c2pa_key=key)
    image = write_image(tmp_path / "out.jpg", labeller.mark(face_frames[0]), xmp=labeller.xmp)
    labeller.sign(image)
    video = write_video(tmp_path / "out.mp4", face_frames[:4], labeller)
    labeller.sign(video)
    for path in (image, video):
        report = verify(path)
        assert report.c2pa.state == "Valid" and report.c2pa.synthetic, report.c2pa
        assert report.c2pa.signer == "kaokae test signer" and report.c2pa.generator.startswith("kaokae")
        assert report.metadata_synthetic and report.watermark.found  # signing kept the XMP/tags and pixels
        assert verify(path, watermark=False, trust_anchors=ca.read_bytes()).c2pa.state == "Trusted"
    tampered = tmp_path / "tampered.jpg"
    data = bytearray(image.read_bytes())
    data[-2000] ^= 0xFF  # inside the JPEG's image data
    tampered.write_bytes(bytes(data))
    report = verify(tampered, watermark=False)
    assert report.c2pa.state == "Invalid" and "assertion.dataHash.mismatch" in report.c2pa.failures


def test_c2pa_refuses_bad_certificates_up_front(tmp_path):
    chain, key, _ = certificates(tmp_path)
    with pytest.raises(KaokaeError, match="go together"):
        Labeller("kaokae convert", c2pa_cert=chain)
    with pytest.raises(KaokaeError, match="does not exist"):
        Labeller("kaokae convert", c2pa_cert=tmp_path / "missing.pem", c2pa_key=key)
    with pytest.raises(KaokaeError, match="not a PEM certificate"):
        Labeller("kaokae convert", c2pa_cert=key, c2pa_key=key)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key, _ = certificates(other)
    with pytest.raises(KaokaeError, match="does not belong"):
        Labeller("kaokae convert", c2pa_cert=chain, c2pa_key=other_key)
    plain = tmp_path / "plain"
    plain.mkdir()
    plain_chain, plain_key, _ = certificates(plain, usages=False)
    with pytest.raises(KaokaeError, match="C2PA refuses certificate"):
        Labeller("kaokae convert", c2pa_cert=plain_chain, c2pa_key=plain_key)
    labeller = Labeller("kaokae convert", c2pa_cert=chain, c2pa_key=key)
    with pytest.raises(KaokaeError, match="cannot be embedded in .mkv"):
        labeller.sign(tmp_path / "out.mkv")


def test_verify_command_exit_codes_and_output(face_frames, tmp_path, data, capsys):
    labeller = Labeller("kaokae swap")
    labelled = write_image(tmp_path / "swap.png", labeller.mark(face_frames[0]), xmp=labeller.xmp)
    real = data(REAL_PHOTO)

    assert main(["verify", str(labelled)]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "trainedAlgorithmicMedia" in out and "kaokae mark found: kaokae swap" in out

    assert main(["verify", str(real)]) == 1
    assert "no synthetic-media label found" in capsys.readouterr().out

    assert main(["verify", "--json", str(labelled), str(real)]) == 1  # one unlabelled file among them
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["synthetic_label"] for r in reports] == [True, False]
    assert reports[0]["watermark"]["decoded"] == "kaokae swap, no model"

    folder = tmp_path / "folder"
    folder.mkdir()
    write_image(folder / "a.jpg", labeller.mark(face_frames[1]), xmp=labeller.xmp)
    assert main(["verify", "-q", "--metadata-only", str(folder)]) == 0
    assert "watermark: not checked" in capsys.readouterr().out


def test_verify_damaged_and_unreadable_files(face_frames, tmp_path, capsys):
    good = write_image(tmp_path / "good.png", face_frames[0])
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    video = write_video(tmp_path / "clip.mp4", face_frames[:3])
    cut_video = tmp_path / "cut.mp4"
    cut_video.write_bytes(video.read_bytes()[:300])
    garbage = tmp_path / "noise.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for path in (truncated, cut_video, garbage, empty, text, tmp_path / "missing.mp4"):
        assert main(["verify", str(path)]) == 2, path
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kaokae: error:"), captured.err
        assert "Traceback" not in captured.err and captured.out == ""
    assert main(["verify", str(good), str(garbage)]) == 2  # the readable one is still reported
    assert "no synthetic-media label found" in capsys.readouterr().out
