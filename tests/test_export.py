"""Export to .onnx / .dfm and back into convert, through the real ONNX Runtime, with a tiny hd model trained here on
real faces (it swaps badly; what is tested is that every file gives what PyTorch gives, in the contract's layout)."""

import json

import numpy as np
import onnxruntime
import pytest
import torch

from conftest import data_file
from kaokae.cli import main
from kaokae.convert.model import OnnxSwapModel, SwapModel
from kaokae.export import HALF_TOLERANCE
from kaokae.extract import ExtractOptions, extract
from kaokae.faces import warp_face
from kaokae.faces.align import align_matrix
from kaokae.faceset import FaceSet
from kaokae.media import open_media, probe
from kaokae.media.tools import copy_first_frames
from kaokae.provenance import verify
from kaokae.train import Run, train
from kaokae.train.checkpoint import load_model

CLIP = "real3dportrait/data/raw/examples/May_5s.mp4"  # 512x512, 25 fps, AAC audio
OTHER = "edtalk/test_data/pose_source2.mp4"
CONSENT = "Both people filmed themselves for this test and agreed to its use."


def cli(capfd, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 12-frame real clip, facesets of May (A) and another speaker (B), a tiny hd model with a card, exported."""
    root = tmp_path_factory.mktemp("export")
    clip = root / "may.mp4"
    copy_first_frames(data_file(CLIP), clip, 12)
    extract([clip], root / "a", ExtractOptions(size=64))
    extract([data_file(OTHER)], root / "b", ExtractOptions(size=64, every=50))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a busy 2-core machine trains ~10x faster on one thread
    try:
        train(Run(root / "a", root / "b", root / "model", architecture="hd", size=32, width=0.125, iterations=10,
                  save_every=10, preview_every=1000, settings={"batch_size": 4},
                  card={"name_a": "May", "name_b": "Speaker B", "consent": CONSENT, "licence": "CC-BY-4.0"}))
    finally:
        torch.set_num_threads(threads)
    assert main(["export", str(root / "model"), "-o", str(root / "m.onnx"), "-q"]) == 0
    assert main(["export", str(root / "model"), "-o", str(root / "m.dfm"), "-q"]) == 0
    return {"root": root, "clip": clip, "model": root / "model", "onnx": root / "m.onnx", "dfm": root / "m.dfm"}


def real_faces(setup, n: int, size: int) -> np.ndarray:
    """n aligned faces of the real clip (the faceset's own PNGs) resized to the model's size, as uint8 NHWC."""
    import cv2

    faceset = FaceSet.open(setup["root"] / "a")
    faces = [cv2.resize(faceset.load_face(i), (size, size), interpolation=cv2.INTER_AREA) for i in range(n)]
    return np.stack(faces)


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_matches_torch_on_real_faces(setup, batch):
    model, config = load_model(setup["model"])
    faces = real_faces(setup, batch, config.size)
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255
    session = onnxruntime.InferenceSession(str(setup["onnx"]), providers=["CPUExecutionProvider"])
    face, mask = session.run(None, {"faces": x.numpy()})
    with torch.no_grad():
        rgb, learned = model.swap(x, to="b")
    assert face.shape == (batch, 3, 32, 32) and mask.shape == (batch, 1, 32, 32)
    assert np.abs(face - rgb.numpy()).max() < 1e-4
    assert np.abs(mask - learned.numpy()).max() < 1e-4
    meta = session.get_modelmeta().custom_metadata_map
    card = json.loads(meta["kaokae.card"])
    assert card["name_a"] == "May" and card["consent"] == CONSENT and card["iterations"] == 10
    assert card["facesets"]["a"]["faces"] == 12 and len(card["facesets"]["a"]["sources"][0]["sha256"]) == 64
    assert card["facesets"]["a"]["path"] == "a"  # the folder's name only: no path of the trainer's disk travels
    contract = json.loads(meta["kaokae.contract"])
    assert contract == {"kind": "kaokae", "size": 32, "face_size": 64, "centering": "face", "has_mask": True, "layout": "NCHW RGB",
                        "dtype": "float32", "range": [0, 1]}


def test_dfm_follows_deepfacelive_contract(setup):
    session = onnxruntime.InferenceSession(str(setup["dfm"]), providers=["CPUExecutionProvider"])
    (face_input,) = session.get_inputs()
    assert face_input.name == "in_face:0" and face_input.type == "tensor(float)"
    assert face_input.shape[1:] == [40, 40, 3] and not isinstance(face_input.shape[0], int)  # dynamic batch
    assert [o.name for o in session.get_outputs()] == ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"]
    # real whole-face crops of the clip, BGR in [0, 1], as DeepFaceLive feeds them
    faceset = FaceSet.open(setup["root"] / "a")
    with open_media(setup["clip"]) as reader:
        frames = [f.image for _, f in zip(range(3), reader, strict=False)]
    crops = np.stack([warp_face(frames[i], align_matrix(faceset.landmarks[i], 40, "whole_face"), 40)
                      for i in range(3)])
    bgr = crops[..., ::-1].astype(np.float32) / 255
    own_mask, celeb, celeb_mask = session.run(None, {"in_face:0": bgr})
    assert own_mask.shape == celeb_mask.shape == (3, 40, 40, 1) and celeb.shape == (3, 40, 40, 3)
    for out in (own_mask, celeb, celeb_mask):
        assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    # outside the model's face square the face is the input itself and the masks are 0
    assert np.abs(celeb[:, 0, :] - bgr[:, 0, :]).max() < 1e-5 and celeb_mask[:, 0, :].max() == 0
    # inside it (the middle 4/5: pixels 4-35 of 40), the graph's swap is exactly the model's own on that square
    model, _ = load_model(setup["model"])
    square = torch.from_numpy(crops[:, 4:36, 4:36].copy()).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        rgb_b, mask_b = model.swap(square, to="b")
        _, mask_a = model.swap(square, to="a")
    assert np.abs(celeb[:, 4:36, 4:36, ::-1] - rgb_b.permute(0, 2, 3, 1).numpy()).max() < 1e-4
    assert np.abs(celeb_mask[:, 4:36, 4:36, 0] - mask_b[:, 0].numpy()).max() < 1e-4
    assert np.abs(own_mask[:, 4:36, 4:36, 0] - mask_a[:, 0].numpy()).max() < 1e-4
    center = slice(8, 32)
    ort_model = OnnxSwapModel(setup["dfm"], device="cpu")
    rgb, mask = ort_model(crops)
    assert rgb.dtype == np.uint8 and mask.shape == (3, 40, 40)
    assert np.abs(rgb[:, center, center].astype(int) - (celeb[:, center, center, ::-1] * 255).round()).max() <= 1


def test_half_is_half_the_size_and_close_to_fp32(setup, tmp_path):
    for suffix in (".onnx", ".dfm"):
        half = tmp_path / f"half{suffix}"
        assert main(["export", str(setup["model"]), "-o", str(half), "--half", "-q"]) == 0
        full = setup["onnx"] if suffix == ".onnx" else setup["dfm"]
        assert half.stat().st_size < 0.6 * full.stat().st_size
        faces = real_faces(setup, 3, 32 if suffix == ".onnx" else 40).astype(np.float32) / 255
        feed = faces.transpose(0, 3, 1, 2).copy() if suffix == ".onnx" else faces[..., ::-1].copy()
        outs = [onnxruntime.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {
            onnxruntime.InferenceSession(str(p)).get_inputs()[0].name: feed}) for p in (full, half)]
        assert max(np.abs(a - b).max() for a, b in zip(*outs, strict=True)) < HALF_TOLERANCE


def test_convert_with_dfm_and_with_folder_give_the_same_frames(setup, capfd):
    root = setup["root"]
    outputs = {}
    for name, model in (("folder", setup["model"]), ("dfm", setup["dfm"]), ("onnx", setup["onnx"])):
        out = root / f"out_{name}.mp4"
        # the same network compared: without the folder's photos of B, which an exported file does not carry
        code, _, err = cli(capfd, "convert", setup["clip"], "-m", model, "-o", out, "--blend", "feather",
                           "--no-alignments", "--no-watermark", "--precision", "fp32", "--no-model-photos", "-q")
        assert code == 0, err
        with open_media(out) as reader:
            outputs[name] = np.stack([f.image for f in reader]).astype(np.float32)
    with open_media(setup["clip"]) as reader:
        source = np.stack([f.image for f in reader]).astype(np.float32)
    changed = np.abs(outputs["folder"] - source).max(-1) > 8  # the swapped pixels
    assert changed.mean() > 0.02
    # the .onnx is the same network on the same crop: codec noise only
    assert np.abs(outputs["onnx"] - outputs["folder"]).mean() < 0.5
    # the .dfm sees the whole-face crop, whose middle is the face square: within codec noise too, apart from the
    # square's edge, where the paste's interpolation reads the whole-face border instead of its own
    assert np.abs(outputs["dfm"] - outputs["folder"])[changed].mean() < 1.5
    assert probe(root / "out_dfm.mp4").frame_count == 12
    labels = [verify(root / f"out_{name}.mp4").metadata for name in ("folder", "dfm", "onnx")]
    assert all(label["model_names"] == "May -> Speaker B" for label in labels)
    assert len({label["model_id"] for label in labels}) == 1  # the exported files name the folder's weights
    # the faceset beside the clip holds face-centred alignments: reused for the .dfm, reframed to whole-face squares
    code, _, err = cli(capfd, "convert", setup["clip"], "-m", setup["dfm"], "-o", root / "stored.mp4",
                       "--alignments", root / "a", "--blend", "feather")
    assert code == 0 and "not using" not in err, err
    with open_media(root / "stored.mp4") as reader:
        stored = np.stack([f.image for f in reader]).astype(np.float32)
    assert np.abs(stored - outputs["dfm"])[changed].mean() < 3.0  # stored vs re-tracked landmarks: close


def test_bad_model_files_are_one_line_errors(setup, tmp_path, capfd):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(setup["onnx"].read_bytes()[:2000])
    text = tmp_path / "notes.dfm"
    text.write_text("this is not a model\n")
    other = tmp_path / "other.onnx"
    _other_inputs_model(other)
    for bad in (truncated, text, other):
        code, _, err = cli(capfd, "convert", setup["clip"], "-m", bad, "-o", tmp_path / "out.mp4", "-q")
        assert code == 2 and err.count("\n") == 1 and err.startswith("kaokae: error: "), err
        assert "Traceback" not in err
    assert not (tmp_path / "out.mp4").exists()


def _other_inputs_model(path):
    """A valid ONNX model whose inputs are neither kaokae's nor a .dfm's."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Relu", ["image"], ["out"])], "other", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_export_needs_consent_and_model_info_shows_the_card(setup, tmp_path, capfd):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(setup["model"], folder)
    code, _, _ = cli(capfd, "model", "card", folder, "--consent", "")
    assert code == 0
    code, _, err = cli(capfd, "export", folder, "-o", tmp_path / "x.dfm")
    assert code == 2 and err.count("\n") == 1 and "kaokae model card" in err and "--consent" in err
    assert not (tmp_path / "x.dfm").exists()
    code, out, _ = cli(capfd, "model", "info", setup["model"])
    assert code == 0
    assert "May" in out and "Speaker B" in out and CONSENT in out and "CC-BY-4.0" in out and "10 iterations" in out
    assert "12 faces from may.mp4" in out
    code, out, _ = cli(capfd, "model", "info", setup["dfm"], "--json")
    assert code == 0 and json.loads(out)["name_b"] == "Speaker B"


def test_kaokae_model_and_file_agree_on_real_faces(setup):
    """SwapModel (PyTorch) and OnnxSwapModel (the .onnx) give the same uint8 faces and masks."""
    torch_model = SwapModel(setup["model"], device="cpu", precision="fp32")
    ort_model = OnnxSwapModel(setup["onnx"], device="cpu")
    faces = real_faces(setup, 3, 32)
    (a, ma), (b, mb) = torch_model(faces), ort_model(faces)
    assert np.abs(a.astype(int) - b).max() <= 1 and np.abs(ma - mb).max() < 1e-4


def test_folder_through_onnxruntime_is_cached_and_follows_the_checkpoint(setup, tmp_path):
    import shutil

    from kaokae.convert.model import open_model

    folder = tmp_path / "model"
    shutil.copytree(setup["model"], folder)
    first = open_model(folder, device="cpu", precision="fp32", runtime="onnxruntime")
    cached = folder / "onnx" / "a2b.onnx"
    assert isinstance(first, OnnxSwapModel) and cached.exists()
    assert first.weights.name == "model.safetensors" and first.card["name_b"] == "Speaker B"
    stamp = cached.stat().st_mtime_ns
    open_model(folder, device="cpu", precision="fp32", runtime="onnxruntime")
    assert cached.stat().st_mtime_ns == stamp  # the same checkpoint: the cached graph is reused
    faces = real_faces(setup, 2, 32)
    before = first(faces)[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(Run(setup["root"] / "a", setup["root"] / "b", folder, iterations=14, save_every=14, preview_every=1000))
    finally:
        torch.set_num_threads(threads)
    again = open_model(folder, device="cpu", precision="fp32", runtime="onnxruntime")
    assert cached.stat().st_mtime_ns != stamp  # a new checkpoint: exported again
    torch_model = SwapModel(folder, device="cpu", precision="fp32")
    assert np.abs(again(faces)[0].astype(int) - torch_model(faces)[0]).max() <= 1
    assert np.abs(again(faces)[0].astype(int) - before).max() > 0


def test_a_damaged_card_is_refused_on_load(setup, tmp_path, capfd):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(setup["model"], folder)
    config = json.loads((folder / "config.json").read_text())
    for bad in ({"consent": 5}, {"owner": "x"}, "not an object"):
        (folder / "config.json").write_text(json.dumps({**config, "card": bad}))
        code, _, err = cli(capfd, "model", "info", folder)
        assert code == 2 and err.count("\n") == 1 and "card" in err, err
