"""Greedy decoding: at every step, feed back the most likely token, until ``<eos>``.

The whole batch decodes together; a row that has produced ``<eos>`` is finished (later
steps are computed for it but ignored), and the loop ends when every row is finished or
after ``max_len`` steps. The same loop serves the explorer of chapter 4 (which also feeds the
reference, ``forced``) and chapter 7's look at ``p_gen`` (``record``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from seq2code.models.base import DecoderStep, Seq2Seq, evaluating, on_model_device
from seq2code.vocab import EOS_ID, SOS_ID


class DecodeResult(NamedTuple):
    """Greedy decoding of a batch.

    Attributes:
        tokens: per row, the generated ids ``y_1 .. y_n`` without ``<sos>`` and ``<eos>``
            (at most ``max_len`` of them).
        attention: per row, a ``[n_i, S_i]`` tensor: the attention weights of the steps that
            produced its ``n_i`` tokens over its ``S_i`` real source positions (on the CPU);
            None for a model without attention.
        records: per step, what ``record(step)`` returned (empty without ``record``).
    """

    tokens: list[list[int]]
    attention: list[torch.Tensor] | None
    records: list[Any] = []


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor, max_len: int,
                  *, forced: torch.Tensor | None = None,
                  record: Callable[[DecoderStep], Any] | None = None) -> DecodeResult:
    """Decode ``src`` greedily, ``y_t = argmax p(y_t | y_<t, x)``.

    The model is put in eval mode for the call (no dropout) and left in the mode it had.

    Args:
        model: a :class:`~seq2code.models.base.Seq2Seq`.
        src: ``[B, S]`` source ids ``x``, padded (moved to the model's device if elsewhere).
        src_lens: ``[B]`` real source lengths.
        max_len: the most tokens generated per row (``<eos>`` not counted).
        forced: ``[B, T]`` ids to feed at steps ``2 .. T + 1`` instead of the model's own
            guesses (teacher forcing: the reference ``y_1 .. y_T``); the loop then runs exactly
            ``T + 1`` steps, whatever the model predicts (``max_len`` is not used).
        record: called with every step's :class:`~seq2code.models.base.DecoderStep`
            (``logits`` ``[B, V]``, ``state``, ``attention`` ``[B, S]``, ``features``); what it
            returns is kept in :attr:`DecodeResult.records`.

    Returns:
        :class:`DecodeResult`.
    """
    src, src_lens = on_model_device(model, src, src_lens)
    if forced is not None:
        (forced,) = on_model_device(model, forced)
        max_len = forced.size(1) + 1
    batch = src.size(0)
    predictions, attention, records = [], [], []
    with evaluating(model):
        enc = model.encode(src, src_lens)
        state = model.decoder.init_state(enc)
        prev = torch.full((batch,), SOS_ID, dtype=torch.long, device=src.device)  # [B] <sos>
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)  # [B]
        for t in range(max_len):
            step = model.decoder(prev, state, enc)
            state = step.state
            guess = step.logits.argmax(-1)  # [B]  y_t
            predictions.append(guess)
            attention.append(step.attention)  # [B, S] or None
            if record is not None:
                records.append(record(step))
            finished |= guess == EOS_ID
            if forced is None and bool(finished.all()):
                break
            prev = forced[:, t] if forced is not None and t < forced.size(1) else guess

    if not predictions:
        return DecodeResult([[] for _ in range(batch)], None, records)
    ids = torch.stack(predictions, dim=1).tolist()  # [B, n] as lists
    tokens = [row[: row.index(EOS_ID)] if EOS_ID in row else row for row in ids]
    if attention[0] is None:
        return DecodeResult(tokens, None, records)
    weights = torch.stack(attention, dim=1).cpu()  # [B, n, S]
    lens = src_lens.tolist()
    return DecodeResult(tokens, [weights[b, : len(tokens[b]), : lens[b]] for b in range(batch)],
                        records)
