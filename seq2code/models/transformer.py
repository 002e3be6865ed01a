"""A small Transformer encoder-decoder (Vaswani et al. 2017), behind the shared interface
(chapter 8).

No recurrence: every layer lets each position attend to the others with the multi-head
attention of :mod:`seq2code.models.multihead` (the course's own module, not
``nn.MultiheadAttention``, so that the heads' weights can be shown; the two are checked equal).

- **Positions**: attention ignores order, so the embedding of the token at position ``p`` gets
  a fixed sinusoid added, ``PE[p, 2i] = sin(p / 10000^{2i/d})``,
  ``PE[p, 2i+1] = cos(p / 10000^{2i/d})`` (:func:`sinusoidal_positions`); embeddings are
  scaled by ``sqrt(d)`` first, as in the paper.
- **Pre-norm** layers: ``x = x + Sublayer(LayerNorm(x))`` (Xiong et al. 2020), with a last
  LayerNorm on top of each stack. The paper normalises after the residual sum (post-norm),
  which needs a learning-rate warm-up to train at all; pre-norm trains with the course's plain
  Adam (the shared training loop has no warm-up).
- **Encoder layer**: self-attention over the English (padding mask: ``<pad>`` keys get
  weight 0), then a position-wise feed-forward network ``max(0, x W_1 + b_1) W_2 + b_2``.
- **Decoder layer**: causal self-attention (position ``t`` sees the code tokens ``<= t`` only,
  :func:`causal_mask`), cross-attention over the encoder's outputs (padding mask), then the
  feed-forward network. Padding of the target needs no mask of its own: it comes after the
  real tokens, which the causal mask already hides it from.
- **One step at a time** (greedy decoding, beam search): the decoder's state is a cache of
  every layer's inputs so far, ``[B, P, d]`` per layer, and of every layer's cross-attention
  keys and values (the encoder's outputs projected once per sentence). A new token only
  computes its own position: its queries attend over the cached positions and itself. That
  gives the same logits as running the whole prefix again (the tests check it), in ``O(t)``
  per step instead of ``O(t^2)``.

Sizes: the model width ``d`` is ``emb_dim`` (the residual stream carries embeddings), and
``hidden_dim`` is the feed-forward network's hidden size ``d_ff``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from seq2code.models.base import Decoder, Encoder, EncoderOutput, FeatureRun, Seq2Seq
from seq2code.models.multihead import MultiHeadAttention
from seq2code.models.registry import ModelKind
from seq2code.vocab import PAD_ID


def sinusoidal_positions(length: int, dim: int, start: int = 0) -> torch.Tensor:
    """``[length, dim]`` positional encodings of positions ``start .. start + length - 1``:
    ``PE[p, 2i] = sin(p / 10000^{2i/d})`` and ``PE[p, 2i+1] = cos(p / 10000^{2i/d})``."""
    position = torch.arange(start, start + length, dtype=torch.float32).unsqueeze(1)  # [L, 1]
    rates = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32)
                      * (-math.log(10000.0) / dim))  # [d/2]  1 / 10000^{2i/d}
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(position * rates)
    pe[:, 1::2] = torch.cos(position * rates[: dim // 2])
    return pe


def causal_mask(queries: int, keys: int | None = None,
                device: torch.device | None = None) -> torch.Tensor:
    """``[T, P + T]`` bool, True where query ``t`` may see key ``s``: ``s <= P + t``.

    ``queries`` is ``T``; ``keys`` (default ``T``) is ``P + T``, for ``P`` earlier positions
    that are already cached: every query sees all of them, and itself, and nothing later.
    """
    keys = queries if keys is None else keys
    return torch.ones(queries, keys, dtype=torch.bool, device=device).tril(keys - queries)


class FeedForward(nn.Sequential):
    """The position-wise network ``max(0, x W_1 + b_1) W_2 + b_2``: ``[.., d] -> [.., d]``."""

    def __init__(self, dim: int, ff_dim: int, dropout: float = 0.0):
        super().__init__(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(ff_dim, dim))


class EncoderLayer(nn.Module):
    """``x = x + SelfAttention(LN(x))``; ``x = x + FeedForward(LN(x))`` (pre-norm)."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = MultiHeadAttention(dim, heads, dropout=dropout)
        self.feed_forward = FeedForward(dim, ff_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, S, d]``, ``mask`` ``[B, S]`` (real positions) -> ``[B, S, d]``."""
        normed = self.norm1(x)
        x = x + self.dropout(self.attention(normed, normed, mask)[0])  # [B, S, d]
        return x + self.dropout(self.feed_forward(self.norm2(x)))


class DecoderLayer(nn.Module):
    """Pre-norm: causal self-attention, cross-attention over the encoder, feed-forward."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(dim), nn.LayerNorm(dim),
                                              nn.LayerNorm(dim))
        self.self_attention = MultiHeadAttention(dim, heads, dropout=dropout)
        self.cross_attention = MultiHeadAttention(dim, heads, dropout=dropout)
        self.feed_forward = FeedForward(dim, ff_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, seen: torch.Tensor, enc: EncoderOutput,
                memory: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """New positions ``x`` ``[B, T, d]`` after ``P`` earlier ones.

        Args:
            x: ``[B, T, d]`` this layer's inputs at the new positions.
            seen: ``[B, P + T, d]`` this layer's inputs at every position so far, the new ones
                last (the keys and values of the causal self-attention).
            enc: the encoder's output (``outputs`` ``[B, S, d]``, ``mask`` ``[B, S]``).
            memory: the cross-attention's keys and values of ``enc.outputs``
                (``cross_attention.project_keys``), when computed beforehand.

        Returns:
            ``[B, T, d]`` the outputs and ``[B, h, T, S]`` the cross-attention's weights.
        """
        batch, steps, _ = x.shape
        causal = causal_mask(steps, seen.size(1), x.device).expand(batch, -1, -1)  # [B,T,P+T]
        x = x + self.dropout(self.self_attention(self.norm1(x), self.norm1(seen), causal)[0])
        context, weights = self.cross_attention(self.norm2(x), enc.outputs, enc.mask,
                                                keys=memory)
        x = x + self.dropout(context)  # [B, T, d]
        return x + self.dropout(self.feed_forward(self.norm3(x))), weights


class Embedder(nn.Module):
    """``sqrt(d) e(x_p) + PE[p]``, then dropout: ``[B, L]`` ids -> ``[B, L, d]``."""

    def __init__(self, vocab_size: int, dim: int, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.scale = math.sqrt(dim)

    def forward(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        """``ids`` ``[B, L]`` at positions ``start .. start + L - 1``."""
        pe = sinusoidal_positions(ids.size(1), self.embedding.embedding_dim, start)  # [L, d]
        return self.dropout(self.embedding(ids) * self.scale + pe.to(ids.device))


class TransformerEncoder(Encoder):
    """Embeddings with positions, ``layers`` encoder layers, a final LayerNorm.

    ``EncoderOutput.outputs`` is ``[B, S, d]`` (zeros at padding), ``state`` is None (the
    decoder reads the encoder through cross-attention only).
    """

    def __init__(self, vocab_size: int, dim: int, ff_dim: int, layers: int = 3,
                 heads: int = 4, dropout: float = 0.0):
        super().__init__()
        self.embed = Embedder(vocab_size, dim, dropout)
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ff_dim, dropout)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor) -> EncoderOutput:
        """Encode ``src`` ``[B, S]`` (ids ``x``; ``src_lens`` ``[B]`` is implied by the pads)."""
        mask = src != PAD_ID  # [B, S]
        x = self.embed(src)  # [B, S, d]
        for layer in self.layers:
            x = layer(x, mask)
        return EncoderOutput(self.norm(x) * mask.unsqueeze(-1), None, mask)  # [B, S, d]


class TransformerState(NamedTuple):
    """The Transformer decoder's state: a cache.

    Attributes:
        inputs: one ``[B, P, d]`` tensor per layer: the layer's inputs at the ``P`` positions
            decoded so far (empty, ``P = 0``, before the first step).
        memory: one ``(K, V)`` pair per layer, each ``[B, h, S, d_k]``: the cross-attention's
            keys and values of the encoder's outputs, projected once per sentence.
    """

    inputs: tuple[torch.Tensor, ...]
    memory: tuple[tuple[torch.Tensor, torch.Tensor], ...]


class TransformerDecoder(Decoder):
    """Embeddings with positions, ``layers`` decoder layers, a final LayerNorm, the output layer.

    The state is a :class:`TransformerState`: every layer's inputs so far and its
    cross-attention keys and values.
    """

    def __init__(self, vocab_size: int, dim: int, ff_dim: int, layers: int = 3,
                 heads: int = 4, dropout: float = 0.0):
        super().__init__()
        self.embed = Embedder(vocab_size, dim, dropout)
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, ff_dim, dropout)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab_size)  # W_o, b_o

    def init_state(self, enc: EncoderOutput) -> TransformerState:
        """An empty cache (``layers`` tensors ``[B, 0, d]``) and every layer's cross-attention
        keys and values of ``enc.outputs``."""
        empty = enc.outputs.new_zeros(enc.outputs.size(0), 0, enc.outputs.size(-1))
        return TransformerState(
            tuple(empty for _ in self.layers),
            tuple(layer.cross_attention.project_keys(enc.outputs) for layer in self.layers))

    def _run(self, inputs: torch.Tensor, state: TransformerState, enc: EncoderOutput
             ) -> tuple[torch.Tensor, TransformerState, list[torch.Tensor]]:
        """``inputs`` ``[B, T]`` after the cached positions: the top layer's outputs
        ``[B, T, d]``, the longer cache and every layer's cross-attention ``[B, h, T, S]``."""
        x = self.embed(inputs, start=state.inputs[0].size(1))  # [B, T, d]
        cache, weights = [], []
        for layer, past, memory in zip(self.layers, state.inputs, state.memory, strict=True):
            seen = torch.cat([past, x], dim=1)  # [B, P + T, d]
            cache.append(seen)
            x, layer_weights = layer(x, seen, enc, memory)  # [B, T, d], [B, h, T, S]
            weights.append(layer_weights)
        return self.norm(x), TransformerState(tuple(cache), state.memory), weights

    def features(self, inputs: torch.Tensor, state: TransformerState,
                 enc: EncoderOutput) -> FeatureRun:
        """All ``T`` steps of ``inputs`` ``[B, T]`` at once, under the causal mask.

        Returns the top layer's normalised outputs ``[B, T, d]`` (the output layer's input),
        the cache and the last layer's cross-attention, averaged over the heads, ``[B, T, S]``.
        """
        x, cache, weights = self._run(inputs, state, enc)  # [B, T, d]
        return FeatureRun(x, cache, weights[-1].mean(dim=1))  # attention [B, T, S]

    def cross_attention(self, inputs: torch.Tensor, enc: EncoderOutput) -> list[torch.Tensor]:
        """Every layer's cross-attention weights ``[B, h, T, S]`` on the inputs ``[B, T]``."""
        return self._run(inputs, self.init_state(enc), enc)[2]


def build_transformer(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int, hidden_dim: int,
                      layers: int, heads: int | None, dropout: float) -> Seq2Seq:
    """``build_model("transformer", ...)``: model width ``d = emb_dim``, feed-forward size
    ``d_ff = hidden_dim``; ``layers`` per stack (default 3), ``heads`` (default
    ``gcd(4, emb_dim)``: 4, or fewer for a width that 4 does not divide), ``dropout`` (default
    0.1, Vaswani et al.'s)."""
    heads = heads or math.gcd(4, emb_dim)
    return Seq2Seq(TransformerEncoder(src_vocab_size, emb_dim, hidden_dim, layers, heads, dropout),
                   TransformerDecoder(tgt_vocab_size, emb_dim, hidden_dim, layers, heads, dropout))


def transformer_parameters(src_vocab: int, tgt_vocab: int, emb: int, hidden: int,
                           layers: int = 3) -> int:
    """The parameter count of the ``transformer`` model from the formula (``d = emb``,
    ``d_ff = hidden``): a multi-head attention has ``4 (d d + d)``, a feed-forward network
    ``d d_ff + d_ff + d_ff d + d``, a LayerNorm ``2 d``; an encoder layer is one attention, one
    feed-forward and two norms, a decoder layer two attentions and three norms; then the
    embeddings, a final norm per stack and the output layer ``d V + V``."""
    attention = 4 * (emb * emb + emb)
    feed_forward = 2 * emb * hidden + hidden + emb
    norm = 2 * emb
    encoder_layer = attention + feed_forward + 2 * norm
    decoder_layer = 2 * attention + feed_forward + 3 * norm
    return (src_vocab * emb + tgt_vocab * emb + layers * (encoder_layer + decoder_layer)
            + 2 * norm + emb * tgt_vocab + tgt_vocab)


# The Transformer trains on the gold prefix only, every position at once (chapter 8).
MODEL_KINDS = (ModelKind("transformer", 8, "a small Transformer encoder-decoder",
                         build_transformer, transformer_parameters,
                         options={"layers": 3, "heads": None, "dropout": 0.1},
                         train_defaults={"teacher_forcing": 1.0}),)
