"""Greedy decoding: at every step, feed back the most likely token, until ``<eos>``.

The whole batch decodes together; a row that has produced ``<eos>`` is finished (later
steps are computed for it but ignored), and the loop ends when every row is finished or
after ``max_len`` steps.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from seq2code.models.base import Seq2Seq, on_model_device
from seq2code.vocab import EOS_ID, SOS_ID


class DecodeResult(NamedTuple):
    """Greedy decoding of a batch.

    Attributes:
        tokens: per row, the generated ids ``y_1 .. y_n`` without ``<sos>`` and ``<eos>``
            (at most ``max_len`` of them).
        attention: per row, a ``[n_i, S_i]`` tensor: the attention weights of the steps that
            produced its ``n_i`` tokens over its ``S_i`` real source positions (on the CPU);
            None for a model without attention.
    """

    tokens: list[list[int]]
    attention: list[torch.Tensor] | None


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor,
                  max_len: int) -> DecodeResult:
    """Decode ``src`` greedily, ``y_t = argmax p(y_t | y_<t, x)``.

    The model is put in eval mode for the call (no dropout) and left in the mode it had.

    Args:
        model: a :class:`~seq2code.models.base.Seq2Seq`.
        src: ``[B, S]`` source ids ``x``, padded (moved to the model's device if elsewhere).
        src_lens: ``[B]`` real source lengths.
        max_len: the most tokens generated per row (``<eos>`` not counted).

    Returns:
        :class:`DecodeResult`.
    """
    src, src_lens = on_model_device(model, src, src_lens)
    was_training = model.training
    model.eval()
    try:
        enc = model.encode(src, src_lens)
        state = model.decoder.init_state(enc)
        batch = src.size(0)
        prev = torch.full((batch,), SOS_ID, dtype=torch.long, device=src.device)  # [B] <sos>
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)  # [B]
        predictions, attention = [], []
        for _ in range(max_len):
            step = model.decoder(prev, state, enc)
            state = step.state
            prev = step.logits.argmax(-1)  # [B]  y_t
            predictions.append(prev)
            attention.append(step.attention)  # [B, S] or None
            finished |= prev == EOS_ID
            if bool(finished.all()):
                break
    finally:
        model.train(was_training)

    if not predictions:
        return DecodeResult([[] for _ in range(batch)], None)
    ids = torch.stack(predictions, dim=1).tolist()  # [B, n] as lists
    tokens = [row[: row.index(EOS_ID)] if EOS_ID in row else row for row in ids]
    if attention[0] is None:
        return DecodeResult(tokens, None)
    weights = torch.stack(attention, dim=1).cpu()  # [B, n, S]
    lens = src_lens.tolist()
    return DecodeResult(tokens, [weights[b, : len(tokens[b]), : lens[b]] for b in range(batch)])
