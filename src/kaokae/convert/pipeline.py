"""The convert pipeline: every frame of the input, every face on it swapped by the trained model, written back.

    decode ─> find faces ─> model (batched) ─> paste (mask, colour, blend) ─> encode
    thread     thread         thread             thread                      caller

Each step runs in its own thread with a small bounded queue to the next (`kaokae.threads.background`), so decoding, face
finding, inference and encoding overlap and memory stays flat for any length. Frames keep their order; a frame
without a face passes through untouched.
"""

import contextlib
import dataclasses
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kaokae import progress
from kaokae.composite import TableSmoother
from kaokae.convert.geometry import model_input
from kaokae.convert.locate import DetectedFaces, FoundFace, alignments_beside, stored_faces
from kaokae.convert.masks import MASKS
from kaokae.convert.model import SwapModel, label_model_id, open_model
from kaokae.convert.options import DETAIL_EXPRESSION, ConvertOptions
from kaokae.convert.output import Preview, preview_path
from kaokae.convert.paste import PasteOptions, model_matrix, paste_face
from kaokae.errors import KaokaeError
from kaokae.extract.person_map import check_map, map_paths, person_matcher
from kaokae.faces import align_matrix
from kaokae.faces.identity import PersonFilter, PersonMatcher
from kaokae.media import Frame, MediaInfo, open_media, probe
from kaokae.media.output import check_output
from kaokae.options import OptionError, check
from kaokae.provenance import Labeller
from kaokae.provenance.output import open_labelled_output
from kaokae.threads import background
from kaokae.train.card import model_names


@dataclass
class ConvertResult:
    output: Path
    frames: int  # frames written
    frames_swapped: int  # frames with at least one swapped face
    faces: int  # faces swapped
    seconds: float
    preview: Path | None = None
    frames_without_alignments: int = 0  # with stored alignments: frames that had none (left unchanged)
    faces_left: int | None = None  # with --only or --map: faces of other people (matching nobody), left untouched
    faces_per_person: list[tuple[str, int]] | None = None  # with --map: (person's label, faces swapped) per entry

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        if self.faces_per_person is not None:
            per = ", ".join(f"{label}: {n}" for label, n in self.faces_per_person)
            left = f" ({per}; {self.faces_left} matched nobody and were left as they were)"
        else:
            left = "" if self.faces_left is None else f" ({self.faces_left} of other people left as they were)"
        return (f"converted {self.frames} frames: {self.faces} faces swapped on {self.frames_swapped} frames{left} "
                f"-> {self.output} ({self.seconds:.1f} s, {self.fps:.1f} frames/s)")


@dataclass
class Located:
    frame: Frame
    faces: list[FoundFace]  # each in its own model's centering
    inputs: list[np.ndarray]  # the model's input for each face: (s, s, 3) uint8
    people: list[int]  # which person (and so which of the converter's models) each face is


@dataclass
class Swapped:
    frame: Frame  # the original frame
    image: np.ndarray  # the frame with its faces swapped (the original array itself when there was no face)
    faces: int  # faces swapped
    alpha: np.ndarray | None = None  # the blend mask over the whole frame, for preview frames


def detail_photos(options: ConvertOptions, models: Sequence[SwapModel]) -> tuple[list[Path], bool]:
    """The photos whose fine detail convert adds: --detail-from's (True: given, so a photo without a face is an
    error), else the photos of B the model folder keeps (unless --no-model-photos; one person's: not with several
    models), else none."""
    if options.detail_from:
        return list(options.detail_from), True
    if options.model_photos and len(models) == 1:
        return list(models[0].photos), False
    return [], False


def check_options(o: ConvertOptions, model: SwapModel | None = None) -> None:
    """The options' own checks (kaokae.options), and whether the model can do what they ask."""
    check(o)
    if model is not None and o.mask is not None and MASKS.get(o.mask).learned and not model.has_mask:
        raise OptionError("mask", f"{o.mask} needs a learned mask, and this '{model.architecture}' model has none "
                                  "(use hull)")


class Converter:
    """Swaps faces frame by frame: `run(frames, locate)` yields a `Swapped` per frame, in order.

    locate(frame) -> list[FoundFace] says where the faces are (detected or stored alignments), in the first model's
    centering. With `only`, a PersonMatcher, a face matching nobody is left untouched and person i's faces go
    through models[i] (one model for `--only`; for `--map` one per person, the same object where people share a
    model). `finder`: an open FaceFinder for `--detail-from`'s photos and `--follow-expression`'s landmarks, for
    callers that swap one frame at a time (default: ones opened here); `sources`: the faces of `detail_photos`,
    when the caller keeps them loaded (the UI's previews). The steps after decoding run in their own threads (see
    the module docstring).
    """

    def __init__(self, model: SwapModel | Sequence[SwapModel], options: ConvertOptions,
                 only: PersonMatcher | None = None, finder=None, sources=None):
        self.models = list(model) if isinstance(model, Sequence) else [model]
        for m in self.models:
            check_options(options, m)
        self.model = self.models[0]
        self.options = options
        self.only = only
        self.faces_left = 0  # faces matching no reference, left untouched
        self.faces_per_person = [0] * len(self.models)
        self.detail = self._detail(finder, sources)
        self.paste_options = [PasteOptions(erode=options.erode, feather=options.feather, colour=options.colour,
                                           blend=options.blend, mask=options.mask or ("both" if m.has_mask else "hull"),
                                           # the photo's mesh has no mouth: its open mouth is the frame's, as in
                                           # the classic swap (it won the yardstick on both pairs)
                                           keep_mouth=options.keep_mouth or self.detail is not None)
                              for m in self.models]
        self.colour_smoother = TableSmoother()
        strength = options.follow_expression
        if strength is None:
            strength = DETAIL_EXPRESSION if self.detail is not None else 0.0
        self.expression = None
        if strength > 0:
            from kaokae.convert.expression import ExpressionWarp  # mediapipe's mesh, only when asked for

            self.expression = ExpressionWarp(strength, landmarker=finder.landmarker if finder is not None else None)
        self.ema: dict[object, tuple[np.ndarray, np.ndarray | None]] = {}

    def _detail(self, finder, sources):
        """The fine detail of `detail_photos`' photos (their faces: `sources` when the caller keeps them), or None."""
        photos, given = detail_photos(self.options, self.models)
        if not photos:
            return None
        from kaokae.convert.detail import ClassicDetail  # mediapipe's mesh, only when asked for

        if sources is None:
            from kaokae.swap.swapper import load_sources

            # with the caller's FaceFinder when it keeps one open
            with contextlib.nullcontext(finder) if finder is not None else self.options.detect.finder() as found:
                sources = load_sources(photos, found, strict=given)
        return ClassicDetail(sources) if sources else None

    def close(self) -> None:
        """Closes the landmark model of --follow-expression, when it has one of its own."""
        if self.expression is not None:
            self.expression.close()

    def run(self, frames: Iterable[Frame], locate, preview_frames: set[int] = frozenset()) -> Iterator[Swapped]:
        located = background(self._locate(frames, locate), depth=2 * self.options.batch_size, name="kaokae-faces")
        predicted = background(self._predict(located), depth=2, name="kaokae-model")
        yield from background(self._paste(predicted, preview_frames), depth=4, name="kaokae-paste")

    def swap_frame(self, frame: Frame, locate) -> Swapped:
        """One frame through every step in the caller's thread, the model run on this frame's faces alone: for live
        video, where batching frames together would add their wait to the latency."""
        return next(self._paste(self._run_model([self._located(frame, locate)]), frozenset()))

    # ---- the steps

    def _locate(self, frames: Iterable[Frame], locate) -> Iterator[Located]:
        for frame in background(frames, depth=4, name="kaokae-decode"):
            yield self._located(frame, locate)

    def _located(self, frame: Frame, locate) -> Located:
        faces, people = locate(frame), []
        if faces and self.only is not None:
            matches = [self.only.match(frame.image, f.face, f.track, frame.index, f.identity).person for f in faces]
            kept = [(f, p) for f, p in zip(faces, matches, strict=True) if p is not None]
            self.faces_left += len(faces) - len(kept)
            faces, people = [f for f, _ in kept], [p for _, p in kept]
        else:
            people = [0] * len(faces)
        faces = [self._in_centering_of(f, self.models[p]) for f, p in zip(faces, people, strict=True)]
        return Located(frame, faces, [model_input(frame.image, f.matrix, f.size, self.models[p].size)
                                      for f, p in zip(faces, people, strict=True)], people)

    def _in_centering_of(self, found: FoundFace, model: SwapModel) -> FoundFace:
        """The face aligned for `model`: the located matrix when the model shares the first model's centering
        (sizes are rescaled exactly later), else aligned afresh from the landmarks."""
        if model.centering == self.model.centering:
            return found
        return dataclasses.replace(found, matrix=align_matrix(found.face.landmarks, model.face_size,
                                                              model.centering), size=model.face_size)

    def _predict(self, located: Iterable[Located]) -> Iterator[tuple[Located, list]]:
        """Batches of faces from consecutive frames through the model; yields each frame with its predictions."""
        pending: list[Located] = []
        count = 0
        for item in located:
            pending.append(item)
            count += len(item.faces)
            if count >= self.options.batch_size or len(pending) >= self.options.batch_size:
                yield from self._run_model(pending)
                pending, count = [], 0
        yield from self._run_model(pending)

    def _run_model(self, pending: list[Located]) -> Iterator[tuple[Located, list]]:
        """Each model runs once on all of its faces of `pending`, in batches of batch_size."""
        faces = [(k, i) for k, item in enumerate(pending) for i in range(len(item.faces))]
        predicted: dict[tuple[int, int], tuple[np.ndarray, np.ndarray | None]] = {}
        for model in {id(m): m for m in self.models}.values():
            mine = [(k, i) for k, i in faces if self.models[pending[k].people[i]] is model]
            for start in range(0, len(mine), self.options.batch_size):
                chunk = mine[start:start + self.options.batch_size]
                rgb, mask = model(np.stack([pending[k].inputs[i] for k, i in chunk]))
                for j, key in enumerate(chunk):
                    predicted[key] = (rgb[j], None if mask is None else mask[j])
        for k, item in enumerate(pending):
            predictions = [self._smooth(f.track, *predicted[k, i]) for i, f in enumerate(item.faces)]
            self._forget_ended(item.faces)
            yield item, predictions

    def _smooth(self, track, rgb: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Exponential moving average of a track's predictions in the aligned square, where the face stands still:
        steadies the texture of a model that flickers between similar outputs."""
        weight = self.options.prediction_ema
        if weight <= 0 or track is None:
            return rgb, mask
        new_rgb = rgb.astype(np.float32)
        old = self.ema.get(track)
        if old is not None:
            new_rgb = weight * old[0] + (1 - weight) * new_rgb
            if mask is not None and old[1] is not None:
                mask = weight * old[1] + (1 - weight) * mask
        self.ema[track] = (new_rgb, mask)
        return np.clip(np.rint(new_rgb), 0, 255).astype(np.uint8), mask

    def _forget_ended(self, faces: list[FoundFace]) -> None:
        tracks = {f.track for f in faces if f.track is not None}
        for track in [t for t in self.ema if t not in tracks]:
            del self.ema[track]

    def _paste(self, predicted: Iterable[tuple[Located, list]], preview_frames: set[int]) -> Iterator[Swapped]:
        for item, predictions in predicted:
            frame = item.frame
            alpha = np.zeros(frame.image.shape[:2], np.float32) if frame.index in preview_frames else None
            if not item.faces:
                yield Swapped(frame, frame.image, 0, alpha)
                continue
            out = frame.image.copy()
            for found, person, (rgb, mask) in zip(item.faces, item.people, predictions, strict=True):
                matrix = model_matrix(found.matrix, found.size, self.models[person].size)
                smoother = self.colour_smoother if found.track is not None else None
                paste_face(out, found.face.landmarks, matrix, rgb, mask, self.paste_options[person], smoother,
                           found.track, alpha, self.detail, self.expression)
                self.faces_per_person[person] += 1
            tracks = [f.track for f in item.faces if f.track is not None]
            self.colour_smoother.keep_only(tracks)
            for tracked in (self.detail, self.expression):
                if tracked is not None:
                    tracked.forget_except(tracks)
            yield Swapped(frame, out, len(item.faces), alpha)


def convert(input_path: str | Path, model_dir: str | Path | None, output: str | Path,
            options: ConvertOptions | None = None) -> ConvertResult:
    """Convert `input_path` (video, image or folder of images) with the model in `model_dir` (a model folder, or an
    exported .onnx/.dfm file) into `output`; with `options.map` (and `model_dir` None) each mapped person's faces
    with their own model, in one pass."""
    options = options or ConvertOptions()
    check_options(options)
    if (model_dir is None) == (not options.map):
        raise KaokaeError("give either a model (-m MODEL_DIR) or --map REF=MODEL_DIR, one of the two")
    if options.map:
        check_map(options.map, "model")
    start = time.perf_counter()
    info = probe(input_path)
    output = Path(output)
    check_output(info, output, options.overwrite,
                 [model_dir, *options.only, *options.detail_from, *map_paths(options.map), options.alignments,
                  options.c2pa_cert, options.c2pa_key])
    models = _load_models([model_dir] if model_dir is not None else [e.targets[0] for e in options.map], options)
    model = models[0]
    converter = Converter(models, options)
    card = getattr(model, "card", {})
    # with several models (--map) the label names the first (a label holds one model id)
    labeller = Labeller("kaokae convert", model_id=label_model_id(model), watermark=options.watermark,
                        c2pa_cert=options.c2pa_cert, c2pa_key=options.c2pa_key,
                        model_names=model_names(card, card.get("direction", options.direction)))
    locate = _locator(info, model, options)
    try:
        if options.only or options.map:
            with options.detect.finder() as finder:
                converter.only = (PersonFilter(options.only, finder, options.threshold) if options.only else
                                  person_matcher(options.map, finder, options.threshold))
        preview_at = _preview_frames(info, options.preview)
        preview = Preview(len(preview_at)) if preview_at else None
        frames_swapped = faces = written = 0
        with open_media(info.path) as reader, \
                open_labelled_output(info, output, labeller, crf=options.crf, preset=options.preset,
                                     overwrite=options.overwrite) as writer, \
                progress.bar(total=info.frame_count, desc="convert", unit="frame") as bar, \
                contextlib.closing(converter.run(reader, locate, preview_at)) as swapped_frames:
            # closing() stops the pipeline's threads first if anything goes wrong, before the reader closes
            for swapped in swapped_frames:
                writer.write(swapped.image, swapped.frame)
                if swapped.alpha is not None:
                    preview.add(swapped.frame.image, swapped.image, swapped.alpha)
                written += 1
                frames_swapped += swapped.faces > 0
                faces += swapped.faces
                bar.update(1)
                bar.set_postfix(faces=faces, refresh=False)
    finally:
        locate.close()
        converter.close()
    preview_file = None
    if preview is not None:
        preview_file = preview.write(preview_path(output), labeller)
    missing = getattr(locate, "frames_without_faces", 0)
    if faces == 0:
        option = "--map" if options.map else "--only"
        none_matched = f" (none matched {option})" if converter.faces_left else ""
        progress.warn(f"no face was swapped in {Path(info.path).name}{none_matched}: {output} shows it as it was")
    per_person = ([(e.label, n) for e, n in zip(options.map, converter.faces_per_person, strict=True)]
                  if options.map else None)
    return ConvertResult(output, written, frames_swapped, faces, time.perf_counter() - start, preview_file, missing,
                         converter.faces_left if options.only or options.map else None, per_person)


def _load_models(paths: list[str | Path], options: ConvertOptions) -> list[SwapModel]:
    """One SwapModel per path, each folder loaded once however many people share it."""
    loaded: dict[Path, SwapModel] = {}
    models = []
    for path in paths:
        key = Path(path).resolve()
        if key not in loaded:
            try:
                loaded[key] = open_model(path, options.direction, options.device, options.precision, options.runtime)
            except KaokaeError as e:
                raise KaokaeError(f"--map {path}: {e}" if options.map else str(e)) from None
        models.append(loaded[key])
    return models


def _locator(info: MediaInfo, model: SwapModel, options: ConvertOptions):
    """Stored alignments of this input when given (or found beside it), else detection and tracking."""
    if options.alignments is not None:
        return stored_faces(options.alignments, info, model.centering)
    beside = alignments_beside(info.path) if options.use_alignments else None
    if beside is not None:
        try:
            stored = stored_faces(beside, info, model.centering)
        except KaokaeError as e:
            progress.warn(f"not using the faceset beside the input: {e}")
        else:
            progress.info(f"using the alignments in {beside} (--no-alignments to detect faces afresh)")
            return stored
    return DetectedFaces(info, model.face_size, model.centering, options.detect)


def _preview_frames(info: MediaInfo, count: int) -> set[int]:
    """Frame indices spread evenly over the input."""
    if count <= 0 or info.frame_count <= 0:
        return set()
    return {int(i) for i in np.linspace(0, info.frame_count - 1, min(count, info.frame_count)).round()}
