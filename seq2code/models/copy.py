"""The pointer-generator: attention LSTM plus a copy mechanism (chapter 7; See et al. 2017).

Django's code copies most of its names and string literals from the English, and many of them
are too rare to enter the code vocabulary. The copy decoder can write any word of *this*
example's English: at step ``t`` it mixes the vocabulary distribution with its attention,

    p_gen  = sigmoid(g),  g = w_gen^T [c_t; s_t; e(y_{t-1})] + b_gen     (generate, or copy?)
    P(w)   = p_gen P_vocab(w) + (1 - p_gen) sum_{s: x_s = w} alpha_{t,s}

where ``c_t`` is the context, ``s_t`` the decoder state, ``e(y_{t-1})`` the embedded input and
``alpha_t`` the attention weights (See et al. write the gate's weights ``w_{h*}``, ``w_s``,
``w_x`` and ``b_ptr``; here ``w_gen`` and ``b_gen`` are the weight and bias of the one linear
layer ``p_gen``). ``w`` ranges over the **extended vocabulary**: the ``V`` code tokens, then
one slot per source position, ``V + i`` standing for the word at (0-based) position ``i`` (its
first position, when the word repeats). A source word that the code vocabulary holds adds its
attention to its own id; one that it lacks gets the slot of its first position. So the
extended ids of one example depend on its English only:

- ``src_ext`` ``[B, S]``: for each source position, the extended id of its word;
- the target ids: a code token in the vocabulary keeps its id, a token outside it that the
  English contains becomes ``V + i`` (its first position), any other is ``<unk>``;
- decoding maps ``V + i`` back to the ``i``-th English token; an extended id fed back as the
  next input is read as ``<unk>`` (the embedding only knows the ``V`` code tokens).

The model keeps the shared interface: :class:`CopySeq2Seq` reads a single ``src`` ``[B, S]``
that packs both ids per position, ``src = x + V_src * src_ext`` (:func:`pack_source`; ``<pad>``
stays 0), and its decoder returns **log-probabilities** over the extended vocabulary in place of
logits. Cross-entropy, ``argmax`` and beam search need nothing else: ``log_softmax`` of
normalised log-probabilities is the identity, so the course's loss is then exactly the negative
log-likelihood of the mixture.

With ``canonical=True`` (the default) the model reads and writes the canonical form: the
English's quoted strings are behind ``_STR:i_`` placeholders (:func:`seq2code.tokens.canonicalize`,
as TranX does), which the code vocabulary lacks and the model copies; they are mapped back to
the literals after decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from seq2code.models.attention import (
    AttentionLSTMDecoder,
    AttentionLSTMEncoder,
    attention_parameters,
)
from seq2code.models.base import (
    EncoderOutput,
    GoldLogProbs,
    Seq2Seq,
    evaluating,
    on_model_device,
)
from seq2code.models.registry import ModelKind
from seq2code.tokens import canonicalize, decanonicalize
from seq2code.vocab import EOS_ID, PAD_ID, SOS_ID, UNK_ID, Vocab

COPY_FLOOR = 1e-30  # added to the copy mass before its log: keeps log P finite everywhere

# --- the extended vocabulary ---------------------------------------------------------------


def extend_source(src_tokens: Sequence[str], tgt_vocab: Vocab) -> list[int]:
    """Extended ids ``src_ext`` of the English tokens: the code vocabulary's id of a token it
    holds, else ``V + i`` with ``i`` the token's first position.

    >>> v = Vocab(["<pad>", "<sos>", "<eos>", "<unk>", "x", "="])      # V = 6
    >>> extend_source(["set", "x", "to", "set"], v)
    [6, 4, 8, 6]
    """
    first: dict[str, int] = {}
    out = []
    for i, tok in enumerate(src_tokens):
        if tok in tgt_vocab:
            out.append(tgt_vocab.stoi[tok])
        else:
            out.append(len(tgt_vocab) + first.setdefault(tok, i))
    return out


def extend_target(code_tokens: Sequence[str], src_tokens: Sequence[str],
                  tgt_vocab: Vocab) -> list[int]:
    """Extended target ids framed by ``<sos>`` ... ``<eos>``: a vocabulary token's id, else
    ``V + i`` when the English holds the token (first position ``i``), else ``<unk>``."""
    first: dict[str, int] = {}
    for i, tok in enumerate(src_tokens):
        first.setdefault(tok, i)
    ids = [tgt_vocab.stoi[tok] if tok in tgt_vocab
           else len(tgt_vocab) + first[tok] if tok in first
           else UNK_ID for tok in code_tokens]
    return [SOS_ID, *ids, EOS_ID]


def decode_extended(ids: Sequence[int], src_tokens: Sequence[str], tgt_vocab: Vocab) -> list[str]:
    """Extended ids back to tokens: ``V + i`` is the ``i``-th English token (stops at
    ``<eos>``, skips ``<sos>`` and ``<pad>``)."""
    size = len(tgt_vocab)
    out = []
    for i in ids:
        if i == EOS_ID:
            break
        if i in (SOS_ID, PAD_ID):
            continue
        if i >= size:
            position = i - size
            out.append(src_tokens[position] if position < len(src_tokens) else "<unk>")
        else:
            out.append(tgt_vocab.itos[i])
    return out


def pack_source(src: torch.Tensor, src_ext: torch.Tensor, src_vocab_size: int) -> torch.Tensor:
    """One id tensor for both: ``x + V_src * src_ext`` ``[B, S]`` (``<pad>`` stays 0)."""
    return src + src_vocab_size * src_ext.masked_fill(src == PAD_ID, 0)


def unpack_source(packed: torch.Tensor, src_vocab_size: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of :func:`pack_source`: ``x`` ``[B, S]`` and ``src_ext`` ``[B, S]``."""
    return packed % src_vocab_size, packed // src_vocab_size


# --- the final distribution ----------------------------------------------------------------


def final_distribution(vocab_logits: torch.Tensor, attention: torch.Tensor,
                       src_ext: torch.Tensor, gen_logit: torch.Tensor) -> torch.Tensor:
    """``log P(w)`` over the extended vocabulary, computed in log space.

    ``log P(w) = logaddexp(log p_gen + log P_vocab(w), log(1 - p_gen) + log sum_{s: x_s = w}
    alpha_{t,s})``, with ``log p_gen = logsigmoid(g)`` and ``log(1 - p_gen) = logsigmoid(-g)``
    (exact for any ``g``); the copy mass gets a floor of 1e-30 before its log, so that every
    entry is finite and its gradient defined.

    Args:
        vocab_logits: ``[B, ..., V]`` the output layer's scores (``P_vocab = softmax``).
        attention: ``[B, ..., S]`` attention weights ``alpha_t`` (0 at padding).
        src_ext: ``[B, S]`` extended ids of the source words (ids below ``V + S``).
        gen_logit: ``[B, ..., 1]`` ``g``, with ``p_gen = sigmoid(g)``.

    Returns:
        ``[B, ..., V + S]`` log-probabilities (their exponentials sum to 1, up to the floor).
    """
    size = vocab_logits.size(-1) + attention.size(-1)  # V + S
    log_gen = nn.functional.logsigmoid(gen_logit) + torch.log_softmax(vocab_logits, dim=-1)
    log_gen = nn.functional.pad(log_gen, (0, attention.size(-1)), value=float("-inf"))
    index = src_ext.view(src_ext.size(0), *([1] * (attention.dim() - 2)), src_ext.size(1))
    index = index.expand_as(attention)  # [B, ..., S]
    mass = attention.new_zeros(*attention.shape[:-1], size).scatter_add(-1, index, attention)
    log_copy = nn.functional.logsigmoid(-gen_logit) + torch.log(mass + COPY_FLOOR)
    return torch.logaddexp(log_gen, log_copy)  # [B, ..., V + S]


# --- the model -----------------------------------------------------------------------------


class CopyEncoderOutput(NamedTuple):
    """:class:`~seq2code.models.base.EncoderOutput` plus ``src_ext`` ``[B, S]``."""

    outputs: torch.Tensor
    state: Any
    mask: torch.Tensor
    src_ext: torch.Tensor


def gold_log_probs(vocab_logits: torch.Tensor, attention: torch.Tensor,
                   src_ext: torch.Tensor, gen_logit: torch.Tensor,
                   targets: torch.Tensor) -> torch.Tensor:
    """``log P(y)`` of the gold extended ids only: :func:`final_distribution` at ``y``,
    without building the distribution over all ``V + S`` ids (what the loss needs).

    Args:
        vocab_logits: ``[N, V]``; attention: ``[N, S]`` ``alpha_t``; src_ext: ``[N, S]`` the
            extended ids of each row's source; gen_logit: ``[N]`` ``g``; targets: ``[N]`` ``y``.

    Returns:
        ``[N]`` ``logaddexp(log p_gen + log P_vocab(y), log(1 - p_gen) + log sum_{s: x_s = y}
        alpha_{t,s})`` (``P_vocab(y) = 0`` for ``y >= V``).
    """
    size = vocab_logits.size(-1)  # V
    log_vocab = -nn.functional.cross_entropy(vocab_logits, targets.clamp(max=size - 1),
                                             reduction="none")  # [N] log P_vocab(y)
    log_vocab = log_vocab.masked_fill(targets >= size, float("-inf"))  # only copying writes y
    mass = (attention * (src_ext == targets.unsqueeze(-1))).sum(-1)  # [N] sum_{s: x_s = y} alpha
    return torch.logaddexp(nn.functional.logsigmoid(gen_logit) + log_vocab,
                           nn.functional.logsigmoid(-gen_logit) + torch.log(mass + COPY_FLOOR))


class CopyDecoder(AttentionLSTMDecoder):
    """Chapter 4's attention decoder plus the gate ``p_gen`` and the mixture over the extended
    vocabulary; its scores are log-probabilities ``[B, V + S]``.

    Its features are chapter 4's ``[s_t; c_t]`` with the gate's logit ``g`` appended,
    ``[B, H + H_enc + 1]``.

    Args: those of :class:`~seq2code.models.attention.AttentionLSTMDecoder`.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, **kwargs):
        super().__init__(vocab_size, emb_dim, hidden_dim, **kwargs)
        enc_dim = self.out.in_features - hidden_dim
        self.vocab_size = vocab_size
        self.p_gen = nn.Linear(enc_dim + hidden_dim + emb_dim, 1)  # w_gen, b_gen

    def embed(self, prev: torch.Tensor) -> torch.Tensor:
        """``e(y_{t-1})``: ids ``[B, ...]`` of the extended vocabulary, read as ``<unk>``
        beyond ``V`` -> ``[B, ..., E]``."""
        return super().embed(prev.masked_fill(prev >= self.vocab_size, UNK_ID))

    def step(self, embedded: torch.Tensor, state, enc: EncoderOutput):
        """Chapter 4's step from ``e(y_{t-1})`` ``[B, E]``, then the gate's logit
        ``g = w_gen^T [c_t; s_t; e(y_{t-1})] + b_gen``: returns ``[s_t; c_t; g]``
        ``[B, H + H_enc + 1]``, the new state and ``alpha_t`` ``[B, S]``."""
        features, state, weights = super().step(embedded, state, enc)  # [s_t; c_t], alpha_t
        hidden, context = features.split([state.hidden.size(-1), enc.outputs.size(-1)], -1)
        gen_logit = self.p_gen(torch.cat([context, hidden, embedded], dim=-1))  # [B, 1] g
        return torch.cat([features, gen_logit], dim=-1), state, weights

    def gate(self, features: torch.Tensor) -> torch.Tensor:
        """``p_gen = sigmoid(g)`` ``[B, ...]`` from features ``[B, ..., H + H_enc + 1]``."""
        return torch.sigmoid(features[..., -1])

    def scores(self, features: torch.Tensor, attention: torch.Tensor,
               enc: CopyEncoderOutput) -> torch.Tensor:
        """``log P(w)`` ``[B, ..., V + S]`` (:func:`final_distribution`) from the features
        ``[B, ..., H + H_enc + 1]`` and the weights ``alpha`` ``[B, ..., S]``."""
        vocab_logits = self.out(features[..., :-1])  # [B, ..., V]  W_o [s_t; c_t] + b_o
        return final_distribution(vocab_logits, attention, enc.src_ext, features[..., -1:])

    def gold_log_probs(self, features: torch.Tensor, attention: torch.Tensor,
                       enc: CopyEncoderOutput, targets: torch.Tensor, mask: torch.Tensor,
                       spread: bool = False) -> GoldLogProbs:
        """``log P(y_t)`` ``[N]`` at the ``N`` positions of ``mask`` ``[B, T]``
        (:func:`gold_log_probs`: no distribution over ``V + S``); with ``spread``, the
        distribution is built once (:func:`final_distribution`) for both ``log P(y_t)`` and
        label smoothing's ``(1/V) sum_w log P(w)`` over the ``V`` words."""
        src_ext = enc.src_ext.unsqueeze(1).expand(-1, targets.size(1), -1)  # [B, T, S]
        chosen = features[mask]  # [N, H + H_enc + 1]
        vocab_logits = self.out(chosen[:, :-1])  # [N, V]  W_o [s_t; c_t] + b_o
        if not spread:
            return GoldLogProbs(gold_log_probs(vocab_logits, attention[mask], src_ext[mask],
                                               chosen[:, -1], targets[mask]), None)
        log_p = final_distribution(vocab_logits, attention[mask], src_ext[mask],
                                   chosen[:, -1:])  # [N, V + S]
        gold = log_p.gather(-1, targets[mask].unsqueeze(-1)).squeeze(-1)  # [N] log P(y_t)
        return GoldLogProbs(gold, self.spread(log_p))

    def spread(self, scores: torch.Tensor) -> torch.Tensor:
        """``(1/V) sum_{w < V} log P(w)`` ``[...]`` from the final distribution's
        log-probabilities ``[..., V + S]`` (:meth:`scores`): the ``V`` words only."""
        return scores[..., :self.vocab_size].mean(-1)


class CopySeq2Seq(Seq2Seq):
    """Encoder, copy decoder, and the extended-vocabulary bookkeeping.

    Reads packed sources (:func:`pack_source`); otherwise the shared
    :class:`~seq2code.models.base.Seq2Seq` interface, with log-probabilities over ``V + S``
    in place of logits.

    Attributes:
        canonical: the model reads and writes the canonical form (strings behind ``_STR:i_``).
    """

    def __init__(self, encoder, decoder, src_vocab_size: int, canonical: bool = True, **kwargs):
        super().__init__(encoder, decoder, **kwargs)
        self.src_vocab_size = src_vocab_size
        self.canonical = canonical

    def encode(self, src: torch.Tensor, src_lens: torch.Tensor) -> CopyEncoderOutput:
        """``src`` ``[B, S]`` packed ids -> the encoder's output plus ``src_ext`` ``[B, S]``."""
        ids, src_ext = unpack_source(src, self.src_vocab_size)
        enc = self.encoder(ids, src_lens)
        return CopyEncoderOutput(enc.outputs, enc.state, enc.mask, src_ext)

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor, tgt_in: torch.Tensor,
                *args, enc: EncoderOutput | None = None, **kwargs):
        """:meth:`Seq2Seq.forward`; an ``enc`` computed beforehand (an unrolled encoder's)
        gets its ``src_ext`` from the packed ``src``."""
        if enc is not None and not isinstance(enc, CopyEncoderOutput):
            enc = CopyEncoderOutput(*enc, unpack_source(src, self.src_vocab_size)[1])
        return super().forward(src, src_lens, tgt_in, *args, enc=enc, **kwargs)

    # -- the bookkeeping around the model: tokens in, tokens out -----------------------------

    def source_view(self, nl_tokens: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """The English tokens as the model reads them and the placeholder mapping (empty
        without ``canonical``)."""
        if not self.canonical:
            return list(nl_tokens), {}
        tokens, _, mapping = canonicalize(nl_tokens, [])
        return tokens, mapping

    def encode_source(self, tokens: Sequence[str], src_vocab: Vocab,
                      tgt_vocab: Vocab) -> list[int]:
        """Packed source ids of English tokens already in the model's view."""
        ids = torch.tensor(src_vocab.encode(tokens), dtype=torch.long)
        ext = torch.tensor(extend_source(tokens, tgt_vocab), dtype=torch.long)
        return pack_source(ids, ext, self.src_vocab_size).tolist()

    def encode_pairs(self, nl_tokens: Sequence[Sequence[str]],
                     code_tokens: Sequence[Sequence[str]], src_vocab: Vocab, tgt_vocab: Vocab,
                     max_src_len: int | None = None, max_tgt_len: int | None = None
                     ) -> list[tuple[list[int], list[int]]]:
        """Training pairs: (packed source ids, extended target ids framed by ``<sos>`` ...
        ``<eos>``), cut like :func:`seq2code.batching.encode_pairs`."""
        pairs = []
        for nl, code in zip(nl_tokens, code_tokens, strict=True):
            if self.canonical:
                nl, code, _ = canonicalize(nl, code)
            nl = list(nl)[:max_src_len] if max_src_len else list(nl)
            code = list(code)[:max_tgt_len] if max_tgt_len else list(code)
            pairs.append((self.encode_source(nl, src_vocab, tgt_vocab),
                          extend_target(code, nl, tgt_vocab)))
        return pairs

    def token(self, index: int, view: Sequence[str], tgt_vocab: Vocab) -> str:
        """The token of one extended id: ``V + i`` is the ``i``-th English token."""
        if index < len(tgt_vocab):
            return tgt_vocab.itos[index]
        position = index - len(tgt_vocab)
        return view[position] if position < len(view) else "<unk>"

    def output_tokens(self, ids: Sequence[int], view: Sequence[str], mapping: dict[str, str],
                      tgt_vocab: Vocab) -> list[str]:
        """Decoded extended ids -> code tokens (placeholders mapped back)."""
        return decanonicalize(decode_extended(ids, view, tgt_vocab), mapping)

    @torch.no_grad()
    def gates(self, src: torch.Tensor, src_lens: torch.Tensor,
              tgt_in: torch.Tensor) -> torch.Tensor:
        """``p_gen`` ``[B, T]`` at every step with teacher forcing (in eval mode; the inputs
        are moved to the model's device, the result comes back on the CPU)."""
        src, src_lens, tgt_in = on_model_device(self, src, src_lens, tgt_in)
        with evaluating(self):
            return self.decoder.gate(self.run(src, src_lens, tgt_in).features).cpu()


def copy_parameters(src_vocab: int, tgt_vocab: int, emb: int, hidden: int) -> int:
    """Chapter 4's count plus the gate ``p_gen``: ``w_gen`` (``H_enc + H + E = 2H + E``
    numbers) and ``b_gen``."""
    return attention_parameters(src_vocab, tgt_vocab, emb, hidden) + 2 * hidden + emb + 1


def build_copy(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int, hidden_dim: int,
               dropout: float, canonical: bool) -> CopySeq2Seq:
    """Chapter 4's encoder with a copy decoder (``canonical``: read and write the canonical
    form; ``dropout`` on the embeddings, the states ``h_s`` and the features: see
    :class:`~seq2code.models.attention.AttentionLSTMDecoder`)."""
    return CopySeq2Seq(AttentionLSTMEncoder(src_vocab_size, emb_dim, hidden_dim, dropout),
                       CopyDecoder(tgt_vocab_size, emb_dim, hidden_dim, dropout=dropout),
                       src_vocab_size, canonical=canonical)


MODEL_KINDS = (ModelKind("copy", 7, "pointer-generator: attention plus copying",
                         build_copy, copy_parameters,
                         options={"dropout": 0.0, "canonical": True}),)
