"""A Colab-like run of chapters 1 and 4 (issues 9 and 19): what a student gets from the launch
button.

A fresh virtual environment holds only what Colab ships that the course relies on (torch,
numpy, matplotlib, ipywidgets) and the Jupyter machinery that runs a notebook (ipykernel,
nbclient); no ``--system-site-packages``, so nothing of this checkout's environment is seen.
Each chapter is copied alone into an empty folder (Colab's ``/content``) and executed end to
end by a kernel of that environment. Its first cell, the setup cell, finds no ``seq2code``
and installs it with pip, the way it does on Colab, from ``SEQ2CODE_SOURCE``: here a copy of
this checkout instead of the repository's URL. Then the tests check that it did (the kernel
imports ``seq2code`` from the fresh environment) and that installing it left torch, numpy,
matplotlib and ipywidgets as Colab had them.

Then the setup cell's form field that keeps the model cache on Google Drive is ticked (the
cell's source changed as Colab's form changes it), with a local folder standing in for the
mounted Drive (``SEQ2CODE_DRIVE_ROOT``, which the setup honours off Colab): chapter 1 runs with
it, chapter 4 trains its three models into it, and chapter 4 again, in a fresh runtime
(seq2code installed anew, an empty cache on the runtime's disk), reads them from the Drive
folder: its training plan lists all three as cached and nothing is trained.

Slow (a few minutes): it runs only with ``SEQ2CODE_COLAB_LIKE=1``, as ``.ci/run`` does after
the notebooks have trained and cached their models (``SEQ2CODE_CACHE`` is passed on, so
chapter 4 does not train again). ``SEQ2CODE_COLAB_VENV`` names a folder to keep the
environment in between runs (default: a fresh temporary one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["01_task_and_data", "04_attention"]
# What Colab ships and the course uses, plus the machinery that executes a notebook.
# torch is pinned to the build on this machine's disk (an unpinned torch would fetch a CUDA
# build of several GB); the others are what pip resolves, as on a Colab image.
COLAB_PACKAGES = ["torch==2.13.0", "numpy", "matplotlib", "ipywidgets", "ipykernel", "nbclient"]
KEPT_AS_COLAB_HAS_THEM = ["torch", "numpy", "matplotlib", "ipywidgets"]
CELL_TIMEOUT_S = 900
DRIVE_FIELD = "KEEP_MODELS_ON_DRIVE = {}  # @param"  # the setup cell's form field

colab_like = pytest.mark.skipif(
    os.environ.get("SEQ2CODE_COLAB_LIKE") != "1",
    reason="slow (a fresh environment and two chapters): set SEQ2CODE_COLAB_LIKE=1 (.ci/run does)",
)

# Runs inside the fresh environment: execute one notebook in CWD, with one cell added right
# after the setup cell that reports where seq2code was imported from.
EXECUTE = r"""
import json, sys
import nbformat
from nbclient import NotebookClient

source, target, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(source, as_version=4)
probe = nbformat.v4.new_code_cell(
    "import json, sys, seq2code\n"
    "from seq2code.profiles import default_device\n"
    "print('SEQ2CODE-PROBE ' + json.dumps({'prefix': sys.prefix, 'seq2code': seq2code.__file__,"
    " 'device': str(default_device())}))"
)
nb.cells.insert(1, probe)
try:
    NotebookClient(nb, timeout=timeout, kernel_name="python3").execute()
finally:
    nbformat.write(nb, target)
out = "".join(o.get("text", "") for o in nb.cells[1].get("outputs", []))
print(out.strip())
"""


def _clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """This process's environment (pip's settings included) without any trace of its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO_ROOT))]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env.update(extra)
    return env


def _pip_versions(venv: Path) -> dict[str, str]:
    listing = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        check=True, capture_output=True, text=True, env=_clean_env(venv),
    ).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(listing)}


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory) -> Path:
    """A fresh environment with Colab's packages only (kept in ``SEQ2CODE_COLAB_VENV`` if set)."""
    kept = os.environ.get("SEQ2CODE_COLAB_VENV")
    venv = Path(kept) if kept else tmp_path_factory.mktemp("colab") / "venv"
    if not (kept and (venv / "bin" / "python").exists()):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *COLAB_PACKAGES],
            check=True, env=_clean_env(venv),
        )
    return venv


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The checkout's files as a clone of the repository has them (what pip installs from)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    target = tmp_path_factory.mktemp("source") / "seq2code"
    for name in filter(None, files):
        if (REPO_ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, target / name)
    return target


def test_setup_cell_installs_from_the_books_repository():
    """On Colab the setup cell installs the repository that the launch buttons open."""
    import nbformat
    import yaml

    repo = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["repository"]["url"]
    for chapter in CHAPTERS:
        setup = nbformat.read(REPO_ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4).cells[0]
        assert f'"git+{repo.rstrip("/")}.git"' in setup.source, (chapter, setup.source)
        assert '"google.colab" in sys.modules' in setup.source, "installs on Colab"
        assert 'os.environ.get("SEQ2CODE_SOURCE"' in setup.source, "testable with a local source"


def _run_chapter(colab_venv: Path, source_copy: Path, run_dir: Path, chapter: str, *,
                 drive: Path | None = None) -> str:
    """Run one chapter as a fresh Colab runtime would (seq2code not installed, the notebook
    alone in an empty folder) and check where seq2code came from; return the text that its
    cells printed. ``drive``: tick the setup cell's form field that keeps the model cache on
    Google Drive, with ``drive`` standing in for the mounted Drive, and give the runtime its
    own empty cache folder (a fresh runtime's disk), so only the Drive folder outlives it."""
    # as on a fresh Colab runtime: no seq2code until the setup cell installs it
    subprocess.run([str(colab_venv / "bin" / "python"), "-m", "pip", "uninstall", "-y", "-q",
                    "seq2code"], check=False, env=_clean_env(colab_venv), capture_output=True)
    before = _pip_versions(colab_venv)
    assert "seq2code" not in before
    content = run_dir / "content"  # Colab's working folder: the notebook alone
    content.mkdir(parents=True)
    notebook = json.loads((REPO_ROOT / "notebooks" / f"{chapter}.ipynb").read_text())
    extra = {}
    if drive is not None:  # what ticking the form's box does to the cell's source
        setup = "".join(notebook["cells"][0]["source"])
        assert DRIVE_FIELD.format("False") in setup, "the setup cell has no Drive form field"
        notebook["cells"][0]["source"] = setup.replace(DRIVE_FIELD.format("False"),
                                                       DRIVE_FIELD.format("True"))
        extra = {"SEQ2CODE_DRIVE_ROOT": str(drive),
                 "SEQ2CODE_CACHE": str(run_dir / "runtime-disk-cache")}
    (content / f"{chapter}.ipynb").write_text(json.dumps(notebook))
    env = _clean_env(
        colab_venv,
        SEQ2CODE_SOURCE=str(source_copy),
        SEQ2CODE_PROFILE=os.environ.get("SEQ2CODE_PROFILE", "ci"),
        JUPYTER_DATA_DIR=str(run_dir / "jupyter"),  # no kernel spec of this machine's user
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        **extra,
    )
    if drive is None:
        env.pop("SEQ2CODE_DRIVE_ROOT", None)
    assert env.get("SEQ2CODE_DATA"), "SEQ2CODE_DATA must name the Django data (no network here)"
    run = subprocess.run(
        [str(colab_venv / "bin" / "python"), "-c", EXECUTE, f"{chapter}.ipynb",
         f"{chapter}.executed.ipynb", str(CELL_TIMEOUT_S)],
        cwd=content, env=env, capture_output=True, text=True,
    )
    assert run.returncode == 0, f"{chapter} failed in the Colab-like run:\n{run.stderr[-6000:]}"
    probe = json.loads(run.stdout.split("SEQ2CODE-PROBE ", 1)[1].splitlines()[0])
    assert Path(probe["prefix"]).resolve() == colab_venv.resolve(), probe
    assert Path(probe["seq2code"]).resolve().is_relative_to(colab_venv.resolve()), (
        f"the kernel imported seq2code from {probe['seq2code']}, not from what the setup cell installed"
    )
    after = _pip_versions(colab_venv)
    assert "seq2code" in after
    changed = {p: (before[p], after.get(p)) for p in KEPT_AS_COLAB_HAS_THEM if before[p] != after.get(p)}
    assert not changed, f"installing seq2code changed Colab's packages: {changed}"
    executed = json.loads((content / f"{chapter}.executed.ipynb").read_text())
    return "".join(output.get("text", "") if isinstance(output.get("text", ""), str)
                   else "".join(output["text"])
                   for cell in executed["cells"] if cell["cell_type"] == "code"
                   for output in cell.get("outputs", []))


@colab_like
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_colab_like(colab_venv, source_copy, tmp_path, chapter):
    """With the form's defaults: the model cache where the environment puts it."""
    printed = _run_chapter(colab_venv, source_copy, tmp_path, chapter)
    assert "Model cache on your Drive" not in printed


@colab_like
def test_models_kept_on_drive_are_read_back_in_a_fresh_runtime(colab_venv, source_copy,
                                                               tmp_path):
    """The form's Drive option, a local folder standing in for the mounted Drive: chapter 1
    runs with it; chapter 4 trains its models into it; chapter 4 again, in a fresh runtime
    (fresh install, empty runtime cache), reads them from there instead of training."""
    drive = tmp_path / "MyDrive"
    folder = drive / "seq2code-cache"
    printed = _run_chapter(colab_venv, source_copy, tmp_path / "run1", CHAPTERS[0],
                           drive=drive)
    assert f"Model cache on your Drive: {folder} (0 models, 0 MB)." in printed

    first = _run_chapter(colab_venv, source_copy, tmp_path / "run2", "04_attention",
                         drive=drive)
    assert f"Model cache on your Drive: {folder} (0 models" in first
    for kind in ("rnn", "lstm", "attention"):
        assert re.search(rf"^  {kind} +to train +", first, re.M), (kind, first[:3000])
    kept = sorted(path.name.split("-")[0] for path in (folder / "models").glob("*.pt"))
    assert kept == ["attention", "lstm", "rnn"], kept

    second = _run_chapter(colab_venv, source_copy, tmp_path / "run3", "04_attention",
                          drive=drive)
    assert f"Model cache on your Drive: {folder} (3 models" in second
    for kind in ("rnn", "lstm", "attention"):
        assert re.search(rf"^  {kind} +cached +read from the cache", second, re.M), (
            kind, second[:3000])
    assert "Every model is in the model cache: nothing to train." in second
    assert not any((tmp_path / "run3" / "runtime-disk-cache" / "models").glob("*.pt"))
