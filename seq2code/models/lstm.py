"""The LSTM encoder-decoder (chapter 3).

The same models as chapter 2 (:mod:`seq2code.models.rnn`) with the RNN cell replaced by an
LSTM cell: forget, input and output gates ``f_t, i_t, o_t = sigma(W [x_t; h_{t-1}] + b)``, the
candidate ``g_t = tanh(...)``, the cell ``m_t = f_t * m_{t-1} + i_t * g_t`` and the hidden state
``h_t = o_t * tanh(m_t)`` (the cell is ``m``: ``c_t`` is attention's context from chapter 4
on). The state is PyTorch's pair ``(h, c)``, each ``[1, B, H]``: ``(h_s, m_s)`` in the
encoder, ``(s_t, m_t)`` in the decoder; the encoder's last pair ``(h_S, m_S)`` is the
decoder's first, ``(s_0, m_0)``.
"""

from __future__ import annotations

from torch import nn

from seq2code.models.base import Seq2Seq
from seq2code.models.registry import ModelKind
from seq2code.models.rnn import RNNDecoder, RNNEncoder, rnn_layer_parameters


class LSTMEncoder(RNNEncoder):
    """Embedding, then a one-layer LSTM over the (packed) source; returns every ``h_s`` and
    the final ``(h_S, m_S)``."""

    rnn_class = nn.LSTM


class LSTMDecoder(RNNDecoder):
    """Embedding ``e(y_{t-1})``, a one-layer LSTM with state ``(s_t, m_t)`` (PyTorch's
    ``(h, c)``), a linear layer to the vocabulary."""

    rnn_class = nn.LSTM


def lstm_parameters(src_vocab: int, tgt_vocab: int, emb: int, hidden: int) -> int:
    """Chapter 2's count with each RNN layer four times (four gates)."""
    return ((src_vocab + tgt_vocab) * emb + 2 * 4 * rnn_layer_parameters(emb, hidden)
            + hidden * tgt_vocab + tgt_vocab)


def build_lstm(src_vocab_size: int, tgt_vocab_size: int, emb_dim: int, hidden_dim: int,
               dropout: float) -> Seq2Seq:
    """The LSTM encoder-decoder (``dropout`` on the embeddings)."""
    return Seq2Seq(LSTMEncoder(src_vocab_size, emb_dim, hidden_dim, dropout),
                   LSTMDecoder(tgt_vocab_size, emb_dim, hidden_dim, dropout))


MODEL_KINDS = (ModelKind("lstm", 3, "LSTM encoder-decoder", build_lstm, lstm_parameters),)
