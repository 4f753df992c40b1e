"""The media layer on real footage from the shared data: probing, the video round trip (frames, fps, timestamps,
audio, quality), rotation, truncated files, images and image folders, atomic writers and flat memory."""

import os
from fractions import Fraction
from itertools import islice

import av
import numpy as np
import pytest
from PIL import Image

from kaokae.errors import KaokaeError
from kaokae.media import (
    ImageFolderWriter,
    MediaInfo,
    VideoWriter,
    list_images,
    natural_key,
    open_media,
    parse_fps,
    probe,
    read_image,
    write_image,
)

BIDEN = "hieubkvn123_face_recognition/videos/biden.mp4"  # 1280x720, 30 fps, 210 frames, AAC, index before data
VFR = "video_retalking/examples/face/1.mp4"  # 700x700, frames 1/30 s and 2/30 s apart, AAC
SHORT = "styletalk/samples/source_video/video/Obama_clip1.mp4"  # 256x256, 30 fps, 602 frames, no audio
PHOTO = "face_recognition/examples/obama-480p.jpg"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def audio_seconds(path) -> float:
    """Length of the decoded audio: samples actually there, not what a header claims."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_probe_real_video(data):
    info = probe(data(BIDEN))
    assert (info.kind, info.width, info.height, info.fps, info.frame_count) == ("video", 1280, 720, Fraction(30), 210)
    assert info.duration == pytest.approx(7.0, abs=0.01)
    assert (info.rotation, info.has_audio, info.codec, info.audio_codec) == (0, True, "h264", "aac")
    assert probe(data(SHORT)).has_audio is False


def test_round_trip_keeps_frames_fps_audio_and_quality(data, tmp_path):
    src, dest = data(BIDEN), tmp_path / "out.mp4"
    info = probe(src)
    # default CRF; a faster preset than the default only to keep the suite quick
    with open_media(src) as reader, VideoWriter(dest, info.fps, audio_from=src, time_base=info.time_base,
                                                preset="veryfast", metadata={"kaokae_test": "yes"}) as writer:
        for frame in reader:
            writer.write(frame.image, time=frame.time)
    out = probe(dest)
    assert (out.frame_count, out.fps, out.width, out.height) == (210, info.fps, 1280, 720)
    assert abs(audio_seconds(dest) - audio_seconds(src)) <= 1 / float(info.fps)
    assert audio_packets(dest) == audio_packets(src)  # AAC copied unchanged, not re-encoded
    with av.open(str(dest)) as container:
        assert container.metadata["kaokae_test"] == "yes"  # custom MP4 tag kept
    scores, times = [], []
    with open_media(src) as a, open_media(dest) as b:
        for fa, fb in zip(a, b, strict=True):
            scores.append(psnr(fa.image, fb.image))
            times.append((fa.time, fb.time))
    assert np.mean(scores) >= 35, f"mean PSNR {np.mean(scores):.1f} dB"
    assert all(ta == pytest.approx(tb, abs=1e-6) for ta, tb in times)
    assert leftovers(tmp_path) == ["out.mp4"]


def test_variable_frame_rate_keeps_every_timestamp(data, tmp_path):
    src, dest = data(VFR), tmp_path / "vfr.mkv"
    info = probe(src)
    with open_media(src) as reader, VideoWriter(dest, info.fps, time_base=info.time_base, preset="ultrafast") as w:
        source_times = []
        for frame in reader:
            w.write(frame.image, time=frame.time)
            source_times.append(frame.time)
    assert len(set(np.round(np.diff(source_times), 4))) == 2  # the source really is variable: 1/30 and 2/30 s steps
    with open_media(dest) as reader:
        out_times = [frame.time for frame in reader]
    np.testing.assert_allclose(out_times, source_times, atol=1e-3)


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_display_rotation_gives_upright_frames(data, tmp_path, degrees):
    """Remux real packets with a display matrix (no re-encode): decoded frames must be the originals turned."""
    src, rotated = data(SHORT), tmp_path / "rotated.mp4"
    with av.open(str(src)) as inp, av.open(str(rotated), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        stream.set_display_rotation(degrees)
        for i, packet in enumerate(inp.demux(inp.streams.video[0])):
            if i == 10:
                break
            packet.stream = stream
            out.mux(packet)
    info = probe(rotated)
    assert info.rotation == degrees % 360
    with open_media(src) as a, open_media(rotated) as b:
        pairs = list(islice(zip(a, b, strict=False), 5))
    turns = degrees // 90  # counter-clockwise quarter turns, as np.rot90 counts them
    for original, turned in pairs:
        np.testing.assert_array_equal(turned.image, np.rot90(original.image, turns))
        assert turned.image.shape[:2] == (info.height, info.width)


def test_truncated_video_yields_decodable_frames_and_one_warning(data, tmp_path, capsys):
    src = data(BIDEN)
    cut = tmp_path / "cut.mp4"
    raw = src.read_bytes()
    cut.write_bytes(raw[: len(raw) // 2])
    with open_media(cut) as reader:
        frames = [frame.image for frame in reader.frames()]
    assert 50 < len(frames) < 210
    with open_media(src) as reader:
        for frame, whole in zip(frames[-3:], list(reader)[len(frames) - 3:len(frames)], strict=True):
            assert psnr(frame, whole.image) > 60  # the frames that decode are the real ones, not garbage
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [f"kaokae: warning: cut.mp4: video ended early: {len(frames)} of 210 frames decoded "
                        "(file truncated or damaged)"]


def huge_frame_video(path):
    """A YUV4MPEG2 file whose header declares 10000x10001 frames, with 4 KiB of picture: FFmpeg opens it, and one
    frame would take 150 MB to read."""
    path.write_bytes(b"YUV4MPEG2 W10000 H10001 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(4096))
    return path


def test_video_frames_over_max_pixels_are_refused_from_the_header(tmp_path):
    from kaokae.media import StreamReader
    from kaokae.media.seek import frame_at

    huge = huge_frame_video(tmp_path / "huge.y4m")
    message = f"{huge} has 10000x10001 video frames (100 megapixels): kaokae reads frames of up to 100 megapixels"
    for read in (probe, lambda p: list(open_media(p))):
        with pytest.raises(KaokaeError) as refused:
            read(huge)
        assert str(refused.value) == message
    with pytest.raises(KaokaeError, match="stream file://.* has 10000x10001 video frames"):
        StreamReader(f"file://{huge}")
    with pytest.raises(KaokaeError, match="has 10000x10001 video frames"):  # a scrub bar's seek, however it knew
        frame_at(MediaInfo(huge, "video", 64, 48, Fraction(25), 1, 0.04), 0)


def test_the_pixel_limit_applies_to_real_video_at_its_exact_size(data, monkeypatch):
    """BIDEN is 1280x720: refused one pixel under that, read at it (the header's size, before any decoding)."""
    import kaokae.paths

    monkeypatch.setattr(kaokae.paths, "MAX_PIXELS", 1280 * 720 - 1)
    with pytest.raises(KaokaeError, match="has 1280x720 video frames"):
        open_media(data(BIDEN))
    monkeypatch.setattr(kaokae.paths, "MAX_PIXELS", 1280 * 720)
    with open_media(data(BIDEN)) as reader:
        assert next(iter(reader)).image.shape == (720, 1280, 3)


def test_every_nth_frame_keeps_source_numbers(data):
    with open_media(data(SHORT)) as reader:
        picked = [(f.index, round(f.time, 4)) for f in reader.frames(every=100)]
    assert picked == [(i, round(i / 30, 4)) for i in range(0, 602, 100)]


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read resident memory")
def test_memory_stays_flat_over_a_long_read(data):
    """602 frames of 192 KiB would be 113 MiB if anything kept them; streaming stays within a few MiB."""
    reader = open_media(data(SHORT))
    base, growth, count = resident_bytes(), 0, 0
    for _ in reader:
        growth = max(growth, resident_bytes() - base)
        count += 1
    assert count == 602
    assert growth < 40 * 2**20, f"resident memory grew {growth / 2**20:.0f} MiB while streaming"


def test_image_folder_natural_order_and_names(data, tmp_path):
    photo = read_image(data(PHOTO))
    names = ["10.png", "2.png", "1.png", "frame_9.PNG", "frame_11.png"]
    crops = {name: np.ascontiguousarray(photo[i * 20:i * 20 + 64, i * 30:i * 30 + 48]) for i, name in enumerate(names)}
    for name, crop in crops.items():
        write_image(tmp_path / name, crop)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"")
    order = ["1.png", "2.png", "10.png", "frame_9.PNG", "frame_11.png"]
    assert [p.name for p in list_images(tmp_path)] == order
    assert sorted(["b10", "b9", "a100"], key=natural_key) == ["a100", "b9", "b10"]
    info = probe(tmp_path, fps=Fraction(30000, 1001))
    assert (info.kind, info.frame_count, info.width, info.height) == ("folder", 5, 48, 64)
    with open_media(tmp_path, fps=Fraction(30000, 1001)) as reader:
        frames = list(reader)
    assert [f.name for f in frames] == order
    assert frames[2].time == pytest.approx(2 * 1001 / 30000)
    for frame in frames:
        np.testing.assert_array_equal(frame.image, crops[frame.name])  # PNG is lossless


def test_read_image_honours_exif_orientation(data, tmp_path):
    upright = read_image(data(PHOTO))
    sideways = tmp_path / "sideways.png"
    # store the picture turned a quarter clockwise and tag it "rotate 90 CW to display" (orientation 8 undoes it)
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(np.rot90(upright, -1)).save(sideways, exif=exif)
    assert probe(sideways).width == upright.shape[1]
    np.testing.assert_array_equal(read_image(sideways), upright)


# where other tools (exiftool, Adobe) look for the packet
XMP_MARKERS = {".png": b"iTXtXML:com.adobe.xmp\x00", ".jpg": b"http://ns.adobe.com/xap/1.0/\x00", ".webp": b"XMP ",
               ".tif": b""}


@pytest.mark.parametrize("ext", list(XMP_MARKERS))
def test_write_image_embeds_xmp(data, tmp_path, ext):
    rgb = read_image(data(PHOTO))[:120, :160]
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    dest = write_image(tmp_path / f"labelled{ext}", rgb, xmp=xmp)
    raw = dest.read_bytes()
    assert XMP_MARKERS[ext] in raw and xmp in raw
    with Image.open(dest) as image:
        assert image.info["xmp"] == xmp
    back = read_image(dest)
    assert back.shape == rgb.shape
    assert psnr(back, rgb) > (99 if ext in (".png", ".tif") else 30)
    assert leftovers(tmp_path) == [f"labelled{ext}"]


def test_write_image_refuses_a_label_bmp_cannot_hold(tmp_path):
    with pytest.raises(KaokaeError, match="cannot hold"):
        write_image(tmp_path / "x.bmp", np.zeros((4, 4, 3), np.uint8), xmp=b"<x/>")
    with pytest.raises(KaokaeError, match="unknown image extension"):
        write_image(tmp_path / "x.gif", np.zeros((4, 4, 3), np.uint8))
    assert leftovers(tmp_path) == []


def test_wav_audio_is_reencoded_for_mp4_and_copied_into_mkv(data, tmp_path):
    """PCM cannot go into MP4 unchanged: AAC there, the same PCM in MKV; length kept either way. Odd sizes pad."""
    wav = tmp_path / "speech.wav"
    with av.open(str(data(BIDEN))) as inp, av.open(str(wav), "w") as out:
        source = inp.streams.audio[0]
        stream = out.add_stream("pcm_s16le", rate=source.rate, layout=source.layout)
        for frame in inp.decode(source):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    face = read_image(data(PHOTO))[:101, :77]  # odd both ways
    for ext, codec in ((".mp4", "aac"), (".mkv", "pcm_s16le")):
        dest = tmp_path / f"out{ext}"
        with VideoWriter(dest, 25, audio_from=wav, preset="ultrafast") as writer:
            for _ in range(175):  # 7 s at 25 fps, as long as the audio
                writer.write(face)
        info = probe(dest)
        assert (info.width, info.height, info.audio_codec) == (78, 102, codec)
        assert abs(audio_seconds(dest) - audio_seconds(wav)) <= 1 / 25
        with open_media(dest) as reader:
            first = next(iter(reader)).image
        assert psnr(first[:101, :77], face) > 35
        np.testing.assert_array_equal(first[:101, 77], first[:101, 76])  # padded by repeating the edge
    assert audio_packets(tmp_path / "out.mkv") == audio_packets(wav)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_writers_leave_nothing_behind_on_error(data, tmp_path, error):
    face = read_image(data(PHOTO))[:64, :64]
    with pytest.raises(error):
        with VideoWriter(tmp_path / "out.mp4", 25, audio_from=data(BIDEN)) as writer:
            for _ in range(5):
                writer.write(face)
            raise error()
    with pytest.raises(error):
        with ImageFolderWriter(tmp_path / "stills") as folder:
            for _ in range(5):
                folder.write(face)
            raise error()
    assert leftovers(tmp_path) == []


def test_video_writer_refuses_bad_requests(data, tmp_path):
    face = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(KaokaeError, match="no frames"):
        with VideoWriter(tmp_path / "empty.mp4", 25):
            pass
    with pytest.raises(KaokaeError, match="same size"):
        with VideoWriter(tmp_path / "sizes.mp4", 25) as writer:
            writer.write(face)
            writer.write(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(KaokaeError, match="unknown video extension"):
        VideoWriter(tmp_path / "out.avi", 25)
    src = tmp_path / "src.mp4"
    src.write_bytes(data(BIDEN).read_bytes())
    with pytest.raises(KaokaeError, match="same file"):
        VideoWriter(src, 25, audio_from=src)
    assert leftovers(tmp_path) == ["src.mp4"]


def test_image_folder_writer_replaces_only_when_asked(data, tmp_path):
    face = read_image(data(PHOTO))[:32, :32]
    out = tmp_path / "stills"
    with ImageFolderWriter(out, "jpg") as folder:
        for _ in range(3):
            folder.write(face)
    assert leftovers(out) == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())
    with pytest.raises(KaokaeError, match="not empty"):
        ImageFolderWriter(out)
    with ImageFolderWriter(out, overwrite=True) as folder:
        folder.write(face, name="a")
    assert leftovers(out) == ["a.png"]
    assert leftovers(tmp_path) == ["stills"]


def test_parse_fps():
    assert parse_fps("30000/1001") == Fraction(30000, 1001)
    assert parse_fps("25") == 25 and parse_fps(29.97002997) == Fraction(30000, 1001)
    for bad in ("0", "-5", "abc", "1/0"):
        with pytest.raises(KaokaeError, match="frame rate"):
            parse_fps(bad)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
