"""Padded batches, masks and the shift by one; batching by length to cut padding.

A batch holds the English side ``src`` and the code side ``tgt`` as padded id tensors.
``tgt`` is framed as ``<sos> y_1 ... y_n <eos>``; the decoder reads ``tgt_in`` (everything but
the last position) and is scored against ``tgt_out`` (everything but the first), so that at
step ``t`` it sees ``y_{t-1}`` and must predict ``y_t``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from seq2code.vocab import PAD_ID, Vocab

Pair = tuple[list[int], list[int]]  # (source ids, target ids framed by <sos> ... <eos>)


@dataclass
class Batch:
    """One padded batch.

    Attributes:
        src: ``[B, S]`` source ids ``x``, padded with ``<pad>`` (id 0).
        src_lens: ``[B]`` real source lengths.
        tgt: ``[B, T]`` target ids ``<sos> y_1 .. y_n <eos>``, padded.
        tgt_lens: ``[B]`` real target lengths, ``<sos>`` and ``<eos>`` included.
        indices: ``B`` positions of the examples in the list the batch was drawn from.
    """

    src: torch.Tensor
    src_lens: torch.Tensor
    tgt: torch.Tensor
    tgt_lens: torch.Tensor
    indices: list[int]

    @property
    def src_mask(self) -> torch.Tensor:
        """``[B, S]`` bool, True at real source tokens, False at padding."""
        return self.src != PAD_ID

    @property
    def tgt_in(self) -> torch.Tensor:
        """``[B, T-1]`` the decoder's input: ``<sos> y_1 .. y_n`` (shifted right by one)."""
        return self.tgt[:, :-1]

    @property
    def tgt_out(self) -> torch.Tensor:
        """``[B, T-1]`` what the decoder must predict: ``y_1 .. y_n <eos>``."""
        return self.tgt[:, 1:]

    @property
    def n_target_tokens(self) -> int:
        """Tokens scored by the loss (every ``tgt_out`` position that is not padding):
        ``sum(tgt_lens - 1)``, read from the lengths so that it holds in either layout
        (the benchmark's time-major copies have ``tgt`` ``[T, B]``)."""
        return int((self.tgt_lens - 1).sum())

    def __len__(self) -> int:
        return self.src.size(0)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.src.to(device), self.src_lens.to(device), self.tgt.to(device),
                     self.tgt_lens.to(device), self.indices)


def encode_pairs(src_tokens: Sequence[Sequence[str]], tgt_tokens: Sequence[Sequence[str]],
                 src_vocab: Vocab, tgt_vocab: Vocab, max_src_len: int | None = None,
                 max_tgt_len: int | None = None) -> list[Pair]:
    """Token lists to id pairs; the target framed by ``<sos>`` ... ``<eos>``.

    Sources longer than ``max_src_len`` keep their first ``max_src_len`` tokens; targets longer
    than ``max_tgt_len`` keep their first ``max_tgt_len`` tokens before ``<eos>``.
    """
    if len(src_tokens) != len(tgt_tokens):
        raise ValueError(f"{len(src_tokens)} sources but {len(tgt_tokens)} targets")
    pairs = []
    for src, tgt in zip(src_tokens, tgt_tokens, strict=True):
        src = list(src)[:max_src_len] if max_src_len else list(src)
        tgt = list(tgt)[:max_tgt_len] if max_tgt_len else list(tgt)
        pairs.append((src_vocab.encode(src), tgt_vocab.encode(tgt, add_sos_eos=True)))
    return pairs


def pad(seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists with ``<pad>``: returns ``[B, L_max]`` ids and ``[B]`` lengths.

    Every sequence must hold at least one id (an empty source would have no state to
    attend to).
    """
    lens = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    if (lens == 0).any():
        raise ValueError("cannot batch an empty sequence")
    out = torch.full((len(seqs), int(lens.max())), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out, lens


def collate(pairs: Sequence[Pair], indices: Sequence[int]) -> Batch:
    """Pad a list of id pairs into one :class:`Batch`."""
    src, src_lens = pad([p[0] for p in pairs])
    tgt, tgt_lens = pad([p[1] for p in pairs])
    return Batch(src, src_lens, tgt, tgt_lens, list(indices))


def make_batches(pairs: Sequence[Pair], batch_size: int, *, shuffle: bool = False,
                 by_length: bool = True, seed: int = 0) -> list[Batch]:
    """Cut ``pairs`` into padded batches.

    With ``by_length``, examples are sorted by target length (then source length) inside
    windows of 50 batches, so that a batch holds similar lengths and little padding, and the
    batches are then shuffled; with ``shuffle`` alone, the order is random. The target decides:
    the decoder's loop runs once per target position of the longest target in the batch, and
    the output layer over the vocabulary is the costliest part of a step (sorting by source
    length left 2.4 target slots per real target token on Django, by target length 1.1). The
    same ``seed`` gives the same batches. Every example appears in exactly one batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    if shuffle:
        rng.shuffle(order)
    if by_length:
        window = batch_size * 50
        order = [i for start in range(0, len(order), window)
                 for i in sorted(order[start:start + window],
                                 key=lambda i: (len(pairs[i][1]), len(pairs[i][0])))]
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle and by_length:
        rng.shuffle(chunks)
    return [collate([pairs[i] for i in chunk], chunk) for chunk in chunks]
