"""The chapters' notebooks as files: paired, stripped, set up alike, tagged, and in the book.

These checks read the notebooks; they do not run them (nbval does, see ``conftest.py``).
"""

from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from jupytext.compare import compare_notebooks

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TWIN_FORMAT = "py:percent"

# The first cell of every chapter, character for character (tagged "setup").
SETUP_CELL = '''\
# @title Setup: on Colab this installs seq2code and applies the form; locally it changes nothing
# @markdown **Keep trained models on your Google Drive** (Colab asks to connect it), so that a later chapter, in a new runtime, reads them instead of training them again:
KEEP_MODELS_ON_DRIVE = False  # @param {type:"boolean"}
# @markdown **Run profile** on Colab: `cpu` trains each model for a few epochs, `full` until it stops improving (the real results, many times longer). A chapter that trains prints the minutes of both first.
PROFILE = "cpu"  # @param ["cpu", "full"]
import importlib.util
import os
import subprocess
import sys

SEQ2CODE_SOURCE = os.environ.get("SEQ2CODE_SOURCE", "git+https://github.com/seq2code/seq2code.git")
if "google.colab" in sys.modules or importlib.util.find_spec("seq2code") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", SEQ2CODE_SOURCE], check=True)
from seq2code.colab import setup_runtime

setup_runtime(keep_models_on_drive=KEEP_MODELS_ON_DRIVE, profile=PROFILE)'''

# A tag that gives a cell a role, and the tag that the role needs for the book to show it right.
REQUIRED_COMPANION_TAG = {"outcome": "remove-cell", "solution": "hide-input"}


def read_yaml(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text(encoding="utf-8"))


def toc_files(node) -> list[str]:
    """Every ``file`` (and the ``root``) named anywhere in a parsed ``_toc.yml``."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(toc_files(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(toc_files(item))
    return found


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


@pytest.fixture(params=NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def notebook_path(request) -> Path:
    return request.param


def test_there_is_at_least_one_chapter():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb chapter"


def test_notebook_has_an_identical_py_percent_twin(notebook_path):
    twin = notebook_path.with_suffix(".py")
    assert twin.is_file(), f"{notebook_path.name} has no twin: run jupytext --sync {notebook_path}"
    formats = jupytext.read(notebook_path).metadata.get("jupytext", {}).get("formats", "")
    assert TWIN_FORMAT in formats, (
        f"{notebook_path.name} is not paired with {TWIN_FORMAT}: "
        f"jupytext --set-formats ipynb,{TWIN_FORMAT} {notebook_path}")
    # Cells, their sources and their metadata must agree (outputs live in neither file).
    compare_notebooks(jupytext.read(twin), jupytext.read(notebook_path), fmt=TWIN_FORMAT)


def test_notebook_is_committed_without_outputs(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    dirty = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"cells {dirty} of {notebook_path.name} carry outputs or execution counts"


def test_notebook_starts_with_the_setup_cell(notebook_path):
    first = nbformat.read(notebook_path, as_version=4).cells[0]
    assert first.cell_type == "code"
    assert first.source.strip() == SETUP_CELL
    assert "setup" in tags(first)


def test_notebook_asks_colab_for_a_gpu_runtime(notebook_path):
    """Colab opens the chapter on a GPU runtime (a T4) unless the student changes it."""
    metadata = nbformat.read(notebook_path, as_version=4).metadata
    assert metadata.get("accelerator") == "GPU", f"{notebook_path.name} asks for no GPU"
    assert metadata.get("colab", {}).get("gpuType") == "T4", metadata.get("colab")


def test_setup_cell_installs_from_the_books_repository():
    url = read_yaml("_config.yml")["repository"]["url"].rstrip("/")
    assert f'"git+{url}.git"' in SETUP_CELL


def test_role_tags_come_with_their_display_tags(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    missing = [(index, role, companion) for index, cell in enumerate(notebook.cells)
               for role, companion in REQUIRED_COMPANION_TAG.items()
               if role in tags(cell) and companion not in tags(cell)]
    assert not missing, f"{notebook_path.name}: (cell, tag, missing tag) {missing}"


def test_every_notebook_is_in_the_table_of_contents(notebook_path):
    entry = notebook_path.relative_to(REPO).with_suffix("").as_posix()
    assert entry in toc_files(read_yaml("_toc.yml")), f"add {entry} to _toc.yml"


def test_every_toc_entry_exists():
    entries = toc_files(read_yaml("_toc.yml"))
    assert "book/intro" in entries and "book/references" in entries
    missing = [entry for entry in entries
               if not any((REPO / f"{entry}{suffix}").is_file() for suffix in (".md", ".ipynb"))]
    assert not missing, f"_toc.yml names files that do not exist: {missing}"
