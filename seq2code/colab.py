"""The setup cell's form on Colab: the model cache on Google Drive, the run profile, and a
notice on a runtime without a GPU. Off Colab it changes nothing.

Every chapter's first cell ends with::

    setup_runtime(keep_models_on_drive=KEEP_MODELS_ON_DRIVE, profile=PROFILE)

where both values are Colab form fields (``# @param``). On Colab:

- ``keep_models_on_drive``: mounts the student's Google Drive (Colab asks for permission) and
  points the model cache (``SEQ2CODE_CACHE``) at ``MyDrive/seq2code-cache``, so that a model
  trained in one chapter's runtime is read back by a later chapter in another runtime.
- ``profile``: sets ``SEQ2CODE_PROFILE`` (``cpu`` or ``full``).
- on a runtime without a GPU, prints what to switch and what it changes.

Off Colab the cache and the profile stay as the environment sets them, with one exception
for tests: ``SEQ2CODE_DRIVE_ROOT`` names a folder that stands in for the mounted Drive's
``MyDrive`` (the Colab-like test points it at a local folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from seq2code.cache import CACHE_ENV, cache_dir
from seq2code.profiles import PROFILE_ENV, PROFILES

DRIVE_MOUNT = "/content/drive"
DRIVE_ROOT_ENV = "SEQ2CODE_DRIVE_ROOT"  # off Colab: a folder standing in for MyDrive
DRIVE_FOLDER = "seq2code-cache"  # the model cache's folder in MyDrive
SWITCH = "Runtime > Change runtime type > T4 GPU"


def on_colab() -> bool:
    """True inside a Colab runtime (its kernel imports ``google.colab`` at start)."""
    return "google.colab" in sys.modules


def drive_root() -> Path | None:
    """``MyDrive`` of the mounted Google Drive on Colab (mounting it if needed), else the
    folder ``$SEQ2CODE_DRIVE_ROOT`` names, else None (no Drive here)."""
    if on_colab():
        from google.colab import drive  # only on Colab

        drive.mount(DRIVE_MOUNT)
        return Path(DRIVE_MOUNT) / "MyDrive"
    configured = os.environ.get(DRIVE_ROOT_ENV, "").strip()
    return Path(configured).expanduser() if configured else None


def cpu_runtime_notice(seconds_here: float | None = None,
                       seconds_t4: float | None = None) -> str:
    """What a chapter opened on a Colab runtime without a GPU says: the switch to make and
    what it changes (with the training plan's minutes when given)."""
    text = (f"This Colab runtime has no GPU: the models train on its CPU. To switch, use "
            f"{SWITCH}, then run the chapter again from the top (the setup cell first).")
    if seconds_here is not None and seconds_t4 is not None:
        text += (f" Here this chapter's training takes about {seconds_here / 60:.0f} minutes; "
                 f"on a T4 about {max(seconds_t4 / 60, 1):.0f} (estimated, see above).")
    else:
        text += (" The chapter's training plan, printed before it trains, gives the minutes "
                 "here and on a T4.")
    return text + (" On a GPU the form's profile full (up to 30 epochs a model, the real "
                   "results) is also within reach; cpu stays the default.")


def setup_runtime(keep_models_on_drive: bool = False, profile: str | None = None) -> list[str]:
    """Apply the setup cell's form: on Colab, the model cache on Drive and the profile; print
    and return what was done (off Colab, with no Drive stand-in: nothing).

    Args:
        keep_models_on_drive: keep the model cache on Google Drive (``MyDrive/seq2code-cache``).
        profile: the run profile on Colab (``cpu`` or ``full``); off Colab the profile stays
            what ``SEQ2CODE_PROFILE`` or the default says.
    """
    lines = []
    if keep_models_on_drive:
        root = drive_root()
        if root is None:
            lines.append(f"Keeping models on Google Drive works on Colab: here they stay in "
                         f"{cache_dir()}.")
        else:
            folder = root / DRIVE_FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            os.environ[CACHE_ENV] = str(folder)
            held = sorted((folder / "models").glob("*.pt")) if (folder / "models").is_dir() \
                else []
            size = sum(path.stat().st_size for path in held) / 1e6
            lines.append(f"Model cache on your Drive: {folder} ({len(held)} model"
                         f"{'s' if len(held) != 1 else ''}, {size:.0f} MB).")
    if on_colab() and profile:
        if profile not in PROFILES:
            raise ValueError(f"unknown run profile {profile!r}: choose one of "
                             f"{', '.join(PROFILES)}")
        os.environ[PROFILE_ENV] = profile
        lines.append(f"Run profile {profile} (the form's choice).")
    if on_colab():
        import torch

        if not torch.cuda.is_available():
            lines.append(cpu_runtime_notice())
    for line in lines:
        print(line)
    return lines
