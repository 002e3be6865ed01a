"""Looking inside a trained model: how much the loss depends on each encoder state, and how
much a decoder loses when it reads its own guesses instead of the reference.

Chapters 2, 3 and 5 plot ``||dL/dh_s||`` against the source position ``s``: in a vanilla RNN
the gradient that reaches the early positions fades (vanishing gradients); an LSTM carries it
further back, and attention gives every position a short path to the loss. Chapter 3 measures
exposure bias with :func:`token_accuracy`.
"""

from __future__ import annotations

import torch

from seq2code.batching import Batch, Pair, make_batches
from seq2code.models.base import Seq2Seq, evaluating
from seq2code.training import sequence_loss
from seq2code.vocab import PAD_ID


def encoder_state_gradients(model: Seq2Seq, batch: Batch) -> torch.Tensor:
    """Mean over the batch of ``||dL_b/dh_s||`` for each encoder position ``s``.

    ``L_b`` is example ``b``'s own loss (its mean cross-entropy per real target token) with
    teacher forcing 1.0, in eval mode (no dropout), so that a row's gradient does not depend
    on the other rows of the batch. The encoder is run one step at a time
    (``encoder.forward_unrolled``: the same function as its packed ``forward``) so that every
    state ``h_s`` is its own node of the autograd graph and ``dL/dh_s`` is the total
    derivative through every later state and, with attention, through the context vectors.
    The model's parameter gradients are not touched.

    Args:
        model: a :class:`~seq2code.models.base.Seq2Seq` with a recurrent encoder.
        batch: a :class:`~seq2code.batching.Batch` (moved to the model's device).

    Returns:
        ``[S]`` (on the CPU): at position ``s``, the mean of the gradient norms over the rows
        whose source is longer than ``s`` (padding is left out; NaN where no row is real).
    """
    device = next(model.parameters()).device
    batch = batch.to(device)
    with evaluating(model):
        # cuDNN computes RNN gradients only in training mode: eval mode (no dropout) takes
        # PyTorch's own RNN kernels instead.
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            enc, states = model.encoder.forward_unrolled(batch.src, batch.src_lens)
            # states: S tensors [B, H], h_1 .. h_S
            logits = model(batch.src, batch.src_lens, batch.tgt_in, teacher_forcing=1.0,
                           enc=enc).logits  # [B, T, V]
            token_losses = sequence_loss(logits, batch.tgt_out, reduction="none")  # [B*T]
            real = (batch.tgt_out != PAD_ID).float()  # [B, T]
            row_losses = (token_losses.view_as(real) * real).sum(1) / real.sum(1)  # [B] L_b
            loss = row_losses.sum()  # dL/dh_s of row b is dL_b/dh_s
            grads = torch.autograd.grad(loss, states, allow_unused=True)
    norms = torch.stack([torch.zeros(len(batch), device=device) if g is None else g.norm(dim=-1)
                         for g in grads], dim=1)  # [B, S]  ||dL/dh_s||
    mask = batch.src_mask.float()  # [B, S]
    return ((norms * mask).sum(0) / mask.sum(0)).cpu()  # [S]


@torch.no_grad()
def token_accuracy(model: Seq2Seq, pairs: list[Pair], teacher_forcing: float,
                   batch_size: int = 128) -> float:
    """The share of reference tokens ``y_t`` (``<eos>`` included) that the model's argmax
    predicts at their position, when fed the reference prefix (``teacher_forcing`` 1.0) or
    its own previous guesses (0.0).

    The gap between the two is **exposure bias** made visible: a model trained only on
    reference prefixes scores well when fed them and loses more once it reads its own
    mistakes (chapter 3). Eval mode (no dropout); the model's mode is restored.

    Args:
        model: a :class:`~seq2code.models.base.Seq2Seq`.
        pairs: encoded ``(source ids, <sos> target ids <eos>)`` pairs.
        teacher_forcing: 1.0 (the reference prefix) or 0.0 (the model's own guesses).
        batch_size: pairs per batch.
    """
    if teacher_forcing not in (0.0, 1.0):
        raise ValueError(f"teacher_forcing must be 0.0 or 1.0, got {teacher_forcing}")
    device = next(model.parameters()).device
    right = total = 0
    with evaluating(model):
        for batch in make_batches(pairs, batch_size):
            batch = batch.to(device)
            logits = model(batch.src, batch.src_lens, batch.tgt_in,
                           teacher_forcing=teacher_forcing).logits  # [B, T, V]
            real = batch.tgt_out != PAD_ID  # [B, T]
            right += int(((logits.argmax(-1) == batch.tgt_out) & real).sum())
            total += int(real.sum())
    return right / max(total, 1)
