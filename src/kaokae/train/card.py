"""The model card: who a model depicts and on what terms, kept in config.json under "card" and carried into every
export and into the label of every output made with the model.

    "card": {
      "name_a": "Alice", "name_b": "Bob",           # the names the trainer gives the two people
      "consent": "Both filmed themselves for this and agreed to ...",   # the right to use both faces
      "licence": "CC-BY-4.0",
      "facesets": {"a": {"path": ..., "faces": 812, "sources": [{"name": "a.mp4", "sha256": "..."}]}, "b": {...}},
      "evaluation": {...}                            # the latest `kaokae evaluate --model` summary, when one was run
    }

Iterations are not stored here: they are the latest checkpoint's (`card_summary` adds them), so the card never
disagrees with the weights. Validation lives here too (`check_card`), called when config.json is read.
"""

import hashlib
import json
from pathlib import Path

from kaokae.errors import KaokaeError

TEXT_FIELDS = ("name_a", "name_b", "consent", "licence")
FIELDS = (*TEXT_FIELDS, "facesets", "evaluation")
MAX_TEXT = 2000  # characters: a card is a few lines, and it travels into every output's metadata
HASH_LIMIT = 8 << 30  # bytes: larger sources are recorded by name and size only (hashing them takes minutes)


def check_card(card) -> dict:
    """The card as stored, or ValueError saying what is wrong with it."""
    if not isinstance(card, dict):
        raise ValueError("card must be an object")
    unknown = set(card) - set(FIELDS)
    if unknown:
        raise ValueError(f"card: unknown fields {sorted(unknown)}")
    for key in TEXT_FIELDS:
        value = card.get(key, "")
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise ValueError(f"card.{key} must be text of at most {MAX_TEXT} characters")
    for key in ("facesets", "evaluation"):
        if card.get(key) is not None and not isinstance(card[key], dict):
            raise ValueError(f"card.{key} must be an object")
    return card


def with_text(card: dict, **fields: str | None) -> dict:
    """The card with the given text fields replaced (None leaves a field as it is)."""
    card = dict(card)
    for key, value in fields.items():
        if key not in TEXT_FIELDS:
            raise KeyError(key)
        if value is not None:
            value = value.strip()
            if len(value) > MAX_TEXT:
                raise KaokaeError(f"--{key.replace('_', '-')} is {len(value)} characters; at most {MAX_TEXT}")
            card[key] = value
    return card


def source_hash(path: str | Path) -> str | None:
    """sha256 of a source file (None for a folder, a missing file or one too large to hash quickly)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size > HASH_LIMIT:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def faceset_entry(faceset, previous: dict | None = None) -> dict:
    """What the card says about one faceset: its path, face count and each source's name and sha256. Hashes are
    reused from `previous` when the faceset has not changed, so resuming a run does not hash the videos again."""
    path = str(Path(faceset.path).resolve())
    if previous and previous.get("path") == path and previous.get("faces") == len(faceset):
        return previous
    sources = [{"name": Path(s.path).name, "kind": s.kind, "sha256": source_hash(s.path)} for s in faceset.sources]
    return {"path": path, "faces": len(faceset), "sources": sources}


def with_facesets(card: dict, faceset_a, faceset_b) -> dict:
    old = card.get("facesets") or {}
    return {**card, "facesets": {"a": faceset_entry(faceset_a, old.get("a")), "b": faceset_entry(faceset_b, old.get("b"))}}


def model_names(card: dict, direction: str = "a2b") -> str | None:
    """"Alice -> Bob" for a2b (whose face is replaced by whose), None when the card names nobody."""
    a, b = card.get("name_a") or "A", card.get("name_b") or "B"
    if not card.get("name_a") and not card.get("name_b"):
        return None
    return f"{a} -> {b}" if direction == "a2b" else f"{b} -> {a}"


def require_consent(card: dict, model: str | Path) -> None:
    if not (card.get("consent") or "").strip():
        raise KaokaeError(f"{model} has no consent statement in its model card: add one with "
                          f"`kaokae model card {model} --consent \"...\"` (who agreed to what)")


def card_summary(model_dir: str | Path) -> dict:
    """The card with the latest checkpoint's iteration and the model's shape: what exports and `model info` show."""
    from kaokae.train.checkpoint import STATE_FILE, latest_checkpoint, read_config

    config = read_config(Path(model_dir))
    if config is None:
        raise KaokaeError(f"{model_dir} is not a kaokae model folder (no config.json)")
    latest = latest_checkpoint(Path(model_dir))
    iterations = 0
    if latest is not None:
        iterations = int(json.loads((latest / STATE_FILE).read_text()).get("iteration", 0))
    return {**config.card, "iterations": iterations, "architecture": config.architecture, "size": config.size,
            "centering": config.centering}


def update_card(model_dir: str | Path, **fields: str | None) -> dict:
    """Replace text fields of a model folder's card (`kaokae model card`); returns the new card."""
    from kaokae.train.checkpoint import read_config, write_config

    config = read_config(Path(model_dir))
    if config is None:
        raise KaokaeError(f"{model_dir} is not a kaokae model folder (no config.json)")
    config.card = with_text(config.card, **fields)
    write_config(Path(model_dir), config)
    return config.card


def record_evaluation(model_dir: str | Path, summary: dict) -> None:
    """Keep the latest `kaokae evaluate --model` summary (its scalar numbers) in the card."""
    from kaokae.train.checkpoint import read_config, write_config

    config = read_config(Path(model_dir))
    if config is None:
        return
    def scalar(v) -> bool:
        return isinstance(v, (int, float, str)) and not isinstance(v, bool)

    numbers = {}
    for key, value in summary.items():  # the summary's numbers, nested ones one level deep ("identity.verified")
        if isinstance(value, dict):
            numbers.update({f"{key}.{k}": v for k, v in value.items() if scalar(v)})
        elif scalar(value):
            numbers[key] = value
    config.card = {**config.card, "evaluation": numbers}
    try:
        write_config(Path(model_dir), config)
    except OSError as e:  # a read-only model folder: the report itself is what was asked for
        from kaokae import progress

        progress.warn(f"the evaluation is not kept in {model_dir}'s card: {e.strerror}")


def card_lines(card: dict) -> list[str]:
    """The card as lines of text for `kaokae model info`."""
    iterations = f", {card['iterations']} iterations" if "iterations" in card else ""
    lines = [f"model:       {card.get('architecture')} {card.get('size')} px, {card.get('centering')}-centred faces"
             f"{iterations}",
             f"person A:    {card.get('name_a') or '(unnamed)'}",
             f"person B:    {card.get('name_b') or '(unnamed)'}",
             f"consent:     {card.get('consent') or '(none: kaokae export refuses until one is added)'}",
             f"licence:     {card.get('licence') or '(none)'}"]
    for person, entry in sorted((card.get("facesets") or {}).items()):
        sources = ", ".join(f"{s['name']} ({(s.get('sha256') or 'no hash')[:12]})" for s in entry.get("sources", []))
        lines.append(f"faceset {person.upper()}:   {entry.get('faces')} faces from {sources or 'no recorded source'}")
    evaluation = card.get("evaluation")
    if evaluation:
        lines.append("evaluation:  " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                                 for k, v in evaluation.items()))
    return lines

