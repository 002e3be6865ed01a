"""The LSTM encoder-decoder with additive (Bahdanau) attention (chapter 4).

At decoding step ``t`` the decoder's previous state ``h_{t-1}`` (the query, as in Bahdanau et
al. 2015) scores every encoder state ``h_s``:

    score(h_{t-1}, h_s) = v^T tanh(W [h_{t-1}; h_s])
                        = v^T tanh(W_t h_{t-1} + W_s h_s)       (W = [W_t  W_s])
    alpha_t = softmax over real source positions s of score(h_{t-1}, h_s)
    c_t     = sum_s alpha_{t,s} h_s

Splitting ``W`` shows that its source half ``W_s h_s`` does not depend on ``t``: it is computed
once per sequence (:meth:`AdditiveAttention.project_keys`) instead of at every step. The
literal concatenation form (:meth:`AdditiveAttention.concat_scores`) is kept: the tests and the
chapter show that the two are the same function.

The decoder's LSTM reads ``[e(y_{t-1}); c_t]``, and the output layer reads ``[h_t; c_t]``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from seq2code.models.base import Decoder, DecoderRun, DecoderStep, EncoderOutput
from seq2code.models.lstm import LSTMEncoder
from seq2code.vocab import PAD_ID


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis of ``scores``, with weight exactly 0 where ``mask`` is False.

    The one masking helper that every attention of the course uses (d2l's ``masked_softmax``).

    Args:
        scores: ``[B, ..., S]`` attention scores ``e_{t,s}``.
        mask: ``[B, S]`` bool, True at real source positions; every row needs at least one.

    Returns:
        ``[B, ..., S]`` weights ``alpha``: non-negative, summing to 1 over the real positions.
    """
    while mask.dim() < scores.dim():
        mask = mask.unsqueeze(-2)  # [B, 1, ..., S]: broadcast over the query axes
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


class AdditiveAttention(nn.Module):
    """``score(h_t, h_s) = v^T tanh(W_t h_t + W_s h_s)``, masked softmax, weighted sum.

    Args:
        query_dim: size of the decoder state ``h_t`` (the query).
        key_dim: size of an encoder state ``h_s``.
        attn_dim: size of the hidden layer of the score (rows of ``W`` and of ``v``).
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        self.W_t = nn.Linear(query_dim, attn_dim, bias=False)  # decoder half of W
        self.W_s = nn.Linear(key_dim, attn_dim, bias=False)  # source half of W
        self.v = nn.Linear(attn_dim, 1, bias=False)  # v

    def project_keys(self, values: torch.Tensor) -> torch.Tensor:
        """``W_s h_s`` for every source position, once per sequence.

        ``values`` ``[B, S, H_s]`` encoder states ``h_s`` -> ``[B, S, A]``.
        """
        return self.W_s(values)

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``v^T tanh(W_t h_t + W_s h_s)`` from the precomputed ``keys`` = ``W_s h_s``.

        Args:
            query: ``[B, H_t]`` decoder state ``h_t``.
            keys: ``[B, S, A]`` from :meth:`project_keys`.

        Returns:
            ``[B, S]`` scores ``e_{t,s}`` (padding not yet masked).
        """
        hidden = torch.tanh(keys + self.W_t(query).unsqueeze(1))  # [B, S, A]
        return self.v(hidden).squeeze(-1)  # [B, S]

    def concat_scores(self, query: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """The literal form ``v^T tanh(W [h_t; h_s])``, with ``W = [W_t  W_s]``.

        Args:
            query: ``[B, H_t]`` decoder state ``h_t``.
            values: ``[B, S, H_s]`` encoder states ``h_s``.

        Returns:
            ``[B, S]`` scores ``e_{t,s}``, the same as :meth:`scores` (up to rounding).
        """
        W = torch.cat([self.W_t.weight, self.W_s.weight], dim=1)  # [A, H_t + H_s]
        repeated = query.unsqueeze(1).expand(-1, values.size(1), -1)  # [B, S, H_t]
        pairs = torch.cat([repeated, values], dim=-1)  # [B, S, H_t + H_s]  [h_t; h_s]
        hidden = torch.tanh(pairs @ W.T)  # [B, S, A]
        return self.v(hidden).squeeze(-1)  # [B, S]

    def forward(self, query: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                keys: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from ``query`` over ``values``.

        Args:
            query: ``[B, H_t]`` decoder state ``h_t``.
            values: ``[B, S, H_s]`` encoder states ``h_s``.
            mask: ``[B, S]`` bool, True at real source positions.
            keys: ``[B, S, A]`` precomputed ``W_s h_s`` (:meth:`project_keys`); None scores
                with the literal concatenation (:meth:`concat_scores`), recomputing the source
                half at every call.

        Returns:
            ``context`` ``[B, H_s]`` ``c_t = sum_s alpha_{t,s} h_s`` and ``weights`` ``[B, S]``
            ``alpha_t`` (exactly 0 at padding).
        """
        scores = (self.concat_scores(query, values) if keys is None
                  else self.scores(query, keys))  # [B, S]
        weights = masked_softmax(scores, mask)  # [B, S]  alpha_t
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # [B, H_s]  c_t
        return context, weights


class AttentionLSTMEncoder(LSTMEncoder):
    """The LSTM encoder of chapter 3: its every state ``h_1 .. h_S`` is what the decoder
    attends to (``EncoderOutput.outputs``, zeros at padding, masked by ``EncoderOutput.mask``)."""


class AttentionState(NamedTuple):
    """The attention decoder's state.

    Attributes:
        hidden: ``[B, H]`` ``h_{t-1}``.
        cell: ``[B, H]`` ``c_{t-1}``.
        keys: ``[B, S, A]`` ``W_s h_s``, computed once per sequence (None when the decoder
            scores with the literal concatenation).
    """

    hidden: torch.Tensor
    cell: torch.Tensor
    keys: torch.Tensor | None


class AttentionLSTMDecoder(Decoder):
    """LSTM decoder with additive attention, queried by the previous state ``h_{t-1}``.

    Step ``t``: ``alpha_t, c_t = attention(h_{t-1}, h_1..h_S)``;
    ``h_t, c'_t = LSTM([e(y_{t-1}); c_t], (h_{t-1}, c'_{t-1}))``;
    ``logits = W_o [h_t; c_t] + b_o``.

    Args:
        vocab_size: target vocabulary size ``V``.
        emb_dim: embedding size ``E``.
        hidden_dim: LSTM state size ``H``.
        enc_dim: encoder state size (default ``hidden_dim``).
        attn_dim: size of the score's hidden layer (default ``hidden_dim``).
        dropout: dropout on the embeddings.
        precompute_keys: compute ``W_s h_s`` once per sequence (True) or score with the
            literal concatenation at every step (False: the same function, slower).
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int,
                 enc_dim: int | None = None, attn_dim: int | None = None,
                 dropout: float = 0.0, precompute_keys: bool = True):
        super().__init__()
        enc_dim = enc_dim or hidden_dim
        self.precompute_keys = precompute_keys
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.attention = AdditiveAttention(hidden_dim, enc_dim, attn_dim or hidden_dim)
        # One step at a time (the context depends on the previous state): an LSTM cell, the
        # same function and parameters as a one-layer nn.LSTM, faster per step on the CPU.
        self.rnn = nn.LSTMCell(emb_dim + enc_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim + enc_dim, vocab_size)  # W_o, b_o

    def init_state(self, enc: EncoderOutput) -> AttentionState:
        """The encoder's last ``(h_S, c_S)`` and, once, the keys ``W_s h_s`` ``[B, S, A]``."""
        hidden, cell = enc.state  # [1, B, H] each: the encoder's last layer
        keys = self.attention.project_keys(enc.outputs) if self.precompute_keys else None
        return AttentionState(hidden[-1], cell[-1], keys)  # [B, H], [B, H], [B, S, A]

    def _step(self, embedded: torch.Tensor, state: AttentionState, enc: EncoderOutput
              ) -> tuple[torch.Tensor, AttentionState, torch.Tensor]:
        """One step from the embedded ``e(y_{t-1})`` ``[B, E]``.

        Returns the output layer's input ``[h_t; c_t]`` ``[B, H + H_enc]``, the new state and
        the weights ``alpha_t`` ``[B, S]``.
        """
        context, weights = self.attention(state.hidden, enc.outputs, enc.mask, state.keys)
        # query: h_{t-1} [B, H];  context: [B, H_enc] c_t;  weights: [B, S] alpha_t
        rnn_input = torch.cat([embedded, context], dim=-1)  # [B, E + H_enc]  [e(y_{t-1}); c_t]
        hidden, cell = self.rnn(rnn_input, (state.hidden, state.cell))  # [B, H] h_t, c'_t
        features = torch.cat([hidden, context], dim=-1)  # [B, H + H_enc]  [h_t; c_t]
        return features, AttentionState(hidden, cell, state.keys), weights

    def forward(self, prev: torch.Tensor, state: AttentionState,
                enc: EncoderOutput) -> DecoderStep:
        """One step: ``prev`` ``[B]`` ids ``y_{t-1}``. Returns ``logits`` ``[B, V]``, the new
        state and ``attention`` ``[B, S]`` ``alpha_t``."""
        embedded = self.dropout(self.embedding(prev))  # [B, E]  e(y_{t-1})
        features, state, weights = self._step(embedded, state, enc)
        return DecoderStep(self.out(features), state, weights)  # logits [B, V]

    def forward_sequence(self, inputs: torch.Tensor, state: AttentionState,
                         enc: EncoderOutput) -> DecoderRun:
        """``K`` steps on known inputs ``inputs`` ``[B, K]``: the embeddings and the output
        layer are applied to all steps at once, only the recurrence loops."""
        embedded = self.dropout(self.embedding(inputs))  # [B, K, E]
        features, weights = [], []
        for k in range(inputs.size(1)):
            step_features, state, step_weights = self._step(embedded[:, k], state, enc)
            features.append(step_features)  # [B, H + H_enc]
            weights.append(step_weights)  # [B, S]
        logits = self.out(torch.stack(features, dim=1))  # [B, K, V]
        return DecoderRun(logits, state, torch.stack(weights, dim=1))  # attention [B, K, S]
