import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir():
    """The shared real-data folder: $MMZOO_DATA_DIR, else ../shared/data beside the repo."""
    path = pathlib.Path(os.environ.get("MMZOO_DATA_DIR", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"Real test data not found at {path}; set MMZOO_DATA_DIR.")
    return path
