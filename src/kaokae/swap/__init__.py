"""The classic, training-free swap: a source photo's face warped onto each target face's 478-point mesh (piecewise
affine over the mesh's triangles), colour-corrected and blended in with `kaokae.composite`.

    from kaokae.swap import swap_media, SwapSettings
    swap_media(["her.jpg"], "clip.mp4", "out.mp4", settings=SwapSettings(blend="poisson", colour="lab"))
"""

from kaokae.swap.mesh import mesh_triangles, warp_mesh
from kaokae.swap.run import FrameSwap, SwapReport, swap_media
from kaokae.swap.swapper import FaceSwapper, Source, SwapSettings, load_sources

__all__ = [
    "FaceSwapper", "FrameSwap", "Source", "SwapReport", "SwapSettings", "load_sources", "mesh_triangles", "swap_media",
    "warp_mesh",
]
