"""Multi-head scaled dot-product attention, and the LSTM of chapter 4 that uses it (chapter 8).

Scaled dot-product attention (Vaswani et al. 2017, section 3.2.1) of queries ``Q`` over keys
``K`` and values ``V`` (in this module and in :mod:`seq2code.models.transformer` only: ``V``
is the vocabulary size everywhere else):

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Dividing by ``sqrt(d_k)`` keeps the scores' spread near 1 whatever the head size ``d_k``: a dot
product of two vectors of ``d_k`` unit-variance entries has variance ``d_k``, and a softmax of
such large scores is nearly one-hot, with vanishing gradients.

Multi-head attention runs ``h`` such attentions side by side, each on its own learned
projections of size ``d_k = d / h``, and mixes their results:

    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)
    MultiHead(Q, K, V) = [head_1; ...; head_h] W^O

Each head can look at a different source position (one at the name to copy, one at the verb
that picks the statement, ...). The cost is that of one attention of size ``d``: the ``h``
projections are one matrix ``W^Q`` of ``d x d`` whose output is cut into ``h`` pieces.

Why dot products rather than chapter 4's additive score ``v^T tanh(W_q s_{t-1} + W_k h_s)`` per
head: a dot-product score of every query against every key is one matrix product, with no
``[B, T, S, A]`` hidden layer, so that the Transformer (:mod:`seq2code.models.transformer`),
whose every position is a query, stays cheap; and it is the form that the Transformer paper
and every library use. The scaling above is what keeps it trainable.

:class:`MultiHeadLSTMDecoder` is chapter 4's decoder with this attention in place of the
additive one: the query is the previous state ``s_{t-1}``, the keys and values are the encoder
states ``h_1 .. h_S`` (projected once per sequence), and the context ``c_t`` is the attention's
output. The attention that the shared interface returns is the mean of the heads' weights
``alpha_{t,s}``; the heads' own weights are in the state.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from seq2code.models.attention import AttentionLSTMDecoder, AttentionLSTMEncoder, masked_softmax
from seq2code.models.base import EncoderOutput, Seq2Seq, evaluating, on_model_device
from seq2code.models.registry import ModelKind


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(Q K^T / sqrt(d_k)) V`` with the course's one masking helper.

    Args:
        query: ``[B, h, T, d_k]`` queries ``Q`` (one row per head and query position).
        key: ``[B, h, S, d_k]`` keys ``K``.
        value: ``[B, h, S, d_v]`` values ``V``.
        mask: ``[B, S]`` bool (True at real key positions: a padding mask) or ``[B, T, S]``
            (True where query ``t`` may see key ``s``: padding and causal masks together).

    Returns:
        ``[B, h, T, d_v]`` the weighted values and ``[B, h, T, S]`` the weights
        ``softmax(Q K^T / sqrt(d_k))`` (each row sums to 1 over the visible keys, exactly 0
        elsewhere).
    """
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)  # [B, 1, T, S]: the same mask for every head
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))  # [B, h, T, S]
    weights = masked_softmax(scores, mask)  # [B, h, T, S]
    return weights @ value, weights  # [B, h, T, d_v]


class MultiHeadAttention(nn.Module):
    """``MultiHead(Q, K, V) = [head_1; ...; head_h] W^O``, ``head_i = Attention(Q W_i^Q, ...)``.

    The same function as ``torch.nn.MultiheadAttention`` (the tests and chapter 8 check it
    with shared weights), written out so that the heads' weights can be looked at.

    Args:
        dim: model size ``d`` (the size of the projections; ``d_k = d / h`` per head).
        heads: number of heads ``h`` (must divide ``dim``).
        query_dim: size of a query vector (default ``dim``).
        key_dim: size of a key/value vector (default ``dim``).
        dropout: dropout on the attention weights.
    """

    def __init__(self, dim: int, heads: int, query_dim: int | None = None,
                 key_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"the model size {dim} must be a multiple of the heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads  # d_k
        self.W_q = nn.Linear(query_dim or dim, dim)  # W^Q (all heads side by side)
        self.W_k = nn.Linear(key_dim or dim, dim)  # W^K
        self.W_v = nn.Linear(key_dim or dim, dim)  # W^V
        self.W_o = nn.Linear(dim, dim)  # W^O
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, d]`` -> ``[B, h, L, d_k]``: cut the last axis into the heads' pieces."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, self.head_dim).transpose(1, 2)

    def project_keys(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys ``K W^K`` and values ``V W^V`` of ``memory`` ``[B, S, D_k]``, each
        ``[B, h, S, d_k]`` (computed once when the same memory serves many queries)."""
        return self.split_heads(self.W_k(memory)), self.split_heads(self.W_v(memory))

    def forward(self, query: torch.Tensor, memory: torch.Tensor | None, mask: torch.Tensor,
                keys: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from every query position over ``memory``.

        Args:
            query: ``[B, T, D_q]`` query vectors.
            memory: ``[B, S, D_k]`` the vectors attended to (keys and values are projected
                from it); may be None when ``keys`` is given.
            mask: ``[B, S]`` or ``[B, T, S]`` bool, True where a query may look
                (see :func:`scaled_dot_product_attention`).
            keys: the precomputed ``(K, V)`` of :meth:`project_keys`.

        Returns:
            ``[B, T, d]`` the output ``[head_1; ...; head_h] W^O`` and ``[B, h, T, S]`` every
            head's weights.
        """
        key, value = self.project_keys(memory) if keys is None else keys  # [B, h, S, d_k]
        q = self.split_heads(self.W_q(query))  # [B, h, T, d_k]
        heads, weights = scaled_dot_product_attention(q, key, value, mask)  # [B, h, T, d_k]
        batch, _, length, _ = heads.shape
        concat = heads.transpose(1, 2).reshape(batch, length, -1)  # [B, T, d] [head_1; ...]
        return self.W_o(self.dropout(concat)), weights

    # -- the plug of chapter 4's attention decoder (AttentionLSTMDecoder) -------------------

    def init_memory(self, enc: EncoderOutput) -> MultiHeadMemory:
        """The encoder states' keys ``K`` and values ``V`` (each ``[B, h, S, d_k]``), once per
        sequence; no heads' weights yet."""
        return MultiHeadMemory(self.project_keys(enc.outputs), None)

    def attend(self, query: torch.Tensor, enc: EncoderOutput, memory: MultiHeadMemory
               ) -> tuple[torch.Tensor, torch.Tensor, MultiHeadMemory]:
        """One step: ``query`` ``[B, H]`` ``s_{t-1}`` -> context ``c_t`` ``[B, d]``, the heads'
        mean weights ``alpha_t`` ``[B, S]``, and the memory holding every head's weights
        ``[B, h, S]``."""
        context, heads = self(query.unsqueeze(1), None, enc.mask,
                              keys=memory.keys)  # [B, 1, d] c_t; [B, h, 1, S]
        heads = heads.squeeze(2)  # [B, h, S]
        return context.squeeze(1), heads.mean(dim=1), memory._replace(heads=heads)

    def load_from_torch(self, reference: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` of the same size into this
        module (for the numerical check against PyTorch's own implementation)."""
        w_q, w_k, w_v = reference.in_proj_weight.chunk(3)
        b_q, b_k, b_v = reference.in_proj_bias.chunk(3)
        with torch.no_grad():
            for linear, weight, bias in ((self.W_q, w_q, b_q), (self.W_k, w_k, b_k),
                                         (self.W_v, w_v, b_v),
                                         (self.W_o, reference.out_proj.weight,
                                          reference.out_proj.bias)):
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
        return self


class MultiHeadMemory(NamedTuple):
    """What multi-head attention keeps across the decoder's steps.

    Attributes:
        keys: ``(K, V)``, each ``[B, h, S, d_k]``: the encoder states projected once per
            sequence.
        heads: ``[B, h, S]`` every head's weights at the last step (None before the first).
    """

    keys: tuple[torch.Tensor, torch.Tensor]
    heads: torch.Tensor | None


class MultiHeadLSTMDecoder(AttentionLSTMDecoder):
    """Chapter 4's attention LSTM decoder with multi-head scaled dot-product attention
    plugged in (the step is chapter 4's: :meth:`AttentionLSTMDecoder.step`).

    Step ``t``: ``c_t = MultiHead(s_{t-1}, h_{1..S}, h_{1..S})``;
    ``s_t, m_t = LSTM([e(y_{t-1}); c_t], (s_{t-1}, m_{t-1}))``;
    ``logits = W_o [s_t; c_t] + b_o``. Returned attention: the heads' mean weights; every
    head's weights are in ``state.memory.heads``.

    Args:
        vocab_size: target vocabulary size ``V``.
        emb_dim: embedding size ``E``.
        hidden_dim: LSTM state size ``H`` (also the attention's size ``d``).
        heads: number of heads ``h``.
        dropout: dropout on the embeddings and the features ``[s_t; c_t]``.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, heads: int = 4,
                 dropout: float = 0.0):
        super().__init__(vocab_size, emb_dim, hidden_dim, dropout=dropout,
                         attention=MultiHeadAttention(hidden_dim, heads))


@torch.no_grad()
def head_attention(model: nn.Module, src: torch.Tensor, src_lens: torch.Tensor,
                   tgt_in: torch.Tensor) -> torch.Tensor:
    """Every head's weights with teacher forcing, ``[B, h, T, S]``, for a ``multihead`` or a
    ``transformer`` model (the Transformer's last decoder layer's cross-attention).

    Args:
        model: a :class:`~seq2code.models.base.Seq2Seq` of kind ``multihead`` or
            ``transformer``.
        src: ``[B, S]`` source ids; src_lens: ``[B]``.
        tgt_in: ``[B, T]`` the decoder's inputs ``<sos> y_1 .. y_{T-1}``.

    Returns:
        ``[B, h, T, S]`` on the CPU, whatever the model's device.
    """
    src, src_lens, tgt_in = on_model_device(model, src, src_lens, tgt_in)
    with evaluating(model):
        enc = model.encode(src, src_lens)
        decoder = model.decoder
        if hasattr(decoder, "cross_attention"):
            return decoder.cross_attention(tgt_in, enc)[-1].cpu()  # last layer [B, h, T, S]
        state, weights = decoder.init_state(enc), []
        for t in range(tgt_in.size(1)):
            state = decoder(tgt_in[:, t], state, enc).state
            weights.append(state.memory.heads)  # [B, h, S]
        return torch.stack(weights, dim=2).cpu()  # [B, h, T, S]


def build_multihead(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int, hidden_dim: int,
                    dropout: float, heads: int | None) -> Seq2Seq:
    """``build_model("multihead", ...)``: chapter 4's LSTM encoder, :class:`MultiHeadLSTMDecoder`
    (``heads``: default ``gcd(4, hidden_dim)``, 4 heads or fewer for a size that 4 does not
    divide; ``dropout`` on the embeddings, the states ``h_s`` and the features)."""
    heads = heads or math.gcd(4, hidden_dim)
    return Seq2Seq(AttentionLSTMEncoder(src_vocab_size, emb_dim, hidden_dim, dropout),
                   MultiHeadLSTMDecoder(tgt_vocab_size, emb_dim, hidden_dim, heads, dropout))


def multihead_parameters(src_vocab: int, tgt_vocab: int, emb: int, hidden: int) -> int:
    """The parameter count of the ``multihead`` model from the formula: chapter 4's model with
    ``W^Q, W^K, W^V, W^O`` (``H x H`` and a bias each) in place of ``W_q, W_k, v`` (the
    parameters ``W_t``, ``W_s``, ``v``)."""
    def lstm_layer(n_in: int) -> int:
        return 4 * (hidden * n_in + hidden * hidden + 2 * hidden)

    return (src_vocab * emb + tgt_vocab * emb + lstm_layer(emb) + lstm_layer(emb + hidden)
            + 4 * (hidden * hidden + hidden) + 2 * hidden * tgt_vocab + tgt_vocab)


MODEL_KINDS = (ModelKind("multihead", 8, "LSTM with multi-head attention", build_multihead,
                         multihead_parameters, options={"dropout": 0.0, "heads": None}),)
