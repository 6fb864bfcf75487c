import os
import pathlib

import pytest
from testing import make_tiny_config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir():
    """The shared real-data folder: $MMZOO_DATA_DIR, else ../shared/data beside the repo."""
    path = pathlib.Path(os.environ.get("MMZOO_DATA_DIR", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"Real test data not found at {path}; set MMZOO_DATA_DIR.")
    return path


@pytest.fixture
def tiny_config(tmp_path):
    """A factory of the tiny trimodal training config (`testing.TINY_CONFIG`).

    `tiny_config(**sections)` returns a fresh copy with `sections` merged in and its
    runs and exports under this test's `tmp_path`. A module-scoped fixture calls
    `testing.make_tiny_config(tmp_path_factory.mktemp(...), **sections)` instead.
    """

    def make(**sections):
        return make_tiny_config(tmp_path, **sections)

    return make


@pytest.fixture(scope="session")
def hub_preset_folders(tmp_path_factory):
    """Tiny random-weight keras-hub presets saved to local folders (`hub_presets`):
    the `preset` option of each pretrained tower, by tower name."""
    import hub_presets

    folder = tmp_path_factory.mktemp("hub_presets")
    return {"text/pretrained": hub_presets.bert(folder / "bert"),
            "image/pretrained": hub_presets.resnet(folder / "resnet"),
            "audio/pretrained": hub_presets.moonshine(folder / "moonshine")}
