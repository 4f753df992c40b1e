"""The exported model files, .onnx (kaokae's contract) and .dfm (DeepFaceLab's): writing them, and reading back which
contract a file follows. This module is the only one that knows the two layouts.

kaokae .onnx: input `faces` (N, 3, s, s) float32 RGB in [0, 1], aligned faces of the card's centering at the model's
size s; outputs `face` (N, 3, s, s), the faces redrawn as the other person, and, for models with a learned mask,
`mask` (N, 1, s, s), all in [0, 1]. metadata_props: `kaokae.contract` (this, as JSON), `kaokae.card` (the model card)
and `kaokae.model_id` (sha256 of the weights it was exported from).

.dfm (DeepFaceLive's `DFMModel`): input `in_face:0` (N, R, R, 3) float32 BGR in [0, 1], DeepFaceLab's whole-face
crop; outputs in this order `out_face_mask:0` (N, R, R, 1) the mask of the input face, `out_celeb_face:0`
(N, R, R, 3) the face redrawn as the model's person (BGR), `out_celeb_face_mask:0` (N, R, R, 1) its mask. A kaokae
model sees `face`-centred squares, so the graph resamples: whole-face square -> face square (a fixed scale and shift,
`kaokae.faces.align.reframe_matrix`), model, and back; outside the model's square the face is the input and both
masks are 0. R is 5/4 of the model's size (the face square is the middle 4/5 of the whole-face square).
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kaokae.errors import KaokaeError

# Opset 17: GridSample (the .dfm resampling) needs 16 or later, and 17 runs in every ONNX Runtime since 1.11 (2022),
# which covers the builds DeepFaceLive and FaceFusion ship; newer opsets add nothing these models use.
OPSET = 17
FORMATS = (".onnx", ".dfm")
KAOKAE_INPUT, KAOKAE_OUTPUTS = "faces", ("face", "mask")
DFM_INPUT, DFM_MORPH = "in_face:0", "morph_value:0"
DFM_OUTPUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")
HALF_MIN_ELEMENTS = 16  # initializers stored in fp16 by --half (tiny ones, like shapes, stay as they are)


@dataclass
class Contract:
    """What a model file expects and gives back, read from the graph itself (and kaokae's metadata when present)."""

    kind: str  # "kaokae" | "dfm"
    size: int  # input side in px
    centering: str  # the aligned square it expects ("face", "head" or "whole_face")
    has_mask: bool
    face_size: int | None = None  # kaokae exports: px the aligned face is cut at before resizing to `size`, as in
    # training (the faceset's face size, scaled to this square); None: cut at `size`
    morph: bool = False  # a .dfm with the optional `morph_value:0` input
    card: dict | None = None  # the model card, for files kaokae exported
    model_id: str | None = None  # sha256 of the weights kaokae exported it from

    def to_json(self) -> str:
        layout = "NCHW RGB" if self.kind == "kaokae" else "NHWC BGR"
        return json.dumps({"kind": self.kind, "size": self.size, "face_size": self.face_size or self.size,
                           "centering": self.centering, "has_mask": self.has_mask, "layout": layout,
                           "dtype": "float32", "range": [0, 1]})


def dfm_size(model_size: int) -> int:
    """The whole-face square that holds the model's face square at the same pixel density (5/4 of its side: for a
    model size that is a multiple of 8 the face square then starts on a whole pixel and the resampling is exact)."""
    from kaokae.faces.align import FRAMING

    ratio = FRAMING["whole_face"][0] / FRAMING["face"][0]
    return math.ceil(model_size / ratio - 1e-9)


# ---------------------------------------------------------------- the graphs


def _graphs():
    """The nn.Modules that are exported (torch imported only when exporting)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class KaokaeGraph(nn.Module):
        def __init__(self, model, target: str):
            super().__init__()
            self.model, self.target = model, target

        def forward(self, faces):
            rgb, mask = self.model.swap(faces, to=self.target)
            return (rgb,) if mask is None else (rgb, mask)

    class DfmGraph(nn.Module):
        """in_face (N, R, R, 3) BGR whole-face -> the three DFM outputs (see the module docstring)."""

        def __init__(self, model, source: str, target: str, size: int, centering: str, whole: int):
            super().__init__()
            from kaokae.faces.align import reframe_matrix

            self.model, self.source, self.target = model, source, target
            to_whole = reframe_matrix(centering, "whole_face", size, whole)  # face px -> whole-face px
            to_face = reframe_matrix("whole_face", centering, whole, size)
            self.register_buffer("to_face_grid", _grid(to_whole, size, whole), persistent=False)
            self.register_buffer("to_whole_grid", _grid(to_face, whole, size), persistent=False)

        def forward(self, in_face):
            n = in_face.shape[0]
            whole = in_face.permute(0, 3, 1, 2).flip(1)  # NHWC BGR -> NCHW RGB
            faces = F.grid_sample(whole, self.to_face_grid.expand(n, -1, -1, -1), mode="bilinear",
                                  padding_mode="border", align_corners=False)
            celeb, celeb_mask = self.model.swap(faces, to=self.target)
            _, own_mask = self.model.swap(faces, to=self.source)
            back = self.to_whole_grid.expand(n, -1, -1, -1)
            # outside the face square: the input face, masks 0 (zeros padding, then the square's own coverage)
            inside = F.grid_sample(torch.ones_like(celeb_mask), back, mode="bilinear", padding_mode="zeros",
                                   align_corners=False)
            celeb = F.grid_sample(celeb, back, mode="bilinear", padding_mode="border", align_corners=False)
            celeb = celeb * inside + whole * (1 - inside)
            celeb_mask = F.grid_sample(celeb_mask, back, mode="bilinear", padding_mode="zeros", align_corners=False)
            own_mask = F.grid_sample(own_mask, back, mode="bilinear", padding_mode="zeros", align_corners=False)
            nhwc = lambda x: x.permute(0, 2, 3, 1)  # noqa: E731
            return nhwc(own_mask), nhwc(celeb.flip(1)), nhwc(celeb_mask)

    def _grid(matrix, out_size: int, in_size: int):
        """grid_sample's grid (1, out, out, 2) that reads, for each output pixel, the input pixel `matrix` maps
        it to (pixel centres at integer coordinates, as cv2.warpAffine; align_corners=False normalisation)."""
        ys, xs = np.mgrid[0:out_size, 0:out_size].astype(np.float64)
        u = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
        v = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
        grid = np.stack([(2 * u + 1) / in_size - 1, (2 * v + 1) / in_size - 1], -1)
        return torch.from_numpy(grid[None].astype(np.float32))

    return KaokaeGraph, DfmGraph


# ---------------------------------------------------------------- writing


def export_graph(model, config, path: Path, kind: str, direction: str, metadata: dict[str, str],
                 half: bool = False) -> tuple[Contract, float]:
    """Export `model` (from `load_model`) to `path` (a temporary file: the caller renames it) in fp32, or with
    fp16 weights (`half`: computed in fp32 after a Cast, so it runs on every ONNX Runtime, CPUs included).
    Returns the contract and the largest difference between ONNX Runtime's outputs and PyTorch's (the same graph)
    on a check batch."""
    import warnings

    import onnx
    import torch

    source, target = direction[0], direction[-1]
    has_mask = bool(getattr(model, "has_mask", False))
    model = model.float().eval().to("cpu")
    KaokaeGraph, DfmGraph = _graphs()
    size = config.size
    if kind == "dfm":
        if not has_mask:
            raise KaokaeError(f"a .dfm carries the learned masks DeepFaceLive blends with; this '{config.architecture}' "
                              "model has none: export to .onnx, or train an hd model")
        if config.centering not in ("face", "whole_face"):
            raise KaokaeError(f"a .dfm takes whole-face crops; this model was trained on '{config.centering}'-centred "
                              "faces, which no fixed resampling turns into them: train on face or whole_face facesets")
        whole = size if config.centering == "whole_face" else dfm_size(size)
        graph = DfmGraph(model, source, target, size, config.centering, whole)
        example = torch.rand(2, whole, whole, 3)
        inputs, outputs = [DFM_INPUT], list(DFM_OUTPUTS)
        contract = Contract("dfm", whole, "whole_face", True, round(whole * config.face_size / size))
    else:
        graph = KaokaeGraph(model, target)
        example = torch.rand(2, 3, size, size)
        inputs, outputs = [KAOKAE_INPUT], list(KAOKAE_OUTPUTS[: 2 if has_mask else 1])
        contract = Contract("kaokae", size, config.centering, has_mask, config.face_size)
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter (dynamo=False): it needs no extra package (the dynamo exporter needs onnxscript)
        # and exports these plain convolutional graphs exactly; PyTorch warns that it is the legacy path.
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (example,), str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes={name: {0: "batch"} for name in inputs + outputs})
    proto = onnx.load(str(path))
    if half:
        _store_half(proto)
    for key, value in {"kaokae.contract": contract.to_json(), **metadata}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "kaokae"
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    return contract, _difference(path, graph, tuple(example.shape[1:]))


def _difference(path: Path, graph, item_shape: tuple[int, ...]) -> float:
    """Largest |ONNX Runtime - PyTorch| over the outputs for a fixed batch of 3 (not the export's batch of 2)."""
    import onnxruntime
    import torch

    batch = np.random.default_rng(0).random((3, *item_shape), dtype=np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: batch})
    with torch.no_grad():
        expected = graph(torch.from_numpy(batch))
    return max(float(np.abs(a - b.numpy()).max()) for a, b in zip(got, expected, strict=True))


def _store_half(proto) -> None:
    """Store float32 weights as float16, each read through a Cast back to float32."""
    import onnx
    from onnx import numpy_helper

    graph = proto.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or math.prod(init.dims) < HALF_MIN_ELEMENTS:
            continue
        weights = numpy_helper.to_array(init)
        name = init.name
        init.CopyFrom(numpy_helper.from_array(weights.astype(np.float16), name + ".fp16"))
        casts.append(onnx.helper.make_node("Cast", [name + ".fp16"], [name], to=onnx.TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


# ---------------------------------------------------------------- reading


def read_contract(path: str | Path, session) -> Contract:
    """The contract an ONNX Runtime session follows; KaokaeError when it is neither kaokae's nor DFM's."""
    path = Path(path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    meta = session.get_modelmeta().custom_metadata_map
    stated = _json(meta.get("kaokae.contract")) or {}
    face_size = stated.get("face_size") if isinstance(stated.get("face_size"), int) else None
    card = _json(meta.get("kaokae.card"))
    model_id = meta.get("kaokae.model_id")
    if not (isinstance(model_id, str) and len(model_id) == 64 and all(c in "0123456789abcdef" for c in model_id)):
        model_id = None
    in_names, out_names = [i.name for i in inputs], [o.name for o in outputs]
    if in_names and DFM_INPUT.split(":")[0] in in_names[0]:
        if len(inputs) > 2 or (len(inputs) == 2 and "morph_value" not in in_names[1]):
            raise KaokaeError(f"{path}: a .dfm has the input in_face:0 and at most morph_value:0, not {in_names}")
        shape = inputs[0].shape
        if len(shape) != 4 or shape[3] != 3 or not isinstance(shape[1], int) or shape[1] != shape[2]:
            raise KaokaeError(f"{path}: in_face:0 must be (N, R, R, 3) with a fixed square size R, not {shape}")
        if len(outputs) != 3:
            raise KaokaeError(f"{path}: a .dfm gives 3 outputs (face mask, celeb face, celeb mask), not {out_names}")
        return Contract("dfm", int(shape[1]), "whole_face", True, face_size, morph=len(inputs) == 2, card=card,
                        model_id=model_id)
    if in_names == [KAOKAE_INPUT] and tuple(out_names) in (KAOKAE_OUTPUTS, KAOKAE_OUTPUTS[:1]):
        shape = inputs[0].shape
        if len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int) or shape[2] != shape[3]:
            raise KaokaeError(f"{path}: input `faces` must be (N, 3, s, s) with a fixed size s, not {shape}")
        centering = stated.get("centering", "face")
        from kaokae.faces.align import CENTERINGS

        if centering not in CENTERINGS:
            raise KaokaeError(f"{path}: unknown centering {centering!r} in its kaokae.contract")
        return Contract("kaokae", int(shape[2]), centering, len(outputs) == 2, face_size, card=card,
                        model_id=model_id)
    raise KaokaeError(f"{path} follows neither kaokae's contract (input `faces`, outputs `face`[, `mask`]) nor a "
                      f".dfm's (input `in_face:0`, three outputs): inputs {in_names}, outputs {out_names}")


def _json(text: str | None):
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
