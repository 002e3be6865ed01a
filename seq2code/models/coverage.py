"""Coverage (chapter 7; Tu et al. 2016, See et al. 2017): remember where the decoder has
already looked.

An attention decoder may look at the same English words again and again (and write their code
twice) or never at some. Coverage keeps the running sum of the past attention weights,

    kappa_t = sum_{t' < t} alpha_{t'}                 [B, S], kappa_1 = 0

and feeds it into chapter 4's score, so that the attention can see what has been covered:

    e_{t,s} = v^T tanh(W_q s_{t-1} + W_k h_s + w_kappa kappa_{t,s} + b_attn)

(See et al. write the coverage ``c^t``, its weight ``w_c`` and the query ``s_t``; the course
keeps ``c_t`` for the context and queries with ``s_{t-1}``, as chapter 4 does.) Training adds
the coverage loss, which penalises attending again where the coverage is already high (it
never exceeds the attention itself):

    covloss_t = sum_s min(alpha_{t,s}, kappa_{t,s}),     loss = NLL + lambda * mean_t covloss_t

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
    """``e_{t,s} = v^T tanh(W_q s_{t-1} + W_k h_s + w_kappa kappa_{t,s} + b_attn)``, masked
    softmax, weighted sum.

    ``W_k h_s`` is the precomputed key of chapter 4 (``W_q``, ``W_k`` are the parameters
    ``W_t``, ``W_s``); ``w_kappa`` ``[A]`` and the bias ``b_attn`` ``[A]`` are new: they are the
    parameter ``w_c`` (See et al.'s name), a linear layer from the one number
    ``kappa_{t,s}`` to ``A``.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__(query_dim, key_dim, attn_dim)
        self.w_c = nn.Linear(1, attn_dim)  # w_kappa (weight [A, 1]) and b_attn (bias [A])

    def coverage_scores(self, query: torch.Tensor, keys: torch.Tensor,
                        coverage: torch.Tensor) -> torch.Tensor:
        """Scores ``e_{t,s}`` ``[B, S]`` from the query ``s_{t-1}`` ``[B, H]``, the keys
        ``W_k h_s`` ``[B, S, A]`` and the coverage ``kappa_t`` ``[B, S]``."""
        hidden = torch.tanh(keys + self.W_t(query).unsqueeze(1)
                            + self.w_c(coverage.unsqueeze(-1)))  # [B, S, A]
        return self.v(hidden).squeeze(-1)  # [B, S]  e_{t,s}

    def forward(self, query: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                keys: torch.Tensor | None = None, coverage: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context ``c_t`` ``[B, H_enc]`` and weights ``alpha_t`` ``[B, S]``; ``coverage``
        ``kappa_t`` ``[B, S]`` (default zeros)."""
        keys = self.project_keys(values) if keys is None else keys  # [B, S, A]  W_k h_s
        if coverage is None:
            coverage = values.new_zeros(values.shape[:2])  # [B, S]  kappa_1 = 0
        weights = masked_softmax(self.coverage_scores(query, keys, coverage), mask)  # [B, S]
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # [B, H_enc]  c_t
        return context, weights

    def init_memory(self, enc: EncoderOutput) -> CoverageMemory:
        """The keys ``W_k h_s`` ``[B, S, A]`` and the coverage ``kappa_1 = 0`` ``[B, S]``."""
        return CoverageMemory(self.project_keys(enc.outputs),
                              enc.outputs.new_zeros(enc.outputs.shape[:2]))

    def attend(self, query: torch.Tensor, enc: EncoderOutput, memory: CoverageMemory
               ) -> tuple[torch.Tensor, torch.Tensor, CoverageMemory]:
        """One step: context ``c_t`` ``[B, H_enc]``, weights ``alpha_t`` ``[B, S]`` and the
        memory with ``kappa_{t+1} = kappa_t + alpha_t``."""
        context, weights = self(query, enc.outputs, enc.mask, memory.keys, memory.coverage)
        return context, weights, memory._replace(coverage=memory.coverage + weights)


class CoverageMemory(NamedTuple):
    """What coverage attention keeps across the steps of one sequence.

    Attributes:
        keys: ``[B, S, A]`` ``W_k h_s``, once per sequence.
        coverage: ``[B, S]`` ``kappa_t = sum_{t' < t} alpha_{t'}``.
    """

    keys: torch.Tensor
    coverage: torch.Tensor


class CoverageDecoder(CopyDecoder):
    """The copy decoder with :class:`CoverageAttention` plugged in (its memory carries the
    coverage ``kappa_t``)."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, **kwargs):
        enc_dim = kwargs.get("enc_dim") or hidden_dim
        attention = CoverageAttention(hidden_dim, enc_dim, kwargs.pop("attn_dim", None)
                                      or hidden_dim)
        super().__init__(vocab_size, emb_dim, hidden_dim, attention=attention, **kwargs)


def coverage_loss(attention: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """``mean_t sum_s min(alpha_{t,s}, kappa_{t,s})`` over the real target steps.

    Args:
        attention: ``[B, T, S]`` the weights ``alpha_t`` of consecutive steps from the first.
        target_mask: ``[B, T]`` bool, True at real (scored) target steps.

    Returns:
        A scalar: 0 when no position is attended twice; at most 1 per step.
    """
    coverage = attention.cumsum(dim=1) - attention  # [B, T, S]  kappa_t
    per_step = torch.minimum(attention, coverage).sum(-1)  # [B, T]
    mask = target_mask.to(per_step.dtype)
    return (per_step * mask).sum() / mask.sum().clamp_min(1.0)


def repeated_attention(attention: torch.Tensor) -> float:
    """How much attention goes where attention already went:
    ``sum_s max(0, sum_t alpha_{t,s} - 1)`` for one decoding ``[n, S]`` (0 when no source
    position gets more than a total of 1)."""
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
    """The copy model's count plus ``w_kappa`` and ``b_attn`` inside the score (the parameter
    ``w_c``: ``A = H`` numbers each)."""
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
