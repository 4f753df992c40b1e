"""media -> faceset, and the faceset tools (info, sort, filter, contact sheet)."""

from kaokae.extract.pipeline import ExtractOptions, ExtractResult, extract
from kaokae.extract.tools import FaceSetSummary, faceset_info, filter_faceset, sort_faceset

__all__ = ["ExtractOptions", "ExtractResult", "extract", "FaceSetSummary", "faceset_info", "filter_faceset",
           "sort_faceset"]
