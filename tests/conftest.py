"""Shared test fixtures. Real face media lives in ../shared/data (override with KAOKAE_DATA); it is never copied
into the project. Without it, tests that need it skip with a reason, except under CI=true where absence fails."""

import os
from pathlib import Path

import pytest

DATA_DIR = Path(os.environ.get("KAOKAE_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")).resolve()


def data_file(relative: str) -> Path:
    """Path of a file in the shared real-data folder; skips (or fails under CI) when it is absent."""
    path = DATA_DIR / relative
    if not path.exists():
        message = f"real test data missing: {path} (set KAOKAE_DATA to the shared data folder)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def data():
    """`data("face_recognition/examples/two_people.jpg")` -> Path into the shared data folder."""
    return data_file


def pytest_terminal_summary(terminalreporter):
    """After tests/test_hostile.py: how the hostile cases ended (the table of issue 12's report)."""
    import sys

    module = sys.modules.get("test_hostile")
    rows = getattr(module, "RESULTS", None)
    if not rows:
        return
    by_command: dict[str, list[dict]] = {}
    for row in rows:
        by_command.setdefault(row["command"], []).append(row)
    header = f"{'command':<16}{'tried':>6}{'clear':>7}{'traceback':>10}{'input changed':>14}{'partial left':>13}" \
             f"{'writes outside':>15}"
    if os.environ.get("KAOKAE_HOSTILE_LOG"):  # every case with its exit code and stderr, for a closer look
        with open(os.environ["KAOKAE_HOSTILE_LOG"], "w") as f:
            f.writelines(f"{r['case']} | {r['code']} | {' / '.join(r['stderr'])}\n" for r in rows)
    terminalreporter.section("hostile inputs")
    terminalreporter.write_line(header)
    for command, group in sorted(by_command.items()) + [("all", rows)]:
        terminalreporter.write_line(
            f"{command:<16}{len(group):>6}{sum(r['clear'] for r in group):>7}{sum(r['traceback'] for r in group):>10}"
            f"{sum(bool(r['changed']) for r in group):>14}{sum(bool(r['partial']) for r in group):>13}"
            f"{sum(bool(r['outside']) for r in group):>15}")


def train_tiny_hd(faceset_a: Path, faceset_b: Path, model_dir: Path) -> Path:
    """A tiny hd model (32 px, 20 iterations): it swaps badly, but it swaps. One torch thread: a tiny model on a
    busy 2-core machine trains ~10x faster on one."""
    import torch

    from kaokae.train import Run, train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(Run(faceset_a, faceset_b, model_dir, architecture="hd", size=32, width=0.125, iterations=20,
                  save_every=20, preview_every=1000, settings={"batch_size": 4}))
    finally:
        torch.set_num_threads(threads)
    return model_dir
