"""Coverage (chapter 7; Tu et al. 2016, See et al. 2017): remember where the decoder has
already looked.

An attention decoder may look at the same English words again and again (and write their code
twice) or never at some. Coverage keeps the running sum of the past attention weights,

    c^t = sum_{t' < t} a^{t'}                         [B, S], c^1 = 0

and feeds it into the score, so that the attention can see what has been covered:

    e_{t,i} = v^T tanh(W_h h_i + W_s s_t + w_c c_i^t + b)

Training adds the coverage loss, which penalises attending again where the coverage is
already high (it never exceeds the attention itself):

    covloss_t = sum_i min(a_{t,i}, c_{t,i}),     loss = NLL + lambda * mean_t covloss_t

Kind ``coverage`` is the pointer-generator (:mod:`seq2code.models.copy`) with coverage, as in
See et al.; the course's training loop adds :meth:`CoverageSeq2Seq.auxiliary_loss` to its loss.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from seq2code.models.attention import AdditiveAttention, AttentionLSTMEncoder, masked_softmax
from seq2code.models.base import EncoderOutput, Seq2SeqOutput
from seq2code.models.copy import CopyDecoder, CopySeq2Seq, copy_parameters
from seq2code.models.registry import ModelKind
from seq2code.vocab import PAD_ID


class CoverageAttention(AdditiveAttention):
    """``e_{t,i} = v^T tanh(W_s s_t + W_h h_i + w_c c_i^t + b)``, masked softmax, weighted sum.

    ``W_h h_i`` is the precomputed key of chapter 4 (there ``W_s``); ``w_c`` ``[A]`` and the
    bias ``b`` ``[A]`` are new.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__(query_dim, key_dim, attn_dim)
        self.w_c = nn.Linear(1, attn_dim)  # w_c (weight) and b (bias)

    def coverage_scores(self, query: torch.Tensor, keys: torch.Tensor,
                        coverage: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, S]`` from the query ``s_t`` ``[B, H]``, the keys ``W_h h_i``
        ``[B, S, A]`` and the coverage ``c^t`` ``[B, S]``."""
        hidden = torch.tanh(keys + self.W_t(query).unsqueeze(1)
                            + self.w_c(coverage.unsqueeze(-1)))  # [B, S, A]
        return self.v(hidden).squeeze(-1)  # [B, S]

    def forward(self, query: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                keys: torch.Tensor | None = None, coverage: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context ``[B, H_s]`` and weights ``a_t`` ``[B, S]``; ``coverage`` ``[B, S]``
        (default zeros)."""
        keys = self.project_keys(values) if keys is None else keys  # [B, S, A]
        if coverage is None:
            coverage = values.new_zeros(values.shape[:2])  # [B, S]
        weights = masked_softmax(self.coverage_scores(query, keys, coverage), mask)  # [B, S]
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # [B, H_s]
        return context, weights

    def init_memory(self, enc: EncoderOutput) -> CoverageMemory:
        """The keys ``W_h h_i`` ``[B, S, A]`` and the coverage ``c^1 = 0`` ``[B, S]``."""
        return CoverageMemory(self.project_keys(enc.outputs),
                              enc.outputs.new_zeros(enc.outputs.shape[:2]))

    def attend(self, query: torch.Tensor, enc: EncoderOutput, memory: CoverageMemory
               ) -> tuple[torch.Tensor, torch.Tensor, CoverageMemory]:
        """One step: context ``[B, H_enc]``, weights ``a_t`` ``[B, S]`` and the memory with
        ``c^{t+1} = c^t + a_t``."""
        context, weights = self(query, enc.outputs, enc.mask, memory.keys, memory.coverage)
        return context, weights, memory._replace(coverage=memory.coverage + weights)


class CoverageMemory(NamedTuple):
    """What coverage attention keeps across the steps of one sequence.

    Attributes:
        keys: ``[B, S, A]`` ``W_h h_i``, once per sequence.
        coverage: ``[B, S]`` ``c^t = sum_{t' < t} a^{t'}``.
    """

    keys: torch.Tensor
    coverage: torch.Tensor


class CoverageDecoder(CopyDecoder):
    """The copy decoder with :class:`CoverageAttention` plugged in (its memory carries the
    coverage ``c^t``)."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, **kwargs):
        enc_dim = kwargs.get("enc_dim") or hidden_dim
        attention = CoverageAttention(hidden_dim, enc_dim, kwargs.pop("attn_dim", None)
                                      or hidden_dim)
        super().__init__(vocab_size, emb_dim, hidden_dim, attention=attention, **kwargs)


def coverage_loss(attention: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """``mean_t sum_i min(a_{t,i}, c_{t,i})`` over the real target steps.

    Args:
        attention: ``[B, T, S]`` the weights ``a_t`` of consecutive steps from the first.
        target_mask: ``[B, T]`` bool, True at real (scored) target steps.

    Returns:
        A scalar: 0 when no position is attended twice; at most 1 per step.
    """
    coverage = attention.cumsum(dim=1) - attention  # [B, T, S]  c^t = sum_{t'<t} a^{t'}
    per_step = torch.minimum(attention, coverage).sum(-1)  # [B, T]
    mask = target_mask.to(per_step.dtype)
    return (per_step * mask).sum() / mask.sum().clamp_min(1.0)


def repeated_attention(attention: torch.Tensor) -> float:
    """How much attention goes where attention already went: ``sum_i max(0, sum_t a_{t,i} - 1)``
    for one decoding ``[n, S]`` (0 when no source position gets more than a total of 1)."""
    return float((attention.sum(0) - 1.0).clamp_min(0.0).sum())


class CoverageSeq2Seq(CopySeq2Seq):
    """The pointer-generator with coverage; ``cov_weight`` is ``lambda``."""

    def __init__(self, *args, cov_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.cov_weight = cov_weight

    def auxiliary_loss(self, output: Seq2SeqOutput, tgt_out: torch.Tensor) -> torch.Tensor:
        """``lambda * coverage_loss``; the training loop adds it to the cross-entropy.

        ``output.attention`` ``[B, T, S]``, ``tgt_out`` ``[B, T]`` (``<pad>`` not scored).
        """
        return self.cov_weight * coverage_loss(output.attention, tgt_out != PAD_ID)


def coverage_parameters(src_vocab: int, tgt_vocab: int, emb: int, hidden: int) -> int:
    """The copy model's count plus ``w_c`` and ``b`` inside the score (``H`` each)."""
    return copy_parameters(src_vocab, tgt_vocab, emb, hidden) + 2 * hidden


def build_coverage(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int, hidden_dim: int,
                   dropout: float, canonical: bool, cov_weight: float) -> CoverageSeq2Seq:
    """The pointer-generator with coverage (``cov_weight``: the loss weight ``lambda``)."""
    return CoverageSeq2Seq(AttentionLSTMEncoder(src_vocab_size, emb_dim, hidden_dim, dropout),
                           CoverageDecoder(tgt_vocab_size, emb_dim, hidden_dim, dropout=dropout),
                           src_vocab_size, canonical=canonical, cov_weight=cov_weight)


MODEL_KINDS = (ModelKind("coverage", 7, "pointer-generator with coverage",
                         build_coverage, coverage_parameters,
                         options={"dropout": 0.0, "canonical": True, "cov_weight": 1.0}),)
