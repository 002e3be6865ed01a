"""pytest's setup for the whole repository: the run profile, the data, and nbval.

This file sits at the repository root so that it also applies to ``pytest notebooks/X.ipynb``.
It runs before any test or notebook kernel starts, so the environment set here is inherited
by nbval's kernels:

- ``SEQ2CODE_PROFILE`` defaults to ``ci`` (seconds of training on a small subset);
- ``SEQ2CODE_DATA`` defaults to ``../shared/datasets/django`` beside the repository, when
  that folder exists and the variable is unset (no machine here reaches the internet).

With the nbval plugin loaded (the default), every ``notebooks/*.ipynb`` is collected and run
in lax mode (notebooks are committed without outputs: every cell must run, no output is
compared) with this Python environment's kernel. ``pytest -p no:nbval`` runs the unit tests
alone.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "datasets" / "django"
NBVAL_CELL_TIMEOUT = 900.0  # seconds a notebook cell may run under nbval

os.environ.setdefault("SEQ2CODE_PROFILE", "ci")
if "SEQ2CODE_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["SEQ2CODE_DATA"] = str(SHARED_DATA)

collect_ignore_glob = ["_build/*", ".venv/*"]


def pytest_configure(config):
    """Turn nbval on in lax mode with the current environment's kernel, when it is loaded."""
    if not config.pluginmanager.hasplugin("nbval"):
        return
    option = config.option
    if not option.nbval:  # an explicit --nbval (compare outputs) is left alone
        option.nbval_lax = True
    if not option.nbval_kernel_name:
        option.nbval_current_env = True
    if option.nbval_cell_timeout == 2000:  # nbval's own default: not set on the command line
        option.nbval_cell_timeout = NBVAL_CELL_TIMEOUT
