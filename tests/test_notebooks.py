"""The notebooks in `notebooks/`: each runs top to bottom in small mode, is committed
without outputs, and follows the keras.io layout (parameters cell, Colab link, Keras 3).

Every `notebooks/*.ipynb` is picked up automatically. A notebook reads
`MMZOO_NOTEBOOK_MODE` ("small" here) and `MMZOO_DATA_DIR` in its first code cell, tagged
`parameters` (papermill's convention). Execution never writes back to the files.
"""

import os
import re
import sys

import nbformat
import pytest
from conftest import REPO
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
IDS = [path.name for path in NOTEBOOKS]
COLAB = "https://colab.research.google.com/github/mmzoo/mmzoo/blob/main/notebooks/"
SECTIONS = ("Introduction", "Setup", "Data", "Model", "Train", "Evaluate", "Export")
CELL_TIMEOUT_S = 600


class _ThisInterpreter(KernelSpecManager):
    """Resolves every kernel name to IPython in the interpreter running the tests.

    So the notebooks run against the same environment (and mmzoo) as the tests,
    whatever kernelspecs happen to be installed for the user or the system.
    """

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python ({sys.executable})",
            language="python",
            resource_dir="",
        )


def _read(path):
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def _code(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_the_notebooks_are_found():
    names = {path.name for path in NOTEBOOKS}
    assert {"02_your_own_data.ipynb", "03_av_mnist_fusion.ipynb"} <= names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_small_mode(path, data_dir, monkeypatch):
    monkeypatch.setenv("MMZOO_NOTEBOOK_MODE", "small")
    monkeypatch.setenv("MMZOO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    # The checked-out mmzoo, even where another copy is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    notebook = _read(path)
    kernel = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_ThisInterpreter())
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},  # the kernel's working folder
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    errors = [out for cell in _code(notebook) for out in cell.outputs
              if out.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_without_outputs(path):
    notebook = _read(path)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        and (cell.outputs or cell.execution_count is not None or "execution" in cell.metadata)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} hold outputs, execution counts or timings; clear them "
        f"with `jupyter nbconvert --clear-output --inplace notebooks/{path.name}`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_layout(path):
    notebook = _read(path)
    code = _code(notebook)
    sources = "\n".join(cell.source for cell in code)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")

    assert notebook.cells[0].cell_type == "markdown"
    assert notebook.cells[0].source.startswith("# "), "the first cell is the title"
    assert f"]({COLAB}{path.name})" in notebook.cells[0].source, "an Open in Colab link"
    assert "colab-badge.svg" in notebook.cells[0].source

    parameters = code[0]
    assert "parameters" in parameters.metadata.get("tags", []), (
        "the first code cell holds the parameters and is tagged 'parameters'"
    )
    assert "MMZOO_NOTEBOOK_MODE" in parameters.source
    assert "MMZOO_DATA_DIR" in parameters.source

    assert '"google.colab" in sys.modules' in sources
    assert re.search(r"^[ \t]+%pip install [^\n]*mmzoo", sources, re.M), (
        "a cell that installs mmzoo only on Colab (an indented %pip under a Colab check)"
    )
    assert re.search(r"^import keras$", sources, re.M), "Keras 3 imports"
    assert not re.search(r"\btf\.keras\b|tensorflow\.keras", sources + markdown)
    assert "keras.utils.set_random_seed(SEED)" in sources, "a seed in the setup"

    headings = re.findall(r"^## (\w+)", markdown, re.M)
    missing = [s for s in SECTIONS if not any(h.startswith(s) for h in headings)]
    assert not missing, f"{path.name} lacks the sections {missing}; it has {headings}"
