"""Toy data and training shared by the tests: random pairs of chosen lengths, one padded
batch of them, and a teacher-forced loop that fits a model to one batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seq2code.batching import Batch, Pair, collate
from seq2code.training import make_optimizer, train_step
from seq2code.vocab import EOS_ID, SOS_ID


def batch_of(lengths: Sequence[int], vocab: int = 20, tgt_len: int | Sequence[int] = 6,
             seed: int = 0) -> tuple[Batch, list[Pair]]:
    """A batch of random pairs: sources of the given ``lengths``, targets
    ``<sos> y_1 .. y_m <eos>`` with ``m`` = ``tgt_len`` (one length for every pair, or one per
    pair), ids in ``[4, vocab)``; and the pairs themselves."""
    tgt_lens = [tgt_len] * len(lengths) if isinstance(tgt_len, int) else list(tgt_len)
    g = torch.Generator().manual_seed(seed)
    pairs = [(torch.randint(4, vocab, (n,), generator=g).tolist(),
              [SOS_ID, *torch.randint(4, vocab, (m,), generator=g).tolist(), EOS_ID])
             for n, m in zip(lengths, tgt_lens, strict=True)]
    return collate(pairs, range(len(pairs))), pairs


def fit(model: torch.nn.Module, batch: Batch, lr: float, steps: int,
        stop_below: float | None = 0.01) -> float:
    """Train ``model`` teacher-forced on ``batch`` with Adam for at most ``steps`` steps (until
    the loss falls below ``stop_below``), with the library's one training step (no clipping);
    return the last loss."""
    optimizer = make_optimizer(model, lr)
    for _ in range(steps):
        loss = train_step(model, optimizer, batch, teacher_forcing=1.0, clip=0.0).item()
        if stop_below is not None and loss < stop_below:
            break
    return loss
