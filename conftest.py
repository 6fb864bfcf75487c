"""Settings of every collected test, the doctests of `mmzoo/` included (see setup.cfg).

Doctests run in a fresh temporary working directory, so an example that writes a
relative path never writes into the repository, and the global Keras dtype policy
is float32 again after each.
"""

import os

import keras
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _doctest_sandbox(request, monkeypatch):
    if type(request.node).__name__ != "DoctestItem":
        yield
        return
    monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    try:
        yield
    finally:
        keras.config.set_dtype_policy("float32")
