"""Convert: every frame of a video (or image, or folder of images) with its faces swapped by a trained model.

    from kaokae.convert import convert, ConvertOptions
    result = convert("a.mp4", "models/a_to_b", "a_as_b.mp4", ConvertOptions(direction="a2b", preview=4))
    print(result.summary())

The pipeline (kaokae.convert.pipeline) aligns each face like extract, runs the model in batches, masks, colour-corrects
and blends it back (kaokae.composite), and writes through kaokae.media with the source's audio.
"""

from kaokae import lazy

# PyTorch loads on first use, not when the CLI reads the option definitions (kaokae.convert.options)
__getattr__, __all__ = lazy.exports("kaokae.convert", {
    "options": ["ConvertOptions", "DIRECTIONS", "MASKS"],
    "locate": ["DetectOptions"],
    "model": ["SwapModel", "pick_device"],
    "paste": ["PasteOptions", "paste_face"],
    "pipeline": ["Converter", "ConvertResult", "Swapped", "convert"],
})
