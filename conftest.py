"""pytest's setup for the whole repository: the run profile, the data, and nbval.

This file sits at the repository root so that it also applies to ``pytest notebooks/X.ipynb``.
It runs before any test or notebook kernel starts, so the environment set here is inherited
by nbval's kernels:

- ``SEQ2CODE_PROFILE`` defaults to ``ci`` (seconds of training on a small subset);
- ``SEQ2CODE_DATA`` defaults to ``../shared/datasets/django`` beside the repository, when
  that folder exists and the variable is unset (no machine here reaches the internet).

With the nbval plugin loaded (the default), every ``notebooks/*.ipynb`` is collected and run
in lax mode (notebooks are committed without outputs: every cell must run, no output is
compared) with this Python environment's kernel, and with no time limit per cell, like the
book's build (``execute.timeout: -1`` in ``_config.yml``): a cell that trains took 1,301 s
on a loaded laptop, and a slow machine must not fail a notebook that a fast one passes.
A maintainer who wants a limit passes one, e.g. ``--nbval-cell-timeout 1800`` (seconds; a
negative value also means none). ``pytest -p no:nbval`` runs the unit tests alone.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "datasets" / "django"
#: nbval's per-cell limit when none is given: -1, no limit. nbval 0.11 hands the value to
#: jupyter_client, whose zmq poll waits forever for a negative timeout (None would too, but
#: nbval formats the limit with %g in its timeout message, which -1 survives).
NBVAL_CELL_TIMEOUT = -1.0
NBVAL_DEFAULT_CELL_TIMEOUT = 2000.0  # nbval 0.11's own default for --nbval-cell-timeout

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
    # nbval's own default means the option was not given (an explicit 2000 reads the same)
    if option.nbval_cell_timeout == NBVAL_DEFAULT_CELL_TIMEOUT:
        option.nbval_cell_timeout = NBVAL_CELL_TIMEOUT
