"""Export a trained model to a file other tools run: kaokae's .onnx or DeepFaceLab's .dfm (see `onnx_file` for the
two contracts). The model card travels inside every file; a model without a consent statement is not exported.

    result = export_model("a2b.model", "bob.dfm", direction="a2b", half=False)

Stage order: export reads the model folder (train) and is read by convert, which runs exported files.
"""

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kaokae import atomic, progress
from kaokae.errors import KaokaeError
from kaokae.export.onnx_file import FORMATS, Contract, export_graph, read_contract

# --half: largest difference from the fp32 file allowed on a check batch, in [0, 1] pixel units (fp16 weights keep
# 11 significant bits; the measured difference is in docs/benchmarks.md).
HALF_TOLERANCE = 2e-2
FP32_TOLERANCE = 1e-4  # the exported fp32 graph against PyTorch on the same check batch


@dataclass
class ExportResult:
    path: Path
    contract: Contract
    bytes: int
    max_difference: float  # against PyTorch (fp32) or against the fp32 export (--half) on the check batch


def export_model(model_dir: str | Path, output: str | Path, direction: str = "a2b", half: bool = False,
                 overwrite: bool = False) -> ExportResult:
    """Write `output` (.onnx or .dfm) atomically from the model in `model_dir` (its latest checkpoint, as
    `load_model` gives it)."""
    from kaokae.provenance import file_sha256
    from kaokae.train.card import card_summary, require_consent
    from kaokae.train.checkpoint import MODEL_FILE, latest_checkpoint, load_model

    model_dir, output = Path(model_dir), Path(output)
    if output.suffix.lower() not in FORMATS:
        raise KaokaeError(f"-o {output}: the file name must end in .onnx (kaokae's contract) or .dfm (DeepFaceLab's)")
    if direction not in ("a2b", "b2a"):
        raise KaokaeError(f"--direction must be a2b or b2a, not {direction!r}")
    if output.exists() and not overwrite:
        raise KaokaeError(f"{output} exists (--overwrite replaces it)")
    if not model_dir.is_dir():
        raise KaokaeError(f"no such model folder: {model_dir}")
    card = card_summary(model_dir)
    require_consent(card, model_dir)
    model, config = load_model(model_dir, "cpu")
    model_id = file_sha256(latest_checkpoint(model_dir) / MODEL_FILE)
    kind = "dfm" if output.suffix.lower() == ".dfm" else "kaokae"
    metadata = {"kaokae.card": json.dumps({**card, "direction": direction}), "kaokae.model_id": model_id}
    progress.info(f"exporting {model_dir} ({direction}) to {output}")
    with atomic.atomic_path(output) as tmp:
        contract = export_graph(model, config, tmp, kind, direction, metadata)
        difference = _check_against_torch(tmp, model, contract, direction)
        if half:
            with tempfile.TemporaryDirectory(dir=output.parent) as scratch:
                fp32 = Path(scratch) / ("fp32" + output.suffix)
                tmp.replace(fp32)
                export_graph(model, config, tmp, kind, direction, metadata, half=True)
                difference = _max_difference(fp32, tmp, contract)
            if difference > HALF_TOLERANCE:
                raise KaokaeError(f"--half: the fp16 file differs from fp32 by {difference:.4f} (more than "
                                  f"{HALF_TOLERANCE}): export without --half")
        size = tmp.stat().st_size
    return ExportResult(output, contract, size, difference)


def _check_batch(contract: Contract, n: int = 3) -> np.ndarray:
    shape = (n, contract.size, contract.size, 3) if contract.kind == "dfm" else (n, 3, contract.size, contract.size)
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def _run(path: Path, batch: np.ndarray) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})


def _max_difference(a: Path, b: Path, contract: Contract) -> float:
    batch = _check_batch(contract)
    return max(float(np.abs(x - y).max()) for x, y in zip(_run(a, batch), _run(b, batch), strict=True))


def _check_against_torch(path: Path, model, contract: Contract, direction: str) -> float:
    """A kaokae .onnx must give what PyTorch gives (a .dfm is checked by the tests, through its resampling)."""
    if contract.kind != "kaokae":
        return 0.0
    import torch

    batch = _check_batch(contract)
    with torch.no_grad():
        expected = [t for t in model.swap(torch.from_numpy(batch), to=direction[-1]) if t is not None]
    difference = max(float(np.abs(x - y.numpy()).max()) for x, y in zip(_run(path, batch), expected, strict=True))
    if difference > FP32_TOLERANCE:
        raise KaokaeError(f"the exported graph differs from PyTorch by {difference:.2e}: this PyTorch/ONNX pair "
                          "does not export this model faithfully")
    return difference


__all__ = ["Contract", "ExportResult", "export_model", "read_contract"]
