"""The LSTM encoder-decoder with additive (Bahdanau) attention (chapter 4).

At decoding step ``t`` the decoder's previous state ``s_{t-1}`` (the query, as in Bahdanau et
al. 2015) scores every encoder state ``h_s``:

    e_{t,s}     = v^T tanh(W [s_{t-1}; h_s])
                = v^T tanh(W_q s_{t-1} + W_k h_s)           (W = [W_q  W_k])
    alpha_{t,s} = softmax over the real source positions s of e_{t,s}
    c_t         = sum_s alpha_{t,s} h_s

``W_q`` (the query half) is the parameter ``W_t`` and ``W_k`` (the source half) the parameter
``W_s``: the names of the first checkpoints, kept. Splitting ``W`` shows that its source half
``W_k h_s`` does not depend on ``t``: it is computed once per sequence
(:meth:`AdditiveAttention.project_keys`) instead of at every step. The literal concatenation
form (:meth:`AdditiveAttention.concat_scores`) is kept: the tests and the chapter show that
the two are the same function.

The decoder's LSTM reads ``[e(y_{t-1}); c_t]`` and moves from ``(s_{t-1}, m_{t-1})`` to
``(s_t, m_t)`` (``m_t`` its cell); the output layer reads ``[s_t; c_t]``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from seq2code.models.base import Decoder, EncoderOutput, FeatureRun, Seq2Seq
from seq2code.models.lstm import LSTMEncoder
from seq2code.models.registry import ModelKind
from seq2code.models.rnn import rnn_layer_parameters
from seq2code.vocab import PAD_ID


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis of ``scores``, with weight exactly 0 where ``mask`` is False.

    The one masking helper that every attention of the course uses (d2l's ``masked_softmax``).

    Args:
        scores: ``[B, ..., S]`` attention scores ``e_{t,s}``.
        mask: ``[B, S]`` bool, True at real source positions; every row needs at least one.

    Returns:
        ``[B, ..., S]`` weights ``alpha_{t,s}``: non-negative, summing to 1 over the real
        positions.
    """
    while mask.dim() < scores.dim():
        mask = mask.unsqueeze(-2)  # [B, 1, ..., S]: broadcast over the query axes
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


class AdditiveAttention(nn.Module):
    """``e_{t,s} = v^T tanh(W_q s_{t-1} + W_k h_s)``, masked softmax, weighted sum.

    ``W_q`` is the parameter ``W_t``, ``W_k`` the parameter ``W_s`` (their names in the
    checkpoints).

    Args:
        query_dim: size ``H`` of the query, the decoder state ``s_{t-1}``.
        key_dim: size ``H_enc`` of an encoder state ``h_s``.
        attn_dim: size ``A`` of the hidden layer of the score (rows of ``W`` and of ``v``).
        precompute_keys: compute ``W_k h_s`` once per sequence (True) or score with the
            literal concatenation at every step (False: the same function, slower).
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int,
                 precompute_keys: bool = True):
        super().__init__()
        self.precompute_keys = precompute_keys
        self.W_t = nn.Linear(query_dim, attn_dim, bias=False)  # W_q [A, H], query half
        self.W_s = nn.Linear(key_dim, attn_dim, bias=False)  # W_k [A, H_enc], source half
        self.v = nn.Linear(attn_dim, 1, bias=False)  # v [1, A]

    def project_keys(self, values: torch.Tensor) -> torch.Tensor:
        """The keys ``W_k h_s`` for every source position, once per sequence.

        ``values`` ``[B, S, H_enc]`` encoder states ``h_s`` -> ``[B, S, A]``.
        """
        return self.W_s(values)

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``v^T tanh(W_q s_{t-1} + W_k h_s)`` from the precomputed ``keys`` = ``W_k h_s``.

        Args:
            query: ``[B, H]`` the query ``s_{t-1}``.
            keys: ``[B, S, A]`` ``W_k h_s``, from :meth:`project_keys`.

        Returns:
            ``[B, S]`` scores ``e_{t,s}`` (padding not yet masked).
        """
        hidden = torch.tanh(keys + self.W_t(query).unsqueeze(1))  # [B, S, A]
        return self.v(hidden).squeeze(-1)  # [B, S]  e_{t,s}

    def concat_scores(self, query: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """The literal form ``v^T tanh(W [s_{t-1}; h_s])``, with ``W = [W_q  W_k]``.

        Args:
            query: ``[B, H]`` the query ``s_{t-1}``.
            values: ``[B, S, H_enc]`` encoder states ``h_s``.

        Returns:
            ``[B, S]`` scores ``e_{t,s}``, the same as :meth:`scores` (up to rounding).
        """
        W = torch.cat([self.W_t.weight, self.W_s.weight], dim=1)  # [A, H + H_enc]
        repeated = query.unsqueeze(1).expand(-1, values.size(1), -1)  # [B, S, H]
        pairs = torch.cat([repeated, values], dim=-1)  # [B, S, H + H_enc]  [s_{t-1}; h_s]
        hidden = torch.tanh(pairs @ W.T)  # [B, S, A]
        return self.v(hidden).squeeze(-1)  # [B, S]  e_{t,s}

    def forward(self, query: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                keys: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from ``query`` over ``values``.

        Args:
            query: ``[B, H]`` the query ``s_{t-1}``.
            values: ``[B, S, H_enc]`` encoder states ``h_s``.
            mask: ``[B, S]`` bool, True at real source positions.
            keys: ``[B, S, A]`` precomputed ``W_k h_s`` (:meth:`project_keys`); None scores
                with the literal concatenation (:meth:`concat_scores`), recomputing the source
                half at every call.

        Returns:
            ``context`` ``[B, H_enc]`` ``c_t = sum_s alpha_{t,s} h_s`` and ``weights``
            ``[B, S]`` ``alpha_t`` (exactly 0 at padding).
        """
        scores = (self.concat_scores(query, values) if keys is None
                  else self.scores(query, keys))  # [B, S]  e_{t,s}
        weights = masked_softmax(scores, mask)  # [B, S]  alpha_t
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # [B, H_enc]  c_t
        return context, weights

    # -- the plug of the attention decoder (AttentionLSTMDecoder): memory in, memory out ----

    def init_memory(self, enc: EncoderOutput) -> torch.Tensor | None:
        """What the attention keeps across the steps of one sequence: the keys ``W_k h_s``
        ``[B, S, A]`` (None with the literal concatenation)."""
        return self.project_keys(enc.outputs) if self.precompute_keys else None

    def attend(self, query: torch.Tensor, enc: EncoderOutput, memory: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One step: ``query`` ``[B, H]`` ``s_{t-1}`` -> context ``c_t`` ``[B, H_enc]``, weights
        ``alpha_t`` ``[B, S]`` and the memory for the next step (unchanged here)."""
        context, weights = self(query, enc.outputs, enc.mask, memory)
        return context, weights, memory


class AttentionLSTMEncoder(LSTMEncoder):
    """The LSTM encoder of chapter 3: its every state ``h_1 .. h_S`` is what the decoder
    attends to (``EncoderOutput.outputs``, zeros at padding, masked by ``EncoderOutput.mask``).

    Its dropout acts on the embeddings and, between encoder and decoder, on the states
    ``h_s`` that the attention reads (in training mode only; chapter 9).
    """

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor) -> EncoderOutput:
        enc = super().forward(src, src_lens)
        return enc._replace(outputs=self.dropout(enc.outputs))  # [B, S, H] h_s, dropped out

    def forward_unrolled(self, src: torch.Tensor, src_lens: torch.Tensor
                         ) -> tuple[EncoderOutput, list[torch.Tensor]]:
        enc, states = super().forward_unrolled(src, src_lens)
        return enc._replace(outputs=self.dropout(enc.outputs)), states  # [B, S, H] h_s


class AttentionState(NamedTuple):
    """The attention decoder's state.

    Attributes:
        hidden: ``[B, H]`` ``s_{t-1}``.
        cell: ``[B, H]`` the LSTM's cell ``m_{t-1}``.
        memory: what the attention keeps across steps: the keys ``W_k h_s`` ``[B, S, A]``
            (computed once per sequence) for additive attention, plus the coverage
            ``kappa_t`` for coverage attention, or the heads' keys and values for multi-head
            attention.
    """

    hidden: torch.Tensor
    cell: torch.Tensor
    memory: Any


class AttentionLSTMDecoder(Decoder):
    """LSTM decoder with attention, queried by the previous state ``s_{t-1}``.

    Step ``t`` (:meth:`step`): ``alpha_t, c_t = attention(s_{t-1}, h_1..h_S)``;
    ``s_t, m_t = LSTM([e(y_{t-1}); c_t], (s_{t-1}, m_{t-1}))``; features ``[s_t; c_t]``; the
    output layer (:meth:`scores`) ``logits = W_o [s_t; c_t] + b_o``.

    The attention is a plug: any module with ``init_memory(enc)`` and
    ``attend(query, enc, memory) -> (context, weights, memory)`` (additive here, coverage in
    chapter 7, multi-head in chapter 8).

    Args:
        vocab_size: target vocabulary size ``V``.
        emb_dim: embedding size ``E``.
        hidden_dim: LSTM state size ``H``.
        enc_dim: encoder state size ``H_enc`` (default ``hidden_dim``).
        attn_dim: size ``A`` of the score's hidden layer (default ``hidden_dim``).
        dropout: dropout on the embeddings ``e(y_{t-1})`` and on the features ``[s_t; c_t]``
            that the output layer reads (training mode only).
        precompute_keys: compute ``W_k h_s`` once per sequence (True) or score with the
            literal concatenation at every step (False: the same function, slower).
        attention: the attention module (default: :class:`AdditiveAttention`).
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int,
                 enc_dim: int | None = None, attn_dim: int | None = None,
                 dropout: float = 0.0, precompute_keys: bool = True,
                 attention: nn.Module | None = None):
        super().__init__()
        enc_dim = enc_dim or hidden_dim
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.attention = attention or AdditiveAttention(hidden_dim, enc_dim,
                                                        attn_dim or hidden_dim, precompute_keys)
        # One step at a time (the context depends on the previous state): an LSTM cell, the
        # same function and parameters as a one-layer nn.LSTM, faster per step on the CPU.
        self.rnn = nn.LSTMCell(emb_dim + enc_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim + enc_dim, vocab_size)  # W_o, b_o

    def init_state(self, enc: EncoderOutput) -> AttentionState:
        """The encoder's last ``(h_S, m_S)`` as ``(s_0, m_0)`` and, once, the attention's
        memory (the keys ``W_k h_s`` ``[B, S, A]``)."""
        hidden, cell = enc.state  # [1, B, H] each: the encoder's last layer, h_S and m_S
        return AttentionState(hidden[-1], cell[-1], self.attention.init_memory(enc))

    def embed(self, prev: torch.Tensor) -> torch.Tensor:
        """``e(y_{t-1})``: ids ``[B, ...]`` -> ``[B, ..., E]`` (with dropout)."""
        return self.dropout(self.embedding(prev))

    def step(self, embedded: torch.Tensor, state: AttentionState, enc: EncoderOutput
             ) -> tuple[torch.Tensor, AttentionState, torch.Tensor]:
        """One step from the embedded ``e(y_{t-1})`` ``[B, E]``.

        Returns the output layer's input ``[s_t; c_t]`` ``[B, H + H_enc]``, the new state and
        the weights ``alpha_t`` ``[B, S]``.
        """
        context, weights, memory = self.attention.attend(state.hidden, enc, state.memory)
        # query: s_{t-1} [B, H];  context: [B, H_enc] c_t;  weights: [B, S] alpha_t
        rnn_input = torch.cat([embedded, context], dim=-1)  # [B, E + H_enc]  [e(y_{t-1}); c_t]
        hidden, cell = self.rnn(rnn_input, (state.hidden, state.cell))  # [B, H] s_t, m_t
        features = self.dropout(torch.cat([hidden, context], dim=-1))  # [B, H + H_enc] [s_t; c_t]
        return features, AttentionState(hidden, cell, memory), weights

    def features(self, inputs: torch.Tensor, state: AttentionState,
                 enc: EncoderOutput) -> FeatureRun:
        """``T`` steps on known inputs ``inputs`` ``[B, T]``: the embeddings for all steps at
        once, then :meth:`step` in a loop. Returns ``[s_t; c_t]`` ``[B, T, H + H_enc]``, the
        last state and ``alpha`` ``[B, T, S]``."""
        embedded = self.embed(inputs)  # [B, T, E]  e(y_{t-1})
        features, weights = [], []
        for k in range(inputs.size(1)):
            step_features, state, step_weights = self.step(embedded[:, k], state, enc)
            features.append(step_features)  # [B, F]  [s_t; c_t]
            weights.append(step_weights)  # [B, S]  alpha_t
        return FeatureRun(torch.stack(features, dim=1), state, torch.stack(weights, dim=1))


def attention_parameters(src_vocab: int, tgt_vocab: int, emb: int, hidden: int) -> int:
    """Embeddings, the encoder's LSTM layer, the decoder's LSTM reading ``[e(y_{t-1}); c_t]``,
    the attention's ``W_q``, ``W_k`` (the parameters ``W_t``, ``W_s``: ``H x H`` each) and
    ``v`` (``H``), the output layer reading ``[s_t; c_t]``: ``2 H V + V``."""
    return ((src_vocab + tgt_vocab) * emb + 4 * rnn_layer_parameters(emb, hidden)
            + 4 * rnn_layer_parameters(emb + hidden, hidden)
            + 2 * hidden * hidden + hidden + 2 * hidden * tgt_vocab + tgt_vocab)


def build_attention(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int, hidden_dim: int,
                    dropout: float, precompute_keys: bool) -> Seq2Seq:
    """Chapter 3's encoder and the attention decoder (``precompute_keys``: ``W_k h_s`` once
    per sequence, or the literal concatenation at every step)."""
    return Seq2Seq(AttentionLSTMEncoder(src_vocab_size, emb_dim, hidden_dim, dropout),
                   AttentionLSTMDecoder(tgt_vocab_size, emb_dim, hidden_dim, dropout=dropout,
                                        precompute_keys=precompute_keys))


MODEL_KINDS = (ModelKind("attention", 4, "LSTM with additive (Bahdanau) attention",
                         build_attention, attention_parameters,
                         options={"dropout": 0.0, "precompute_keys": True}),)
