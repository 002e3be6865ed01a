"""Checkpoints: written atomically, read without running pickled code.

A checkpoint is a plain dict saved with ``torch.save`` and read with
``torch.load(..., weights_only=True)``, which only rebuilds tensors and plain containers.
Its keys:

- ``format`` (int, :data:`FORMAT`), ``kind``, ``model_config`` (the arguments of
  :func:`seq2code.models.build_model`), ``state_dict``;
- ``src_vocab``, ``tgt_vocab`` (``Vocab.to_dict()``), ``train_config``
  (``TrainConfig.to_dict()``), ``history`` (``History.to_dict()``), ``epoch`` (epochs done);
- in ``last.pt`` also the training state (optimizer, scheduler, random states), and whatever
  the caller adds (``profile``, data information, ...).
"""

from __future__ import annotations

import codecs
import os
import tempfile
from pathlib import Path

import torch

from seq2code.models import build_model
from seq2code.models.base import Seq2Seq
from seq2code.vocab import Vocab

FORMAT = 1
REQUIRED_KEYS = ("format", "kind", "model_config", "state_dict")


class CheckpointError(Exception):
    """A checkpoint that cannot be used: missing, truncated or corrupt, not a seq2code
    checkpoint, or of another model kind. The message is one line that says what to do."""


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically.

    The file is written under a temporary name in the same folder and then moved over
    ``path`` with ``os.replace``: a crash mid-save leaves the previous file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, expected_kind: str | None = None) -> dict:
    """Read a checkpoint on the CPU, with ``weights_only=True``.

    Args:
        path: the checkpoint file.
        expected_kind: refuse a checkpoint of any other model kind.

    Raises:
        CheckpointError: missing file, truncated or corrupt file, not a seq2code checkpoint,
            newer format, kind mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train one with "
                              "`python -m seq2code train --model KIND --out DIR`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged file
        if not _looks_like_torch_file(path):
            raise CheckpointError(_not_a_torch_file(path)) from None
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise CheckpointError(f"{path} is truncated or corrupt ({reason}): train it again "
                              "or use another checkpoint") from None
    if not isinstance(payload, dict) or any(key not in payload for key in REQUIRED_KEYS):
        raise CheckpointError(f"{path} is not a seq2code checkpoint (it lacks the keys "
                              f"{', '.join(REQUIRED_KEYS)})")
    if payload["format"] > FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {payload['format']}, newer than "
                              f"this seq2code reads ({FORMAT}): upgrade seq2code")
    if expected_kind is not None and payload["kind"] != expected_kind:
        raise CheckpointError(f"{path} holds a model of kind {payload['kind']!r}, not "
                              f"{expected_kind!r} as asked")
    return payload


#: How a file written by ``torch.save`` starts: a zip archive (PyTorch 1.6 and later), or a
#: pickle (the legacy format; protocol 2 or later begins with the byte 0x80).
_TORCH_MAGICS = (b"PK\x03\x04", b"\x80")


def _looks_like_torch_file(path: Path) -> bool:
    """Whether ``path`` starts as a file of ``torch.save`` does; an empty file counts as one
    (a truncated checkpoint), so that only a file with other contents is called foreign."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:  # unreadable: torch's own reason says why
        return True
    return not head or head.startswith(_TORCH_MAGICS)


def _not_a_torch_file(path: Path) -> str:
    """The one-line message for a file that ``torch.save`` did not write (a text file, say)."""
    with open(path, "rb") as f:
        head = f.read(512)
    try:  # an incremental decoder lets a character cut at byte 512 pass
        codecs.getincrementaldecoder("utf-8")().decode(head)
        text = b"\0" not in head
    except UnicodeDecodeError:
        text = False
    what = "it is not a PyTorch file but text" if text else "it is not a PyTorch file"
    return (f"{path} is not a seq2code checkpoint: {what}; pass the best.pt or last.pt that "
            "`python -m seq2code train --model KIND --out DIR` writes, or the folder DIR")


def model_from_checkpoint(payload: dict) -> tuple[Seq2Seq, Vocab, Vocab]:
    """The model (with the checkpoint's weights, on the CPU, in eval mode) and its English
    and code vocabularies.

    Raises:
        CheckpointError: when the checkpoint carries no vocabularies or its weights do not fit
            its configuration.
    """
    if not payload.get("src_vocab") or not payload.get("tgt_vocab"):
        raise CheckpointError("the checkpoint carries no vocabularies: it cannot translate")
    src_vocab = Vocab.from_dict(payload["src_vocab"])
    tgt_vocab = Vocab.from_dict(payload["tgt_vocab"])
    model = build_model(**payload["model_config"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError("the checkpoint's weights do not fit its model configuration "
                              f"({' '.join(str(exc).split())[:120]})") from None
    config = payload["model_config"]
    if (len(src_vocab), len(tgt_vocab)) != (config["src_vocab_size"], config["tgt_vocab_size"]):
        raise CheckpointError("the checkpoint's vocabularies do not match its model's sizes")
    return model.eval(), src_vocab, tgt_vocab
