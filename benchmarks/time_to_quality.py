"""Quality per CPU minute, the yardstick of every training change: train each configuration for several budgets,
convert A with each model, and score the learned swap with kaokae.evaluate (dlib's models) beside the classic swap
on the same frames.

Pairs:
  demo   the demo's two portraits (Collins -> Hopper, filmed by kaokae.demo's virtual camera, as `kaokae demo` does);
         the learned swap is scored on A's clip (which it trained on, as in the demo); B->B on B's faceset
  pair2  training pair 2 of ../shared/data as benchmarks/quality.py uses it (Obama -> pose_source2, --holdout, the
         last frames of Obama_clip2 never trained on)
  reagan pair 2's B with a new A (styletalk reagan_clip1, held out the same way): for --from, a model of the same B
         trained on another A (pair2's) as the parent

Configurations (--configs) are named sets of training settings; `after` is what `kaokae train` picks by default,
`before` the constant 5e-5 without an average that it used to run. Each budget is its own run from scratch (a
schedule is sized to its budget); a constant-rate configuration is one run resumed from budget to budget, which is
the same (resuming is exact).

Prints one table per pair and configuration (rows: budget in minutes) and the classic swap's row; writes
time_to_quality_<pair>.png (metrics against minutes, the classic swap as a dashed line), .json and .md to --out.
Results already in --out's JSON are kept and the new ones merged in (a configuration's rows by budget), and a
--work folder keeps the prepared facesets and clips and the trained models: a long comparison can run as several
short calls (one pair, configuration or budget each) on a machine shared with others.

Default (both pairs, `after`, budgets 1,3,8 on pair2 and 1,2,4 on demo): about 25 minutes on 2 CPU cores.
--short: the demo pair only at 1,2,4 minutes, for comparing levers quickly (5-8 minutes per configuration).

Convert-time levers score the same trained models: --classic-detail converts with `--detail-from` the classic
swap's photos, --model-photos with the photos of B the model folder keeps (convert's default, off here unless
asked), --follow-expression S with `--follow-expression S` (convert's default: 0.5 with either detail, else 0), and
--trained-before skips the training (the models of an earlier call in --work).

Usage: .venv/bin/python benchmarks/time_to_quality.py [--short] [--pairs pair2,demo,reagan] [--configs before,after]
       [--budgets 1,2,4] [--from MODEL_DIR] [--classic-detail] [--model-photos] [--follow-expression S]
       [--trained-before] [--frames N] [--out DIR] [--work DIR]
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kaokae import atomic
from kaokae.convert import ConvertOptions, SwapModel, convert
from kaokae.evaluate.model import person_inputs, reconstruction
from kaokae.evaluate.run import frame_window, identity_references, score_pairs
from kaokae.extract import ExtractOptions, extract
from kaokae.faces import FaceFinder
from kaokae.faceset import FaceSet
from kaokae.media import open_media, probe, write_image
from kaokae.progress import info, set_quiet
from kaokae.swap import swap_media
from kaokae.train import Run, train
from kaokae.train.checkpoint import read_history
from quality import A_CLIPS, B_CLIP, CLASSIC_PHOTOS, DATA, EVERY, HOLDOUT, check_held_out, write_clip

A_NEW = "styletalk/samples/source_video/video/reagan_clip1.mp4"
# name -> training settings (Run.settings; architecture, size and width go to the Run) on top of the recipe
# `kaokae train --minutes M` picks
CONFIGS = {
    "after": {},
    "detail": {"detail": 1.0},
    "detail-0.5": {"detail": 0.5},
    "ema-alone": {"schedule": "constant", "lr": 5e-4},
    "hd-96": {"architecture": "hd", "size": 96, "width": 0.25},
    "original-96": {"size": 96},
    "width-0.5": {"width": 0.5},
    "before": {"schedule": "constant", "lr": 5e-5, "ema": 0.0},
    "const-5e-4": {"schedule": "constant", "lr": 5e-4, "ema": 0.0},
    "cosine-no-ema": {"ema": 0.0},
    "peak-5e-4": {"lr": 5e-4},
    "peak-2e-3": {"lr": 2e-3},
    "batch-16": {"batch_size": 16},
    "no-warp": {"warp": 0.0},
    "warp-decay": {"warp_end": 0.0},
    "no-warp-decay": {"warp_end": 1.0},
    "eyes-mouth-6": {"eyes_mouth": 6.0},
}
# (header, how to get it from a summary, format); arrows say which way is better
METRICS = [
    ("verified as B ↑", lambda s: s["identity"].get("verified"), "{:.0%}"),
    ("ID dist to B ↓", lambda s: s["identity"].get("distance_to_target"), "{:.3f}"),
    ("sharpness ↑", lambda s: s.get("sharpness"), "{:.2f}"),
    ("expression NME ↓", lambda s: s["expression_error"], "{:.4f}"),
    ("yaw err ° ↓", lambda s: s["pose_error_deg"]["yaw"], "{:.1f}"),
    ("flicker", lambda s: s["flicker"], "{:.2f}"),
    ("SSIM B→B ↑", lambda s: s.get("reconstruction", {}).get("b_ssim"), "{:.3f}"),
]


def prepare_demo(work: Path) -> dict:
    """The demo's clips and facesets (kaokae.demo's plan, camera and extraction)."""
    from kaokae.demo.run import FULL, PERSON_A, PERSON_B, film, portrait_path

    clips = {p: work / f"{p.name}.mp4" for p in (PERSON_A, PERSON_B)}
    with FaceFinder(max_faces=1) as finder:
        for portrait, clip in clips.items():
            film(portrait, finder, FULL, clip)
    for portrait, clip in clips.items():
        extract([clip], work / portrait.name, ExtractOptions(size=FULL.face_size))
    return {"a": work / PERSON_A.name, "b": work / PERSON_B.name, "test_clip": clips[PERSON_A], "holdout": 0,
            "classic_photos": [portrait_path(PERSON_B)], "frames": 0}


def prepare_pair2(work: Path, frames: int) -> dict:
    """Pair 2 as benchmarks/quality.py prepares it: held-out faces, the test clip inside the held-out stretch."""
    a, b = work / "faceset_a", work / "faceset_b"
    options = ExtractOptions(max_faces=1, every=EVERY)
    extract([DATA / clip for clip in A_CLIPS], a, options)
    extract([DATA / B_CLIP], b, options)
    clip2 = DATA / A_CLIPS[1]
    last = probe(clip2).frame_count - 1
    first = last - frames + 1
    check_held_out(FaceSet.open(a), 1, first)
    test_clip = work / "test_a.mp4"
    write_clip(clip2, test_clip, first, last)
    photos = []
    with open_media(DATA / B_CLIP) as reader:
        step = (reader.info.frame_count - EVERY * HOLDOUT) // CLASSIC_PHOTOS
        for frame in reader.frames(every=step):
            if len(photos) < CLASSIC_PHOTOS:
                photos.append(work / f"b_{frame.index:05d}.png")
                write_image(photos[-1], frame.image)
    return {"a": a, "b": b, "test_clip": test_clip, "holdout": HOLDOUT, "classic_photos": photos, "frames": 0}


def prepare_reagan(work: Path, frames: int, pair2: dict) -> dict:
    """A new A (Reagan) for pair 2's B: held-out faces, the test clip inside the held-out stretch."""
    a = work / "faceset_a"
    extract([DATA / A_NEW], a, ExtractOptions(max_faces=1, every=EVERY))
    last = probe(DATA / A_NEW).frame_count - 1
    first = last - frames + 1
    check_held_out(FaceSet.open(a), 0, first)
    test_clip = work / "test_a.mp4"
    write_clip(DATA / A_NEW, test_clip, first, last)
    return {**pair2, "a": a, "test_clip": test_clip}


def prepared(pair_name: str, work: Path) -> dict:
    """The pair's facesets and clips, from an earlier call's --work folder when it has them."""
    folder = work / pair_name
    record = folder / "pair.json"
    if record.exists():
        return {k: [Path(p) for p in v] if isinstance(v, list) else Path(v) if isinstance(v, str) else v
                for k, v in json.loads(record.read_text()).items()}
    folder.mkdir(parents=True, exist_ok=True)
    if pair_name == "demo":
        pair = prepare_demo(folder)
    elif pair_name == "pair2":
        pair = prepare_pair2(folder, 120)
    else:
        pair = prepare_reagan(folder, 120, prepared("pair2", work))
    record.write_text(json.dumps(pair, default=str))
    return pair


def score(pair: dict, swapped: Path, frames: int, model_dir: Path | None, device: str) -> dict:
    """The learned (or classic) swap's summary on the first `frames` frames of the pair's test clip."""
    if "references" not in pair:  # B's and A's identity, measured once per pair
        pair["references"] = identity_references(pair["b"], pair["a"], None)
    pairs = ((src.image, [swp.image]) for src, swp in zip(frame_window(pair["test_clip"], count=frames),
                                                          frame_window(swapped, count=frames), strict=False))
    summary = score_pairs(pairs, ["swap"], min(frames, probe(swapped).frame_count))[0].summary(pair["references"])
    if model_dir is not None:
        a_inputs, _ = person_inputs(pair["a"], SwapModel(model_dir, "b2a", device), pair["holdout"])
        summary["reconstruction"] = reconstruction(model_dir, a_inputs, pair["b"], device)
    return summary


def run_config(pair: dict, name: str, budgets: list[float], work: Path, frames: int, device: str,
               parent: Path | None, trained_before: bool = False, detail: bool = False,
               expression: float | None = None, model_photos: bool = False) -> list[dict]:
    """One row per budget: minutes, iterations, the summary. trained_before: score the models an earlier call
    trained in `work` instead of training; detail: convert with the classic swap's detail (--detail-from);
    expression: convert with --follow-expression this (None: convert's default); model_photos: with the detail of
    the photos the model folder keeps (convert's default; off here unless asked, so rows stay comparable)."""
    settings = {**CONFIGS[name], "holdout": pair["holdout"]}
    shape = {key: settings.pop(key) for key in ("architecture", "size", "width") if key in settings}
    chained = settings.get("schedule") == "constant"
    rows, model_dir, trained = [], None, 0.0
    for minutes in budgets:
        if not chained or model_dir is None:
            model_dir, trained = work / f"model_{name}{'_from' if parent else ''}_{minutes:g}", 0.0
            if trained_before and not model_dir.exists():
                raise SystemExit(f"--trained-before: no model {model_dir} (train it first)")
            if model_dir.exists() and not trained_before:  # an earlier call's run of this budget: measured afresh
                shutil.rmtree(model_dir)
        if not trained_before:
            train(Run(pair["a"], pair["b"], model_dir, settings=settings, minutes=minutes - trained,
                      save_every=10**9, preview_every=10**9, device=device, parent=parent if trained == 0 else None,
                      **shape))
        trained = minutes
        iterations = int((model_dir / "latest").read_text())
        history = [r for r in read_history(model_dir) if "faces_per_s" in r]
        levers = (("_detail" if detail else "") + ("_photos" if model_photos else "")
                  + ("" if expression is None else f"_expression{expression:g}"))
        learned = work / f"learned_{model_dir.name}{levers}_{minutes:g}.mp4"
        learned.unlink(missing_ok=True)  # an earlier call's
        convert(pair["test_clip"], model_dir, learned, ConvertOptions(
            device=device, watermark=False, detail_from=pair["classic_photos"] if detail else [],
            follow_expression=expression, model_photos=model_photos))
        rows.append({"minutes": minutes, "iterations": iterations, "summary": score(pair, learned, frames, model_dir,
                                                                                     device),
                     "faces_per_s": round(sum(r["faces_per_s"] for r in history[1:]) / max(len(history) - 1, 1), 1),
                     "loadavg": Path("/proc/loadavg").read_text().split()[0], "model_dir": str(model_dir),
                     "video": learned.name})
    return rows


def table(rows: list[dict], classic: dict) -> str:
    lines = ["| minutes | iterations | faces/s | " + " | ".join(m[0] for m in METRICS) + " |",
             "|---:|---:|---:|" + "---:|" * len(METRICS)]
    for row in rows:
        cells = [_cell(get(row["summary"]), fmt) for _, get, fmt in METRICS]
        lines.append(f"| {row['minutes']:g} | {row['iterations']} | {row['faces_per_s']:.0f} | " + " | ".join(cells)
                     + " |")
    cells = [_cell(get(classic), fmt) for _, get, fmt in METRICS]
    lines.append("| classic swap | – | – | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def figure(pair: str, entry: dict, path: Path) -> None:
    """One panel per metric: quality against minutes, a line per configuration, the classic swap dashed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 7), dpi=80)
    axes = fig.subplots(2, 4).ravel()
    for ax, (header, get, _) in zip(axes, METRICS, strict=False):
        for name, rows in entry["configs"].items():
            points = sorted((r["minutes"], get(r["summary"])) for r in rows if get(r["summary"]) is not None)
            if points:
                ax.plot(*zip(*points, strict=True), "o-", label=name)
        value = get(entry["classic"])
        if value is not None:
            ax.axhline(value, linestyle="--", color="0.4", label="classic swap")
        ax.set_title(header)
        ax.set_xlabel("CPU minutes of training")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    axes[-1].axis("off")
    axes[-1].legend(handles, labels, loc="center")
    fig.suptitle(f"{pair}: learned swap quality per training minute (kaokae.evaluate, dlib's models)")
    fig.tight_layout()
    fig.savefig(path)


def frame_strip(pair: dict, entry: dict, folder: Path, path: Path, tile: int = 200) -> None:
    """One test frame: A, each configuration's learned swap at its longest budget, the classic swap: what the
    numbers mean to a viewer."""
    import cv2

    from kaokae.demo.run import labelled

    def frame(video: Path) -> np.ndarray:
        image = next(iter(frame_window(video, first_index=entry["frames"] // 2, count=1))).image
        return cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)

    tiles = [labelled(frame(pair["test_clip"]), "A")]
    for name, rows in entry["configs"].items():
        for row in sorted(rows, key=lambda r: -r["minutes"]):
            video = folder / row.get("video", f"learned_{Path(row.get('model_dir', '-')).name}_{row['minutes']:g}.mp4")
            if video.exists():
                tiles.append(labelled(frame(video), f"{name} {row['minutes']:g} min"))
                break
    tiles.append(labelled(frame(folder / "classic.mp4"), "classic swap"))
    write_image(path, np.concatenate(tiles, axis=1))


def merge(old: dict, new: dict) -> dict:
    """`new` results over `old` ones: a configuration's rows replaced budget by budget, the rest kept."""
    merged = json.loads(json.dumps(old))
    for pair, entry in new.items():
        target = merged.setdefault(pair, {"configs": {}})
        target.update(classic=entry["classic"], frames=entry["frames"])
        for name, rows in entry["configs"].items():
            kept = {r["minutes"]: r for r in target["configs"].get(name, [])}
            kept.update({r["minutes"]: r for r in rows})
            target["configs"][name] = [kept[m] for m in sorted(kept)]
    return merged


def report(results: dict, header: str) -> str:
    lines = [header]
    for pair_name, entry in results.items():
        for name, rows in entry["configs"].items():
            config = CONFIGS[name.split(" ")[0]] or "the default recipe"
            loads = ", ".join(r["loadavg"] for r in rows)
            lines += [f"\n{pair_name}, {name} ({config}), load average after each row's training: {loads}:\n",
                      table(rows, entry["classic"])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the demo pair only, budgets 1,2,4 minutes")
    parser.add_argument("--pairs", default=None, help="comma-separated: demo, pair2, reagan (default pair2,demo; "
                                                      "--short: demo)")
    parser.add_argument("--configs", default="after", help=f"comma-separated, of {', '.join(CONFIGS)}; default after")
    parser.add_argument("--budgets", default=None, help="comma-separated minutes (default 1,3,8 on pair2, 1,2,4 demo)")
    parser.add_argument("--from", dest="parent", type=Path, default=None,
                        help="start every run from this model (kaokae train --from): rows named 'CONFIG --from'")
    parser.add_argument("--classic-detail", action="store_true", help="convert with the classic swap's detail "
                        "(convert --detail-from the classic swap's photos): rows named 'CONFIG +classic detail'")
    parser.add_argument("--model-photos", action="store_true", help="convert with the detail of the photos the "
                        "model folder keeps (convert's default): rows named 'CONFIG +model photos'")
    parser.add_argument("--follow-expression", type=float, default=None, metavar="S", help="convert with "
                        "--follow-expression S (default: convert's): rows named 'CONFIG expression S'")
    parser.add_argument("--trained-before", action="store_true", help="score the models an earlier call trained in "
                        "--work (same configurations and budgets) instead of training them again")
    parser.add_argument("--frames", type=int, default=40, help="frames of A's test clip scored (default 40)")
    parser.add_argument("--out", type=Path, default=Path("time_to_quality"), help="folder for the PNG and JSON; "
                        "results already in its JSON are kept and merged with this call's")
    parser.add_argument("--work", type=Path, default=None, help="working folder, reused by later calls (default: a "
                        "temporary one)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args()
    set_quiet(args.quiet)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    pairs = (args.pairs or ("demo" if args.short else "pair2,demo")).split(",")
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS] + [p for p in pairs if p not in ("demo", "pair2", "reagan")]
    if unknown:
        raise SystemExit(f"unknown: {', '.join(unknown)}")
    saved = args.out / "time_to_quality.json"
    old = json.loads(saved.read_text()) if saved.exists() else {}
    results, start = {}, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kaokae-ttq-") as tmp:
        work = args.work or Path(tmp)
        for pair_name in pairs:
            pair = prepared(pair_name, work)
            folder = work / pair_name
            budgets = [float(b) for b in (args.budgets or ("1,2,4" if pair_name == "demo" else "1,3,8")).split(",")]
            classic = old.get(pair_name, {}).get("classic")
            if classic is None or old[pair_name].get("frames") != args.frames:
                classic_clip = folder / "classic.mp4"
                classic_clip.unlink(missing_ok=True)  # an earlier call's, scored on other frames
                swap_media(pair["classic_photos"], pair["test_clip"], classic_clip, watermark=False)
                classic = score(pair, classic_clip, args.frames, None, device)
            entry = {"classic": classic, "frames": args.frames, "configs": {}}
            for name in configs:
                row_name = (name + (" --from" if args.parent else "") + (" +classic detail" if args.classic_detail
                                                                          else "")
                            + (" +model photos" if args.model_photos else "")
                            + ("" if args.follow_expression is None else f" expression {args.follow_expression:g}"))
                entry["configs"][row_name] = run_config(pair, name, budgets, folder, args.frames, device, args.parent,
                                                        args.trained_before, args.classic_detail,
                                                        args.follow_expression, args.model_photos)
                info(f"{pair_name} {row_name} done after {(time.perf_counter() - start) / 60:.1f} min")
            results[pair_name] = entry
    args.out.mkdir(parents=True, exist_ok=True)
    merged = merge(old, results)
    atomic.write_text(saved, json.dumps(merged, indent=1, default=str) + "\n")
    header = (f"Time to quality on {device}, {os.cpu_count()} CPU threads, torch {torch.__version__}, "
              f"{args.frames} frames scored per point")
    atomic.write_text(args.out / "time_to_quality.md", report(merged, header + " (all results in the JSON)") + "\n")
    for pair_name in results:
        figure(pair_name, merged[pair_name], args.out / f"time_to_quality_{pair_name}.png")
        frame_strip(prepared(pair_name, work), merged[pair_name], work / pair_name,
                    args.out / f"time_to_quality_{pair_name}_frame.png")
    print(report(results, header + f"; {(time.perf_counter() - start) / 60:.1f} min in all"))
    print(f"\nwrote {args.out}/time_to_quality_{{{','.join(results)}}}.png, .json, .md")


if __name__ == "__main__":
    main()
