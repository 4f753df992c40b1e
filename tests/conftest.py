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
