"""media -> faceset (`extract`), and the faceset tools (info, sort, filter, restore, contact sheet)."""

from kaokae.extract.tools import FaceSetSummary, faceset_info, filter_faceset, restore_faceset, sort_faceset

__all__ = ["ExtractOptions", "ExtractResult", "extract", "FaceSetSummary", "faceset_info", "filter_faceset",
           "restore_faceset", "sort_faceset"]


def __getattr__(name: str):
    # The pipeline pulls in mediapipe and dlib (a second to import): loaded on use; `faceset info` stays fast.
    if name == "ExtractOptions":
        from kaokae.extract.options import ExtractOptions

        return ExtractOptions
    if name in ("ExtractResult", "extract"):
        from kaokae.extract import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'kaokae.extract' has no attribute {name!r}")
