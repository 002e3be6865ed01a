"""The vanilla RNN encoder-decoder (chapter 2).

Encoder: ``h_s = tanh(W_xh e(x_s) + W_hh h_{s-1} + b)`` over the English ids (PyTorch keeps
``b`` as two biases, ``b_ih + b_hh``); its last state ``h_S`` is the decoder's first state
``s_0``. Decoder: the same recurrence over the code ids,
``s_t = tanh(W_ys e(y_{t-1}) + W_ss s_{t-1} + b)``, and ``p(y_t) = softmax(W_o s_t + b_o)``.

The LSTM models (:mod:`seq2code.models.lstm`) reuse these classes with ``nn.LSTM`` in place of
``nn.RNN``: the state is then PyTorch's pair ``(h, c)``, the state and the LSTM cell
(``(h_s, m_s)`` in the encoder, ``(s_t, m_t)`` in the decoder).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2code.models.base import Decoder, Encoder, EncoderOutput, FeatureRun, Seq2Seq
from seq2code.models.registry import ModelKind
from seq2code.vocab import PAD_ID


class RNNEncoder(Encoder):
    """Embedding, then a one-layer tanh RNN over the source.

    Padded sequences are packed (``pack_padded_sequence``), so that padding never reaches the
    recurrence: the final state of each row is the state after its last real token.
    """

    rnn_class: type[nn.RNNBase] = nn.RNN

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.rnn = self.rnn_class(emb_dim, hidden_dim, batch_first=True)

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor) -> EncoderOutput:
        """Encode ``src`` ``[B, S]`` (ids ``x``) with lengths ``src_lens`` ``[B]``."""
        embedded = self.dropout(self.embedding(src))  # [B, S, E]  e(x_s)
        packed = pack_padded_sequence(embedded, src_lens.cpu(), batch_first=True,
                                      enforce_sorted=False)
        packed_outputs, state = self.rnn(packed)  # state: [1, B, H] h_S (or (h_S, m_S))
        outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True,
                                         total_length=src.size(1))  # [B, S, H] h_1..h_S
        return EncoderOutput(outputs, state, src != PAD_ID)

    def forward_unrolled(self, src: torch.Tensor,
                         src_lens: torch.Tensor) -> tuple[EncoderOutput, list[torch.Tensor]]:
        """The same function as :meth:`forward`, one time step at a time.

        Every state ``h_s`` is then its own tensor in the autograd graph, so that the gradient
        of the loss with respect to each of them can be taken (see
        :func:`seq2code.analysis.encoder_state_gradients`). Rows shorter than ``S`` keep their
        state unchanged over their padding.

        Returns:
            The :class:`EncoderOutput` and the list of the ``S`` hidden states ``h_s``, each
            ``[B, H]``.
        """
        embedded = self.dropout(self.embedding(src))  # [B, S, E]
        mask = src != PAD_ID  # [B, S]
        is_lstm = isinstance(self.rnn, nn.LSTM)
        h = embedded.new_zeros(src.size(0), self.rnn.hidden_size)  # [B, H]  h_0
        c = h  # [B, H]  m_0, the LSTM's cell (LSTM only)
        hidden_states = []
        for s in range(src.size(1)):
            state = (h.unsqueeze(0), c.unsqueeze(0)) if is_lstm else h.unsqueeze(0)
            _, new_state = self.rnn(embedded[:, s:s + 1], state)  # one step, [1, B, H]
            real = mask[:, s].unsqueeze(1)  # [B, 1]: padding keeps the previous state
            if is_lstm:
                c = torch.where(real, new_state[1][0], c)  # [B, H]  m_s
                new_state = new_state[0]
            h = torch.where(real, new_state[0], h)  # [B, H]  h_s
            hidden_states.append(h)
        outputs = torch.stack(hidden_states, dim=1) * mask.unsqueeze(-1)  # [B, S, H]
        state = (h.unsqueeze(0), c.unsqueeze(0)) if is_lstm else h.unsqueeze(0)  # h_S (, m_S)
        return EncoderOutput(outputs, state, mask), hidden_states


class RNNDecoder(Decoder):
    """Embedding ``e(y_{t-1})``, a one-layer tanh RNN (the state ``s_t``), a linear layer to
    the vocabulary."""

    rnn_class: type[nn.RNNBase] = nn.RNN

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(dropout)
        self.rnn = self.rnn_class(emb_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)  # W_o, b_o

    def features(self, inputs: torch.Tensor, state: Any, enc: EncoderOutput) -> FeatureRun:
        """``T`` steps on known inputs ``inputs`` ``[B, T]`` (ids ``y_{t-1}``) in one RNN call;
        ``state`` ``[1, B, H]`` ``s_{t-1}`` (or the pair ``(s_{t-1}, m_{t-1})``). Returns the
        states ``s_t`` ``[B, T, H]``, which the output layer ``W_o s_t + b_o`` (:meth:`scores`)
        reads."""
        embedded = self.dropout(self.embedding(inputs))  # [B, T, E]  e(y_{t-1})
        outputs, state = self.rnn(embedded, state)  # [B, T, H]  s_t
        return FeatureRun(outputs, state, None)


def rnn_layer_parameters(n_in: int, hidden: int) -> int:
    """A tanh RNN layer from ``n_in`` inputs to ``H`` states: ``W_xh`` ``H n``, ``W_hh``
    ``H H`` and two biases (as PyTorch counts them); an LSTM layer has four times this."""
    return hidden * n_in + hidden * hidden + 2 * hidden


def rnn_parameters(src_vocab: int, tgt_vocab: int, emb: int, hidden: int) -> int:
    """Embeddings ``(V_src + V) E``, two RNN layers, the output layer ``H V + V``."""
    return ((src_vocab + tgt_vocab) * emb + 2 * rnn_layer_parameters(emb, hidden)
            + hidden * tgt_vocab + tgt_vocab)


def build_rnn(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int, hidden_dim: int,
              dropout: float) -> Seq2Seq:
    """The vanilla RNN encoder-decoder (``dropout`` on the embeddings)."""
    return Seq2Seq(RNNEncoder(src_vocab_size, emb_dim, hidden_dim, dropout),
                   RNNDecoder(tgt_vocab_size, emb_dim, hidden_dim, dropout))


MODEL_KINDS = (ModelKind("rnn", 2, "vanilla RNN encoder-decoder", build_rnn, rnn_parameters),)
