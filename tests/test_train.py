"""Training on real faces (pair 2 of the shared data: Obama clips as A, pose_source2 as B, extracted by the real
extract stage once per module): the model learns, survives SIGKILL at any moment and resumes exactly, trains on
two processes, refuses an architecture change, and loads without pickle."""

import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import data_file
from kaokae.cli import main
from kaokae.extract import ExtractOptions, extract
from kaokae.faceset import FaceSet
from kaokae.progress import is_quiet, set_quiet
from kaokae.train import Run, load_model, train
from kaokae.train.augment import Augmentation, augment
from kaokae.train.checkpoint import CHECKPOINTS, HISTORY, LATEST, read_history
from kaokae.train.data import load_faceset
from kaokae.train.losses import (
    blur_matrix,
    gaussian_kernel,
    gradient_l1,
    pixel_weights,
    reconstruction_loss,
    ssim_map,
)
from kaokae.train.models import MODELS, build_model, flops_per_sample, parameter_count
from kaokae.train.photos import PHOTOS, model_photos
from kaokae.train.precision import memory_format, use_bf16

OBAMA = ["styletalk/samples/source_video/video/Obama_clip1.mp4", "styletalk/samples/source_video/video/Obama_clip2.mp4"]
POSE = "edtalk/test_data/pose_source2.mp4"
TINY = ["--width", "0.0625", "--batch-size", "8", "--lr", "1e-3"]  # a 0.3M-parameter original: seconds on a CPU
HOLDOUT = 12


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread, here and in the training subprocesses (OMP_NUM_THREADS=1): on a 2-core machine that other
    work also loads, two OpenMP threads make these tiny models' small convolutions up to 30x slower (measured).
    The quiet setting the tests change is put back too."""
    threads, quiet = torch.get_num_threads(), is_quiet()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    set_quiet(quiet)


@pytest.fixture(scope="module")
def facesets(tmp_path_factory):
    """(A, B) faceset folders: ~100 faces each, every 12th frame (about 10 s of extraction)."""
    set_quiet(True)
    root = tmp_path_factory.mktemp("facesets")
    a, b = root / "obama", root / "pose2"
    extract([data_file(p) for p in OBAMA], a, ExtractOptions(every=12, max_faces=1))
    extract([data_file(POSE)], b, ExtractOptions(every=15, max_faces=1))
    set_quiet(False)
    return a, b


def tiny_run(facesets, model_dir, **kw) -> Run:
    settings = {"batch_size": 8, "lr": 1e-3, **kw.pop("settings", {})}
    return Run(*facesets, model_dir, architecture=kw.pop("architecture", "original"), width=kw.pop("width", 0.0625),
               settings=settings, **kw)


def test_learns_real_faces(facesets, tmp_path):
    """Held-out reconstruction L1 of each person falls by at least 30% within 300 iterations (in the precision
    `auto` picks). Measured over seeds 0-5 in both precisions, the drop of A at 300 iterations was 0.51-0.56 in fp32
    and 0.38-0.56 in bf16; at 200 it was 0.20-0.58 in either (A sits on a plateau for the first ~100-250
    iterations, leaving it at a moment that varies with the seed)."""
    set_quiet(True)
    model_dir = tmp_path / "model"
    train(tiny_run(facesets, model_dir, settings={"holdout": HOLDOUT}, iterations=300, save_every=150,
                   preview_every=150))
    val = [r for r in read_history(model_dir) if "val_l1_a" in r]
    assert [r["iteration"] for r in val] == [0, 150, 300]
    for side in "ab":
        first, last = val[0][f"val_l1_{side}"], val[-1][f"val_l1_{side}"]
        assert last <= 0.7 * first, f"held-out L1 of {side.upper()} fell only from {first:.4f} to {last:.4f}"
    losses = [r["loss_a"] + r["loss_b"] for r in read_history(model_dir) if "loss_a" in r]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])

    # The saved model is what convert loads: same numbers from the folder as during training, and no pickle.
    def no_pickle(*args, **kwargs):
        raise AssertionError("a model load unpickled something")

    with pytest.MonkeyPatch.context() as mp:
        for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
            mp.setattr(module, name, no_pickle)
        model, config = load_model(model_dir, "cpu")
    assert (config.architecture, config.size, config.centering, config.face_size) == ("original", 64, "face", 256)
    _, held_a, _ = load_faceset(facesets[0], config.size, HOLDOUT)
    x = held_a.faces.float() / 255
    with torch.no_grad():
        rgb, mask = model.swap(x[:, :3], to="a")
    assert mask is None and rgb.shape == (HOLDOUT, 3, 64, 64)
    l1 = float(((rgb - x[:, :3]).abs() * x[:, 3:4]).sum() / (x[:, 3:4].sum() * 3))
    assert l1 == pytest.approx(val[-1]["val_l1_a"], rel=1e-3)

    # preview: 6 rows (A, A->A, A->B, B, B->B, B->A) of 8 faces shown at 128 px, plus the label column
    from PIL import Image

    preview = np.asarray(Image.open(model_dir / "preview.png"))
    assert preview.shape == (6 * 128, 64 + 8 * 128, 3)
    a_row, a_to_a = preview[:128, 64:].astype(float), preview[128:256, 64:].astype(float)
    b_row = preview[3 * 128:4 * 128, 64:].astype(float)
    assert np.abs(a_to_a - a_row).mean() < np.abs(a_to_a - b_row).mean()  # A->A looks like A, not like B
    assert Image.open(model_dir / "loss.png").size == (800, 450)


def test_hd_learns_a_mask(facesets, tmp_path):
    """hd (tiny, at 64 px): its mask output learns the landmark face mask within 80 iterations at a constant 1e-3
    (a budgeted schedule spends 20 of the 80 on warm-up), and the model folder loads as an hd model whose swap
    returns a mask."""
    set_quiet(True)
    model_dir = tmp_path / "hd"
    train(tiny_run(facesets, model_dir, architecture="hd", size=64, iterations=80, save_every=80,
                   preview_every=80, settings={"schedule": "constant"}))
    history = [r for r in read_history(model_dir) if "mask_a" in r]
    assert history[-1]["mask_a"] < 0.5 * history[0]["mask_a"] and history[-1]["mask_b"] < 0.5 * history[0]["mask_b"]
    model, config = load_model(model_dir)
    assert (config.architecture, config.size) == ("hd", 64)
    data, _, _ = load_faceset(facesets[1], 64)
    x = data.faces[:8].float() / 255
    with torch.no_grad():
        rgb, mask = model.swap(x[:, :3], to="b")
    face = x[:, 3:4] > 0.5
    assert rgb.shape == (8, 3, 64, 64) and mask.shape == (8, 1, 64, 64)
    assert mask[face].mean() > mask[~face].mean() + 0.3  # high on the face, low off it


def test_minutes_budget_then_architecture_change_is_refused(facesets, tmp_path, capsys):
    model_dir = tmp_path / "model"
    a, b = map(str, facesets)
    start = time.monotonic()
    assert main(["train", a, b, "-m", str(model_dir), *TINY, "--minutes", "0.05"]) == 0
    first = capsys.readouterr().err.strip().splitlines()[0]
    assert first.startswith("kaokae: for 0.05 min on cpu: original 64 px, width 0.0625, batch 8, warm-up + cosine lr "
                            "to 0.001, EMA 0.999, detail loss 1")
    stored = json.loads((model_dir / "config.json").read_text())["train"]
    assert stored["detail"] == 1.0 and stored["warp_end"] == 0.0  # the short-CPU recipe's
    assert ", warp easing to 0x" in first
    state = json.loads((model_dir / CHECKPOINTS / (model_dir / LATEST).read_text().strip() / "state.json").read_text())
    assert state["iteration"] > 0 and state["elapsed_s"] < time.monotonic() - start
    # the plan's end was fixed from the measured speed, and the budget ended at it or at the clock
    plan = state["plan"]
    assert plan["start"] == 0 and plan["end"] >= state["iteration"] > 35
    # revised from the longer measurement, unless the run already ended at the first estimate (on a fast machine
    # the first estimate's end comes before the next check)
    assert plan["revised"] or state["iteration"] == plan["end"]
    assert state["iteration"] == plan["end"] or state["elapsed_s"] >= 3
    for change, message in ((["--model", "hd"], "architecture 'original'; it cannot continue as 'hd'"),
                            (["--width", "0.25"], "different shape"),
                            (["--size", "128"], "different shape")):
        assert main(["train", a, b, "-m", str(model_dir), *change, "--iterations", "4"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (model_dir / LATEST).read_text().strip() == f"{state['iteration']:09d}"  # nothing trained or written
    assert main(["train", a, str(tmp_path / "missing"), "-m", str(tmp_path / "other")]) == 2
    assert "missing" in capsys.readouterr().err and not (tmp_path / "other").exists()


@pytest.mark.parametrize("values, name, message", [
    ({"size": 40}, "size", "size must be a multiple of 16, not 40 (--size)"),
    ({"settings": {"batch_size": 0}}, "batch_size", "batch size must be above 0, not 0 (--batch-size)"),
    ({"settings": {"ema": 1.0}}, "ema", "ema must be at least 0 and below 1, not 1.0 (--ema)"),
    ({"architecture": "evil"}, "model", "unknown model 'evil' (use one of hd, original) (--model)"),
    ({"precision": "fp16"}, "precision", "unknown precision 'fp16' (use one of auto, bf16, fp32) (--precision)"),
    ({"iterations": 5, "minutes": 1.0}, "minutes", "minutes and iterations are two budgets: give one of them "
                                                   "(--minutes)"),
])
def test_a_run_from_a_library_or_ui_is_refused_by_option_name(facesets, tmp_path, values, name, message):
    """Train's checks name the option as kaokae.options does (a UI shows its label, the CLI its flag), not only the
    CLI's flag; nothing is written."""
    from kaokae.options import OptionError

    with pytest.raises(OptionError) as refused:
        train(tiny_run(facesets, tmp_path / "model", **values))
    assert refused.value.name == name and str(refused.value) == message
    assert refused.value.render("Label").startswith(("Label", "unknown Label")) and not (tmp_path / "model").exists()


def test_training_leaves_busy_cores_to_other_work(monkeypatch):
    """With every core kept busy by another process, training takes one thread, not the cores it would fight for;
    its own process's threads do not count; OMP_NUM_THREADS, when set, decides instead."""
    import threading

    from kaokae.train.trainer import busy_cores, leave_busy_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = os.cpu_count()
    spinning = threading.Event()
    spinning.set()

    def spin():
        while spinning.is_set():
            pass

    own = threading.Thread(target=spin, daemon=True)
    own.start()
    try:
        time.sleep(0.3)
        assert busy_cores(0.5) < 0.5, "this process's own thread counted as other work"
    finally:
        spinning.clear()
        own.join()
    competitors = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        assert busy_cores() > 0.6 * cores
        torch.set_num_threads(cores)
        leave_busy_cores(torch.device("cpu"))
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(cores)
        leave_busy_cores(torch.device("cpu"))
        assert torch.get_num_threads() == cores
    finally:
        for competitor in competitors:
            competitor.kill()
            competitor.wait()
        torch.set_num_threads(1)  # the module's setting (see one_thread)


def test_precision_follows_the_cpu(monkeypatch):
    """auto: bf16 + channels-last on a CPU with AMX or AVX512-BF16, fp32 NCHW on one without; bf16 and fp32 force."""
    cpu = torch.device("cpu")
    for capabilities, native in (({"avx2": True, "avx512_f": True}, False), ({"avx512_bf16": True}, True),
                                 ({"amx_bf16": True, "avx512_bf16": True}, True)):
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda capabilities=capabilities: capabilities)
        assert use_bf16(cpu) is native and use_bf16(cpu, "auto") is native
        assert use_bf16(cpu, "bf16") is True and use_bf16(cpu, "fp32") is False
    assert use_bf16(torch.device("meta")) is False
    assert (memory_format(True), memory_format(False)) == (torch.channels_last, torch.contiguous_format)
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        use_bf16(cpu, "fp16")


def test_precision_option(facesets, tmp_path, capsys):
    """--precision is chosen per run: the start line and state.json say which; resuming in another one says so."""
    model_dir = tmp_path / "model"
    a, b = map(str, facesets)

    def saved_precision() -> str:
        folder = model_dir / CHECKPOINTS / (model_dir / LATEST).read_text().strip()
        return json.loads((folder / "state.json").read_text())["precision"]

    assert main(["train", a, b, "-m", str(model_dir), *TINY, "--iterations", "3", "--precision", "fp32"]) == 0
    assert "at iteration 0 on cpu in fp32" in capsys.readouterr().err and saved_precision() == "fp32"
    assert main(["train", a, b, "-m", str(model_dir), "--iterations", "6", "--precision", "bf16"]) == 0
    err = capsys.readouterr().err
    assert "the checkpoint was trained in fp32, this run trains in bf16" in err and "on cpu in bf16" in err
    assert saved_precision() == "bf16"
    with pytest.raises(SystemExit, match="2"):
        main(["train", a, b, "-m", str(model_dir), "--precision", "fp16"])
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


def test_resume_is_exact(facesets, tmp_path):
    """10 iterations in one go and 5 + 5 with a restart in between give the same weights, bit for bit (at a
    constant learning rate: a new --iterations is a new budget, and a budgeted schedule starts over)."""
    set_quiet(True)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    constant = {"schedule": "constant"}
    train(tiny_run(facesets, straight, iterations=10, save_every=100, preview_every=100, settings=constant))
    train(tiny_run(facesets, resumed, iterations=5, save_every=100, preview_every=100, settings=constant))
    train(tiny_run(facesets, resumed, iterations=10, save_every=100, preview_every=100))
    for name in ("model.safetensors", "training.safetensors", "optimizer.safetensors"):
        x = load_file(straight / CHECKPOINTS / "000000010" / name)
        y = load_file(resumed / CHECKPOINTS / "000000010" / name)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_the_folder_keeps_sharp_training_faces_of_each_person(facesets, tmp_path):
    """photos/a and photos/b: five faces each, spread over the head's yaw, none of them held out; a model trained
    before them gets them when it is resumed; none for faces under twice the model's size."""
    set_quiet(True)
    model_dir = tmp_path / "m"
    train(tiny_run(facesets, model_dir, iterations=2, save_every=100, preview_every=100, settings={"holdout": 10}))
    for person, path in zip("ab", facesets, strict=True):
        faceset = FaceSet.open(path)
        chosen = [int(p.stem.split("_")[1]) for p in model_photos(model_dir, person)]
        assert len(chosen) == 5 and max(chosen) < len(faceset) - 10, chosen
        # the sharper half of the faces, and a wider spread of yaw than five sharp neighbours would have
        assert np.median(faceset.blur[chosen]) >= np.median(faceset.blur[: len(faceset) - 10])
        yaw = faceset.poses[: len(faceset) - 10, 0]
        assert np.ptp(faceset.poses[chosen, 0]) > 0.5 * (np.quantile(yaw, 0.9) - np.quantile(yaw, 0.1))
    shutil.rmtree(model_dir / PHOTOS)  # as a model from before kaokae kept photos
    train(tiny_run(facesets, model_dir, iterations=3, save_every=100, preview_every=100))
    assert len(model_photos(model_dir, "b")) == 5 and not list((model_dir / PHOTOS).glob(".*"))
    (model_dir / PHOTOS / "b" / "elsewhere.png").symlink_to(FaceSet.open(facesets[0]).face_path(0))
    assert len(model_photos(model_dir, "b")) == 5  # a link out of the folder is not one of its photos
    linked = tmp_path / "linked"
    (linked / PHOTOS).mkdir(parents=True)
    (linked / PHOTOS / "b").symlink_to(model_dir / PHOTOS / "b")  # a whole folder of photos from elsewhere
    assert model_photos(linked, "b") == []
    small = tmp_path / "small"
    train(tiny_run(facesets, small, iterations=1, size=192, save_every=100, preview_every=100))
    assert not (small / PHOTOS).exists()  # 256 px faces are not twice a 192 px model's


def test_schedule_resumes_exactly_and_convert_uses_the_average(facesets, tmp_path, monkeypatch):
    """A run stopped at iteration 13 of its 40 and resumed follows the same warm-up + cosine plan: the same learning
    rates, losses and weights as a run never stopped. model.safetensors holds the moving average (not the
    weights the optimizer stepped), and that is what convert loads."""
    from kaokae.convert import SwapModel
    from kaokae.train import trainer

    set_quiet(True)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    settings = {"warmup": 8, "warp_end": 0.0}  # the warp eases off with the plan: resumed exactly too
    train(tiny_run(facesets, straight, iterations=40, save_every=100, preview_every=100, settings=settings))
    finished = trainer.finished
    monkeypatch.setattr(trainer, "finished", lambda t, stop, logged: finished(t, stop, logged) or t.state.iteration == 13)
    train(tiny_run(facesets, stopped, iterations=40, save_every=100, preview_every=100, settings=settings))
    assert _checkpoint_is_whole(stopped) == 13
    monkeypatch.setattr(trainer, "finished", finished)
    train(tiny_run(facesets, stopped, iterations=40, save_every=100, preview_every=100))
    history = [r for r in read_history(stopped) if "loss_a" in r]
    expected = [r for r in read_history(straight) if "loss_a" in r]
    assert [(r["lr"], r["loss_a"], r["loss_b"]) for r in history] == \
        [(r["lr"], r["loss_a"], r["loss_b"]) for r in expected]
    lrs = [r["lr"] for r in history]  # logged at 10, 20, 30, 40: past the warm-up, decaying to 5% of 1e-3
    assert lrs == sorted(lrs, reverse=True) and lrs[0] > 0.8e-3 and lrs[-1] == pytest.approx(0.05e-3, rel=0.05)
    folder = stopped / CHECKPOINTS / "000000040"
    for name in ("model.safetensors", "training.safetensors", "optimizer.safetensors"):
        x, y = load_file(straight / CHECKPOINTS / "000000040" / name), load_file(folder / name)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    assert json.loads((folder / "state.json").read_text())["plan"] == {"start": 0, "warmup": 8, "end": 40,
                                                                        "revised": False}
    average, stepped = load_file(folder / "model.safetensors"), load_file(folder / "training.safetensors")
    assert not all(torch.equal(average[k], stepped[k]) for k in average)
    loaded = SwapModel(stopped, device="cpu", precision="fp32").model.state_dict()  # fp32: the weights as saved
    assert all(torch.equal(loaded[k].contiguous(), average[k]) for k in average)


def test_from_a_trained_model(facesets, tmp_path, capsys):
    """--from starts a new model from a trained one's encoder and B decoder: its first losses on B are the
    parent's last, not a new model's; config.json names the parent; a different shape is one line, exit 2."""
    a, b = map(str, facesets)
    parent, child = tmp_path / "parent", tmp_path / "child"
    assert main(["train", a, b, "-m", str(parent), *TINY, "--iterations", "120", "-q"]) == 0
    assert main(["train", b, b, "-m", str(child), "--from", str(parent), "--batch-size", "8", "--lr", "1e-3",
                 "--iterations", "10", "-q"]) == 0
    config = json.loads((child / "config.json").read_text())
    assert config["parent"]["model_dir"] == str(parent.resolve()) and config["parent"]["iteration"] == 120
    assert config["model"] == json.loads((parent / "config.json").read_text())["model"]
    history = read_history(child)
    parent_losses = [r for r in read_history(parent) if "loss_b" in r]
    child_losses = [r for r in history if "loss_b" in r and r["iteration"] > 0]
    assert [r["iteration"] for r in history if "parent_end" in r] == [0]  # where loss.png draws the parent's end
    assert child_losses[0]["loss_b"] < 0.8 * parent_losses[0]["loss_b"]
    for extra, message in ((["--width", "0.125"], "it is original (size=64"), (["--model", "hd"], "this run asks for hd")):
        capsys.readouterr()
        assert main(["train", a, b, "-m", str(tmp_path / "other"), "--from", str(parent), *extra,
                     "--iterations", "2"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert main(["train", a, b, "-m", str(child), "--from", str(parent), "--iterations", "20"]) == 2
    assert "already holds a model" in capsys.readouterr().err


def _checkpoint_is_whole(model_dir: Path) -> int:
    """The iteration `latest` names, after checking its checkpoint loads completely."""
    name = (model_dir / LATEST).read_text().strip()
    folder = model_dir / CHECKPOINTS / name
    state = json.loads((folder / "state.json").read_text())
    assert state["iteration"] == int(name)
    assert len(load_file(folder / "model.safetensors")) > 0 and len(load_file(folder / "optimizer.safetensors")) > 0
    return int(name)


def test_ctrl_c_and_sigkill_at_any_moment_then_resume(facesets, tmp_path):
    """Stop training with Ctrl-C (it saves where it stands and exits 0), then kill it with SIGKILL right inside saves
    and at random moments, resuming each time: the checkpoint is always whole, training continues from it, and the
    end result equals an uninterrupted run's."""
    rng = random.Random(4)
    model_dir = tmp_path / "model"
    command = [sys.executable, "-m", "kaokae", "train", *map(str, facesets), "-m", str(model_dir), *TINY,
               "--save-every", "3", "--preview-every", "1000", "--iterations", "80"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    expected_start, kills, inside_save = 0, 0, 0
    for attempt in range(4):
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        latest = model_dir / LATEST
        start = _checkpoint_is_whole(model_dir) if latest.exists() else 0
        deadline = time.monotonic() + 120
        # Wait for training to make progress past where it started, then stop it: Ctrl-C first, then SIGKILL
        # inside a save (a partial checkpoint folder exists) or at a random moment.
        while time.monotonic() < deadline and proc.poll() is None:
            if latest.exists() and int(latest.read_text()) >= start + 6:
                break
            time.sleep(0.01)
        if attempt == 0:
            proc.send_signal(signal.SIGINT)
            stderr = proc.communicate()[1]
            assert proc.returncode == 0 and "stopping after this step and saving" in stderr
            saved = _checkpoint_is_whole(model_dir)
            assert saved >= start + 6 and f"saved {model_dir} at iteration {saved}" in stderr
            expected_start = saved
            continue
        if attempt % 2:
            while time.monotonic() < deadline and proc.poll() is None:
                if any(p.name.startswith(".partial-") for p in (model_dir / CHECKPOINTS).iterdir()):
                    break
                time.sleep(0.0005)
        else:
            time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        stderr = proc.communicate()[1]
        inside_save += any(p.name.startswith(".partial-") for p in (model_dir / CHECKPOINTS).iterdir())
        assert f"at iteration {expected_start} on cpu" in stderr  # it resumed where the last save stood
        expected_start = _checkpoint_is_whole(model_dir)
    assert kills >= 2 and inside_save >= 1  # a half-written checkpoint was left behind at least once
    final = subprocess.run(command, stderr=subprocess.PIPE, text=True, env=env)
    assert final.returncode == 0 and f"at iteration {expected_start} on cpu" in final.stderr
    assert _checkpoint_is_whole(model_dir) == 80
    assert not [p for p in (model_dir / CHECKPOINTS).iterdir() if p.name.startswith(".")]

    # The history reads as one run (no gaps, no repeats) and is the uninterrupted run's, loss for loss; the
    # weights end equal, bit for bit.
    history = [r for r in read_history(model_dir) if "loss_a" in r]
    assert [r["iteration"] for r in history] == list(range(10, 81, 10))
    reference = tmp_path / "reference"  # the same training, one thread as in the subprocesses, never stopped
    set_quiet(True)
    train(tiny_run(facesets, reference, iterations=80, save_every=80, preview_every=1000))
    expected = [r for r in read_history(reference) if "loss_a" in r]
    for got, want in zip(history, expected, strict=True):
        assert (got["loss_a"], got["loss_b"]) == (want["loss_a"], want["loss_b"])
    assert history[-1]["loss_a"] + history[-1]["loss_b"] < 0.9 * (history[0]["loss_a"] + history[0]["loss_b"])
    x = load_file(model_dir / CHECKPOINTS / "000000080" / "model.safetensors")
    y = load_file(reference / CHECKPOINTS / "000000080" / "model.safetensors")
    assert all(torch.equal(x[k], y[k]) for k in x)


DDP_WORKER = """
import os, sys
from safetensors.torch import save_file
from kaokae.train import Run, train
model = train(Run(sys.argv[1], sys.argv[2], sys.argv[3], architecture="original", width=0.0625,
                  settings={"batch_size": 8, "lr": 1e-3, "schedule": "constant"}, iterations=30, save_every=30,
                  preview_every=1000))
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{sys.argv[4]}/rank{os.environ['RANK']}.safetensors")
"""


def test_two_processes_train_one_model(facesets, tmp_path):
    """torchrun with 2 CPU processes (gloo): the loss falls, both ranks end with identical weights, rank 0 alone
    writes the model folder."""
    worker = tmp_path / "worker.py"
    worker.write_text(DDP_WORKER)
    model_dir = tmp_path / "model"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(worker), *map(str, facesets), str(model_dir), str(tmp_path)],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("kaokae: new original model") == 1 and "x 2 processes" in result.stderr
    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    saved = load_file(model_dir / CHECKPOINTS / "000000030" / "model.safetensors")
    assert all(torch.equal(saved[k], rank0[k]) for k in rank0)
    history = [r for r in read_history(model_dir) if "loss_a" in r]
    assert [r["iteration"] for r in history] == [10, 20, 30]
    assert history[-1]["loss_a"] + history[-1]["loss_b"] < 0.9 * (history[0]["loss_a"] + history[0]["loss_b"])
    state = json.loads((model_dir / CHECKPOINTS / "000000030" / "state.json").read_text())
    assert state["world_size"] == 2 and state["faces_seen"] == 30 * 2 * 8 * 2
    assert (model_dir / HISTORY).read_text().count('"iteration": 30,') == 1  # one writer


def test_augmentation_keeps_masks_on_the_face(facesets):
    """A pure flip moves faces and masks alike; the warp distorts the input only, never the target."""
    data, _, _ = load_faceset(facesets[0], 64)
    faces = data.faces[:6]
    g = torch.Generator().manual_seed(0)
    flip = Augmentation(rotation=0, scale=0, shift=0, flip=1.0, warp=0, jitter=0)
    batch = augment(faces, flip, g)
    x = faces.float() / 255
    assert torch.allclose(batch.targets, x[:, :3].flip(-1), atol=1e-5)
    assert torch.allclose(batch.face_mask, x[:, 3:4].flip(-1), atol=1e-5)
    assert torch.equal(batch.inputs, batch.targets)

    warped = augment(faces, Augmentation(rotation=0, scale=0, shift=0, flip=0, jitter=0), g)
    assert torch.allclose(warped.targets, x[:, :3], atol=1e-5)  # the target is the face itself
    change = (warped.inputs - warped.targets).abs().mean().item()
    assert 0.005 < change < 0.1  # the input is a distorted face, not noise

    moved = augment(faces, Augmentation(), g)
    # After a random similarity transform the mask keeps its area within the scale range (+-5%: area +-10%).
    area_before, area_after = x[:, 3].mean((1, 2)), moved.face_mask[:, 0].mean((1, 2))
    assert torch.allclose(area_after, area_before, rtol=0.15)


def test_loss_weights_follow_the_face(facesets):
    """An error on the eyes or mouth costs eyes_mouth times an equal error on the cheeks; the background almost
    nothing."""
    data, _, _ = load_faceset(facesets[1], 64)
    x = data.faces[:4].float() / 255
    target, face, eyes_mouth = x[:, :3], x[:, 3:4], x[:, 4:5]
    weight = pixel_weights(face, eyes_mouth, background=0.1, eyes_mouth_weight=3.0)
    same, l1 = reconstruction_loss(target, target, weight, 1.0, 1.0)
    assert same.item() == pytest.approx(0, abs=1e-6) and l1.item() == 0

    def error_on(region: torch.Tensor) -> float:
        return reconstruction_loss(target + 0.2 * region, target, weight, 1.0, 0.0)[0].item()

    cheeks = (face > 0.99) & (eyes_mouth == 0)
    background = face == 0
    features = eyes_mouth > 0.99
    per_pixel = {name: error_on(region.float()) / region.float().sum().item()
                 for name, region in (("cheeks", cheeks), ("background", background), ("features", features))}
    assert per_pixel["features"] == pytest.approx(3 * per_pixel["cheeks"], rel=0.1)
    assert per_pixel["background"] == pytest.approx(0.1 * per_pixel["cheeks"], rel=0.1)


def test_detail_loss_punishes_blur_not_offsets(facesets):
    """The detail term (L1 on image gradients) is zero for a face off by a constant and large for a blurred face
    that a plain L1 scores as close; with weight `detail` it adds exactly detail x that term."""
    data, _, _ = load_faceset(facesets[1], 64)
    x = data.faces[:4].float() / 255
    target, weight = x[:, :3], pixel_weights(x[:, 3:4], x[:, 4:5], background=0.1, eyes_mouth_weight=3.0)
    blurred = blur_matrix(64) @ target @ blur_matrix(64).T
    l1_blur = reconstruction_loss(blurred, target, weight, 1.0, 0.0)[1].item()
    offset = target + l1_blur  # the same plain L1 as the blurred face
    assert reconstruction_loss(offset, target, weight, 1.0, 0.0)[1].item() == pytest.approx(l1_blur, rel=1e-4)
    assert gradient_l1(offset, target, weight).item() == pytest.approx(0, abs=1e-5)
    detail = gradient_l1(blurred, target, weight).item()
    assert detail > l1_blur  # blur costs more in the gradients than in the pixels
    plain = reconstruction_loss(blurred, target, weight, 1.0, 1.0)[0].item()
    assert reconstruction_loss(blurred, target, weight, 1.0, 1.0, detail=0.5)[0].item() == \
        pytest.approx(plain + 0.5 * detail, rel=1e-5)


def test_detail_weight_changes_training(facesets, tmp_path):
    """TrainConfig.detail reaches the training step: the same seed and batches with the detail term give other
    weights and a higher logged loss (the extra term), and config.json records it."""
    set_quiet(True)
    runs = {d: tmp_path / f"detail_{d:g}" for d in (0.0, 1.0)}
    for d, folder in runs.items():
        train(tiny_run(facesets, folder, iterations=10, save_every=100, preview_every=100, settings={"detail": d}))
    assert json.loads((runs[1.0] / "config.json").read_text())["train"]["detail"] == 1.0
    plain, detailed = (load_file(folder / CHECKPOINTS / "000000010" / "training.safetensors") for folder in
                       runs.values())
    assert not all(torch.equal(plain[k], detailed[k]) for k in plain)
    first = {d: next(r for r in read_history(folder) if "loss_a" in r) for d, folder in runs.items()}
    assert first[1.0]["loss_a"] > first[0.0]["loss_a"] and first[1.0]["loss_b"] > first[0.0]["loss_b"]


def test_ssim_blur_is_the_gaussian_window():
    """SSIM's blur (two matrix products) is the 11-tap Gaussian convolution with reflect padding, rows and columns;
    an image's SSIM with itself is 1."""
    x = torch.rand(2, 3, 40, 48, dtype=torch.float64)
    k = gaussian_kernel().double()
    padded = torch.nn.functional.pad(x, (5, 5, 5, 5), mode="reflect")
    rows = torch.nn.functional.conv2d(padded, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    expected = torch.nn.functional.conv2d(rows, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    got = blur_matrix(40).double() @ x @ blur_matrix(48).double().T
    assert torch.allclose(got, expected, atol=1e-7)
    assert torch.allclose(ssim_map(x.float(), x.float()), torch.ones(x.shape))


def test_models_match_their_descriptions():
    """original: the 2017 layout (82M parameters at full width); hd: 128 px with a mask output, 256 as an option;
    FLOPs counted per face for the benchmark's MFU."""
    with torch.device("meta"):
        original = build_model("original", MODELS["original"].Config.scaled())
        hd = build_model("hd", MODELS["hd"].Config.scaled())
        hd256 = build_model("hd", MODELS["hd"].Config.scaled(size=256))
    convs = [m for m in original.encoder.convs.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == \
        [(d, (5, 5), (2, 2)) for d in (128, 256, 512, 1024)]
    assert original.encoder.dense_in.out_features == 1024 and original.encoder.dense_out.out_features == 4 * 4 * 1024
    assert parameter_count(original) == pytest.approx(82.1e6, rel=0.01)
    x = torch.empty(2, 3, 64, 64, device="meta")
    rgb_a, mask_a, rgb_b, mask_b = original(x, x)
    assert rgb_a.shape == (2, 3, 64, 64) and mask_a is None
    for model, size in ((hd, 128), (hd256, 256)):
        y = torch.empty(2, 3, size, size, device="meta")
        rgb, mask = model.swap(y, "b")
        assert rgb.shape == (2, 3, size, size) and mask.shape == (2, 1, size, size)
    # Analytic multiply-accumulates of original's forward pass per face (convolutions and dense layers); a training
    # step is forward + 2x for backward: 3x, in FLOPs 2 per MAC.
    macs = (32**2 * 25 * 3 * 128 + 16**2 * 25 * 128 * 256 + 8**2 * 25 * 256 * 512 + 4**2 * 25 * 512 * 1024
            + 2 * 16384 * 1024 + 4**2 * 9 * 1024 * 2048
            + 8**2 * 9 * 512 * 1024 + 16**2 * 9 * 256 * 512 + 32**2 * 9 * 128 * 256 + 64**2 * 25 * 64 * 3)
    assert flops_per_sample("original", original.config) == pytest.approx(3 * 2 * macs, rel=0.01)
