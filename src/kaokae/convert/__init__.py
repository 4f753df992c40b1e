"""Convert: every frame of a video (or image, or folder of images) with its faces swapped by a trained model.

    from kaokae.convert import convert, ConvertOptions
    result = convert("a.mp4", "models/a_to_b", "a_as_b.mp4", ConvertOptions(direction="a2b", preview=4))
    print(result.summary())

The pipeline (kaokae.convert.pipeline) aligns each face like extract, runs the model in batches, masks, colour-corrects
and blends it back (kaokae.composite), and writes through kaokae.media with the source's audio.
"""

from kaokae.convert.locate import DetectOptions
from kaokae.convert.model import DIRECTIONS, SwapModel, pick_device
from kaokae.convert.paste import MASKS, PasteOptions, paste_face
from kaokae.convert.pipeline import Converter, ConvertOptions, ConvertResult, Swapped, convert

__all__ = [
    "DIRECTIONS", "MASKS", "ConvertOptions", "ConvertResult", "Converter", "DetectOptions", "PasteOptions",
    "SwapModel", "Swapped", "convert", "paste_face", "pick_device",
]
