"""Quality metrics for a swap, measured with dlib's models (independent of the mediapipe models that made it):
identity (distance to B and A, retrieval in a gallery), pose and expression kept from the source, reconstruction
of a trained model, and flicker.

    from kaokae.evaluate import evaluate_video, evaluate_model

    report = evaluate_video("swapped.mp4", "source.mp4", target="b_faceset", gallery="people/")
    print(report.markdown()); report.write_json("eval.json"); report.write_png("eval.png")
"""

from kaokae import lazy

# dlib and mediapipe load on first use, not when the CLI reads the option definitions (kaokae.evaluate.options)
__getattr__, __all__ = lazy.exports("kaokae.evaluate", {
    "options": ["EvaluateOptions"],
    "report": ["MODELS", "SOURCE_ROW", "Report", "check_outputs", "markdown_table"],
    "run": ["DEFAULT_FRAMES", "evaluate_model", "evaluate_video", "evaluate_videos"],
    "score": ["References", "SwapScorer", "measure_source"],
})
