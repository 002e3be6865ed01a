"""Run profiles: one setting that picks every notebook's and command's budget.

``SEQ2CODE_PROFILE`` is one of ``ci`` (seconds of training on a small subset, for the test
suite), ``cpu`` (what the rendered book shows: minutes on a laptop) and ``full`` (the whole
data, the real result). Without the variable, ``full`` is picked when a CUDA GPU is present
and ``cpu`` otherwise. Profiles change sizes and epochs, never code paths.

The ``cpu`` profile trains every training pair at the course's size (embedding 128, hidden
256) for three epochs: on this course's 2-core machine 31 s for the RNN, 56 s for the LSTM,
99 s for the attention model, about 15 minutes for the eleven models of chapters 2 to 8, which
build in under half an hour; chapter 9 trains five or six copy models more (2.1 to 2.4 minutes
each), and the whole book takes about 35 minutes (README, "Two commands"). ``full`` trains the same
size for up to 30 epochs, stopping once five epochs in a row bring no better dev exact match.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch

from seq2code.data import SPLITS

PROFILE_ENV = "SEQ2CODE_PROFILE"


@dataclass(frozen=True)
class Profile:
    """The budget of one run profile.

    Attributes:
        name: ``"ci"``, ``"cpu"`` or ``"full"``.
        train_size: how many training examples to use (``None``: all 16,000).
        dev_size: how many dev examples to use for model selection (``None``: all 1,000).
        test_size: how many test examples to evaluate on (``None``: all 1,805).
        epochs: training epochs.
        batch_size: examples per batch.
        min_freq: minimum count for a token to enter a vocabulary.
        max_src_len: English tokens kept per description (longer ones are truncated).
        max_tgt_len: code tokens kept per line, and greedy decoding's length limit.
        emb_dim: embedding size ``E`` of the models that the profile trains.
        hidden_dim: hidden size ``H`` of those models (the course's reference is 256).
        early_stop: end training after this many epochs without a better dev exact match
            (None: train every epoch).
    """

    name: str
    train_size: int | None
    dev_size: int | None
    test_size: int | None
    epochs: int
    batch_size: int
    min_freq: int
    max_src_len: int
    max_tgt_len: int
    emb_dim: int = 128  # defaults: checkpoints written before these fields read the same
    hidden_dim: int = 256
    early_stop: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One sentence for a chapter's first output: the profile's name, data, epochs and size.

        ``Run profile cpu: all 16,000 training pairs, 3 epochs, hidden size 256 (set
        SEQ2CODE_PROFILE to ci, cpu or full).``
        """
        first, last = SPLITS["train"]
        pairs = (f"all {last - first:,}" if self.train_size is None
                 else f"{self.train_size:,} of the {last - first:,}")
        epochs = f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        if self.early_stop is not None:
            epochs = (f"up to {epochs} (stopping after {self.early_stop} without a better "
                      "dev exact match)")
        *others, final = PROFILES
        return (f"Run profile {self.name}: {pairs} training pairs, {epochs}, hidden size "
                f"{self.hidden_dim} (set {PROFILE_ENV} to {', '.join(others)} or {final}).")


PROFILES: dict[str, Profile] = {
    "ci": Profile("ci", train_size=3000, dev_size=200, test_size=200, epochs=4,
                  batch_size=64, min_freq=2, max_src_len=60, max_tgt_len=60),
    "cpu": Profile("cpu", train_size=None, dev_size=None, test_size=None, epochs=3,
                   batch_size=64, min_freq=3, max_src_len=100, max_tgt_len=100),
    "full": Profile("full", train_size=None, dev_size=None, test_size=None, epochs=30,
                    batch_size=64, min_freq=3, max_src_len=100, max_tgt_len=100,
                    early_stop=5),
}


def default_profile_name() -> str:
    """``full`` with a CUDA GPU, ``cpu`` without."""
    return "full" if torch.cuda.is_available() else "cpu"


def get_profile(name: str | None = None) -> Profile:
    """The profile named ``name``, else ``$SEQ2CODE_PROFILE``, else the default.

    Raises:
        ValueError: for an unknown name, saying which names exist.
    """
    name = name or os.environ.get(PROFILE_ENV) or default_profile_name()
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"unknown run profile {name!r}: set {PROFILE_ENV} to one of {', '.join(PROFILES)}"
        )
    return PROFILES[name]


def default_device() -> torch.device:
    """The CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
