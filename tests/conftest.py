"""Fixtures shared by the unit tests. (The root ``conftest.py`` sets the environment.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The Django data folder named by ``$SEQ2CODE_DATA``, which the root ``conftest.py``
    sets to the shared copy beside the repository when it exists; skips the test when unset."""
    configured = os.environ.get("SEQ2CODE_DATA", "").strip()
    if not configured:
        pytest.skip("SEQ2CODE_DATA is not set (and no shared copy was found beside the "
                    "repository): point it at a folder with all.anno and all.code")
    return Path(configured)
