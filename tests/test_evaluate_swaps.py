"""The evaluator on real swaps: a classic swap of Obama with Biden's face must read as closer to Biden and further
from Obama than the untouched frames, with pose and expression kept; the model form must convert and reconstruct."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from conftest import data_file
from kaokae.cli import main
from kaokae.evaluate import SOURCE_ROW, evaluate_video
from kaokae.media import VideoWriter, open_media

OBAMA_CLIP = "styletalk/samples/source_video/video/Obama_clip1.mp4"
BIDEN = "face_recognition/examples/knn_examples/train/biden"
FRAMES = 10
HOLDOUT = 4  # the untrained model's config says it kept the last 4 faces of each faceset out of training


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """10 frames of Obama (256x256) from 2 s in: enough for flicker, quick to swap."""
    clip = tmp_path_factory.mktemp("clip") / "obama.mp4"
    with open_media(data_file(OBAMA_CLIP)) as reader, VideoWriter(clip, reader.info.fps, crf=12) as writer:
        for frame in reader:
            if frame.time >= 2.0:
                writer.write(frame.image)
                if frame.index >= 60 + FRAMES - 1:
                    break
    return clip


def test_a_classic_swap_reads_as_b_and_keeps_pose_and_expression(short_clip, tmp_path):
    from kaokae.swap import swap_media

    swapped = tmp_path / "as_biden.mp4"
    swap_media([data_file(f"{BIDEN}/biden.jpg")], short_clip, swapped)
    report = evaluate_video(swapped, short_clip, target=data_file(BIDEN), frames=FRAMES)
    swap, source = report.systems["swap"], report.systems[SOURCE_ROW]
    assert swap["faces"] == FRAMES and swap["swapped_face_detected"] >= 0.9
    # Identity moves from Obama towards Biden (dlib's ResNet does not know the swap's mediapipe geometry).
    assert swap["identity"]["distance_to_target"] < source["identity"]["distance_to_target"] - 0.1
    assert swap["identity"]["distance_to_source"] > source["identity"]["distance_to_source"] + 0.1
    assert swap["identity"]["verified"] >= 0.8 and source["identity"]["verified"] == 0.0
    # The swap follows the source's head and face: a few degrees and a few percent of the eye span at most.
    assert max(swap["pose_error_deg"].values()) < 8
    assert 0 < swap["expression_error"] < 0.08
    assert 0.5 < swap["flicker"] < 3
    assert source["flicker"] == 1.0 and source["expression_error"] < 1e-9


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory) -> Path:
    """A tiny model folder written through train's own checkpoint code, with its initial weights (training it would
    take minutes here; the test is about evaluate's plumbing, not the model's quality)."""
    from kaokae.train.checkpoint import ModelConfig, save_checkpoint, write_config
    from kaokae.train.models import build_model, original
    from kaokae.train.trainer import TrainConfig

    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    config = original.Config.scaled(size=64, width=0.25)
    model = build_model("original", config)
    write_config(folder, ModelConfig("original", json.loads(json.dumps(dataclasses.asdict(config))), 256, "face",
                                     dataclasses.asdict(TrainConfig(holdout=HOLDOUT))))
    save_checkpoint(folder, model, torch.optim.AdamW(model.parameters()), {"iteration": 0})
    return folder


def test_the_model_form_converts_frames_and_scores_reconstruction(untrained_model, short_clip, tmp_path, capsys):
    code = main(["evaluate", "--model", str(untrained_model), "--source", str(short_clip), "--target",
                 str(data_file(BIDEN)), "--frames", "4", "--device", "cpu", "--json", str(tmp_path / "r.json"),
                 "-q"])
    assert code == 0
    assert "SSIM A→A" in capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["inputs"]["mode"] == "model"
    swap = report["systems"]["swap"]
    rebuilt = swap["reconstruction"]
    assert rebuilt["a_faces"] == 4 and rebuilt["b_faces"] == 2  # biden.jpg, biden2.jpg
    # Untrained weights rebuild nothing: low SSIM and PSNR, yet real numbers.
    assert 0 <= rebuilt["a_ssim"] < 0.5 and 0 <= rebuilt["b_ssim"] < 0.5
    assert 5 < rebuilt["a_psnr"] < 20
    # The converted frames were pasted over: they differ from the source, which scores flicker 1.0 on itself.
    assert swap["expression_error"] > 0 or swap["identity"]["distance_to_source"] > 0.3
    assert report["systems"][SOURCE_ROW]["flicker"] == 1.0


def test_a_faceset_source_is_evaluated_on_its_held_out_faces(untrained_model, short_clip, tmp_path):
    from kaokae.evaluate import evaluate_model
    from kaokae.extract import ExtractOptions, extract

    faceset = extract([short_clip], tmp_path / "faceset", ExtractOptions(max_faces=1)).faceset
    assert len(faceset) == FRAMES
    report = evaluate_model(untrained_model, faceset.path, data_file(BIDEN), frames=0, device="cpu")
    assert report.inputs["first_index"] == FRAMES - HOLDOUT
    swap = report.systems["swap"]
    assert swap["frames"] == HOLDOUT and swap["faces"] == HOLDOUT  # the aligned faces, read as images
    assert swap["reconstruction"]["a_faces"] == HOLDOUT
    assert report.systems[SOURCE_ROW]["pose_error_deg"]["yaw"] == 0.0
