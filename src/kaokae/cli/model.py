"""`kaokae export` and `kaokae model info|card`: a model folder's card, and the model as a file other tools run."""

from pathlib import Path

from kaokae.cli import add_quiet


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
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b",
                   help="a2b: faces of A in, B's face out (the model's person is B); b2a: the other way "
                        "(default a2b)")
    p.add_argument("--half", action="store_true",
                   help="store the weights in fp16: half the file, still computed in fp32, checked against "
                        "PyTorch's fp32 on a test batch (largest difference allowed 0.02 of the pixel range)")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
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
    info.add_argument("--json", action="store_true", help="print the card as JSON")
    info.set_defaults(run=run_info)
    card = sub.add_parser("card", help="set the card's names, consent statement or licence",
                          description="Change the text fields of MODEL_DIR's card; fields not given stay as they "
                                      "are.")
    card.add_argument("model", metavar="MODEL_DIR", type=Path, help="model folder")
    card.add_argument("--name-a", default=None, metavar="NAME", help="the name of person A")
    card.add_argument("--name-b", default=None, metavar="NAME", help="the name of person B")
    card.add_argument("--consent", default=None, metavar="TEXT",
                      help="a statement of the right to use both faces (who agreed to what)")
    card.add_argument("--licence", "--license", default=None, metavar="TEXT",
                      help="the terms others may use the model on, e.g. CC-BY-NC-4.0")
    card.set_defaults(run=run_card)
    p.set_defaults(run=lambda args: p.print_help() or 2)


def run_export(args) -> int:
    from kaokae.export import export_model
    from kaokae.progress import info

    result = export_model(args.model_dir, args.output, args.direction, args.half, args.overwrite)
    info(f"wrote {result.path} ({result.bytes / 1e6:.1f} MB, {result.contract.kind} contract, "
         f"{result.contract.size} px {result.contract.centering} faces; largest difference from PyTorch fp32 on a "
         f"check batch {result.max_difference:.1e})")
    return 0


def run_info(args) -> int:
    import json

    from kaokae.convert.model import model_card
    from kaokae.train.card import card_lines

    card = model_card(args.model)
    print(json.dumps(card, indent=2) if args.json else "\n".join(card_lines(card)))
    return 0


def run_card(args) -> int:
    from kaokae.train.card import card_lines, update_card

    update_card(args.model, name_a=args.name_a, name_b=args.name_b, consent=args.consent, licence=args.licence)
    from kaokae.train.card import card_summary

    print("\n".join(card_lines(card_summary(args.model))))
    return 0
