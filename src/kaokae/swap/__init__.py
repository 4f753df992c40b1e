"""The classic, training-free swap: a source photo's face warped onto each target face's 478-point mesh (piecewise
affine over the mesh's triangles), colour-corrected and blended in with `kaokae.composite`.

    from kaokae.swap import swap_media, SwapOptions
    swap_media(["her.jpg"], "clip.mp4", "out.mp4", SwapOptions(blend="poisson", colour="lab"))
"""

from kaokae import lazy

# mediapipe loads on first use, not when the CLI reads the option definitions (kaokae.swap.options)
__getattr__, __all__ = lazy.exports("kaokae.swap", {
    "mesh": ["mesh_triangles", "warp_mesh"],
    "options": ["SwapOptions"],
    "run": ["FrameSwap", "SwapReport", "swap_media"],
    "swapper": ["FaceSwapper", "Source", "SwapSettings", "load_sources"],
})
