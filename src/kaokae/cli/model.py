"""`kaokae export` and `kaokae model info|card`: a model folder's card, and the model as a file other tools run."""

from pathlib import Path

from kaokae.cli import add_options, add_quiet
from kaokae.options import from_args
from kaokae.train.options import CardOptions, ExportOptions, ModelInfoOptions


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="write a trained model as .onnx or DeepFaceLab .dfm (for DeepFaceLive, FaceFusion)",
        description="Export the swap network of MODEL_DIR to one file. FILE.onnx follows kaokae's contract (aligned "
                    "faces NCHW RGB in [0, 1] in; the other person's face and mask out); FILE.dfm follows "
                    "DeepFaceLab's, which DeepFaceLive and FaceFusion's deep swapper load (whole-face crops NHWC "
                    "BGR in). The model card (names, consent, licence, facesets) travels inside. A model whose card "
                    "has no consent statement is refused: add one with `kaokae model card MODEL_DIR --consent ...`. "
                    "See docs/export.md.")
    p.add_argument("model_dir", metavar="MODEL_DIR", type=Path, help="model folder written by `kaokae train`")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                   help="FILE.onnx or FILE.dfm (written atomically)")
    add_options(p, "export", ExportOptions, config=False)
    add_quiet(p)
    p.set_defaults(run=run_export)

    p = subparsers.add_parser("model", help="show or edit a model folder's card (names, consent, licence)",
                              description="The model card in config.json: who the model depicts and on what terms.")
    sub = p.add_subparsers(dest="model_command", metavar="ACTION")
    info = sub.add_parser("info", help="print the model card, facesets, iterations and latest evaluation",
                          description="Print MODEL's card: names, consent, licence, faceset face counts and source "
                                      "hashes, iterations and the latest `kaokae evaluate --model` summary. MODEL may "
                                      "be a model folder or an exported .onnx/.dfm.")
    info.add_argument("model", metavar="MODEL", type=Path, help="model folder, or an exported .onnx/.dfm")
    add_options(info, "model info", ModelInfoOptions, config=False)
    info.set_defaults(run=run_info)
    card = sub.add_parser("card", help="set the card's names, consent statement or licence",
                          description="Change the text fields of MODEL_DIR's card; fields not given stay as they "
                                      "are.")
    card.add_argument("model", metavar="MODEL_DIR", type=Path, help="model folder")
    add_options(card, "model card", CardOptions, config=False)
    card.set_defaults(run=run_card)
    p.set_defaults(run=lambda args: p.print_help() or 2)


def run_export(args) -> int:
    from kaokae.export import export_model
    from kaokae.progress import info

    o = from_args(ExportOptions, args)
    result = export_model(args.model_dir, args.output, o.direction, o.half, o.overwrite)
    info(f"wrote {result.path} ({result.bytes / 1e6:.1f} MB, {result.contract.kind} contract, "
         f"{result.contract.size} px {result.contract.centering} faces; largest difference from PyTorch fp32 on a "
         f"check batch {result.max_difference:.1e})")
    return 0


def run_info(args) -> int:
    import json

    from kaokae.convert.model import model_card
    from kaokae.train.card import card_lines

    card = model_card(args.model)
    print(json.dumps(card, indent=2) if from_args(ModelInfoOptions, args).json else "\n".join(card_lines(card)))
    return 0


def run_card(args) -> int:
    from kaokae.train.card import card_lines, update_card

    update_card(args.model, **from_args(CardOptions, args).card())
    from kaokae.train.card import card_summary

    print("\n".join(card_lines(card_summary(args.model))))
    return 0
