"""Quality metrics for a swap, measured with dlib's models (independent of the mediapipe models that made it):
identity (distance to B and A, retrieval in a gallery), pose and expression kept from the source, reconstruction
of a trained model, and flicker.

    from kaokae.evaluate import evaluate_video, evaluate_model

    report = evaluate_video("swapped.mp4", "source.mp4", target="b_faceset", gallery="people/")
    print(report.markdown()); report.write_json("eval.json"); report.write_png("eval.png")
"""

from kaokae.evaluate.report import MODELS, SOURCE_ROW, Report, check_outputs, markdown_table
from kaokae.evaluate.run import DEFAULT_FRAMES, evaluate_model, evaluate_video, evaluate_videos
from kaokae.evaluate.score import References, SwapScorer, measure_source

__all__ = ["DEFAULT_FRAMES", "MODELS", "SOURCE_ROW", "References", "Report", "SwapScorer", "check_outputs",
           "evaluate_model", "evaluate_video", "evaluate_videos", "markdown_table", "measure_source"]
