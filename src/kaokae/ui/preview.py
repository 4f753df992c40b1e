"""Live previews for the Convert and Classic swap pages: one frame through the very code the commands run
(convert's `Converter`, swap's `FaceSwapper`), drawn as convert's preview sheet (original | swapped | mask) and
labelled like it. What is slow to make and does not change with the sliders stays loaded between calls: the model,
the face finder, decoded frames and the faces found on them."""

import dataclasses
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from kaokae.convert.locate import FoundFace, alignments_beside, stored_faces
from kaokae.convert.options import ConvertOptions
from kaokae.convert.output import Preview
from kaokae.errors import KaokaeError
from kaokae.faces import align_matrix
from kaokae.media import Frame, probe
from kaokae.media.seek import frame_at
from kaokae.provenance import Labeller, file_sha256


def _finder_key(detect) -> tuple:
    """What makes one FaceFinder differ from another."""
    return detect.detector, detect.max_faces, detect.min_size, detect.min_score


def _version(model: Path) -> tuple:
    """What changes when a model folder gets a new checkpoint (a training job may be running on it)."""
    latest = model / "latest"
    stat = (latest if latest.is_file() else model).stat()
    return stat.st_mtime_ns, stat.st_size


class Cache(OrderedDict):
    """The last `size` values by key."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or_make(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        while len(self) > self.size:
            _, old = self.popitem(last=False)
            if hasattr(old, "close"):
                old.close()
        return value


class Previewer:
    """One per UI process; calls are serialised (the finder and the model are not shared between threads)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.lock = threading.Lock()
        self.models = Cache(2)
        self.labellers = Cache(4)
        self.finders = Cache(1)
        self.frames = Cache(16)
        self.faces = Cache(64)
        self.infos = Cache(16)

    def info(self, path: Path):
        return self.infos.get_or_make((str(path), path.stat().st_mtime_ns), lambda: probe(path))

    def frame(self, path: Path, index: int) -> Frame:
        info = self.info(path)
        return self.frames.get_or_make((str(path), index), lambda: frame_at(info, index))

    def _finder(self, detect):
        return self.finders.get_or_make(_finder_key(detect), detect.finder)

    def convert(self, video: Path, model_dir: Path | None, index: int, options: ConvertOptions) -> Path:
        """The preview sheet row of frame `index` of `video` converted with `model_dir` (or each person's model of
        `options.map`) and `options`, labelled."""
        from kaokae.convert.pipeline import Converter, check_options, detail_photos

        check_options(options)
        if (model_dir is None) == (not options.map):
            raise KaokaeError("choose a model, or a model for at least one person")
        with self.lock:
            models = [self._model(m, options) for m in ([model_dir] if model_dir else
                                                         [e.targets[0] for e in options.map])]
            frame = self.frame(video, index)
            faces = self._faces(video, frame, models[0], options)
            finder = self._finder(options.detect)
            converter = Converter(models, options, self._matcher(options, finder), finder,
                                  self._photo_faces(*detail_photos(options, models), finder, options))
            frames = converter.run([frame], lambda _: faces, {frame.index})
            try:
                swapped = next(frames)
            finally:
                frames.close()
            labeller = self._convert_labeller(models[0], options)
            return self._sheet(frame.image, swapped.image, swapped.alpha, labeller)

    def _model(self, model_dir: Path, options: ConvertOptions):
        from kaokae.convert.model import open_model

        key = (str(model_dir), _version(model_dir), options.direction, options.device, options.precision,
               options.runtime)
        return self.models.get_or_make(key, lambda: open_model(model_dir, options.direction, options.device,
                                                                options.precision, options.runtime))

    def _photo_faces(self, photos: list[Path], given: bool, finder, options: ConvertOptions):
        """The faces of the photos whose detail convert adds, found once per photo (as it is on disk) and finder."""
        from kaokae.swap.swapper import load_sources

        if not photos:
            return None
        # a missing photo gets load_sources' own one-line error
        key = ("photos", tuple((str(p), p.stat().st_mtime_ns if p.exists() else None) for p in photos), given,
               _finder_key(options.detect))
        return self.faces.get_or_make(key, lambda: load_sources(photos, finder, strict=given))

    def _matcher(self, options, finder):
        """Whose faces change, as the commands decide it (--only, --map); None: every face. Kept between calls, its
        references embedded once (the preview's faces have no track, so each is judged afresh)."""
        from kaokae.extract.person_map import person_matcher
        from kaokae.faces.identity import PersonFilter

        if not options.only and not options.map:
            return None
        key = ("matcher", tuple(map(str, options.only)), tuple(map(str, options.map)), options.threshold)
        return self.faces.get_or_make(key, lambda: PersonFilter(options.only, finder, options.threshold)
                                      if options.only else person_matcher(options.map, finder, options.threshold))

    def _faces(self, video: Path, frame: Frame, model, options: ConvertOptions) -> list[FoundFace]:
        """Where the faces are on this frame, as convert finds them: the stored alignments of this input when given
        or beside it, else the detector on the frame alone."""
        alignments = options.alignments
        if alignments is None and options.use_alignments:
            alignments = alignments_beside(video)
        key = (str(video), frame.index, str(alignments), model.face_size, model.centering,
               dataclasses.astuple(options.detect))
        if alignments is not None:
            return self.faces.get_or_make(key, lambda: stored_faces(alignments, self.info(video),
                                                                    model.centering)(frame))

        def detect():
            found = self._finder(options.detect).find(frame.image)
            return [FoundFace(face, align_matrix(face.landmarks, model.face_size, model.centering), model.face_size,
                              None) for face in found]
        return self.faces.get_or_make(key, detect)

    def swap(self, sources: list[Path], target: Path, index: int, options) -> Path:
        """The preview sheet row of frame `index` of `target` with the classic swap of `sources`' face (or each
        person's photos of `options.map`)."""
        from kaokae.options import check
        from kaokae.swap.swapper import FaceSwapper, SwapSettings, load_sources

        check(options)
        if not sources and not options.map:
            raise KaokaeError("give at least one source photo, or a photo for at least one person")
        with self.lock:
            finder = self._finder(options)
            people = [list(sources)] if sources else [list(e.targets) for e in options.map]
            settings = SwapSettings(blend=options.blend, colour=options.colour, erode=options.erode,
                                    feather=options.feather)
            swappers = []
            for photos in people:
                key = ("sources", tuple(map(str, photos)), options.detector, options.max_faces, options.min_size,
                       options.min_score)
                loaded = self.faces.get_or_make(key, lambda photos=photos: load_sources(photos, finder))
                swappers.append(FaceSwapper(loaded, settings, smooth_colour=False))
            matcher = self._matcher(options, finder)
            frame = self.frame(target, index)
            found = self.faces.get_or_make(("swap", str(target), index), lambda: finder.find(frame.image))
            image = frame.image.copy()
            for face in found:
                person = matcher.match(frame.image, face, None, index).person if matcher else 0
                if person is not None:
                    swappers[person].swap(image, face.landmarks)
            alpha = (np.abs(image.astype(np.int16) - frame.image).max(axis=2) > 0).astype(np.float32)
            return self._sheet(frame.image, image, alpha, self._labeller("kaokae swap", people[0][0], options))

    def _convert_labeller(self, model, options: ConvertOptions) -> Labeller:
        """The label `kaokae convert` gives its outputs with this model (the same model id and names)."""
        from kaokae.convert.model import label_model_id
        from kaokae.train.card import model_names

        card = getattr(model, "card", {})
        model_id = label_model_id(model)
        names = model_names(card, card.get("direction", options.direction))
        key = ("kaokae convert", model_id, options.watermark, str(names))
        return self.labellers.get_or_make(key, lambda: Labeller("kaokae convert", model_id=model_id,
                                                                watermark=options.watermark, model_names=names))

    def _labeller(self, tool: str, model_file: Path, options) -> Labeller:
        key = (tool, str(model_file), options.watermark)
        return self.labellers.get_or_make(key, lambda: Labeller(tool, model_id=file_sha256(model_file),
                                                                watermark=options.watermark))

    def _sheet(self, original: np.ndarray, swapped: np.ndarray, alpha: np.ndarray, labeller: Labeller) -> Path:
        """Convert's preview sheet of this one frame, written (watermark and XMP) where the page fetches it."""
        sheet = Preview(1)
        sheet.add(original, swapped, alpha)
        self.count += 1
        return sheet.write(self.folder / f"preview-{self.count % 8}.png", labeller)
