"""Export a trained model to a file other tools run: kaokae's .onnx or DeepFaceLab's .dfm (see `onnx_file` for the
two contracts). The model card travels inside every file; a model without a consent statement is not exported.

    result = export_model("a2b.model", "bob.dfm", direction="a2b", half=False)

Stage order: export reads the model folder (train) and is read by convert, which runs exported files.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from kaokae import atomic, progress
from kaokae.errors import KaokaeError
from kaokae.export.onnx_file import FORMATS, Contract, export_graph, read_contract
from kaokae.paths import check_outputs

# --half: largest difference from PyTorch's fp32 allowed on a check batch, in [0, 1] pixel units (fp16 weights keep
# 11 significant bits; tests/test_export.py measures it on real faces).
HALF_TOLERANCE = 2e-2
FP32_TOLERANCE = 1e-4  # the exported fp32 graph against PyTorch on the same check batch


@dataclass
class ExportResult:
    path: Path
    contract: Contract
    bytes: int
    max_difference: float  # ONNX Runtime against PyTorch (fp32 weights) on a check batch


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
    check_outputs([model_dir], [output])
    if output.exists() and not overwrite:
        raise KaokaeError(f"{output} exists (--overwrite replaces it)")
    if not model_dir.is_dir():
        raise KaokaeError(f"no such model folder: {model_dir}")
    card = card_summary(model_dir)
    require_consent(card, model_dir)
    model, config = load_model(model_dir, "cpu")
    model_id = file_sha256(latest_checkpoint(model_dir) / MODEL_FILE)
    kind = "dfm" if output.suffix.lower() == ".dfm" else "kaokae"
    metadata = {"kaokae.card": json.dumps(shareable_card(card, direction)), "kaokae.model_id": model_id}
    progress.info(f"exporting {model_dir} ({direction}) to {output}")
    with atomic.atomic_path(output) as tmp:
        contract, difference = export_graph(model, config, tmp, kind, direction, metadata, half=half)
        tolerance = HALF_TOLERANCE if half else FP32_TOLERANCE
        if difference > tolerance:
            hint = "export without --half" if half else "this PyTorch/ONNX pair does not export this model faithfully"
            raise KaokaeError(f"the exported graph differs from PyTorch by {difference:.2e} (more than {tolerance}): "
                              f"{hint}")
        size = tmp.stat().st_size
    return ExportResult(output, contract, size, difference)


def shareable_card(card: dict, direction: str) -> dict:
    """The card as it travels: faceset folders by name only (their full paths tell others about the trainer's
    disk), and the direction the file swaps."""
    facesets = {person: {**entry, "path": Path(entry.get("path", "")).name}
                for person, entry in (card.get("facesets") or {}).items()}
    return {**card, "facesets": facesets, "direction": direction}


__all__ = ["Contract", "ExportResult", "export_model", "read_contract"]
